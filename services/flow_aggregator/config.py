"""Configuration of the flow aggregator: one YAML file, validated before anything listens.

Without PyYAML (a stock Python image, as on Kubernetes) the file is read as JSON with the standard library;
JSON is YAML too, so the role renders JSON where PyYAML may be missing and the same file works everywhere.

The keys of docs/flow_aggregator.md are the interface; ``load_config(path)`` returns a plain dict with every
default filled in and durations in seconds, or raises ``ConfigError`` naming the key that is wrong.
"""

import ipaddress
import json
import os
import re

try:
    import yaml
except ImportError:  # a stock Python: JSON only
    yaml = None

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

DEFAULT_PORT = 4739
TRANSPORTS = ("udp", "tcp", "tls")
CLIENT_AUTH = ("required", "optional", "none")
SINK_TYPES = ("ipfix", "jsonl", "elasticsearch")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_TOP_KEYS = ("collect", "store", "api", "active_timeout", "idle_timeout", "max_flows", "export", "log_level",
             "flush_interval", "max_exporters")


class ConfigError(TracekitError):
    """The configuration file is missing, unreadable or has a wrong key or value."""


def parse_duration(value, key):
    """``60s``, ``15``, ``1.5m``, ``500ms``, ``7d`` -> seconds (float)."""
    if isinstance(value, bool):
        raise ConfigError("%s: %r is not a duration (use e.g. 60s, 15m, 7d)" % (key, value))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError("%s: %r is not a duration (use e.g. 60s, 15m, 7d)" % (key, value))
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ConfigError("%s: must be more than zero, got %r" % (key, value))
    return seconds


def parse_address(value, key, default_port=DEFAULT_PORT):
    """``"127.0.0.1:4739"``, ``"[::1]:4739"``, ``"host"`` -> (host, port)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("%s: expected \"host:port\", got %r" % (key, value))
    text = value.strip()
    if text.startswith("["):
        host, rest = text[1:].partition("]")[::2]
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif text.count(":") > 1:  # bare IPv6
        host, port = text, ""
    else:
        host, port = text, ""
    if not host:
        raise ConfigError("%s: no host in %r" % (key, value))
    if port == "":
        return host, default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError("%s: port %r in %r is not a number from 0 to 65535" % (key, port, value))
    return host, int(port)


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _readable(path, key, base):
    if not isinstance(path, str) or not path:
        raise ConfigError("%s: expected a file path, got %r" % (key, path))
    full = path if os.path.isabs(path) else os.path.join(base, path)
    if not os.access(full, os.R_OK):
        raise ConfigError("%s: cannot read %s" % (key, full))
    return full


def _check_keys(item, allowed, key):
    if not isinstance(item, dict):
        raise ConfigError("%s: expected a mapping, got %r" % (key, item))
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        raise ConfigError("%s: unknown key(s) %s (known: %s)" % (key, ", ".join(unknown), ", ".join(allowed)))


def _listener(item, index, base):
    key = "collect[%d]" % index
    _check_keys(item, ("transport", "address", "ca", "certificate", "key", "client_auth"), key)
    transport = item.get("transport", "udp")
    if transport not in TRANSPORTS:
        raise ConfigError("%s.transport: %r is not one of %s" % (key, transport, ", ".join(TRANSPORTS)))
    host, port = parse_address(item.get("address", "127.0.0.1:%d" % DEFAULT_PORT), key + ".address")
    out = {"transport": transport, "host": host, "port": port}
    if transport == "tls":
        for name in ("certificate", "key"):
            if name not in item:
                raise ConfigError("%s.%s: a tls listener needs a certificate and its key" % (key, name))
            out[name] = _readable(item[name], "%s.%s" % (key, name), base)
        out["client_auth"] = item.get("client_auth", "required")
        if out["client_auth"] not in CLIENT_AUTH:
            raise ConfigError("%s.client_auth: %r is not one of %s" % (key, out["client_auth"], ", ".join(CLIENT_AUTH)))
        if out["client_auth"] != "none":
            if "ca" not in item:
                raise ConfigError("%s.ca: client_auth %s needs the CA that signs exporter certificates"
                                  % (key, out["client_auth"]))
            out["ca"] = _readable(item["ca"], key + ".ca", base)
    else:
        for name in ("ca", "certificate", "key", "client_auth"):
            if name in item:
                raise ConfigError("%s.%s: only a tls listener takes %s" % (key, name, name))
    return out


def _sink(item, index, base, store_dir):
    key = "export[%d]" % index
    if not isinstance(item, dict) or item.get("type") not in SINK_TYPES:
        raise ConfigError("%s.type: expected one of %s, got %r"
                          % (key, ", ".join(SINK_TYPES), item.get("type") if isinstance(item, dict) else item))
    common = ("type", "name", "spool", "spool_max_bytes", "batch", "retry_interval")
    kind = item["type"]
    if kind == "ipfix":
        _check_keys(item, common + ("address", "transport", "observation_domain_id", "ca", "certificate", "key"), key)
        host, port = parse_address(item.get("address"), key + ".address")
        out = {"address": "%s:%d" % (("[%s]" % host) if ":" in host else host, port),
               "transport": item.get("transport", "udp"),
               "observation_domain_id": int(item.get("observation_domain_id", 0))}
        if out["transport"] not in TRANSPORTS:
            raise ConfigError("%s.transport: %r is not one of %s" % (key, out["transport"], ", ".join(TRANSPORTS)))
        for name in ("ca", "certificate", "key"):
            out[name] = _readable(item[name], "%s.%s" % (key, name), base) if item.get(name) else None
    elif kind == "jsonl":
        _check_keys(item, common + ("path",), key)
        if not isinstance(item.get("path"), str) or not item["path"]:
            raise ConfigError("%s.path: a jsonl sink needs the file to append to" % key)
        out = {"path": item["path"] if os.path.isabs(item["path"]) else os.path.join(base, item["path"])}
    else:
        _check_keys(item, common + ("url", "index", "username", "password", "template", "timeout"), key)
        url = item.get("url")
        if not isinstance(url, str) or not re.match(r"^https?://[^/]+", url):
            raise ConfigError("%s.url: expected http(s)://host:port, got %r" % (key, url))
        out = {"url": url.rstrip("/"), "index": str(item.get("index", "flows")),
               "username": item.get("username"), "password": item.get("password"),
               "template": bool(item.get("template", True)),
               "timeout": parse_duration(item.get("timeout", "10s"), key + ".timeout")}
        if not re.match(r"^[a-z0-9][a-z0-9_.-]*$", out["index"]):
            raise ConfigError("%s.index: %r is not a valid index name (lowercase, no spaces)" % (key, out["index"]))
    out["type"] = kind
    out["name"] = str(item.get("name", "%s%d" % (kind, index)))
    out["spool"] = item.get("spool") or os.path.join(store_dir, "spool", out["name"])
    out["spool_max_bytes"] = int(item.get("spool_max_bytes", 64 * 1024 * 1024))
    out["batch"] = int(item.get("batch", 1000))
    out["retry_interval"] = parse_duration(item.get("retry_interval", "2s"), key + ".retry_interval")
    if out["spool_max_bytes"] < 4096 or out["batch"] < 1:
        raise ConfigError("%s: spool_max_bytes must be at least 4096 and batch at least 1" % key)
    return out


def validate(raw, base="."):
    """Check a parsed configuration and fill in the defaults."""
    if raw is None:
        raw = {}
    _check_keys(raw, _TOP_KEYS, "configuration")
    collect = raw.get("collect", [{"transport": "udp", "address": "127.0.0.1:%d" % DEFAULT_PORT}])
    if not isinstance(collect, list) or not collect:
        raise ConfigError("collect: expected a list of listeners, e.g. [{transport: udp, address: \"127.0.0.1:4739\"}]")
    store = raw.get("store", {})
    _check_keys(store, ("path", "retention"), "store")
    store_path = store.get("path", "/var/lib/netdiag-tracekit/flows.db")
    if not isinstance(store_path, str) or not store_path:
        raise ConfigError("store.path: expected a file path, got %r" % (store_path,))
    if store_path != ":memory:" and not os.path.isabs(store_path):
        store_path = os.path.join(base, store_path)
    api = raw.get("api", {})
    _check_keys(api, ("address", "token"), "api")
    api_host, api_port = parse_address(api.get("address", "127.0.0.1:8739"), "api.address", 8739)
    token = api.get("token")
    if token is not None and (not isinstance(token, str) or len(token) < 16):
        raise ConfigError("api.token: expected a string of at least 16 characters")
    if not is_loopback(api_host) and not token:
        raise ConfigError("api.address: %s is not a loopback address; set api.token so that only clients "
                          "holding it can read flows, or bind the API to 127.0.0.1" % api_host)
    max_flows = raw.get("max_flows", 1000000)
    if isinstance(max_flows, bool) or not isinstance(max_flows, int) or max_flows < 1:
        raise ConfigError("max_flows: expected a positive integer, got %r" % (max_flows,))
    export = raw.get("export") or []
    if not isinstance(export, list):
        raise ConfigError("export: expected a list of sinks")
    store_dir = os.path.dirname(store_path) if store_path != ":memory:" else base
    config = {
        "collect": [_listener(item, i, base) for i, item in enumerate(collect)],
        "store": {"path": store_path,
                  "retention": parse_duration(store.get("retention", "7d"), "store.retention")},
        "api": {"host": api_host, "port": api_port, "token": token},
        "active_timeout": parse_duration(raw.get("active_timeout", "60s"), "active_timeout"),
        "idle_timeout": parse_duration(raw.get("idle_timeout", "15s"), "idle_timeout"),
        "max_flows": max_flows,
        "export": [_sink(item, i, base, store_dir) for i, item in enumerate(export)],
        "log_level": str(raw.get("log_level", "INFO")).upper(),
        "flush_interval": parse_duration(raw.get("flush_interval", "0.5s"), "flush_interval"),
        "max_exporters": int(raw.get("max_exporters", 1024)),
    }
    names = [sink["name"] for sink in config["export"]]
    if len(set(names)) != len(names):
        raise ConfigError("export: two sinks have the same name; give each a distinct name")
    seen = set()
    for listener in config["collect"]:
        ident = (listener["transport"] == "udp", listener["host"], listener["port"])
        if ident in seen:
            raise ConfigError("collect: two %s listeners on %s:%d" % (listener["transport"], listener["host"],
                                                                      listener["port"]))
        seen.add(ident)
    return config


def load_config(path):
    """Read and validate the YAML file at ``path`` (JSON when PyYAML is not installed)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError("cannot read the configuration %s: %s" % (path, exc.strerror))
    except UnicodeDecodeError as exc:
        raise ConfigError("the configuration %s is not UTF-8 text: %s" % (path, exc))
    if yaml is None:
        try:
            raw = json.loads(text) if text.strip() else None
        except ValueError as exc:
            raise ConfigError("the configuration %s is not valid JSON (%s); PyYAML is not installed here, so "
                              "write the configuration as JSON or install PyYAML" % (path, exc))
    else:
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError("the configuration %s is not valid YAML: %s" % (path, exc))
    return validate(raw, os.path.dirname(os.path.abspath(path)))

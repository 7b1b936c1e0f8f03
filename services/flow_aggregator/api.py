"""HTTP API and page: ``GET /api/v1/flows``, ``GET /metrics``, ``GET /healthz`` and the page at ``/``.

Served by a small threaded ``http.server`` beside the collector's event loop; flows are read from the SQLite
store (committed rows only), so anything the API returned survives a crash of the service.
"""

import calendar
import hmac
import ipaddress
import json
import logging
import pkgutil
import re
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.services.flow_aggregator.store import QueryError, jsonable

LOG = logging.getLogger("flow_aggregator.api")
PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132}
PARAMS = ("src_ip", "dst_ip", "src_port", "dst_port", "protocol", "node", "pod", "namespace", "policy",
          "endpoint", "since", "until", "limit")
_AGO = re.compile(r"^(\d+)(s|m|h|d)$")


def page():
    """The page's bytes (read with pkgutil so the service also runs from a zip bundle)."""
    return pkgutil.get_data(__package__, "page.html")


def _ip(name, value):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise QueryError("%s: %r is not an IPv4 or IPv6 address" % (name, value))


def _port(name, value):
    if not value.isdigit() or int(value) > 65535:
        raise QueryError("%s: %r is not a port number (0-65535)" % (name, value))
    return int(value)


def _protocol(value):
    if value.isdigit() and int(value) < 256:
        return int(value)
    if value.lower() in PROTOCOLS:
        return PROTOCOLS[value.lower()]
    raise QueryError("protocol: %r is not a protocol number or one of %s" % (value, ", ".join(sorted(PROTOCOLS))))


def parse_time(name, value, now=None):
    """Epoch seconds, ISO 8601 (UTC unless an offset is given) or a duration ago (``15m``, ``2h``, ``1d``)."""
    now = time.time() if now is None else now
    try:
        return float(value)
    except ValueError:
        pass
    match = _AGO.match(value)
    if match:
        return now - int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    text = value.replace("Z", "+00:00")
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                "%Y-%m-%d"):
        try:
            parsed = time.strptime(text.replace("+00:00", "+0000") if "%z" in fmt else text, fmt)
        except ValueError:
            continue
        offset = parsed.tm_gmtoff if "%z" in fmt and parsed.tm_gmtoff is not None else 0
        return calendar.timegm(parsed) - offset
    raise QueryError("%s: %r is not epoch seconds, ISO 8601 or a duration ago like 15m" % (name, value))


def parse_query(query):
    """Query string -> keyword arguments of ``FlowStore.query``; QueryError names a wrong parameter."""
    args = {}
    for name, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
        if name not in PARAMS:
            raise QueryError("unknown query parameter %r (known: %s)" % (name, ", ".join(PARAMS)))
        value = values[-1].strip()
        if value == "":
            continue
        if name in ("src_ip", "dst_ip"):
            args[name] = _ip(name, value)
        elif name in ("src_port", "dst_port"):
            args[name] = _port(name, value)
        elif name == "protocol":
            args[name] = _protocol(value)
        elif name in ("since", "until"):
            args[name] = parse_time(name, value)
        elif name == "limit":
            if not value.isdigit() or int(value) < 1:
                raise QueryError("limit: %r is not a positive number" % value)
            args[name] = int(value)
        elif name == "endpoint":
            try:
                args[name] = str(ipaddress.ip_address(value))
            except ValueError:
                args[name] = value
        else:
            args[name] = value
    return args


class Handler(BaseHTTPRequestHandler):
    server_version = "netdiag-flow-aggregator"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        LOG.debug("%s %s", self.address_string(), format % args)

    def _send(self, code, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy",
                             "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                             "connect-src 'self'")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code, message):
        self._send(code, json.dumps({"error": message}))

    def _authorised(self):
        token = self.server.service.config["api"]["token"]
        if not token:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), ("Bearer " + token).encode())

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        service = self.server.service
        try:
            if url.path == "/healthz":
                self._send(200, json.dumps(service.health()))
            elif url.path in ("/", "/index.html"):
                self._send(200, page(), "text/html; charset=utf-8")
            elif not self._authorised():
                self._error(401, "missing or wrong token: send 'Authorization: Bearer <api.token>'")
            elif url.path == "/api/v1/flows":
                args = parse_query(url.query)
                self._send(200, json.dumps({"flows": service.store.query(**args)}, default=jsonable))
            elif url.path == "/metrics":
                self._send(200, service.metrics(), "text/plain; version=0.0.4; charset=utf-8")
            else:
                self._error(404, "no such path %s (try /api/v1/flows, /metrics, /healthz or /)" % url.path)
        except QueryError as exc:
            self._error(400, str(exc))
        except (TracekitError, OSError, ValueError) as exc:
            LOG.error("GET %s failed: %s", self.path, exc)
            self._error(500, "internal error: %s" % exc)

    def do_POST(self):  # noqa: N802
        self._error(405, "the API is read-only: use GET")

    do_PUT = do_DELETE = do_PATCH = do_POST


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, service, host, port):
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), Handler)
        self.service = service
        self.thread = threading.Thread(target=self.serve_forever, name="api", daemon=True)

    def start(self):
        self.thread.start()
        return self.server_address

    def stop(self):
        self.shutdown()
        self.server_close()

"""Run the flow aggregator as a real process for tests, and send it real IPFIX.

``Aggregator(tmp_path, **config)`` writes a configuration with free loopback ports, starts
``python -m ansible_collections.netdiag.tracekit.services.flow_aggregator --config FILE`` and waits for
``/healthz``; ``flows(**params)``, ``metrics()``, ``kill()`` (SIGKILL), ``stop()`` (SIGTERM) and ``restart()``.
Exporters use the collection's own encoder (``ipfix.encoder.MessageEncoder``) over UDP, TCP or TLS.
"""

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
MODULE = "ansible_collections.netdiag.tracekit.services.flow_aggregator"
TOKEN = "test-token-0123456789abcdef"


def free_port(kind=socket.SOCK_STREAM):
    """A port free for both TCP and UDP on 127.0.0.1."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port on 127.0.0.1")


def make_pki(folder):
    """CA, server certificate for 127.0.0.1, a client certificate it signed, and a rogue client (other CA)."""
    os.makedirs(folder, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=folder, check=True, capture_output=True, timeout=60)

    for ca in ("ca", "rogue-ca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
            "-subj", "/CN=%s" % ca, "-keyout", ca + ".key", "-out", ca + ".pem")
    for name, ca, ext in (("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                          ("client", "ca", "extendedKeyUsage=clientAuth"),
                          ("rogue", "rogue-ca", "extendedKeyUsage=clientAuth")):
        with open(os.path.join(folder, name + ".ext"), "w", encoding="ascii") as handle:
            handle.write(ext + "\n")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj",
            "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".csr")
        run("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key", "-CAcreateserial",
            "-days", "2", "-extfile", name + ".ext", "-out", name + ".pem")
    return {name: os.path.join(folder, name) for name in
            ("ca.pem", "server.pem", "server.key", "client.pem", "client.key", "rogue.pem", "rogue.key")}


class Aggregator:
    """One aggregator process with its own folder, ports and configuration."""

    def __init__(self, folder, collect=("udp", "tcp"), pki=None, token=None, **extra):
        self.folder = str(folder)
        os.makedirs(self.folder, exist_ok=True)
        self.ports = {}
        collect_cfg = []
        for transport in collect:
            port = free_port()
            self.ports[transport] = port
            item = {"transport": transport, "address": "127.0.0.1:%d" % port}
            if transport == "tls":
                item.update(ca=pki["ca.pem"], certificate=pki["server.pem"], key=pki["server.key"],
                            client_auth="required")
            collect_cfg.append(item)
        self.api_port = free_port()
        self.token = token
        self.config = {"collect": collect_cfg, "store": {"path": os.path.join(self.folder, "flows.db")},
                       "api": {"address": "127.0.0.1:%d" % self.api_port}, "flush_interval": "0.2s"}
        if token:
            self.config["api"]["token"] = token
        self.config.update(extra)
        self.config_path = os.path.join(self.folder, "config.yml")
        with open(self.config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(self.config, handle)
        self.log_path = os.path.join(self.folder, "aggregator.log")
        self.proc = None

    def start(self, timeout=20):
        env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        log = open(self.log_path, "ab")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen([sys.executable, "-m", MODULE, "--config", self.config_path],
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("the aggregator exited with %s:\n%s" % (self.proc.returncode, self.log()))
            try:
                self.get("/healthz")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise AssertionError("the aggregator did not answer /healthz in %ss:\n%s" % (timeout, self.log()))

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-5000:]

    def get(self, path, token=True):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.api_port, path))
        if token and self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read().decode()
            return json.loads(body) if resp.headers.get_content_type() == "application/json" else body

    def flows(self, **params):
        return self.get("/api/v1/flows?" + urllib.parse.urlencode(params))["flows"]

    def metrics(self):
        """{(name, exporter-or-sink label or None): value} from /metrics."""
        out = {}
        for line in self.get("/metrics").splitlines():
            match = re.match(r'^(\w+)(?:\{\w+="([^"]*)"\})? (\S+)$', line)
            if match:
                out[(match.group(1), match.group(2))] = float(match.group(3))
        return out

    def wait_for(self, predicate, timeout=10, what="condition"):
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s (last: %r)\n%s" % (what, value, self.log()))

    def wait_value(self, getter, check, timeout=10, what="condition"):
        """Call ``getter()`` until ``check(value)`` holds; return that value."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = getter()
            if check(value):
                return value
            time.sleep(0.1)
        raise AssertionError("timed out waiting for %s (last: %r)\n%s" % (what, value, self.log()))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def address(self, transport):
        return "127.0.0.1:%d" % self.ports[transport]


class Exporter:
    """An IPFIX exporter over udp, tcp or tls using the collection's encoder."""

    def __init__(self, port, transport="udp", domain=0, pki=None, client="client", source_port=0):
        from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.encoder import MessageEncoder
        self.encoder = MessageEncoder(observation_domain_id=domain)
        self.transport = transport
        if transport == "udp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", source_port))
            self.sock.connect(("127.0.0.1", port))
        else:
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            if transport == "tls":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(pki["ca.pem"])
                if client:
                    ctx.load_cert_chain(pki[client + ".pem"], pki[client + ".key"])
                raw = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            self.sock = raw

    def send(self, records):
        for message in self.encoder.encode(records):
            self.send_raw(message)

    def send_raw(self, data):
        if self.transport == "udp":
            self.sock.send(data)
        else:
            self.sock.sendall(data)

    def close(self):
        self.sock.close()


def flow_record(src, dst, sport, dport, proto=6, **extra):
    record = {"sourceIPv4Address": src, "destinationIPv4Address": dst, "sourceTransportPort": sport,
              "destinationTransportPort": dport, "protocolIdentifier": proto}
    record.update(extra)
    return record

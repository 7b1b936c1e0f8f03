"""IpfixExporter over real UDP, TCP and TLS sockets on 127.0.0.1 (collectors are sockets in this test).

TLS uses a CA, server and client certificates made with the openssl CLI for this test (mutual TLS, as
Antrea's exporter and aggregator use it).
"""

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import Decoder, frame_stream
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.exporter import IpfixExporter, parse_collector

RECORDS = [{"sourceIPv4Address": "10.0.0.%d" % i, "destinationIPv4Address": "10.0.1.1", "sourceTransportPort": i,
            "destinationTransportPort": 80, "protocolIdentifier": 6, "octetDeltaCount": 100 * i,
            "sourcePodName": "pod-%d" % i} for i in range(1, 6)]


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamCollector:
    """A TCP (or TLS) collector: accepts connections one after the other, keeps each one's bytes."""

    def __init__(self, tls_context=None):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.tls_context = tls_context
        self.connections = []
        self.streams = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while len(self.streams) < 4:
                conn, _peer = self.server.accept()
                if self.tls_context:
                    try:
                        conn = self.tls_context.wrap_socket(conn, server_side=True)
                    except (ssl.SSLError, OSError):
                        conn.close()
                        continue
                conn.settimeout(10)
                data = bytearray()
                self.connections.append(conn)
                self.streams.append(data)
                threading.Thread(target=self._read, args=(conn, data), daemon=True).start()
        except OSError:
            return

    @staticmethod
    def _read(conn, data):
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data.extend(chunk)
        except OSError:
            return

    def records(self, index, expected, timeout=10):
        """Records decoded from connection ``index`` (a session of its own), once ``expected`` arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.streams) > index:
                messages, _rest = frame_stream(bytes(self.streams[index]))
                decoder = Decoder()
                results = [decoder.decode(m, index) for m in messages]
                records = [r for result in results for r in result.records]
                if len(records) >= expected:
                    return records, results
            time.sleep(0.02)
        raise AssertionError("collector connection %d did not receive %d records" % (index, expected))

    def close(self):
        self.server.close()
        for conn in self.connections:
            conn.close()


def test_udp_export_and_counters():
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(5)
    with IpfixExporter("127.0.0.1:%d" % collector.getsockname()[1], observation_domain_id=9) as exporter:
        assert exporter.export(RECORDS) == 1
        result = Decoder().decode(collector.recv(65535), "udp")
        assert result.records == RECORDS and result.observation_domain_id == 9
        assert exporter.counters == {"messages": 1, "records": 5, "templates": 1, "bytes": exporter.counters["bytes"],
                                     "errors": 0}
        assert exporter.counters["bytes"] > 16
    collector.close()


def test_udp_templates_are_resent_at_the_interval(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(5)
    exporter = IpfixExporter("127.0.0.1:%d" % collector.getsockname()[1], template_refresh=30)
    exporter.export(RECORDS[:1])
    collector.recv(65535)  # a collector that restarts and never sees this first message
    late = Decoder()
    exporter.export(RECORDS[1:2])
    result = late.decode(collector.recv(65535), "udp")
    assert result.records == [] and "unknown template 256" in result.rejected[0]
    clock[0] += 31
    exporter.export(RECORDS[2:3])
    assert late.decode(collector.recv(65535), "udp").records == RECORDS[2:3]
    assert exporter.counters["templates"] == 2
    exporter.close()
    collector.close()


def test_udp_without_a_collector_counts_errors():
    port = free_port(socket.SOCK_DGRAM)
    exporter = IpfixExporter("127.0.0.1:%d" % port)
    for _attempt in range(3):
        exporter.export(RECORDS)
        time.sleep(0.05)
    assert exporter.counters["errors"] >= 1
    exporter.close()


def test_tcp_sends_templates_on_every_new_connection():
    collector = StreamCollector()
    exporter = IpfixExporter("127.0.0.1:%d" % collector.port, transport="tcp")
    exporter.export(RECORDS)
    records, _results = collector.records(0, 5)
    assert records == RECORDS
    collector.connections[0].shutdown(socket.SHUT_RDWR)
    collector.connections[0].close()
    # The broken connection is noticed on a later send; the exporter reconnects and starts over.
    for _attempt in range(50):
        exporter.export(RECORDS[:1])
        if len(collector.streams) > 1:
            break
        time.sleep(0.05)
    records, results = collector.records(1, 1)
    assert results[0].template_ids == [256] and results[0].sequence == 0
    assert records[0] == RECORDS[0] and not any(r.rejected for r in results)
    assert exporter.counters["errors"] >= 1
    exporter.close()
    collector.close()


def test_unreachable_tcp_and_tls_collectors_fail_clearly():
    port = free_port()
    for transport in ("tcp", "tls"):
        with pytest.raises(IpfixError, match="cannot connect to IPFIX collector 127.0.0.1:%d over %s: .*refused"
                           % (port, transport)):
            IpfixExporter("127.0.0.1:%d" % port, transport=transport, timeout=2)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("the openssl CLI is not installed")
    folder = str(tmp_path_factory.mktemp("ipfix-pki"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=tracekit test CA", cwd=folder)
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1,DNS:flow-aggregator.flow-aggregator.svc"),
                            ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
                "-subj", "/CN=" + name, cwd=folder)
        with open(os.path.join(folder, name + ".ext"), "w") as handle:
            handle.write(extension + "\n")
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext", cwd=folder)
    return dict((name, os.path.join(folder, name)) for name in
                ("ca.crt", "server.crt", "server.key", "client.crt", "client.key"))


def server_context(pki):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki["ca.crt"])
    context.load_cert_chain(pki["server.crt"], pki["server.key"])
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def test_tls_with_client_certificate(pki):
    collector = StreamCollector(server_context(pki))
    exporter = IpfixExporter("127.0.0.1:%d" % collector.port, transport="tls", ca=pki["ca.crt"],
                             certificate=pki["client.crt"], key=pki["client.key"])
    exporter.export(RECORDS)
    records, results = collector.records(0, 5)
    assert records == RECORDS and results[0].template_ids == [256]
    exporter.close()
    collector.close()


def test_tls_rejects_a_collector_it_cannot_verify(pki, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "o.key", "-out", "o.crt", "-days", "2",
            "-subj", "/CN=other CA", cwd=str(other))
    collector = StreamCollector(server_context(pki))
    with pytest.raises(IpfixError, match="cannot connect to IPFIX collector 127.0.0.1:%d over tls: .*CERTIFICATE_VERIFY"
                       % collector.port):
        IpfixExporter("127.0.0.1:%d" % collector.port, transport="tls", ca=str(other / "o.crt"),
                      certificate=pki["client.crt"], key=pki["client.key"])
    collector.close()


def test_tls_setup_errors_name_the_files():
    with pytest.raises(IpfixError, match="TLS setup for 127.0.0.1:1: .*check ca, certificate and key"):
        IpfixExporter("127.0.0.1:1", transport="tls", ca="/nonexistent/ca.crt")


@pytest.mark.parametrize("text, expected", [
    ("collector.example:4739", ("collector.example", 4739)),
    ("10.0.0.1", ("10.0.0.1", 4739)),
    ("[fd00::1]:9995", ("fd00::1", 9995)),
    ("[fd00::1]", ("fd00::1", 4739)),
])
def test_collector_addresses(text, expected):
    assert parse_collector(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "is not host:port"),
    ("host:0", "port '0' is not 1 to 65535"),
    ("host:http", "port 'http' is not 1 to 65535"),
    ("fd00::1", "write an IPv6 address in brackets"),
    ("[fd00::1", "is not \\[IPv6 address\\]:port"),
    (":4739", "has no host"),
])
def test_bad_collector_addresses(text, message):
    with pytest.raises(IpfixError, match=message):
        parse_collector(text)


def test_bad_transport():
    with pytest.raises(IpfixError, match="transport 'sctp' is not one of udp, tcp, tls"):
        IpfixExporter("127.0.0.1:4739", transport="sctp")


def test_tls_server_name_is_checked(pki):
    collector = StreamCollector(server_context(pki))
    tls = dict(transport="tls", ca=pki["ca.crt"], certificate=pki["client.crt"], key=pki["client.key"])
    exporter = IpfixExporter("127.0.0.1:%d" % collector.port, server_name="flow-aggregator.flow-aggregator.svc", **tls)
    exporter.export(RECORDS[:1])
    assert collector.records(0, 1)[0] == RECORDS[:1]
    exporter.close()
    with pytest.raises(IpfixError, match="over tls: .*(Hostname mismatch|doesn't match)"):
        IpfixExporter("127.0.0.1:%d" % collector.port, server_name="other.svc", **tls)
    collector.close()

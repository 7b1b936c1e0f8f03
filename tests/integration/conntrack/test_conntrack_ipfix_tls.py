"""conntrack_export over TLS to a collector on 127.0.0.1 (a Python TLS server with a certificate made here by
openssl): the ca option verifies the collector, the records arrive, and our decoder reads the pod names; a CA
that did not sign the collector fails the module with a message naming the collector.
"""

import os
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import need_root, run_module

from conntrack_lab import ConntrackLab

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import Decoder, frame_stream


def make_cert(folder, name):
    key, cert = os.path.join(folder, name + ".key"), os.path.join(folder, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return key, cert


class TlsCollector(object):
    """Accepts TLS connections on 127.0.0.1 and keeps every byte received (bounded: 2 connections, 20 s)."""

    def __init__(self, key, cert):
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(20)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        for _attempt in range(2):
            try:
                conn, _peer = self.sock.accept()
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(10)
                    while True:
                        chunk = tls.recv(65536)
                        if not chunk:
                            break
                        self.data += chunk
            except (OSError, ssl.SSLError):
                continue

    def close(self):
        self.sock.close()
        self.thread.join(25)


@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = ConntrackLab("tkct-s%d" % os.getpid()).create()
    try:
        lab.traffic()
        yield lab
    finally:
        lab.destroy()


def test_tls_export_with_ca_and_a_ca_that_does_not_match(lab, tmp_path):
    key, cert = make_cert(str(tmp_path), "collector")
    _other_key, other_ca = make_cert(str(tmp_path), "other")
    collector = TlsCollector(key, cert)
    try:
        bad = run_module("netdiag.tracekit.conntrack_export",
                         {"netns": lab.a, "output": ["ipfix"], "transport": "tls", "ca": other_ca,
                          "collector": "127.0.0.1:%d" % collector.port})
        result = run_module("netdiag.tracekit.conntrack_export",
                            {"netns": lab.a, "output": ["facts", "ipfix"], "transport": "tls", "ca": cert,
                             "collector": "127.0.0.1:%d" % collector.port, "protocol": "udp",
                             "endpoints": {"10.231.0.2": {"pod": "dns-0", "namespace": "kube-system"}}})
    finally:
        collector.close()
    assert bad.get("failed") and "127.0.0.1:%d" % collector.port in bad["msg"] and "tls" in bad["msg"], bad
    assert not result.get("failed"), result
    messages, rest = frame_stream(collector.data)
    assert rest == b""
    decoder = Decoder()
    records = [r for m in messages for r in decoder.decode(m, source="tls").records]
    assert len(records) == len(result["flows"]) == 3     # udp 5353 over IPv4 and IPv6, udp 7007 in zone 7
    v4 = sorted(r["destinationTransportPort"] for r in records if r.get("destinationIPv4Address") == "10.231.0.2")
    assert v4 == [5353, 7007]
    assert all(r.get("destinationPodName") == "dns-0" for r in records if r.get("destinationIPv4Address"))

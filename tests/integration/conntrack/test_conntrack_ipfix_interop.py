"""End to end: conntrack_export (through ansible) sends the lab's flows as IPFIX over UDP to Debian's tools on
127.0.0.1. nfcapd + nfdump read back the same tuples and counters (both directions) the module returned as
facts; nfacctd (pmacct) reads the Antrea pod names, node names, TCP state and flow type (enterprise 56506,
through ``aggregate_primitives``) filled from ``endpoints``. With two collectors, each flow reaches exactly one
of them, the one ``pick_collector`` names.
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import need_root, run_module

from conntrack_lab import ConntrackLab

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import pick_collector

FMT = "fmt:%pr|%sa|%sp|%da|%dp|%ipkt|%ibyt|%opkt|%obyt"


def free_udp_port():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


class Nfcapd(object):
    def __init__(self, folder):
        self.folder = str(folder)
        os.makedirs(self.folder)
        self.port = free_udp_port()
        self.log_path = os.path.join(self.folder, "..", os.path.basename(self.folder) + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(["nfcapd", "-b", "127.0.0.1", "-p", str(self.port), "-w", self.folder, "-t", "3600"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        time.sleep(0.8)
        assert self.proc.poll() is None, "nfcapd did not start"

    @property
    def collector(self):
        return "127.0.0.1:%d" % self.port

    def rows(self):
        """Stop nfcapd (it writes its file on exit) and read every flow back with nfdump."""
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)
        self.log.close()
        out = subprocess.run(["nfdump", "-R", self.folder, "-q", "-o", FMT], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        rows = set()
        for line in out.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) == 9:
                rows.add(tuple(parts))
        return rows

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture(scope="module")
def lab():
    need_root()
    if not (shutil.which("nfcapd") and shutil.which("nfdump")):
        pytest.skip("nfcapd/nfdump (Debian package nfdump) are not installed")
    lab = ConntrackLab("tkct-x%d" % os.getpid()).create()
    try:
        lab.traffic()
        yield lab
    finally:
        lab.destroy()


def expected_row(flow):
    v6 = flow["family"] == "ipv6"
    src = flow["sourceIPv6Address" if v6 else "sourceIPv4Address"]
    dst = flow["destinationIPv6Address" if v6 else "destinationIPv4Address"]
    if flow["protocol"] in ("icmp", "icmpv6"):
        # nfdump shows ICMP type.code in the destination port column and 0 as the source port
        sport, dport = "0", "%d.%d" % (flow["original"]["icmp_type"], flow["original"]["icmp_code"])
    else:
        sport, dport = str(flow["sourceTransportPort"]), str(flow["destinationTransportPort"])
    proto = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "ICMP6"}[flow["protocol"]]
    return (proto, src, sport, dst, dport, str(flow["packetTotalCount"]), str(flow["octetTotalCount"]),
            str(flow["reversePacketTotalCount"]), str(flow["reverseOctetTotalCount"]))


def test_nfdump_reads_the_tuples_and_counters_the_module_exported(lab, tmp_path):
    capd = Nfcapd(tmp_path / "one")
    try:
        result = run_module("netdiag.tracekit.conntrack_export",
                            {"netns": lab.a, "output": ["facts", "ipfix"], "collector": capd.collector,
                             "observation_domain_id": 5})
        rows = capd.rows()
    finally:
        capd.stop()
    assert not result.get("failed"), result
    flows = result["flows"]
    assert len(flows) >= 11 and result["exported"][capd.collector]["records"] == len(flows)
    assert rows == set(expected_row(f) for f in flows)
    with open(capd.log_path) as handle:
        assert "Observation domain 5 from: 127.0.0.1" in handle.read()
    # the service flow goes to the backend, as Antrea reports it
    assert ("TCP", "10.231.0.1") == next(r for r in rows if r[3] == "10.231.0.2" and r[4] == "8080")[:2]


def test_two_collectors_each_flow_reaches_the_one_pick_collector_names(lab, tmp_path):
    first, second = Nfcapd(tmp_path / "first"), Nfcapd(tmp_path / "second")
    try:
        result = run_module("netdiag.tracekit.conntrack_export",
                            {"netns": lab.a, "output": ["facts", "ipfix"], "protocol": "tcp",
                             "collector": [first.collector, second.collector]})
        rows = {first.collector: first.rows(), second.collector: second.rows()}
    finally:
        first.stop()
        second.stop()
    assert not result.get("failed"), result
    collectors = [first.collector, second.collector]
    assert sum(len(r) for r in rows.values()) == len(result["flows"])
    for flow in result["flows"]:
        record = dict((k, v) for k, v in flow.items() if v is not None)
        chosen = pick_collector(record, collectors)
        assert expected_row(flow) in rows[chosen]


PRIMITIVES = """\
name=src_pod_ns field_type=56506:100 len=vlen semantics=str
name=src_pod field_type=56506:101 len=vlen semantics=str
name=dst_pod field_type=56506:103 len=vlen semantics=str
name=src_node field_type=56506:104 len=vlen semantics=str
name=dst_node field_type=56506:105 len=vlen semantics=str
name=tcp_state field_type=56506:136 len=vlen semantics=str
name=flow_type field_type=56506:137 len=1 semantics=u_int
"""
ENDPOINTS = {"10.231.0.1": {"pod": "client-0", "namespace": "shop", "node": "node1"},
             "fd31::1": {"pod": "client-0", "namespace": "shop", "node": "node1"},
             "10.231.0.2": {"pod": "web-\u00e9", "namespace": "shop", "node": "node2"},
             "fd31::2": {"pod": "web-\u00e9", "namespace": "shop", "node": "node2"}}


def test_nfacctd_reads_the_pod_elements_from_endpoints(lab, tmp_path):
    if not shutil.which("nfacctd"):
        pytest.skip("nfacctd (Debian package pmacct) is not installed")
    port = free_udp_port()
    (tmp_path / "primitives.lst").write_text(PRIMITIVES)
    (tmp_path / "nfacctd.conf").write_text("\n".join([
        "daemonize: false", "nfacctd_ip: 127.0.0.1", "nfacctd_port: %d" % port, "plugins: print",
        "print_output: json", "print_output_file: %s/out-%%s.json" % tmp_path, "print_refresh_time: 1",
        "print_history: 1m",
        "aggregate: src_host, dst_host, src_port, dst_port, proto, src_pod_ns, src_pod, dst_pod, src_node, dst_node, "
        "tcp_state, flow_type",
        "aggregate_primitives: %s/primitives.lst" % tmp_path, ""]))
    log = tmp_path / "nfacctd.log"
    with open(str(log), "wb") as handle:
        proc = subprocess.Popen(["nfacctd", "-f", str(tmp_path / "nfacctd.conf")], stdout=handle, stderr=handle)
    rows = []
    try:
        deadline = time.monotonic() + 20    # records sent before the print plugin is up are lost
        while b"setting object handlers" not in log.read_bytes() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        result = run_module("netdiag.tracekit.conntrack_export",
                            {"netns": lab.a, "output": ["facts", "ipfix"], "collector": "127.0.0.1:%d" % port,
                             "protocol": "tcp", "tcp_state": ["ESTABLISHED"], "endpoints": ENDPOINTS})
        assert not result.get("failed"), result
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(rows) < len(result["flows"]):
            time.sleep(0.3)
            rows = [json.loads(line) for path in glob.glob(str(tmp_path / "out-*.json"))
                    for line in open(path) if line.strip()]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    flows = result["flows"]
    assert len(flows) == 5      # to 8080 over IPv4 and IPv6, the service (DNAT), 9090 (SNAT), 8081 (mark)
    got = sorted((r["ip_src"], r["port_src"], r["ip_dst"], r["port_dst"], r["ip_proto"], r["src_pod_ns"], r["src_pod"],
                  r["dst_pod"], r["src_node"], r["dst_node"], r["tcp_state"], r["flow_type"], r["packets"], r["bytes"])
                 for r in rows)
    want = sorted((f["original"]["src"], f["sourceTransportPort"], f["reply"]["src"], f["destinationTransportPort"],
                   "tcp", "shop", "client-0", "web-\u00e9", "node1", "node2", "ESTABLISHED", "2",
                   f["packetTotalCount"], f["octetTotalCount"]) for f in flows)
    assert got == want

"""Interop of our IPFIX codec with real Debian tools, all on 127.0.0.1 with random free ports.

* nfcapd + nfdump read the tuples, counters (delta counts, and the reverse ones as out_*) and times
  (flowStart/EndMilliseconds) of the records our exporter sends;
* nfacctd (pmacct) reads Antrea's enterprise 56506 string elements through ``aggregate_primitives``;
* ipfixDump (libfixbuf) and tshark decode the exact datagrams our exporter sent;
* our decoder reads what softflowd exports from a pcap made here with scapy.

Expected values are written by hand from the records below (and, for softflowd, from the packets'
IP lengths), never taken from our decoder. Every wait is bounded; every process is stopped by its pid.
"""

import glob
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import Decoder
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.exporter import IpfixExporter

RECORDS = [
    {"flowStartSeconds": 1700000000, "flowEndSeconds": 1700000060, "flowEndReason": 3,
     "flowStartMilliseconds": 1700000000250, "flowEndMilliseconds": 1700000060750,
     "sourceIPv4Address": "10.244.1.5", "destinationIPv4Address": "10.244.2.9", "sourceTransportPort": 40000,
     "destinationTransportPort": 8080, "protocolIdentifier": 6, "packetTotalCount": 100, "octetTotalCount": 15000,
     "packetDeltaCount": 10, "octetDeltaCount": 1500, "reversePacketTotalCount": 80,
     "reverseOctetTotalCount": 8000, "reversePacketDeltaCount": 8, "reverseOctetDeltaCount": 800,
     "sourcePodNamespace": "default", "sourcePodName": "client-7d9f", "sourceNodeName": "node-1",
     "destinationPodNamespace": "web", "destinationPodName": "server-\u00e9", "destinationNodeName": "node-2",
     "destinationClusterIPv4": "10.96.0.10", "destinationServicePort": 80,
     "destinationServicePortName": "web/server:http", "ingressNetworkPolicyName": "allow-client",
     "ingressNetworkPolicyNamespace": "web", "ingressNetworkPolicyType": 1, "ingressNetworkPolicyRuleName": "",
     "egressNetworkPolicyName": "", "egressNetworkPolicyNamespace": "", "egressNetworkPolicyType": 0,
     "egressNetworkPolicyRuleName": "", "ingressNetworkPolicyRuleAction": 1, "egressNetworkPolicyRuleAction": 0,
     "tcpState": "ESTABLISHED", "flowType": 2},
    {"flowStartSeconds": 1700000010, "flowEndSeconds": 1700000011, "flowEndReason": 2,
     "flowStartMilliseconds": 1700000010000, "flowEndMilliseconds": 1700000011500,
     "sourceIPv6Address": "fd00:10:244:1::5", "destinationIPv6Address": "fd00:10:244:2::9",
     "sourceTransportPort": 5353, "destinationTransportPort": 53, "protocolIdentifier": 17,
     "packetTotalCount": 2, "octetTotalCount": 150, "packetDeltaCount": 2, "octetDeltaCount": 150,
     "reversePacketTotalCount": 1, "reverseOctetTotalCount": 90, "reversePacketDeltaCount": 1,
     "reverseOctetDeltaCount": 90, "sourcePodNamespace": "kube-system", "sourcePodName": "dns-client",
     "sourceNodeName": "node-1", "destinationPodNamespace": "kube-system", "destinationPodName": "coredns-0",
     "destinationNodeName": "node-1", "destinationClusterIPv6": "fd00:10:96::a", "destinationServicePort": 53,
     "destinationServicePortName": "kube-system/kube-dns:dns", "ingressNetworkPolicyName": "",
     "ingressNetworkPolicyNamespace": "", "ingressNetworkPolicyType": 0, "ingressNetworkPolicyRuleName": "",
     "egressNetworkPolicyName": "", "egressNetworkPolicyNamespace": "", "egressNetworkPolicyType": 0,
     "egressNetworkPolicyRuleName": "", "ingressNetworkPolicyRuleAction": 0, "egressNetworkPolicyRuleAction": 0,
     "tcpState": "", "flowType": 1},
]


def need(*tools):
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        pytest.skip("not installed: %s (bindep.txt, test profile)" % ", ".join(missing))


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_bound(port, proc, timeout=10):
    """A UDP port is taken once the collector listens on it (binding it ourselves then fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("the collector exited early (rc=%s)" % proc.returncode)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise AssertionError("the collector did not listen on udp/%d within %ss" % (port, timeout))


def stop(proc, timeout=15, signum=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(signum)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def export(port, records=None):
    records = RECORDS if records is None else records
    with IpfixExporter("127.0.0.1:%d" % port, observation_domain_id=42) as exporter:
        exporter.export(records)
        assert exporter.counters["errors"] == 0


def test_nfdump_reads_tuples_counters_and_times(tmp_path):
    need("nfcapd", "nfdump")
    port = free_udp_port()
    proc = subprocess.Popen(["nfcapd", "-w", str(tmp_path), "-p", str(port), "-b", "127.0.0.1", "-t", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_bound(port, proc)
        export(port)
        time.sleep(0.5)
    finally:
        stop(proc)
    log = proc.stdout.read().decode()
    assert "Flows: 2" in log, log
    out = subprocess.run(["nfdump", "-R", str(tmp_path), "-o", "json"], capture_output=True, text=True, timeout=30,
                         check=True, env=dict(os.environ, TZ="UTC")).stdout
    flows = sorted(json.loads(out), key=lambda f: f["proto"])
    assert [(f.get("src4_addr") or f.get("src6_addr"), f["src_port"], f.get("dst4_addr") or f.get("dst6_addr"),
             f["dst_port"], f["proto"], f["in_packets"], f["in_bytes"], f["out_packets"], f["out_bytes"],
             f["first"], f["last"]) for f in flows] == [
        ("10.244.1.5", 40000, "10.244.2.9", 8080, 6, 10, 1500, 8, 800,
         "2023-11-14T22:13:20.250", "2023-11-14T22:14:20.750"),
        ("fd00:10:244:1::5", 5353, "fd00:10:244:2::9", 53, 17, 2, 150, 1, 90,
         "2023-11-14T22:13:30.000", "2023-11-14T22:13:31.500"),
    ]


PRIMITIVES = """\
name=src_pod_ns field_type=56506:100 len=vlen semantics=str
name=src_pod field_type=56506:101 len=vlen semantics=str
name=dst_pod_ns field_type=56506:102 len=vlen semantics=str
name=dst_pod field_type=56506:103 len=vlen semantics=str
name=dst_svc_port_name field_type=56506:109 len=vlen semantics=str
name=ingress_policy field_type=56506:110 len=vlen semantics=str
name=tcp_state field_type=56506:136 len=vlen semantics=str
name=flow_type field_type=56506:137 len=1 semantics=u_int
"""


def test_nfacctd_reads_antrea_string_elements(tmp_path):
    need("nfacctd")
    port = free_udp_port()
    (tmp_path / "primitives.lst").write_text(PRIMITIVES)
    (tmp_path / "nfacctd.conf").write_text("\n".join([
        "daemonize: false",
        "nfacctd_ip: 127.0.0.1",
        "nfacctd_port: %d" % port,
        "plugins: print",
        "print_output: json",
        "print_output_file: %s/out-%%s.json" % tmp_path,
        "print_refresh_time: 1",
        "print_history: 1m",
        "aggregate: src_host, dst_host, src_port, dst_port, proto, src_pod_ns, src_pod, dst_pod_ns, dst_pod, "
        "dst_svc_port_name, ingress_policy, tcp_state, flow_type",
        "aggregate_primitives: %s/primitives.lst" % tmp_path,
        "",
    ]))
    log = tmp_path / "nfacctd.log"
    with open(str(log), "wb") as handle:
        proc = subprocess.Popen(["nfacctd", "-f", str(tmp_path / "nfacctd.conf")], stdout=handle, stderr=handle)
    rows = []
    try:
        wait_until_bound(port, proc)
        # Records that arrive before the print plugin is up are lost: wait for the plugin to say it is ready.
        deadline = time.monotonic() + 15
        while b"setting object handlers" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        export(port)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(rows) < 2:
            time.sleep(0.2)
            rows = [json.loads(line) for path in glob.glob(str(tmp_path / "out-*.json"))
                    for line in open(path) if line.strip()]
    finally:
        stop(proc, signum=signal.SIGINT)  # nfacctd ignores SIGTERM; on SIGINT its core stops its plugins
    rows.sort(key=lambda r: r["port_src"])
    assert [(r["ip_src"], r["port_src"], r["ip_dst"], r["port_dst"], r["ip_proto"], r["src_pod_ns"], r["src_pod"],
             r["dst_pod_ns"], r["dst_pod"], r["dst_svc_port_name"], r["ingress_policy"], r["tcp_state"],
             r["flow_type"], r["packets"], r["bytes"]) for r in rows] == [
        ("fd00:10:244:1::5", 5353, "fd00:10:244:2::9", 53, "udp", "kube-system", "dns-client", "kube-system",
         "coredns-0", "kube-system/kube-dns:dns", "", "", "1", 2, 150),
        ("10.244.1.5", 40000, "10.244.2.9", 8080, "tcp", "default", "client-7d9f", "web", "server-\u00e9",
         "web/server:http", "allow-client", "ESTABLISHED", "2", 10, 1500),
    ]


ANTREA_XML = """<?xml version='1.0' encoding='UTF-8'?>
<registry id="antrea" xmlns="http://www.iana.org/assignments" xmlns:cert="http://www.cert.org/ipfix">
  <registry id="antrea-information-elements">
%s
  </registry>
</registry>
"""
ANTREA_RECORD = """    <record><name>%s</name><dataType>%s</dataType><cert:enterpriseId>56506</cert:enterpriseId>
      <elementId>%d</elementId></record>"""
# A few of Antrea's elements, from its published table, so ipfixDump names and types them.
ANTREA_FOR_IPFIXDUMP = [("sourcePodName", "string", 101), ("destinationPodName", "string", 103),
                        ("destinationClusterIPv4", "ipv4Address", 106), ("tcpState", "string", 136),
                        ("flowType", "unsigned8", 137)]


@pytest.fixture(scope="module")
def sent_datagrams():
    """The exact datagrams our exporter sends (received on a UDP socket)."""
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(5)
    export(collector.getsockname()[1])
    datagrams = [collector.recv(65535)]
    collector.settimeout(0.5)
    try:
        while True:
            datagrams.append(collector.recv(65535))
    except socket.timeout:
        pass
    collector.close()
    return datagrams


def test_ipfixdump_reads_what_our_exporter_sends(sent_datagrams, tmp_path):
    need("ipfixDump")
    stream = tmp_path / "export.ipfix"  # an RFC 5655 file is the messages one after the other
    stream.write_bytes(b"".join(sent_datagrams))
    elements = tmp_path / "antrea.xml"
    elements.write_text(ANTREA_XML % "\n".join(ANTREA_RECORD % row for row in ANTREA_FOR_IPFIXDUMP))
    proc = subprocess.run(["ipfixDump", "-i", str(stream), "-e", str(elements)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "File Stats: 1 Messages, 2 Data Records, 2 Template Records" in out
    assert "observation domain id: 42" in out
    values = {}
    for line in out.splitlines():
        if " : " in line:
            name, value = line.split(" : ", 1)
            string = re.match(r"^\(len: (\d+)\) ?(.*)$", value.strip())
            if string:  # strings print as "(len: N) text": check N is the UTF-8 length
                value = string.group(2)
                assert int(string.group(1)) == len(value.encode("utf-8")), line
            values.setdefault(name.split()[-1], []).append(value.strip())
    assert values["sourceIPv4Address"] == ["10.244.1.5"]
    # ipfixDump writes every IPv6 group with 4 digits
    assert [ipaddress.ip_address(v) for v in values["destinationIPv6Address"]] == \
        [ipaddress.ip_address("fd00:10:244:2::9")]
    assert values["reverseOctetDeltaCount"] == ["800", "90"]
    assert values["packetTotalCount"] == ["100", "2"]
    assert values["flowStartSeconds"] == ["2023-11-14 22:13:20", "2023-11-14 22:13:30"]
    assert values["sourcePodName"] == ["client-7d9f", "dns-client"]
    assert values["destinationPodName"] == ["server-\u00e9", "coredns-0"]
    assert values["destinationClusterIPv4"] == ["10.96.0.10"]
    assert values["tcpState"] == ["ESTABLISHED", ""]
    assert values["flowType"] == ["2", "1"]


def test_tshark_reads_what_our_exporter_sends(sent_datagrams, tmp_path):
    need("tshark")
    from scapy.all import IP, UDP, Ether, Raw, wrpcap  # pylint: disable=import-outside-toplevel

    pcap = str(tmp_path / "export.pcap")
    wrpcap(pcap, [Ether() / IP(src="127.0.0.1", dst="127.0.0.1") / UDP(sport=40000, dport=4739) / Raw(d)
                  for d in sent_datagrams])
    proc = subprocess.run(["tshark", "-r", pcap, "-V", "-o", "gui.column.format:\"No.\",\"%m\""],
                          capture_output=True, text=True, timeout=60, check=False, env=dict(os.environ, TZ="UTC"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Version: 10" in out and "Observation Domain Id: 42" in out
    assert "SrcAddr: 10.244.1.5" in out and "DstAddr: 10.244.2.9" in out
    assert "SrcAddr: fd00:10:244:1::5" in out
    assert "PEN: Project Antrea (56506)" in out
    # sourcePodName "client-7d9f" (56506/101) as tshark shows an enterprise field it has no name for
    assert "(Project Antrea) Type 101: Value (hex bytes): %s" % " ".join("%02x" % b for b in b"client-7d9f") in out


def test_our_decoder_reads_softflowd(tmp_path):
    need("softflowd")
    from scapy.all import IP, TCP, UDP, Ether, Raw, wrpcap  # pylint: disable=import-outside-toplevel

    packets = []
    start = 1700000000.0
    for i in range(5):  # 5 x (20 IP + 20 TCP + 100) = 700 octets
        packet = Ether() / IP(src="192.0.2.10", dst="198.51.100.20") / TCP(sport=40000, dport=80, flags="PA") / \
            Raw(b"x" * 100)
        packet.time = start + i
        packets.append(packet)
    for i in range(3):  # 3 x (20 + 20 + 50) = 270 octets back
        packet = Ether() / IP(src="198.51.100.20", dst="192.0.2.10") / TCP(sport=80, dport=40000, flags="A") / \
            Raw(b"y" * 50)
        packet.time = start + i + 0.5
        packets.append(packet)
    for i in range(2):  # 2 x (20 + 8 + 20) = 96 octets
        packet = Ether() / IP(src="192.0.2.11", dst="198.51.100.53") / UDP(sport=5353, dport=53) / Raw(b"q" * 20)
        packet.time = start + i
        packets.append(packet)
    packets.sort(key=lambda p: p.time)
    pcap = str(tmp_path / "flows.pcap")
    wrpcap(pcap, packets)
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    port = collector.getsockname()[1]
    proc = subprocess.run(["softflowd", "-r", pcap, "-n", "127.0.0.1:%d" % port, "-v", "10", "-d"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    decoder = Decoder()
    records = []
    options = []
    collector.settimeout(2)
    try:
        for _datagram in range(100):
            result = decoder.decode(collector.recv(65535), ("udp", "softflowd"))
            assert result.rejected == []
            records.extend(result.records)
            options.extend(result.options_records)
    except socket.timeout:
        pass
    collector.close()
    got = sorted((r["sourceIPv4Address"], r["sourceTransportPort"], r["destinationIPv4Address"],
                  r["destinationTransportPort"], r["protocolIdentifier"], r["packetDeltaCount"], r["octetDeltaCount"],
                  r["tcpControlBits"], r["ipVersion"]) for r in records)
    assert got == [
        ("192.0.2.10", 40000, "198.51.100.20", 80, 6, 5, 700, 0x18, 4),
        ("192.0.2.11", 5353, "198.51.100.53", 53, 17, 2, 96, 0, 4),
        ("198.51.100.20", 80, "192.0.2.10", 40000, 6, 3, 270, 0x10, 4),
    ]
    # its options record names the pcap it read (in a fixed 16-octet string field) and says it samples 1:1
    assert [(o["interfaceName"], o["samplingPacketInterval"], o["samplingPacketSpace"]) for o in options
            if "interfaceName" in o] == [(pcap[:16], 1, 0)]

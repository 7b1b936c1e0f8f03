"""softflowd, a real third-party exporter, replays a pcap (written by scapy) as IPFIX over UDP to the
aggregator; the flows and their counters are those of the pcap, counted by hand below."""

import shutil
import subprocess

import pytest

from flow_aggregator_proc import Aggregator


def test_softflowd_replay(tmp_path):
    if not shutil.which("softflowd"):
        pytest.skip("softflowd is not installed (bindep.txt)")
    scapy = pytest.importorskip("scapy.all")
    packets = []
    base = 1700000000.0
    # 3 packets client -> server and 2 back on one TCP connection; 4 UDP datagrams on another flow
    for i in range(3):
        pkt = scapy.Ether() / scapy.IP(src="10.6.0.1", dst="10.6.0.2") / scapy.TCP(sport=40500, dport=80, flags="A") / (b"x" * 100)
        pkt.time = base + i * 0.1
        packets.append(pkt)
    for i in range(2):
        pkt = scapy.Ether() / scapy.IP(src="10.6.0.2", dst="10.6.0.1") / scapy.TCP(sport=80, dport=40500, flags="A") / (b"y" * 200)
        pkt.time = base + 0.05 + i * 0.1
        packets.append(pkt)
    for i in range(4):
        pkt = scapy.Ether() / scapy.IP(src="10.6.0.3", dst="10.6.0.4") / scapy.UDP(sport=5000, dport=53) / (b"q" * 20)
        pkt.time = base + 0.5 + i * 0.1
        packets.append(pkt)
    packets.sort(key=lambda p: p.time)
    pcap = str(tmp_path / "replay.pcap")
    scapy.wrpcap(pcap, packets)
    agg = Aggregator(tmp_path / "agg", collect=("udp",)).start()
    try:
        # short relative paths: softflowd truncates long ones
        subprocess.run(["softflowd", "-r", "replay.pcap", "-n", "127.0.0.1:%d" % agg.ports["udp"], "-v", "10",
                        "-c", "ctl", "-p", "pid"], cwd=str(tmp_path), capture_output=True, timeout=30, check=True)
        flows = agg.wait_value(lambda: agg.flows(src_ip="10.6.0.1") + agg.flows(src_ip="10.6.0.3"),
                               lambda f: len(f) >= 2, what="softflowd's flows")
        metrics = agg.metrics()
        assert metrics[("flow_aggregator_rejected_total", None)] == 0
        tcp = [f for f in flows if f["protocolIdentifier"] == 6]
        udp = [f for f in flows if f["protocolIdentifier"] == 17]
        # softflowd exports each direction as its own record; the aggregator keys both on one 5-tuple
        assert len(tcp) == 1 and len(udp) == 1
        # one direction is the flow's, the other its reverse: 3 packets of 140 bytes and 2 of 240
        counts = {(tcp[0]["packetDeltaCount"], tcp[0]["octetDeltaCount"]),
                  (tcp[0]["reversePacketDeltaCount"], tcp[0]["reverseOctetDeltaCount"])}
        assert counts == {(3, 3 * 140), (2, 2 * 240)}
        assert udp[0]["packetDeltaCount"] == 4 and udp[0]["octetDeltaCount"] == 4 * (20 + 8 + 20)
        assert (udp[0]["sourceTransportPort"], udp[0]["destinationTransportPort"]) == (5000, 53)
    finally:
        agg.stop()

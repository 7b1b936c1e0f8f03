"""packet_inject's probe: validation messages, the tag on the wire, and reply classification.

Packets are checked at the byte level with struct (not with scapy, which built them) so a scapy
misuse would show.
"""

import struct

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.probe import probe
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6EchoReply, IPv6


def spec_for(**params):
    base = {"dst": "10.0.0.2", "src": "10.0.0.1", "protocol": "tcp", "dst_port": 80}
    base.update(params)
    spec = probe.validate(base)
    spec["dst_aliases"] = {spec["dst"]}
    return spec


@pytest.mark.parametrize("params, message", [
    ({"dst": "10.0.0.300", "dst_port": 80}, "dst '10.0.0.300' is not an IPv4 or IPv6 address"),
    ({"dst": "10.0.0.2", "dst_port": 70000}, "dst_port 70000 is out of range"),
    ({"dst": "10.0.0.2", "dst_port": 0}, "dst_port 0 is out of range"),
    ({"dst": "10.0.0.2"}, "protocol tcp needs dst_port"),
    ({"dst": "10.0.0.2", "protocol": "icmp", "dst_port": 80}, "make no sense with protocol icmp"),
    ({"dst": "fd00::2", "src": "10.0.0.1", "dst_port": 80}, "src 10.0.0.1 is IPv4 but dst fd00::2 is IPv6"),
    ({"dst": "fd00::2", "protocol": "icmp"}, "use protocol icmpv6"),
    ({"dst": "10.0.0.2", "protocol": "icmpv6"}, "use protocol icmp"),
    ({"dst": "10.0.0.2", "dst_port": 80, "tcp_flags": "SX"}, "tcp_flags 'SX'"),
    ({"dst": "10.0.0.2", "protocol": "udp", "dst_port": 53, "tcp_flags": "S"}, "tcp_flags are for protocol tcp"),
    ({"dst": "10.0.0.2", "dst_port": 80, "ttl": 0}, "ttl 0 is out of range"),
    ({"dst": "10.0.0.2", "dst_port": 80, "count": 1000}, "count 1000 is out of range"),
    ({"dst": "10.0.0.2", "dst_port": 80, "tag": 64}, "tag 64 is out of range"),
    ({"dst": "10.0.0.2", "protocol": "gre"}, "protocol 'gre' is not one of"),
])
def test_bad_input_says_what_is_wrong(params, message):
    with pytest.raises(probe.ProbeError) as err:
        probe.validate(params)
    assert message in str(err.value)


def test_ipv4_tcp_probe_carries_the_tag_in_dscp_and_ip_id():
    spec = spec_for(tag=23, ttl=7, src_port=40000)
    raw = bytes(probe.build(spec))
    ver_ihl, tos, _length, ip_id, _frag, ttl, proto = struct.unpack("!BBHHHBB", raw[:10])
    assert ver_ihl >> 4 == 4
    assert tos >> 2 == 23                      # DSCP bits
    assert ip_id == spec["tag"]["ip_id"]
    assert ttl == 7 and proto == 6
    sport, dport, _seq, _ack, _off, flags = struct.unpack("!HHIIBB", raw[20:34])
    assert (sport, dport) == (40000, 80)
    assert flags == 0x02                       # SYN only, the Traceflow default
    assert spec["tag"]["marker"] is None       # no payload on a SYN unless asked


def test_udp_probe_has_payload_marker_and_ipv6_flow_label():
    spec = spec_for(dst="fd00::2", src="fd00::1", protocol="udp", dst_port=53, tag=5)
    raw = bytes(probe.build(spec))
    first = struct.unpack("!I", raw[:4])[0]
    assert first >> 28 == 6
    assert (first >> 20) & 0xFF == 5 << 2      # traffic class = DSCP << 2
    assert first & 0xFFFFF == spec["tag"]["flow_label"]
    assert raw[6] == 17                         # next header UDP
    assert raw[40 + 8:].decode() == "tracekit:" + spec["tag"]["id"]
    assert spec["tag"]["marker"] == "tracekit:" + spec["tag"]["id"]


def test_defaults_pick_an_ephemeral_source_port_and_icmp_seq_zero():
    spec = spec_for()
    assert 32768 <= spec["src_port"] <= 60999
    icmp = spec_for(protocol="icmp", dst_port=None)
    assert (icmp["icmp_id"], icmp["icmp_seq"]) == (0, 0)
    assert icmp["ttl"] == 64


def test_each_copy_of_a_multi_probe_is_distinct():
    spec = spec_for(count=3)
    ids = [struct.unpack("!H", bytes(probe.build(spec, i))[4:6])[0] for i in range(3)]
    assert len(set(ids)) == 3


def test_classify_replies_of_the_destination():
    spec = spec_for(src_port=40000)
    synack = IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="SA")
    rst = IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="RA")
    other_flow = IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=40001, flags="SA")
    assert probe.classify(IP(bytes(synack)), spec)["kind"] == "syn-ack"
    assert probe.classify(IP(bytes(rst)), spec)["kind"] == "rst"
    assert probe.classify(IP(bytes(other_flow)), spec) is None
    assert probe.outcome_of([probe.classify(IP(bytes(rst)), spec)]) == "reset"
    assert probe.outcome_of([]) == "no_reply"


def test_icmp_errors_match_only_when_they_quote_this_probe():
    spec = spec_for(protocol="udp", dst_port=53)
    sent = bytes(probe.build(spec))
    err = IP(src="10.0.0.254", dst="10.0.0.1") / ICMP(type=3, code=13) / sent[:28]
    verdict = probe.classify(IP(bytes(err)), spec)
    assert verdict["kind"] == "dest-unreachable"
    assert verdict["code_name"] == "admin-prohibited"
    assert verdict["from"] == "10.0.0.254"
    assert probe.outcome_of([verdict]) == "icmp_error"
    # The same error quoting another packet (another IP ID) is not ours.
    other = bytearray(sent[:28])
    other[4:6] = struct.pack("!H", (spec["tag"]["ip_id"] + 7) & 0xFFFF)
    err2 = IP(src="10.0.0.254", dst="10.0.0.1") / ICMP(type=3, code=3) / bytes(other)
    assert probe.classify(IP(bytes(err2)), spec) is None


def test_icmpv6_echo_reply_and_unreachable():
    spec = spec_for(dst="fd00::2", src="fd00::1", protocol="icmpv6", dst_port=None, icmp_id=9)
    reply = IPv6(src="fd00::2", dst="fd00::1") / ICMPv6EchoReply(id=9, seq=0)
    assert probe.classify(IPv6(bytes(reply)), spec)["kind"] == "echo-reply"
    sent = bytes(probe.build(spec))
    unreach = IPv6(src="fd00::fe", dst="fd00::1") / ICMPv6DestUnreach(code=1) / sent
    verdict = probe.classify(IPv6(bytes(unreach)), spec)
    assert (verdict["kind"], verdict["code_name"]) == ("dest-unreachable", "admin-prohibited")


def test_udp_reply():
    spec = spec_for(protocol="udp", dst_port=5353, src_port=41000)
    reply = IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=5353, dport=41000) / b"x"
    assert probe.classify(IP(bytes(reply)), spec)["kind"] == "udp"
    assert probe.outcome_of([probe.classify(IP(bytes(reply)), spec)]) == "reply"

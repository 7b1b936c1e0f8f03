"""The conntrack text parser on real lines printed by conntrack v1.4.7 and /proc/net/nf_conntrack (kernel 6.18).

The lines were captured from namespaces of tests/support/conntrack_lab.py; the expected values are read off the
lines by hand.
"""

import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import (
    ConntrackError, ConntrackParseError)
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack

DEFAULT = """\
tcp      6 119 SYN_SENT src=10.231.0.1 dst=10.231.0.99 sport=55038 dport=80 packets=1 bytes=60 [UNREPLIED] src=10.231.0.99 dst=10.231.0.1 \
sport=80 dport=55038 packets=0 bytes=0 mark=0 delta-time=0 use=2
tcp      6 431999 ESTABLISHED src=10.231.0.1 dst=10.96.0.10 sport=39492 dport=80 packets=4 bytes=221 src=10.231.0.2 dst=10.231.0.1 \
sport=8080 dport=39492 packets=3 bytes=166 [ASSURED] mark=0 delta-time=0 use=1
udp      17 29 src=10.231.0.1 dst=10.231.0.2 sport=49858 dport=7007 packets=1 bytes=32 src=10.231.0.2 dst=10.231.0.1 sport=7007 dport=49858 \
packets=1 bytes=32 mark=0 zone=7 delta-time=0 use=1
icmpv6   58 29 src=fd31::1 dst=fd31::2 type=128 code=0 id=1796 packets=1 bytes=104 src=fd31::2 dst=fd31::1 type=129 code=0 id=1796 \
packets=1 bytes=104 mark=0 delta-time=0 use=1
conntrack v1.4.7 (conntrack-tools): 4 flow entries have been shown.
"""

EXTENDED = """\
ipv4     2 tcp      6 431999 ESTABLISHED src=10.231.0.1 dst=10.231.0.2 sport=38548 dport=9090 packets=4 bytes=221 src=10.231.0.2 \
dst=10.231.0.11 sport=9090 dport=38548 packets=3 bytes=166 [ASSURED] mark=0 delta-time=0 [start=Sun Nov 29 19:16:32 2026] use=1 id=4139483437
ipv4     2 tcp      6 431999 ESTABLISHED src=10.231.0.1 dst=10.231.0.2 sport=44258 dport=8081 packets=4 bytes=221 src=10.231.0.2 \
dst=10.231.0.1 sport=8081 dport=44258 packets=3 bytes=166 [ASSURED] mark=42 delta-time=0 [start=Sun Nov 29 19:16:32 2026] use=1 id=2133784685
ipv4     2 icmp     1 29 src=10.231.0.1 dst=10.231.0.2 type=8 code=0 id=1795 packets=1 bytes=84 src=10.231.0.2 dst=10.231.0.1 type=0 code=0 \
id=1795 packets=1 bytes=84 mark=0 delta-time=0 [start=Sun Nov 29 19:16:32 2026] use=1 id=1187971100
ipv6     10 udp      17 29 src=fd31::1 dst=fd31::2 sport=42515 dport=5353 src=fd31::2 dst=fd31::1 sport=5353 dport=42515 mark=0 use=1
"""

PROC = """\
ipv6     10 udp      17 29 src=fd31:0000:0000:0000:0000:0000:0000:0001 dst=fd31:0000:0000:0000:0000:0000:0000:0002 sport=56961 dport=5353 \
packets=1 bytes=49 [UNREPLIED] src=fd31:0000:0000:0000:0000:0000:0000:0002 dst=fd31:0000:0000:0000:0000:0000:0000:0001 sport=5353 \
dport=56961 packets=0 bytes=0 mark=0 zone=0 delta-time=0 use=2
ipv4     2 tcp      6 59 CLOSE_WAIT src=10.231.0.1 dst=10.231.0.2 sport=34058 dport=8080 packets=4 bytes=216 src=10.231.0.2 dst=10.231.0.1 \
sport=8080 dport=34058 packets=3 bytes=166 [ASSURED] mark=0 zone=0 delta-time=0 use=2
"""

EVENTS = """\
    [NEW] tcp      6 120 SYN_SENT src=10.231.0.1 dst=10.231.0.2 sport=40000 dport=8080 [UNREPLIED] src=10.231.0.2 dst=10.231.0.1 sport=8080 \
dport=40000
[DESTROY] tcp      6 src=10.231.0.1 dst=10.231.0.2 sport=40000 dport=8080 packets=6 bytes=333 src=10.231.0.2 dst=10.231.0.1 sport=8080 \
dport=40000 packets=4 bytes=220 [ASSURED]
"""


def test_default_format_unreplied_syn_dnat_zone_and_icmpv6():
    syn, svc, zoned, ping6 = parse_conntrack(DEFAULT)
    assert syn["tcpState"] == "SYN_SENT" and syn["timeout"] == 119
    assert "UNREPLIED" in syn["status"] and "SEEN_REPLY" not in syn["status"]
    assert (syn["packetTotalCount"], syn["octetTotalCount"], syn["reversePacketTotalCount"]) == (1, 60, 0)
    assert syn["original"] == {"src": "10.231.0.1", "dst": "10.231.0.99", "src_port": 55038, "dst_port": 80}
    # DNAT: the client asked for 10.96.0.10:80, the reply comes from 10.231.0.2:8080
    assert svc["nat"] == ["dnat"] and "DST_NAT" in svc["status"] and "ASSURED" in svc["status"]
    assert svc["destinationIPv4Address"] == "10.231.0.2" and svc["destinationTransportPort"] == 8080
    assert svc["destinationClusterIPv4"] == "10.96.0.10" and svc["destinationServicePort"] == 80
    assert zoned["zone"] == 7 and zoned["protocol"] == "udp" and zoned["nat"] == []
    assert ping6["family"] == "ipv6" and ping6["protocolIdentifier"] == 58
    assert ping6["original"] == {"src": "fd31::1", "dst": "fd31::2", "icmp_type": 128, "icmp_code": 0, "icmp_id": 1796}
    assert ping6["reply"]["icmp_type"] == 129 and ping6["icmpTypeCodeIPv6"] == 128 << 8
    assert ping6["id"] is None and ping6["flowStartSeconds"] is None


def test_extended_with_id_ktimestamp_snat_mark_and_no_accounting():
    snat, marked, ping, udp6 = parse_conntrack(EXTENDED)
    assert snat["nat"] == ["snat"] and snat["postNATSourceIPv4Address"] == "10.231.0.11"
    assert snat["postNAPTSourceTransportPort"] == 38548 and snat["id"] == 4139483437
    assert snat["flowStartSeconds"] == int(time.mktime(time.strptime("Sun Nov 29 19:16:32 2026", "%a %b %d %H:%M:%S %Y")))
    assert marked["mark"] == 42
    assert ping["original"]["icmp_id"] == 1795 and ping["id"] == 1187971100
    assert udp6["accounting"] is False and udp6["packetTotalCount"] is None and udp6["sourceIPv6Address"] == "fd31::1"


def test_proc_addresses_are_compressed_and_match_the_module_form():
    udp6, tcp = parse_conntrack(PROC)
    assert udp6["original"]["src"] == "fd31::1" and udp6["reply"]["dst"] == "fd31::1"
    assert udp6["destinationIPv6Address"] == "fd31::2" and udp6["zone"] == 0
    assert tcp["tcpState"] == "CLOSE_WAIT" and tcp["reverseOctetTotalCount"] == 166


def test_event_lines_carry_the_event_and_destroy_has_final_counters():
    new, destroy = parse_conntrack(EVENTS)
    assert new["event"] == "NEW" and new["timeout"] == 120 and new["accounting"] is False
    assert destroy["event"] == "DESTROY" and destroy["timeout"] is None and destroy["tcpState"] is None
    assert (destroy["packetTotalCount"], destroy["reverseOctetTotalCount"]) == (6, 220)


@pytest.mark.parametrize("text,message", [
    ("hello world", "expected 'PROTOCOL NUMBER'"),
    ("tcp 6 10 SYN_SENT src=10.0.0.1", "tuple has no src= and dst="),
    ("tcp 6 10 SYN_SENT src=10.0.0.300 dst=10.0.0.1", "not an IP address"),
    ("tcp 6 10 BOGUS src=10.0.0.1 dst=10.0.0.2", "unknown state"),
    ("tcp 6 10 src=10.0.0.1 dst=10.0.0.2 sport=x", "not a number"),
    ("tcp 6 1 src=1.1.1.1 dst=2.2.2.2 src=2.2.2.2 dst=1.1.1.1 src=3.3.3.3 dst=1.1.1.1", "third tuple"),
    ("ipv6 10 tcp 6 1 src=1.1.1.1 dst=2.2.2.2 src=2.2.2.2 dst=1.1.1.1", "ipv6 line with IPv4"),
    ("tcp 6 1 src=1.1.1.1 dst=2.2.2.2 [ASSURED", "unbalanced"),
    ("tcp 17 1 src=1.1.1.1 dst=2.2.2.2 src=2.2.2.2 dst=1.1.1.1", "does not exist"),
])
def test_bad_text_names_the_line_and_the_problem(text, message):
    with pytest.raises(ConntrackParseError, match=message):
        parse_conntrack("\n" + text)
    with pytest.raises(ConntrackParseError, match="line 2"):
        parse_conntrack("\n" + text)


def test_non_text_is_refused():
    with pytest.raises(ConntrackParseError, match="a string"):
        parse_conntrack(42)


_TOKENS = st.sampled_from(["tcp", "6", "udp", "17", "ipv4", "2", "ipv6", "10", "SYN_SENT", "src=10.0.0.1",
                           "dst=10.0.0.2", "src=fd00::1", "sport=1", "dport=65535", "id=3", "type=8", "code=0",
                           "packets=1", "bytes=9", "[UNREPLIED]", "[ASSURED]", "[start=Sun Nov 29 19:16:32 2026]",
                           "mark=0x10", "zone=7", "use=1", "[", "]", "=", "src=", "x=y", "\n", "[NEW]"])


@settings(max_examples=400, deadline=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=400), st.lists(_TOKENS, max_size=40).map(" ".join)))
def test_fuzz_only_parse_errors_and_flows(text):
    try:
        flows = parse_conntrack(text)
    except ConntrackParseError:
        return
    for flow in flows:
        assert flow["original"]["src"] and flow["reply"]["dst"]


@pytest.mark.parametrize("text", [
    "tcp \u00b2 src=10.0.0.1 dst=10.0.0.2",  # a superscript two: a digit to str.isdigit(), not to int()
    "ipv4 \u00b2 tcp 6 src=10.0.0.1 dst=10.0.0.2",
    "tcp 6 \u00b2\u00b2 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 "
    "dport=1",
])
def test_digits_that_are_not_numbers_are_a_parse_error(text):
    """Found by the fuzz test above: these raised ValueError from int()."""
    with pytest.raises(ConntrackParseError, match="line 1"):
        parse_conntrack(text)


def test_an_overlong_line_is_refused_not_scanned():
    with pytest.raises(ConntrackParseError, match="longer than"):
        parse_conntrack("tcp 6 1 " + "x" * 10000)


def test_errors_are_tracekit_errors():
    assert issubclass(ConntrackParseError, ConntrackError)

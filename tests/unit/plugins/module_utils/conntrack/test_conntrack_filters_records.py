"""Filters (validation messages and matching), endpoints, IPFIX records and collector addresses."""

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackFilterError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.exporting import FlowExporter, check_collector
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.filters import FlowFilter
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.records import (
    IPFIX_ORDER, add_endpoints, check_endpoints, ipfix_record)
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack

TEXT = """\
tcp      6 119 SYN_SENT src=10.244.1.5 dst=10.244.9.9 sport=55038 dport=80 [UNREPLIED] src=10.244.9.9 dst=10.244.1.5 sport=80 dport=55038 mark=0 use=2
tcp      6 431999 ESTABLISHED src=10.244.1.5 dst=10.96.0.10 sport=39492 dport=80 packets=4 bytes=221 src=10.244.2.10 dst=10.244.1.5 \
sport=8080 dport=39492 packets=3 bytes=166 [ASSURED] mark=42 use=1
udp      17 29 src=fd00::5 dst=fd00::7 sport=49858 dport=7007 src=fd00::7 dst=fd00::5 sport=7007 dport=49858 mark=256 zone=7 use=1
"""
SYN, SVC, UDP6 = parse_conntrack(TEXT)
FLOWS = [SYN, SVC, UDP6]


def kept(**filters):
    keep = FlowFilter(**filters)
    return [FLOWS.index(f) for f in FLOWS if keep(f)]


@pytest.mark.parametrize("filters,expected", [
    ({}, [0, 1, 2]),
    ({"src": ["10.244.1.0/24"]}, [0, 1]),
    ({"src": "fd00::5"}, [2]),
    ({"dst": ["10.96.0.10"]}, [1]),
    ({"address": ["10.244.2.10"]}, [1]),           # the backend, only in the reply tuple
    ({"dst_port": 80}, [0, 1]),
    ({"src_port": 49858, "protocol": "udp"}, [2]),
    ({"protocol": "6"}, [0, 1]),
    ({"zone": 7}, [2]),
    ({"mark": "0x2a"}, [1]),
    ({"mark": "0x100/0xff00"}, [2]),
    ({"tcp_state": ["syn_sent", "CLOSE"]}, [0]),
    ({"status": ["UNREPLIED"]}, [0]),
    ({"status": ["ASSURED", "DST_NAT"]}, [1]),
    ({"family": "ipv6"}, [2]),
])
def test_filters_match(filters, expected):
    assert kept(**filters) == expected


@pytest.mark.parametrize("filters,message", [
    ({"src": ["10.0.0.1/24"]}, "CIDR with host bits set; did you mean 10.0.0.0/24"),
    ({"dst": ["pod-a"]}, "'pod-a' is not an IP address or a CIDR"),
    ({"tcp_state": ["SYN"]}, "tcp_state: unknown name 'SYN'"),
    ({"status": ["REPLIED"]}, "status: unknown name 'REPLIED'"),
    ({"protocol": "tcpx"}, "protocol: 'tcpx' is not a protocol name"),
    ({"dst_port": 70000}, "not a port number"),
    ({"mark": "0xzz"}, "mark: '0xzz' is not a number"),
    ({"zone": 70000}, "not a conntrack zone"),
    ({"colour": "red"}, "unknown filter colour"),
])
def test_bad_filters_say_what_is_wrong(filters, message):
    with pytest.raises(ConntrackFilterError, match=message.replace("(", r"\(")):
        FlowFilter(**filters)


ENDPOINTS = {"10.244.1.5": {"pod": "web-1", "namespace": "prod", "node": "node1"},
             "10.244.2.10": {"pod": "api-0", "namespace": "prod", "node": "node2"},
             "fd00:0::5": {"pod": "web-1", "namespace": "prod", "node": "node1"}}


def test_endpoints_fill_antrea_pod_elements_and_flow_type():
    eps = check_endpoints(ENDPOINTS)
    assert "fd00::5" in eps
    svc = add_endpoints(dict(SVC), eps)
    assert (svc["sourcePodName"], svc["sourcePodNamespace"], svc["sourceNodeName"]) == ("web-1", "prod", "node1")
    assert (svc["destinationPodName"], svc["destinationNodeName"]) == ("api-0", "node2")
    assert svc["flowType"] == 2                             # inter-node
    assert add_endpoints(dict(SYN), eps)["flowType"] == 3   # to external
    for bad, message in (({"x": {}}, "not an IP address"), ({"10.0.0.1": "pod"}, "must be a dict"),
                         ({"10.0.0.1": {"pod": "a", "ip": "b"}}, "unknown key ip")):
        with pytest.raises(ConntrackFilterError, match=message):
            check_endpoints(bad)


def test_ipfix_record_elements_and_counters():
    rec = ipfix_record(add_endpoints(dict(SVC), check_endpoints(ENDPOINTS)), now=1700000000.5)
    assert list(rec) == [k for k in IPFIX_ORDER if k in rec]
    assert rec["sourceIPv4Address"] == "10.244.1.5" and rec["destinationIPv4Address"] == "10.244.2.10"
    assert rec["destinationClusterIPv4"] == "10.96.0.10" and rec["destinationServicePort"] == 80
    assert rec["packetTotalCount"] == rec["packetDeltaCount"] == 4
    assert rec["reverseOctetTotalCount"] == rec["reverseOctetDeltaCount"] == 166
    assert rec["tcpState"] == "ESTABLISHED" and rec["flowEndReason"] == 2
    assert rec["flowEndSeconds"] == 1700000000 and rec["flowStartMilliseconds"] == 1700000000500
    assert "original" not in rec and "status" not in rec
    unacct = ipfix_record(dict(UDP6, event="DESTROY"), now=1700000000)
    assert "packetTotalCount" not in unacct and unacct["flowEndReason"] == 3 and "tcpState" not in unacct
    assert unacct["sourceIPv6Address"] == "fd00::5"


@pytest.mark.parametrize("value,expected", [("10.0.0.1:4739", "10.0.0.1:4739"), ("collector", "collector:4739"),
                                            ("[fd00::1]:9995", "[fd00::1]:9995"), ("[fd00::1]", "[fd00::1]:4739")])
def test_collector_addresses(value, expected):
    assert check_collector(value) == expected


@pytest.mark.parametrize("value", ["", "fd00::1:4739", "host:port", "host:0", "[fd00::1", "h:70000"])
def test_bad_collector_addresses(value):
    with pytest.raises(ConntrackFilterError, match="collector"):
        check_collector(value)


def test_exporter_refuses_tls_files_without_tls():
    with pytest.raises(ConntrackFilterError, match="for transport tls"):
        FlowExporter(["127.0.0.1:4739"], transport="udp", ca="/tmp/ca.pem")

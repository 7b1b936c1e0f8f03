"""conntrack_export against the real table: connections made in namespaces of conntrack_lab.py (TCP, UDP, ICMP,
IPv4 and IPv6, DNAT, SNAT, a zone, a mark, accounting on in ``a`` and off in ``b``), checked against what
``conntrack -L -o extended,id`` prints for the same table, and against conntrack's own filters.
"""

import os

import pytest

from conftest import need_root, run_module

from conntrack_lab import B4, B6, DEAD_ADDR, SVC4, ConntrackLab, conntrack_text, sh

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack import netlink
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack

# what the text shows of the status (the rest are netlink-only bits)
TEXT_STATUS = {"UNREPLIED", "ASSURED", "SEEN_REPLY", "CONFIRMED", "SRC_NAT", "DST_NAT", "OFFLOAD", "HW_OFFLOAD"}
COMPARED = ("original", "reply", "nat", "protocol", "tcpState", "mark", "zone", "accounting", "packetTotalCount",
            "octetTotalCount", "reversePacketTotalCount", "reverseOctetTotalCount", "sourceIPv4Address",
            "destinationIPv4Address", "sourceIPv6Address", "destinationIPv6Address", "destinationClusterIPv4")


@pytest.fixture(scope="module")
def lab():
    need_root()
    lab = ConntrackLab("tkct-t%d" % os.getpid()).create()
    try:
        lab.traffic()
        yield lab
    finally:
        lab.destroy()


def by_id(flows):
    return dict((f["id"], f) for f in flows)


def same(ours, theirs):
    for key in COMPARED:
        assert ours.get(key) == theirs.get(key), (key, ours, theirs)
    assert set(ours["status"]) & TEXT_STATUS == set(theirs["status"]), (ours, theirs)


@pytest.mark.parametrize("side", ["a", "b"])
def test_dump_is_what_conntrack_prints(lab, side):
    ns = getattr(lab, side)
    ours = by_id(netlink.dump(lab.path(ns))[0])
    theirs = by_id(parse_conntrack(conntrack_text(ns, "-L", "-o", "extended,id")))
    assert len(theirs) >= (11 if side == "a" else 9)
    assert set(ours) == set(theirs)
    for ct_id, flow in theirs.items():
        same(ours[ct_id], flow)


def test_proc_file_is_what_netlink_says(lab):
    ours = dict((repr(sorted(f["original"].items())), f) for f in netlink.dump(lab.path(lab.a))[0])
    proc = parse_conntrack(sh(["ip", "netns", "exec", lab.a, "cat", "/proc/net/nf_conntrack"]))
    assert len(proc) == len(ours)
    for flow in proc:
        mine = ours[repr(sorted(flow["original"].items()))]
        for key in ("reply", "tcpState", "zone", "mark", "packetTotalCount", "reverseOctetTotalCount"):
            assert mine[key] == flow[key]


def test_each_kind_of_flow_as_the_kernel_made_it(lab):
    flows = netlink.dump(lab.path(lab.a))[0]

    def one(**want):
        found = [f for f in flows if all(f["original"].get(k) == v for k, v in want.items())]
        assert len(found) == 1, (want, flows)
        return found[0]

    svc = one(dst=SVC4, dst_port=80)
    assert svc["nat"] == ["dnat"] and svc["reply"]["src"] == B4 and svc["reply"]["src_port"] == 8080
    assert svc["destinationIPv4Address"] == B4 and svc["destinationServicePort"] == 80
    snat = one(dst=B4, dst_port=9090)
    assert snat["nat"] == ["snat"] and snat["reply"]["dst"] == "10.231.0.11"
    assert one(dst=B4, dst_port=8081)["mark"] == 0x2a
    assert one(dst=B4, dst_port=7007)["zone"] == 7
    syn = one(dst=DEAD_ADDR)
    assert syn["tcpState"] == "SYN_SENT" and "UNREPLIED" in syn["status"] and syn["reversePacketTotalCount"] == 0
    tcp6 = one(dst=B6, dst_port=8080)
    assert tcp6["family"] == "ipv6" and tcp6["tcpState"] == "ESTABLISHED" and "ASSURED" in tcp6["status"]
    # client sent SYN, ACK, data, and gets SYN-ACK, data back: at least 3 packets one way and 2 the other
    assert tcp6["packetTotalCount"] >= 3 and tcp6["reversePacketTotalCount"] >= 2
    assert one(dst=B4, icmp_type=8)["reply"]["icmp_type"] == 0
    assert one(dst=B6, icmp_type=128)["protocol"] == "icmpv6"
    assert one(dst=B6, dst_port=5353)["protocol"] == "udp"
    assert all(f["accounting"] and f["flowStartSeconds"] for f in flows)


@pytest.mark.parametrize("filters,conntrack_args", [
    ({"dst": [SVC4]}, ["-d", SVC4]),
    ({"zone": 7}, ["-w", "7"]),
    ({"mark": "42"}, ["-m", "42"]),
    ({"protocol": "tcp", "tcp_state": ["SYN_SENT"]}, ["-p", "tcp", "--state", "SYN_SENT"]),
    ({"src": ["10.231.0.0/24"], "family": "ipv4", "protocol": "udp"}, ["-f", "ipv4", "-p", "udp", "-s", "10.231.0.0/24"]),
    ({"family": "ipv6"}, ["-f", "ipv6"]),
])
def test_module_filters_agree_with_conntrack_filters(lab, filters, conntrack_args):
    args = dict(filters, netns=lab.a)
    result = run_module("netdiag.tracekit.conntrack_export", args)
    assert not result.get("failed"), result
    theirs = by_id(parse_conntrack(conntrack_text(lab.a, "-L", "-o", "extended,id", *conntrack_args)))
    assert theirs and set(by_id(result["flows"])) == set(theirs)
    assert result["count"] == len(theirs) and result["changed"] is False


def test_module_reports_accounting_off_and_netns_by_pid(lab):
    sleeper = sh("ip netns exec %s sh -c 'sleep 30 >/dev/null 2>&1 & echo $!'" % lab.b).strip()
    try:
        result = run_module("netdiag.tracekit.conntrack_export", {"netns": sleeper, "status": ["ASSURED"]})
    finally:
        os.kill(int(sleeper), 9)
    assert not result.get("failed"), result
    assert result["flows"] and all(f["packetTotalCount"] is None for f in result["flows"])
    assert result["accounting"]["enabled"] is False and "nf_conntrack_acct=0" in result["accounting"]["message"]
    assert result["timestamps"]["enabled"] is False
    assert result["netns"]["path"] == "/proc/%s/ns/net" % sleeper


@pytest.mark.parametrize("args,message", [
    ({"netns": "tkct-does-not-exist"}, "network namespace 'tkct-does-not-exist' does not exist"),
    ({"src": ["10.231.0.1/24"]}, "CIDR with host bits set; did you mean 10.231.0.0/24?"),
    ({"dst": ["server"]}, "'server' is not an IP address or a CIDR"),
    ({"tcp_state": ["ESTABLISH"]}, "tcp_state: unknown name 'ESTABLISH'"),
    ({"output": ["ipfix"], "collector": ["127.0.0.1:9"], "transport": "tcp"}, "cannot connect to IPFIX collector 127.0.0.1:9"),
])
def test_module_bad_input_fails_clearly(args, message):
    need_root()
    result = run_module("netdiag.tracekit.conntrack_export", args)
    assert result.get("failed") and message in result["msg"], result
    assert "Traceback" not in result["msg"]

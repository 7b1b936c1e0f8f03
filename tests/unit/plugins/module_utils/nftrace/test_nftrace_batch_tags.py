"""One nftables trace that follows a whole batch of probes (compliance_trace.yml), split again by probe.

The table matches every probe's DSCP and IP ID (or flow label); each trace says which header it carried, and
nftrace_observations(tag=...) keeps one probe's traces. Header bytes below are written by hand: TOS 0x30 is
DSCP 12 (0x34 is 13), ID 0x1092 is 4242; the IPv6 first word 0x6301e240 is version 6, traffic class 0x30
(DSCP 12) and flow label 0x1e240 (123456).
"""

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace import session as sess
from ansible_collections.netdiag.tracekit.plugins.plugin_utils import diagnosis as dg
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.nftrace_observations import (
    nftrace_observations, trace_has_tag)

TAGS = [{"dscp": 12, "ip_id": 4242}, {"dscp": 13, "ip_id": 4243}, {"dscp": 12, "flow_label": 123456}]


def v4_header(tos, ip_id):
    # version/IHL 0x45, TOS, total length 60, ID, flags 0, TTL 64, TCP, checksum 0, 10.244.1.11 -> 10.244.2.11
    return "45%02x003c%04x00004006000c0af4010b0af4020b" % (tos, ip_id)


V6 = "6301e240" + "00140640" + "fd000010024400010000000000000011" + "fd000010024400020000000000000011"


def test_table_has_one_trace_rule_per_probe_in_both_chains():
    text = sess.table_text("tracekit_trace_1_2", TAGS)
    for chain in ("pre", "out"):
        body = text.split("chain %s {" % chain)[1].split("}")[0]
        assert "ip dscp 12 ip id 4242 meta nftrace set 1" in body
        assert "ip dscp 13 ip id 4243 meta nftrace set 1" in body
        assert "ip6 dscp 12 ip6 flowlabel 123456 meta nftrace set 1" in body
        assert "priority -2147483648; policy accept;" in body
    # One probe (diagnose_drop.yml) is unchanged: a single tag gives the same table as a list of it.
    assert sess.table_text("t", TAGS[0]) == sess.table_text("t", [TAGS[0]])


def test_tags_are_checked_and_bounded():
    assert sess.tag_list(None, TAGS) == TAGS
    assert sess.tag_list(TAGS[0], None) == [TAGS[0]]
    with pytest.raises(sess.NftraceError, match="give the probe's tag"):
        sess.tag_list(None, [])
    with pytest.raises(sess.NftraceError, match="each tag needs dscp"):
        sess.tag_list(None, [{"ip_id": 1}])
    with pytest.raises(sess.NftraceError, match="tags must be a list"):
        sess.tag_list(None, {"dscp": 1, "ip_id": 1})
    with pytest.raises(sess.NftraceError, match="at most 1000"):
        sess.tag_list(None, [{"dscp": 1, "ip_id": i} for i in range(1001)])
    with pytest.raises(sess.NftraceError, match="not 0-63"):
        sess.NftraceSession([], tags=[{"dscp": 64, "ip_id": 1}])


def test_header_tag_reads_dscp_and_id_or_flow_label():
    assert sess.header_tag(v4_header(0x30, 0x1092)) == {"dscp": 12, "ip_id": 4242}
    assert sess.header_tag(V6) == {"dscp": 12, "flow_label": 123456}
    assert sess.header_tag("") is None and sess.header_tag("zz") is None


class FakeNs(object):
    """The parts of session.Namespace build_traces reads (messages as the decoder gives them; no ruleset)."""

    table = "tracekit_trace_1_2"
    name = "lab-node2"
    inode = 4026532000
    rules = {}
    index = {"rules": {}, "chains": {}, "sets": {}}

    def __init__(self, messages):
        self.messages = messages


def message(trace_id, header, verdict, handle=7):
    return {"table": "filter", "id": trace_id, "network_header": header, "transport_header": "d43115380000",
            "family": "inet", "chain": "forward", "handle": handle, "type": "rule", "verdict": verdict,
            "jump_target": None, "iif": 2, "oif": 3, "nfproto": 2, "received": 100.0}


def test_build_traces_keeps_every_probe_of_the_batch_and_says_which_it_was():
    ns = FakeNs([message("a", v4_header(0x30, 4242), "drop"),
                 message("b", v4_header(0x34, 4243), "accept"),
                 message("c", v4_header(0x30, 4243), "accept"),      # DSCP 12 with the other probe's ID: not ours
                 message("d", v4_header(0x30, 9999), "drop"),        # someone else's packet
                 message("e", V6, "drop")])
    traces = sess.build_traces(ns, TAGS)
    assert [(t["id"], t["tag"], t["verdict"]) for t in traces] == [
        ("a", {"dscp": 12, "ip_id": 4242}, "drop"), ("b", {"dscp": 13, "ip_id": 4243}, "accept"),
        ("e", {"dscp": 12, "flow_label": 123456}, "drop")]
    assert traces[0]["rule"]["handle"] == 7 and traces[0]["rule"]["chain"] == "forward"
    # One tag (diagnose_drop.yml) keeps only its own probe, as before.
    assert [t["id"] for t in sess.build_traces(ns, TAGS[1])] == ["b"]


ENDPOINTS = {
    "n1-pod1": {"node": "node1", "netns": "lab-n1-pod1", "ip": "10.244.1.11", "ips": ["10.244.1.11"]},
    "n2-pod1": {"node": "node2", "netns": "lab-n2-pod1", "ip": "10.244.2.11", "ips": ["10.244.2.11"]},
}
NODES = {"node1": {"netns": "lab-node1", "ips": ["192.168.77.1"]}, "node2": {"netns": "lab-node2", "ips": ["192.168.77.2"]}}
RULE = {"family": "inet", "table": "filter", "chain": "forward", "handle": 7, "text": "tcp dport 5432 drop",
        "comment": "default/deny-postgres", "verdict": "drop"}
POLICY = {"namespace": "default", "name": "deny-postgres", "kind": "NetworkPolicy"}


def test_observations_split_by_tag_give_each_flow_its_own_rule():
    src = dg.resolve_endpoint("n1-pod1", ENDPOINTS, NODES)
    dst = dg.resolve_endpoint("n2-pod1", ENDPOINTS, NODES)
    traces = [
        {"netns": "lab-node2", "id": "a", "time": 100.1, "tag": {"dscp": 12, "ip_id": 4242}, "verdict": "drop",
         "packet": {"src": "10.244.1.11"}, "steps": [dict(RULE, type="rule")], "rule": RULE, "policy": POLICY},
        {"netns": "lab-node2", "id": "b", "time": 100.2, "tag": {"dscp": 13, "ip_id": 4243}, "verdict": "accept",
         "packet": {"src": "10.244.1.11"}, "steps": [], "rule": None, "policy": None},
    ]
    dropped = nftrace_observations(traces, "node2", src, dst, node_netns="lab-node2", tag=TAGS[0])
    passed = nftrace_observations(traces, "node2", src, dst, node_netns="lab-node2", tag=TAGS[1])
    assert [o["action"] for o in dropped] == ["Dropped"] and [o["action"] for o in passed] == ["Forwarded"]
    assert dropped[0]["reason"] == ("dropped by nftables rule `inet filter forward handle 7` "
                                    "(NetworkPolicy default/deny-postgres)")
    assert nftrace_observations(traces, "node2", src, dst, tag={"dscp": 12, "ip_id": 1}) == []
    assert len(nftrace_observations(traces, "node2", src, dst)) == 2          # no tag: every trace


def test_trace_has_tag_follows_the_ids_of_a_multi_packet_probe_and_the_wrap():
    assert trace_has_tag({"tag": {"dscp": 5, "ip_id": 1}}, {"dscp": 5, "ip_id": 65535, "count": 3})
    assert not trace_has_tag({"tag": {"dscp": 5, "ip_id": 2}}, {"dscp": 5, "ip_id": 65535, "count": 3})
    assert not trace_has_tag({"tag": {"dscp": 5, "flow_label": 7}}, {"dscp": 5, "ip_id": 7})
    assert not trace_has_tag({}, TAGS[0]) and not trace_has_tag({"tag": {"dscp": "x"}}, TAGS[0])

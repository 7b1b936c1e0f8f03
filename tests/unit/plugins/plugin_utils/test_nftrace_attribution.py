"""nft_trace's traces as observations, and the rule and policy they give the drop point and the summary."""

from ansible_collections.netdiag.tracekit.plugins.plugin_utils import diagnosis as dg
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.nftrace_observations import nftrace_observations
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.report_html import render

ENDPOINTS = {
    "n1-pod1": {"node": "node1", "netns": "lab-n1-pod1", "ip": "10.244.1.11", "ips": ["10.244.1.11"]},
    "n2-pod1": {"node": "node2", "netns": "lab-n2-pod1", "ip": "10.244.2.11", "ips": ["10.244.2.11"]},
}
NODES = {"node1": {"netns": "lab-node1", "ips": ["192.168.77.1"]}, "node2": {"netns": "lab-node2", "ips": ["192.168.77.2"]}}
SRC = dg.resolve_endpoint("n1-pod1", ENDPOINTS, NODES)
DST = dg.resolve_endpoint("n2-pod1", ENDPOINTS, NODES)
RULE = {"family": "inet", "table": "filter", "chain": "forward", "handle": 7, "text": "tcp dport 5432 drop",
        "comment": "default/deny-postgres", "verdict": "drop"}
POLICY = {"namespace": "default", "name": "deny-postgres", "kind": "NetworkPolicy", "enforcer": "tracekit-lab"}


def trace(verdict="drop", rule="default", policy="default", netns="lab-node2", time=100.002):
    rule = RULE if rule == "default" else rule
    policy = POLICY if policy == "default" else policy
    return {"netns": netns, "id": "0badc0de", "time": time, "packet": {"src": "10.244.1.11", "dst": "10.244.2.11"},
            "steps": [dict(rule, type="rule" if rule and rule.get("handle") else "policy", jump_target=None)]
            if rule else [], "verdict": verdict, "rule": rule, "policy": policy}


def injection(outcome, replies=()):
    return {"outcome": outcome, "sent": 1, "sent_at": 100.0, "replies": list(replies),
            "probe": {"protocol": "tcp", "dst_port": 5432, "summary": "TCP ...", "timeout": 2.0}}


def kernel_drop(netns="lab-node2"):
    return dg.observation("Dropped", "kernel", "nettrace", node="node2", netns=netns, endpoint="n2-pod1",
                          reason="NETFILTER_DROP in nft_do_chain+0x3e8", time=100.001)


def observations(*traces, **kw):
    return nftrace_observations(list(traces), "node2", SRC, DST, netns_endpoints={}, node_netns="lab-node2", **kw)


def test_the_summary_names_the_rule_and_policy_in_the_documented_form():
    caps = [kernel_drop()] + observations(trace())
    result = dg.diagnose(injection("timeout"), SRC, DST, caps, ENDPOINTS, NODES)
    assert result["verdict"] == "dropped"
    point = result["drop_point"]
    assert point["component"] == "kernel"          # the kernel's drop stays the drop point...
    assert point["rule"] == RULE                   # ...and gains the rule and policy nftables saw
    assert point["policy"]["kind"] == "NetworkPolicy"
    assert result["summary"].endswith("was dropped at node2 for n2-pod1 by nftables rule "
                                      "`inet filter forward handle 7` (NetworkPolicy default/deny-postgres).")
    kernel = [o for o in result["observations"] if o["component"] == "kernel"]
    assert kernel[0]["rule"] == RULE


def test_a_chain_policy_drop_is_reported_as_such():
    pol_rule = {"family": "inet", "table": "filter", "chain": "input", "handle": None,
                "text": "policy drop of chain input", "comment": None, "verdict": "drop"}
    result = dg.diagnose(injection("timeout"), SRC, DST, observations(trace(rule=pol_rule, policy=None)),
                         ENDPOINTS, NODES)
    assert result["drop_point"]["component"] == "nftables"     # no eBPF capture: the trace is the drop point
    assert result["drop_point"]["rule"]["text"] == "policy drop of chain input"
    assert result["summary"].endswith("by nftables policy drop of chain `inet filter input`.")


def test_a_reject_rule_is_blamed_for_the_forged_reset():
    rule = dict(RULE, text="tcp dport 5432 reject with tcp reset", verdict="reject")
    reply = {"kind": "rst", "from": "10.244.2.11", "time": 100.003}
    result = dg.diagnose(injection("reset", [reply]), SRC, DST, observations(trace("reject", rule=rule)),
                         ENDPOINTS, NODES)
    assert result["verdict"] == "rejected"
    assert result["drop_point"]["component"] == "nftables"
    assert result["drop_point"]["rule"]["verdict"] == "reject"
    assert "rejected at node2 for n2-pod1 by nftables rule `inet filter forward handle 7`" in result["summary"]


def test_a_rule_in_another_namespace_is_not_given_to_the_drop_point():
    caps = [kernel_drop(netns="lab-n2-pod1")] + observations(trace())
    result = dg.diagnose(injection("timeout"), SRC, DST, caps, ENDPOINTS, NODES)
    assert result["drop_point"]["netns"] == "lab-n2-pod1" and "rule" not in result["drop_point"]


def test_an_accepted_trace_is_a_forwarded_hop():
    obs = observations(trace("accept", rule=None, policy=None))
    assert obs[0]["action"] == "Forwarded" and obs[0]["rule"] is None and obs[0]["endpoint"] == "n2-pod1"


def test_report_escapes_what_it_shows():
    caps = [kernel_drop()] + observations(trace(rule=dict(RULE, comment="<script>alert(1)</script>")))
    page = render(dg.diagnose(injection("timeout"), SRC, DST, caps, ENDPOINTS, NODES))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'id="drop-point"' in page and "NetworkPolicy default/deny-postgres" in page
    assert "http://" not in page and "https://" not in page      # self-contained

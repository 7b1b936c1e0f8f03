"""Compliance traces: flows from lists and matrices, the plan's tags, the expectation check and its renderings."""

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netdiag.tracekit.plugins.plugin_utils import compliance as cp
from ansible_collections.netdiag.tracekit.plugins.plugin_utils import diagnosis as dg

ENDPOINTS = {
    "web": {"kind": "pod", "node": "node1", "netns": "lab-web", "ip": "10.244.1.11", "ips": ["10.244.1.11", "fd00:1::11"]},
    "db": {"kind": "pod", "node": "node2", "netns": "lab-db", "ip": "10.244.2.11", "ips": ["10.244.2.11", "fd00:2::11"]},
    "cache": {"kind": "pod", "node": "node2", "netns": "lab-cache", "ip": "10.244.2.12", "ips": ["10.244.2.12"]},
}
NODES = {"node1": {"netns": "lab-node1", "ips": ["192.168.77.1"]}, "node2": {"netns": "lab-node2", "ips": ["192.168.77.2"]}}
SERVICES = {"svc": {"ip": "10.96.0.10", "backends": ["db", "cache"]}}


def test_a_list_of_flows_gets_ids_names_and_defaults():
    flows = cp.expand_flows([{"src": "web", "dst": "db", "protocol": "TCP", "dst_port": "5432", "expect": "dropped"},
                             {"src": "web", "dst": "db", "protocol": "icmp", "expect": "delivered"}])
    assert [f["id"] for f in flows] == ["f001", "f002"]
    assert flows[0]["protocol"] == "tcp" and flows[0]["dst_port"] == 5432
    assert flows[0]["name"] == "web -> db tcp/5432"
    assert flows[1]["dst_port"] is None and flows[1]["name"] == "web -> db icmp"


def test_matrix_expands_sources_by_destinations_by_ports_without_self_and_first_exception_wins():
    flows = cp.expand_flows(matrix={
        "sources": ["web", "db"], "destinations": ["db", "cache"], "ports": ["tcp/8080", 5432, "udp/53", "icmp"],
        "expect": "delivered",
        "exceptions": [{"dst": "db", "dst_port": 5432, "expect": "dropped"},
                       {"dst_port": 5432, "expect": "rejected"},
                       {"src": "db", "protocol": "udp", "expect": "not delivered"}]})
    names = dict((f["name"], f["expect"]) for f in flows)
    assert len(flows) == 3 * 4          # web->db, web->cache, db->cache (db->db is left out) x 4 ports
    assert "db -> db tcp/8080" not in names
    assert names["web -> db tcp/5432"] == "dropped"          # the first matching exception
    assert names["web -> cache tcp/5432"] == "rejected"
    assert names["db -> cache udp/53"] == "not delivered"
    assert names["web -> cache udp/53"] == "delivered"
    assert names["web -> db icmp"] == "delivered"


def test_list_and_matrix_together_list_first():
    flows = cp.expand_flows([{"src": "web", "dst": "10.0.0.1", "protocol": "icmp", "expect": "no_reply"}],
                            {"sources": ["web"], "destinations": ["db"], "ports": ["tcp/1"], "expect": "rejected"})
    assert [f["name"] for f in flows] == ["web -> 10.0.0.1 icmp", "web -> db tcp/1"]


@pytest.mark.parametrize("flows, matrix, message", [
    ([{"src": "web", "dst": "db", "protocol": "tcp", "expect": "delivered"}], None, "flows[0]: protocol tcp needs dst_port"),
    ([{"src": "web", "dst": "db", "protocol": "tcp", "dst_port": 1, "expect": "allowed"}], None,
     "flows[0]: expect 'allowed' is not one of delivered, rejected, dropped, no_reply, not delivered"),
    ([{"src": "web", "dst": "db", "protocol": "sctp", "dst_port": 1, "expect": "dropped"}], None, "protocol 'sctp'"),
    ([{"src": "web", "dst": "db", "protocol": "icmp", "dst_port": 1, "expect": "dropped"}], None,
     "dst_port makes no sense with protocol icmp"),
    ([{"src": "web", "dst": "db", "dst_port": 70000, "expect": "dropped"}], None, "out of range"),
    ([{"src": "web", "dst": "db", "port": 1, "expect": "dropped"}], None, "unknown keys port"),
    ([{"src": "", "dst": "db", "dst_port": 1, "expect": "dropped"}], None, "has no src"),
    (["web->db"], None, "flows[0] must be a mapping"),
    ([], None, "no flows to check"),
    ([], {"sources": ["web"], "destinations": [], "ports": ["tcp/1"], "expect": "delivered"},
     "matrix.destinations must be a non-empty list"),
    ([], {"sources": ["web"], "destinations": ["db"], "ports": ["http"], "expect": "delivered"}, "'http' is not a port"),
    ([], {"sources": ["web"], "destinations": ["db"], "ports": ["tcp/1"]}, "matrix.expect None"),
    ([], {"sources": ["web"], "destinations": ["db"], "ports": ["tcp/1"], "expect": "delivered",
          "exceptions": [{"dst": "db", "expect": "nope"}]}, "matrix.exceptions[0]: expect 'nope'"),
    ([{"src": "web", "dst": "db", "dst_port": 1, "expect": "dropped"}] * 2, None, "is given twice"),
])
def test_bad_input_says_which_flow_and_what(flows, matrix, message):
    with pytest.raises(cp.ComplianceError) as err:
        cp.expand_flows(flows, matrix)
    assert message in str(err.value)


@settings(max_examples=200, deadline=200)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["src", "dst", "protocol", "dst_port", "expect", "sources", "destinations",
                                         "ports", "exceptions", "x"]), inner, max_size=5), max_leaves=12))
def test_any_input_gives_flows_or_a_compliance_error(data):
    """A flows file is user input: whatever it holds, the answer is flows or a clear error, never a traceback."""
    for flows, matrix in ((data, None), ([], data), (data if isinstance(data, list) else [], data)):
        try:
            cp.expand_flows(flows, matrix if isinstance(matrix, dict) or matrix is None else {"x": matrix})
        except cp.ComplianceError:
            pass


def plan(flows, seed="run-1"):
    return cp.plan(cp.expand_flows(flows), ENDPOINTS, NODES, SERVICES, seed=seed)


def test_plan_tags_are_distinct_and_grouped_by_source_node():
    flows = [{"src": "web", "dst": "db", "dst_port": p, "expect": "delivered"} for p in range(1, 71)]
    flows += [{"src": "db", "dst": "web", "dst_port": 80, "expect": "delivered"},
              {"src": "db", "dst": "fd00:1::11", "protocol": "icmp", "expect": "delivered"}]
    result = plan(flows)
    requests = [f["request"] for f in result["flows"]]
    ip_ids = [r["ip_id"] for r in requests if "ip_id" in r]
    assert len(set(ip_ids)) == len(ip_ids) == 71
    assert all(1 <= r["tag"] <= 63 for r in requests)
    assert len(set(r["tag"] for r in requests[:63])) == 63      # DSCP cycles through all 63 values
    v6 = requests[-1]
    assert v6["protocol"] == "icmpv6" and "flow_label" in v6 and "ip_id" not in v6 and v6["src"] == "fd00:2::11"
    assert [r["id"] for r in result["probes_by_node"]["node2"]] == ["f071", "f072"]
    assert len(result["probes_by_node"]["node1"]) == 70
    assert result["probes_by_node"]["node1"][0]["netns"] == "lab-web"
    assert result["capture_nodes"] == ["node1", "node2"]
    assert result["netns_endpoints"] == {"lab-web": "web", "lab-db": "db", "lab-cache": "cache"}
    assert plan(flows)["flows"][5]["request"] == result["flows"][5]["request"]          # same seed, same tags
    assert plan(flows, "run-2")["flows"][5]["request"]["ip_id"] != result["flows"][5]["request"]["ip_id"]


def test_plan_a_service_captures_on_its_backends_nodes_and_filters_their_addresses():
    result = plan([{"src": "web", "dst": "svc", "dst_port": 80, "expect": "delivered"}])
    flow = result["flows"][0]
    assert flow["aliases"] == ["10.244.2.11", "10.244.2.12"]
    assert flow["capture_nodes"] == ["node1", "node2"]
    assert result["filter_ips"] == ["10.244.1.11", "10.96.0.10", "10.244.2.11", "10.244.2.12"]


def test_plan_an_external_address_captures_on_every_node():
    flow = plan([{"src": "db", "dst": "203.0.113.9", "dst_port": 443, "expect": "dropped"}])["flows"][0]
    assert flow["dst_endpoint"]["kind"] == "external" and flow["capture_nodes"] == ["node1", "node2"]


@pytest.mark.parametrize("flow, message", [
    ({"src": "nope", "dst": "db", "dst_port": 1, "expect": "dropped"}, "flow f001 (nope -> db tcp/1): 'nope' is neither"),
    ({"src": "10.1.1.1", "dst": "db", "dst_port": 1, "expect": "dropped"}, "src 10.1.1.1 must be a pod or node"),
    ({"src": "cache", "dst": "web", "dst_port": 1, "expect": "dropped", "family": 6}, "cache has no IPv6 address"),
])
def test_plan_errors_name_the_flow(flow, message):
    with pytest.raises(cp.ComplianceError) as err:
        plan([flow])
    assert message in str(err.value)


def diagnosis(verdict, summary, drop_point=None, **extra):
    out = {"verdict": verdict, "summary": summary, "drop_point": drop_point, "observations": [
        dg.observation("Sent", "probe", "packet_inject", node="node1", reason="TCP ..."),
        dg.observation("Dropped", "kernel", "nettrace", node="node2", netns="lab-node2", reason="NETFILTER_DROP")]}
    out.update(extra)
    return out


DROP = {"node": "node2", "netns": "lab-node2", "endpoint": "db", "component": "kernel", "reason": "NETFILTER_DROP"}


def document():
    flows = plan([{"src": "web", "dst": "db", "dst_port": 8080, "expect": "delivered"},
                  {"src": "web", "dst": "db", "dst_port": 5432, "expect": "delivered"},
                  {"src": "web", "dst": "cache", "dst_port": 5432, "expect": "not delivered"},
                  {"src": "db", "dst": "cache", "protocol": "udp", "dst_port": 53, "expect": "not delivered"},
                  {"src": "db", "dst": "web", "protocol": "udp", "dst_port": 53, "expect": "rejected"}])["flows"]
    acl = {"action": "drop", "match": "outport == @a123 && tcp.dst == 5432",
           "external_ids": {"k8s.ovn.org/name": "deny-postgres", "k8s.ovn.org/namespace": "default"}}
    diagnoses = {
        "f001": diagnosis("delivered", "TCP/8080 from web to db was delivered."),
        "f002": diagnosis("dropped", "TCP/5432 from web to db was dropped at db, node node2 (kernel): NETFILTER_DROP.",
                          DROP, ovn={"acl": acl}),
        "f003": diagnosis("no_reply", "TCP/5432 from web to cache got no reply."),
        "f004": diagnosis("delivered", "UDP/53 from db to cache was delivered <b>&</b>."),
        "f005": {"error": "packet_inject_batch on node2: network namespace 'lab-db' does not exist"},
    }
    return cp.report(flows, diagnoses, run_id="r1", started_at="2026-11-29T02:00:00+00:00")


def test_report_checks_each_flow_and_not_delivered_accepts_any_non_delivery():
    doc = document()
    assert [(f["verdict"], f["passed"]) for f in doc["flows"]] == [
        ("delivered", True), ("dropped", False), ("no_reply", True), ("delivered", False), ("error", False)]
    assert doc["passed"] is False
    assert doc["totals"] == {"flows": 5, "passed": 2, "failed": 3, "errors": 1,
                             "verdicts": {"delivered": 2, "dropped": 1, "no_reply": 1, "error": 1}}
    failed = doc["flows"][1]
    assert failed["message"] == ("expected delivered, got dropped: TCP/5432 from web to db was dropped at db, node "
                                 "node2 (kernel): NETFILTER_DROP. (policy: default/deny-postgres; rule: OVN ACL drop "
                                 "outport == @a123 && tcp.dst == 5432)")
    assert doc["flows"][4]["message"].startswith("expected rejected, but the flow could not be probed: packet_inject")
    assert doc["flows"][0]["message"] is None
    stats = cp.stats(doc)
    assert [f["id"] for f in stats["failures"]] == ["f002", "f004", "f005"]
    assert "diagnosis" not in json.dumps(stats["flows"])
    assert cp.expectation_met("not delivered", "rejected") and not cp.expectation_met("not delivered", "delivered")
    assert not cp.expectation_met("dropped", None)


def test_a_nftables_rule_named_by_a_capture_is_in_the_message():
    flows = plan([{"src": "web", "dst": "db", "dst_port": 5432, "expect": "delivered"}])["flows"]
    point = dict(DROP, rule="inet pol out rule tcp dport 5432 drop", policy="default/deny-postgres")
    doc = cp.report(flows, {"f001": diagnosis("dropped", "dropped.", point)})
    assert doc["flows"][0]["message"] == ("expected delivered, got dropped: dropped. (policy: default/deny-postgres; "
                                          "rule: inet pol out rule tcp dport 5432 drop)")


def test_the_rule_and_policy_of_an_nftables_trace_are_named_once_as_the_summary_writes_them():
    flows = plan([{"src": "web", "dst": "db", "dst_port": 5432, "expect": "delivered"},
                  {"src": "web", "dst": "cache", "dst_port": 5432, "expect": "delivered"}])["flows"]
    rule = {"family": "inet", "table": "filter", "chain": "forward", "handle": 7, "text": "tcp dport 5432 drop",
            "comment": "default/deny-postgres", "verdict": "drop"}
    pol = {"namespace": "default", "name": "deny-postgres", "kind": "NetworkPolicy"}
    point = dict(DROP, rule=rule, policy=pol)
    named = ("TCP/5432 from web to db was dropped at node2 for db by nftables rule `inet filter forward handle 7` "
             "(NetworkPolicy default/deny-postgres).")
    doc = cp.report(flows, {"f001": diagnosis("dropped", named, point),
                            "f002": diagnosis("dropped", "TCP/5432 from web to cache was dropped.", point)})
    assert doc["flows"][0]["message"] == "expected delivered, got dropped: " + named
    assert doc["flows"][0]["policy_details"] == {"rule": "nftables rule `inet filter forward handle 7`",
                                                 "policy": "NetworkPolicy default/deny-postgres"}
    # A summary that does not name them gets them appended, as text (never a Python dict).
    assert doc["flows"][1]["message"] == (
        "expected delivered, got dropped: TCP/5432 from web to cache was dropped. (policy: NetworkPolicy "
        "default/deny-postgres; rule: nftables rule `inet filter forward handle 7`)")


def test_a_flow_without_diagnosis_is_an_error_not_a_pass():
    flows = plan([{"src": "web", "dst": "db", "dst_port": 1, "expect": "no_reply"}])["flows"]
    doc = cp.report(flows, {})
    assert doc["flows"][0]["verdict"] == "error" and doc["passed"] is False


def test_junit_has_one_testcase_per_flow_and_failures_carry_the_summary():
    root = ET.fromstring(cp.junit_xml(document()))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "2", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["web -> db tcp/8080", "web -> db tcp/5432", "web -> cache tcp/5432",
                                              "db -> cache udp/53", "db -> web udp/53"]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure.get("message").startswith("expected delivered, got dropped: TCP/5432 from web to db was dropped")
    assert failure.get("type") == "expected_delivered_got_dropped"
    assert json.loads(failure.text)["drop_point"]["node"] == "node2"
    assert cases[3].find("failure").get("type") == "expected_not_delivered_got_delivered"
    assert cases[4].find("error").get("type") == "probe_error"
    assert cases[1].get("classname") == "compliance_trace.web"
    assert cases[1].find("system-out").text.startswith("DROPPED: ")


class _Collect(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags = []
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.add(attrs["id"])


def test_html_table_is_self_contained_and_every_cell_links_to_its_diagnosis():
    page = cp.html_table(document(), title="Nightly <check>")
    parser = _Collect()
    parser.feed(page)
    assert not [t for t, a in parser.tags if t in ("script", "link", "img", "iframe")]
    assert "http://" not in page and "https://" not in page
    links = [a for t, a in parser.tags if t == "a" and "flow" in (a.get("class") or "").split()]
    assert len(links) == 5
    for link in links:
        assert link["href"].startswith("#") and link["href"][1:] in parser.ids
    by_id = dict((a["href"][1:], a) for a in links)
    assert by_id["f002"]["data-verdict"] == "dropped" and "#c62828" in by_id["f002"]["style"]
    assert "fail" in by_id["f002"]["class"] and "pass" in by_id["f001"]["class"]
    assert "#2e7d32" in by_id["f001"]["style"]
    rows = [a for t, a in parser.tags if t == "th" and a.get("scope") == "row"]
    cols = [a for t, a in parser.tags if t == "th" and a.get("scope") == "col"]
    assert len(rows) == 2 and len(cols) == 3            # sources web, db; destinations db, cache, web
    assert "Nightly &lt;check&gt;" in page and "<b>&</b>" not in page

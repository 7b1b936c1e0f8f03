"""The compliance filters are thin: their arguments are checked against their DOCUMENTATION, and errors from
plugin_utils become AnsibleFilterError naming the filter."""

import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter import (compliance_flows, compliance_html, compliance_junit,
                                                                 compliance_plan, compliance_report, compliance_stats)

ENDPOINTS = {"web": {"kind": "pod", "node": "node1", "netns": "lab-web", "ips": ["10.244.1.11"]},
             "db": {"kind": "pod", "node": "node2", "netns": "lab-db", "ips": ["10.244.2.11"]}}
NODES = {"node1": {"netns": "lab-node1", "ips": ["192.168.77.1"]}, "node2": {"netns": "lab-node2", "ips": ["192.168.77.2"]}}


def f(module, name):
    return module.FilterModule().filters()[name]


def test_flows_plan_report_and_renderings_chain():
    flows = f(compliance_flows, "compliance_flows")([], matrix={"sources": ["web"], "destinations": ["db"],
                                                                "ports": ["tcp/8080", "tcp/5432"], "expect": "delivered"})
    plan = f(compliance_plan, "compliance_plan")(flows, endpoints=ENDPOINTS, nodes=NODES, seed="s")
    assert sorted(plan["probes_by_node"]) == ["node1"]
    doc = f(compliance_report, "compliance_report")(plan["flows"], diagnoses={
        "f001": {"verdict": "delivered", "summary": "ok", "drop_point": None},
        "f002": {"verdict": "dropped", "summary": "dropped at db", "drop_point": {"node": "node2"}}}, run_id="r")
    assert doc["totals"]["failed"] == 1
    assert ET.fromstring(f(compliance_junit, "compliance_junit")(doc, suite="nightly")).find("testsuite").get("name") == "nightly"
    assert "<table" in f(compliance_html, "compliance_html")(doc)
    assert f(compliance_stats, "compliance_stats")(doc)["failures"][0]["id"] == "f002"


@pytest.mark.parametrize("call, message", [
    (lambda: f(compliance_flows, "compliance_flows")("web->db"), "compliance_flows: "),
    (lambda: f(compliance_flows, "compliance_flows")([], matrix={"sources": ["web"]}),
     "compliance_flows: matrix.destinations must be a non-empty list"),
    (lambda: f(compliance_flows, "compliance_flows")([], colour="red"), "compliance_flows: "),
    (lambda: f(compliance_plan, "compliance_plan")([{"id": "f001", "name": "x", "src": "nope", "dst": "db",
                                                     "protocol": "tcp", "dst_port": 1, "expect": "dropped",
                                                     "family": None}], endpoints=ENDPOINTS, nodes=NODES),
     "compliance_plan: flow f001 (x): 'nope' is neither"),
    (lambda: f(compliance_plan, "compliance_plan")([], endpoints=ENDPOINTS), "compliance_plan: "),
    (lambda: f(compliance_report, "compliance_report")([{"id": "f001"}], diagnoses={}),
     "compliance_report: input must be compliance_plan's flows"),
    (lambda: f(compliance_junit, "compliance_junit")({"flows": []}), "compliance_junit: input must be"),
    (lambda: f(compliance_html, "compliance_html")({}), "compliance_html: input must be"),
    (lambda: f(compliance_stats, "compliance_stats")({}), "compliance_stats: input must be"),
])
def test_bad_arguments_fail_with_the_filters_name(call, message):
    with pytest.raises(AnsibleFilterError) as err:
        call()
    assert message in str(err.value)

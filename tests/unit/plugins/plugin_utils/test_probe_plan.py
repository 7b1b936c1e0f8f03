"""Planning one probe (plugin_utils/probe_plan.py): what diagnose_drop.yml (the probe_plan filter) and every flow of a
compliance trace resolve and capture. The expected values are worked out by hand from the inventory below."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter.probe_plan import FilterModule
from ansible_collections.netdiag.tracekit.plugins.plugin_utils import compliance as cp
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.probe_plan import netns_endpoints, plan_probe

ENDPOINTS = {
    "web": {"node": "node1", "netns": "lab-web", "ip": "10.244.1.11", "ips": ["10.244.1.11", "fd00:1::11"]},
    "db": {"node": "node2", "netns": "lab-db", "ip": "10.244.2.11", "ips": ["10.244.2.11", "fd00:2::11"]},
    # written by hand with "ip" only, as docs/inventory.md allows
    "cache": {"node": "node3", "netns": "lab-cache", "ip": "10.244.3.12"},
    "v6only": {"node": "node2", "netns": "lab-v6", "ips": ["fd00:2::99"]},
    "node1": {"kind": "node", "node": "node1", "netns": "lab-node1", "ip": "192.168.77.1"},
}
NODES = {"node2": {"netns": "lab-node2", "ips": ["192.168.77.2"]}, "node1": {"netns": "lab-node1", "ips": ["192.168.77.1"]},
         "node3": {"netns": "lab-node3", "ips": ["192.168.77.3"]}}
SERVICES = {"svc": {"ip": "10.96.0.10", "ips": ["10.96.0.10", "fd00:96::10"], "backends": ["db", "cache", "gone"]}}
probe_plan = FilterModule().filters()["probe_plan"]


def plan(src, dst, protocol="tcp", family=None):
    return plan_probe(src, dst, protocol, ENDPOINTS, NODES, SERVICES, family)


def test_pod_to_pod_captures_on_both_nodes_and_keeps_both_addresses():
    out = plan("web", "db")
    assert (out["src"]["ip"], out["dst"]["ip"]) == ("10.244.1.11", "10.244.2.11")
    assert out["capture_nodes"] == ["node1", "node2"] and out["filter_ips"] == ["10.244.1.11", "10.244.2.11"]
    assert out["aliases"] == [] and out["protocol"] == "tcp"


def test_a_service_brings_its_backends_nodes_and_addresses_of_the_probes_family():
    out = plan("web", "svc")
    # cache has only "ip": its address counts too; "gone" is not an endpoint and is left out
    assert out["aliases"] == ["10.244.2.11", "10.244.3.12"]
    assert out["capture_nodes"] == ["node1", "node2", "node3"]
    assert out["filter_ips"] == ["10.244.1.11", "10.96.0.10", "10.244.2.11", "10.244.3.12"]
    six = plan("web", "svc", family=6)
    assert six["dst"]["ip"] == "fd00:96::10" and six["src"]["ip"] == "fd00:1::11"
    assert six["aliases"] == ["fd00:2::11"]  # cache has no IPv6 address


def test_ipv6_destination_resolves_the_source_in_ipv6_and_icmp_becomes_icmpv6():
    out = plan("web", "fd00:2::11", protocol="icmp")
    assert out["src"]["ip"] == "fd00:1::11" and out["dst"]["name"] == "db" and out["protocol"] == "icmpv6"
    assert plan("web", "v6only")["dst"]["ip"] == "fd00:2::99"  # an endpoint with ips only: its first address


def test_an_external_destination_is_captured_on_every_node():
    out = plan("web", "203.0.113.9")
    assert out["dst"]["kind"] == "external" and out["capture_nodes"] == ["node1", "node2", "node3"]


@pytest.mark.parametrize("src, dst, message", [
    ("203.0.113.9", "db", "src 203.0.113.9 must be a pod or node of tracekit_endpoints with a node in tracekit_nodes"),
    ("web", "nowhere", "'nowhere' is neither an IP address nor an endpoint"),
    ("cache", "v6only", "endpoint cache has no IPv6 address"),
])
def test_what_cannot_be_planned_is_said(src, dst, message):
    with pytest.raises(DiagnosisError, match=message):
        plan(src, dst)


def test_namespaces_name_their_pods_not_their_nodes():
    assert netns_endpoints(ENDPOINTS) == {"lab-web": "web", "lab-db": "db", "lab-cache": "cache", "lab-v6": "v6only"}


def test_the_filter_and_a_compliance_flow_plan_alike():
    out = probe_plan("svc", src="web", protocol="tcp", endpoints=ENDPOINTS, nodes=NODES, services=SERVICES)
    flows = cp.expand_flows([{"src": "web", "dst": "svc", "protocol": "tcp", "dst_port": 80, "expect": "delivered"}])
    (flow,) = cp.plan(flows, ENDPOINTS, NODES, SERVICES, seed=1)["flows"]
    assert (flow["src_endpoint"], flow["dst_endpoint"], flow["aliases"], flow["capture_nodes"], flow["filter_ips"]) \
        == (out["src"], out["dst"], out["aliases"], out["capture_nodes"], out["filter_ips"])
    assert out["netns_endpoints"]["lab-cache"] == "cache"
    with pytest.raises(AnsibleFilterError, match="^probe_plan: .*missing required arguments: nodes"):
        probe_plan("svc", src="web", protocol="tcp", endpoints=ENDPOINTS)  # required by the inventory doc fragment
    with pytest.raises(AnsibleFilterError, match="^probe_plan: .*protocol"):
        probe_plan("svc", src="web", protocol="sctp", nodes=NODES)
    with pytest.raises(AnsibleFilterError, match="^probe_plan: family must be 4 or 6, not 5"):
        probe_plan("db", src="web", protocol="udp", family=5, endpoints=ENDPOINTS, nodes=NODES)
    assert probe_plan("db", src="web", protocol="udp", family=None, endpoints=ENDPOINTS, nodes=NODES)["dst"]["ip"] \
        == "10.244.2.11"
    with pytest.raises(AnsibleFilterError, match="^probe_plan: src 203.0.113.9 must be"):
        probe_plan("db", src="203.0.113.9", protocol="udp", endpoints=ENDPOINTS, nodes=NODES)

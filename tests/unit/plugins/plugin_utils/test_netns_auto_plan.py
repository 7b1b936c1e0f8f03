"""The netns_auto filter: what netns_info found on each node, put into the runbook's plan."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter.netns_auto import FilterModule

netns_auto = FilterModule().filters()["netns_auto"]

ENDPOINTS = {
    "shop/web-1": {"node": "w1", "ip": "10.244.1.5", "ips": ["10.244.1.5", "fd00:10:244:1::5"], "kind": "pod",
                   "netns": "auto"},
    "shop/db-0": {"node": "w2", "ip": "10.244.2.9", "ips": ["10.244.2.9"], "kind": "pod", "netns": "auto"},
    "shop/lost": {"node": "w2", "ip": "10.244.2.66", "ips": ["10.244.2.66"], "kind": "pod", "netns": "auto"},
    "kube-system/agent": {"node": "w1", "ip": "172.18.0.3", "ips": ["172.18.0.3"], "kind": "pod", "netns": "auto",
                          "host_network": True},
    "w1": {"node": "w1", "ip": "172.18.0.3", "ips": ["172.18.0.3"], "kind": "node", "netns": "auto"},
    "lab-pod": {"node": "w1", "ip": "10.9.9.9", "netns": "tklab-pod", "kind": "pod"},
}
CNI = {"inode": 4026532815, "name": "cni-6f1e", "path": "/run/netns/cni-6f1e", "pid": None, "spec": "cni-6f1e"}
ROOT = {"inode": 4026531840, "name": None, "path": "/proc/1/ns/net", "pid": 1, "spec": "4026531840"}
DB = {"inode": 4026533000, "name": None, "path": "/proc/4242/ns/net", "pid": 4242, "spec": "4026533000"}
FOUND = {
    "w1": {"found": {"10.244.1.5": [CNI], "fd00:10:244:1::5": [CNI], "172.18.0.3": [ROOT]}},
    "w2": {"found": {"10.244.2.9": [DB, dict(DB, inode=4026533001, spec="4026533001")], "10.244.2.66": []}},
}


def test_endpoints_get_the_namespace_holding_their_addresses():
    out = netns_auto(FOUND, endpoints=ENDPOINTS, src={"name": "shop/web-1", "netns": "auto", "ip": "10.244.1.5"},
                     dst={"name": "shop/db-0", "netns": "auto"}, netns_endpoints={"auto": "shop/lost"})
    eps = out["endpoints"]
    assert (eps["shop/web-1"]["netns"], eps["shop/web-1"]["netns_inode"]) == ("cni-6f1e", 4026532815)
    assert eps["w1"]["netns"] == "4026531840"                    # unnamed: its inode
    assert eps["kube-system/agent"]["netns"] == "4026531840"     # host network: the node's namespace
    assert eps["lab-pod"]["netns"] == "tklab-pod"                # not auto: untouched
    assert out["src"]["netns"] == "cni-6f1e" and out["src"]["ip"] == "10.244.1.5"
    # the pods' namespaces name the pods of kernel events; nodes and host-network pods do not take the
    # node's namespace, and the placeholder 'auto' is gone
    assert out["netns_endpoints"] == {"cni-6f1e": "shop/web-1"}


def test_ambiguous_and_missing_addresses_stay_auto_with_a_reason():
    out = netns_auto(FOUND, endpoints=ENDPOINTS, dst={"name": "shop/db-0", "netns": "auto"})
    assert out["endpoints"]["shop/db-0"]["netns"] == "auto" and out["dst"]["netns"] == "auto"
    assert out["endpoints"]["shop/lost"]["netns"] == "auto"
    assert any("shop/db-0" in p and "held by 2 namespaces on node w2" in p for p in out["problems"])
    assert any("no namespace on node w2 holds shop/lost" in p for p in out["problems"])


def test_nodes_that_did_not_search_leave_their_endpoints_alone():
    out = netns_auto({"w1": {"skipped": True}}, endpoints=ENDPOINTS)
    assert out["endpoints"] == ENDPOINTS and out["problems"] == []


def test_bad_arguments_are_refused():
    with pytest.raises(AnsibleFilterError):
        netns_auto(FOUND)

"""The lab's plan: validation of the description, routes, and the nftables rules that make the faults."""

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.lab import topology as lt


def spec(**over):
    base = {
        "prefix": "tku",
        "nodes": [
            {"name": "n1", "pod_cidrs": ["10.1.1.0/24", "fd00:1::/64"],
             "pods": [{"name": "a", "ips": ["10.1.1.11", "fd00:1::11"], "listen": {"tcp": [80]}}]},
            {"name": "n2", "pod_cidrs": ["10.1.2.0/24", "10.1.102.0/24"],
             "pods": [{"name": "b", "ips": ["10.1.2.11"]}, {"name": "c", "ips": ["10.1.102.13"]}]},
        ],
        "services": [{"name": "svc", "vip": "10.96.0.1", "port": 80, "target_port": 8080, "backends": ["a", "b"]}],
        "faults": [{"type": "policy_drop", "pod": "b", "port": 5432, "name": "ns/deny"},
                   {"type": "policy_reject", "pod": "b", "protocol": "udp", "port": 53},
                   {"type": "missing_route", "node": "n1", "cidr": "10.1.102.0/24"}],
    }
    base.update(over)
    return base


def test_routes_between_nodes_and_missing_route_fault():
    lab = lt.plan(spec())
    n1 = lab["nodes"][0]
    assert {"dst": "10.1.2.0/24", "via": "192.168.77.2", "node": "n2"} in n1["routes"]
    assert not any(r["dst"] == "10.1.102.0/24" for r in n1["routes"])
    n2 = lab["nodes"][1]
    assert {"dst": "fd00:1::/64", "via": "fd00:77::1", "node": "n1"} in n2["routes"]


def test_nft_rules_implement_policy_and_service():
    lab = lt.plan(spec())
    _digest, text = lt.nft_ruleset(lab, lab["nodes"][1])
    assert 'ip daddr 10.1.2.11 meta l4proto tcp tcp dport 5432 counter drop comment "ns/deny"' in text
    assert "udp dport 53 counter reject with icmpx admin-prohibited" in text
    assert "dnat ip to numgen random mod 2 map { 0 : 10.1.1.11 . 8080, 1 : 10.1.2.11 . 8080 }" in text
    _d1, text1 = lt.nft_ruleset(lab, lab["nodes"][0])
    assert "5432" not in text1


def test_veth_names_fit_the_kernel_limit_and_differ():
    lab = lt.plan(spec())
    names = [p["host_if"] for p in lab["pods"]]
    assert all(len(n) <= 15 for n in names) and len(set(names)) == len(names)


@pytest.mark.parametrize("change, message", [
    ({"prefix": "bad prefix!"}, "use 1 to 12 letters"),
    ({"nodes": []}, "at least one node"),
    ({"faults": [{"type": "chaos"}]}, "fault type 'chaos'"),
    ({"faults": [{"type": "policy_drop", "pod": "zz", "port": 1}]}, "pod 'zz' is not a pod"),
    ({"faults": [{"type": "policy_drop", "pod": "b", "port": 70000}]}, "port 70000 is out of range"),
    ({"faults": [{"type": "missing_route", "node": "n1", "cidr": "10.9.0.0/16"}]}, "has no route to 10.9.0.0/16"),
    ({"services": [{"name": "s", "vip": "fd00::1", "port": 1, "backends": ["b"]}]}, "has no IPv6 address"),
    ({"faults": [{"type": "policy_drop", "pod": "b", "port": 1, "name": 'x" accept; #'}]}, "use 1 to 63 letters"),
])
def test_bad_lab_descriptions_are_refused_clearly(change, message):
    with pytest.raises(lt.LabError, match=message):
        lt.plan(spec(**change))


def test_pod_address_outside_node_cidrs_is_refused():
    bad = spec()
    bad["nodes"][0]["pods"][0]["ips"] = ["10.9.9.9"]
    with pytest.raises(lt.LabError, match="in none of node n1's pod_cidrs"):
        lt.plan(bad)


def test_inventory_follows_the_contract():
    inv = lt.inventory(lt.plan(spec()), "/usr/bin/python3")
    hosts = inv["all"]["children"]["tracekit_nodes"]["hosts"]
    assert hosts["n1"]["tracekit_netns"] == "tku-n1"
    assert "10.1.1.1" in hosts["n1"]["tracekit_node_ips"]
    eps = inv["all"]["vars"]["tracekit_endpoints"]
    assert eps["a"] == {"node": "n1", "netns": "tku-a", "ip": "10.1.1.11", "ips": ["10.1.1.11", "fd00:1::11"],
                        "kind": "pod", "interface": "eth0", "host_interface": eps["a"]["host_interface"],
                        "mac": "0a:58:0a:01:01:0b"}         # OVN-Kubernetes style: 0a:58 + 10.1.1.11 in hex


def test_ovn_mirror_models_the_lab_as_ovn_kubernetes_would():
    lab = lt.plan(spec())
    mirror = lt.ovn_mirror(lab)
    assert {"name": "a", "switch": "n1", "mac": "0a:58:0a:01:01:0b", "ip": "10.1.1.11", "ip6": "fd00:1::11"} in mirror["pods"]
    router = mirror["routers"][0]
    assert {"switch": "n2", "mac": "0a:58:0a:01:02:01", "networks": ["10.1.2.1/24", "10.1.102.1/24"]} in router["ports"]
    deny = [p for p in mirror["policies"] if p["port"] == 5432][0]
    assert deny["action"] == "drop" and deny["ports"] == ["b"]
    assert deny["external_ids"]["k8s.ovn.org/namespace"] == "ns"
    assert deny["external_ids"]["k8s.ovn.org/name"] == "deny"
    assert mirror["load_balancers"][0]["backends"] == ["10.1.1.11:8080", "10.1.2.11:8080"]
    inv = lt.inventory(lab, "/usr/bin/python3", ovn=True)
    assert inv["all"]["vars"]["tracekit_endpoints"]["b"]["ovn_gateway_mac"] == "0a:58:0a:01:02:01"

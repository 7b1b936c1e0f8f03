"""The inventory model: API objects (as `kubectl get -o json` shows them) to the runbooks' contract."""

import copy
import json

import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from k8s_objects import cluster

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.k8s import model


@pytest.fixture(scope="module")
def built():
    return model.build(cluster())


def test_nodes_are_hosts_grouped_by_role_and_zone(built):
    assert built["groups"] == {
        "tracekit_nodes": ["cp1", "w1", "w2"],
        "tracekit_role_control_plane": ["cp1"],
        "tracekit_role_worker": ["w1", "w2"],
        "tracekit_zone_eu_west_1a": ["cp1", "w1"],
        "tracekit_zone_eu_west_1b": ["w2"],
    }
    w1 = built["hosts"]["w1"]
    assert w1["ansible_host"] == "172.18.0.3"
    assert w1["tracekit_pod_cidrs"] == ["10.244.1.0/24", "fd00:10:244:1::/64"]
    # the InternalIPs, then the OVN cluster router's address on the node's subnets (ICMP errors come from it)
    assert w1["tracekit_node_ips"] == ["172.18.0.3", "fc00:f853:ccd:e793::3", "10.244.1.1", "fd00:10:244:1::1"]


def test_pods_are_endpoints_with_both_families_and_ovn_ports(built):
    ep = built["vars"]["tracekit_endpoints"]["shop/web-7d4b9c-x2x7k"]
    assert ep == {"node": "w1", "ip": "10.244.1.5", "ips": ["10.244.1.5", "fd00:10:244:1::5"], "kind": "pod",
                  "netns": "auto", "namespace": "shop", "pod": "web-7d4b9c-x2x7k",
                  "labels": {"app": "web", "tier": "frontend"}, "ovn_port": "shop_web-7d4b9c-x2x7k",
                  "ovn_switch": "w1", "mac": "0a:58:0a:f4:01:05", "ovn_gateway_mac": "0a:58:0a:f4:01:01"}
    assert built["vars"]["tracekit_endpoints"]["shop/db-0"]["ips"] == ["10.244.2.9"]


def test_host_network_pods_point_at_their_node_and_unrunnable_pods_are_left_out(built):
    eps = built["vars"]["tracekit_endpoints"]
    proxy = eps["kube-system/kube-proxy-8xv2d"]
    assert proxy["node"] == "w1" and proxy["host_network"] is True and proxy["netns"] == "auto"
    assert proxy["ips"] == ["172.18.0.3", "fc00:f853:ccd:e793::3"]
    assert "ovn_port" not in proxy
    assert "shop/web-7d4b9c-pend1" not in eps and "shop/migrate-28c4t" not in eps
    assert eps["w2"]["kind"] == "node" and eps["w2"]["ip"] == "172.18.0.4"


def test_services_have_ports_named_target_ports_and_ready_backends(built):
    services = built["vars"]["tracekit_services"]
    assert sorted(services) == ["shop/db", "shop/web"]          # the headless one has no address to probe
    web = services["shop/web"]
    assert (web["ip"], web["ips"]) == ("10.96.12.34", ["10.96.12.34", "fd00:10:96::c22"])
    assert (web["protocol"], web["port"], web["target_port"]) == ("tcp", 80, 8080)   # "http" -> 8080
    assert web["backends"] == ["shop/web-7d4b9c-q9zl2", "shop/web-7d4b9c-x2x7k"]
    assert "10.244.1.99" not in web["backend_ips"] and "fd00:10:244:2::7" in web["backend_ips"]
    assert services["shop/db"]["backends"] == ["shop/db-0"]


def test_policies_by_namespace_and_ovn_settings(built):
    pols = built["vars"]["tracekit_network_policies"]
    assert pols["shop"]["db-from-web-only"]["spec"]["podSelector"] == {"matchLabels": {"app": "db"}}
    assert list(pols["kube-system"]) == ["default-deny"]
    assert built["vars"]["tracekit_ovn"] == {"host": "cp1", "sb_db": "unix:/var/run/ovn/ovnsb_db.sock",
                                             "nb_db": "unix:/var/run/ovn/ovnnb_db.sock", "interconnect": True}


def test_a_cluster_without_ovn_annotations_gets_no_ovn_settings():
    objs = cluster()
    for node in objs["nodes"]:
        node["metadata"]["annotations"] = {}
    built = model.build(objs)
    assert "tracekit_ovn" not in built["vars"]
    assert "ovn_port" not in built["vars"]["tracekit_endpoints"]["shop/db-0"]
    assert built["hosts"]["w1"]["tracekit_node_ips"] == ["172.18.0.3", "fc00:f853:ccd:e793::3"]


def test_a_broken_ovn_annotation_is_a_clear_error():
    objs = cluster()
    objs["pods"][0]["metadata"]["annotations"]["k8s.ovn.org/pod-networks"] = "{not json"
    with pytest.raises(model.K8sModelError, match="k8s.ovn.org/pod-networks is not JSON"):
        model.build(objs)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


@settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_any_field_of_any_object_gives_an_inventory_or_a_clear_error(data):
    """What the API server sends is read defensively: replace any field with any JSON value."""
    objs = cluster()
    kind = data.draw(st.sampled_from(sorted(objs)))
    index = data.draw(st.integers(0, len(objs[kind]) - 1))
    paths = list(_paths(objs[kind][index]))
    path = data.draw(st.sampled_from(paths))
    value = data.draw(_json)
    target = objs[kind][index]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    try:
        result = model.build(copy.deepcopy(objs))
    except model.K8sModelError as exc:
        assert "Traceback" not in str(exc)
        return
    json.dumps(result)          # the inventory is plain data

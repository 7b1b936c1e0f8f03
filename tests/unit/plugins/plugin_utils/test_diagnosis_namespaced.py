"""resolve_endpoint takes pods and services as Kubernetes names them: namespace/name."""

import pytest

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError, resolve_endpoint

K8S_ENDPOINTS = {  # as the netdiag.tracekit.k8s inventory writes them
    "shop/web-7d4b9c-x2x7k": {"node": "w1", "ip": "10.244.1.5", "ips": ["10.244.1.5", "fd00:10:244:1::5"],
                              "kind": "pod", "netns": "auto", "namespace": "shop", "pod": "web-7d4b9c-x2x7k"},
    "shop/db-0": {"node": "w2", "ip": "10.244.2.9", "ips": ["10.244.2.9"], "kind": "pod", "netns": "auto",
                  "namespace": "shop", "pod": "db-0"},
}
K8S_SERVICES = {"shop/web": {"ip": "10.96.12.34", "ips": ["10.96.12.34", "fd00:10:96::c22"], "port": 80,
                             "target_port": 8080, "protocol": "tcp", "backends": ["shop/web-7d4b9c-x2x7k"]}}
LAB_ENDPOINTS = {"n1-pod1": {"node": "node1", "netns": "tklab-n1-pod1", "ip": "10.244.1.11",
                             "ips": ["10.244.1.11"], "kind": "pod"}}
LAB_SERVICES = {"web": {"ip": "10.96.0.10", "port": 80, "target_port": 8080, "protocol": "tcp", "backends": []}}


def test_pod_and_service_by_namespace_and_name():
    src = resolve_endpoint("shop/web-7d4b9c-x2x7k", K8S_ENDPOINTS, {}, K8S_SERVICES, family=6)
    assert (src["name"], src["node"], src["ip"]) == ("shop/web-7d4b9c-x2x7k", "w1", "fd00:10:244:1::5")
    assert src["netns"] == "auto"
    svc = resolve_endpoint("shop/web", K8S_ENDPOINTS, {}, K8S_SERVICES)
    assert (svc["name"], svc["kind"], svc["ip"]) == ("shop/web", "service", "10.96.12.34")
    by_ip = resolve_endpoint("10.244.2.9", K8S_ENDPOINTS, {}, K8S_SERVICES)
    assert by_ip["name"] == "shop/db-0"          # an address is reported under the pod's namespace/name


def test_bare_named_inventories_take_namespace_slash_name_too():
    pod = resolve_endpoint("default/n1-pod1", LAB_ENDPOINTS, {}, LAB_SERVICES)
    assert pod["name"] == "n1-pod1" and pod["netns"] == "tklab-n1-pod1"
    assert resolve_endpoint("default/web", LAB_ENDPOINTS, {}, LAB_SERVICES)["kind"] == "service"


def test_wrong_namespace_is_a_clear_error():
    with pytest.raises(DiagnosisError, match="neither an IP address nor an endpoint"):
        resolve_endpoint("kube-system/n1-pod1", LAB_ENDPOINTS, {}, LAB_SERVICES)
    with pytest.raises(DiagnosisError, match="neither an IP address nor an endpoint"):
        resolve_endpoint("shop/db", K8S_ENDPOINTS, {}, K8S_SERVICES)


def test_a_node_address_names_the_node_not_a_host_network_pod_on_it():
    endpoints = dict(K8S_ENDPOINTS, **{
        "kube-system/kube-proxy-8xv2d": {"node": "w1", "ip": "172.18.0.3", "ips": ["172.18.0.3"], "kind": "pod",
                                         "netns": "auto", "host_network": True},
        "w1": {"node": "w1", "ip": "172.18.0.3", "ips": ["172.18.0.3", "10.244.1.1"], "kind": "node", "netns": "auto"}})
    assert resolve_endpoint("172.18.0.3", endpoints, {}, {})["name"] == "w1"
    proxy = resolve_endpoint("kube-system/kube-proxy-8xv2d", endpoints, {}, {})
    assert proxy["node"] == "w1" and proxy["host_network"] is True

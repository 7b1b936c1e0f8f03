"""A realistic small cluster as the Kubernetes API returns it: three nodes (OVN-Kubernetes, dual stack),
pods on several nodes (dual-stack, IPv4-only, host-network, pending, completed), services with
EndpointSlices (named target port, a not-ready backend, a headless service) and NetworkPolicies.

Written by hand from `kubectl get -o json` of an OVN-Kubernetes kind cluster, trimmed to the fields the
inventory reads plus some it must ignore.
"""

import json


def node(name, v4, v6, cidr4, cidr6, labels, zone_name):
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name, "labels": dict({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}, **labels),
            "annotations": {
                "k8s.ovn.org/node-subnets": json.dumps({"default": [cidr4, cidr6]}),
                "k8s.ovn.org/node-chassis-id": "6a4d1c1e-%s" % name,
                "k8s.ovn.org/zone-name": zone_name,
                "node.alpha.kubernetes.io/ttl": "0",
            },
        },
        "spec": {"podCIDR": cidr4, "podCIDRs": [cidr4, cidr6]},
        "status": {"addresses": [{"type": "InternalIP", "address": v4}, {"type": "InternalIP", "address": v6},
                                 {"type": "Hostname", "address": name}],
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(namespace, name, node_name, ips, labels=None, host_network=False, phase="Running", mac=None, gw=None):
    obj = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": {}},
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.9"}]},
        "status": {"phase": phase},
    }
    if host_network:
        obj["spec"]["hostNetwork"] = True
    if ips:
        obj["status"]["podIP"] = ips[0]
        obj["status"]["podIPs"] = [{"ip": ip} for ip in ips]
    if mac:
        prefixes = ["%s/24" % ip if ":" not in ip else "%s/64" % ip for ip in ips]
        obj["metadata"]["annotations"]["k8s.ovn.org/pod-networks"] = json.dumps({"default": {
            "ip_addresses": prefixes, "mac_address": mac, "gateway_ips": gw, "ip_address": prefixes[0],
            "gateway_ip": gw[0], "role": "primary"}})
    if node_name is None:
        del obj["spec"]["nodeName"]
    return obj


def endpoint_slice(namespace, name, service, family, port_name, port, endpoints):
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service,
                                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": family,
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": ready},
                       "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod_name},
                       "nodeName": node_name}
                      for ip, pod_name, node_name, ready in endpoints],
    }


def cluster():
    nodes = [
        node("cp1", "172.18.0.2", "fc00:f853:ccd:e793::2", "10.244.0.0/24", "fd00:10:244::/64",
             {"node-role.kubernetes.io/control-plane": "", "topology.kubernetes.io/zone": "eu-west-1a"}, "cp1"),
        node("w1", "172.18.0.3", "fc00:f853:ccd:e793::3", "10.244.1.0/24", "fd00:10:244:1::/64",
             {"node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": "eu-west-1a"}, "w1"),
        node("w2", "172.18.0.4", "fc00:f853:ccd:e793::4", "10.244.2.0/24", "fd00:10:244:2::/64",
             {"node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": "eu-west-1b"}, "w2"),
    ]
    pods = [
        pod("shop", "web-7d4b9c-x2x7k", "w1", ["10.244.1.5", "fd00:10:244:1::5"], {"app": "web", "tier": "frontend"},
            mac="0a:58:0a:f4:01:05", gw=["10.244.1.1", "fd00:10:244:1::1"]),
        pod("shop", "web-7d4b9c-q9zl2", "w2", ["10.244.2.7", "fd00:10:244:2::7"], {"app": "web", "tier": "frontend"},
            mac="0a:58:0a:f4:02:07", gw=["10.244.2.1", "fd00:10:244:2::1"]),
        pod("shop", "db-0", "w2", ["10.244.2.9"], {"app": "db", "tier": "backend"},
            mac="0a:58:0a:f4:02:09", gw=["10.244.2.1"]),
        pod("kube-system", "kube-proxy-8xv2d", "w1", ["172.18.0.3", "fc00:f853:ccd:e793::3"],
            {"k8s-app": "kube-proxy"}, host_network=True),
        pod("shop", "web-7d4b9c-pend1", None, [], {"app": "web", "tier": "frontend"}, phase="Pending"),
        pod("shop", "migrate-28c4t", "w1", ["10.244.1.8"], {"job-name": "migrate"}, phase="Succeeded"),
    ]
    services = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
         "spec": {"type": "ClusterIP", "clusterIP": "10.96.12.34", "clusterIPs": ["10.96.12.34", "fd00:10:96::c22"],
                  "ipFamilies": ["IPv4", "IPv6"], "selector": {"app": "web"},
                  "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "shop"},
         "spec": {"type": "ClusterIP", "clusterIP": "10.96.40.2", "clusterIPs": ["10.96.40.2"],
                  "selector": {"app": "db"},
                  "ports": [{"name": "pg", "protocol": "TCP", "port": 5432, "targetPort": 5432}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db-headless", "namespace": "shop"},
         "spec": {"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": "db"},
                  "ports": [{"name": "pg", "protocol": "TCP", "port": 5432, "targetPort": 5432}]}},
    ]
    slices = [
        endpoint_slice("shop", "web-abcde", "web", "IPv4", "http", 8080, [
            ("10.244.1.5", "web-7d4b9c-x2x7k", "w1", True), ("10.244.2.7", "web-7d4b9c-q9zl2", "w2", True),
            ("10.244.1.99", "web-7d4b9c-old01", "w1", False)]),
        endpoint_slice("shop", "web-fghij", "web", "IPv6", "http", 8080, [
            ("fd00:10:244:1::5", "web-7d4b9c-x2x7k", "w1", True), ("fd00:10:244:2::7", "web-7d4b9c-q9zl2", "w2", True)]),
        endpoint_slice("shop", "db-klmno", "db", "IPv4", "pg", 5432, [("10.244.2.9", "db-0", "w2", True)]),
    ]
    policies = [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "db-from-web-only", "namespace": "shop"},
         "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                               "ports": [{"protocol": "TCP", "port": 5432}]}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny", "namespace": "kube-system"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
    ]
    return {"nodes": nodes, "pods": pods, "services": services, "endpointslices": slices,
            "networkpolicies": policies}

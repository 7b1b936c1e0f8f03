"""End to end: the lab described to an API server as a cluster, the k8s inventory plugin, and
diagnose_drop.yml finding every fault of the lab with netns auto.

kmock (PyPI) stands in for the Kubernetes API server (no real one can run here): it serves the lab as
nodes (InternalIP = the node's uplink address, pod CIDRs), pods (their real addresses; no namespace is in the
API), a Service with EndpointSlices and the NetworkPolicies behind the faults. The plugin turns that into the
inventory; the runbook finds each pod's namespace on its node by address (netns_info), injects, captures and
reports pods as namespace/name.

The lab has its own prefix and its own addresses (10.213.0.0/16, 192.168.213.0/24), so it cannot be mistaken
for another lab on this machine: netns auto must find exactly one namespace per address. Lab glue, in the
plugin's compose: the lab's nodes are namespaces of this machine, reached with the local connection, and each
node's own namespace (tracekit_netns) is named after the prefix. Everything is removed at the end.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from kmock_cluster import KmockCluster, kubeconfig

from conftest import COLLECTIONS, REPO, need_root, run_module, run_playbook

PREFIX = "tkk8se%d" % (os.getpid() % 1000)
LISTEN = {"tcp": [8080, 5432, 5433], "udp": [5353]}
NODES = [
    {"name": "node1", "pod_cidrs": ["10.213.1.0/24", "fd00:213:1::/64"],
     "pods": [{"name": "n1-pod1", "ips": ["10.213.1.11", "fd00:213:1::11"], "listen": LISTEN},
              {"name": "n1-pod2", "ips": ["10.213.1.12", "fd00:213:1::12"], "listen": LISTEN}]},
    {"name": "node2", "pod_cidrs": ["10.213.2.0/24", "fd00:213:2::/64", "10.213.102.0/24"],
     "pods": [{"name": "n2-pod1", "ips": ["10.213.2.11", "fd00:213:2::11"], "listen": LISTEN},
              {"name": "n2-pod2", "ips": ["10.213.2.12", "fd00:213:2::12"], "listen": LISTEN},
              {"name": "n2-pod3", "ips": ["10.213.102.13"], "listen": LISTEN}]},
]
SERVICES = [{"name": "web", "vip": "10.213.96.10", "protocol": "tcp", "port": 80, "target_port": 8080,
             "backends": ["n1-pod2", "n2-pod2"]}]
FAULTS = [
    {"type": "policy_drop", "name": "default/deny-postgres", "pod": "n2-pod1", "protocol": "tcp", "port": 5432},
    {"type": "policy_reject", "name": "default/reject-5433", "pod": "n2-pod1", "protocol": "tcp", "port": 5433},
    {"type": "policy_drop", "name": "default/deny-dns-udp", "pod": "n2-pod2", "protocol": "udp", "port": 5353},
    {"type": "missing_route", "node": "node1", "cidr": "10.213.102.0/24"},
]


def cluster_objects(lab):
    """The lab as the API server would list it."""
    nodes, pods, slices, policies = [], [], [], []
    for node in lab["nodes"]:
        v4 = [c for c in node["pod_cidrs"] if ":" not in c]
        nodes.append({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": node["name"], "labels": {"kubernetes.io/hostname": node["name"],
                                                                    "node-role.kubernetes.io/worker": ""}},
                      "spec": {"podCIDR": v4[0], "podCIDRs": node["pod_cidrs"]},
                      "status": {"addresses": [{"type": "InternalIP", "address": node["underlay_ip"]},
                                               {"type": "InternalIP", "address": node["underlay_ip6"]},
                                               {"type": "Hostname", "address": node["name"]}]}})
    for pod in lab["pods"]:
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": pod["name"], "namespace": "default", "labels": {"app": pod["name"]}},
                     "spec": {"nodeName": pod["node"], "containers": [{"name": "main", "image": "busybox"}]},
                     "status": {"phase": "Running", "podIP": pod["ips"][0],
                                "podIPs": [{"ip": ip} for ip in pod["ips"]]}})
    # a host-network pod (a node agent) on node1: its namespace is node1's
    node1 = lab["nodes"][0]
    pods.append({"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "node-agent-n1", "namespace": "kube-system", "labels": {"app": "agent"}},
                 "spec": {"nodeName": "node1", "hostNetwork": True, "containers": [{"name": "a", "image": "agent"}]},
                 "status": {"phase": "Running", "podIP": node1["underlay_ip"],
                            "podIPs": [{"ip": node1["underlay_ip"]}]}})
    services = []
    for svc in lab["services"]:
        services.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": svc["name"], "namespace": "default"},
                         "spec": {"type": "ClusterIP", "clusterIP": svc["vip"], "clusterIPs": [svc["vip"]],
                                  "ports": [{"name": "http", "protocol": "TCP", "port": svc["port"],
                                             "targetPort": svc["target_port"]}]}})
        slices.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                       "metadata": {"name": svc["name"] + "-x1", "namespace": "default",
                                    "labels": {"kubernetes.io/service-name": svc["name"]}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": svc["target_port"], "protocol": "TCP"}],
                       "endpoints": [{"addresses": [b["ip"]], "conditions": {"ready": True},
                                      "targetRef": {"kind": "Pod", "namespace": "default", "name": b["pod"]}}
                                     for b in svc["backends"]]})
    for fault in lab["faults"]:
        if fault["type"] in ("policy_drop", "policy_reject"):
            namespace, name = fault["name"].split("/")
            policies.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                             "metadata": {"name": name, "namespace": namespace},
                             "spec": {"podSelector": {"matchLabels": {"app": fault["pod"]}}, "policyTypes": ["Ingress"],
                                      # only the service port is open: the fault's port is denied
                                      "ingress": [{"ports": [{"protocol": "TCP", "port": 8080}]}]}})
    return {"nodes": nodes, "pods": pods, "services": services, "endpointslices": slices, "networkpolicies": policies}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    need_root()
    work = tmp_path_factory.mktemp("k8s-e2e")
    args = {"state": "present", "prefix": PREFIX, "run_dir": str(work / "lab"), "nodes": NODES,
            "services": SERVICES, "faults": FAULTS, "python": sys.executable,
            "underlay_cidr": "192.168.213.0/24", "underlay_cidr6": "fd00:213::/64"}
    try:
        built = run_module("netdiag.tracekit.lab_topology", args, timeout=300)
        assert not built.get("failed"), built.get("msg")
        with KmockCluster(cluster_objects(built["lab"])) as api:
            conf = kubeconfig(work / "kubeconfig", api.url)
            inventory = work / "lab.k8s.yml"
            inventory.write_text(
                "plugin: netdiag.tracekit.k8s\nkubeconfig: %s\ncompose:\n"
                "  ansible_connection: \"'local'\"\n"
                "  ansible_python_interpreter: \"'%s'\"\n"
                "  tracekit_netns: \"'%s-' ~ inventory_hostname\"\n" % (conf, sys.executable, PREFIX))
            yield {"inventory": str(inventory), "dir": work, "lab": built["lab"]}
    finally:
        run_module("netdiag.tracekit.lab_topology", {"state": "absent", "prefix": PREFIX,
                                                     "run_dir": str(work / "lab")}, timeout=300)
        left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
        assert PREFIX + "-" not in left


def diagnose(cluster, **extra):
    report = str(cluster["dir"] / ("report-%d" % time.time_ns()))
    args = {"src": "default/n1-pod1", "report_dir": report}
    args.update(extra)
    rc, out, err = run_playbook("playbooks/diagnose_drop.yml", args, inventory=cluster["inventory"])
    path = os.path.join(report, "diagnosis.json")
    result = None
    if os.path.exists(path):
        with open(path) as handle:
            result = json.load(handle)
    return rc, out + err, result


def unwrap(value):
    """ansible-inventory marks strings from an inventory source as unsafe."""
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_inventory_of_the_lab_cluster(cluster):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "-i",
                           cluster["inventory"], "--host", "node2"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    host = json.loads(proc.stdout)
    assert unwrap(host["ansible_host"]) == "192.168.213.2"
    assert unwrap(host["tracekit_netns"]) == PREFIX + "-node2"
    pod = host["tracekit_endpoints"]["default/n2-pod1"]
    assert unwrap(pod["netns"]) == "auto" and [unwrap(i) for i in pod["ips"]] == ["10.213.2.11", "fd00:213:2::11"]


@pytest.mark.parametrize("case", [
    # (dst, protocol, port, verdict, drop point node, netns, endpoint, reason prefix)
    ("default/n2-pod1", "tcp", 5432, "dropped", "node2", "node2", "default/n2-pod1", "NETFILTER_DROP"),
    ("default/n2-pod1", "tcp", 5433, "rejected", "node2", "node2", "default/n2-pod1", "NETFILTER_DROP"),
    ("default/n2-pod2", "udp", 5353, "dropped", "node2", "node2", "default/n2-pod2", "NETFILTER_DROP"),
    ("default/n2-pod3", "tcp", 8080, "rejected", "node1", "node1", None, None),
    ("default/n2-pod1", "tcp", 9999, "rejected", "node2", "n2-pod1", "default/n2-pod1", "NO_SOCKET"),
], ids=["policy_drop", "policy_reject", "policy_drop_udp", "missing_route", "closed_port"])
def test_every_fault_of_the_lab_is_found(cluster, case):
    dst, protocol, port, verdict, node, netns, endpoint, reason = case
    rc, out, result = diagnose(cluster, dst=dst, protocol=protocol, dst_port=port)
    assert rc == 0, out
    assert result["verdict"] == verdict, result["summary"]
    point = result["drop_point"]
    assert point["node"] == node and point["netns"] == "%s-%s" % (PREFIX, netns), point
    assert point["component"] == "kernel"
    if endpoint:
        assert point["endpoint"] == endpoint
    if reason:
        assert point["reason"].startswith(reason)
    else:
        assert "NOROUTE" in point["reason"] and "net-unreachable" in point["detail"]
    assert dst in result["summary"]
    # the probe left from the pod's namespace, found on node1 by its address (netns auto)
    assert (result["probe"]["netns"], result["probe"]["endpoint"]) == (PREFIX + "-n1-pod1", "default/n1-pod1")
    assert {"nettrace@node1", "nettrace@node2"} <= set(result["captures"])


def test_service_by_namespace_and_name_is_delivered_through_a_backend(cluster):
    rc, out, result = diagnose(cluster, dst="default/web", protocol="tcp", dst_port=80)
    assert rc == 0, out
    assert result["verdict"] == "delivered", result["summary"]
    assert result["probe"]["dst_endpoint"] == "default/web"

"""diagnose_drop.yml with an inventory that sets only what docs/inventory.md requires, against the real lab.

The lab (its own prefix) is built once through playbooks/lab.yml; the test then writes its own inventory of
the same namespaces holding only the required keys: each endpoint is ``{node, netns, ip}`` (no ``kind``, no
``ips``, no MAC or interface), the nodes set only ``tracekit_netns`` (the lab's stand-in for a node's root
namespace). The destination pod n2-pod1 is dual-stack, so it is written as two entries that share its
namespace, one per address family (``n2-pod1`` and ``n2-pod1-v6``), as the contract allows. Every lab fault
runs end to end (the UDP drop is the same fault type as the TCP one), a service whose backends have only the
required keys is reached, and the endpoint named is the one whose address the probe was sent to.
"""

import json
import os
import sys
import time

import pytest
import yaml

from conftest import need_root, run_playbook

PREFIX = "tkic%d" % (os.getpid() % 10000)


def ns(name):
    return "%s-%s" % (PREFIX, name)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory):
    need_root()
    work = tmp_path_factory.mktemp("contract")
    full = str(work / "lab-inventory.yml")
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_inventory_file": full,
                                                      "lab_ovn": False})
    assert rc == 0, out + err
    try:
        with open(full) as handle:
            lab = yaml.safe_load(handle)
        eps = lab["all"]["vars"]["tracekit_endpoints"]
        endpoints = {}
        for name in ("n1-pod1", "n2-pod1", "n2-pod2", "n2-pod3", "n1-pod2"):
            endpoints[name] = {"node": eps[name]["node"], "netns": eps[name]["netns"], "ip": eps[name]["ips"][0]}
        # One entry per address family for the dual-stack destination, both in its namespace; the IPv6 one
        # comes last, so a "last name seen wins" map would name it for every event of that namespace.
        endpoints["n2-pod1-v6"] = {"node": "node2", "netns": eps["n2-pod1"]["netns"], "ip": eps["n2-pod1"]["ips"][1]}
        services = {"web": {"ip": "10.96.0.10", "protocol": "tcp", "port": 80, "target_port": 8080,
                            "backends": ["n1-pod2", "n2-pod2"]}}
        hosts = dict((host, {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                             "tracekit_netns": ns(host)}) for host in ("node1", "node2"))
        inventory = {"all": {"children": {"tracekit_nodes": {"hosts": hosts}},
                             "vars": {"tracekit_endpoints": endpoints, "tracekit_services": services}}}
        path = work / "minimal.yml"
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        yield {"inventory": str(path), "dir": work}
    finally:
        rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_state": "absent"})
        assert rc == 0, out + err


def diagnose(minimal, **args):
    report = str(minimal["dir"] / ("report-%d" % time.time_ns()))
    args = dict({"src": "n1-pod1", "report_dir": report}, **args)
    rc, out, err = run_playbook("playbooks/diagnose_drop.yml", args, inventory=minimal["inventory"])
    assert rc == 0, (out + err)[-6000:]
    with open(os.path.join(report, "diagnosis.json")) as handle:
        return json.load(handle)


def test_policy_drop_ipv4_names_the_ipv4_endpoint(minimal):
    result = diagnose(minimal, dst="n2-pod1", protocol="tcp", dst_port=5432)
    assert result["verdict"] == "dropped", result["summary"]
    point = result["drop_point"]
    assert (point["node"], point["netns"], point["endpoint"]) == ("node2", ns("node2"), "n2-pod1")
    assert point["component"] == "kernel" and point["reason"].startswith("NETFILTER_DROP")
    assert "n2-pod1-v6" not in result["summary"]


def test_policy_reject(minimal):
    result = diagnose(minimal, dst="n2-pod1", protocol="tcp", dst_port=5433)
    assert result["verdict"] == "rejected", result["summary"]
    assert result["drop_point"]["netns"] == ns("node2")
    assert result["drop_point"]["reason"].startswith("NETFILTER_DROP")
    assert "TCP RST" in result["drop_point"]["detail"]


def test_missing_route(minimal):
    result = diagnose(minimal, dst="n2-pod3", protocol="tcp", dst_port=8080)
    assert result["verdict"] == "rejected", result["summary"]
    point = result["drop_point"]
    assert (point["node"], point["netns"], point["component"]) == ("node1", ns("node1"), "kernel")
    assert "NOROUTE" in point["reason"] and "net-unreachable" in point["detail"]


def test_refusal_inside_a_shared_namespace_names_the_endpoint_the_probe_was_sent_to(minimal):
    """A closed port: the destination pod's own kernel refuses, in the namespace both entries share."""
    result = diagnose(minimal, dst="10.244.2.11", protocol="tcp", dst_port=9999)
    assert result["verdict"] == "rejected", result["summary"]
    point = result["drop_point"]
    assert (point["netns"], point["endpoint"]) == (ns("n2-pod1"), "n2-pod1")
    assert point["reason"].startswith("NO_SOCKET")
    in_pod = [o for o in result["observations"] if o["netns"] == ns("n2-pod1")]
    assert in_pod and all(o["endpoint"] == "n2-pod1" for o in in_pod)
    assert "at n2-pod1," in result["summary"]


def test_service_with_backends_of_only_required_keys_is_delivered(minimal):
    result = diagnose(minimal, dst="web", protocol="tcp", dst_port=80)
    assert result["verdict"] == "delivered", result["summary"]
    assert result["probe"]["dst_endpoint"] == "web"

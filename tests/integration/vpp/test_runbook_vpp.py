"""diagnose_drop.yml on a node whose dataplane is VPP: the trace is armed before the probe, read after it,
and a VPP drop becomes the drop point.

VPP cannot run on this machine (LAB-NOTES: no package is reachable), so node2's vppctl is the stand-in
(tests/support/vppctl_standin.py) answering from the REAL VPP v26.06 outputs of the acl_deny_ssh case in
../shared/fixtures/vpp/. Everything else is real: a namespace lab whose pods carry that case's addresses
(10.10.1.2 -> 10.10.2.2, TCP/22), the probe, and the kernel captures.
"""

import json
import os
import time

import pytest
import yaml

from conftest import need_root, run_playbook, shared_path
from test_vpp_module_trace import STANDIN, STANDIN_ENV, Vpp

PREFIX = "tkv%d" % (os.getpid() % 100000)
NODES = [
    {"name": "node1", "pod_cidrs": ["10.10.1.0/24"], "pods": [{"name": "a", "ips": ["10.10.1.2"], "listen": {"tcp": [80]}}]},
    {"name": "node2", "pod_cidrs": ["10.10.2.0/24"], "pods": [{"name": "b", "ips": ["10.10.2.2"], "listen": {"tcp": [80]}}]},
]
# The kernel drops TCP/22 too, so the probe gets no reply; VPP's trace says which graph node dropped it.
FAULTS = [{"type": "policy_drop", "pod": "b", "protocol": "tcp", "port": 22, "name": "default/deny-ssh"}]


@pytest.fixture(scope="module")
def vpp_lab(tmp_path_factory):
    need_root()
    fixtures = shared_path("fixtures", "vpp", "vpp-26.06-local")
    work = tmp_path_factory.mktemp("vpplab")
    inv = str(work / "inventory.yml")
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_inventory_file": inv,
                                                      "lab_nodes": NODES, "lab_services": [], "lab_faults": FAULTS})
    assert rc == 0, out + err
    vpp = Vpp(str(work), fixtures)
    vpp.scenario(trace="trace_acl_deny_ssh.txt", errors_after="errors_acl_deny_ssh.txt")
    with open(inv) as handle:
        inventory = yaml.safe_load(handle)
    node2 = inventory["all"]["children"]["tracekit_nodes"]["hosts"]["node2"]
    node2.update(tracekit_dataplane="vpp", tracekit_vpp_cli_socket=vpp.sock, tracekit_vpp_vppctl=STANDIN,
                 tracekit_vpp_input_nodes=["pg-input"])
    with open(inv, "w") as handle:
        yaml.safe_dump(inventory, handle)
    yield {"inventory": inv, "dir": work, "vpp": vpp}
    vpp.close()
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_state": "absent"})
    assert rc == 0, out + err


def diagnose(lab, **extra):
    report = str(lab["dir"] / ("report-%d" % time.time_ns()))
    args = {"src": "a", "dst": "b", "protocol": "tcp", "dst_port": 22, "report_dir": report}
    args.update(extra)
    rc, out, err = run_playbook("playbooks/diagnose_drop.yml", args, inventory=lab["inventory"],
                                extra_env=STANDIN_ENV)
    assert rc == 0, out + err
    with open(os.path.join(report, "diagnosis.json")) as handle:
        return json.load(handle)


def test_vpp_drop_is_the_drop_point_and_the_trace_is_armed_before_the_probe(vpp_lab):
    # The lab's own nftables rule drops TCP/22 too: with neither the eBPF capture nor the nftables trace,
    # VPP's trace is the only witness.
    result = diagnose(vpp_lab, capture_kernel=False, trace_nft=False)
    assert result["verdict"] == "dropped", result["summary"]
    point = result["drop_point"]
    assert point["component"] == "vpp"
    assert point["node"] == "node2" and point["netns"] is None and point["endpoint"] == "b"
    assert point["reason"] == "acl-plugin-in-ip4-fa: ACL deny packets"
    assert "vpp@node2" in result["captures"]
    path = [o for o in result["observations"] if o["component"] == "vpp"]
    assert path[0]["action"] == "Received" and path[-1]["action"] == "Dropped"
    commands = vpp_lab["vpp"].log()
    # Armed before the probe (trace add), read after it (show trace), cleared so nothing stays armed.
    assert commands.index("trace add pg-input 100") < commands.index("show trace max 1000")
    assert commands[-1] == "clear trace"


def test_with_kernel_captures_the_kernel_drop_wins_and_vpp_is_an_observation(vpp_lab):
    result = diagnose(vpp_lab)
    assert result["verdict"] == "dropped"
    assert result["drop_point"]["component"] == "kernel"
    assert result["drop_point"]["reason"].startswith("NETFILTER_DROP")
    assert any(o["component"] == "vpp" and o["action"] == "Dropped" for o in result["observations"])


def test_capture_vpp_false_leaves_vpp_alone(vpp_lab):
    before = len(vpp_lab["vpp"].log())
    result = diagnose(vpp_lab, capture_kernel=False, capture_vpp=False, trace_nft=False)
    assert result["verdict"] == "no_reply"
    assert len(vpp_lab["vpp"].log()) == before

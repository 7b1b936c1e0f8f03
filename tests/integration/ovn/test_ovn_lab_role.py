"""The lab_ovn role against a real user-space OVN: mirror pods, router, Service and policies, trace, update, absent.

Idempotence (a second run changes nothing) is checked by the role's molecule scenario, not repeated here.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import run_module, run_playbook

from ovn_sandbox import have_ovn

PODS = [
    {"name": "n1-pod1", "switch": "n1", "mac": "0a:58:0a:f4:00:05", "ip": "10.244.0.5", "ip6": "fd00:10:244::5"},
    {"name": "n2-pod1", "switch": "n2", "mac": "0a:58:0a:f4:01:05", "ip": "10.244.1.5", "ip6": "fd00:10:244:1::5"},
    {"name": "n2-pod2", "switch": "n2", "mac": "0a:58:0a:f4:01:06", "ip": "10.244.1.6"},
]
ROUTERS = [{"name": "cluster-router", "ports": [
    {"switch": "n1", "mac": "0a:58:0a:f4:00:01", "networks": ["10.244.0.1/24", "fd00:10:244::1/64"]},
    {"switch": "n2", "mac": "0a:58:0a:f4:01:01", "networks": ["10.244.1.1/24", "fd00:10:244:1::1/64"]}]}]
POLICIES = [
    {"name": "deny-postgres", "ports": ["n2-pod1"], "protocol": "tcp", "port": 5432, "action": "drop",
     "external_ids": {"k8s.ovn.org/name": "deny-postgres", "k8s.ovn.org/namespace": "lab"}},
    {"name": "reject-redis", "ports": ["n2-pod2"], "protocol": "tcp", "port": 6379, "action": "reject",
     "log": False},
]
LOAD_BALANCERS = [{"name": "svc-web", "vip": "10.96.0.10", "port": 80, "backends": ["10.244.1.5:8080"],
                   "switches": ["n1"], "routers": ["cluster-router"]}]
PLAY = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: netdiag.tracekit.lab_ovn
"""


def recap(stdout):
    match = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", stdout)
    assert match, stdout[-3000:]
    return {"ok": int(match.group(1)), "changed": int(match.group(2)), "failed": int(match.group(3))}


@pytest.fixture
def lab(tmp_path):
    if not have_ovn():
        pytest.skip("OVN is not installed (ovn-central: make bootstrap installs it)")
    run_dir = "/tmp/tkt-ovnr-%d" % os.getpid()
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    inventory = tmp_path / "hosts"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    extra = {"lab_ovn_run_dir": run_dir, "lab_ovn_remotes_file": str(tmp_path / "remotes.json"),
             "lab_ovn_pods": PODS, "lab_ovn_routers": ROUTERS, "lab_ovn_policies": POLICIES,
             "lab_ovn_load_balancers": LOAD_BALANCERS}

    def play_role(**override):
        rc, out, err = run_playbook(str(play), extra_vars=dict(extra, **override), inventory=str(inventory))
        return rc, out, err
    try:
        yield play_role, run_dir, tmp_path
    finally:
        if os.path.exists(run_dir):
            play_role(lab_ovn_state="absent")
        for name in ("ovnnb-server", "ovnsb-server", "ovn-northd"):  # in case absent itself failed
            pidfile = os.path.join(run_dir, name + ".pid")
            if os.path.exists(pidfile):
                subprocess.run(["ovs-appctl", "-t", os.path.join(run_dir, name + ".ctl"), "exit"], check=False)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_role_mirrors_the_lab_and_ovn_trace_names_the_policy(lab):
    play_role, run_dir, tmp_path = lab
    rc, out, err = play_role()
    assert rc == 0, out[-3000:] + err[-2000:]
    remotes = json.loads((tmp_path / "remotes.json").read_text())
    assert remotes["sb_db"] == "unix:%s/ovnsb_db.sock" % run_dir
    assert remotes["nb_db"] == "unix:%s/ovnnb_db.sock" % run_dir

    # the NB database holds what the role was given
    nb = ["ovn-nbctl", "--db=" + remotes["nb_db"]]
    ports = subprocess.run(nb + ["--bare", "--columns=port_security", "list", "Logical_Switch_Port", "n1-pod1"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert ports == "0a:58:0a:f4:00:05 10.244.0.5 fd00:10:244::5"
    match = subprocess.run(nb + ["--bare", "--columns=match", "find", "ACL", "name=deny-postgres"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert match == "outport == @pg_deny_postgres && ip && tcp.dst == 5432"

    common = dict(db=remotes["sb_db"], nb_db=remotes["nb_db"], inport="n1-pod1", eth_src="0a:58:0a:f4:00:05",
                  eth_dst="0a:58:0a:f4:00:01", ip_src="10.244.0.5", protocol="tcp")
    res = run_module("netdiag.tracekit.ovn_trace", dict(common, ip_dst="10.244.1.5", dst_port=5432))
    assert res["verdict"] == "dropped", res.get("msg")
    assert res["trace"]["drop"]["datapath"] == "n2"
    assert res["acl"]["name"] == "deny-postgres"
    assert res["acl"]["external_ids"] == {"k8s.ovn.org/name": "deny-postgres", "k8s.ovn.org/namespace": "lab"}

    res = run_module("netdiag.tracekit.ovn_trace", dict(common, ip_dst="10.244.1.6", dst_port=6379))
    assert res["verdict"] == "rejected"
    assert res["acl"]["name"] == "reject-redis" and res["acl"]["found_by"] == "stage-hint"

    res = run_module("netdiag.tracekit.ovn_trace", dict(common, ip_dst="10.244.1.5", dst_port=8080))
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("n2", "n2-pod1")]

    # the Service VIP, DNAT-ed by the load balancer to n2-pod1:8080 (ct new: ovn-trace picks the backend)
    res = run_module("netdiag.tracekit.ovn_trace", dict(common, ip_dst="10.96.0.10", dst_port=80, ct=["new", "new"]))
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("n2", "n2-pod1")]

    # IPv6 through the same router
    res = run_module("netdiag.tracekit.ovn_trace",
                     dict(common, ip_src="fd00:10:244::5", ip_dst="fd00:10:244:1::5", dst_port=8080))
    assert res["verdict"] == "delivered"

    # a policy change is applied and reported
    changed = [dict(POLICIES[0], port=5433)] + POLICIES[1:]
    rc, out, err = play_role(lab_ovn_policies=changed)
    assert rc == 0 and recap(out)["changed"] >= 1

    rc, out, err = play_role(lab_ovn_state="absent")
    assert rc == 0 and not os.path.exists(run_dir)


def test_role_refuses_a_bad_pod_before_touching_ovn(lab):
    play_role, run_dir, _tmp = lab
    rc, out, _err = play_role(lab_ovn_pods=[{"name": 'p" || 1', "switch": "n1", "mac": "0a:58:0a:f4:00:05",
                                             "ip": "10.244.0.5"}])
    assert rc != 0
    assert "lab_ovn_pods entry" in out and "is invalid" in out
    assert not os.path.exists(run_dir)

"""diagnose_drop.yml reads conntrack on the lab (playbooks/lab.yml, its own prefix): a service probe names the
backend that node1's DNAT chose, and a policy-dropped SYN stays SYN_SENT [UNREPLIED] on node1 (node2 dropped it
before its conntrack confirmed an entry).
Expected addresses come from the lab's defaults (roles/lab/defaults/main.yml): service web 10.96.0.10:80 ->
n1-pod2 or n2-pod2 on 8080; n2-pod1 10.244.2.11 drops tcp/5432.
"""

import json
import os
import subprocess
import time

import pytest
import yaml

from conftest import need_root, run_playbook

PREFIX = "tkct%d" % (os.getpid() % 100000)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need_root()
    work = tmp_path_factory.mktemp("ctlab")
    inv = str(work / "inventory.yml")
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_inventory_file": inv})
    assert rc == 0, out + err
    with open(inv) as handle:
        data = yaml.safe_load(handle)
    yield {"inventory": inv, "dir": work, "data": data}
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_state": "absent"})
    assert rc == 0, out + err
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert PREFIX + "-" not in left


def diagnose(lab, **extra):
    report = str(lab["dir"] / ("report-%d" % time.time_ns()))
    args = {"src": "n1-pod1", "report_dir": report, "capture_kernel": False}
    args.update(extra)
    rc, out, err = run_playbook("playbooks/diagnose_drop.yml", args, inventory=lab["inventory"])
    assert rc == 0, out + err
    with open(os.path.join(report, "diagnosis.json")) as handle:
        return json.load(handle)


def test_service_probe_names_the_backend_conntrack_chose(lab):
    result = diagnose(lab, dst="web", protocol="tcp", dst_port=80)
    assert result["verdict"] == "delivered", result["summary"]
    nat = [o for o in result["observations"] if o["component"] == "conntrack" and o["action"] == "Forwarded"]
    assert nat and nat[0]["node"] == "node1" and nat[0]["netns"] == "%s-node1" % PREFIX
    assert nat[0]["reason"].startswith("DNAT 10.96.0.10:80 -> 10.244.")
    assert nat[0]["backend"] in ("n1-pod2", "n2-pod2")
    assert nat[0]["reason"].endswith("(backend %s)" % nat[0]["backend"])
    assert result["backend"] == nat[0]["backend"]
    assert "Conntrack sent it to backend %s." % result["backend"] in result["summary"]
    assert "conntrack@node1" in result["captures"]


def test_dropped_syn_stays_unreplied_on_the_source_node(lab):
    result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=5432)
    states = dict((o["node"], o["reason"]) for o in result["observations"]
                  if o["component"] == "conntrack" and o["action"] != "Forwarded")
    assert states.get("node1", "").startswith("TCP SYN_SENT [UNREPLIED], no reply seen"), result["observations"]
    # node2's policy drops the SYN before conntrack confirms its entry: an unconfirmed entry dies with the packet
    assert "node2" not in states
    assert result["backend"] is None

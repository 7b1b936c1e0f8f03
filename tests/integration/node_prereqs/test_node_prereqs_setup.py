"""node_prereqs on this machine: the symlink_tree module through Ansible, and playbooks/node_prereqs.yml on a
lab-style inventory (two "nodes" that are the same machine) running the role once and sharing the result.

Runs as root against this machine (Debian, kernel 6.18 without a headers package: the BTF fallback path).
The packages are installed by tools/bootstrap.sh, so the playbook only checks, links and verifies.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import need_root, run_module, run_playbook


def _split_headers(tmp_path):
    arch = tmp_path / "src" / "linux-headers-9.9.9-1-amd64"
    common = tmp_path / "src" / "linux-headers-9.9.9-1-common"
    for folder, files in ((arch, ["include/generated/autoconf.h", ".config"]),
                          (common, ["include/linux/skbuff.h", "Makefile"])):
        for rel in files:
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x\n")
    return str(arch), str(common)


def test_symlink_tree_module_check_mode_then_idempotent(tmp_path):
    arch, common = _split_headers(tmp_path)
    dest = str(tmp_path / "state" / "kernel-src")
    args = {"src": [arch, common], "dest": dest}

    checked = run_module("netdiag.tracekit.symlink_tree", args, check=True)
    assert checked["changed"] is True
    assert not os.path.exists(dest), "check mode must not create the tree"
    assert {"action": "link", "path": dest + "/include/linux", "target": common + "/include/linux"} in checked["actions"]

    made = run_module("netdiag.tracekit.symlink_tree", args)
    assert made["changed"] is True and made["links"] == 4 and made["dirs"] == 1
    assert os.readlink(dest + "/include/generated") == arch + "/include/generated"
    assert os.readlink(dest + "/Makefile") == common + "/Makefile"

    again = run_module("netdiag.tracekit.symlink_tree", args)
    assert again["changed"] is False and again["actions"] == []

    gone = run_module("netdiag.tracekit.symlink_tree", {"dest": dest, "state": "absent"})
    assert gone["changed"] is True and not os.path.exists(dest)
    assert os.path.isfile(common + "/include/linux/skbuff.h")


def test_symlink_tree_module_reports_bad_input(tmp_path):
    arch, _common = _split_headers(tmp_path)
    result = run_module("netdiag.tracekit.symlink_tree",
                        {"src": [arch, str(tmp_path / "missing")], "dest": str(tmp_path / "tree")})
    assert result.get("failed") is True
    assert "missing does not exist or is not a directory" in result["msg"]
    result = run_module("netdiag.tracekit.symlink_tree", {"dest": str(tmp_path / "tree")})
    assert result.get("failed") is True and "src" in result["msg"]


@pytest.fixture
def lab_inventory(tmp_path):
    inventory = {
        "all": {"children": {"tracekit_nodes": {"hosts": {
            "node1": {"tracekit_netns": "tkt-np-node1"},
            "node2": {"tracekit_netns": "tkt-np-node2"},
        }}}, "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
    }
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inventory))
    return str(path)


def _host_results(out, task_name):
    for play in out["plays"]:
        for task in play["tasks"]:
            if task_name in task["task"]["name"]:
                return task["hosts"]
    return {}


def test_playbook_runs_the_role_once_per_machine(lab_inventory):
    need_root()
    rc, stdout, stderr = run_playbook("playbooks/node_prereqs.yml", inventory=lab_inventory,
                                      extra_env={"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
    assert rc == 0, stdout[-4000:] + stderr[-2000:]
    out = json.loads(stdout)
    probed = _host_results(out, "Probe the interpreter and the node")
    assert sorted(probed) == ["node1"], "the role must run once for the machine, on its first node"
    shared = _host_results(out, "Share the result with the other nodes of the machine")
    facts = shared["node2"]["ansible_facts"]
    assert facts["tracekit_node_ready"] is True
    details = facts["tracekit_node_prereqs"]
    assert details["python"] == sys.executable
    assert details["python_modules"]["bcc"]["ok"] is True
    assert details["tracefs_mounted"] is True and details["tracefs_events_readable"] is True
    if not os.path.exists("/lib/modules/%s/build/include" % os.uname().release):
        # this machine: no headers package for the running kernel, BTF present
        assert details["kernel_headers"] == "fallback"
        assert details["bcc_kernel_source"] == "/var/lib/netdiag_tracekit/kernel-src"
        assert details["btf"] is True
    assert out["stats"]["node1"]["failures"] == 0 and out["stats"]["node2"]["failures"] == 0


FAILURE_PLAY = """
- name: node_prereqs failure paths
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the role
      ansible.builtin.include_role:
        name: netdiag.tracekit.node_prereqs
"""


def test_role_stops_with_clear_messages(tmp_path):
    """Four broken nodes in one run (all this machine): a missing interpreter, an interpreter that imports
    PyPI's unrelated bcc package (simulated by a bcc package without BPF in a bare venv), a kernel without
    BTF (the BTF path pointed at a missing file) where no headers package exists for the kernel, and exact
    headers required where none exist."""
    need_root()
    if os.path.exists("/lib/modules/%s/build/include" % os.uname().release):
        pytest.skip("this kernel has headers: the no-BTF failure needs a kernel without them")
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True)
    site = list((venv / "lib").glob("python3*/site-packages"))[0]
    (site / "bcc").mkdir()
    (site / "bcc" / "__init__.py").write_text("__version__ = '0.0.1'\n")  # the PyPI 'bcc' has no BPF
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "hosts": {
            "no-python": {"node_prereqs_python": str(tmp_path / "nope" / "python3")},
            "foreign-bcc": {"node_prereqs_python": str(venv / "bin" / "python"), "node_prereqs_python_libs": "none"},
            "no-btf": {"node_prereqs_btf_path": str(tmp_path / "no-vmlinux"),
                       "node_prereqs_kernel_src_dir": str(tmp_path / "kernel-src")},
            "exact-only": {"node_prereqs_kernel_headers": "exact",
                           "node_prereqs_kernel_src_dir": str(tmp_path / "kernel-src")},
        }}}
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(inventory))
    play = tmp_path / "play.yml"
    play.write_text(FAILURE_PLAY)
    rc, stdout, stderr = run_playbook(str(play), inventory=str(inv),
                                      extra_env={"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"})
    assert rc == 2, stdout[-3000:] + stderr[-2000:]
    out = json.loads(stdout)
    failures = {}
    for task in out["plays"][0]["tasks"]:
        for host, result in task["hosts"].items():
            if result.get("failed"):
                failures[host] = result["msg"]
    assert sorted(failures) == ["exact-only", "foreign-bcc", "no-btf", "no-python"], (failures, out["stats"])
    assert "does not exist or is not executable" in failures["no-python"]
    assert "set ansible_python_interpreter (or node_prereqs_python)" in failures["no-python"]
    assert "not BCC (it has no bcc.BPF)" in failures["foreign-bcc"] and "pip uninstall bcc" in failures["foreign-bcc"]
    assert "has no headers package (linux-headers-%s" % os.uname().release in failures["no-btf"]
    assert "no BTF (%s is missing)" % (tmp_path / "no-vmlinux") in failures["no-btf"]
    # node_prereqs_kernel_headers=exact: apt's own error for the missing package, no fallback
    assert "linux-headers-%s" % os.uname().release in failures["exact-only"]
    assert not os.path.exists(str(tmp_path / "kernel-src")), "nothing is built for a node that failed"


def test_role_serves_a_venv_with_pip_and_links_only_bcc(tmp_path):
    """A venv that is not the distribution's python: bcc is linked in (only the bcc folder), scapy/pyroute2/netaddr
    come from pip (PyPI or the configured index), and a second run changes nothing."""
    need_root()
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    inventory = {"all": {"hosts": {"node": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "node_prereqs_python": python, "node_prereqs_kernel_src_dir": str(tmp_path / "kernel-src")}}}}
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(inventory))
    play = tmp_path / "play.yml"
    play.write_text(FAILURE_PLAY.replace("node_prereqs failure paths", "node_prereqs for a venv"))
    env = {"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}

    rc, stdout, stderr = run_playbook(str(play), inventory=str(inv), extra_env=env)
    out = json.loads(stdout)
    pip = _host_results(out, "Install the missing ones with pip").get("node", {})
    if pip.get("failed") and ("No matching distribution" in pip.get("stderr", "") or "connection" in pip.get("stderr", "").lower()):
        pytest.skip("no package index reachable for pip: %s" % pip["stderr"][-300:])
    assert rc == 0, stdout[-3000:] + stderr[-2000:]
    assert pip.get("changed") is True and pip["cmd"][-3:] == ["scapy>=2.5", "pyroute2>=0.7", "netaddr"]
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    assert os.readlink(os.path.join(site, "bcc")) == "/usr/lib/python3/dist-packages/bcc"
    # only bcc is exposed: python3-apt's apt_pkg, which lives beside it in dist-packages, is not importable
    probe = subprocess.run([python, "-c", "import bcc, scapy, pyroute2, netaddr, importlib.util as u; "
                                          "print(hasattr(bcc, 'BPF'), u.find_spec('apt_pkg') is None)"],
                           check=True, capture_output=True, text=True)
    assert probe.stdout.split() == ["True", "True"]
    facts = _host_results(out, "Record how ready the node is")["node"]["ansible_facts"]
    assert facts["tracekit_node_ready"] is True
    assert facts["tracekit_node_prereqs"]["python_libs_method"] == "pip"

    rc, stdout, stderr = run_playbook(str(play), inventory=str(inv), extra_env=env)
    assert rc == 0, stdout[-3000:] + stderr[-2000:]
    assert json.loads(stdout)["stats"]["node"]["changed"] == 0

"""The netdiag.tracekit.flow_aggregator role: foreground mode on this machine (no systemd here), idempotent,
check mode, stop; and the Kubernetes manifests it renders, validated offline with kubernetes-validate --strict."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest
import yaml

from conftest import REPO, run_playbook
from flow_aggregator_proc import free_port, make_pki

ROLE_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: netdiag.tracekit.flow_aggregator
"""


def _play(tmp_path, variables, check=False):
    play = tmp_path / "play.yml"
    play.write_text(ROLE_PLAY)
    extra = {"ansible_python_interpreter": sys.executable}
    extra.update(variables)
    env = {"ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    cmd_vars = dict(extra)
    if check:
        env["ANSIBLE_CHECK_MODE_MARKERS"] = "1"
    rc, out, err = run_playbook(str(play), cmd_vars, inventory="localhost,", extra_env=env) if not check else \
        _check_run(str(play), cmd_vars, env)
    assert rc == 0, out[-3000:] + err[-3000:]
    stats = json.loads(out)["stats"]["localhost"]
    return stats


def _check_run(play, variables, env):
    full = dict(os.environ)
    full.update(env)
    full.update({"ANSIBLE_COLLECTIONS_PATH": os.path.join(REPO, ".build", "collections"),
                 "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg")})
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), play, "-i", "localhost,", "--check"]
    for key, value in variables.items():
        cmd += ["-e", json.dumps({key: value})]
    proc = subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def host_vars(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("role"))
    port, api = free_port(), free_port()
    variables = {
        "flow_aggregator_service_manager": "foreground",
        "flow_aggregator_create_user": False,
        "flow_aggregator_user": "root",
        "flow_aggregator_group": "root",
        "flow_aggregator_python": sys.executable,
        "flow_aggregator_install_dir": base + "/opt",
        "flow_aggregator_config_dir": base + "/etc",
        "flow_aggregator_state_dir": base + "/var",
        "flow_aggregator_run_dir": base + "/run",
        "flow_aggregator_log_file": base + "/log/aggregator.log",
        "flow_aggregator_collect": [{"transport": "udp", "address": "127.0.0.1:%d" % port}],
        "flow_aggregator_api_address": "127.0.0.1:%d" % api,
    }
    yield base, api, variables
    pid_file = base + "/run/flow-aggregator.pid"
    if os.path.exists(pid_file):
        with open(pid_file, encoding="ascii") as handle:
            pid = int(handle.read())
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def test_role_foreground_idempotent_check_mode_and_stop(tmp_path, host_vars):
    base, api, variables = host_vars
    stats = _play(tmp_path, variables)
    assert stats["changed"] > 0 and stats["failures"] == 0
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % api, timeout=5) as resp:
        assert json.loads(resp.read())["status"] == "ok"
    with open(base + "/run/flow-aggregator.pid", encoding="ascii") as handle:
        pid = int(handle.read())
    assert os.path.exists("/proc/%d" % pid)
    with open(base + "/etc/config.yml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    assert config["collect"] == variables["flow_aggregator_collect"] and config["max_flows"] == 1000000
    # second run: nothing changes, the same process keeps running
    assert _play(tmp_path, variables)["changed"] == 0
    with open(base + "/run/flow-aggregator.pid", encoding="ascii") as handle:
        assert int(handle.read()) == pid
    # check mode with a changed setting reports the change and touches nothing
    changed = dict(variables, flow_aggregator_max_flows=5000)
    assert _play(tmp_path, changed, check=True)["changed"] > 0
    with open(base + "/etc/config.yml", encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["max_flows"] == 1000000
    assert os.path.exists("/proc/%d" % pid)
    # stopped
    _play(tmp_path, dict(variables, flow_aggregator_state="stopped"))
    assert not os.path.exists("/proc/%d" % pid) or \
        "flow_aggregator" not in open("/proc/%d/cmdline" % pid, encoding="latin-1").read()


def test_role_refuses_tls_listener_without_material(tmp_path, host_vars):
    _base, _api, variables = host_vars
    bad = dict(variables, flow_aggregator_collect=[{"transport": "tls", "address": "127.0.0.1:1"}])
    play = tmp_path / "play.yml"
    play.write_text(ROLE_PLAY)
    rc, out, _err = run_playbook(str(play), dict(bad, ansible_python_interpreter=sys.executable),
                                 inventory="localhost,")
    assert rc != 0 and "flow_aggregator_tls_certificate" in out


def test_kubernetes_manifests_validate_strict(tmp_path):
    if not shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable) + os.pathsep
                        + os.environ.get("PATH", "")):
        pytest.skip("kubernetes-validate is not installed (requirements-test.txt)")
    pki = make_pki(str(tmp_path / "pki"))
    out_dir = str(tmp_path / "k8s")
    stats = _play(tmp_path, {"flow_aggregator_target": "kubernetes", "flow_aggregator_k8s_manifest_dir": out_dir,
                             "flow_aggregator_tls_certificate": pki["server.pem"],
                             "flow_aggregator_tls_key": pki["server.key"], "flow_aggregator_tls_ca": pki["ca.pem"],
                             "flow_aggregator_export": [{"type": "elasticsearch", "url": "http://es:9200"}]})
    assert stats["failures"] == 0
    manifest = os.path.join(out_dir, "flow-aggregator.yml")
    with open(manifest, encoding="utf-8") as handle:
        docs = [doc for doc in yaml.safe_load_all(handle) if doc]
    kinds = {doc["kind"]: doc for doc in docs}
    assert set(kinds) == {"Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service"}
    assert kinds["Namespace"]["metadata"]["name"] == "flow-aggregator"
    service = kinds["Service"]
    assert (service["metadata"]["name"], service["metadata"]["namespace"]) == ("flow-aggregator", "flow-aggregator")
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == {(4739, "UDP"), (4739, "TCP")}
    config = yaml.safe_load(kinds["ConfigMap"]["data"]["config.yml"])
    assert {c["transport"] for c in config["collect"]} == {"udp", "tls"}
    assert [c for c in config["collect"] if c["transport"] == "tls"][0]["ca"] == "/etc/flow-aggregator/tls/ca.crt"
    assert set(kinds["Secret"]["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    proc = subprocess.run([shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable)) or
                           "kubernetes-validate", "--strict", manifest], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""The netdiag.tracekit.flow_aggregator role: foreground mode on this machine (no systemd here), idempotent,
check mode, stop; and the Kubernetes manifests it renders, validated offline with kubernetes-validate --strict."""

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile

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


@pytest.fixture(scope="module")
def k8s_manifests(tmp_path_factory):
    """The manifests the role renders with TLS material and an Elasticsearch sink: (path, [documents], pki)."""
    base = tmp_path_factory.mktemp("k8s")
    pki = make_pki(str(base / "pki"))
    out_dir = str(base / "k8s")
    stats = _play(base, {"flow_aggregator_target": "kubernetes", "flow_aggregator_k8s_manifest_dir": out_dir,
                         "flow_aggregator_tls_certificate": pki["server.pem"],
                         "flow_aggregator_tls_key": pki["server.key"], "flow_aggregator_tls_ca": pki["ca.pem"],
                         "flow_aggregator_export": [{"type": "elasticsearch", "url": "http://es:9200"}]})
    assert stats["failures"] == 0
    manifest = os.path.join(out_dir, "flow-aggregator.yml")
    with open(manifest, encoding="utf-8") as handle:
        docs = [doc for doc in yaml.safe_load_all(handle) if doc]
    return manifest, docs, pki


def _by_kind(docs):
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def test_kubernetes_manifests_validate_strict(k8s_manifests):
    manifest, docs, _pki = k8s_manifests
    if not shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable) + os.pathsep
                        + os.environ.get("PATH", "")):
        pytest.skip("kubernetes-validate is not installed (requirements-test.txt)")
    objects = _by_kind(docs)
    kinds = {kind for kind, _name in objects}
    assert kinds == {"Namespace", "ConfigMap", "Secret", "PersistentVolumeClaim", "Deployment", "Service"}
    assert ("Namespace", "flow-aggregator") in objects
    service = objects[("Service", "flow-aggregator")]
    assert service["metadata"]["namespace"] == "flow-aggregator"
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} == {(4739, "UDP"), (4739, "TCP")}
    config = json.loads(objects[("ConfigMap", "flow-aggregator-config")]["data"]["config.json"])
    assert {c["transport"] for c in config["collect"]} == {"udp", "tls"}
    assert [c for c in config["collect"] if c["transport"] == "tls"][0]["ca"] == "/etc/flow-aggregator/tls/ca.crt"
    assert set(objects[("Secret", "flow-aggregator-tls")]["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    proc = subprocess.run([shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable)) or
                           "kubernetes-validate", "--strict", manifest], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Runs the service the way the pod does: the zip from the ConfigMap on sys.path (PYTHONPATH in the pod; -I ignores
# the environment, so a two-line bootstrap puts it there), under -I -S, so nothing but the standard library.
_BOOT = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[2:]; "
         "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")


def test_kubernetes_deployment_runs_on_a_stock_python(tmp_path, k8s_manifests):
    """The Deployment needs no image of ours: the stock Python image, the code from the ConfigMap
    flow-aggregator-code on PYTHONPATH, the JSON configuration from flow-aggregator-config. Here the same command
    runs on this machine's Python without site-packages (so without PyYAML), with the rendered configuration moved
    to loopback ports and a temporary store; the pod's paths are checked on the Deployment itself."""
    _manifest, docs, pki = k8s_manifests
    objects = _by_kind(docs)
    pod = objects[("Deployment", "flow-aggregator")]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    module = "ansible_collections.netdiag.tracekit.services.flow_aggregator"
    assert container["image"] == "docker.io/library/python:3.11-slim"
    assert container["command"] == ["python", "-m", module, "--config", "/etc/flow-aggregator/config.json"]
    assert {"name": "PYTHONPATH", "value": "/opt/netdiag-tracekit/flow_aggregator.zip"} in container["env"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert (mounts["code"]["mountPath"], mounts["config"]["mountPath"], mounts["config"]["subPath"]) == \
        ("/opt/netdiag-tracekit", "/etc/flow-aggregator/config.json", "config.json")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["code"]["configMap"]["name"] == "flow-aggregator-code"
    encoded = objects[("ConfigMap", "flow-aggregator-code")]["binaryData"]["flow_aggregator.zip"]
    assert len(encoded) < 1024 * 1024 // 2, "the code bundle must stay well under a ConfigMap's 1 MiB"
    bundle = tmp_path / "flow_aggregator.zip"
    bundle.write_bytes(base64.b64decode(encoded))
    with zipfile.ZipFile(str(bundle)) as archive:
        names = set(archive.namelist())
    prefix = "ansible_collections/netdiag/tracekit/"
    for package in ("", "services/", "services/flow_aggregator/", "plugins/", "plugins/module_utils/",
                    "plugins/module_utils/common/", "plugins/module_utils/ipfix/"):
        assert prefix + package + "__init__.py" in names
    assert "ansible_collections/__init__.py" in names and "ansible_collections/netdiag/__init__.py" in names

    python = [sys.executable, "-I", "-S"]
    no_yaml = subprocess.run(python + ["-c", "import yaml"], capture_output=True, text=True, timeout=30, check=False)
    assert no_yaml.returncode != 0 and "No module named 'yaml'" in no_yaml.stderr

    config = json.loads(objects[("ConfigMap", "flow-aggregator-config")]["data"]["config.json"])
    udp_port, tls_port, api_port = free_port(), free_port(), free_port()
    for listener in config["collect"]:
        if listener["transport"] == "tls":
            listener.update(address="127.0.0.1:%d" % tls_port, certificate=pki["server.pem"], key=pki["server.key"],
                            ca=pki["ca.pem"])
        else:
            listener["address"] = "127.0.0.1:%d" % udp_port
    config["store"]["path"] = str(tmp_path / "store" / "flows.db")
    config["api"]["address"] = "127.0.0.1:%d" % api_port
    assert config["export"][0]["url"] == "http://es:9200"
    config["export"] = []  # "es" exists only in the cluster; nothing may leave loopback here
    (tmp_path / "store").mkdir()
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    log = open(str(tmp_path / "aggregator.log"), "wb")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(python + ["-c", _BOOT, str(bundle), module, "--config", str(config_file)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path))
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % api_port, timeout=2) as resp:
                    health = json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.2)
        assert health is not None and health["status"] == "ok", (tmp_path / "aggregator.log").read_text()
        with urllib.request.urlopen("http://127.0.0.1:%d/" % api_port, timeout=5) as resp:
            assert resp.status == 200 and b"<html" in resp.read().lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
    assert proc.returncode == 0, (tmp_path / "aggregator.log").read_text()

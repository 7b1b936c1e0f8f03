"""The netdiag.tracekit.elk_collector role, manifests target (the one that runs here): the rendered manifests
pass kubernetes-validate --strict for a current Kubernetes version and hold what the issue asks (namespace
elk-flow-collector, an Elasticsearch StatefulSet with a volume, Logstash on 4739/UDP and TCP with the generated
IPFIX definitions, Kibana on NodePort 30007); a second run changes nothing; check mode writes nothing; bad
variables fail with a message naming them. Kubernetes, Elasticsearch, Logstash and Kibana cannot run here."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import run_playbook

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.registry import ELEMENTS

ROLE_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: netdiag.tracekit.elk_collector
"""
KUBERNETES_VERSION = "1.34.0"


def _run(tmp_path, variables, check=False):
    play = tmp_path / "play.yml"
    # check mode for the whole play (run_playbook takes no --check)
    play.write_text(ROLE_PLAY.replace("gather_facts: false", "gather_facts: false\n  check_mode: true")
                    if check else ROLE_PLAY)
    extra = dict(variables, ansible_python_interpreter=sys.executable)
    return run_playbook(str(play), extra, inventory="localhost,", extra_env={"ANSIBLE_STDOUT_CALLBACK": "json"})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    base = tmp_path_factory.mktemp("elk_role")
    out_dir = str(base / "manifests")
    rc, out, err = _run(base, {"elk_collector_manifest_dir": out_dir})
    assert rc == 0, out[-3000:] + err[-2000:]
    first = json.loads(out)["stats"]["localhost"]
    rc, out, err = _run(base, {"elk_collector_manifest_dir": out_dir})
    assert rc == 0, out[-3000:] + err[-2000:]
    second = json.loads(out)["stats"]["localhost"]
    with open(os.path.join(out_dir, "elk-flow-collector.yml"), encoding="utf-8") as handle:
        docs = [doc for doc in yaml.safe_load_all(handle) if doc]
    return {"dir": out_dir, "first": first, "second": second,
            "docs": {(d["kind"], d["metadata"]["name"]): d for d in docs}}


def test_manifests_pass_kubernetes_validate_strict(rendered):
    tool = shutil.which("kubernetes-validate", path=os.path.dirname(sys.executable) + os.pathsep
                        + os.environ.get("PATH", ""))
    if tool is None:
        pytest.skip("kubernetes-validate is not installed (requirements-test.txt)")
    proc = subprocess.run([tool, "--strict", "-k", KUBERNETES_VERSION,
                           os.path.join(rendered["dir"], "elk-flow-collector.yml")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed") + proc.stderr.count("passed") == len(rendered["docs"])


def test_manifests_hold_what_the_issue_asks(rendered):
    docs = rendered["docs"]
    assert all(d["metadata"].get("namespace", "elk-flow-collector") == "elk-flow-collector" for d in docs.values())
    assert ("Namespace", "elk-flow-collector") in docs
    es = docs[("StatefulSet", "elasticsearch")]
    assert es["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert es["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]["name"] == "data"
    logstash = docs[("Service", "logstash")]
    assert {(p["port"], p["protocol"]) for p in logstash["spec"]["ports"]} == {(4739, "UDP"), (4739, "TCP")}
    assert docs[("Deployment", "logstash")]["spec"]["template"]["spec"]["containers"][0]["ports"][0][
        "containerPort"] == 4739
    kibana = docs[("Service", "kibana")]
    assert kibana["spec"]["type"] == "NodePort" and kibana["spec"]["ports"][0]["nodePort"] == 30007


def test_logstash_config_is_generated_from_the_registry(rendered):
    data = rendered["docs"][("ConfigMap", "logstash-configmap")]["data"]
    definitions = yaml.safe_load(data["ipfix.yml"])
    assert sum(len(v) for v in definitions.values()) == len(ELEMENTS)
    assert definitions[56506][110] == [":string", ":ingressNetworkPolicyName"]
    assert 'ipfix_definitions => "/usr/share/logstash/definitions/ipfix.yml"' in data["flows.conf"]
    assert '"[netflow][egressNetworkPolicyName]" => "egressNetworkPolicyName"' in data["flows.conf"]
    mounts = {m["mountPath"] for m in rendered["docs"][("Deployment", "logstash")]["spec"]["template"]["spec"][
        "containers"][0]["volumeMounts"]}
    assert "/usr/share/logstash/definitions/ipfix.yml" in mounts
    setup = rendered["docs"][("ConfigMap", "elk-flow-collector-setup")]["data"]
    template = json.loads(setup["index-template.json"])
    assert template["template"]["settings"]["index.lifecycle.name"] == "flows-retention"
    assert json.loads(setup["ilm-policy.json"])["policy"]["phases"]["delete"]["min_age"] == "7d"
    assert len(setup["kibana.ndjson"].splitlines()) > 20


def test_second_run_changes_nothing(rendered):
    assert rendered["first"]["changed"] >= 1 and rendered["first"]["failures"] == 0
    assert rendered["second"]["changed"] == 0


def test_check_mode_writes_nothing(tmp_path):
    out_dir = str(tmp_path / "never")
    rc, out, err = _run(tmp_path, {"elk_collector_manifest_dir": out_dir}, check=True)
    assert rc == 0, out[-3000:] + err[-2000:]
    assert not os.path.exists(out_dir)


@pytest.mark.parametrize("variables,named", [
    ({"elk_collector_kibana_node_port": 8080}, "elk_collector_kibana_node_port"),
    ({"elk_collector_retention": "a week"}, "elk_collector_retention"),
    ({"elk_collector_target": "docker"}, "elk_collector_target"),
])
def test_bad_variables_fail_clearly(tmp_path, variables, named):
    rc, out, _err = _run(tmp_path, dict(variables, elk_collector_manifest_dir=str(tmp_path / "m")))
    assert rc != 0 and named in out

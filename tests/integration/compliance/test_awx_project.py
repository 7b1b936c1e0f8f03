"""AWX / Automation Controller files: the execution environment, the surveys, the project's collection
requirements and awx_configure.yml.

No AWX or Automation Controller can run on this machine (no registry serves one), so these tests check what
can be checked without one: ansible-builder (real, no container engine needed) accepts the EE definition and
writes its build context; the survey specs follow AWX's documented survey rules and ask exactly for inputs
their playbooks read; awx_configure.yml passes syntax-check and, against a controller that does not answer
(a closed port on 127.0.0.1), stops with a clear message before changing anything.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, run_playbook

BIN = os.path.dirname(sys.executable)
# Question types and keys of AWX's survey spec (awx/api/templates/api/job_template_survey_spec.md).
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def load(*parts):
    path = os.path.join(REPO, *parts)
    with open(path) as handle:
        return json.load(handle) if path.endswith(".json") else yaml.safe_load(handle)


def test_ansible_builder_create_accepts_the_execution_environment(tmp_path):
    builder = os.path.join(BIN, "ansible-builder")
    if not os.path.exists(builder):
        pytest.skip("ansible-builder is not installed (requirements-test.txt)")
    context = tmp_path / "context"
    proc = subprocess.run([builder, "create", "-f", os.path.join(REPO, "meta", "execution-environment.yml"),
                           "-c", str(context), "--output-filename", "Containerfile"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core' in containerfile
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {c["name"] for c in galaxy["collections"]} >= {"ansible.utils", "awx.awx"}
    python = (context / "_build" / "requirements.txt").read_text().split()
    assert {"jmespath", "netaddr"} <= set(python)
    system = (context / "_build" / "bindep.txt").read_text()
    # BCC and kernel headers belong on the nodes, not in the controller's image.
    assert "bpfcc" not in system and "bcc" not in system and "kernel-devel" not in system
    assert "git-core" in system


@pytest.mark.parametrize("survey, playbook", [("diagnose_drop.json", "diagnose_drop.yml"),
                                              ("compliance_trace.json", "compliance_trace.yml")])
def test_surveys_follow_awx_rules_and_ask_for_what_the_playbook_reads(survey, playbook):
    spec = load("awx", "surveys", survey)
    assert spec["name"] and spec["description"] and isinstance(spec["spec"], list) and spec["spec"]
    variables = [q["variable"] for q in spec["spec"]]
    assert len(variables) == len(set(variables))
    with open(os.path.join(REPO, "playbooks", playbook)) as handle:
        text = handle.read()
    for q in spec["spec"]:
        where = "%s: %s" % (survey, q.get("variable"))
        assert q["type"] in SURVEY_TYPES, where
        assert q["question_name"] and q["question_description"], where
        assert isinstance(q["required"], bool), where
        assert re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", q["variable"]), where
        default = q.get("default")
        if q["type"] == "multiplechoice":
            assert isinstance(q["choices"], list) and q["choices"], where
            assert default in q["choices"] or (default == "" and not q["required"]), where
        elif q["type"] in ("integer", "float"):
            assert q["min"] <= q["max"], where
            assert default == "" and not q["required"] or q["min"] <= default <= q["max"], where
        elif default != "":
            assert q["min"] <= len(default) <= q["max"], where
        else:
            assert not q["required"] or q["min"] >= 1, where      # a required answer cannot be left empty
        # The playbook reads the variable (not a made-up name the survey would set in vain).
        assert re.search(r"\b%s\b" % re.escape(q["variable"]), text), where
    if playbook == "diagnose_drop.yml":
        assert dict((q["variable"], q["choices"]) for q in spec["spec"] if "choices" in q)["protocol"] == [
            "tcp", "udp", "icmp", "icmpv6"]
    else:
        assert os.path.exists(os.path.join(REPO, dict((q["variable"], q["default"]) for q in spec["spec"])["flows_file"]))


def test_collections_requirements_install_this_collection_and_its_dependencies():
    reqs = load("collections", "requirements.yml")
    galaxy = load("galaxy.yml")
    names = dict((c["name"], c) for c in reqs["collections"])
    ours = names[galaxy["repository"] + ".git"]
    assert ours["type"] == "git"
    for dependency in galaxy["dependencies"]:
        assert dependency in names


def test_awx_configure_passes_syntax_check():
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check",
                           os.path.join(REPO, "playbooks", "awx_configure.yml")],
                          capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg")))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_awx_configure_against_an_unreachable_controller_fails_with_a_clear_message():
    """No AWX runs here: a closed port on 127.0.0.1 plays the controller that does not answer."""
    rc, out, err = run_playbook("playbooks/awx_configure.yml", {
        "controller_host": "http://127.0.0.1:9", "awx_inventory": "Cluster nodes",
        "awx_notification_url": "http://127.0.0.1:9/hook"}, timeout=120)
    assert rc != 0
    assert "AWX / Automation Controller at http://127.0.0.1:9 cannot be reached" in out
    assert "Connection refused" in out and "nothing was changed" in out
    assert "Add the failure notification" not in out
    assert "Traceback" not in out + err


def test_awx_configure_without_settings_says_what_to_set():
    rc, out, err = run_playbook("playbooks/awx_configure.yml", {"controller_host": ""}, timeout=120,
                                extra_env={"CONTROLLER_HOST": ""})
    assert rc != 0
    assert "Set controller_host (or CONTROLLER_HOST) to the AWX / Automation Controller URL" in out

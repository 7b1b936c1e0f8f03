"""Test-wide setup: make the collection importable and give tests the shared fixtures and runners."""

import json
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
# ../shared beside the clone holds real ovn-trace and VPP outputs; a user's clone may not have it.
SHARED = os.environ.get("TRACEKIT_SHARED", os.path.join(os.path.dirname(REPO), "shared"))

# Helpers the integration tests share (lab builders, the OVN sandbox, the vppctl stand-in).
SUPPORT = os.path.join(REPO, "tests", "support")

for _path in (COLLECTIONS, SUPPORT):
    if _path not in sys.path:
        sys.path.insert(0, _path)


def shared_path(*parts):
    """Path under ../shared, or skip the calling test with the reason when it is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip("../shared is not beside this clone (%s missing): shared fixtures are not available" % path)
    return path


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: network namespaces and eBPF")


def run_module(module, args, host="localhost", inventory=None, check=False, timeout=300, extra_env=None):
    """Run a module through ansible (AnsiballZ, argument spec and all) and return its result dict."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": "json",
        "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
    })
    env.update(extra_env or {})
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible"), host,
           "-m", module, "-a", json.dumps(args)]
    if inventory:
        cmd += ["-i", inventory]
    else:
        cmd += ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("ansible printed no JSON (rc=%s):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    hosts = out["plays"][0]["tasks"][0]["hosts"]
    return hosts[host]


def run_playbook(playbook, extra_vars=None, inventory=None, timeout=600, extra_env=None):
    """Run a playbook of the collection; return (returncode, stdout, stderr)."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"),
    })
    env.update(extra_env or {})
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), os.path.join(REPO, playbook)]
    if inventory:
        cmd += ["-i", inventory]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", json.dumps({key: value})]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def have(request):
    """have('ovn-trace') skips the test with a reason when a program is not installed."""
    def _have(program):
        if shutil.which(program) is None:
            pytest.skip("%s is not installed (make bootstrap installs it)" % program)
        return shutil.which(program)
    return _have

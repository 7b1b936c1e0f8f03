"""The collection as users get it: ``ansible-galaxy collection build`` of this tree, ``install`` of the tarball
into a fresh folder, then ``ansible-doc`` from that installed copy only (not this tree) renders every module,
filter, inventory plugin and role, and every cli_parse parser's DOCUMENTATION parses.

Galaxy is unreachable here, so the install skips dependencies (--no-deps); ansible.utils, which the parsers
plug into, comes from the ansible package in the venv.
"""

import ast
import json
import os
import subprocess
import sys
import tarfile

import pytest
import yaml

from conftest import REPO

BIN = os.path.dirname(sys.executable)
# Never in the tarball: development tooling and its state.
UNWANTED = (".build/", ".venv/", ".ci/", ".pytest_cache/", ".ansible/", "bench/", "tools/", "tests/output/",
            "Makefile", "ansible.cfg", "pytest.ini", "requirements-test.txt")
PLUGIN_TYPES = {"modules": "module", "filter": "filter", "inventory": "inventory", "lookup": "lookup",
                "callback": "callback", "test": "test"}


def _run(cmd, env=None, timeout=300):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    assert proc.returncode == 0, "%s failed (rc %d):\n%s\n%s" % (" ".join(cmd), proc.returncode,
                                                                 proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def _names(folder):
    return sorted(n[:-3] for n in os.listdir(folder) if n.endswith(".py") and not n.startswith("_"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("galaxy")
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        meta = yaml.safe_load(handle)
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", REPO, "--output-path", str(work / "dist")])
    tarball = str(work / "dist" / ("%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"])))
    fresh = str(work / "collections")
    # Only the fresh folder: the repository's own link (.build/collections) must not be seen, by the install
    # (which would find the collection "already installed") nor by ansible-doc.
    (work / "ansible.cfg").write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=fresh, ANSIBLE_CONFIG=str(work / "ansible.cfg"))
    env.pop("ANSIBLE_COLLECTIONS_PATHS", None)
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--no-deps", "-p", fresh, tarball], env=env)
    root = os.path.join(fresh, "ansible_collections", meta["namespace"], meta["name"])
    assert os.path.isfile(os.path.join(root, "MANIFEST.json")), "the tarball was not installed into %s" % fresh
    return {"tarball": tarball, "root": root, "env": env, "fqcn": "%s.%s" % (meta["namespace"], meta["name"])}


def test_tarball_leaves_out_development_files(installed):
    with tarfile.open(installed["tarball"]) as tar:
        names = tar.getnames()
    leaked = [n for n in names if any(n == u.rstrip("/") or n.startswith(u) for u in UNWANTED)]
    assert leaked == []
    for wanted in ("MANIFEST.json", "plugins/modules/nettrace.py", "plugins/module_utils/common/errors.py",
                   "plugins/plugin_utils/diagnosis.py", "roles/node_prereqs/tasks/main.yml",
                   "playbooks/diagnose_drop.yml", "docs/inventory.md", "bindep.txt", "requirements.txt"):
        assert wanted in names, wanted


def test_installed_copy_is_the_one_ansible_doc_reads(installed):
    proc = _run([os.path.join(BIN, "ansible-galaxy"), "collection", "list", installed["fqcn"], "--format", "json"],
                env=installed["env"])
    assert os.path.dirname(os.path.dirname(installed["root"])) in json.loads(proc.stdout)


@pytest.mark.parametrize("folder", sorted(PLUGIN_TYPES))
def test_ansible_doc_renders_every_plugin_of_the_installed_copy(installed, folder):
    plugin_dir = os.path.join(installed["root"], "plugins", folder)
    if not os.path.isdir(plugin_dir):
        pytest.skip("the collection has no %s plugins" % folder)
    names = ["%s.%s" % (installed["fqcn"], n) for n in _names(plugin_dir)]
    ptype = PLUGIN_TYPES[folder]
    doc = json.loads(_run([os.path.join(BIN, "ansible-doc"), "-t", ptype, "--json"] + names,
                          env=installed["env"]).stdout)
    assert sorted(doc) == sorted(names), "ansible-doc found no documentation for %s" % (set(names) - set(doc))
    for name in names:
        assert doc[name]["doc"]["short_description"], name
        assert doc[name]["doc"].get("collection") == installed["fqcn"]
        assert doc[name]["examples"], "%s has no EXAMPLES" % name
    text = _run([os.path.join(BIN, "ansible-doc"), "-t", ptype] + names, env=installed["env"])
    for name in names:
        assert name in text.stdout
    assert "WARNING" not in text.stderr and "ERROR" not in text.stderr, text.stderr


def test_ansible_doc_renders_every_role_of_the_installed_copy(installed):
    roles = sorted(r for r in os.listdir(os.path.join(installed["root"], "roles"))
                   if os.path.exists(os.path.join(installed["root"], "roles", r, "meta", "argument_specs.yml")))
    names = ["%s.%s" % (installed["fqcn"], r) for r in roles]
    doc = json.loads(_run([os.path.join(BIN, "ansible-doc"), "-t", "role", "--json"] + names,
                          env=installed["env"]).stdout)
    assert sorted(doc) == names
    for name in names:
        assert doc[name]["entry_points"]["main"]["short_description"], name


def test_every_cli_parse_parser_documentation_parses(installed):
    folder = os.path.join(installed["root"], "plugins", "sub_plugins", "cli_parser")
    parsers = _names(folder)
    assert parsers
    for name in parsers:
        with open(os.path.join(folder, name + ".py")) as handle:
            module = ast.parse(handle.read())
        # DOCUMENTATION and EXAMPLES are plain strings at module level: read them without importing the plugin.
        strings = dict((node.targets[0].id, ast.literal_eval(node.value)) for node in module.body
                       if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                       and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES"))
        doc = yaml.safe_load(strings["DOCUMENTATION"])
        assert doc["author"] and doc["short_description"] and doc["description"], name
        assert "%s_parser" % doc["name"] == name, (name, doc["name"])
        assert yaml.safe_load(strings["EXAMPLES"]), "%s: EXAMPLES is not YAML" % name

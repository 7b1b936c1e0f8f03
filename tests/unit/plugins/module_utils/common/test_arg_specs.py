"""The shared argument specs and the doc fragments that document them stay in step, and modules use them."""

import importlib
import os

import pytest
import yaml

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import arg_specs

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
SPEC_KEYS = ("type", "elements", "choices", "required", "default", "aliases", "no_log")


@pytest.mark.parametrize("fragment", sorted(arg_specs.FRAGMENT_SPECS))
def test_each_spec_matches_its_doc_fragment(fragment):
    module = importlib.import_module("ansible_collections.netdiag.tracekit.plugins.doc_fragments.%s" % fragment)
    options = yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"]
    documented = dict((name, dict((k, doc[k]) for k in SPEC_KEYS if k in doc)) for name, doc in options.items())
    assert arg_specs.FRAGMENT_SPECS[fragment] == documented


@pytest.mark.parametrize("fragment", sorted(arg_specs.FRAGMENT_SPECS))
def test_modules_that_extend_a_fragment_take_its_spec_from_arg_specs(fragment):
    constant = [name for name, value in vars(arg_specs).items()
                if name.endswith("_ARG_SPEC") and value is arg_specs.FRAGMENT_SPECS[fragment]][0]
    folder = os.path.join(REPO, "plugins", "modules")
    users = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name)) as handle:
            text = handle.read()
        if "  - netdiag.tracekit.%s\n" % fragment in text:
            users.append(name)
            assert constant in text, "%s extends the %s fragment but does not use %s" % (name, fragment, constant)
    assert users, "no module extends the %s fragment" % fragment


def test_with_spec_copies_the_shared_specs():
    spec = arg_specs.with_spec(arg_specs.NETNS_ARG_SPEC, dst=dict(type="str", required=True))
    spec["netns"]["type"] = "changed"
    assert arg_specs.NETNS_ARG_SPEC["netns"]["type"] == "str"
    assert spec["dst"] == {"type": "str", "required": True}

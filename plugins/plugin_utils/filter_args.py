# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A filter checks its arguments against its own DOCUMENTATION, as ansible.utils' filters do.

One place turns a filter's documented options into an argument spec (type, elements, choices, required,
default, suboptions) and checks the input and keyword arguments with ansible-core's own
ArgumentSpecValidator, so the documentation and the checks cannot drift. Only ansible-core is needed.

Options a filter takes from this collection's doc fragments (``extends_documentation_fragment:
netdiag.tracekit.<fragment>[.<section>]``) are merged in as ansible-doc shows them: the filter's own
documentation of an option wins over the fragment's.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib

import yaml

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

_SPEC_KEYS = ("type", "elements", "choices", "required", "default", "aliases", "no_log")
_SPECS = {}


def _option_spec(options):
    spec = {}
    for name, doc in (options or {}).items():
        entry = dict((key, doc[key]) for key in _SPEC_KEYS if key in doc)
        if "suboptions" in doc:
            entry["options"] = _option_spec(doc["suboptions"])
        spec[name] = entry
    return spec


_COLLECTION = "netdiag.tracekit."


def fragment_options(name):
    """The options of this collection's doc fragment ``netdiag.tracekit.<fragment>[.<section>]``."""
    if not name.startswith(_COLLECTION):
        raise ValueError("doc fragment %s is not one of this collection's" % name)
    parts = name[len(_COLLECTION):].split(".")
    if len(parts) > 2 or not all(parts):
        raise ValueError("doc fragment %s is not <collection>.<fragment>[.<section>]" % name)
    module = importlib.import_module("ansible_collections.netdiag.tracekit.plugins.doc_fragments." + parts[0])
    text = getattr(module.ModuleDocFragment, parts[1].upper() if len(parts) == 2 else "DOCUMENTATION", None)
    if text is None:
        raise ValueError("doc fragment %s has no section %s" % (name, parts[1]))
    return yaml.safe_load(text).get("options") or {}


def documented_options(documentation):
    """A plugin's options: its DOCUMENTATION's own, over those of the doc fragments it extends."""
    doc = yaml.safe_load(documentation)
    options = {}
    fragments = doc.get("extends_documentation_fragment") or []
    for name in [fragments] if isinstance(fragments, str) else fragments:
        options.update(fragment_options(name))
    options.update(doc.get("options") or {})
    return options


def argument_spec(documentation):
    """The argument spec of a plugin's DOCUMENTATION string (cached: a filter runs many times)."""
    spec = _SPECS.get(documentation)
    if spec is None:
        spec = _SPECS[documentation] = _option_spec(documented_options(documentation))
    return spec


def validate_filter_args(name, documentation, value, kwargs):
    """Return the filter's arguments as a dict (``_input`` plus every option), checked and converted.

    Raises AnsibleFilterError naming the filter and what was wrong when an argument does not fit the
    options its DOCUMENTATION declares (unknown name, wrong type, missing required, not a choice).
    """
    data = {"_input": value}
    data.update(kwargs)
    result = ArgumentSpecValidator(argument_spec(documentation)).validate(data)
    if result.error_messages:
        raise AnsibleFilterError("%s: %s" % (name, "; ".join(result.error_messages)))
    return result.validated_parameters

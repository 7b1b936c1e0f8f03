# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance_stats
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: The part of a compliance trace handed to AWX through set_stats
description:
  - Totals, the failures with their messages, and one line per flow (C(id), C(name), C(expect), C(verdict),
    C(passed)), without the full diagnoses, so AWX's job artifacts stay small.
options:
  _input:
    description: The document of M(netdiag.tracekit.compliance_report).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Hand the result to AWX
  ansible.builtin.set_stats:
    data:
      tracekit_compliance: "{{ compliance | netdiag.tracekit.compliance_stats }}"
"""

RETURN = r"""
_value:
  description: C({passed, totals, run_id, failures, flows}).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.compliance import stats
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _compliance_stats(value, **kwargs):
    args = validate_filter_args("compliance_stats", DOCUMENTATION, value, kwargs)
    try:
        return stats(args["_input"])
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("compliance_stats: input must be compliance_report's document (missing %s)" % exc)


class FilterModule(object):
    def filters(self):
        return {"compliance_stats": _compliance_stats}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance_report
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Check each flow's diagnosis against its expectation (the compliance.json document)
description:
  - Takes the planned flows and each flow's diagnosis (the M(netdiag.tracekit.diagnose) filter's result, or
    C({error}) when the flow's probe could not be sent) and says for each flow whether the verdict is the
    expected one. V(not delivered) accepts V(rejected), V(dropped) and V(no_reply).
  - A failed flow's C(message) is C(expected X, got Y) and the diagnosis summary, which names the drop
    point, with the rule and policy when a capture named them.
options:
  _input:
    description: The C(flows) of M(netdiag.tracekit.compliance_plan).
    type: list
    elements: dict
    required: true
  diagnoses:
    description: Flow id to its diagnosis.
    type: dict
    required: true
  run_id:
    description: The run's id, kept in the document.
    type: str
  started_at:
    description: When the run started (ISO 8601), kept in the document.
    type: str
"""

EXAMPLES = r"""
- name: Check the expectations
  ansible.builtin.set_fact:
    compliance: "{{ plan.flows | netdiag.tracekit.compliance_report(diagnoses=diagnoses, run_id=run_id) }}"
"""

RETURN = r"""
_value:
  description: The C(compliance.json) document (docs/compliance.md).
  type: dict
  contains:
    passed:
      description: True when every flow's verdict is the expected one.
      type: bool
    totals:
      description: C({flows, passed, failed, errors, verdicts}).
      type: dict
    flows:
      description: C({id, name, src, dst, protocol, dst_port, expect, verdict, passed, summary, message, drop_point,
        policy_details, error, diagnosis}) per flow.
      type: list
      elements: dict
    run_id:
      description: The run's id.
      type: str
    started_at:
      description: When the run started.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.compliance import ComplianceError, report
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _compliance_report(value, **kwargs):
    args = validate_filter_args("compliance_report", DOCUMENTATION, value, kwargs)
    try:
        return report(args["_input"], args["diagnoses"], args["run_id"], args["started_at"])
    except (ComplianceError, KeyError) as exc:
        raise AnsibleFilterError("compliance_report: input must be compliance_plan's flows (%s)" % exc)


class FilterModule(object):
    def filters(self):
        return {"compliance_report": _compliance_report}

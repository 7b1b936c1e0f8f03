# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance_junit
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Render a compliance trace as JUnit XML, one testcase per flow
description:
  - One C(testsuite) with one C(testcase) per flow (C(name) is the flow's name, C(classname)
    C(compliance_trace.<src>)). A flow whose verdict differs from its expectation has a C(failure) whose
    C(message) is the diagnosis summary; a flow that could not be probed has an C(error).
options:
  _input:
    description: The document of M(netdiag.tracekit.compliance_report).
    type: dict
    required: true
  suite:
    description: Name of the test suite.
    type: str
    default: compliance_trace
"""

EXAMPLES = r"""
- name: Write the JUnit XML
  ansible.builtin.copy:
    content: "{{ compliance | netdiag.tracekit.compliance_junit }}"
    dest: "{{ report_dir }}/junit.xml"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The XML text.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.compliance import junit_xml
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _compliance_junit(value, **kwargs):
    args = validate_filter_args("compliance_junit", DOCUMENTATION, value, kwargs)
    try:
        return junit_xml(args["_input"], args["suite"])
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("compliance_junit: input must be compliance_report's document (missing %s)" % exc)


class FilterModule(object):
    def filters(self):
        return {"compliance_junit": _compliance_junit}

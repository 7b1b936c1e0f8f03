# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance_html
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Render a compliance trace as a self-contained HTML truth table
description:
  - A page with no external resources (inline CSS, no scripts). A table of sources (rows) by destinations
    (columns); each cell holds one link per flow, coloured by verdict (delivered green, rejected orange,
    dropped red, no_reply grey, error purple), outlined and marked when the verdict differs from the
    expectation, and pointing to the flow's diagnosis further down the page (summary, drop point,
    observations and the diagnosis JSON).
options:
  _input:
    description: The document of M(netdiag.tracekit.compliance_report).
    type: dict
    required: true
  title:
    description: The page's title.
    type: str
    default: Compliance trace
"""

EXAMPLES = r"""
- name: Write the truth table
  ansible.builtin.copy:
    content: "{{ compliance | netdiag.tracekit.compliance_html(title='Nightly policy check') }}"
    dest: "{{ report_dir }}/compliance.html"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The HTML text.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.compliance import html_table
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _compliance_html(value, **kwargs):
    args = validate_filter_args("compliance_html", DOCUMENTATION, value, kwargs)
    try:
        return html_table(args["_input"], args["title"])
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("compliance_html: input must be compliance_report's document (missing %s)" % exc)


class FilterModule(object):
    def filters(self):
        return {"compliance_html": _compliance_html}

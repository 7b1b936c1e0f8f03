# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: diagnosis_html
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Render a diagnosis as a self-contained HTML page (diagnosis.html)
description:
  - Takes the diagnosis of the M(netdiag.tracekit.diagnose) filter and returns an HTML page - the probe's path
    drawn as a picture (the source, each node and namespace, each hop the kernel, nftables, OVN and VPP
    observed, in order, with times), the drop point highlighted with its reason, rule and policy, and the
    raw evidence folded below.
  - Self-contained (no script, no asset from elsewhere); readable printed and in dark mode.
options:
  _input:
    description: The diagnosis dict.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Write diagnosis.html
  ansible.builtin.copy:
    content: "{{ diagnosis | netdiag.tracekit.diagnosis_html }}"
    dest: /tmp/report/diagnosis.html
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The HTML page.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.report_html import render


def _diagnosis_html(diagnosis, **kwargs):
    args = validate_filter_args("diagnosis_html", DOCUMENTATION, diagnosis, kwargs)
    try:
        return render(args["_input"])
    except DiagnosisError as exc:
        raise AnsibleFilterError("diagnosis_html: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"diagnosis_html": _diagnosis_html}

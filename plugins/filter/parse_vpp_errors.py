# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse_vpp_errors filter: VPP ``show errors`` text into counter rows, optionally since a snapshot."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_vpp_errors
author: netdiag.tracekit developers
version_added: 0.1.0
short_description: Parse VPP C(show errors) output into error counters, or the counters grown since a snapshot
description:
  - Parses C(show errors) of VPP 17.01 to 26.x, the 3-column (C(Count Node Reason)) and the 4-column
    (C(Count Node Reason Severity), 21.01 and later) forms, and C(show errors verbose) with its
    C(Thread N (name):) and C(Total:) sections and C(Index) column.
  - With I(since), returns only the counters that grew since that earlier snapshot, summed over threads.
options:
  _input:
    description: The text printed by C(vppctl show errors).
    type: str
    required: true
  since:
    description:
      - An earlier C(show errors) of the same VPP, as text or as this filter's result. The filter then returns
        the difference (counters since that snapshot). A counter that went down (errors cleared in between)
        counts from zero.
    type: raw
"""

EXAMPLES = r"""
- name: Counters as rows
  ansible.builtin.set_fact:
    vpp_errors: "{{ errors_text | netdiag.tracekit.parse_vpp_errors }}"

- name: What VPP counted while the probe ran
  ansible.builtin.debug:
    msg: "{{ errors_after | netdiag.tracekit.parse_vpp_errors(since=errors_before) }}"
"""

RETURN = r"""
_value:
  description:
    - A list of dicts C(thread) (number from a C(Thread N) section, C(total) in the C(Total:) section, null
      when VPP printed no sections), C(thread_name), C(count), C(node) (graph node), C(reason), C(severity)
      (C(error), C(warn), C(info) or C(unknown) on 21.01 and later, else null) and C(index) (verbose only).
    - VPP cuts long reasons to the column width (35 characters since 21.01); they are returned as printed.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import parse_vpp_errors, vpp_errors_delta
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def _text(text):
    # the parser's own message for what is not text (the argument spec would turn a list into its repr)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise AnsibleFilterError("parse_vpp_errors: show errors output must be a string, got %s" % type(text).__name__)
    return text


def _parse(text, since):
    rows = parse_vpp_errors(text)
    if since is None:
        return rows
    before = since if isinstance(since, list) else parse_vpp_errors(since)
    return vpp_errors_delta(before, rows)


def parse_vpp_errors_filter(text, **kwargs):
    args = validate_filter_args("parse_vpp_errors", DOCUMENTATION, _text(text), kwargs)
    return call_parser("parse_vpp_errors", _parse, args["_input"], args["since"])


class FilterModule(object):
    def filters(self):
        return {"parse_vpp_errors": parse_vpp_errors_filter}

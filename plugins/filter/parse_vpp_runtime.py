# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse_vpp_runtime filter: VPP ``show runtime`` text into per-thread node statistics."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_vpp_runtime
author: netdiag.tracekit developers
version_added: 0.1.0
short_description: Parse VPP C(show runtime) output into per-thread graph node statistics
description:
  - Parses C(show runtime) (and C(show runtime max)) of VPP 17.01 to 26.x, single or multi-threaded
    (C(Thread N name (lcore X)) sections separated by dashes), with the C(Clocks), C(Packet-Clocks) or
    C(Packet-Time) column and process states printed quoted (C("event wait")) or cut at 12 characters
    (C(interrupt wa)); states are returned complete and unquoted.
  - VPP cuts node names at 30 characters in this table; they are returned as printed.
options:
  _input:
    description: The text printed by C(vppctl show runtime).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Nodes that handled packets on each thread
  ansible.builtin.debug:
    msg: "{{ (runtime_text | netdiag.tracekit.parse_vpp_runtime).threads | map(attribute='nodes') | flatten | selectattr('vectors', '>', 0) }}"
"""

RETURN = r"""
_value:
  description:
    - C(threads) is a list of dicts C(thread), C(name), C(lcore), C(time), C(vector_rates) (C(in), C(out),
      C(drop), C(punt)), C(clocks_unit) (C(clocks) or C(ns)), C(clocks_column), the other figures of the
      C(Time) line when printed (C(average_vectors_per_node), C(loops_per_second),
      C(internal_node_vector_rate)...) and C(nodes).
    - Each node is C(name), C(state), C(calls), C(vectors), C(suspends), C(clocks), C(vectors_per_call),
      C(events_pending); for C(show runtime max) C(name), C(max_clocks), C(vectors_at_max),
      C(max_clocks_per_vector), C(avg_clocks), C(avg_vectors_per_call).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import parse_vpp_runtime
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def _text(text):
    # the parser's own message for what is not text (the argument spec would turn a list into its repr)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise AnsibleFilterError("parse_vpp_runtime: show runtime output must be a string, got %s" % type(text).__name__)
    return text


def parse_vpp_runtime_filter(text, **kwargs):
    args = validate_filter_args("parse_vpp_runtime", DOCUMENTATION, _text(text), kwargs)
    return call_parser("parse_vpp_runtime", parse_vpp_runtime, args["_input"])


class FilterModule(object):
    def filters(self):
        return {"parse_vpp_runtime": parse_vpp_runtime_filter}

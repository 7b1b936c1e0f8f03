# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse_nettrace filter: nettrace text (Retina or this collection's) to events."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_nettrace
author: netdiag.tracekit developers (@netdiag)
version_added: 0.1.0
short_description: Parse Retina nettrace output or the nettrace module's table into events
description:
  - Parses the table (C(TIME TYPE REASON PROBE SRC -> DST)) and the JSON lines (C(-o json)) that
    C(kubectl retina nettrace) prints, and the RV(netdiag.tracekit.nettrace#module:table) text of the
    M(netdiag.tracekit.nettrace) module (the same columns followed by C(NETNS LOCATION)), into one list of
    events with the keys of the module's RV(netdiag.tracekit.nettrace#module:events).
  - Header lines, rule lines and blank lines are ignored; the formats may be mixed.
  - Drop reason codes differ between kernels, so a bare code in a C(DROP) line is named only with the
    O(drop_reasons) table of the node that produced it. Errno numbers (C(SOCK_ERR)) and TCP states
    (C(RETRANS)) are named always.
  - A line that is not nettrace output fails with its number and content, unless O(lenient=true), which skips
    and counts it.
options:
  _input:
    description:
      - The output, as one string, a list of lines, or a dict with a C(table) or C(stdout) key (a registered
        nettrace or command result).
    type: raw
    required: true
  lenient:
    description: Skip and count lines that are not nettrace output instead of failing.
    type: bool
    default: false
  drop_reasons:
    description:
      - Drop-reason table (code to name) of the kernel that produced the output, such as the
        RV(netdiag.tracekit.nettrace#module:drop_reasons) returned by the module on that node.
    type: dict
"""

EXAMPLES = r"""
- name: Parse what retina printed
  ansible.builtin.set_fact:
    parsed: "{{ retina_output.stdout | netdiag.tracekit.parse_nettrace }}"

- name: Name the drop codes with the node's own table, skipping banner lines
  ansible.builtin.set_fact:
    parsed: "{{ retina_output.stdout | netdiag.tracekit.parse_nettrace(lenient=true, drop_reasons=trace.drop_reasons) }}"

- name: Every NETFILTER_DROP
  ansible.builtin.debug:
    msg: "{{ parsed.events | selectattr('reason', 'equalto', 'NETFILTER_DROP') | list }}"

# "18:14:41     DROP       6      kfree_skb          10.224.0.34:33061  ->  10.224.0.49:80"
# gives {"time": "18:14:41", "type": "DROP", "reason_code": 6, "reason": null, "probe": "kfree_skb",
#        "src_ip": "10.224.0.34", "src_port": 33061, "dst_ip": "10.224.0.49", "dst_port": 80, ...}
"""

RETURN = r"""
_value:
  description: The parsed events and what was skipped.
  type: dict
  contains:
    events:
      description:
        - Events with the keys of the nettrace module's events (C(time), C(type), C(reason_code), C(reason),
          C(probe), C(src_ip), C(src_port), C(dst_ip), C(dst_port), C(netns), C(netns_name), C(location),
          C(state), C(errno) and the rest), C(null) where the text does not say.
      type: list
      elements: dict
    skipped:
      description: Number of lines skipped (only with O(lenient=true)).
      type: int
    skipped_lines:
      description: Each skipped line's number, text and why it was skipped.
      type: list
      elements: dict
    format:
      description: Which formats were found, C(table), C(json) or C(json+table); C(null) when no event was found.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_parse import parse
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def _text_of(data):
    if isinstance(data, dict):
        for key in ("table", "stdout"):
            if isinstance(data.get(key), str):
                return data[key]
        raise AnsibleFilterError("parse_nettrace: a dict input needs a 'table' or 'stdout' string, got keys %s"
                                 % sorted(str(key) for key in data))
    if not isinstance(data, (str, list)):
        raise AnsibleFilterError("parse_nettrace: expected text or a list of lines, got %s" % type(data).__name__)
    return data


def parse_nettrace(data, **kwargs):
    args = validate_filter_args("parse_nettrace", DOCUMENTATION, _text_of(data), kwargs)
    return call_parser("parse_nettrace", parse, args["_input"], lenient=args["lenient"], drop_reasons=args["drop_reasons"])


class FilterModule(object):
    def filters(self):
        return {"parse_nettrace": parse_nettrace}

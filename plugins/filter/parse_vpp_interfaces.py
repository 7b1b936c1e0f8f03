# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse_vpp_interfaces filter: VPP ``show interface`` text into interfaces and their counters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_vpp_interfaces
author: netdiag.tracekit developers
version_added: 0.1.0
short_description: Parse VPP C(show interface) output into interfaces, state, MTU and counters
description:
  - Parses C(show interface) of VPP 17.01 to 26.x (with or without the C(MTU (L3/IP4/IP6/MPLS)) column),
    including the counters VPP prints one per line under each interface (C(rx packets), C(rx bytes),
    C(drops), C(punt), C(ip4), C(tx-error)...). VPP prints only counters that are not zero.
options:
  _input:
    description: The text printed by C(vppctl show interface).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Interfaces that dropped packets
  ansible.builtin.debug:
    msg: "{{ interfaces_text | netdiag.tracekit.parse_vpp_interfaces | selectattr('counters.drops', 'defined') | map(attribute='name') }}"
"""

RETURN = r"""
_value:
  description:
    - A list of dicts C(name), C(idx) (sw_if_index), C(state) (C(up), C(down), C(error), C(up/punt)...),
      C(admin_up), C(mtu) (C(l3), C(ip4), C(ip6), C(mpls), null before VPP 18.10), C(counters) (names with
      spaces and dashes turned into underscores, such as C(rx_packets), C(tx_error)) and C(counters_raw)
      (names as VPP printed them).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import parse_vpp_interfaces
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def _text(text):
    # the parser's own message for what is not text (the argument spec would turn a list into its repr)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise AnsibleFilterError("parse_vpp_interfaces: show interface output must be a string, got %s" % type(text).__name__)
    return text


def parse_vpp_interfaces_filter(text, **kwargs):
    args = validate_filter_args("parse_vpp_interfaces", DOCUMENTATION, _text(text), kwargs)
    return call_parser("parse_vpp_interfaces", parse_vpp_interfaces, args["_input"])


class FilterModule(object):
    def filters(self):
        return {"parse_vpp_interfaces": parse_vpp_interfaces_filter}

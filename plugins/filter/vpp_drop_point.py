# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vpp_drop_point filter: where VPP dropped the (first matching) traced packet, as a runbook drop point."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vpp_drop_point
author: netdiag.tracekit developers
version_added: 0.1.0
short_description: The VPP drop point of a parsed trace, in the form of diagnosis.json's drop_point
description:
  - Takes the result of P(netdiag.tracekit.parse_vpp_trace#filter) and returns the drop point of the first
    dropped or punted packet that matches I(flow_filter), or null when none was.
  - >-
    I(reason) is C(<graph node>: <reason>) as VPP counts it, for example
    C(acl-plugin-in-ip4-fa: ACL deny packets) or C(ip4-input: ip4 ttl <= 1).
options:
  _input:
    description: The result of P(netdiag.tracekit.parse_vpp_trace#filter).
    type: dict
    required: true
  node:
    description: The inventory name of the node the trace was taken on, copied to C(node).
    type: str
  flow_filter:
    description: Consider only matching packets; same keys as the I(flow_filter) of P(netdiag.tracekit.parse_vpp_trace#filter).
    type: dict
"""

EXAMPLES = r"""
- name: Where did VPP drop the probe?
  ansible.builtin.set_fact:
    vpp_drop: >-
      {{ trace_text | netdiag.tracekit.parse_vpp_trace
         | netdiag.tracekit.vpp_drop_point(node=inventory_hostname, flow_filter={'dst': probe_dst, 'dport': probe_port}) }}
"""

RETURN = r"""
_value:
  description:
    - Null, or a dict C(node), C(netns) (null), C(endpoint) (null), C(component) (C(vpp)), C(reason) and C(detail)
      (C(graph_node), C(path), C(thread), C(packet), C(fate) (C(dropped) or C(punted)), C(rx_interface), C(flow),
      C(icmp_error_sent), C(output_interface)).
  type: dict
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import vpp_drop_point
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def _options(name, parsed, kwargs):
    """The options checked against DOCUMENTATION; the input itself is checked by the function, whose message
    says what it expects."""
    return validate_filter_args(name, DOCUMENTATION, parsed if isinstance(parsed, dict) else {}, kwargs)


def vpp_drop_point_filter(parsed, **kwargs):
    args = _options("vpp_drop_point", parsed, kwargs)
    return call_parser("vpp_drop_point", vpp_drop_point, parsed, node=args["node"], flow_filter=args["flow_filter"])


class FilterModule(object):
    def filters(self):
        return {"vpp_drop_point": vpp_drop_point_filter}

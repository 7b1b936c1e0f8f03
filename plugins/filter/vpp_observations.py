# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vpp_observations filter: a parsed VPP trace into runbook observations (graph path and outcome)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: vpp_observations
author: netdiag.tracekit developers
version_added: 0.1.0
short_description: Turn a parsed VPP trace into observations (graph path, drop point) for the drop runbook
description:
  - Takes the result of P(netdiag.tracekit.parse_vpp_trace#filter) and returns, for each packet, one
    observation per graph node it crossed (C(Received) for the first, C(Forwarded) after), then its outcome.
  - >-
    The outcome is C(Delivered) (left through an interface, or reached VPP's own stack), C(Dropped) (a drop
    or a punt, I(reason) C(<graph node>: <reason>) such as C(acl-plugin-in-ip4-fa: ACL deny packets)) or
    C(Rejected) (dropped and an ICMP error sent back, as for an expired TTL). A truncated trace has no outcome.
options:
  _input:
    description: The result of P(netdiag.tracekit.parse_vpp_trace#filter).
    type: dict
    required: true
  node:
    description: The inventory name of the node the trace was taken on, copied to each observation's C(node).
    type: str
  flow_filter:
    description: Keep only matching packets; same keys as the I(flow_filter) of P(netdiag.tracekit.parse_vpp_trace#filter).
    type: dict
  time_offset:
    description:
      - VPP prints relative timestamps by default (seconds since its main loop started). Give the epoch time
        of that zero to get I(time) in seconds since the epoch; without it I(time) is null for such traces.
      - Not needed for traces taken with C(set trace timestamp-format unix) or C(datetime) (VPP 26.x).
    type: float
"""

EXAMPLES = r"""
- name: Observations for the probe's packets on this node
  ansible.builtin.set_fact:
    vpp_obs: >-
      {{ trace_text | netdiag.tracekit.parse_vpp_trace
         | netdiag.tracekit.vpp_observations(node=inventory_hostname, flow_filter={'dst': probe_dst}) }}
"""

RETURN = r"""
_value:
  description:
    - A list of dicts with the runbook keys C(node), C(netns) (null), C(endpoint) (null), C(component) (C(vpp)),
      C(action) (C(Received), C(Forwarded), C(Delivered), C(Dropped), C(Rejected)), C(reason), C(time) (seconds
      since the epoch, see I(time_offset)), C(source) (C(vpp-trace)), and C(graph_node), C(vpp_time) (as printed),
      C(uptime) (seconds of a relative timestamp), C(time_base) (C(uptime) or C(unix)), C(thread), C(packet), C(fate), C(flow).
  type: list
  elements: dict
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import vpp_observations
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def _options(name, parsed, kwargs):
    """The options checked against DOCUMENTATION; the input itself is checked by the function, whose message
    says what it expects."""
    return validate_filter_args(name, DOCUMENTATION, parsed if isinstance(parsed, dict) else {}, kwargs)


def vpp_observations_filter(parsed, **kwargs):
    args = _options("vpp_observations", parsed, kwargs)
    return call_parser("vpp_observations", vpp_observations, parsed, node=args["node"], flow_filter=args["flow_filter"],
                       time_offset=args["time_offset"])


class FilterModule(object):
    def filters(self):
        return {"vpp_observations": vpp_observations_filter}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: nftrace_observations
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Turn the nftables traces of a probe into runbook observations with their rule and policy
description:
  - Takes the C(traces) of M(netdiag.tracekit.nft_trace) from one node and returns one observation per trace
    for the M(netdiag.tracekit.diagnose) filter - C(Dropped) (a drop rule or a chain's policy drop),
    C(Rejected) (a reject rule, which forged the RST or ICMP error the source got), or C(Forwarded).
  - Each observation carries C(rule) (C({family, table, chain, handle, text, comment, verdict})) and C(policy)
    (C({namespace, name, kind}) or null); the diagnosis gives them to the drop point.
options:
  _input:
    description: The C(traces) list returned by M(netdiag.tracekit.nft_trace).
    type: list
    elements: dict
    required: true
  tag:
    description:
      - Keep only the traces of this probe - its tag (C(dscp) and C(ip_id) or C(flow_label), C(count) when it
        sent several packets), matched against the C(tag) each trace carries (the traced packet's IP header).
      - For a trace of several probes at once (M(netdiag.tracekit.nft_trace)'s O(netdiag.tracekit.nft_trace#module:tags)),
        as compliance_trace.yml runs one. Without it every trace is kept.
    type: dict
extends_documentation_fragment:
  - netdiag.tracekit.observations
  - netdiag.tracekit.observations.endpoints
"""

EXAMPLES = r"""
- name: Observations of the probe's nftables traces on this node
  ansible.builtin.set_fact:
    nft_observations: "{{ nft.traces | netdiag.tracekit.nftrace_observations(node=inventory_hostname, src=src_ep, dst=dst_ep) }}"

- name: Only one probe's traces, from a trace of a whole batch
  ansible.builtin.set_fact:
    flow_observations: >-
      {{ nft.traces | netdiag.tracekit.nftrace_observations(node=inventory_hostname, src=src_ep, dst=dst_ep,
         tag={'dscp': 12, 'ip_id': 4242}) }}
"""

RETURN = r"""
_value:
  description: Observations C({node, netns, endpoint, component, action, reason, time, source, rule, policy}).
  type: list
  elements: dict
"""

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.nftrace_observations import nftrace_observations


def _nftrace_observations(traces, **kwargs):
    args = validate_filter_args("nftrace_observations", DOCUMENTATION, traces, kwargs)
    return nftrace_observations(args["_input"], args["node"], args["src"], args["dst"],
                                netns_endpoints=args.get("netns_endpoints"), node_netns=args.get("node_netns"), tag=args.get("tag"))


class FilterModule(object):
    def filters(self):
        return {"nftrace_observations": _nftrace_observations}

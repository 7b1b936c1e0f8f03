# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance_plan
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Resolve a compliance trace's flows and give every probe a tag of its own
description:
  - Resolves each flow's source and destination as C(diagnose_drop.yml) does
    (M(netdiag.tracekit.resolve_endpoint); the source in the destination's address family), finds the nodes
    to capture on and the addresses to filter on, and gives each probe a distinct tag (IPv4 ID, IPv6 flow
    label and ICMP id unique in the run, DSCP cycling 1-63).
  - Groups the probes by the node they leave from, as options of M(netdiag.tracekit.packet_inject_batch).
options:
  _input:
    description: The flows of M(netdiag.tracekit.compliance_flows).
    type: list
    elements: dict
    required: true
  seed:
    description: Seed of the run's tags (the run id); the same seed gives the same tags.
    type: str
  ttl:
    description: TTL / hop limit of every probe.
    type: int
    default: 64
extends_documentation_fragment:
  - netdiag.tracekit.inventory
"""

EXAMPLES = r"""
- name: Plan the probes
  ansible.builtin.set_fact:
    plan: "{{ flows | netdiag.tracekit.compliance_plan(endpoints=tracekit_endpoints, nodes=node_map, seed=run_id) }}"
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    flows:
      description: The flows with C(src_endpoint), C(dst_endpoint), C(aliases), C(capture_nodes), C(filter_ips),
        C(source_node), the C(request) sent for them and C(nft_tag), what the nftables trace matches of the probe
        (C(dscp) and C(ip_id) or C(flow_label)).
      type: list
      elements: dict
    probes_by_node:
      description: Source node to the probes it sends.
      type: dict
    capture_nodes:
      description: Every node to capture on.
      type: list
      elements: str
    filter_ips:
      description: Every address the captures filter on.
      type: list
      elements: str
    netns_endpoints:
      description: Namespace name to the pod that lives in it.
      type: dict
    nft_tags:
      description: Every flow's C(nft_tag), for M(netdiag.tracekit.nft_trace)'s O(netdiag.tracekit.nft_trace#module:tags).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.compliance import ComplianceError, plan
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _compliance_plan(value, **kwargs):
    args = validate_filter_args("compliance_plan", DOCUMENTATION, value, kwargs)
    try:
        return plan(args["_input"], args["endpoints"], args["nodes"], args["services"], args["seed"], args["ttl"])
    except ComplianceError as exc:
        raise AnsibleFilterError("compliance_plan: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"compliance_plan": _compliance_plan}

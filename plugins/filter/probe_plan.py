# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: probe_plan
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Resolve a probe's two ends and plan the nodes and addresses that capture it
description:
  - Resolves the destination (M(netdiag.tracekit.resolve_endpoint); in O(family), or IPv6 for an IPv6 address or
    ICMPv6), then the source in the destination's address family, and checks that the source lives on a node of
    O(nodes), since the probe is sent from its namespace there.
  - Plans the captures as C(diagnose_drop.yml) and C(compliance_trace.yml) both do, from this one place - the
    nodes of both ends and of a service's backends (every node when neither end has one, as for an external
    destination), and the addresses to filter on, a service's backend addresses of the probe's family included.
options:
  _input:
    description: The destination, an endpoint or service name or an IP address.
    type: str
    required: true
  src:
    description: The source, an endpoint name or an address of one (a pod or a node).
    type: str
    required: true
  protocol:
    description: The probe's protocol; V(icmp) to an IPv6 destination becomes V(icmpv6).
    type: str
    required: true
    choices: [tcp, udp, icmp, icmpv6]
  family:
    description: Resolve a dual-stack destination's IPv4 (V(4)) or IPv6 (V(6)) address; null or omitted, its own.
    type: int
extends_documentation_fragment:
  - netdiag.tracekit.inventory
"""

EXAMPLES = r"""
- name: Plan the probe
  ansible.builtin.set_fact:
    probe_plan: >-
      {{ 'web' | netdiag.tracekit.probe_plan(src='client', protocol='tcp', endpoints=tracekit_endpoints,
         nodes=node_map, services=tracekit_services) }}
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    src:
      description: The source endpoint (as M(netdiag.tracekit.resolve_endpoint) returns it), in the destination's family.
      type: dict
    dst:
      description: The destination endpoint.
      type: dict
    protocol:
      description: The protocol to send.
      type: str
    aliases:
      description: Addresses a service destination may be translated to (its backends', of the probe's family).
      type: list
      elements: str
    capture_nodes:
      description: The nodes to capture on.
      type: list
      elements: str
    filter_ips:
      description: The addresses the captures keep.
      type: list
      elements: str
    netns_endpoints:
      description: Namespace name to the pod that lives in it, to name the pod of what is seen there.
      type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.probe_plan import netns_endpoints, plan_probe


def _probe_plan(dst, **kwargs):
    args = validate_filter_args("probe_plan", DOCUMENTATION, dst, kwargs)
    try:
        planned = plan_probe(args["src"], args["_input"], args["protocol"], args["endpoints"], args["nodes"],
                             args["services"], args["family"])
    except (DiagnosisError, ValueError) as exc:
        raise AnsibleFilterError("probe_plan: %s" % exc)
    planned["netns_endpoints"] = netns_endpoints(args["endpoints"])
    return planned


class FilterModule(object):
    def filters(self):
        return {"probe_plan": _probe_plan}

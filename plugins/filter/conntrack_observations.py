# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter conntrack_observations: the probe's conntrack entries on one node as runbook observations."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: conntrack_observations
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Turn what conntrack holds about a probe's connection into runbook observations
description:
  - Takes the results of M(netdiag.tracekit.conntrack_export) run in a loop over the namespaces of one node
    (the node's own and those of the source, destination and service backends that live there), keeps the
    entries of the probe's connection (its source address, source port or ICMP id, and its destination or one
    of the I(aliases)), and turns each into observations for the M(netdiag.tracekit.diagnose) filter.
  - The entry's state becomes one observation, for example C(TCP SYN_SENT [UNREPLIED], no reply seen) (action
    C(Sent) in the source's namespace, C(Received) elsewhere); a translated tuple becomes a C(Forwarded)
    observation such as C(DNAT 10.96.0.10:80 -> 10.244.2.10:8080 (backend n2-pod1)), whose C(backend) names the
    endpoint conntrack chose for a service. None is C(Dropped), as conntrack does not say where a packet died.
options:
  _input:
    description: The C(results) of the looped M(netdiag.tracekit.conntrack_export) task (each with C(item), the namespace).
    type: list
    elements: dict
    required: true
  endpoints:
    description: The inventory's C(tracekit_endpoints), to name the backend a DNAT chose.
    type: dict
  nodes:
    description: Node host to C({netns, ips}), to name a node address.
    type: dict
  services:
    description: The inventory's C(tracekit_services).
    type: dict
extends_documentation_fragment:
  - netdiag.tracekit.observations
  - netdiag.tracekit.observations.endpoints
  - netdiag.tracekit.observations.probe
"""

EXAMPLES = r"""
- name: Read conntrack in this node's namespaces
  netdiag.tracekit.conntrack_export:
    netns: "{{ item }}"
    address: ["{{ probe.probe.src }}"]
    protocol: "{{ probe.probe.protocol }}"
  loop: "{{ namespaces }}"
  register: ct
  failed_when: false

- name: Observations
  ansible.builtin.set_fact:
    ct_observations: >-
      {{ (ct.results | netdiag.tracekit.conntrack_observations(node=inventory_hostname, probe=probe.probe,
          src=src_ep, dst=dst_ep)).observations }}
"""

RETURN = r"""
_value:
  description: The observations and the namespaces read that hold no entry of the probe.
  type: dict
  contains:
    observations:
      description:
        - C({node, netns, endpoint, component, action, reason, time, source, detail, conntrack}), plus C(backend)
          on a DNAT observation; C(component) is C(conntrack).
      type: list
      elements: dict
    untracked:
      description: Namespaces whose table has no entry of the probe (no ruleset tracks there, or the packet never came).
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.conntrack_observations import conntrack_observations
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _conntrack_observations(results, **kwargs):
    args = validate_filter_args("conntrack_observations", DOCUMENTATION, results, kwargs)
    try:
        observations, untracked = conntrack_observations(
            args["_input"], args["node"], args["probe"], args["src"], args["dst"],
            netns_endpoints=args.get("netns_endpoints"), node_netns=args.get("node_netns"),
            aliases=args.get("aliases") or [], endpoints=args.get("endpoints"), nodes=args.get("nodes"),
            services=args.get("services"))
    except (TypeError, ValueError, KeyError) as exc:
        raise AnsibleFilterError("conntrack_observations: %s" % exc)
    return {"observations": observations, "untracked": untracked}


class FilterModule(object):
    def filters(self):
        return {"conntrack_observations": _conntrack_observations}

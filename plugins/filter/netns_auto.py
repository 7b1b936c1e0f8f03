# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: netns_auto
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Give endpoints with netns auto the namespaces their nodes found
description:
  - Takes what M(netdiag.tracekit.netns_info) found on each node and gives every endpoint of
    C(tracekit_endpoints) whose C(netns) is V(auto) the namespace that holds its addresses on its node (its
    C(ip netns) name, or its inode), with C(netns_inode).
  - The source and destination of a diagnosis follow, and the map from namespace to pod gets the pods found.
  - An endpoint that no namespace, or several, holds keeps V(auto); RV(_value.problems) says why.
options:
  _input:
    description: Node (inventory host) to its C(netns_info) result.
    type: dict
    required: true
  endpoints:
    description: The inventory's C(tracekit_endpoints).
    type: dict
    required: true
  src:
    description: The resolved source (C(resolve_endpoint)).
    type: dict
  dst:
    description: The resolved destination.
    type: dict
  netns_endpoints:
    description: Namespace to endpoint name, as the runbook keeps it.
    type: dict
"""

EXAMPLES = r"""
- name: Find the pods' namespaces on node w1
  netdiag.tracekit.netns_info:
    addresses: "{{ tracekit_endpoints | dict2items | selectattr('value.node', 'equalto', 'w1')
                   | map(attribute='value.ips') | flatten }}"
  delegate_to: w1
  register: w1_found

- name: Endpoints with their namespaces
  ansible.builtin.set_fact:
    resolved: "{{ ({'w1': w1_found} | netdiag.tracekit.netns_auto(endpoints=tracekit_endpoints)).endpoints }}"
"""

RETURN = r"""
_value:
  description: The plan with namespaces.
  type: dict
  contains:
    endpoints:
      description: The endpoints, C(netns) set where it was V(auto) and found.
      type: dict
    src:
      description: The source, its C(netns) set.
      type: dict
    dst:
      description: The destination, its C(netns) set.
      type: dict
    netns_endpoints:
      description: Namespace (name or inode) to the pod living there.
      type: dict
    problems:
      description: Endpoints left at V(auto), and why.
      type: list
      elements: str
"""

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.netns_auto import apply


def _netns_auto(value, **kwargs):
    args = validate_filter_args("netns_auto", DOCUMENTATION, value, kwargs)
    return apply(args["_input"], args["endpoints"], src=args["src"], dst=args["dst"],
                 netns_endpoints=args["netns_endpoints"])


class FilterModule(object):
    def filters(self):
        return {"netns_auto": _netns_auto}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: resolve_endpoint
author: netdiag.tracekit developers (@netdiag)
version_added: 0.1.0
short_description: Resolve an endpoint name or IP address to its node, namespace and address
description:
  - Looks a name up in the inventory's C(tracekit_endpoints) (pods, nodes) and C(tracekit_services), or an
    IP address among their addresses and the nodes' addresses, and returns where it lives.
  - An IP address that belongs to nothing known resolves to an C(external) endpoint with no node.
options:
  _input:
    description: Endpoint name or IP address.
    type: str
    required: true
  endpoints:
    description: The inventory's C(tracekit_endpoints), name to C({node, netns, ip, ips}).
    type: dict
  nodes:
    description: Node host to C({netns, ips}), so node addresses resolve too.
    type: dict
  services:
    description: The inventory's C(tracekit_services), name to C({ip, port, ...}).
    type: dict
  family:
    description: Pick the IPv4 (4) or IPv6 (6) address of a dual-stack endpoint.
    type: int
"""

EXAMPLES = r"""
- name: Where does n2-pod1 live, and what is its IPv6 address?
  ansible.builtin.set_fact:
    dst_ep: "{{ 'n2-pod1' | netdiag.tracekit.resolve_endpoint(endpoints=tracekit_endpoints, family=6) }}"
"""

RETURN = r"""
_value:
  description: The endpoint.
  type: dict
  contains:
    name:
      description: Endpoint name, or null for an address that belongs to nothing known.
      type: str
    kind:
      description: V(pod), V(node), V(service) or V(external).
      type: str
    node:
      description: Inventory host of the node it lives on, or null.
      type: str
    netns:
      description: Its network namespace (name or path), or null.
      type: str
    ip:
      description: The address to use.
      type: str
    ips:
      description: All its addresses.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError, resolve_endpoint
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _resolve(value, **kwargs):
    args = validate_filter_args("resolve_endpoint", DOCUMENTATION, value, kwargs)
    try:
        return resolve_endpoint(args["_input"], args["endpoints"], args["nodes"], args["services"], args["family"])
    except (DiagnosisError, ValueError) as exc:
        raise AnsibleFilterError("resolve_endpoint: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"resolve_endpoint": _resolve}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: compliance_flows
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: The flows a compliance trace checks, from a list of expected flows and/or a matrix
description:
  - Checks a list of expected flows C({src, dst, protocol, dst_port, expect}) and expands a matrix of
    sources x destinations x ports with a default expectation and exceptions. Returns the flows, each with an
    C(id) (C(f001)...) and a C(name) (C(n1-pod1 -> n2-pod1 tcp/5432)).
  - C(expect) is one of V(delivered), V(rejected), V(dropped), V(no_reply) or V(not delivered) (any of the
    last three). A matrix never probes a source to itself; the first exception that matches a flow sets its
    expectation. Bad input fails with a message that names the flow and what was wrong.
options:
  _input:
    description: Expected flows, each C({src, dst, protocol, dst_port, expect}) with optional C(family) (4 or 6) and C(name).
    type: list
    elements: dict
    required: true
  matrix:
    description:
      - C({sources, destinations, ports, expect, exceptions}). C(ports) items are C(tcp/8080), C(udp/53),
        C(icmp), a number (TCP) or C({protocol, dst_port}). C(exceptions) items name some of C(src), C(dst),
        C(protocol), C(dst_port) and give the C(expect) of the flows they match.
    type: dict
"""

EXAMPLES = r"""
- name: Flows of a matrix
  ansible.builtin.set_fact:
    flows: >-
      {{ [] | netdiag.tracekit.compliance_flows(matrix={'sources': ['n1-pod1'], 'destinations': ['n2-pod1'],
         'ports': ['tcp/8080', 'tcp/5432'], 'expect': 'delivered',
         'exceptions': [{'dst_port': 5432, 'expect': 'dropped'}]}) }}
"""

RETURN = r"""
_value:
  description: The flows, in input order (the list first, then the matrix by source, destination and port).
  type: list
  elements: dict
  contains:
    id:
      description: C(f001), C(f002)...
      type: str
    name:
      description: The flow's name (given, or C(src -> dst protocol/port)).
      type: str
    src:
      description: Source endpoint name or address.
      type: str
    dst:
      description: Destination endpoint, service or address.
      type: str
    protocol:
      description: V(tcp), V(udp), V(icmp) or V(icmpv6).
      type: str
    dst_port:
      description: Destination port, or null for ICMP.
      type: int
    expect:
      description: The expected verdict.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.compliance import ComplianceError, expand_flows
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _compliance_flows(value, **kwargs):
    args = validate_filter_args("compliance_flows", DOCUMENTATION, value, kwargs)
    try:
        return expand_flows(args["_input"], args["matrix"])
    except ComplianceError as exc:
        raise AnsibleFilterError("compliance_flows: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"compliance_flows": _compliance_flows}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: select_flows
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Select flow records by endpoint, address, port or a JMESPath expression
description:
  - Keeps the flow records (dicts keyed by IPFIX element names, as the flow aggregator's API returns them) that
    match every given criterion. The JMESPath O(query) is applied last, to the list.
options:
  _input:
    description: Flow records.
    type: list
    elements: dict
    required: true
  endpoint:
    description: An IP address (either side, or the service ClusterIP) or a pod or node name (either side).
    type: str
  address:
    description: An IP address on either side of the flow, or its service ClusterIP.
    type: str
  port:
    description: A transport port on either side, or the service port.
    type: int
  query:
    description: A JMESPath expression over the list of records; it must give a list.
    type: str
"""

EXAMPLES = r"""
- name: Flows of pod n1-pod1 toward port 8080 that both nodes reported
  ansible.builtin.debug:
    msg: >-
      {{ flows | netdiag.tracekit.select_flows(endpoint='n1-pod1', port=8080,
         query='[?packetTotalCountFromDestinationNode]') }}
"""

RETURN = r"""
_value:
  description: The matching flow records, in their order.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.flow_select import FlowSelectError, select_flows


def _select(value, **kwargs):
    args = validate_filter_args("select_flows", DOCUMENTATION, value, kwargs)
    try:
        return select_flows(args["_input"], args["endpoint"], args["address"], args["port"], args["query"])
    except FlowSelectError as exc:
        raise AnsibleFilterError("select_flows: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"select_flows": _select}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: flow_kibana_objects
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Kibana saved objects (ndjson) with the flow dashboards
description:
  - Gives the index pattern C(INDEX*) (time field C(flowEndSeconds)), the visualizations, the saved search and
    the dashboards of the ELK flow collector - overview, pod-to-pod, pod-to-service, pod-to-external, node
    throughput, network policy, flow records - as the ndjson that Kibana's C(POST /api/saved_objects/_import)
    takes.
options:
  _input:
    description: The index name prefix (e.g. V(flows)).
    type: str
    required: true
  output:
    description: V(ndjson) for the import file, V(list) for the objects as data.
    type: str
    choices: [ndjson, list]
    default: ndjson
"""

EXAMPLES = r"""
- name: Write the saved objects for a manual import (Stack Management, Saved objects, Import)
  ansible.builtin.copy:
    content: "{{ 'flows' | netdiag.tracekit.flow_kibana_objects }}"
    dest: /tmp/flows.ndjson
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The ndjson text, or the list of saved objects.
  type: raw
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.kibana_objects import (
    saved_objects, saved_objects_ndjson)
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _objects(value, **kwargs):
    args = validate_filter_args("flow_kibana_objects", DOCUMENTATION, value, kwargs)
    if args["output"] == "list":
        return saved_objects(args["_input"])
    return saved_objects_ndjson(args["_input"])


class FilterModule(object):
    def filters(self):
        return {"flow_kibana_objects": _objects}

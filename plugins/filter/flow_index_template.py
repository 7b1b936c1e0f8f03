# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: flow_index_template
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: The flow records' Elasticsearch index template, or its ILM retention policy
description:
  - With O(kind=template) gives the body of C(PUT _index_template/INDEX-flows) - the flow aggregator's index
    template built from the IPFIX registry (addresses C(ip), names C(keyword), counters C(long), times C(date))
    for C(INDEX) and C(INDEX-*), with the ILM policy O(policy_name) attached when given.
  - With O(kind=ilm_policy) gives the body of C(PUT _ilm/policy/NAME) deleting an index O(retention) after it
    was created.
options:
  _input:
    description: The index name prefix (e.g. V(flows)).
    type: str
    required: true
  kind:
    description: Which body to give.
    type: str
    choices: [template, ilm_policy]
    default: template
  policy_name:
    description: ILM policy attached by the template (empty for none, e.g. on OpenSearch).
    type: str
    default: ""
  retention:
    description: Age at which the ILM policy deletes an index (V(7d), V(36h), V(90m)).
    type: str
    default: 7d
  shards:
    description: Primary shards per index.
    type: int
    default: 1
  replicas:
    description: Replicas per shard.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Install the index template
  ansible.builtin.uri:
    url: "http://127.0.0.1:9200/_index_template/flows-flows"
    method: PUT
    body_format: json
    body: "{{ 'flows' | netdiag.tracekit.flow_index_template(policy_name='flows-retention') }}"
"""

RETURN = r"""
_value:
  description: The request body.
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.ilm_policy import (
    RetentionError, flow_index_template, ilm_policy)
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _template(value, **kwargs):
    args = validate_filter_args("flow_index_template", DOCUMENTATION, value, kwargs)
    try:
        if args["kind"] == "ilm_policy":
            return ilm_policy(args["retention"])
        return flow_index_template(args["_input"], args["policy_name"], args["shards"], args["replicas"])
    except RetentionError as exc:
        raise AnsibleFilterError("flow_index_template: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"flow_index_template": _template}

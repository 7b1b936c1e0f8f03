# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: logstash_flow_pipeline
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Logstash pipeline for IPFIX flow records, generated from the IPFIX element registry
description:
  - Renders the pipeline text - UDP and TCP inputs with the netflow codec and the generated C(ipfix_definitions),
    a filter that moves every registry element from the codec's target to the top-level field the flow index
    template maps, and an elasticsearch output writing one index per day (C(INDEX-YYYY.MM.dd)).
options:
  _input:
    description: Elasticsearch URLs.
    type: list
    elements: str
    required: true
  index:
    description: Index name prefix (the index template covers C(INDEX) and C(INDEX-*)).
    type: str
    default: flows
  definitions_path:
    description: Where the generated definitions file is, as Logstash sees it.
    type: str
    default: /usr/share/logstash/definitions/ipfix.yml
  port:
    description: UDP and TCP port of the IPFIX inputs.
    type: int
    default: 4739
  enterprises:
    description: Private enterprise numbers whose elements are renamed (0 is IANA).
    type: list
    elements: int
    default: [0, 29305, 56506]
  user:
    description: Elasticsearch user.
    type: str
    default: ""
  password:
    description: Elasticsearch password.
    type: str
    default: ""
  cacert:
    description: CA file that signs Elasticsearch's certificate (TLS).
    type: str
    default: ""
  ilm_policy:
    description: Name of the ILM policy the index template attaches (Logstash's own ILM handling is then off).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Write the pipeline
  ansible.builtin.copy:
    content: "{{ ['http://127.0.0.1:9200'] | netdiag.tracekit.logstash_flow_pipeline(index='flows') }}"
    dest: /etc/logstash/conf.d/flows.conf
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The pipeline configuration text.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.logstash import LogstashConfigError, pipeline
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _pipeline(value, **kwargs):
    args = validate_filter_args("logstash_flow_pipeline", DOCUMENTATION, value, kwargs)
    try:
        return pipeline(args["_input"], index=args["index"], definitions_path=args["definitions_path"],
                        port=args["port"], enterprises=args["enterprises"], user=args["user"],
                        password=args["password"], cacert=args["cacert"], ilm_policy=args["ilm_policy"])
    except (LogstashConfigError, ValueError) as exc:
        raise AnsibleFilterError("logstash_flow_pipeline: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"logstash_flow_pipeline": _pipeline}

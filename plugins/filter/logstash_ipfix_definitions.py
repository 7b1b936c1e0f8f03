# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: logstash_ipfix_definitions
author: netdiag.tracekit developers (@netdiag)
version_added: 0.2.0
short_description: Logstash netflow codec ipfix_definitions generated from the IPFIX element registry
description:
  - Gives the YAML file for the netflow codec's C(ipfix_definitions) option, with every element of the
    collection's IPFIX registry (IANA 0, reverse IANA 29305, Antrea 56506) named and typed as the flow index
    template maps it.
  - The codec merges the file over its own definitions one enterprise at a time; with enterprise 0 listed, the
    registry's IANA elements replace the codec's.
  - The input is ignored (use any value, e.g. V(none)).
options:
  _input:
    description: Ignored.
    type: raw
    required: true
  enterprises:
    description: Private enterprise numbers to include (0 is IANA).
    type: list
    elements: int
    default: [0, 29305, 56506]
  output:
    description: V(yaml) for the file text, V(dict) for the definitions as data.
    type: str
    choices: [yaml, dict]
    default: yaml
"""

EXAMPLES = r"""
- name: Write the codec's definitions
  ansible.builtin.copy:
    content: "{{ none | netdiag.tracekit.logstash_ipfix_definitions }}"
    dest: /etc/logstash/definitions/ipfix.yml
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The YAML text, or the definitions as data (enterprise, element id, C([type, name])).
  type: raw
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.logstash import (
    LogstashConfigError, ipfix_definitions, ipfix_definitions_yaml)
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _definitions(value, **kwargs):
    args = validate_filter_args("logstash_ipfix_definitions", DOCUMENTATION, value, kwargs)
    try:
        if args["output"] == "dict":
            return ipfix_definitions(args["enterprises"])
        return ipfix_definitions_yaml(args["enterprises"])
    except LogstashConfigError as exc:
        raise AnsibleFilterError("logstash_ipfix_definitions: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"logstash_ipfix_definitions": _definitions}

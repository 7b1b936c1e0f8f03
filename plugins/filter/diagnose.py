# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: diagnose
author: netdiag.tracekit developers (@netdiag)
version_added: 0.1.0
short_description: Turn a probe result and capture observations into a drop diagnosis
description:
  - Takes the result of M(netdiag.tracekit.packet_inject) and the observations of captures (kernel, OVN,
    VPP), and returns the diagnosis that C(diagnose_drop.yml) writes to C(diagnosis.json). It holds the
    verdict (delivered, rejected, dropped, no_reply), the drop point, the observations in time order,
    and a one-sentence summary.
  - A reply means delivered. A TCP RST or ICMP error means rejected, and the drop point is who refused;
    a capture's drop record first, then the address the reply came from. No reply with a captured drop
    means dropped there; without one, no_reply.
options:
  _input:
    description: The registered result of M(netdiag.tracekit.packet_inject).
    type: dict
    required: true
  captures:
    description: Observations from captures, each C({node, netns, endpoint, component, action, reason, time, source}).
    type: list
    elements: dict
  captures_ran:
    description: Names of the captures that ran (reported in the summary when nothing was seen).
    type: list
    elements: str
  endpoints:
    description: The inventory's C(tracekit_endpoints), to name who sent each reply.
    type: dict
  nodes:
    description: Node host to C({netns, ips}).
    type: dict
  services:
    description: The inventory's C(tracekit_services).
    type: dict
extends_documentation_fragment:
  - netdiag.tracekit.observations.endpoints
"""

EXAMPLES = r"""
- name: Diagnose
  ansible.builtin.set_fact:
    diagnosis: "{{ probe_result | netdiag.tracekit.diagnose(src=src_ep, dst=dst_ep, endpoints=tracekit_endpoints) }}"
"""

RETURN = r"""
_value:
  description: The diagnosis (the C(diagnosis.json) contract of docs/diagnosis.md).
  type: dict
  contains:
    verdict:
      description: V(delivered), V(rejected), V(dropped) or V(no_reply).
      type: str
    probe:
      description: What was sent, from which node and namespace, with its tag.
      type: dict
    drop_point:
      description: Null, or C({node, netns, endpoint, component, reason, detail}).
      type: dict
    observations:
      description: C({node, netns, endpoint, component, action, reason, time, source}) in time order.
      type: list
      elements: dict
    summary:
      description: One sentence for a human.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import DiagnosisError, diagnose
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def _diagnose(injection, **kwargs):
    args = validate_filter_args("diagnose", DOCUMENTATION, injection, kwargs)
    injection = args["_input"]
    if injection.get("failed"):
        raise AnsibleFilterError("diagnose: packet_inject failed: %s" % injection.get("msg"))
    try:
        return diagnose(injection, args["src"], args["dst"], args["captures"], args["endpoints"], args["nodes"],
                        args["services"], args["captures_ran"])
    except DiagnosisError as exc:
        raise AnsibleFilterError("diagnose: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"diagnose": _diagnose}

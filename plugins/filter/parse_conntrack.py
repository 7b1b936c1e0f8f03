# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter parse_conntrack: conntrack -L / -E text and /proc/net/nf_conntrack into the conntrack_export flow list."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_conntrack
author: netdiag.tracekit developers
version_added: "0.2.0"
short_description: Parse conntrack -L text or /proc/net/nf_conntrack into the flows conntrack_export returns
description:
  - Parses the output of C(conntrack -L) (the default form and C(-o extended), with C(-o id) and
    C(-o ktimestamp)), of C(conntrack -E) (lines starting with C([NEW]), C([UPDATE]), C([DESTROY])) and the
    content of C(/proc/net/nf_conntrack), IPv4 and IPv6, into the same flow dicts the
    M(netdiag.tracekit.conntrack_export) module returns, so saved outputs can be read offline.
  - The text shows less than netlink does. C(status) has C(UNREPLIED), C(ASSURED), C(OFFLOAD), C(HW_OFFLOAD)
    and, derived as the kernel sets them, C(SEEN_REPLY), C(CONFIRMED), C(SRC_NAT) and C(DST_NAT); C(id) is null
    without C(-o id); start times come only from C(-o ktimestamp) (to the second, in the local time zone of the
    host that parses).
  - Text that is not such output fails with the line number and what was wrong.
options:
  _input:
    description: The text conntrack printed (stdout), or the content of /proc/net/nf_conntrack.
    type: str
    required: true
  endpoints:
    description:
      - Maps an IP address to C({pod, namespace, node}), as the module's option of the same name, to fill the
        Antrea pod elements and C(flowType).
    type: dict
"""

EXAMPLES = r"""
- name: Read the table of a pod's namespace as text
  ansible.builtin.command:
    argv: [ip, netns, exec, cni-5f1c3e3a, conntrack, -L, -o, extended]
  register: ct
  changed_when: false

- name: Flows that never got an answer
  ansible.builtin.debug:
    msg: >-
      {{ ct.stdout | netdiag.tracekit.parse_conntrack
         | selectattr('status', 'contains', 'UNREPLIED') | map(attribute='original') | list }}

- name: A saved /proc/net/nf_conntrack, with pod names
  ansible.builtin.set_fact:
    flows: >-
      {{ lookup('ansible.builtin.file', 'nf_conntrack.txt')
         | netdiag.tracekit.parse_conntrack(endpoints={'10.244.1.5': {'pod': 'web-1', 'namespace': 'prod'}}) }}
"""

RETURN = r"""
_value:
  description:
    - One dict per entry with the keys of the conntrack_export module's C(flows) (see docs/conntrack.md),
      C(family), C(protocol), C(protocolIdentifier), C(original) and C(reply) tuples, C(nat), the IPFIX-named
      addresses and ports (the destination is the reply's source, the backend after DNAT), C(tcpState),
      C(status), C(timeout), C(mark), C(zone), C(id), C(accounting) and the counters (null without accounting),
      C(flowStartSeconds), and C(event) for C(conntrack -E) lines.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.records import add_endpoints, check_endpoints
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack as _parse
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args


def parse_conntrack(text, **kwargs):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise AnsibleFilterError("parse_conntrack expects the text conntrack printed (a string, e.g. result.stdout), "
                                 "got %s" % type(text).__name__)
    args = validate_filter_args("parse_conntrack", DOCUMENTATION, text, kwargs)
    try:
        endpoints = check_endpoints(args.get("endpoints"))
        return [add_endpoints(flow, endpoints) for flow in _parse(args["_input"])]
    except ConntrackError as exc:
        raise AnsibleFilterError("parse_conntrack: %s" % exc)


class FilterModule(object):
    """conntrack text parsing filter."""

    def filters(self):
        return {"parse_conntrack": parse_conntrack}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter parse_ovn_trace: ovn-trace text -> verdict, path, drop point and ACL name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_ovn_trace
author: netdiag.tracekit developers
version_added: "0.1.0"
short_description: Parse ovn-trace output into a verdict, the path and the ACL that dropped the packet
description:
  - Parses the output of C(ovn-trace) (detailed, C(--summary), C(--minimal), C(--all), C(--ovs),
    daemon mode through C(ovn-appctl)) from OVN 2.7 to 24.x and main.
  - Tells whether the packet was delivered, dropped, rejected (a TCP reset or ICMP error was sent
    instead), whether ovn-trace could not trace it (its errors come on stdout with exit code 0), or
    whether the text is only a fragment.
  - Names where the packet died (datapath, pipeline, table, stage, logical flow uuid) and, when the
    trace shows it, the ACL (C(log(name=...)) and C(LOG:) lines, label).
  - The same parser serves the C(netdiag.tracekit.ovn_trace) cli_parse parser and the
    C(netdiag.tracekit.ovn_trace) module.
options:
  _input:
    description: The text ovn-trace printed (stdout).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Trace a flow and parse it
  ansible.builtin.command:
    argv:
      - ovn-trace
      - --db=unix:/var/run/ovn/ovnsb_db.sock
      - >-
        inport == "sw0-port1" && eth.src == 50:54:00:00:00:01 && eth.dst == 50:54:00:00:00:02
        && ip4.src == 10.0.0.11 && ip4.dst == 10.0.0.12 && ip.ttl == 64 && tcp.dst == 22
  register: trace
  changed_when: false

- name: Say where the packet went
  ansible.builtin.debug:
    msg: >-
      {% set t = trace.stdout | netdiag.tracekit.parse_ovn_trace %}
      {{ t.verdict }} {{ t.drop.stage if t.drop else '' }} {{ (t.drop.acl.name if t.drop and t.drop.acl else '') }}
"""

RETURN = r"""
_value:
  description: The parsed trace.
  type: dict
  contains:
    format:
      description: C(detailed), C(summary) or C(minimal); for C(--all) output the detailed part is parsed.
      type: str
    formats:
      description: Only for C(--all) output, the formats found in it.
      type: list
      elements: str
    flow:
      description: The microflow of the leading C(# ...) line, or null when the text lacks it.
      type: str
    verdict:
      description:
        - C(delivered), C(dropped), C(rejected) (a reply was generated instead), C(error) (ovn-trace
          could not trace) or C(partial) (the text is a fragment or not ovn-trace output).
      type: str
    outputs:
      description: Final deliveries of the original packet; outputs to patch ports are hand-offs, not deliveries.
      type: list
      elements: dict
      contains:
        datapath:
          description: Datapath of the egress pipeline (null in the minimal format).
          type: str
        port:
          description: Logical port name as ovn-trace printed it.
          type: str
        type:
          description: Port type (empty string for a VIF, C(localnet), ...); null in the minimal format.
          type: str
    generated:
      description: Packets the trace built (C(tcp_reset), C(icmp4), C(icmp6), C(sctp_abort), C(arp), C(nd_ns), C(nd_na)) and their outputs.
      type: list
      elements: dict
    hops:
      description: Logical flows hit (detailed format), with datapath, pipeline, table, stage, priority, match, actions, uuid (8 hex digits), source.
      type: list
      elements: dict
    path:
      description: Pipelines traversed, each with datapath, pipeline, inport, outport, generated.
      type: list
      elements: dict
    drop:
      description:
        - Null, or where the original packet died, with the hop's fields, C(kind), C(reason) and C(acl)
          (name, verdict, severity, direction, label, meter, uuid, stage, datapath, pipeline, priority, match).
      type: dict
    logs:
      description: "The C(LOG: ACL ...) lines (name, direction, verdict, severity, packet)."
      type: list
      elements: dict
    errors:
      description: ovn-trace's own error lines (fatal ones and C(***) lines).
      type: list
      elements: str
    warnings:
      description: What the parser did not understand.
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import parse_ovn_trace as _parse
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def parse_ovn_trace(text):
    """Parse ovn-trace output; every failure is an AnsibleFilterError naming what was wrong."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise AnsibleFilterError(
            "parse_ovn_trace expects the text ovn-trace printed (a string, e.g. result.stdout), got %s"
            % type(text).__name__)
    args = validate_filter_args("parse_ovn_trace", DOCUMENTATION, text, {})
    return call_parser("parse_ovn_trace", _parse, args["_input"])


class FilterModule(object):
    """ovn-trace parsing filter."""

    def filters(self):
        return {"parse_ovn_trace": parse_ovn_trace}

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parse_vpp_trace filter: VPP ``show trace`` text into packets, graph paths and drop reasons."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: parse_vpp_trace
author: netdiag.tracekit developers
version_added: 0.1.0
short_description: Parse VPP C(show trace) output into packets, their graph path, fate and drop reason
description:
  - Parses the text of the VPP CLI command C(show trace) (VPP 17.01 to 26.x) into one entry per traced packet
    with the graph nodes it crossed, where it ended (its I(fate)) and, for a drop, the graph node and reason.
  - >-
    Understands both drop formats (before 19.04 C(error-drop) carries C(<node>: <reason>); since 19.04
    C(error-drop) carries C(rx:<interface>) and a following C(drop) record the reason), several threads
    (C(Start of thread N name), C(No packets in trace buffer)), excerpts without C(Packet N) headers,
    C(Limiting display ...) lines, relative, unix and datetime timestamps, whitespace-only lines and detail
    lines that lost their indentation.
  - I(fate) is C(delivered) (left through an interface output or tx node), C(dropped) (error-drop/drop),
    C(punted) (error-punt/punt), C(local) (reached VPP's own stack, for example ip4-receive, or VPP answered
    an ICMP echo) or C(truncated) (the trace ends before any of these).
  - A packet whose trace holds both a drop and an output (TTL expired, ICMP error sent back) is C(dropped),
    with I(icmp_error_sent=true) and I(output_interface) the interface the ICMP error left through.
options:
  _input:
    description: The text printed by C(vppctl show trace).
    type: str
    required: true
  flow_filter:
    description:
      - Keep only packets for which some IP header seen along the path (before or after NAT or encapsulation)
        matches every given key. The summary then counts the kept packets only.
      - Keys are C(src), C(dst), C(address) (source or destination; addresses or CIDRs), C(protocol)
        (C(tcp), C(udp), C(icmp)...), C(sport), C(dport) and C(port) (source or destination).
    type: dict
"""

EXAMPLES = r"""
- name: Where did the traced packets go?
  ansible.builtin.debug:
    msg: "{{ trace_text | netdiag.tracekit.parse_vpp_trace | json_query('packets[].[index, fate, drop_reason]') }}"

- name: Only the probe's packets (TCP to 10.10.2.2 port 80)
  ansible.builtin.set_fact:
    probe: "{{ trace_text | netdiag.tracekit.parse_vpp_trace(flow_filter={'dst': '10.10.2.2', 'protocol': 'tcp', 'dport': 80}) }}"

- name: Fail when VPP dropped anything
  ansible.builtin.assert:
    that: (trace_text | netdiag.tracekit.parse_vpp_trace).summary.by_fate.dropped == 0
"""

RETURN = r"""
_value:
  description:
    - C(packets) is a list of dicts with C(thread), C(thread_name), C(index) (the C(Packet N) number, null in
      an excerpt without headers), C(nodes) (C(time), C(node), C(detail)), C(path) (node names), C(fate),
      C(drop_node), C(drop_reason), C(output_interface), C(output_interfaces), C(rx_interface),
      C(sw_if_index), C(icmp_error_sent), C(handed_off) (a truncated trace that ends in a handoff node),
      C(handoff_from) (C(thread), C(trace_index)) for a packet handed
      over from another thread, C(flow) (the first IP header seen, with C(ip_version), C(protocol),
      C(src), C(dst), C(sport), C(dport), C(icmp_type), C(tcp_flags), C(src_mac), C(dst_mac), C(ethertype),
      C(vlan)) and C(flows) (every distinct IP header seen along the path).
    - >-
      C(summary) has C(packets), C(by_fate) (count per fate) and C(drops_by_reason) (C(<node>: <reason>) to count);
      C(threads) lists each thread section (C(thread), C(name), C(packets), C(no_packets)).
    - C(limited) is true when VPP printed C(Limiting display to N packets) (C(limit) is N);
      C(timestamp_format) is C(relative), C(unix) or C(datetime); C(ignored_lines) counts lines outside
      any packet that were not understood (such as a C(vpp#) prompt).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import parse_vpp_trace, select_packets
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import validate_filter_args
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser


def _text(text):
    # the parser's own message for what is not text (the argument spec would turn a list into its repr)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise AnsibleFilterError("parse_vpp_trace: show trace output must be a string, got %s" % type(text).__name__)
    return text


def _parse(text, flow_filter):
    parsed = parse_vpp_trace(text)
    return select_packets(parsed, flow_filter) if flow_filter else parsed


def parse_vpp_trace_filter(text, **kwargs):
    args = validate_filter_args("parse_vpp_trace", DOCUMENTATION, _text(text), kwargs)
    return call_parser("parse_vpp_trace", _parse, args["_input"], args["flow_filter"])


class FilterModule(object):
    def filters(self):
        return {"parse_vpp_trace": parse_vpp_trace_filter}

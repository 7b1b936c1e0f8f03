# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ovn_trace parser for ansible.utils.cli_parse."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
author: netdiag.tracekit developers
name: ovn_trace
short_description: Parse ovn-trace output with ansible.utils.cli_parse
description:
  - Use C(netdiag.tracekit.ovn_trace) as I(parser.name) of M(ansible.utils.cli_parse) to turn the output of
    C(ovn-trace) (any format, OVN 2.7 to 24.x and main) into a verdict, the outputs, the logical flows
    hit and the drop point with the ACL name, the same structure the
    C(netdiag.tracekit.parse_ovn_trace) filter returns.
  - No template is needed. With I(text), M(ansible.utils.cli_parse) also wants I(parser.command); give
    C(ovn-trace), it only names the command the text came from.
  - ovn-trace's own errors (unknown port, flow parse error) give the verdict
    C(error), not a parser error; text that is not a string gives a parser error.
version_added: "0.1.0"
"""

EXAMPLES = r"""
- name: Run ovn-trace and parse it
  ansible.utils.cli_parse:
    command: >-
      ovn-trace --db=unix:/var/run/ovn/ovnsb_db.sock
      'inport == "sw0-port1" && eth.src == 50:54:00:00:00:01 && eth.dst == 50:54:00:00:00:02
      && ip4.src == 10.0.0.11 && ip4.dst == 10.0.0.12 && ip.ttl == 64 && tcp.dst == 22'
    parser:
      name: netdiag.tracekit.ovn_trace
    set_fact: trace

- name: Parse saved output
  ansible.utils.cli_parse:
    text: "{{ lookup('ansible.builtin.file', 'trace.txt') }}"
    parser:
      name: netdiag.tracekit.ovn_trace
      command: ovn-trace
  register: parsed
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import parse_ovn_trace
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.cli_parser import text_parser

CliParser = text_parser("netdiag.tracekit.ovn_trace", "the text ovn-trace printed", lambda text, _args: parse_ovn_trace(text))

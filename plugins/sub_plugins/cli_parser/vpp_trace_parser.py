# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cli_parse parser for VPP ``show trace``: use it as ``parser.name: netdiag.tracekit.vpp_trace``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    author: netdiag.tracekit developers
    name: vpp_trace
    short_description: Parse VPP C(show trace) output with M(ansible.utils.cli_parse)
    description:
    - A parser sub-plugin for M(ansible.utils.cli_parse), selected with I(parser.name=netdiag.tracekit.vpp_trace).
    - Parses the text of the VPP CLI command C(show trace) (VPP 17.01 to 26.x) into packets, their graph
      path, fate and drop reason (see the parse_vpp_trace filter for the keys).
    - It needs no template. M(ansible.utils.cli_parse) requires I(parser.command) when I(text) is given; any
      value does (this parser does not look at it), so pass the text with I(text) (for example from C(vppctl show trace)).
    - Errors (text that is not C(show trace) output) are returned as a failed task with a message.
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Run vppctl show trace
  ansible.builtin.command:
    argv: [vppctl, -s, /run/vpp/cli.sock, show trace]
  register: vpp_out
  changed_when: false

- name: Parse it with cli_parse
  ansible.utils.cli_parse:
    text: "{{ vpp_out.stdout }}"
    parser:
      name: netdiag.tracekit.vpp_trace
      command: show trace
    set_fact: vpp_trace
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import parse_vpp_trace
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.cli_parser import text_parser

CliParser = text_parser("netdiag.tracekit.vpp_trace", "the 'show trace' output", lambda text, _args: parse_vpp_trace(text))

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cli_parse parser for VPP ``show interface``: use it as ``parser.name: netdiag.tracekit.vpp_interfaces``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    author: netdiag.tracekit developers
    name: vpp_interfaces
    short_description: Parse VPP C(show interface) output with M(ansible.utils.cli_parse)
    description:
    - A parser sub-plugin for M(ansible.utils.cli_parse), selected with I(parser.name=netdiag.tracekit.vpp_interfaces).
    - Parses the text of the VPP CLI command C(show interface) (VPP 17.01 to 26.x) into a list of interfaces
      with state, MTU and counters (see the parse_vpp_interfaces filter).
    - It needs no template. M(ansible.utils.cli_parse) requires I(parser.command) when I(text) is given; any
      value does (this parser does not look at it), so pass the text with I(text) (for example from C(vppctl show interface)).
    - Errors (text that is not C(show interface) output) are returned as a failed task with a message.
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Run vppctl show interface
  ansible.builtin.command:
    argv: [vppctl, -s, /run/vpp/cli.sock, show interface]
  register: vpp_out
  changed_when: false

- name: Parse it with cli_parse
  ansible.utils.cli_parse:
    text: "{{ vpp_out.stdout }}"
    parser:
      name: netdiag.tracekit.vpp_interfaces
      command: show interface
    set_fact: vpp_interfaces
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import parse_vpp_interfaces
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.cli_parser import text_parser

CliParser = text_parser("netdiag.tracekit.vpp_interfaces", "the 'show interface' output", lambda text, _args: parse_vpp_interfaces(text))

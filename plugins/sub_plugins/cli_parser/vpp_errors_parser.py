# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cli_parse parser for VPP ``show errors``: use it as ``parser.name: netdiag.tracekit.vpp_errors``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    author: netdiag.tracekit developers
    name: vpp_errors
    short_description: Parse VPP C(show errors) output with M(ansible.utils.cli_parse)
    description:
    - A parser sub-plugin for M(ansible.utils.cli_parse), selected with I(parser.name=netdiag.tracekit.vpp_errors).
    - Parses the text of the VPP CLI command C(show errors) (VPP 17.01 to 26.x) into a list of error counter
      rows (thread, count, node, reason, severity, index; see the parse_vpp_errors filter).
    - It needs no template. M(ansible.utils.cli_parse) requires I(parser.command) when I(text) is given; any
      value does (this parser does not look at it), so pass the text with I(text) (for example from C(vppctl show errors)).
    - Errors (text that is not C(show errors) output) are returned as a failed task with a message.
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Run vppctl show errors
  ansible.builtin.command:
    argv: [vppctl, -s, /run/vpp/cli.sock, show errors]
  register: vpp_out
  changed_when: false

- name: Parse it with cli_parse
  ansible.utils.cli_parse:
    text: "{{ vpp_out.stdout }}"
    parser:
      name: netdiag.tracekit.vpp_errors
      command: show errors
    set_fact: vpp_errors
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import parse_vpp_errors
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.cli_parser import text_parser

CliParser = text_parser("netdiag.tracekit.vpp_errors", "the 'show errors' output", lambda text, _args: parse_vpp_errors(text))

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cli_parse parser for VPP ``show runtime``: use it as ``parser.name: netdiag.tracekit.vpp_runtime``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    author: netdiag.tracekit developers
    name: vpp_runtime
    short_description: Parse VPP C(show runtime) output with M(ansible.utils.cli_parse)
    description:
    - A parser sub-plugin for M(ansible.utils.cli_parse), selected with I(parser.name=netdiag.tracekit.vpp_runtime).
    - Parses the text of the VPP CLI command C(show runtime) (VPP 17.01 to 26.x) into per-thread graph node
      statistics (see the parse_vpp_runtime filter).
    - It needs no template. M(ansible.utils.cli_parse) requires I(parser.command) when I(text) is given; any
      value does (this parser does not look at it), so pass the text with I(text) (for example from C(vppctl show runtime)).
    - Errors (text that is not C(show runtime) output) are returned as a failed task with a message.
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Run vppctl show runtime
  ansible.builtin.command:
    argv: [vppctl, -s, /run/vpp/cli.sock, show runtime]
  register: vpp_out
  changed_when: false

- name: Parse it with cli_parse
  ansible.utils.cli_parse:
    text: "{{ vpp_out.stdout }}"
    parser:
      name: netdiag.tracekit.vpp_runtime
      command: show runtime
    set_fact: vpp_runtime
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import parse_vpp_runtime
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.cli_parser import text_parser

CliParser = text_parser("netdiag.tracekit.vpp_runtime", "the 'show runtime' output", lambda text, _args: parse_vpp_runtime(text))

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conntrack parser for ansible.utils.cli_parse."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
author: netdiag.tracekit developers
name: conntrack
short_description: Parse conntrack -L output with ansible.utils.cli_parse
description:
  - Use C(netdiag.tracekit.conntrack) as I(parser.name) of M(ansible.utils.cli_parse) to turn the output of
    C(conntrack -L) (default and C(-o extended), with C(-o id,ktimestamp)), C(conntrack -E) or the content of
    C(/proc/net/nf_conntrack) into the flow list the M(netdiag.tracekit.conntrack_export) module returns, the
    same as the C(netdiag.tracekit.parse_conntrack) filter.
  - No template is needed. With I(text), M(ansible.utils.cli_parse) also wants I(parser.command); give
    C(conntrack -L), it only names the command the text came from.
  - Text that is not such output gives a parser error naming the line.
version_added: "0.2.0"
"""

EXAMPLES = r"""
- name: Read the table and parse it
  ansible.utils.cli_parse:
    command: conntrack -L -o extended
    parser:
      name: netdiag.tracekit.conntrack
    set_fact: conntrack_flows

- name: Parse a saved /proc/net/nf_conntrack
  ansible.utils.cli_parse:
    text: "{{ lookup('ansible.builtin.file', 'nf_conntrack.txt') }}"
    parser:
      name: netdiag.tracekit.conntrack
      command: conntrack -L
  register: parsed
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.cli_parser import text_parser

CliParser = text_parser("netdiag.tracekit.conntrack", "the text conntrack -L printed",
                        lambda text, _args: parse_conntrack(text))

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cli_parse parser for several VPP show commands, chosen by ``parser.command``: ``parser.name: netdiag.tracekit.vpp``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    author: netdiag.tracekit developers
    name: vpp
    short_description: Parse VPP C(show trace), C(show errors), C(show runtime) or C(show interface) output, chosen by the command
    description:
    - A parser sub-plugin for M(ansible.utils.cli_parse), selected with I(parser.name=netdiag.tracekit.vpp).
    - I(parser.command) (or the task's I(command)) chooses the parser, with VPP's own abbreviations allowed and
      an optional C(vppctl [-s socket]) prefix ignored. C(show trace) as netdiag.tracekit.vpp_trace,
      C(show errors) or C(show node counters) as netdiag.tracekit.vpp_errors, C(show runtime) as
      netdiag.tracekit.vpp_runtime, C(show interface) as netdiag.tracekit.vpp_interfaces.
    - Any other command is an error naming the supported ones.
    version_added: 0.1.0
"""

EXAMPLES = r"""
- name: Run vppctl show errors
  ansible.builtin.command:
    argv: [vppctl, -s, /run/vpp/cli.sock, show, errors]
  register: vpp_out
  changed_when: false

- name: Parse it, the parser chosen by the command
  ansible.utils.cli_parse:
    text: "{{ vpp_out.stdout }}"
    parser:
      name: netdiag.tracekit.vpp
      command: show errors
    set_fact: vpp_errors
"""

import re


from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import (
    parse_vpp_errors,
    parse_vpp_interfaces,
    parse_vpp_runtime,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import VppParseError, parse_vpp_trace
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.cli_parser import text_parser

# (what, regex on the command without its vppctl prefix, parser): VPP accepts any unique prefix of a word.
COMMANDS = (
    ("show trace", re.compile(r"^sh(?:o|ow)?\s+tr(?:a|ac|ace)?\b"), parse_vpp_trace),
    ("show errors", re.compile(r"^sh(?:o|ow)?\s+(?:err\w*|node\s+count\w*)"), parse_vpp_errors),
    ("show runtime", re.compile(r"^sh(?:o|ow)?\s+run\w*"), parse_vpp_runtime),
    ("show interface", re.compile(r"^sh(?:o|ow)?\s+int(?:e|er|erf|erfa|erfac|erface)?s?(?:\s*$|\s+(?!addr|rx|tx|feat|span|tag|vtr)\S)"),
     parse_vpp_interfaces),
)
_VPPCTL = re.compile(r"^\s*(?:\S*/)?vppctl(?:\s+-s\s+\S+)?\s+")


def parser_for(command):
    """The parse function for a VPP CLI command, or raise VppParseError naming the supported commands."""
    if command is not None and not isinstance(command, str):
        raise VppParseError("netdiag.tracekit.vpp needs the command as text, got %s" % type(command).__name__)
    cmd = _VPPCTL.sub("", command or "").strip().strip("'\"").strip()
    for _what, rx, func in COMMANDS:
        if rx.match(cmd):
            return func
    raise VppParseError("netdiag.tracekit.vpp cannot parse the output of %r: supported commands are %s"
                        % (command, ", ".join(what for what, _rx, _func in COMMANDS)))


def _parse(text, task_args):
    command = (task_args.get("parser") or {}).get("command") or task_args.get("command")
    return parser_for(command)(text)


CliParser = text_parser("netdiag.tracekit.vpp", "the command's output", _parse)

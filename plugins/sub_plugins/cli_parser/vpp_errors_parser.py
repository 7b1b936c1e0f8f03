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

from ansible.module_utils.common.text.converters import to_native

try:
    from ansible_collections.ansible.utils.plugins.plugin_utils.base.cli_parser import CliParserBase
except ImportError:  # ansible.utils absent: cli_parse cannot load this plugin anyway; keep it importable

    class CliParserBase(object):
        def __init__(self, task_args, task_vars, debug):
            self._debug = debug
            self._task_args = task_args
            self._task_vars = task_vars
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp_show_parsers import parse_vpp_errors
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp_trace_parser import VppParseError


class CliParser(CliParserBase):
    """Parse VPP ``show errors`` text given to cli_parse as ``text``."""

    DEFAULT_TEMPLATE_EXTENSION = None
    PROVIDE_TEMPLATE_CONTENTS = False

    def parse(self, *_args, **_kwargs):
        text = self._task_args.get("text")
        if text is None:
            return {"errors": ["netdiag.tracekit.vpp_errors needs the 'show errors' output in 'text'"]}
        try:
            return {"parsed": parse_vpp_errors(text)}
        except VppParseError as exc:
            return {"errors": [to_native(exc)]}

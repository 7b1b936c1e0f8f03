# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every netdiag.tracekit parser plugin for ``ansible.utils.cli_parse`` shares.

A parser plugin is its documentation plus one line: ``CliParser = text_parser(name, what, parse)``.
The parse function itself lives in module_utils, where the filters and modules use it too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import failure_message

try:
    from ansible_collections.ansible.utils.plugins.plugin_utils.base.cli_parser import CliParserBase
except ImportError:  # ansible.utils absent: cli_parse (the only caller) is absent too; stay importable

    class CliParserBase(object):  # pylint: disable=too-few-public-methods
        """Same constructor as ansible.utils' base class."""

        def __init__(self, task_args, task_vars, debug):
            self._debug = debug
            self._task_args = task_args
            self._task_vars = task_vars


def text_parser(name, what, parse):
    """A cli_parse parser class for ``parse(text, task_args)``: every failure of ``parse`` is returned in
    cli_parse's ``errors`` list, with the parser's message (which names the line that was wrong)."""

    class CliParser(CliParserBase):
        DEFAULT_TEMPLATE_EXTENSION = None
        PROVIDE_TEMPLATE_CONTENTS = False

        def parse(self, *_args, **_kwargs):
            text = self._task_args.get("text")
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            if text is None:
                return {"errors": ["%s needs %s in 'text'" % (name, what)]}
            if not isinstance(text, str):
                return {"errors": ["%s expects %s, got %s" % (name, what, type(text).__name__)]}
            try:
                return {"parsed": parse(text, self._task_args)}
            except Exception as exc:  # pylint: disable=broad-except  # cli_parse shows errors, never a traceback
                return {"errors": [failure_message("%s could not parse the text" % name, exc)]}

    CliParser.__doc__ = "Parse %s given to cli_parse as 'text' (%s)." % (what, name)
    return CliParser

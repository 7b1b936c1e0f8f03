# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One place that turns a parser's failure into what Ansible shows.

Filters raise AnsibleFilterError and cli_parse parsers return an ``errors`` list; either way the message is
the parser's own (a ``TracekitError`` names the line that was wrong). Anything else a parser raised is a bug
of ours: it is reported the same way, never as a traceback, with its type so that it can be reported.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError


def failure_message(name, exc):
    """``name: what was wrong`` for a parser failure."""
    if isinstance(exc, TracekitError):
        return "%s: %s" % (name, to_native(exc))
    return "%s: internal error (%s: %s); this is a bug in netdiag.tracekit, please report it with the input" % (
        name, type(exc).__name__, to_native(exc)[:300])


def call_parser(name, func, *args, **kwargs):
    """``func(*args, **kwargs)``; every failure becomes AnsibleFilterError with ``failure_message``."""
    try:
        return func(*args, **kwargs)
    except AnsibleFilterError:
        raise
    except Exception as exc:  # pylint: disable=broad-except  # the one place nothing else may escape from
        raise AnsibleFilterError(failure_message(name, exc), orig_exc=exc)

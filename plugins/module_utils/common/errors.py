# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one base exception of netdiag.tracekit.

Every error the collection raises on purpose derives from ``TracekitError``, so a module, a filter or a
service catches this one class once and turns it into ``fail_json``, ``AnsibleFilterError`` or a logged,
counted rejection. Each concern keeps its own subclass (``CliError``, ``OvnTraceParseError``...) so
callers that care can tell them apart.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class TracekitError(Exception):
    """Base of every error netdiag.tracekit raises on purpose; ``str()`` says what was wrong."""

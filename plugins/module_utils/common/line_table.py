# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one engine of the line-oriented parsers (VPP show outputs, nettrace tables), as cisco.nxos's rm_templates.

A parser is a table of line kinds, each ``(name, matcher, yields)``: ``matcher(line)`` is usually a compiled
regular expression's ``match`` (anchored, with no two quantifiers that can share a character, so that it
costs time linear in the line), or a small function that splits the line first; ``yields`` turns the match
into what the line gives (fields, an event), or is None for a line that carries nothing (a header, a rule).
Adding a line kind is adding an entry; the state of a parser (current thread, interface...) stays in its
own loop over what ``first_match`` finds.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def first_match(line, kinds):
    """``(name, match, yields)`` of the first kind of the table whose matcher accepts the line, or
    ``(None, None, None)``."""
    for name, matcher, yields in kinds:
        found = matcher(line)
        if found:
            return name, found, yields
    return None, None, None

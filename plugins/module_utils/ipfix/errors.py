# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the IPFIX codec and exporter.

``IpfixError`` is for what a caller got wrong (an unknown element name, a value of the wrong type, a
collector that cannot be reached); ``IpfixDecodeError`` is for bytes from the network that cannot even be
framed as an IPFIX message, and carries the short reason in ``reason``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError


class IpfixError(TracekitError):
    """An IPFIX encoding, registry or export error; ``str()`` says what was wrong."""


class IpfixDecodeError(IpfixError):
    """A message that cannot be framed at all; ``reason`` is the short why (also the ``str()``)."""

    def __init__(self, reason):
        super(IpfixDecodeError, self).__init__(reason)
        self.reason = reason

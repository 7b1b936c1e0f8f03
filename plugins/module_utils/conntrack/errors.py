# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Errors of the conntrack reader, its filters and its text parser."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError


class ConntrackError(TracekitError):
    """Conntrack could not be read (netlink socket, namespace, kernel answer); ``str()`` says why."""


class ConntrackFilterError(ConntrackError):
    """A filter value is wrong (not an address, a CIDR with host bits, an unknown state name...)."""


class ConntrackParseError(ConntrackError):
    """Text given to the conntrack text parser is not ``conntrack -L`` or /proc/net/nf_conntrack output."""

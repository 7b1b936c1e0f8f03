# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The key of a connection, the same from both ends, and which collector a connection goes to.

``normalised_five_tuple(record)`` gives both directions of a connection (the source node's record and the
destination node's, or a record and its reply) the same key, so the conntrack exporter can send every
record of one connection to the same aggregator and the aggregator can correlate them, as Antrea's Flow
Aggregator keys its store by the 5-tuple. ``pick_collector`` spreads connections over several collectors
with rendezvous hashing on a stable hash (BLAKE2b, not Python's per-process ``hash()``), so every exporter
picks the same collector for a connection and adding a collector moves only the connections it takes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import socket

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError

_CANONICAL = {}
_INET, _INET6 = socket.AF_INET, socket.AF_INET6
_pton, _ntop = socket.inet_pton, socket.inet_ntop


def _address(value):
    """Canonical text and sort key of an address.

    The text the decoder gives (dotted IPv4, inet_ntop IPv6) is parsed by ``inet_pton`` in C; anything else
    (an integer, a scoped IPv6 address...) goes through ``ipaddress``, cached (records repeat the same few).
    """
    if value.__class__ is str:
        try:
            packed = _pton(_INET, value)
            text = _ntop(_INET, packed)
            return (4, packed, value if text == value else text)  # the same string object when canonical
        except OSError:
            try:
                packed = _pton(_INET6, value)
                text = _ntop(_INET6, packed)
                return (6, packed, value if text == value else text)
            except OSError:
                pass
    known = _CANONICAL.get(value)
    if known is None:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise IpfixError("%r is not an IP address" % (value,))
        family = socket.AF_INET if address.version == 4 else socket.AF_INET6
        # the text the decoder gives addresses (inet_ntop: IPv4-mapped IPv6 as ::ffff:10.0.0.1)
        known = (address.version, address.packed, socket.inet_ntop(family, address.packed))
        if len(_CANONICAL) >= 65536:
            _CANONICAL.clear()
        _CANONICAL[value] = known
    return known


def packed_address(value):
    """The address in network byte order (4 or 16 octets), whatever form it was given in.

    Raises ``IpfixError`` when ``value`` is not an address.
    """
    return _address(value)[1]


def normalised_five_tuple(record):
    """``(protocolIdentifier, address A, port A, address B, port B)`` with endpoint A the lower one.

    Addresses come from ``sourceIPv4Address``/``destinationIPv4Address`` or the IPv6 pair, ports from
    ``sourceTransportPort``/``destinationTransportPort`` (0 when absent: ICMP). Raises ``IpfixError`` when
    the record has no address pair.
    """
    source = record.get("sourceIPv4Address")
    destination = record.get("destinationIPv4Address")
    if source is None or destination is None:
        source = record.get("sourceIPv6Address")
        destination = record.get("destinationIPv6Address")
    if source is None or destination is None:
        raise IpfixError("flow record has no source and destination address (IPv4 or IPv6) to key it by")
    first = _address(source) + (record.get("sourceTransportPort") or 0,)
    second = _address(destination) + (record.get("destinationTransportPort") or 0,)
    if (second[0], second[1], second[3]) < (first[0], first[1], first[3]):
        first, second = second, first
    return (record.get("protocolIdentifier") or 0, first[2], first[3], second[2], second[3])


def pick_collector(record, collectors):
    """The one of ``collectors`` that takes this record's connection (the same for both directions)."""
    collectors = list(collectors)
    if not collectors:
        raise IpfixError("no collector to pick from")
    key = repr(normalised_five_tuple(record)).encode("utf-8")

    def weight(collector):
        name = str(collector)
        return hashlib.blake2b(key + b"|" + name.encode("utf-8"), digest_size=8).digest(), name

    return max(collectors, key=weight)

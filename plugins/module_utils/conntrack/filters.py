# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which flows to keep: filters checked once (with messages that say what is wrong), then a fast predicate.

Addresses and ports match the original tuple (as ``conntrack -L -s/-d/--sport/--dport`` do); ``address``
matches any address of either tuple, so a service probe finds its flow by the backend too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackFilterError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.flow import (
    PROTOCOL_NAMES, PROTOCOL_NUMBERS, STATUS_NAMES, TCP_STATES)

FILTER_KEYS = ("src", "dst", "address", "src_port", "dst_port", "protocol", "zone", "mark", "tcp_state",
               "status", "family")


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def parse_network(name, value):
    """An address or a CIDR -> ip_network; ConntrackFilterError saying what is wrong otherwise."""
    text = str(value).strip()
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    if "/" in text:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ConntrackFilterError("%s: %r is not an IP address or a CIDR" % (name, value))
        raise ConntrackFilterError("%s: %r is a CIDR with host bits set; did you mean %s?" % (name, value, loose))
    raise ConntrackFilterError("%s: %r is not an IP address or a CIDR" % (name, value))


def _port(name, value):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConntrackFilterError("%s: %r is not a port number" % (name, value))
    if not 0 <= port <= 65535:
        raise ConntrackFilterError("%s: %d is not a port number (0-65535)" % (name, port))
    return port


def parse_protocol(value):
    """A protocol name (tcp, udp, icmp, icmpv6, sctp...) or number -> number."""
    text = str(value).strip().lower()
    if text.isdigit() and int(text) < 256:
        return int(text)
    if text in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[text]
    raise ConntrackFilterError("protocol: %r is not a protocol name (%s) or number 0-255"
                               % (value, ", ".join(sorted(PROTOCOL_NAMES.values()))))


def parse_mark(value):
    """``42``, ``0x2a`` or ``0x2a/0xff`` -> (value, mask)."""
    text = str(value).strip()
    mark, _sep, mask = text.partition("/")
    try:
        mark_value = int(mark, 0)
        mask_value = int(mask, 0) if mask else 0xFFFFFFFF
    except ValueError:
        raise ConntrackFilterError("mark: %r is not a number or VALUE/MASK (e.g. 0x10/0xff)" % (value,))
    if not (0 <= mark_value <= 0xFFFFFFFF and 0 <= mask_value <= 0xFFFFFFFF):
        raise ConntrackFilterError("mark: %r is outside 32 bits" % (value,))
    return mark_value, mask_value


def _names(name, values, known):
    out = []
    for value in values:
        text = str(value).strip().upper().strip("[]")
        if text not in known:
            raise ConntrackFilterError("%s: unknown name %r; known: %s" % (name, value, ", ".join(known)))
        out.append(text)
    return out


class FlowFilter(object):
    """``FlowFilter(src=['10.0.0.0/24'], dst_port=80, tcp_state=['SYN_SENT'], status=['UNREPLIED'])``.

    Every given filter must match (AND); within one list filter any item may match (OR), except ``status``,
    where every listed status must be present. ``flow_filter(flow)`` returns True to keep a flow.
    """

    def __init__(self, **filters):
        unknown = set(filters) - set(FILTER_KEYS)
        if unknown:
            raise ConntrackFilterError("unknown filter %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(FILTER_KEYS)))
        self.src = [parse_network("src", v) for v in _as_list(filters.get("src"))]
        self.dst = [parse_network("dst", v) for v in _as_list(filters.get("dst"))]
        self.address = [parse_network("address", v) for v in _as_list(filters.get("address"))]
        self.src_port = _port("src_port", filters["src_port"]) if filters.get("src_port") is not None else None
        self.dst_port = _port("dst_port", filters["dst_port"]) if filters.get("dst_port") is not None else None
        self.protocol = parse_protocol(filters["protocol"]) if filters.get("protocol") not in (None, "") else None
        zone = filters.get("zone")
        if zone is not None:
            try:
                zone = int(zone)
            except (TypeError, ValueError):
                raise ConntrackFilterError("zone: %r is not a number" % (zone,))
            if not 0 <= zone <= 65535:
                raise ConntrackFilterError("zone: %d is not a conntrack zone (0-65535)" % zone)
        self.zone = zone
        self.mark = parse_mark(filters["mark"]) if filters.get("mark") not in (None, "") else None
        self.tcp_state = set(_names("tcp_state", _as_list(filters.get("tcp_state")), TCP_STATES))
        self.status = _names("status", _as_list(filters.get("status")), STATUS_NAMES)
        family = filters.get("family")
        if family not in (None, "", 4, 6, "4", "6", "ipv4", "ipv6"):
            raise ConntrackFilterError("family: %r is not ipv4 or ipv6" % (family,))
        self.family = None if family in (None, "") else ("ipv6" if str(family) in ("6", "ipv6") else "ipv4")
        # exact addresses compare as text (fast); networks need ipaddress
        self._exact = {}
        for name in ("src", "dst", "address"):
            nets = getattr(self, name)
            if nets and all(n.num_addresses == 1 for n in nets):
                self._exact[name] = set(str(n.network_address) for n in nets)
        self.empty = not any((self.src, self.dst, self.address, self.src_port is not None,
                              self.dst_port is not None, self.protocol is not None, self.zone is not None,
                              self.mark is not None, self.tcp_state, self.status, self.family))

    def kernel_family(self):
        """4, 6 or None: the family to ask the kernel for, from ``family`` or the address filters."""
        if self.family:
            return 6 if self.family == "ipv6" else 4
        versions = set(n.version for n in self.src + self.dst)
        return versions.pop() if len(versions) == 1 else None

    def _in(self, name, addr):
        if addr is None:
            return False
        exact = self._exact.get(name)
        if exact is not None:
            return addr in exact
        ip = ipaddress.ip_address(addr)
        return any(ip in net for net in getattr(self, name))

    def __call__(self, flow):
        if self.empty:
            return True
        orig = flow.get("original") or {}
        if self.protocol is not None and flow.get("protocolIdentifier") != self.protocol:
            return False
        if self.family and flow.get("family") != self.family:
            return False
        if self.src_port is not None and orig.get("src_port") != self.src_port:
            return False
        if self.dst_port is not None and orig.get("dst_port") != self.dst_port:
            return False
        if self.zone is not None and flow.get("zone") != self.zone:
            return False
        if self.mark is not None and (flow.get("mark") or 0) & self.mark[1] != self.mark[0] & self.mark[1]:
            return False
        if self.tcp_state and flow.get("tcpState") not in self.tcp_state:
            return False
        if self.status:
            have = flow.get("status") or ()
            if any(s not in have for s in self.status):
                return False
        if self.src and not self._in("src", orig.get("src")):
            return False
        if self.dst and not self._in("dst", orig.get("dst")):
            return False
        if self.address:
            reply = flow.get("reply") or {}
            if not any(self._in("address", a) for a in (orig.get("src"), orig.get("dst"), reply.get("src"), reply.get("dst"))):
                return False
        return True

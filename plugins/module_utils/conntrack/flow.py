# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One conntrack entry as a flow dict, the same whether it came from netlink or from ``conntrack -L`` text.

Keys are the IPFIX information element names where one exists (``sourceIPv4Address``, ``protocolIdentifier``,
``packetTotalCount``, ``reverseOctetTotalCount``, ``flowStartSeconds``, ``tcpState``, ``destinationClusterIPv4``, ``postNATSourceIPv4Address``
...), so facts, IPFIX records and the aggregator speak one vocabulary; conntrack's own notions that IPFIX has
no element for keep plain names (``original``, ``reply``, ``nat``, ``status``, ``timeout``, ``mark``, ``zone``,
``id``, ``accounting``). docs/conntrack.md lists them all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# enum tcp_conntrack (include/uapi/linux/netfilter/nf_conntrack_tcp.h); 9 was LISTEN before 3.x
TCP_STATES = ("NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK",
              "TIME_WAIT", "CLOSE", "SYN_SENT2")
# enum sctp_conntrack
SCTP_STATES = ("NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT",
               "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED")
# enum ip_conntrack_status bits (include/uapi/linux/netfilter/nf_conntrack_common.h)
STATUS_BITS = ("EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT", "SEQ_ADJUST",
               "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT", "TEMPLATE", "NAT_CLASH", "HELPER",
               "OFFLOAD", "HW_OFFLOAD")
# Not a kernel bit: what conntrack -L prints when SEEN_REPLY is missing; kept in ``status`` for filters and people.
UNREPLIED = "UNREPLIED"
STATUS_NAMES = STATUS_BITS + (UNREPLIED,)

PROTOCOL_NAMES = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 58: "icmpv6", 132: "sctp",
                  136: "udplite"}
PROTOCOL_NUMBERS = dict((v, k) for k, v in PROTOCOL_NAMES.items())
PROTOCOL_NUMBERS.update({"ipv6-icmp": 58, "icmp6": 58})
ICMP = (1, 58)

# flowEndReason (IANA): the conntrack entry is still alive -> active timeout; gone -> end of flow detected
END_ACTIVE = 2
END_OF_FLOW = 3

_STATUS_CACHE = {}


def status_names(bits):
    """Names of the set bits of ``ip_conntrack_status``, plus UNREPLIED when SEEN_REPLY is missing."""
    names = _STATUS_CACHE.get(bits)
    if names is None:
        names = tuple(name for i, name in enumerate(STATUS_BITS) if bits & (1 << i))
        if not bits & 2:
            names += (UNREPLIED,)
        if len(_STATUS_CACHE) < 4096:
            _STATUS_CACHE[bits] = names
    return list(names)


def make_flow(family, proto, orig, reply, status, tcp_state=None, timeout=None, mark=0, zone=0, ct_id=None,
              counters=None, start_ns=None, stop_ns=None, helper=None):
    """The flow dict of one entry.

    ``family`` 4 or 6; ``orig``/``reply`` tuple dicts ``{src, dst, src_port, dst_port}`` (ICMP: ``icmp_type``,
    ``icmp_code``, ``icmp_id`` instead of ports); ``status`` the list of status names; ``counters``
    ``(packets, bytes, reverse packets, reverse bytes)`` or None when accounting is off; ``start_ns``/``stop_ns``
    the kernel's timestamps in epoch nanoseconds, None when timestamping is off.
    """
    v6 = family == 6
    flow = {
        "id": ct_id,
        "family": "ipv6" if v6 else "ipv4",
        "protocol": PROTOCOL_NAMES.get(proto, str(proto)),
        "protocolIdentifier": proto,
        # As Antrea's exporter: the destination is where the packets really go (the reply's source, the
        # backend after DNAT), so the source and destination nodes report the same 5-tuple.
        ("sourceIPv6Address" if v6 else "sourceIPv4Address"): orig.get("src"),
        ("destinationIPv6Address" if v6 else "destinationIPv4Address"): reply.get("src"),
        "original": orig,
        "reply": reply,
        "tcpState": tcp_state,
        "status": status,
        "timeout": timeout,
        "mark": mark,
        "zone": zone,
        "helper": helper,
        "accounting": counters is not None,
    }
    icmp = proto in ICMP
    if icmp:
        flow["icmpTypeCodeIPv6" if v6 else "icmpTypeCodeIPv4"] = (orig.get("icmp_type", 0) << 8) | orig.get("icmp_code", 0)
    else:
        flow["sourceTransportPort"] = orig.get("src_port")
        flow["destinationTransportPort"] = reply.get("src_port")
    nat = []
    # The reply tuple is the original one reversed unless NAT rewrote it (the kernel's SRC_NAT/DST_NAT rule).
    if reply.get("src") != orig.get("dst") or reply.get("src_port") != orig.get("dst_port"):
        nat.append("dnat")
        flow["destinationClusterIPv6" if v6 else "destinationClusterIPv4"] = orig.get("dst")
        if not icmp:
            flow["destinationServicePort"] = orig.get("dst_port")
    if reply.get("dst") != orig.get("src") or reply.get("dst_port") != orig.get("src_port"):
        nat.append("snat")
        flow["postNATSourceIPv6Address" if v6 else "postNATSourceIPv4Address"] = reply.get("dst")
        if not icmp:
            flow["postNAPTSourceTransportPort"] = reply.get("dst_port")
    flow["nat"] = nat
    if counters is None:
        flow["packetTotalCount"] = flow["octetTotalCount"] = None
        flow["reversePacketTotalCount"] = flow["reverseOctetTotalCount"] = None
    else:
        (flow["packetTotalCount"], flow["octetTotalCount"],
         flow["reversePacketTotalCount"], flow["reverseOctetTotalCount"]) = counters
    if start_ns:
        flow["flowStartMilliseconds"] = start_ns // 1000000
        flow["flowStartSeconds"] = start_ns // 1000000000
    else:
        flow["flowStartMilliseconds"] = flow["flowStartSeconds"] = None
    if stop_ns:
        flow["flowEndMilliseconds"] = stop_ns // 1000000
        flow["flowEndSeconds"] = stop_ns // 1000000000
    return flow


def endpoint_text(addr, port, proto):
    """``10.0.0.1:80``, ``[fd00::1]:80``, or the bare address for ICMP and a missing port."""
    if addr is not None and ":" in addr:
        addr = "[%s]" % addr
    return addr if port is None or proto in ICMP else "%s:%s" % (addr, port)


def tuple_text(tup, proto):
    """``10.0.0.1:40000 -> 10.0.0.2:80`` (IPv6 in brackets), the way observations and messages show a tuple."""
    return "%s -> %s" % (endpoint_text(tup.get("src"), tup.get("src_port"), proto),
                         endpoint_text(tup.get("dst"), tup.get("dst_port"), proto))

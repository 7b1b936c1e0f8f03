# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compiled layouts: decode a ctnetlink message with two ``struct`` calls instead of an attribute walk.

The kernel writes every entry of the same kind (family, protocol, extensions such as accounting or zones) with
the same attributes at the same offsets. The first message of a kind is walked once; its layout becomes two
``struct.Struct`` formats, one reading every attribute header (host order), one reading every value (network
order), and a small builder made from a fixed vocabulary of names (no input reaches the generated code). A
later message uses the layout only if all its attribute headers are exactly the learned ones (one tuple
comparison); anything else goes through the generic decoder (netlink.decode_entry), which gives the same dict.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.flow import TCP_STATES, make_flow, status_names

_NLA = struct.Struct("=HH").unpack_from

# attribute path -> (name, struct code of its payload); include/uapi/linux/netfilter/nfnetlink_conntrack.h
_LEAVES = {(3,): ("status", "I"), (4, 1, 1): ("tcp_state", "B"), (7,): ("timeout", "I"), (8,): ("mark", "I"),
           (9, 1): ("op", "Q"), (9, 2): ("ob", "Q"), (10, 1): ("rp", "Q"), (10, 2): ("rb", "Q"),
           (12,): ("id", "I"), (18,): ("zone", "H"), (20, 1): ("start", "Q"), (20, 2): ("stop", "Q"),
           (1, 2, 1): ("proto", "B"), (1, 3): ("tzone", "H")}
for _side, _p in ((1, "o_"), (2, "r_")):
    _LEAVES.update({(_side, 1, 1): (_p + "src", "4s"), (_side, 1, 2): (_p + "dst", "4s"),
                    (_side, 1, 3): (_p + "src", "16s"), (_side, 1, 4): (_p + "dst", "16s"),
                    (_side, 2, 2): (_p + "src_port", "H"), (_side, 2, 3): (_p + "dst_port", "H"),
                    (_side, 2, 4): (_p + "icmp_id", "H"), (_side, 2, 5): (_p + "icmp_type", "B"),
                    (_side, 2, 6): (_p + "icmp_code", "B"), (_side, 2, 7): (_p + "icmp_id", "H"),
                    (_side, 2, 8): (_p + "icmp_type", "B"), (_side, 2, 9): (_p + "icmp_code", "B")})
_NESTED = frozenset([(1,), (2,), (1, 1), (1, 2), (2, 1), (2, 2), (4,), (4, 1), (9,), (10,), (20,)])
# present -> the generic decoder handles the message (helper names, old 32-bit counters)
_GENERIC = frozenset([(5,), (9, 3), (9, 4), (10, 3), (10, 4)])
_STATE_NAMES = tuple(TCP_STATES[i] if i < len(TCP_STATES) else str(i) for i in range(256))
_TUPLE_KEYS = ("src", "dst", "src_port", "dst_port", "icmp_id", "icmp_type", "icmp_code")


def _walk(buf, pos, end, path, headers, leaves):
    while pos + 4 <= end:
        alen, atype = _NLA(buf, pos)
        if alen < 4 or pos + alen > end:
            return False
        here = path + (atype & 0x3FFF,)
        headers.append(pos)
        if here in _GENERIC:
            return False
        if here in _NESTED:
            if not _walk(buf, pos + 4, pos + alen, here, headers, leaves):
                return False
        elif here in _LEAVES:
            name, code = _LEAVES[here]
            if struct.calcsize(">" + code) != alen - 4:
                return False
            leaves.append((pos + 4, name, code))
        pos += (alen + 3) & ~3
    return True


def _format(order, start, fields):
    parts = [order]
    cur = start
    for offset, code in fields:
        if offset < cur:
            return None
        if offset > cur:
            parts.append("%dx" % (offset - cur))
        parts.append(code)
        cur = offset + struct.calcsize(order + code)
    return struct.Struct("".join(parts))


def _tuple_source(prefix, index):
    items = []
    for key in _TUPLE_KEYS:
        name = prefix + key
        if name in index:
            value = "A(v[%d])" % index[name] if key in ("src", "dst") else "v[%d]" % index[name]
            items.append("%r: %s" % (key, value))
    return "{%s}" % ", ".join(items)


def compile_layout(buf, start, end, family):
    """``(header unpack, expected headers, value unpack, build)`` for the message at buf[start:end], or None."""
    headers = []
    leaves = []
    if not _walk(buf, start, end, (), headers, leaves):
        return None
    names = [leaf[1] for leaf in leaves]
    if len(set(names)) != len(names) or not {"o_src", "o_dst", "r_src", "r_dst"} <= set(names):
        return None
    header_struct = _format("=", start, [(h, "HH") for h in headers])
    value_struct = _format(">", start, [(offset, code) for offset, _name, code in leaves])
    if header_struct is None or value_struct is None:
        return None
    index = dict((name, i) for i, name in enumerate(names))

    def val(name, default="None"):
        return "v[%d]" % index[name] if name in index else default

    counters = "None"
    if any(n in index for n in ("op", "ob", "rp", "rb")):
        counters = "(%s, %s, %s, %s)" % (val("op", "0"), val("ob", "0"), val("rp", "0"), val("rb", "0"))
    proto = val("proto", "0")
    state = "(T[%s] if %s == 6 else None)" % (val("tcp_state"), proto) if "tcp_state" in index else "None"
    zone = val("zone") if "zone" in index else val("tzone", "0")
    source = (
        "def build(v):\n"
        "    return F(%d, %s, %s, %s, S(%s), tcp_state=%s, timeout=%s, mark=%s, zone=%s, ct_id=%s,\n"
        "             counters=%s, start_ns=%s, stop_ns=%s)\n"
        % (6 if family == 10 else 4, proto, _tuple_source("o_", index), _tuple_source("r_", index),
           val("status", "0"), state, val("timeout"), val("mark", "0"), zone, val("id"), counters,
           val("start"), val("stop")))
    scope = {"F": make_flow, "S": status_names, "T": _STATE_NAMES, "A": _ADDRESS or _address}
    exec(compile(source, "<conntrack layout>", "exec"), scope)  # pylint: disable=exec-used
    return (header_struct.unpack_from, header_struct.unpack_from(buf, start), value_struct.unpack_from,
            scope["build"])


def _address(raw):
    return _ADDRESS(raw)


_ADDRESS = None


def set_address_function(func):
    """netlink.py hands over its cached address formatter (avoids an import cycle)."""
    global _ADDRESS  # pylint: disable=global-statement
    _ADDRESS = func

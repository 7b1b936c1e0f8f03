# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A decoder for ``NFT_MSG_TRACE`` netlink messages (pyroute2 has none).

The kernel sends one message per rule, chain return or base-chain policy a traced packet meets, on the
multicast group ``NFNLGRP_NFTRACE`` of its network namespace. Each is a netlink header, an ``nfgenmsg``
(the table's family) and ``NFTA_TRACE_*`` attributes (include/uapi/linux/netfilter/nf_tables.h).

These bytes come from the kernel of a node, so the decoder trusts nothing: every length is checked against
what is left, a malformed message raises ``TraceDecodeError`` (or is skipped by ``decode_stream``), and a
single buffer yields at most ``MAX_MESSAGES`` messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

NFNL_SUBSYS_NFTABLES = 10
NFT_MSG_TRACE = 17
TRACE_MSG_TYPE = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_TRACE
NLMSG_ERROR = 2
MAX_MESSAGES = 4096
MAX_STRING = 256            # table and chain names are at most 256 bytes (NFT_NAME_MAXLEN)
MAX_HEADER = 512            # header copies the kernel sends are short; longer ones are cut

FAMILIES = {0: "unspec", 1: "inet", 2: "ip", 3: "arp", 5: "netdev", 7: "bridge", 10: "ip6"}
TRACE_TYPES = {0: "unspec", 1: "policy", 2: "return", 3: "rule"}
VERDICTS = {0: "drop", 1: "accept", 2: "stolen", 3: "queue", 4: "repeat", 5: "stop",
            -1: "continue", -2: "break", -3: "jump", -4: "goto", -5: "return"}

# NFTA_TRACE_* attribute numbers
A_TABLE, A_CHAIN, A_RULE_HANDLE, A_TYPE, A_VERDICT, A_ID = 1, 2, 3, 4, 5, 6
A_LL, A_NETWORK, A_TRANSPORT = 7, 8, 9
A_IIF, A_IIFTYPE, A_OIF, A_OIFTYPE, A_MARK, A_NFPROTO, A_POLICY = 10, 11, 12, 13, 14, 15, 16
# NFTA_VERDICT_*
V_CODE, V_CHAIN = 1, 2

_NLMSGHDR = struct.Struct("=IHHII")
_ATTR = struct.Struct("=HH")
_BE32 = struct.Struct(">I")
_BE32S = struct.Struct(">i")
_BE16 = struct.Struct(">H")
_BE64 = struct.Struct(">Q")
NLA_TYPE_MASK = 0x3FFF


class TraceDecodeError(TracekitError):
    """A trace message that does not follow the kernel's layout; the message says what was wrong."""


def _attrs(data, start, end, what):
    """Yield (type, payload bytes) of the netlink attributes in data[start:end]."""
    pos = start
    count = 0
    while pos + 4 <= end:
        length, atype = _ATTR.unpack_from(data, pos)
        if length < 4 or pos + length > end:
            raise TraceDecodeError("%s: attribute at offset %d has length %d, %d bytes left"
                                   % (what, pos - start, length, end - pos))
        count += 1
        if count > 256:
            raise TraceDecodeError("%s: more than 256 attributes" % what)
        yield atype & NLA_TYPE_MASK, data[pos + 4:pos + length]
        pos += (length + 3) & ~3
    if pos < end and end - pos >= 4:
        raise TraceDecodeError("%s: %d trailing bytes" % (what, end - pos))


def _string(raw, what):
    raw = raw.split(b"\0", 1)[0]
    if len(raw) > MAX_STRING:
        raise TraceDecodeError("%s is longer than %d bytes" % (what, MAX_STRING))
    return raw.decode("utf-8", "replace")


def _u(struct_, raw, what):
    if len(raw) != struct_.size:
        raise TraceDecodeError("%s has %d bytes, expected %d" % (what, len(raw), struct_.size))
    return struct_.unpack(raw)[0]


def verdict_name(code):
    """A verdict code as nft prints it: drop, accept, jump, goto, return, continue, queue..."""
    if code >= 0:
        return VERDICTS.get(code & 0xFF, "verdict %d" % (code & 0xFF))
    return VERDICTS.get(code, "verdict %d" % code)


def _verdict(raw):
    out = {"code": None, "verdict": None, "target": None}
    for atype, payload in _attrs(raw, 0, len(raw), "NFTA_TRACE_VERDICT"):
        if atype == V_CODE:
            code = _u(_BE32S, payload, "NFTA_VERDICT_CODE")
            out["code"] = code
            out["verdict"] = verdict_name(code)
        elif atype == V_CHAIN:
            out["target"] = _string(payload, "NFTA_VERDICT_CHAIN")
    return out


def decode_payload(family_byte, data, start, end):
    """The dict of one trace message's attributes (``data[start:end]`` past the nfgenmsg)."""
    msg = {"family": FAMILIES.get(family_byte, str(family_byte)), "id": None, "type": None, "table": None,
           "chain": None, "handle": None, "verdict": None, "verdict_code": None, "jump_target": None,
           "policy": None, "nfproto": None, "iif": None, "oif": None, "mark": None,
           "network_header": None, "transport_header": None}
    for atype, payload in _attrs(data, start, end, "NFT_MSG_TRACE"):
        if atype == A_TABLE:
            msg["table"] = _string(payload, "NFTA_TRACE_TABLE")
        elif atype == A_CHAIN:
            msg["chain"] = _string(payload, "NFTA_TRACE_CHAIN")
        elif atype == A_RULE_HANDLE:
            msg["handle"] = _u(_BE64, payload, "NFTA_TRACE_RULE_HANDLE")
        elif atype == A_TYPE:
            code = _u(_BE32, payload, "NFTA_TRACE_TYPE")
            msg["type"] = TRACE_TYPES.get(code, str(code))
        elif atype == A_VERDICT:
            verdict = _verdict(payload)
            msg["verdict"], msg["verdict_code"], msg["jump_target"] = (
                verdict["verdict"], verdict["code"], verdict["target"])
        elif atype == A_ID:
            msg["id"] = "%08x" % _u(_BE32, payload, "NFTA_TRACE_ID")
        elif atype == A_NETWORK:
            msg["network_header"] = payload[:MAX_HEADER].hex()
        elif atype == A_TRANSPORT:
            msg["transport_header"] = payload[:MAX_HEADER].hex()
        elif atype == A_IIF:
            msg["iif"] = _u(_BE32, payload, "NFTA_TRACE_IIF")
        elif atype == A_OIF:
            msg["oif"] = _u(_BE32, payload, "NFTA_TRACE_OIF")
        elif atype == A_MARK:
            msg["mark"] = _u(_BE32, payload, "NFTA_TRACE_MARK")
        elif atype == A_NFPROTO:
            code = _u(_BE32, payload, "NFTA_TRACE_NFPROTO")
            msg["nfproto"] = FAMILIES.get(code, str(code))
        elif atype == A_POLICY:
            code = _u(_BE32, payload, "NFTA_TRACE_POLICY")
            msg["policy"] = verdict_name(code - (1 << 32) if code & 0x80000000 else code)
    if msg["type"] == "policy" and msg["verdict"] is None and msg["policy"] is not None:
        msg["verdict"] = msg["policy"]
    return msg


def decode_stream(data, max_messages=MAX_MESSAGES):
    """Decode one recv() buffer. Returns (messages, errors): trace dicts, and the text of each malformed one.

    A malformed message is reported and skipped when its length lets the next one be found; otherwise the
    rest of the buffer is given up (reported once).
    """
    out, errors = [], []
    pos = 0
    size = len(data)
    while pos + _NLMSGHDR.size <= size:
        if len(out) + len(errors) >= max_messages:
            errors.append("more than %d messages in one buffer; the rest is ignored" % max_messages)
            break
        length, mtype, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, pos)
        if length < _NLMSGHDR.size or pos + length > size:
            errors.append("netlink message at offset %d has length %d, %d bytes left" % (pos, length, size - pos))
            break
        end = pos + length
        if mtype == TRACE_MSG_TYPE:
            if length < _NLMSGHDR.size + 4:
                errors.append("trace message at offset %d has no nfgenmsg" % pos)
            else:
                family = data[pos + _NLMSGHDR.size]
                try:
                    out.append(decode_payload(family, data, pos + _NLMSGHDR.size + 4, end))
                except TraceDecodeError as exc:
                    errors.append(str(exc))
        pos += (length + 3) & ~3
    return out, errors


def network_tag(header_hex):
    """(version, dscp, ip_id or flow_label) of an IP header copy, or None when it is not one."""
    if not header_hex:
        return None
    try:
        raw = bytes.fromhex(header_hex)
    except ValueError:
        return None
    if len(raw) >= 20 and raw[0] >> 4 == 4:
        return 4, raw[1] >> 2, _BE16.unpack_from(raw, 4)[0]
    if len(raw) >= 40 and raw[0] >> 4 == 6:
        word = _BE32.unpack_from(raw, 0)[0]
        return 6, (word >> 22) & 0x3F, word & 0xFFFFF
    return None

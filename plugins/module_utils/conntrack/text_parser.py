# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``conntrack -L`` / ``-E`` text (default and ``-o extended``, with ``id``, ``ktimestamp``) and
``/proc/net/nf_conntrack`` -> the flow list the netlink reader gives (flow.py), so saved outputs read offline.

One pass, one line at a time, no backtracking regular expression: linear in the input. Anything that is not such
a line raises ConntrackParseError naming the line; a summary line of conntrack-tools is skipped.

Text shows less than netlink: status has UNREPLIED, ASSURED, OFFLOAD and HW_OFFLOAD, and SEEN_REPLY,
CONFIRMED, SRC_NAT, DST_NAT derived from them and the tuples (how the kernel sets them); the other status
bits and the conntrack id (without ``-o id``) are not in the text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import ipaddress
import re
import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackParseError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.flow import (
    PROTOCOL_NUMBERS, SCTP_STATES, STATUS_BITS, TCP_STATES, make_flow, status_names)

MAX_LINE = 8192
_BIT = dict((name, 1 << i) for i, name in enumerate(STATUS_BITS))
_FLAGS = {"ASSURED": _BIT["ASSURED"], "OFFLOAD": _BIT["OFFLOAD"], "HW_OFFLOAD": _BIT["HW_OFFLOAD"],
          "UNREPLIED": 0}
_EVENTS = ("NEW", "UPDATE", "DESTROY")
_STATES = frozenset(TCP_STATES + SCTP_STATES + ("LISTEN", "SYN_SENT2", "NONE", "REQUEST", "RESPOND", "PARTOPEN",
                                                "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT", "INVALID", "IGNORE"))
_INT_KEYS = frozenset(("sport", "dport", "type", "code", "id", "packets", "bytes", "mark", "zone", "use",
                       "delta-time", "secmark", "zone-orig", "zone-reply", "timeout", "portid"))
_TUPLE_KEYS = {"sport": "src_port", "dport": "dst_port", "type": "icmp_type", "code": "icmp_code"}
_ADDRS = {}
# ASCII digits only: str.isdigit() also takes characters such as superscripts, which int() refuses
_NUMBER = re.compile(r"[0-9]+\Z").match


def _addr(text, lineno):
    norm = _ADDRS.get(text)
    if norm is None:
        try:
            norm = str(ipaddress.ip_address(text))
        except ValueError:
            raise ConntrackParseError("line %d: %r is not an IP address" % (lineno, text[:64]))
        if len(_ADDRS) > 100000:
            _ADDRS.clear()
        _ADDRS[text] = norm
    return norm


def _timestamp(text, lineno):
    """``Sun Nov 29 19:13:18 2026`` (conntrack prints local time) -> epoch ns."""
    try:
        parsed = time.strptime(text.strip(), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        raise ConntrackParseError("line %d: %r is not a conntrack timestamp" % (lineno, text[:64]))
    return int(time.mktime(parsed)) * 1000000000


def _brackets(line, lineno):
    """Split ``[...]`` groups (flags, events, timestamps) from the rest of the line."""
    groups = []
    rest = []
    pos = 0
    while True:
        start = line.find("[", pos)
        if start < 0:
            rest.append(line[pos:])
            break
        end = line.find("]", start)
        if end < 0:
            raise ConntrackParseError("line %d: unbalanced '[' in %r" % (lineno, line[:120]))
        rest.append(line[pos:start])
        rest.append(" ")
        groups.append(line[start + 1:end])
        pos = end + 1
    return groups, "".join(rest)


def parse_line(line, lineno=1):
    """One line -> flow dict, or None for a blank or summary line."""
    if len(line) > MAX_LINE:
        raise ConntrackParseError("line %d: longer than %d characters, not a conntrack entry" % (lineno, MAX_LINE))
    text = line.strip()
    if not text or text.startswith("conntrack v") or text.startswith("#"):
        return None
    groups, rest = _brackets(text, lineno)
    tokens = rest.split()
    bits = _BIT["CONFIRMED"]
    unreplied = False
    event = None
    start = stop = None
    for group in groups:
        group = group.strip()
        if group in _FLAGS:
            bits |= _FLAGS[group]
            unreplied = unreplied or group == "UNREPLIED"
        elif group in _EVENTS:
            event = group
        elif group.startswith("start="):
            start = _timestamp(group[6:], lineno)
        elif group.startswith("stop="):
            stop = _timestamp(group[5:], lineno)
        elif group == "USERSPACE":
            continue        # conntrack -E: the event came from a program (conntrack -D), not the kernel
        elif group in ("UNTRACKED", "DYING", "CONFIRMED", "SEEN_REPLY", "EXPECTED", "FIXED_TIMEOUT", "TEMPLATE"):
            bits |= _BIT.get(group, 0)
        else:
            raise ConntrackParseError("line %d: unknown flag [%s]" % (lineno, group[:40]))
    i = 0
    family = None
    if len(tokens) >= 2 and tokens[0] in ("ipv4", "ipv6") and _NUMBER(tokens[1]):
        family = 6 if tokens[0] == "ipv6" else 4
        i = 2
    if len(tokens) < i + 2 or not _NUMBER(tokens[i + 1]) or "=" in tokens[i]:
        raise ConntrackParseError("line %d: expected 'PROTOCOL NUMBER' (e.g. 'tcp 6') at the start of %r"
                                  % (lineno, text[:120]))
    proto = int(tokens[i + 1])
    if proto > 255 or (tokens[i] in PROTOCOL_NUMBERS and PROTOCOL_NUMBERS[tokens[i]] != proto
                       and tokens[i] not in ("unknown",)):
        raise ConntrackParseError("line %d: protocol %s %s does not exist" % (lineno, tokens[i], tokens[i + 1]))
    i += 2
    timeout = None
    if i < len(tokens) and _NUMBER(tokens[i]):
        timeout = int(tokens[i])
        i += 1
    tcp_state = None
    if i < len(tokens) and "=" not in tokens[i]:
        if tokens[i] not in _STATES:
            raise ConntrackParseError("line %d: unknown state %r" % (lineno, tokens[i][:40]))
        if proto == 6:
            tcp_state = tokens[i]
        i += 1
    tuples = [{}, {}]
    counters = [None, None]
    side = 0
    mark = zone = 0
    ct_id = helper = None
    for token in tokens[i:]:
        key, sep, value = token.partition("=")
        if not sep:
            raise ConntrackParseError("line %d: unexpected %r (key=value expected)" % (lineno, token[:40]))
        if key in _INT_KEYS:
            try:
                number = int(value, 0) if key == "mark" else int(value)
            except ValueError:
                raise ConntrackParseError("line %d: %s=%r is not a number" % (lineno, key, value[:40]))
        if key == "src":
            if "src" in tuples[side]:
                if side == 1:
                    raise ConntrackParseError("line %d: a third tuple (src= after the reply tuple)" % lineno)
                side = 1
            tuples[side]["src"] = _addr(value, lineno)
        elif key == "dst":
            tuples[side]["dst"] = _addr(value, lineno)
        elif key in _TUPLE_KEYS:
            tuples[side][_TUPLE_KEYS[key]] = number
        elif key == "id":
            tup = tuples[side]
            if "icmp_type" in tup and "icmp_id" not in tup and ct_id is None:
                tup["icmp_id"] = number
            else:
                ct_id = number
        elif key == "packets":
            counters[side] = [number, 0]
        elif key == "bytes":
            if counters[side] is None:
                counters[side] = [0, 0]
            counters[side][1] = number
        elif key == "mark":
            mark = number
        elif key == "zone":
            zone = number
        elif key == "helper":
            helper = value
        elif key in _INT_KEYS or key in ("secctx", "labels", "progname"):
            continue
        else:
            raise ConntrackParseError("line %d: unknown field %r" % (lineno, key[:40]))
    orig, reply = tuples
    for name, tup in (("original", orig), ("reply", reply)):
        if "src" not in tup or "dst" not in tup:
            raise ConntrackParseError("line %d: the %s tuple has no src= and dst=" % (lineno, name))
    v6 = ":" in orig["src"]
    if family is not None and (family == 6) != v6:
        raise ConntrackParseError("line %d: ipv%d line with %s addresses" % (lineno, family, "IPv6" if v6 else "IPv4"))
    if not unreplied:
        bits |= _BIT["SEEN_REPLY"]
    if reply["src"] != orig["dst"] or reply.get("src_port") != orig.get("dst_port"):
        bits |= _BIT["DST_NAT"]
    if reply["dst"] != orig["src"] or reply.get("dst_port") != orig.get("src_port"):
        bits |= _BIT["SRC_NAT"]
    acct = None
    if counters[0] is not None or counters[1] is not None:
        acct = tuple(counters[0] or (0, 0)) + tuple(counters[1] or (0, 0))
    flow = make_flow(6 if v6 else 4, proto, orig, reply, status_names(bits), tcp_state=tcp_state,
                     timeout=timeout, mark=mark, zone=zone, ct_id=ct_id, counters=acct, start_ns=start,
                     stop_ns=stop, helper=helper)
    if event:
        flow["event"] = event
    return flow


def parse_conntrack(text):
    """Every entry of ``conntrack -L``/``-E`` or /proc/net/nf_conntrack text -> list of flow dicts."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise ConntrackParseError("expected the text conntrack printed (a string), got %s" % type(text).__name__)
    flows = []
    collecting = gc.isenabled()
    gc.disable()        # flow dicts hold no cycles: spare the collector's rescans of a growing list
    try:
        for lineno, line in enumerate(text.splitlines(), 1):
            flow = parse_line(line, lineno)
            if flow is not None:
                flows.append(flow)
    finally:
        if collecting:
            gc.enable()
    return flows

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse VPP ``show trace`` output (VPP 17.01 to 26.x) into packets, their graph path and their fate.

The grammar, as printed by vlib/trace.c since 17.01:

* ``------------------- Start of thread N <name> -------------------`` opens a thread section (``show trace
  path`` of the tracepath plugin prints ``--- Thread N <name> ---``);
  ``No packets in trace buffer`` closes an empty one.
* ``Packet N`` opens a packet (docs and excerpts often drop it: a device input node then starts one).
* ``<timestamp>: <graph node>`` opens a node record; the timestamp is ``h:m:s:usec`` (relative, every
  version), ``<unix>.usec`` or ``YYYY-MM-DDTHH:MM:SS.usec`` (``set trace timestamp-format``, 26.x).
* every other line is detail of the current node (normally indented by two spaces, but copies in
  documents often lose that; whitespace-only lines occur inside entries).
* ``Limiting display to N packets. To display more specify max.`` is printed before the output by the
  CLI and again at the end of the thread's section (where it may be glued to the next thread header).

A drop is shown either as ``error-drop`` whose detail is ``<node>: <reason>`` (before 19.04) or as
``error-drop`` with ``rx:<interface>`` followed by ``drop`` with ``<node>: <reason>`` (19.04 and later);
punts are the same with ``error-punt`` / ``punt``.

The parser is a table of line kinds (``TRACE_LINE_KINDS``): adding a line kind is adding an entry.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import gc
import re
import time as _time
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

try:
    import ipaddress
except ImportError:  # pragma: no cover - Python 2 controllers are not supported by ansible-core 2.19
    ipaddress = None


class VppParseError(TracekitError, ValueError):
    """The text is not VPP CLI output of the expected kind, or breaks a bound; the message names the line."""


# Bounds on what one line and one number may be: VPP prints nothing near them, and they keep a damaged or
# hostile text from costing more than linear time or building absurd values.
MAX_LINE = 1 << 20
MAX_DIGITS = 20
MAX_TIMESTAMP = 64


def check_line_lengths(lines, what, limit=MAX_LINE):
    """Raise VppParseError naming the first line longer than ``limit`` characters."""
    if max(map(len, lines), default=0) <= limit:
        return
    for line_number, line in enumerate(lines, 1):
        if len(line) > limit:
            raise VppParseError("%s line %d is %d characters long: VPP prints no line longer than %d here, so this "
                                "is not its output (or it is damaged)" % (what, line_number, len(line), limit))


def number(text, what, where=None):
    """int of a run of ASCII digits (optionally signed), at most MAX_DIGITS of them; VppParseError otherwise."""
    digits = text[1:] if text[:1] in "+-" else text
    prefix = where + ": " if where else ""
    if not digits or not digits.isdigit() or not digits.isascii():
        raise VppParseError("%s%s %r is not a number" % (prefix, what, text[:40]))
    if len(digits) > MAX_DIGITS:
        raise VppParseError("%s%s has %d digits: VPP prints at most %d" % (prefix, what, len(digits), MAX_DIGITS))
    return int(text)


FATES = ("delivered", "dropped", "punted", "local", "truncated")

_TS = (r"(?P<time>[0-9]+:[0-9]{2}:[0-9]{2}:[0-9]{1,9}"                                 # relative h:m:s:usec
       r"|[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"      # datetime (26.x)
       r"|[0-9]{9,}\.[0-9]+)")                                                        # unix seconds (26.x)

# One entry per kind of structural line: (name, the characters it can start with, compiled regex matched
# against the whole line without its blanks). Every pattern is anchored and has no two quantifiers that
# can share a character, so a match costs time linear in the line. The lines between two structural lines
# are the detail of the node record opened by the first one.
TRACE_LINE_KINDS = (
    # "Limiting display ..." may be glued to the next thread's header (VPP prints no newline after it)
    ("thread", "-L", re.compile(
        r"""(?P<pre>Limiting[^-]*)?-{3,}[ \t]*(?:Start[ ]of[ ]thread|Thread)[ \t]+(?P<thread>[0-9]+)(?P<tail>.*)""", re.X)),
    ("limit", "L", re.compile(r"""Limiting[ ]display[ ]to[ ](?P<max>[0-9]+)[ ]packets.*""", re.X)),
    ("empty", "N", re.compile(r"""No[ ]packets[ ]in[ ]trace[ ]buffer""", re.X)),
    ("packet", "P", re.compile(r"""Packet[ \t]+(?P<index>[0-9]+)[ \t]*:?""", re.X)),
    ("node", "0123456789", re.compile(_TS + r"""[ \t]*:[ \t]+(?P<node>[A-Za-z0-9_][^\s]*)""", re.X)),
)
_LIMIT = TRACE_LINE_KINDS[1][2]
_MAX_STRUCTURE_LINE = 1024
# The first character (after indentation) of every structural line: other lines are not tried at all.
_STRUCTURE_FIRST = frozenset("".join(first for _name, first, _rx in TRACE_LINE_KINDS))
_KINDS_BY_FIRST = dict((c, tuple((name, rx) for name, first, rx in TRACE_LINE_KINDS if c in first))
                       for c in _STRUCTURE_FIRST)


def structural_line(line):
    """(kind, match) when the line opens a thread, a packet or a node record (or is a limit or empty
    marker), else (None, None)."""
    s = line.strip(" \t")
    for name, rx in _KINDS_BY_FIRST.get(s[:1], ()):
        m = rx.fullmatch(s)
        if m:
            return name, m
    return None, None


def _thread_name(tail):
    """The name after ``Thread N``: blanks and a closing run of three or more dashes removed."""
    name = tail.strip(" \t")
    bare = name.rstrip("-")
    if len(name) - len(bare) >= 3:
        name = bare.rstrip(" \t")
    return name or None


# Detail grammar: lines of the per-node text that carry facts about the packet (same table form; each
# entry matches after the newline and indentation of a detail line).
DETAIL_KINDS = (
    # "TCP: 10.0.0.1 -> 10.0.0.2", "UDP: fd00::1 -> fd00::2", "tcp 1234 -> 80", "IP4: mac -> mac 802.1q vlan 5"
    ("arrow", re.compile(
        r"""(?P<label>[A-Za-z][\w-]*):?[ ](?P<a>[0-9A-Fa-f][0-9A-Fa-f.:]*)[ ]->[ ](?P<b>[0-9A-Fa-f][0-9A-Fa-f.:]*)(?P<rest>[^\n]*)""",
        re.X)),
    # ARP body: "02:fe:d9:75:d5:b4/10.10.1.2 -> 00:00:00:00:00:00/10.10.1.1" (sender -> target)
    ("arp", re.compile(r"""(?P<smac>[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})/(?P<sip>[0-9.]+)[ ]->[ ]"""
                       r"""(?P<dmac>[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})/(?P<dip>[0-9.]+)""", re.X)),
    # "ICMP echo_request checksum 0xbfbf id 1", "ICMP6 echo_request ..."
    ("icmp", re.compile(r"""ICMP6?[ ](?P<type>[a-z][\w]*)""", re.X)),
    # "flags 0x02 SYN, tcp header: 40 bytes"
    ("tcp_flags", re.compile(r"""flags[ ]0x[0-9a-fA-F]+(?:[ ](?P<flags>[A-Z][A-Z ]*?))?,[ ]tcp[ ]header""", re.X)),
)
_DETAIL = re.compile(r"\n[ \t]*(?:" + "|".join(
    "(?P<d_%s>%s)" % (name, rx.pattern.replace("(?P<", "(?P<%s_" % name)) for name, rx in DETAIL_KINDS) + ")", re.X)

# Matched against the stripped first detail line: the reason runs to its end (no lazy group before blanks).
_DROP_REASON = re.compile(r"(?P<node>[^\s:][^\s]*?):[ \t]+(?P<reason>\S.*)")
_RX_IF = re.compile(r"^\s*rx:(?P<ifname>\S+)\s*$")
_SW_IF_INDEX = re.compile(r"sw[_-]if[_-]index[ :]+(?P<idx>[0-9]+)")
_RX_QUEUE = re.compile(r"^\s*(?P<ifname>\S+) rx queue [0-9]")
_HANDOFF_NODE = re.compile(r"handoff|-hoff$")
_HANDOFF = re.compile(r"HANDED-OFF: from thread (?P<thread>[0-9]+) trace index (?P<index>[0-9]+)")
_MAC = re.compile(r"^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$")
_VLAN = re.compile(r"802\.1(?:q|ad) vlan (?P<vlan>[0-9]+)")
_BLANK_LINE = re.compile(r"\n[ \t]*(?=\n)")

_DROP_NODES = frozenset(("error-drop", "drop"))
_PUNT_NODES = frozenset(("error-punt", "punt"))
# Graph nodes that hand the packet to VPP's own stack.
_LOCAL = re.compile(r"^(?:ip[46]-(?:local|receive)(?:-end-of-arc)?|ip[46]-icmp-input|tcp[46]-(?:input|listen|established|syn-sent)"
                    r"|udp[46]?-(?:input|local)|ip[46]-udp-lookup|arp-input|arp-reply|ip6-icmp-neighbor-solicitation)$")
# Nodes where VPP itself answers (the answer then leaves through an interface): the packet's fate is local.
_LOCAL_REPLY = re.compile(r"^(?:ip[46]-icmp-echo-request|icmp6-echo-request|ip6-icmp-echo-request|arp-reply"
                          r"|ip6-icmp-neighbor-solicitation|icmp6-neighbor-solicitation)$")
_ICMP_ERROR = re.compile(r"^ip[46]-icmp-error$|^icmp6-error$")
# Nodes named <x>-output / <x>-tx that are features or lookups, not an interface's output.
_NOT_INTERFACE_OUTPUT = frozenset((
    "l2-output", "ip4-output", "ip6-output", "mpls-output", "interface-output", "nsh-output",
    "ip4-mfib-forward-output", "ip6-mfib-forward-output", "adj-l2-midchain-output",
))
# Device input nodes: in an excerpt without "Packet N" headers, one of these starts a new packet.
_DEVICE_INPUT = re.compile(
    r"^(?:dpdk|af-packet|af_packet|af-xdp|af_xdp|virtio|vhost-user|memif|tapcli|tuntap|pg|avf|rdma|netmap|vmxnet3|ixge|"
    r"bond|host|ixgbe|i40e|ena|iavf|octeon|ssvm_eth|vrs|onp|mlx5)-input$|^(?:tapcli|tuntap)-rx$|^handoff_trace$")


def _detail_text(lines, first, end):
    """The detail block of one node record (lines[first:end]): whitespace-only lines removed, the two-space
    indent VPP puts before detail lines dropped (copies that lost it are kept as they are)."""
    if end - first == 1:
        return lines[first].strip()
    raw = "\n" + "\n".join(lines[first:end])
    if "\n\n" in raw or " \n" in raw or "\t\n" in raw or raw.endswith((" ", "\t")):
        raw = _BLANK_LINE.sub("", raw + "\n")
    return raw.replace("\n  ", "\n").strip("\n").rstrip()


def timestamp_format(value):
    """relative, unix or datetime, from one node timestamp as printed by VPP."""
    if "T" in value or "-" in value or " " in value:
        return "datetime"
    if "." in value:
        return "unix"
    return "relative"


def timestamp_seconds(value):
    """Seconds for a node timestamp: since VPP's main loop started (relative) or since the epoch."""
    if value is None:
        return None
    try:
        kind = timestamp_format(value)
        if kind == "relative":
            hours, minutes, secs, usecs = value.split(":")
            return int(hours) * 3600 + int(minutes) * 60 + int(secs) + int(usecs) / 1e6
        if kind == "unix":
            return float(value)
        main, _sep, frac = value.replace(" ", "T").partition(".")
        whole = calendar.timegm(_time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
        return whole + (float("0." + frac) if frac else 0.0)
    except (ValueError, OverflowError):
        return None


def _is_ip(value):
    if value.count(".") == 3:
        return True
    return ("::" in value or value.count(":") >= 2) and not _MAC.match(value)


# flow tuples: (ip_version, protocol, src, dst, sport, dport, icmp_type, tcp_flags)
FLOW_KEYS = ("ip_version", "protocol", "src", "dst", "sport", "dport", "icmp_type", "tcp_flags")


def _headers_in_detail(detail):
    """(flows, l2) printed in one node's detail: flows as lists in FLOW_KEYS order, l2 as a tuple or None."""
    flows = []
    l2 = None
    current = None
    for m in _DETAIL.finditer("\n" + detail):
        if m.group("d_arrow"):
            label, a, b = m.group("arrow_label"), m.group("arrow_a"), m.group("arrow_b")
            if _MAC.match(a) and _MAC.match(b):
                if l2 is None:
                    vlan = _VLAN.search(m.group("arrow_rest"))
                    l2 = (a.lower(), b.lower(), label.upper(), number(vlan.group("vlan"), "vlan") if vlan else None)
                current = None
            elif a.isdigit() and b.isdigit():
                proto = label.lower()
                ports = number(a, "%s port" % proto), number(b, "%s port" % proto)
                if current is not None and current[4] is None and proto == current[1]:
                    current[4], current[5] = ports
                elif current is None and proto in ("tcp", "udp", "sctp"):
                    current = [None, proto, None, None, ports[0], ports[1], None, None]
                    flows.append(current)
            elif _is_ip(a) and _is_ip(b):
                current = [6 if ":" in a else 4, label.lower(), a, b, None, None, None, None]
                flows.append(current)
        elif m.group("d_arp"):
            current = [4, "arp", m.group("arp_sip"), m.group("arp_dip"), None, None, None, None]
            flows.append(current)
        elif m.group("d_icmp"):
            if current is not None and current[1] in ("icmp", "icmp6") and current[6] is None:
                current[6] = m.group("icmp_type")
        elif m.group("d_tcp_flags"):
            if current is not None and current[1] == "tcp" and current[7] is None:
                flags = m.group("tcp_flags_flags")
                current[7] = flags.strip() if flags else ""
    return [tuple(f) for f in flows], l2


def _headers_cached(detail, cache):
    # Busy traces repeat the same headers packet after packet: parse each distinct detail once.
    found = cache.get(detail)
    if found is None:
        found = _headers_in_detail(detail)
        if len(cache) < 100000:
            cache[detail] = found
    return found


# Feature, adjacency and tunnel-encap nodes whose names end in -output/-tx but are not an interface's output.
_FEATURE_OUTPUT = re.compile(r"^(?:adj|ip[46]|l2|mpls|nsh|ipsec[46]?|esp[46]?|ah[46]?|gre[46]|vxlan[46]?|geneve[46]?|lisp"
                             r"|bier|nat\w*|acl\w*|policer|flow\w*|span|arp|ip6-nd)-")


def _interface_of_output(node, detail):
    """The interface name for an interface output/tx node, or None when the node is not one.

    VPP names an interface's nodes ``<interface>-output`` and ``<interface>-tx`` and prints the interface
    name first in the output node's detail; ``interface-output``/``interface-tx`` print only the name.
    """
    if node in ("interface-output", "interface-tx"):
        first = detail.split(None, 1)
        return first[0] if first and not first[0].startswith("sw_if_index") and ":" not in first[0] else None
    if node in _NOT_INTERFACE_OUTPUT:
        return None
    if node.endswith("-output"):
        name = node[:-7]
    elif node.endswith("-tx"):
        name = node[:-3]
    else:
        return None
    if detail and detail.split(None, 1)[0] == name:
        return name
    return None if _FEATURE_OUTPUT.match(node) else name


# What a graph node's name says about the packet; VPP has a few hundred node names, so this is cached.
_ROLE_DROP, _ROLE_PUNT, _ROLE_LOCAL, _ROLE_REPLY, _ROLE_ICMP_ERROR, _ROLE_OUTPUT, _ROLE_DROP_FEATURE, _ROLE_OTHER = range(8)


def _node_role(name, roles):
    found = roles.get(name)
    if found is None:
        if name in _DROP_NODES:
            found = (_ROLE_DROP, False, False)
        elif name in _PUNT_NODES:
            found = (_ROLE_PUNT, False, False)
        else:
            if name in ("interface-output", "interface-tx") or name.endswith(("-output", "-tx")):
                role = _ROLE_OUTPUT
            elif name.endswith("-drop"):
                role = _ROLE_DROP_FEATURE
            else:
                role = _ROLE_OTHER
            # (role, hands the packet to VPP's stack, VPP answers it)
            found = (role, bool(_LOCAL.match(name)), bool(_LOCAL_REPLY.match(name) or _ICMP_ERROR.match(name)))
        roles[name] = found
    return found


class _PathFacts:
    """What one walk along a packet's node records finds: headers, drops, outputs, local delivery."""

    __slots__ = ("flows", "l2", "drops", "outputs", "last_local", "local_reply", "icmp_error", "last_output_pos",
                 "last_processing_pos", "sw_if_index", "rx_interface")

    def __init__(self):
        self.flows = []
        self.l2 = None
        self.drops = []
        self.outputs = []
        self.last_local = None
        self.local_reply = False
        self.icmp_error = False
        self.last_output_pos = None
        self.last_processing_pos = None
        self.sw_if_index = None
        self.rx_interface = None


def _note_headers(facts, detail, cache):
    if "->" in detail:
        found = cache.get(detail) or _headers_cached(detail, cache)
        facts.flows.extend(found[0])
        if facts.l2 is None:
            facts.l2 = found[1]
    if facts.sw_if_index is None and "if" in detail:
        sw = _SW_IF_INDEX.search(detail)
        if sw:
            facts.sw_if_index = number(sw.group("idx"), "sw_if_index")


def _note_drop(facts, role, detail):
    """An error-drop/drop (or punt) record: 19.04+ prints rx:<interface> first, the reason in the next record."""
    kind = "punted" if role == _ROLE_PUNT else "dropped"
    rx = _RX_IF.match(detail)
    if rx:
        facts.rx_interface = facts.rx_interface or rx.group("ifname")
        facts.drops.append({"kind": kind, "node": None, "reason": None})
        return
    reason = _DROP_REASON.fullmatch(detail.split("\n", 1)[0].strip()) if detail else None
    drops = facts.drops
    if drops and drops[-1]["reason"] is None and drops[-1]["kind"] == kind:
        entry = drops[-1]
    else:
        entry = {"kind": kind, "node": None, "reason": None}
        drops.append(entry)
    if reason:
        entry["node"], entry["reason"] = reason.group("node"), reason.group("reason")


def _note_receive(facts, name, detail):
    rxq = _RX_QUEUE.match(detail)
    if rxq:
        facts.rx_interface = rxq.group("ifname")
    elif name == "tapcli-rx" and detail and " " not in detail.strip():
        facts.rx_interface = detail.strip()


def _note_forwarding(facts, pos, name, detail, role, is_local, answers):
    """Local delivery, VPP's own answers and interface outputs along the path."""
    if is_local:
        facts.last_local = pos
    if answers:
        if _ICMP_ERROR.match(name):
            facts.icmp_error = True
        else:
            facts.local_reply = True
    if role != _ROLE_OUTPUT:
        if role != _ROLE_DROP_FEATURE:
            facts.last_processing_pos = pos
        return
    ifname = _interface_of_output(name, detail)
    if ifname is None:
        facts.last_processing_pos = pos
        return
    if not facts.outputs or facts.outputs[-1] != ifname:
        facts.outputs.append(ifname)
    facts.last_output_pos = pos


def _walk_path(nodes, cache, roles):
    facts = _PathFacts()
    for pos, rec in enumerate(nodes):
        name, detail = rec["node"], rec["detail"]
        _note_headers(facts, detail, cache)
        role, is_local, answers = roles.get(name) or _node_role(name, roles)
        if role == _ROLE_DROP or role == _ROLE_PUNT:
            _note_drop(facts, role, detail)
            continue
        if pos == 0 and _DEVICE_INPUT.match(name):
            _note_receive(facts, name, detail)
        _note_forwarding(facts, pos, name, detail, role, is_local, answers)
    return facts


def _fate(facts, nodes):
    """(fate, the drop entry that decided it or None). An interface output record after the last processing
    node means delivered (a BVI output such as loop0-output followed by l2-input is not the end of the path)."""
    delivered = facts.last_output_pos is not None and (
        facts.last_processing_pos is None or facts.last_output_pos > facts.last_processing_pos)
    drops = facts.drops
    terminal_drop = next((d for d in reversed(drops) if d["reason"] is not None), drops[-1] if drops else None)
    if terminal_drop is not None:
        return terminal_drop["kind"], terminal_drop
    if nodes and nodes[-1]["node"].endswith("-drop"):
        return "dropped", None
    if facts.local_reply or (facts.last_local is not None and not delivered):
        return "local", None
    return ("delivered" if delivered else "truncated"), None


def _drop_point(fate, terminal_drop, nodes):
    """(drop_node, drop_reason) of a packet."""
    if fate == "dropped" and terminal_drop is None:
        return nodes[-1]["node"], None
    if terminal_drop is None:
        return None, None
    if terminal_drop["node"] is None:
        # error-drop/punt printed its rx:<interface> but the trace ends before the reason: name the node
        # that sent the packet there (the last one before it that is not a drop node).
        return next((rec["node"] for rec in reversed(nodes)
                     if rec["node"] not in _DROP_NODES and rec["node"] not in _PUNT_NODES), None), None
    return terminal_drop["node"], terminal_drop["reason"]


def _distinct_flows(flows):
    unique = []
    seen = set()
    for flow in flows:
        key = flow[1:7]
        if key not in seen:
            seen.add(key)
            unique.append(dict(zip(FLOW_KEYS, flow)))
    return unique


def _handoff_origin(nodes):
    for rec in nodes:
        if rec["node"] == "handoff_trace":
            ho = _HANDOFF.search(rec["detail"])
            if ho:
                return {"thread": number(ho.group("thread"), "HANDED-OFF thread"),
                        "trace_index": number(ho.group("index"), "HANDED-OFF trace index")}
            return None
    return None


def derive_packet_fate(packet, cache=None, roles=None):
    """Fill fate, drop_node, drop_reason, output_interface, flows and the other derived fields of a packet
    from its node records; return the packet."""
    nodes = packet["nodes"]
    facts = _walk_path(nodes, {} if cache is None else cache, {} if roles is None else roles)
    fate, terminal_drop = _fate(facts, nodes)
    drop_node, drop_reason = _drop_point(fate, terminal_drop, nodes)
    unique = _distinct_flows(facts.flows)
    first = dict(unique[0]) if unique else {}
    if facts.l2 is not None:
        first.update(zip(("src_mac", "dst_mac", "ethertype", "vlan"), facts.l2))
    outputs = facts.outputs
    packet.update({
        "fate": fate,
        "drop_node": drop_node,
        "drop_reason": drop_reason,
        "output_interface": outputs[-1] if outputs else None,
        "output_interfaces": outputs,
        "rx_interface": facts.rx_interface,
        "sw_if_index": facts.sw_if_index,
        "flow": first or None,
        "flows": unique,
        "icmp_error_sent": bool(facts.icmp_error and outputs and fate in ("dropped", "punted")),
        # the trace ends in a handoff node: the packet went on in another thread's trace (see handoff_from there)
        "handed_off": bool(fate == "truncated" and nodes and _HANDOFF_NODE.search(nodes[-1]["node"])),
        "path": [rec["node"] for rec in nodes],
    })
    return packet


def summarize(packets):
    """``{packets, by_fate, drops_by_reason}`` for a list of classified packets."""
    by_fate = dict((fate, 0) for fate in FATES)
    drops_by_reason = {}
    for packet in packets:
        by_fate[packet["fate"]] += 1
        if packet["fate"] in ("dropped", "punted"):
            if packet["drop_reason"]:
                key = "%s: %s" % (packet["drop_node"], packet["drop_reason"])
            else:
                key = "%s: (no reason shown)" % packet["drop_node"]
            drops_by_reason[key] = drops_by_reason.get(key, 0) + 1
    return {"packets": len(packets), "by_fate": by_fate, "drops_by_reason": drops_by_reason}


def _new_thread(threads, thread, name):
    entry = {"thread": thread, "name": name, "packets": 0, "no_packets": False}
    threads.append(entry)
    return entry


def _count_noise(lines, first, end):
    """Lines outside any node record that mean nothing here (a prompt...); '...' elisions are not noise."""
    return sum(1 for line in lines[first:end] if line.strip() and line.strip().strip(".") != "")


def _new_packet(thread, thread_name, index):
    return {"thread": thread, "thread_name": thread_name, "index": index, "nodes": [],
            "handoff_from": None}


def parse_vpp_trace(text):
    """Parse ``show trace`` text; see _parse_vpp_trace. The cyclic garbage collector is paused meanwhile:
    the result is a tree of many small dicts without cycles, and collections during its build cost a third
    of the parse time on large traces."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_vpp_trace(text)
    finally:
        if enabled:
            gc.enable()


def _trace_lines(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise VppParseError("show trace output must be a string, got %s" % type(text).__name__)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    check_line_lengths(lines, "show trace")
    return text, lines


class _TraceScan:
    """The state of one pass over the structural lines of a trace: threads, packets, the open node record."""

    def __init__(self, lines):
        self.lines = lines
        self.packets = []
        self.packet_lines = []  # line number of each packet's first record, for error messages
        self.threads = []
        self.thread, self.thread_name = 0, None
        self.thread_entry = None
        self.limit = None
        self.packet = None
        self.node = None
        self.start = 0
        self.previous = -1  # the last structural line
        self.found = False
        self.ignored = 0

    def close_record(self, end):
        """The detail of the open node record is every line up to ``end``; lines before ``end`` that belong
        to no record are counted as ignored."""
        if self.node is not None:
            lines, start = self.lines, self.start
            self.node["detail"] = lines[start].strip() if end - start == 1 else _detail_text(lines, start, end)
            self.node = None
        elif end > self.previous + 1:
            self.ignored += _count_noise(self.lines, self.previous + 1, end)

    def open_packet(self, index, line_number):
        self.packet = _new_packet(self.thread, self.thread_name, index)
        self.packets.append(self.packet)
        self.packet_lines.append(line_number)
        if self.thread_entry is None:
            self.thread_entry = _new_thread(self.threads, self.thread, self.thread_name)
        self.thread_entry["packets"] += 1

    def on_node(self, m, i):
        name = m.group("node")
        if len(m.group("time")) > MAX_TIMESTAMP:
            raise VppParseError("show trace line %d: a timestamp of %d characters (VPP prints at most %d)"
                                % (i + 1, len(m.group("time")), MAX_TIMESTAMP))
        packet = self.packet
        if packet is None or (packet["index"] is None and packet["nodes"] and _DEVICE_INPUT.match(name)):
            self.open_packet(None, i + 1)
        self.node = {"time": m.group("time"), "node": name, "detail": ""}
        self.start = i + 1
        self.packet["nodes"].append(self.node)

    def on_packet(self, m, i):
        self.open_packet(number(m.group("index"), "packet number", "show trace line %d" % (i + 1)), i + 1)

    def on_thread(self, m, i):
        where = "show trace line %d" % (i + 1)
        if m.group("pre"):
            lim = _LIMIT.search(m.group("pre"))
            if lim:
                self.limit = number(lim.group("max"), "display limit", where)
        self.thread = number(m.group("thread"), "thread number", where)
        self.thread_name = _thread_name(m.group("tail"))
        self.thread_entry = _new_thread(self.threads, self.thread, self.thread_name)
        self.packet = None

    def on_limit(self, m, i):
        self.limit = number(m.group("max"), "display limit", "show trace line %d" % (i + 1))
        self.packet = None

    def on_empty(self, _m, _i):
        if self.thread_entry is None:
            self.thread_entry = _new_thread(self.threads, self.thread, self.thread_name)
        self.thread_entry["no_packets"] = True
        self.packet = None


def _scan_structure(lines):
    """One pass over the lines that can be structural (a C-speed filter on their first character; structural
    lines are short, so a longer line is detail)."""
    scan = _TraceScan(lines)
    handlers = {"node": scan.on_node, "packet": scan.on_packet, "thread": scan.on_thread, "limit": scan.on_limit,
                "empty": scan.on_empty}
    first_chars = _STRUCTURE_FIRST
    lstrip = str.lstrip
    candidates = [i for i, line in enumerate(lines) if lstrip(line)[:1] in first_chars and len(line) < _MAX_STRUCTURE_LINE]
    for i in candidates:
        kind, m = structural_line(lines[i])
        if kind is None:
            continue
        scan.close_record(i)
        scan.previous = i
        scan.found = True
        handlers[kind](m, i)
    scan.close_record(len(lines))
    return scan


def _parse_vpp_trace(text):
    """Parse ``show trace`` text; return ``{packets, threads, summary, limited, limit, timestamp_format}``.

    Raises VppParseError when ``text`` is not a string, is non-empty text in which no thread header, packet
    header, node record or ``No packets in trace buffer`` line can be found, or breaks a bound (a line longer
    than MAX_LINE, a number longer than MAX_DIGITS digits); the message names the line.
    """
    text, lines = _trace_lines(text)
    scan = _scan_structure(lines)
    if not scan.found and text.strip():
        first = next(line for line in lines if line.strip())
        raise VppParseError(
            "text is not VPP 'show trace' output: no thread header, 'Packet N' line, '<time>: <node>' record or "
            "'No packets in trace buffer' found (first line: %r)" % first.strip()[:120])
    packets = scan.packets
    cache = {}
    roles = {}
    for packet, line_number in zip(packets, scan.packet_lines):
        try:
            derive_packet_fate(packet, cache, roles)
            packet["handoff_from"] = _handoff_origin(packet["nodes"])
        except VppParseError as exc:
            raise VppParseError("show trace packet starting at line %d: %s" % (line_number, exc))
    ts_format = next((timestamp_format(p["nodes"][0]["time"]) for p in packets if p["nodes"]), None)
    return {
        "packets": packets,
        "threads": scan.threads,
        "summary": summarize(packets),
        "limited": scan.limit is not None,
        "limit": scan.limit,
        "timestamp_format": ts_format,
        "ignored_lines": scan.ignored,
    }


# ---------------------------------------------------------------------------------------------------
# Selecting packets and turning them into runbook observations

FLOW_FILTER_KEYS = ("src", "dst", "address", "protocol", "sport", "dport", "port")


def _addr_match(value, wanted):
    if value is None:
        return False
    if "/" in wanted and ipaddress is not None:
        try:
            return ipaddress.ip_address(value) in ipaddress.ip_network(wanted, strict=False)
        except ValueError:
            return False
    if ipaddress is not None:
        try:
            return ipaddress.ip_address(value) == ipaddress.ip_address(wanted)
        except ValueError:
            pass
    return value == wanted


def check_flow_filter(flow_filter):
    """Validate a flow filter dict; raise VppParseError naming the bad key or value."""
    if flow_filter is None:
        return {}
    if not isinstance(flow_filter, dict):
        raise VppParseError("flow_filter must be a dict with keys among %s, got %s"
                            % (", ".join(FLOW_FILTER_KEYS), type(flow_filter).__name__))
    clean = {}
    for key, value in flow_filter.items():
        if key not in FLOW_FILTER_KEYS:
            raise VppParseError("unknown flow_filter key %r (expected one of %s)" % (key, ", ".join(FLOW_FILTER_KEYS)))
        if value is None:
            continue
        if key in ("sport", "dport", "port"):
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise VppParseError("flow_filter %s must be a port number, got %r" % (key, value))
            if not 0 <= value <= 65535:
                raise VppParseError("flow_filter %s must be between 0 and 65535, got %d" % (key, value))
        elif key == "protocol":
            value = str(value).lower()
        else:
            value = str(value)
            if ipaddress is not None:
                try:
                    ipaddress.ip_network(value, strict=False)
                except ValueError:
                    raise VppParseError("flow_filter %s must be an IP address or CIDR, got %r" % (key, value))
        clean[key] = value
    return clean


def _flow_matches(flow, wanted):
    for key, value in wanted.items():
        if key == "address":
            if not (_addr_match(flow.get("src"), value) or _addr_match(flow.get("dst"), value)):
                return False
        elif key in ("src", "dst"):
            if not _addr_match(flow.get(key), value):
                return False
        elif key == "port":
            if value not in (flow.get("sport"), flow.get("dport")):
                return False
        elif flow.get(key) != value:
            return False
    return True


def packet_matches(packet, flow_filter):
    """True when any header seen along the packet's path (before or after NAT/encap) matches the filter."""
    wanted = check_flow_filter(flow_filter)
    if not wanted:
        return True
    return any(_flow_matches(flow, wanted) for flow in packet.get("flows") or ())


def filter_packets(parsed, flow_filter=None):
    """The packets of a parsed trace that match ``flow_filter`` (see FLOW_FILTER_KEYS)."""
    wanted = check_flow_filter(flow_filter)
    packets = parsed.get("packets") or []
    if not wanted:
        return list(packets)
    return [p for p in packets if any(_flow_matches(f, wanted) for f in p.get("flows") or ())]


def select_packets(parsed, flow_filter=None):
    """A copy of a parsed trace keeping only the packets matching ``flow_filter``; summary recomputed."""
    if not isinstance(parsed, dict) or not isinstance(parsed.get("packets"), list):
        raise VppParseError("expected the result of parse_vpp_trace (a dict with 'packets')")
    kept = filter_packets(parsed, flow_filter)
    result = dict(parsed)
    result["packets"] = kept
    result["summary"] = summarize(kept)
    result["summary"]["total_packets"] = len(parsed["packets"])
    return result


_MACHINERY = frozenset(("error-drop", "drop", "error-punt", "punt"))


def _check_parsed(parsed_trace, who):
    if not isinstance(parsed_trace, dict) or not isinstance(parsed_trace.get("packets"), list):
        raise VppParseError("%s expects the result of parse_vpp_trace (a dict with 'packets')" % who)


def _epoch(when, ts_format, time_offset):
    """Seconds since the epoch for a node timestamp: unix/datetime as printed; relative ones (seconds since
    VPP's main loop started) only with ``time_offset``, the epoch time at which that clock read zero."""
    seconds = timestamp_seconds(when)
    if seconds is None or ts_format != "relative":
        return seconds
    return seconds + float(time_offset) if time_offset is not None else None


def vpp_drop_point(parsed_trace, node=None, flow_filter=None):
    """The drop point (runbook contract) of the first dropped or punted packet matching ``flow_filter``.

    ``{node, netns: None, endpoint: None, component: 'vpp', reason: '<graph node>: <reason>', detail}``,
    ``detail`` holding the graph node, the packet's path, thread, index, fate, receive interface, flow and
    whether an ICMP error was sent back; None when no matching packet was dropped.
    """
    _check_parsed(parsed_trace, "vpp_drop_point")
    for packet in filter_packets(parsed_trace, flow_filter):
        if packet.get("fate") not in ("dropped", "punted"):
            continue
        if packet.get("drop_reason"):
            reason = "%s: %s" % (packet["drop_node"], packet["drop_reason"])
        else:
            reason = "%s: dropped (no reason shown)" % packet.get("drop_node")
        return {
            "node": node, "netns": None, "endpoint": None, "component": "vpp", "reason": reason,
            "detail": {
                "graph_node": packet.get("drop_node"), "path": packet.get("path"), "thread": packet.get("thread"),
                "packet": packet.get("index"), "fate": packet.get("fate"), "rx_interface": packet.get("rx_interface"),
                "flow": packet.get("flow"), "icmp_error_sent": packet.get("icmp_error_sent"),
                "output_interface": packet.get("output_interface"),
            },
        }
    return None


def vpp_observations(parsed_trace, node=None, flow_filter=None, time_offset=None):
    """Observations (runbook contract) for each traced packet: its graph path and where it ended.

    One observation per graph node the packet crossed (``Received`` for the first, ``Forwarded`` for the
    next ones), then the outcome: ``Delivered`` (left through an interface, or reached VPP's own stack),
    ``Dropped`` (drop or punt; ``reason`` is ``<graph node>: <reason>``) or ``Rejected`` (dropped and an
    ICMP error was sent back, e.g. TTL expired). A truncated packet has no outcome observation.

    ``time`` is seconds since the epoch: as printed for unix/datetime timestamps; for VPP's default
    relative timestamps only when ``time_offset`` (the epoch time of VPP's clock zero) is given, else None.
    ``vpp_time`` keeps the timestamp as printed and ``uptime`` the relative seconds.
    """
    _check_parsed(parsed_trace, "vpp_observations")
    if time_offset is not None:
        try:
            time_offset = float(time_offset)
        except (TypeError, ValueError):
            raise VppParseError("time_offset must be a number of seconds since the epoch, got %r" % (time_offset,))
    ts_format = parsed_trace.get("timestamp_format")
    # what VPP's timestamps count from: its own start (relative) or the epoch (unix, datetime)
    base = "uptime" if ts_format == "relative" else ("unix" if ts_format else None)
    observations = []
    for packet in filter_packets(parsed_trace, flow_filter):
        nodes = packet.get("nodes") or []

        def obs(action, graph_node, reason, when, packet=packet):
            return {
                "node": node, "netns": None, "endpoint": None, "component": "vpp", "action": action,
                "reason": reason, "time": _epoch(when, ts_format, time_offset), "vpp_time": when,
                "uptime": timestamp_seconds(when) if ts_format == "relative" else None, "time_base": base,
                "source": "vpp-trace", "graph_node": graph_node, "thread": packet.get("thread"),
                "packet": packet.get("index"), "fate": packet.get("fate"), "flow": packet.get("flow"),
            }

        for pos, rec in enumerate(nodes):
            if rec["node"] in _MACHINERY:
                continue
            observations.append(obs("Received" if pos == 0 else "Forwarded", rec["node"], None, rec["time"]))
        if not nodes:
            continue
        fate = packet.get("fate")
        last_time = nodes[-1]["time"]
        if fate in ("dropped", "punted"):
            reason = "%s: %s" % (packet["drop_node"], packet["drop_reason"]) if packet.get("drop_reason") \
                else "%s: dropped (no reason shown)" % packet.get("drop_node")
            if fate == "punted":
                reason += " (punted)"
            action = "Dropped"
            if packet.get("icmp_error_sent"):
                action = "Rejected"
                reason += " (ICMP error sent via %s)" % packet.get("output_interface")
            observations.append(obs(action, packet.get("drop_node"), reason, last_time))
        elif fate == "delivered":
            observations.append(obs("Delivered", nodes[-1]["node"], "sent on %s" % packet.get("output_interface"),
                                    last_time))
        elif fate == "local":
            local = next((r["node"] for r in nodes if _LOCAL.match(r["node"])), nodes[-1]["node"])
            reason = "received by VPP (%s)" % local
            if packet.get("output_interface"):
                reason += ", reply sent on %s" % packet["output_interface"]
            observations.append(obs("Delivered", local, reason, last_time))
    return observations

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse ``ovn-trace`` output (OVN 2.7 to 24.x and main) into a verdict, the path and the drop point.

Public interface (stable; the ``ovn_trace`` module, the ``parse_ovn_trace`` filter and the
``netdiag.tracekit.ovn_trace`` cli_parse parser import it):

``parse_ovn_trace(text)`` returns a dict:

- ``format``: ``detailed``, ``summary`` or ``minimal`` (for ``--all`` output the detailed part is parsed
  and ``formats`` lists every part found);
- ``flow``: the microflow of the leading ``# ...`` line, or None when the text lacks it;
- ``verdict``: ``delivered`` (the original packet, or the answer a responder built from it in place,
  reached a port), ``dropped``, ``rejected`` (a reply was generated instead: ``tcp_reset``, ``icmp4``,
  ``icmp6``, ``sctp_abort`` sections; the drop kind is ``reject``), ``error`` (ovn-trace could not trace: unknown port or datapath,
  flow parse error; ovn-trace prints these on stdout with exit code 0) or ``partial`` (a fragment: the
  text stops where the packet still continues, or nothing of a trace was recognised). A router that
  must first resolve the next hop (an ``arp``/``nd_ns`` request is generated instead of forwarding)
  gives ``dropped`` with the drop kind ``arp_pending``: the packet goes no further in this trace;
- ``outputs``: final deliveries of the original packet, ``[{datapath, port, type}]``. An output to a
  ``patch`` or ``l3gateway`` port hands the packet to the peer datapath and is not a delivery. Outputs
  inside generated-packet sections are not deliveries (see ``generated``), except ``nd_na`` (the ND
  responder's answer to the solicitation, as the ARP responder's in-place answer is) and ``clone``
  (a copy of the packet itself). ``datapath`` and ``type`` are None in the minimal format;
- ``generated``: ``[{kind, datapath, stage, uuid, outputs}]``, packets built by the trace
  (``tcp_reset``, ``icmp4``, ``icmp6``, ``sctp_abort``, ``arp``, ``nd_ns``, ``nd_na``), with their outputs;
- ``hops`` (detailed format only): ``[{datapath, pipeline, table, stage, priority, match, actions, uuid,
  source, generated, openflow}]``; ``uuid`` is the 8 hex digit logical flow uuid prefix; ``generated``
  names the generated-packet section the hop belongs to (None for the original packet); ``openflow``
  holds the OpenFlow flows ``--ovs`` printed for the hop;
- ``path``: pipelines traversed, ``[{datapath, pipeline, inport, outport, generated}]``;
- ``drop``: None, or where the original packet died: the hop's fields (None when the format has no
  hops) plus ``kind`` (``explicit``, ``implicit``, ``acl``, ``pipeline_end``, ``error``, ``loopback``,
  ``reject``, ``arp_pending``), ``reason`` (human readable) and ``acl``: None or ``{name, verdict,
  severity, direction, label, meter, uuid, stage, datapath, pipeline, priority, match}``, from the
  ``log(name=...)`` action, the ``LOG:`` line and the ACL flow that decided;
- ``logs``: every ``LOG: ACL ...`` line, ``[{name, direction, verdict, severity, packet}]``;
- ``errors``: ovn-trace's own error lines (fatal ones and ``***`` lines);
- ``warnings``: what the parser could not understand (unrecognised lines are kept, never fatal).

``acl_hints(parsed)`` returns what is needed to find the ACL in the Northbound database the way
ovn-detrace does (logical flow uuid prefix -> Logical_Flow -> external_ids stage-hint -> ACL), or None.

``ovn_observations(parsed, node=None)`` turns a parsed trace into observation dicts of the runbook
contract (``Received``, ``Forwarded``, ``Delivered``, ``Dropped``, ``Rejected``).

The parser is a table of compiled verbose regexes (one per line kind, ``LINE_TEMPLATES``) applied once
per line, each anchored and free of quantifiers that could share a character (key=value arguments and
``log(...)`` actions are scanned, not searched), so its run time is linear in the input whatever the input.
A line longer than ``MAX_LINE`` characters, or a table number or priority longer than ``MAX_DIGITS``
digits, raises ``OvnTraceParseError`` naming the line; text that is not a string raises
``OvnTraceInputError`` (also a ``TypeError``). Both derive from the collection's ``TracekitError``. The detailed format's nesting is recovered from
indentation as ovn-trace prints it (a node's children are indented further, except a last child that
has children of its own); the summary and minimal formats nest with braces.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import re

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError


class OvnTraceParseError(TracekitError, ValueError):
    """The text breaks a bound of the ovn-trace grammar; the message names the line."""


class OvnTraceInputError(OvnTraceParseError, TypeError):
    """What was given is not text (or not a parsed trace, for the helpers)."""


# Bounds on one line and one number: ovn-trace prints nothing near them.
MAX_LINE = 1 << 20
MAX_DIGITS = 20
# Warnings of one kind kept (the rest are counted): a damaged text must not grow the result without bound.
MAX_WARNINGS = 20

VERDICTS = ("delivered", "dropped", "rejected", "error", "partial")

# Packets ovn-trace builds in a nested section.
REPLY_KINDS = frozenset(("tcp_reset", "icmp4", "icmp6", "sctp_abort"))
REQUEST_KINDS = frozenset(("arp", "nd_ns"))
ANSWER_KINDS = frozenset(("nd_na",))
GENERATED_KINDS = REPLY_KINDS | REQUEST_KINDS | ANSWER_KINDS
# Port types whose output continues in a peer datapath.
PEER_TYPES = frozenset(("patch", "l3gateway"))
# Error lines after which the packet goes no further.
FATAL_STAR_ERRORS = ("output to null logical port", "unknown port or multicast group", "TTL underflow",
                     "TTL decrement of non-IP packet", "with no or invalid distributed port")

# One entry per line kind: name and one compiled verbose regex (cisco.nxos rm_templates style).
LINE_TEMPLATES = (
    {"name": "format_marker", "getval": re.compile(r"""
        ^\#\s+(?P<format>Detailed|Summary|Minimal)\s+trace\.\s*$""", re.X)},
    {"name": "flow", "getval": re.compile(r"""
        ^\#\s?(?P<flow>\S.*)$""", re.X)},
    {"name": "pipeline", "getval": re.compile(r"""
        ^(?P<pipeline>ingress|egress|multicast)
        \((?P<args>.*)\)
        [ \t]*(?P<brace>\{)?$""", re.X)},
    {"name": "table", "getval": re.compile(r"""
        ^(?P<table>[0-9]+)\.\s+
        (?:(?P<stage>[A-Za-z][\w.-]*)(?:\s\((?P<source>[^()]*)\))?:\s
          |\((?P<source_only>[^()]*)\):\s)?
        (?:(?P<match>.*),\spriority\s(?P<priority>-?[0-9]+)(?:,\suuid\s(?P<uuid>[0-9a-fA-F]+))?
          |(?P<rest>.*))$""", re.X)},
    {"name": "output", "getval": re.compile(r"""
        ^/\*\s*output\sto\s"(?P<port>(?:[^"\\]|\\.)*)",\stype\s"(?P<type>[^"]*)"\s*\*/;?$""", re.X)},
    {"name": "omitting", "getval": re.compile(r"""
        ^/\*\s*omitting\soutput\sbecause\s(?P<why>.*)\*/;?$""", re.X)},
    {"name": "redirect", "getval": re.compile(r"""
        ^/\*\s*Replacing\stype\s"(?P<type>[^"]*)"\soutport\s"(?P<port>[^"]*)"
        \swith\sdistributed\sport\s"(?P<to>[^"]*)"\.\s*\*/;?$""", re.X)},
    {"name": "star_error", "getval": re.compile(r"""
        ^\*\*\*\s*(?P<error>.*?);?$""", re.X)},
    {"name": "log", "getval": re.compile(r"""
        ^LOG:\s+ACL\s+name=(?P<name>.*?),\s+
        (?:direction=(?P<direction>\w+),\s+)?
        verdict=(?P<verdict>\w+),\s+severity=(?P<severity>\w+)
        (?:,\s+packet="(?P<packet>[^"]*)")?\s*;?$""", re.X)},
    {"name": "openflow", "getval": re.compile(r"""
        ^(?P<flow>cookie=0x[0-9a-fA-F]+,.*)$""", re.X)},
    {"name": "minimal_output", "getval": re.compile(r"""
        ^output\("(?P<port>(?:[^"\\]|\\.)*)"\);?$""", re.X)},
    {"name": "fatal", "getval": re.compile(r"""
        ^(?P<error>unknown\s(?:port|datapath)\s".*"
          |error\sparsing\sflow:.*
          |failed\sto\sparse\sflow\sexpression.*
          |microflow\sdoes\snot\sspecify\singress\sport.*
          |one\sor\stwo\snon-option\sarguments\sare\srequired.*
          |(?:ovn-trace|ovn-appctl):\s.*)$""", re.X)},
    {"name": "close", "getval": re.compile(r"""
        ^\};?$""", re.X)},
    {"name": "underline", "getval": re.compile(r"""
        ^-+$""", re.X)},
)
_T = dict((t["name"], t["getval"]) for t in LINE_TEMPLATES)

# Regexes applied to a piece of a line already classified.
# key=value: a key starts where a word starts (no rescan of the same word from each of its characters).
_RE_KEY = re.compile(r"""(?<![\w-])(?P<key>[\w-]+)\s*=\s*""", re.X)
_RE_QUOTED = re.compile(r'"(?P<q>(?:[^"\\]|\\.)*)"')
_RE_BARE = re.compile(r"""[^,\s)]*""")
_RE_NO_MATCH = re.compile(r"""^no\smatch(?:\s\((?P<why>[^)]*)\))?$""", re.X)
_RE_BLOCKED = re.compile(r"""(?P<what>ct_(?:label|mark)\.blocked\s*=\s*1\b|ct_(?:label|mark)\s*=\s*0x1/0x1\b)""", re.X)
_RE_VERDICT_SET = re.compile(r"""\breg8\[(?P<bit>1[78])\]\s*=\s*1\b""", re.X)
_RE_VERDICT_MATCH = re.compile(r"""\breg8\[(?P<bit>1[78])\]\s*==\s*1\b""", re.X)
_RE_LABEL = re.compile(r"""(?:\bct_label\.label\s*=\s*|^reg3\s*=\s*)(?P<label>[0-9]+|0x[0-9a-fA-F]+)\b""", re.X)
_RE_ACL_STAGE = re.compile(r"""^l[sr]_(?:in|out)_acl(?!_hint)(?:_\w+)?$""", re.X)
_RE_CONTINUE = re.compile(r"""^(?:next\b|output\b|ct_next\b|ct_lb\w*|ct_[ds]nat\w*|ct_commit_nat\b|ct_commit_to_zone\b
                              |clone\s*\{|select\(|handle_\w+|trigger_event|reject\s*\{|tcp_reset\s*\{|icmp[46]\s*\{
                              |nd_n[as]\w*\s*\{|arp\s*\{|sctp_abort\s*\{)""", re.X)
_RE_GENERATED_HEADER = re.compile(r"""^(?P<kind>tcp_reset|icmp4|icmp6|sctp_abort|arp|nd_ns|nd_na|nd_na_router|clone)$""", re.X)
_RE_CT_HEADER = re.compile(r"""^(?P<kind>ct_next|ct_lb\w*|ct_[ds]nat\w*|ct_commit_nat|ct_commit_to_zone|ct_clear|select:)""", re.X)

_PIPE_KEYS_DP = ("dp", "datapath", "ls", "lr", "switch", "router")


class _Frame:
    """One open section: a pipeline, a ct recirculation, a generated packet, a clone or the root."""

    __slots__ = ("kind", "ctx", "gen", "gen_index", "indent", "threshold", "last_hop", "mcast", "actions", "own_hop")

    def __init__(self, kind, ctx, gen, gen_index, indent, last_hop, mcast):
        self.kind = kind
        self.ctx = ctx
        self.gen = gen
        self.gen_index = gen_index
        self.indent = indent
        self.threshold = None
        self.last_hop = last_hop
        self.mcast = mcast
        self.actions = []
        self.own_hop = False


def _bounded_int(text, what):
    digits = text.lstrip("-")
    if len(digits) > MAX_DIGITS:
        raise OvnTraceParseError("%s has %d digits: ovn-trace prints at most %d" % (what, len(digits), MAX_DIGITS))
    return int(text)


def _unquote(value):
    return value.replace('\\"', '"').replace("\\\\", "\\")


def _key_values(args):
    """(key, value) pairs of ``key=value, key="quoted value"`` text, in one left-to-right pass."""
    pos = 0
    unterminated = False
    end = len(args)
    while pos < end:
        km = _RE_KEY.search(args, pos)
        if km is None:
            return
        pos = km.end()
        qm = None
        if not unterminated and args.startswith('"', pos):
            qm = _RE_QUOTED.match(args, pos)
            # Once a quote has no end, no later quote has one either (the scans agree from there on).
            unterminated = qm is None
        if qm is not None:
            yield km.group("key"), _unquote(qm.group("q"))
        else:
            qm = _RE_BARE.match(args, pos)
            yield km.group("key"), qm.group(0)
        pos = max(qm.end(), pos)


def _log_args(text):
    """The arguments of the first ``log(...)`` of an action that has its closing parenthesis before ``;``."""
    pos = 0
    while True:
        pos = text.find("log(", pos)
        if pos < 0:
            return None
        if pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] == "_"):
            stop = text.find(";", pos)
            stop = len(text) if stop < 0 else stop
            close = text.rfind(")", pos + 4, stop)
            if close >= 0:
                return text[pos + 4:close]
            pos = stop  # every later log( before this ';' lacks a ')' as well
        pos += 1


def _pipeline_args(args):
    out = {}
    for key, value in _key_values(args):
        out[key] = value
    if not out and args.strip():
        # ingress(ls=name) without '=' is not ovn-trace's, but a bare name is the datapath.
        out["dp"] = args.strip().strip('"')
    return out


class _Trace:
    """Accumulates what the lines say; ``_finish()`` turns it into the public dict."""

    def __init__(self):
        self.flow = None
        self.hops = []
        self.path = []
        self.outputs = []
        self.generated = []
        self.drops = []
        self.logs = []
        self.log_actions = []
        self.errors = []
        self.fatal = []
        self.warnings = []
        self.handoffs = []
        self.last_event = None
        self.last_action = None
        self.seq = 0
        self.stack = []
        self.tail_actions = []
        self.tail_ctx = None
        self.known = 0
        self.unknown = 0
        self.first_unknown = None
        self.warned = {}
        self.unclosed = False

    # -- helpers -----------------------------------------------------------------------------------
    def push(self, kind, ctx=None, gen=None, gen_index=None, indent=0, mcast=None):
        parent = self.stack[-1] if self.stack else None
        if parent is not None:
            ctx = ctx if ctx is not None else parent.ctx
            if gen is None:
                gen, gen_index = parent.gen, parent.gen_index
            mcast = mcast if mcast is not None else parent.mcast
            last_hop = parent.last_hop
        else:
            last_hop = None
        frame = _Frame(kind, ctx or {}, gen, gen_index, indent, last_hop, mcast)
        self.stack.append(frame)
        return frame

    def current_hop(self):
        idx = self.stack[-1].last_hop
        return self.hops[idx] if idx is not None else None

    def warn(self, kind, text):
        """A warning of one kind with the line it is about; past MAX_WARNINGS of a kind, only counted."""
        seen = self.warned.get(kind, 0) + 1
        self.warned[kind] = seen
        if seen <= MAX_WARNINGS:
            self.warnings.append("%s: %s" % (kind, text[:300]))

    def event(self, kind):
        self.known += 1
        self.seq += 1
        self.last_event = kind
        return self.seq

    # -- line handlers -----------------------------------------------------------------------------
    def on_pipeline(self, m, indent):
        args = _pipeline_args(m.group("args"))
        datapath = None
        for key in _PIPE_KEYS_DP:
            if key in args:
                datapath = args[key]
                break
        pipeline = m.group("pipeline")
        parent_ctx = self.stack[-1].ctx if self.stack else {}
        if pipeline == "multicast":
            ctx = {"datapath": datapath or parent_ctx.get("datapath"), "pipeline": parent_ctx.get("pipeline"),
                   "inport": parent_ctx.get("inport"), "outport": None, "mcgroup": args.get("mcgroup")}
            frame = self.push("multicast", ctx=ctx, indent=indent, mcast=args.get("mcgroup") or "")
        else:
            ctx = {"datapath": datapath, "pipeline": pipeline, "inport": args.get("inport"),
                   "outport": args.get("outport"), "mcgroup": None}
            frame = self.push("pipeline", ctx=ctx, indent=indent)
            frame.last_hop = None
            if frame.gen is None:
                self.tail_actions = []
            self.path.append({"datapath": datapath, "pipeline": pipeline, "inport": args.get("inport"),
                              "outport": args.get("outport"), "generated": frame.gen})
        self.event("pipeline")
        return frame

    def on_section(self, header, indent):
        """A titled or braced section that is not a pipeline: ct_*, generated packets, clone, select."""
        text = header.strip()
        word = text.split("(", 1)[0].split(" ", 1)[0].split("{", 1)[0].strip()
        gm = _RE_GENERATED_HEADER.match(word)
        if gm and gm.group("kind") != "clone":
            kind = gm.group("kind")
            if kind == "nd_na_router":
                kind = "nd_na"
            hop = self.current_hop()
            parent = self.stack[-1] if self.stack else None
            self.generated.append({"kind": kind, "datapath": parent.ctx.get("datapath") if parent else None,
                                   "stage": hop["stage"] if hop else None, "uuid": hop["uuid"] if hop else None,
                                   "outputs": [], "_hop": parent.last_hop if parent else None,
                                   "_in": parent.gen if parent else None, "_seq": self.seq,
                                   "_pipeline": parent.ctx.get("pipeline") if parent else None})
            frame = self.push("generated", gen=kind, gen_index=len(self.generated) - 1, indent=indent)
        elif gm:
            frame = self.push("clone", indent=indent)
        else:
            frame = self.push("ct" if _RE_CT_HEADER.match(text) else "section", indent=indent)
        self.event("section")
        return frame

    def on_table(self, m, raw_stripped):
        frame = self.stack[-1]
        table, stage, source, source_only, match, priority, uuid, rest = m.groups()
        ctx = frame.ctx
        hop = {"datapath": ctx.get("datapath"), "pipeline": ctx.get("pipeline"), "table": _bounded_int(table, "table number"),
               "stage": stage, "priority": None, "match": match, "actions": [], "uuid": None,
               "source": source or source_only, "generated": frame.gen, "openflow": []}
        nm = None
        if priority is not None:
            hop["priority"] = _bounded_int(priority, "priority")
            if uuid:
                hop["uuid"] = uuid.lower()
        else:
            nm = _RE_NO_MATCH.match(rest)
            if nm is None:
                hop["match"] = rest or None
                self.warn("table line without priority", raw_stripped)
        self.hops.append(hop)
        idx = len(self.hops) - 1
        frame.last_hop = idx
        frame.own_hop = True
        self.last_action = None
        self.event("table")
        if nm:
            self.drop("implicit", "no match (implicit drop)", frame, idx)

    def on_action(self, text):
        frame = self.stack[-1]
        if frame.own_hop:
            self.hops[frame.last_hop]["actions"].append(text)
        else:
            # Actions of a clone or generated packet before any table of its own.
            frame.actions.append(text)
        self.last_action = text
        if frame.gen is None:
            self.tail_actions.append(text)
            self.tail_ctx = frame.ctx
        self.known += 1
        self.seq += 1
        self.last_event = "action"
        if text[0] == "d" and (text == "drop;" or text == "drop"):
            self.drop("explicit", "drop;", frame, frame.last_hop)
        elif text[0] == "l" and text.startswith("log("):
            args = _log_args(text)
            if args is not None:
                entry = _log_action_args(args)
                entry["_seq"] = self.seq
                entry["_hop"] = frame.last_hop
                entry["_gen"] = frame.gen
                self.log_actions.append(entry)

    def on_output(self, port, ptype):
        frame = self.stack[-1]
        out = {"datapath": frame.ctx.get("datapath"), "port": port, "type": ptype}
        self.event("output")
        if ptype in PEER_TYPES:
            self.handoffs.append(dict(out, _gen=frame.gen, _seq=self.seq))
            self.last_event = "handoff"
            return
        self._deliver(frame, out)

    def _deliver(self, frame, out):
        if frame.gen is None or frame.gen in ANSWER_KINDS:
            self.outputs.append(out)
        if frame.gen is not None:
            self.generated[frame.gen_index]["outputs"].append(out)

    def on_minimal_output(self, port):
        frame = self.stack[-1]
        self.event("output")
        self._deliver(frame, {"datapath": frame.ctx.get("datapath"), "port": port, "type": None})

    def on_log(self, m):
        entry = {"name": m.group("name"), "direction": m.group("direction"), "verdict": m.group("verdict"),
                 "severity": m.group("severity"), "packet": m.group("packet")}
        self.logs.append(entry)
        frame = self.stack[-1]
        self.event("log")
        self.log_actions.append(dict(entry, _seq=self.seq, _hop=frame.last_hop, _gen=frame.gen, _line=True))

    def on_star(self, error):
        self.errors.append("*** " + error)
        self.event("error")
        if any(f in error for f in FATAL_STAR_ERRORS):
            self.drop("error", "*** " + error, self.stack[-1], self.stack[-1].last_hop)
        elif "not implemented" in error:
            # Old ovn-trace stops following the packet at actions it cannot simulate.
            self.last_event = "unsupported"

    def drop(self, kind, reason, frame, hop_index):
        self.drops.append({"kind": kind, "reason": reason, "_hop": hop_index, "_gen": frame.gen,
                           "_ctx": frame.ctx, "_seq": self.seq, "_mcast": frame.mcast})


def _log_action_args(args):
    entry = {"name": None, "verdict": None, "severity": None, "meter": None, "direction": None}
    for key, value in _key_values(args):
        if key in entry:
            entry[key] = value
    return entry


def _split_all(lines):
    """--all output: the parts after '# Detailed trace.', '# Summary trace.', '# Minimal trace.'."""
    parts = {}
    current = None
    head = []
    marker = _T["format_marker"]
    for line in lines:
        m = marker.match(line) if line.startswith("#") else None
        if m:
            current = m.group("format").lower()
            parts[current] = []
        elif current is None:
            head.append(line)
        else:
            parts[current].append(line)
    return head, parts


# Detailed output has numbered tables and underlined titles; the literal "\n" lets re skip ahead fast.
_RE_DETAILED_TEXT = re.compile(r"""\n[ \t]*(?:\d+\.[ ]|-{3,}[ \t]*(?:\r?\n|$))""")


def _detect_format(text):
    """detailed (numbered tables, underlined titles), summary (braced pipelines) or minimal."""
    pos = text.find("---")
    while pos >= 0:
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        if not text[start:end if end >= 0 else len(text)].strip(" \t\r-"):
            return "detailed"  # an underline: only the detailed format has titles
        pos = text.find("---", end) if end >= 0 else -1
    if _RE_DETAILED_TEXT.search("\n" + text[:65536]):
        return "detailed"  # a fragment made of numbered tables
    # The minimal format prunes pipelines, outputs to ports and plain actions: none of these.
    if "gress(" in text or "multicast(" in text or "/* output to " in text or "next;" in text or "drop;" in text:
        return "summary"
    return "minimal"


def _line_kind(s):
    """Return (name, match) for a stripped line, trying only the templates its first character allows."""
    c = s[0]
    if c.isdigit():
        m = _T["table"].match(s)
        if m:
            return "table", m
    elif c == "/":
        if s.startswith("/* output to"):
            m = _T["output"].match(s)
            if m:
                return "output", m
        elif s.startswith("/* omitting"):
            m = _T["omitting"].match(s)
            if m:
                return "omitting", m
        elif s.startswith("/* Replacing"):
            m = _T["redirect"].match(s)
            if m:
                return "redirect", m
    elif c == "*" and s.startswith("***"):
        return "star_error", _T["star_error"].match(s)
    elif c == "L" and s.startswith("LOG:"):
        m = _T["log"].match(s)
        if m:
            return "log", m
    elif c == "c" and s.startswith("cookie=0x"):
        m = _T["openflow"].match(s)
        if m:
            return "openflow", m
    elif c == "o" and s.startswith("output("):
        m = _T["minimal_output"].match(s)
        if m:
            return "minimal_output", m
    elif c == "}":
        m = _T["close"].match(s)
        if m:
            return "close", m
    if c in "iem" and ("gress(" in s or s.startswith("multicast(")):
        m = _T["pipeline"].match(s)
        if m:
            return "pipeline", m
    if c in "uefmo":
        m = _T["fatal"].match(s)
        if m:
            return "fatal", m
    return "action", None


def _indent_of(line, s, name, m):
    indent = len(line) - len(line.lstrip())
    if name == "table":
        # "%2d. " pads one-digit table numbers with a space: that space is not indentation.
        pad = 2 - len(m.group("table"))
        if pad > 0 and indent >= pad:
            indent -= pad
    return indent


_NOT_PLAIN = frozenset("0123456789/*L}#")


def _parse_detailed(lines, tr):
    """Nesting from indentation (see ovntrace_node_print_details in ovn-trace.c)."""
    stripped = [line.strip() for line in lines]
    n = len(lines)
    stack = tr.stack
    underline = _T["underline"].match
    flow_re = _T["flow"].match
    marker_re = _T["format_marker"].match
    on_action = tr.on_action
    not_plain = _NOT_PLAIN
    i = 0
    try:
        for i in range(n):
            s = stripped[i]
            if not s:
                continue
            c = s[0]
            if c == "-" and underline(s):
                continue
            # A title is followed by a line of dashes; the title's section holds what follows it.
            nxt = stripped[i + 1] if i + 1 < n else ""
            title = bool(nxt) and nxt[0] == "-" and underline(nxt) is not None
            if not title and s[-1] == ";" and c not in not_plain and not s.startswith("cookie="):
                # Fast path: a plain action line inside the current section.
                line = lines[i]
                indent = len(line) - len(line.lstrip())
                top = stack[-1]
                if top.threshold is not None and indent >= top.threshold:
                    on_action(s)
                    continue
                name, m = "action", None
            elif c == "#":
                if tr.flow is None and not tr.hops and not tr.path:
                    fm = flow_re(s)
                    if fm and not marker_re(s):
                        tr.flow = fm.group("flow")
                continue
            else:
                name, m = _line_kind(s)
                line = lines[i]
                indent = _indent_of(line, s, name, m)
            if not title and name == "action" and s[-1] != ";" and (
                    _RE_GENERATED_HEADER.match(s) or _RE_CT_HEADER.match(s)):
                title = True  # a section title whose underline was lost
            is_head = title or name in ("table", "pipeline")
            # Close the sections this line is not part of.
            while len(stack) > 1:
                top = stack[-1]
                if top.threshold is None:
                    h = top.indent
                    if indent >= h + 8 or (indent == h + 4 and is_head):
                        top.threshold = h + 4
                    else:
                        top.threshold = h
                if indent < top.threshold:
                    stack.pop()
                    continue
                break
            _dispatch(tr, name, m, s, indent, title)
    except OvnTraceParseError as exc:
        raise OvnTraceParseError("line %d: %s" % (i + 1, exc))


def _dispatch(tr, name, m, s, indent, title):
    if name == "table":
        tr.on_table(m, s)
    elif name == "pipeline":
        tr.on_pipeline(m, indent)
    elif name == "log":
        tr.on_log(m)
    elif name == "output":
        tr.on_output(_unquote(m.group("port")), m.group("type"))
    elif name == "omitting":
        tr.event("omitting")
        frame = tr.stack[-1]
        why = m.group("why").rstrip()
        tr.drop("loopback", "output omitted: %s" % (why[:-1] if why.endswith(".") else why), frame, frame.last_hop)
    elif name == "redirect":
        tr.event("redirect")
    elif name == "star_error":
        tr.on_star(m.group("error"))
    elif name == "openflow":
        hop = tr.current_hop()
        if hop is not None:
            hop["openflow"].append(m.group("flow"))
    elif name == "minimal_output":
        tr.on_minimal_output(_unquote(m.group("port")))
    elif name == "fatal":
        if not tr.hops and not tr.path and tr.stack[-1].kind == "root":
            tr.fatal.append(m.group("error"))
            tr.errors.append(m.group("error"))
        else:
            tr.on_action(s)
    elif title:
        tr.on_section(s, indent)
    elif s[-1] == ";" or s.endswith("*/"):
        tr.on_action(s)
    else:
        # ovn-trace ends every action with ';': anything else is not ovn-trace's.
        tr.unknown += 1
        if tr.first_unknown is None:
            tr.first_unknown = s[:200]


def _parse_braced(lines, tr):
    """Summary and minimal formats: sections open with 'header {' and close with '};'."""
    stack = tr.stack
    on_action = tr.on_action
    i = 0
    try:
        for i, line in enumerate(lines):
            s = line.strip()
            if not s:
                continue
            c = s[0]
            if s[-1] == ";" and c not in "/*L}#" and not (c == "o" and s.startswith("output(")) \
                    and not s.startswith("cookie="):
                on_action(s)  # fast path: a plain action or modification
                continue
            if c == "#":
                if tr.flow is None and not tr.path and not tr.outputs:
                    fm = _T["flow"].match(s)
                    if fm and not _T["format_marker"].match(s):
                        tr.flow = fm.group("flow")
                continue
            if s.endswith("{") and len(s) > 1:
                header = s[:-1].rstrip()
                pm = _T["pipeline"].match(header)
                if pm:
                    tr.on_pipeline(pm, 0)
                else:
                    tr.on_section(header, 0)
                continue
            name, m = _line_kind(s)
            if name == "close":
                if len(stack) > 1:
                    stack.pop()
                else:
                    tr.warn("unbalanced closing brace", s)
                continue
            _dispatch(tr, name, m, s, 0, False)
    except OvnTraceParseError as exc:
        raise OvnTraceParseError("line %d: %s" % (i + 1, exc))
    if len(stack) > 1:
        tr.warnings.append("%d section(s) not closed: the text may be cut short" % (len(stack) - 1))
        tr.unclosed = True


def _hop_public(hop):
    return dict(hop)


def _is_acl_stage(stage):
    return bool(stage) and bool(_RE_ACL_STAGE.match(stage))


def _find_acl(tr, drop_hop_index, drop_seq, gen, pipeline=None):
    """The ACL that decided: the ACL flow hop (with its log name and label) before the drop point."""
    hops = tr.hops
    acl_hop = None
    if drop_hop_index is not None:
        hop = hops[drop_hop_index]
        decided_earlier = bool(_RE_VERDICT_MATCH.search(hop["match"] or ""))
        if _is_acl_stage(hop["stage"]) and not decided_earlier:
            acl_hop = drop_hop_index
        if acl_hop is None and decided_earlier:
            # OVN >= 23.06: ls_*_acl_eval sets reg8[17]/reg8[18]; ls_*_acl_action drops or rejects.
            for idx in range(drop_hop_index, -1, -1):
                h = hops[idx]
                if h["datapath"] != hop["datapath"] or h["pipeline"] != hop["pipeline"] or h["generated"] != gen:
                    break
                if any(_RE_VERDICT_SET.search(a) for a in h["actions"]) or (
                        _is_acl_stage(h["stage"]) and any(a.startswith("log(") for a in h["actions"])
                        and idx != drop_hop_index):
                    acl_hop = idx
                    break
    log = None
    cands = [e for e in tr.log_actions if e["_seq"] <= drop_seq and e["_gen"] == gen]
    if acl_hop is not None:
        on_hop = [e for e in cands if e["_hop"] == acl_hop]
        if on_hop:
            log = on_hop[-1]
    if log is None:
        for entry in reversed(cands):
            if (entry.get("verdict") or "").lower() in ("drop", "reject", "deny"):
                log = entry
                break
    if acl_hop is None and log is None:
        return None
    acl = {"name": None, "verdict": None, "severity": None, "direction": None, "label": None, "meter": None,
           "uuid": None, "stage": None, "datapath": None, "pipeline": None, "priority": None, "match": None}
    if log is not None:
        for key in ("name", "verdict", "severity", "meter", "direction"):
            if log.get(key) and not acl[key]:
                acl[key] = log[key]
        # The LOG line names the direction IN/OUT; the log() action has the meter; use both.
        for entry in tr.log_actions:
            if entry is not log and entry["_hop"] == log["_hop"] and entry["_gen"] == gen and \
                    entry.get("name") == log.get("name"):
                for key in ("severity", "meter", "direction", "verdict"):
                    if entry.get(key) and not acl[key]:
                        acl[key] = entry[key]
    if acl["name"] == "<unnamed>":
        acl["name"] = None
    if acl_hop is not None:
        h = hops[acl_hop]
        acl.update({"uuid": h["uuid"], "stage": h["stage"], "datapath": h["datapath"], "pipeline": h["pipeline"],
                    "priority": h["priority"], "match": h["match"]})
        for a in h["actions"]:
            lm = _RE_LABEL.search(a)
            if lm:
                acl["label"] = lm.group("label")
    if acl["direction"] in ("IN", "in"):
        acl["direction"] = "from-lport"
    elif acl["direction"] in ("OUT", "out"):
        acl["direction"] = "to-lport"
    elif acl["direction"] is None:
        pipe = acl["pipeline"] or (hops[drop_hop_index]["pipeline"] if drop_hop_index is not None else pipeline)
        stage = acl["stage"] or ""
        if "_in_" in stage or (not stage and pipe == "ingress"):
            acl["direction"] = "from-lport"
        elif "_out_" in stage or (not stage and pipe == "egress"):
            acl["direction"] = "to-lport"
    if acl["verdict"] is None and acl_hop is not None:
        acts = " ".join(hops[acl_hop]["actions"])
        vm = _RE_VERDICT_SET.search(acts)
        if vm:
            acl["verdict"] = "drop" if vm.group("bit") == "17" else "reject"
    return acl


def _drop_record(tr, kind, reason, hop_index, ctx, seq, gen, acl_search=True):
    rec = {"datapath": ctx.get("datapath") if ctx else None, "pipeline": ctx.get("pipeline") if ctx else None,
           "table": None, "stage": None, "priority": None, "match": None, "actions": [], "uuid": None,
           "source": None}
    if hop_index is not None:
        rec.update(_hop_public(tr.hops[hop_index]))
        rec.pop("generated", None)
        rec.pop("openflow", None)
    rec["kind"] = kind
    rec["reason"] = reason
    rec["acl"] = _find_acl(tr, hop_index, seq, gen, rec["pipeline"]) if acl_search else None
    if rec["acl"] is not None and kind in ("explicit", "pipeline_end"):
        rec["kind"] = "acl"
    if rec["acl"] is not None and rec["acl"].get("name"):
        rec["reason"] = "%s (ACL %s)" % (reason, rec["acl"]["name"])
    return rec


def _pipeline_end_reason(tr, hop_index):
    hop = tr.hops[hop_index] if hop_index is not None else None
    acts = hop["actions"] if hop else tr.tail_actions[-8:]
    for a in acts:
        bm = _RE_BLOCKED.search(a)
        if bm:
            return "acl", "ACL verdict: drop (%s), pipeline ends" % bm.group("what")
    if hop and _RE_VERDICT_MATCH.search(hop["match"] or ""):
        vm = _RE_VERDICT_MATCH.search(hop["match"])
        return "acl", "ACL verdict: %s (%s), pipeline ends" % (
            "drop" if vm.group("bit") == "17" else "reject", vm.group(0))
    for a in acts:
        vm = _RE_VERDICT_SET.search(a)
        if vm:
            return "acl", "ACL verdict: %s (%s), pipeline ends" % ("drop" if vm.group("bit") == "17" else "reject", vm.group(0))
    for a in acts:
        if a.startswith("log(") and re.search(r"verdict=(drop|reject)", a):
            return "acl", "ACL verdict: drop (log verdict), pipeline ends"
    where = hop["stage"] if hop and hop["stage"] else "the last stage"
    return "pipeline_end", "pipeline ends after %s (no next or output)" % where


def _rejected(tr, g):
    """A reply (tcp_reset, icmp4/6, sctp_abort) was built instead of the packet."""
    ctx = {"datapath": g["datapath"], "pipeline": g["_pipeline"]}
    drop = _drop_record(tr, "reject", "%s sent instead of the packet" % g["kind"], g["_hop"], ctx, g["_seq"] + 1, None)
    if drop["acl"] is not None and drop["kind"] == "reject":
        drop["reason"] = "ACL reject: " + drop["reason"]
    return "rejected", drop


def _held_for_next_hop(tr, g):
    """A router asked for the next hop's MAC (arp, nd_ns) instead of forwarding: the packet goes no further."""
    ctx = {"datapath": g["datapath"], "pipeline": g["_pipeline"]}
    what = "ARP" if g["kind"] == "arp" else "neighbour solicitation"
    return "dropped", _drop_record(tr, "arp_pending", "next hop MAC unknown: %s request sent, packet held until it is "
                                   "resolved" % what, g["_hop"], ctx, g["_seq"], None, acl_search=False)


def _met_a_drop(tr, orig_drops):
    """The original packet met a drop; a multicast copy omitted at its own inport is expected, so the drop of
    another copy is preferred."""
    real = [d for d in orig_drops if d["kind"] != "loopback"]
    d = (real or orig_drops)[0]
    return "dropped", _drop_record(tr, d["kind"], d["reason"], d["_hop"], d["_ctx"], d["_seq"], None)


def _nothing_recognised(tr, fmt):
    """No trace line at all: partial, except a minimal trace of a flow, which prints nothing for a drop."""
    if fmt == "minimal" and tr.flow is not None:
        return "dropped", _drop_record(tr, "pipeline_end", "no output: the minimal trace shows no delivery", None, None,
                                       tr.seq, None, acl_search=False)
    return "partial", None


def _text_stops_early(tr, fmt):
    """True when the text ends where the packet still goes on (a fragment), not where its pipeline ends."""
    if fmt == "minimal":
        return tr.unclosed
    dangling = tr.last_event in ("handoff", "pipeline", "section", "unsupported") or tr.unclosed
    return dangling or bool(_RE_CONTINUE.match(tr.last_action or "") and tr.last_event == "action")


def _pipeline_ended(tr, fmt):
    """The packet neither left nor met an explicit drop, and its pipeline simply ends (an ACL verdict without
    next;, a ct_commit of a blocked connection): dropped after the last hop of the original packet."""
    hop_index = next((idx for idx in range(len(tr.hops) - 1, -1, -1) if tr.hops[idx]["generated"] is None), None)
    if fmt == "minimal":
        kind, reason = "pipeline_end", "no output: the minimal trace shows no delivery"
        acl_logs = [e for e in tr.log_actions if (e.get("verdict") or "") in ("drop", "reject")]
        if acl_logs:
            kind, reason = "acl", "ACL verdict: %s" % acl_logs[-1]["verdict"]
    else:
        kind, reason = _pipeline_end_reason(tr, hop_index)
    ctx = tr.tail_ctx or (tr.stack[-1].ctx if tr.stack else {})
    if hop_index is not None:
        ctx = {"datapath": tr.hops[hop_index]["datapath"], "pipeline": tr.hops[hop_index]["pipeline"]}
    drop = _drop_record(tr, kind, reason, hop_index, ctx, tr.seq, None)
    if kind == "acl":
        drop["kind"] = "acl"
    return "dropped", drop


def _verdict(tr, fmt):
    """(verdict, drop) from what the lines said, in order of precedence."""
    if tr.fatal and not (tr.hops or tr.path or tr.outputs):
        return "error", None
    if tr.unknown and tr.known == 0:
        return "partial", None
    if tr.outputs:
        return "delivered", None
    replies = [g for g in tr.generated if g["kind"] in REPLY_KINDS and g["_in"] is None]
    if replies:
        return _rejected(tr, replies[0])
    requests = [g for g in tr.generated if g["kind"] in REQUEST_KINDS and g["_in"] is None]
    if requests:
        return _held_for_next_hop(tr, requests[0])
    orig_drops = [d for d in tr.drops if d["_gen"] is None]
    if orig_drops:
        return _met_a_drop(tr, orig_drops)
    if not (tr.hops or tr.path or tr.outputs or tr.generated or tr.drops or tr.logs or tr.log_actions or tr.last_action):
        return _nothing_recognised(tr, fmt)
    if _text_stops_early(tr, fmt):
        return "partial", None
    return _pipeline_ended(tr, fmt)


def _finish(tr, fmt):
    """The public dict (see the module docstring) of what the lines said."""
    verdict, drop = _verdict(tr, fmt)
    generated = [{"kind": g["kind"], "datapath": g["datapath"], "stage": g["stage"], "uuid": g["uuid"],
                  "outputs": g["outputs"]} for g in tr.generated]
    warnings = tr.warnings
    for kind, seen in sorted(tr.warned.items()):
        if seen > MAX_WARNINGS:
            warnings.append("%d more '%s' warning(s) not listed" % (seen - MAX_WARNINGS, kind))
    return {
        "format": fmt,
        "flow": tr.flow,
        "verdict": verdict,
        "outputs": tr.outputs,
        "generated": generated,
        "hops": tr.hops,
        "path": tr.path,
        "drop": drop,
        "logs": tr.logs,
        "errors": tr.errors,
        "warnings": warnings,
    }


def _check_line_lengths(lines):
    if max(map(len, lines), default=0) <= MAX_LINE:
        return
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE:
            raise OvnTraceParseError("line %d is %d characters long (tabs expanded): ovn-trace prints no line longer "
                                     "than %d, so this is not its output (or it is damaged)" % (number, len(line), MAX_LINE))


def _looks_like_ofproto_trace(text):
    if "gress(" in text or "multicast(" in text:
        return False
    return 'bridge("' in text or "Datapath actions:" in text or "\nFlow: " in text or text.startswith("Flow: ")


def parse_ovn_trace(text):
    """Parse the output of ``ovn-trace`` (any format, any version); see the module docstring."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise OvnTraceInputError("ovn-trace output must be a string, got %s" % type(text).__name__)
    lines = text.expandtabs(8).splitlines()
    _check_line_lengths(lines)
    formats = None
    head, parts = _split_all(lines) if "# Detailed trace." in text or "# Summary trace." in text \
        or "# Minimal trace." in text else (lines, {})
    if parts:
        formats = [f for f in ("detailed", "summary", "minimal") if f in parts]
        body = head + parts[formats[0]]
        fmt = formats[0]
    else:
        body = lines
        fmt = _detect_format(text)
    tr = _Trace()
    if _looks_like_ofproto_trace(text):
        result = _finish(tr, fmt)
        result["verdict"] = "partial"
        result["warnings"].append("this is ovs-appctl ofproto/trace output (OpenFlow), not ovn-trace output")
        return result
    tr.push("root", ctx={"datapath": None, "pipeline": None, "inport": None, "outport": None, "mcgroup": None})
    tr.stack[0].threshold = 0
    # Parsing creates many small acyclic objects: the cyclic collector only slows it down.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        (_parse_detailed if fmt == "detailed" else _parse_braced)(body, tr)
        result = _finish(tr, fmt)
    finally:
        if gc_was_enabled:
            gc.enable()
    if formats:
        result["formats"] = formats
    if tr.unknown:
        result["warnings"].append("%d line(s) not recognised as ovn-trace output, first: %s"
                                  % (tr.unknown, tr.first_unknown))
    if not text.strip():
        result["warnings"].append("empty input: no ovn-trace output to parse")
    elif result["verdict"] == "partial" and not (tr.hops or tr.path or tr.outputs or tr.generated):
        result["warnings"].append("no ovn-trace line was recognised in the input")
    return result


def acl_hints(parsed):
    """What ovn-detrace needs to find the ACL of a drop or reject: lflow uuid prefix, stage, datapath...

    Returns None when the trace shows no ACL decision.
    """
    if not isinstance(parsed, dict):
        raise OvnTraceInputError("acl_hints expects the dict returned by parse_ovn_trace")
    drop = parsed.get("drop") or {}
    acl = drop.get("acl")
    if not acl:
        return None
    return {
        "lflow_uuid_prefix": acl.get("uuid"),
        "stage": acl.get("stage"),
        "datapath": acl.get("datapath") or drop.get("datapath"),
        "pipeline": acl.get("pipeline") or drop.get("pipeline"),
        "direction": acl.get("direction"),
        "priority": acl.get("priority"),
        "match": acl.get("match"),
        "name": acl.get("name"),
        "label": acl.get("label"),
        "verdict": acl.get("verdict") or ("reject" if parsed.get("verdict") == "rejected" else "drop"),
        "severity": acl.get("severity"),
        "meter": acl.get("meter"),
    }


def _observation(node, action, reason, datapath=None, **extra):
    # ``datapath`` (the logical switch or router) lets the runbook place a logical observation on the node
    # whose switch it is (OVN-Kubernetes names a node's switch after the node).
    obs = {"node": node, "netns": None, "endpoint": None, "component": "ovn", "action": action,
           "reason": reason, "time": None, "source": "ovn-trace", "datapath": datapath}
    obs.update(extra)
    return obs


def ovn_observations(parsed, node=None):
    """Observations (Received, Forwarded, Delivered, Dropped, Rejected) for the original packet."""
    if not isinstance(parsed, dict) or "verdict" not in parsed:
        raise OvnTraceInputError("ovn_observations expects the dict returned by parse_ovn_trace")
    obs = []
    path = [p for p in parsed.get("path") or [] if p.get("generated") is None]
    if path:
        first = path[0]
        obs.append(_observation(node, "Received", "ingress pipeline of datapath %s, inport %s"
                                % (first.get("datapath"), first.get("inport")), first.get("datapath")))
        seen = [first.get("datapath")]
        for p in path[1:]:
            if p.get("pipeline") == "ingress" and p.get("datapath") is not None:
                obs.append(_observation(node, "Forwarded", "from datapath %s to datapath %s (inport %s)"
                                        % (seen[-1], p.get("datapath"), p.get("inport")), p.get("datapath")))
                seen.append(p.get("datapath"))
    for out in parsed.get("outputs") or []:
        where = "port %s" % out.get("port")
        if out.get("datapath"):
            where += " of datapath %s" % out["datapath"]
        if out.get("type"):
            where += " (type %s)" % out["type"]
        obs.append(_observation(node, "Delivered", "output to " + where, out.get("datapath"), port=out.get("port")))
    verdict = parsed.get("verdict")
    drop = parsed.get("drop")
    if verdict in ("dropped", "rejected"):
        parts = []
        if drop:
            if drop.get("datapath"):
                parts.append("datapath %s" % drop["datapath"])
            if drop.get("stage"):
                parts.append("stage %s" % drop["stage"])
            if drop.get("uuid"):
                parts.append("lflow %s" % drop["uuid"])
            acl = drop.get("acl") or {}
            if acl.get("name"):
                parts.append("ACL %s" % acl["name"])
            parts.append(drop.get("reason") or "")
        obs.append(_observation(node, "Rejected" if verdict == "rejected" else "Dropped",
                                ", ".join(p for p in parts if p), (drop or {}).get("datapath"),
                                stage=(drop or {}).get("stage"), pipeline=(drop or {}).get("pipeline"),
                                acl=((drop or {}).get("acl") or {}).get("name")))
    elif verdict == "error":
        obs.append(_observation(node, "Dropped", "ovn-trace could not trace: %s" % "; ".join(parsed.get("errors") or [])))
    return obs

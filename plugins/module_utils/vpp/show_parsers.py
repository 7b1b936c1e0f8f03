# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse VPP ``show errors``, ``show runtime`` and ``show interface`` output (VPP 17.01 to 26.x).

Each parser is a table of line kinds, ``(name, matcher, what it yields)`` as cisco.nxos's rm_templates are,
run by the collection's one small engine (``common/line_table.py``, through ``run_table``): the kinds are tried in order on every line, the first that matches
decides what the line is and turns the match into fields. Every matcher is anchored and linear in the line
(no lazy group before trailing blanks, no two quantifiers that can share a character, node rows split from
the right instead of matched with a backtracking name); a line longer than ``MAX_SHOW_LINE`` characters or a
number longer than ``MAX_DIGITS`` digits is an error that names the line.

The formats, from vlib/error.c, vlib/node_cli.c and vnet/interface_format.c:

* ``show errors``: header ``Count Node Reason`` (before 21.01) or ``Count Node Reason Severity`` (21.01+),
  ``Index`` added by ``show errors verbose``, which also prints ``Thread N (name):`` sections and a
  ``Total:`` section. Rows are ``<count> <node> <reason words> [<severity>] [<index>]``; the reason is
  centred in a fixed width and may be cut short by VPP.
* ``show runtime``: optional ``Thread N name (lcore X)`` headers separated by ``---------------``, a
  ``Time ...`` line, a ``vector rates in ..., out ..., drop ..., punt ...`` line, a column header
  (``Clocks``, ``Packet-Clocks`` or ``Packet-Time``) and node rows ``<name> <state> <calls> <vectors>
  <suspends> <clocks> <vectors/call>``; the name is cut at 30 characters and may touch the state, and
  the state may be quoted (``"event wait"``) and cut at 12 characters (``interrupt wa``).
* ``show interface``: ``<name> <idx> <state> [<mtu L3/IP4/IP6/MPLS>] [<counter> <value>]`` and then one
  ``<counter> <value>`` per line (``rx packets``, ``rx bytes``, ``drops``, ``ip4``, ``tx-error``...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.line_table import first_match
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import (
    VppParseError,
    check_line_lengths,
    number,
)

MAX_NUMBER_TEXT = 64  # characters of one decimal or float figure (VPP prints %.2e or %.2f figures)
# The lines of these tables are short (node names are cut at 30 characters, reasons at 35): a longer line
# is damage or another command's output.
MAX_SHOW_LINE = 4096


def _text_lines(text, what):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise VppParseError("%s output must be a string, got %s" % (what, type(text).__name__))
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    check_line_lengths(lines, what, MAX_SHOW_LINE)
    return lines


def _figure(text, what, where):
    """float of a decimal figure printed by VPP, bounded in length."""
    if len(text) > MAX_NUMBER_TEXT:
        raise VppParseError("%s: %s has %d characters: VPP prints at most %d" % (where, what, len(text), MAX_NUMBER_TEXT))
    return float(text)


def run_table(text, what, kinds):
    """The VPP show outputs through the line-table engine: ``[(line number, kind, fields)]`` for the lines of
    ``text`` that a kind of the table recognises (blank lines and unrecognised lines left out).

    ``kinds`` is a sequence of ``(name, matcher, yields)``: ``matcher(line)`` (usually a compiled regex's
    ``match``) returns a match or None; ``yields(match, where)`` turns it into the fields of that line kind
    (``where`` names the line for error messages), or is None for lines that carry nothing. Raises
    VppParseError when non-blank text has no recognised line at all.
    """
    lines = _text_lines(text, what)
    found = []
    recognised = False
    for line_number, line in enumerate(lines, 1):
        line = line.rstrip()
        if not line:
            continue
        name, m, yields = first_match(line, kinds)
        if name is None:
            continue
        recognised = True
        if yields is not None:
            found.append((line_number, name, yields(m, "%s line %d" % (what, line_number))))
    if not recognised and any(line.strip() for line in lines):
        first = next(line.strip() for line in lines if line.strip())
        raise VppParseError("text is not VPP '%s' output: no line of it could be parsed (first line: %r)"
                            % (what, first[:120]))
    return found


def _groups(m, _where):
    return m.groupdict()


# ---------------------------------------------------------------------------------------------------
# show errors

SEVERITIES = ("error", "warn", "info", "unknown")


def _errors_thread(m, where):
    return {"thread": number(m.group("thread"), "thread number", where), "name": m.group("name")}


def _errors_row(m, where):
    return {"count": number(m.group("count"), "count", where), "node": m.group("node"), "words": m.group("rest").split()}


ERRORS_LINE_KINDS = (
    ("header", re.compile(r"^\s*Count\s+Node\s+Reason(?P<severity>\s+Severity)?(?P<index>\s+Index)?$").match, _groups),
    ("thread", re.compile(r"^\s*Thread\s+(?P<thread>[0-9]+)(?:\s*\((?P<name>[^)]*)\))?\s*:$").match, _errors_thread),
    ("total", re.compile(r"^\s*Total\s*:$").match, _groups),
    ("row", re.compile(r"^\s*(?P<count>[0-9]+)\s+(?P<node>\S+)\s+(?P<rest>\S.*)$").match, _errors_row),
)


def _ascii_number(word):
    return word.isdigit() and word.isascii()


def parse_vpp_errors(text):
    """``show errors`` -> list of ``{thread, thread_name, count, node, reason, severity, index}``.

    ``thread`` is the thread number from ``Thread N (name):`` sections (``show errors verbose``),
    ``"total"`` for the rows of the ``Total:`` section, and None when VPP printed no sections.
    """
    rows = []
    thread, thread_name = None, None
    has_severity = has_index = None
    for line_number, kind, fields in run_table(text, "show errors", ERRORS_LINE_KINDS):
        if kind == "header":
            has_severity, has_index = bool(fields["severity"]), bool(fields["index"])
        elif kind == "thread":
            thread, thread_name = fields["thread"], fields["name"]
        elif kind == "total":
            thread, thread_name = "total", None
        else:
            words = fields["words"]
            severity = index = None
            if len(words) > 1 and _ascii_number(words[-1]) and (has_index or (has_index is None and thread is not None)):
                index = number(words.pop(), "index", "show errors line %d" % line_number)
            if len(words) > 1 and words[-1] in SEVERITIES and has_severity is not False:
                severity = words.pop()
            rows.append({"thread": thread, "thread_name": thread_name, "count": fields["count"],
                         "node": fields["node"], "reason": " ".join(words), "severity": severity, "index": index})
    return rows


def _row_count(row, what, position):
    """(key, count) of one parse_vpp_errors row given back by a caller; VppParseError when it is not one."""
    if not isinstance(row, dict):
        raise VppParseError("%s row %d is not a parse_vpp_errors row (a dict), got %s" % (what, position, type(row).__name__))
    node, reason, count = row.get("node"), row.get("reason"), row.get("count")
    if not isinstance(node, str) or not isinstance(reason, str):
        raise VppParseError("%s row %d needs 'node' and 'reason' strings" % (what, position))
    if isinstance(count, bool) or not isinstance(count, (int, str)):
        raise VppParseError("%s row %d: count must be a number, got %r" % (what, position, count))
    return (node, reason), count if isinstance(count, int) else number(count, "count", "%s row %d" % (what, position))


def error_totals(rows, what="rows"):
    """``(totals, severities)``: counts summed per ``(node, reason)`` and the severity of each.

    Per-thread rows are summed when present (``show errors verbose`` prints them beside a ``Total:``
    section, which would count them twice); an output with only a ``Total:`` section (or rows without
    sections) is summed as it is. This is the one summer of error counters (``vpp_errors_delta`` and the
    vpp_trace module's reset detection use it).
    """
    rows = rows or []
    per_thread = [r for r in rows if not (isinstance(r, dict) and r.get("thread") == "total")]
    use = per_thread if per_thread else rows
    totals = {}
    meta = {}
    for position, row in enumerate(use, 1):
        key, count = _row_count(row, what, position)
        totals[key] = totals.get(key, 0) + count
        meta.setdefault(key, row.get("severity"))
    return totals, meta


def vpp_errors_delta(before, after):
    """Counters that grew between two ``parse_vpp_errors`` snapshots, as the same row dicts.

    Rows are summed over threads per (node, reason). A counter absent from ``before`` counts from zero; a
    counter that went down (``clear errors`` in between) is reported with its ``after`` value. Sorted by
    count, largest first.
    """
    for name, value in (("before", before), ("after", after)):
        if not isinstance(value, list):
            raise VppParseError("%s must be a list of parse_vpp_errors rows, got %s" % (name, type(value).__name__))
    old, _meta = error_totals(before, "before")
    new, meta = error_totals(after, "after")
    delta = []
    for key, count in new.items():
        grown = count - old.get(key, 0)
        if grown < 0:
            grown = count
        if grown > 0:
            delta.append({"thread": None, "thread_name": None, "count": grown, "node": key[0], "reason": key[1],
                          "severity": meta.get(key), "index": None})
    delta.sort(key=lambda r: (-r["count"], r["node"], r["reason"]))
    return delta


# ---------------------------------------------------------------------------------------------------
# show runtime

# One figure: no two quantifiers can share a digit, so a long run of digits is read once.
_NUM = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_NUM_RE = re.compile(_NUM)
_STATE = (r'(?P<state>"[a-z]+(?:[ ][a-z]+)*"?|active|polling|disabled|interrupt(?:[ ]wa(?:it?)?)?|event[ ]wait|any[ ]wait'
          r'|clock[ ]wait|time[ ]wait|one[ ]time[ ]ev\w*(?:[ ]\w+)*|done|running|suspended|not[ ]started|yield|unknown)')
# The state printed at the end of the name-and-state column; VPP's longest is 21 characters.
_STATE_AT_END = re.compile(r"[ ]*" + _STATE + r"$")
_STATE_TAIL = 40


def _runtime_thread(m, where):
    lcore = m.group("lcore")
    return {"thread": number(m.group("thread"), "thread number", where), "name": m.group("name"),
            "lcore": number(lcore, "lcore", where) if lcore is not None else None}


def _runtime_time(m, where):
    fields = {"time": _figure(m.group("time"), "time", where)}
    rest = m.group("rest")
    for key, find in _TIME_FIELDS:
        value = find(rest)
        if value is not None:
            fields[key] = _num(value, key, where)
    return fields


def _runtime_rates(m, where):
    return dict((k, _figure(m.group(k), "vector rate", where)) for k in ("in", "out", "drop", "punt"))


def _runtime_node(line):
    """The columns of a node row, split from the right: ``<name><state> <calls> <vectors> <suspends> <clocks>
    <vectors/call>``, where the name (cut at 30 characters) may touch the state. None when it is not one."""
    parts = line.rsplit(None, 5)
    if len(parts) != 6:
        return None
    head, calls, vectors, suspends, clocks, vpc = parts
    if not (_ascii_number(calls) and _ascii_number(vectors) and _ascii_number(suspends)
            and _NUM_RE.fullmatch(clocks) and _NUM_RE.fullmatch(vpc)):
        return None
    head = head.lstrip(" \t")
    if head[-1:] == " " or not head:
        return None
    state = _STATE_AT_END.search(head, max(1, len(head) - _STATE_TAIL))
    if state is None:
        return None
    return {"name": head[:state.start()], "state": state.group("state"), "calls": calls, "vectors": vectors,
            "suspends": suspends, "clocks": clocks, "vpc": vpc}


def _runtime_node_fields(m, where):
    return {
        "name": m["name"].strip(), "state": _node_state(m["state"]),
        "calls": number(m["calls"], "calls", where), "vectors": number(m["vectors"], "vectors", where),
        "suspends": number(m["suspends"], "suspends", where), "clocks": _figure(m["clocks"], "clocks", where),
        "vectors_per_call": _figure(m["vpc"], "vectors/call", where), "events_pending": False}


def _runtime_node_max(line):
    """A ``show runtime max`` row: ``<name> <max clocks> <vectors at max> <max clocks/vector> <avg clocks>
    <avg vectors/call>``."""
    parts = line.split()
    if len(parts) != 6 or not _ascii_number(parts[2]):
        return None
    if not all(_NUM_RE.fullmatch(p) for p in (parts[1], parts[3], parts[4], parts[5])):
        return None
    return parts


def _runtime_node_max_fields(parts, where):
    return {"name": parts[0], "max_clocks": _figure(parts[1], "max clocks", where),
            "vectors_at_max": number(parts[2], "vectors at max", where),
            "max_clocks_per_vector": _figure(parts[3], "max clocks/vector", where),
            "avg_clocks": _figure(parts[4], "avg clocks", where),
            "avg_vectors_per_call": _figure(parts[5], "avg vectors/call", where)}


def _events_pending(line):
    return line[:1] in (" ", "\t") and line.lstrip().startswith("events pending")


def _clocks_header(m, _where):
    return {"unit": "ns" if m.group("clocks") == "Packet-Time" else "clocks", "column": m.group("clocks")}


def _clocks_header_max(m, _where):
    return {"unit": "ns" if m.group("unit").startswith("Time") else "clocks", "column": "max"}


RUNTIME_LINE_KINDS = (
    ("separator", re.compile(r"^\s*-{5,}$").match, None),
    ("thread", re.compile(r"^\s*Thread\s+(?P<thread>[0-9]+)\s+(?P<name>\S+)(?:\s+\(lcore\s+(?P<lcore>[0-9]+)\))?$").match,
     _runtime_thread),
    ("time", re.compile(r"^\s*Time\s+(?P<time>" + _NUM + r")\s*,\s*(?P<rest>.*)$").match, _runtime_time),
    ("rates", re.compile(r"^\s*vector\s+rates\s+in\s+(?P<in>" + _NUM + r")\s*,\s*out\s+(?P<out>" + _NUM
                         + r")\s*,\s*drop\s+(?P<drop>" + _NUM + r")\s*,\s*punt\s+(?P<punt>" + _NUM + r")").match,
     _runtime_rates),
    ("header_max", re.compile(r"^\s*Name\s+Max\s+Node\s+Clocks\s+Vectors\s+at\s+Max\s+Max\s+Clocks\s+Avg\s+"
                              r"(?P<unit>Clocks|Time\s+\(ns\))").match, _clocks_header_max),
    ("header", re.compile(r"^\s*Name\s+State\s+Calls\s+Vectors\s+Suspends\s+(?P<clocks>Packet-Clocks|Packet-Time|Clocks)"
                          r"\s+Vectors/Call$").match, _clocks_header),
    ("node", _runtime_node, _runtime_node_fields),
    ("node_max", _runtime_node_max, _runtime_node_max_fields),
    ("misc", _events_pending, lambda _m, _where: {}),
)


def _after(prefix, suffix=""):
    """A finder for the figure right after ``prefix`` (and before ``suffix``) in the rest of a Time line."""
    rx = re.compile("(" + _NUM + ")" + re.escape(suffix))

    def find(rest):
        pos = rest.find(prefix)
        if pos < 0:
            return None
        # a window longer than any figure: the match costs the same whatever the line
        m = rx.match(rest, pos + len(prefix), pos + len(prefix) + MAX_NUMBER_TEXT + len(suffix) + 1)
        return m.group(1) if m else None
    return find


def _before(suffix):
    """A finder for the figure just before ``suffix``."""
    rx = re.compile("(" + _NUM + ")" + re.escape(suffix))

    def find(rest):
        pos = rest.find(suffix)
        if pos < 0:
            return None
        m = rx.search(rest, max(0, pos - MAX_NUMBER_TEXT), pos + len(suffix))
        return m.group(1) if m else None
    return find


# The figures of the ``Time`` line, found by their words (plain string search: no regex can backtrack).
_TIME_FIELDS = (
    ("average_vectors_per_node", _after("average vectors/node ")),
    ("last_main_loops", _after("last ", " main loops")),
    ("vectors_per_node_last_loops", _after("main loops ", " per node")),
    ("stats_update_interval", _before(" sec internal")),
    ("internal_node_vector_rate", _after("internal node vector rate ")),
    ("loops_per_second", _after("loops/sec ")),
)


NODE_STATES = ("active", "polling", "disabled", "interrupt wait", "not started", "running", "suspended", "event wait",
               "clock wait", "any wait", "one time event wait", "yield", "done", "time wait", "unknown")


def _node_state(printed):
    """The state as VPP knows it: quotes removed, and a state cut at 12 characters completed."""
    state = printed.strip().strip('"')
    if state in NODE_STATES:
        return state
    for known in NODE_STATES:
        if known.startswith(state):
            return known
    return state


def _num(value, what, where):
    figure = _figure(value, what, where)
    if figure.is_integer() and "e" not in value.lower() and "." not in value:
        return number(value, what, where)
    return figure


def _new_runtime_thread(threads, number_=None, name=None, lcore=None):
    entry = {"thread": len(threads) if number_ is None else number_, "name": name, "lcore": lcore, "time": None,
             "vector_rates": None, "clocks_unit": None, "nodes": []}
    threads.append(entry)
    return entry


def parse_vpp_runtime(text):
    """``show runtime`` -> ``{threads: [{thread, name, lcore, time, ..., vector_rates, nodes: [...]}]}``.

    Node rows: ``{name, state, calls, vectors, suspends, clocks, vectors_per_call}`` (``clocks`` is the
    ``Clocks``/``Packet-Clocks`` column, or nanoseconds for ``Packet-Time``; ``clocks_unit`` on the thread
    says which), or for ``show runtime max`` ``{name, max_clocks, vectors_at_max, max_clocks_per_vector,
    avg_clocks, avg_vectors_per_call}``.
    """
    threads = []
    current = None
    for _line_number, kind, fields in run_table(text, "show runtime", RUNTIME_LINE_KINDS):
        if kind == "thread":
            current = _new_runtime_thread(threads, fields["thread"], fields["name"], fields["lcore"])
            continue
        if current is None or (kind == "time" and current["time"] is not None):
            current = _new_runtime_thread(threads)
        if kind == "time":
            current.update(fields)
        elif kind == "rates":
            current["vector_rates"] = fields
        elif kind in ("header", "header_max"):
            current["clocks_unit"] = fields["unit"]
            current["clocks_column"] = fields["column"]
        elif kind in ("node", "node_max"):
            current["nodes"].append(fields)
        elif kind == "misc" and current["nodes"]:
            current["nodes"][-1]["events_pending"] = True
    return {"threads": threads}


# ---------------------------------------------------------------------------------------------------
# show interface

_IF_STATE = r"(?P<state>up|down|error|up/punt|down/punt)"
_INTERFACE = re.compile(r"^[ \t]*(?P<name>\S+?)[ ]+(?P<idx>[0-9]+)[ ]+" + _IF_STATE
                        + r"(?:[ ]+(?P<mtu>[0-9]+/[0-9]+/[0-9]+/[0-9]+))?(?P<rest>(?:[ ].*)?)$")
_COUNTER_NAME = re.compile(r"[A-Za-z][\w-]*(?:[ ][A-Za-z][\w-]*)*")


def _counter_of(text):
    """``(name, value)`` of ``<counter name> <value>`` (words starting with a letter, then a number), or None.
    Split at the last blank run, then matched whole: a row that is not one fails in time linear in it."""
    parts = text.strip(" ").rsplit(" ", 1)
    if len(parts) != 2 or not _ascii_number(parts[1]):
        return None
    name = parts[0].rstrip(" ")
    return (name, parts[1]) if _COUNTER_NAME.fullmatch(name) else None


def _interface_line(line):
    m = _INTERFACE.match(line)
    if m is None:
        return None
    fields = m.groupdict()
    counter = _counter_of(fields.pop("rest")) if m.group("rest").strip(" ") else ()
    if counter is None:
        return None
    fields["counter"], fields["value"] = counter or (None, None)
    return fields


def _counter_line(line):
    if line[:1] not in (" ", "") and not line[:1].isalpha():
        return None
    counter = _counter_of(line)
    return {"counter": counter[0], "value": counter[1]} if counter else None


def _interface(m, where):
    mtu = None
    if m["mtu"]:
        l3, ip4, ip6, mpls = (number(v, "MTU", where) for v in m["mtu"].split("/"))
        mtu = {"l3": l3, "ip4": ip4, "ip6": ip6, "mpls": mpls}
    fields = {"name": m["name"], "idx": number(m["idx"], "interface index", where), "state": m["state"], "mtu": mtu}
    fields.update(_counter(m, where))
    return fields


def _counter(m, where):
    if not m["counter"]:
        return {"counter": None}
    return {"counter": m["counter"], "value": number(m["value"], "counter value", where)}


INTERFACE_LINE_KINDS = (
    ("header", re.compile(r"^\s*Name\s+Idx\s+(?:State|Link)\b").match, None),
    ("interface", _interface_line, _interface),
    ("counter", _counter_line, _counter),
)


def parse_vpp_interfaces(text):
    """``show interface`` -> list of ``{name, idx, state, admin_up, mtu, counters: {name: value}}``.

    ``mtu`` is ``{l3, ip4, ip6, mpls}`` (VPP 18.10 and later print it) or None. Counter names are VPP's
    with spaces and dashes turned into underscores (``rx_packets``, ``rx_bytes``, ``drops``, ``ip4``,
    ``tx_error``); the names as printed are in ``counters_raw``.
    """
    interfaces = []
    current = None
    for _line_number, kind, fields in run_table(text, "show interface", INTERFACE_LINE_KINDS):
        if kind == "interface":
            state = fields["state"]
            current = {"name": fields["name"], "idx": fields["idx"], "state": state,
                       "admin_up": state.startswith("up"), "mtu": fields["mtu"], "counters": {}, "counters_raw": {}}
            interfaces.append(current)
        if fields["counter"] and current is not None:
            raw = fields["counter"]
            current["counters_raw"][raw] = fields["value"]
            current["counters"][re.sub(r"[ -]+", "_", raw)] = fields["value"]
    return interfaces

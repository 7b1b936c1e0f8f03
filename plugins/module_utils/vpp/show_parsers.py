# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse VPP ``show errors``, ``show runtime`` and ``show interface`` output (VPP 17.01 to 26.x).

Each parser is a table of line kinds, ``(name, compiled regex)``, tried in order on every line; the first
that matches decides what the line is. The formats, from vlib/error.c, vlib/node_cli.c and
vnet/interface_format.c:

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

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import VppParseError


# No line of these tables comes near this; longer lines are skipped, which also bounds the regex work.
MAX_LINE = 4096


def _text_lines(text, what):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if not isinstance(text, str):
        raise VppParseError("%s output must be a string, got %s" % (what, type(text).__name__))
    return [line if len(line) <= MAX_LINE else "<line of %d characters skipped>" % len(line)
            for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]


def _classify(line, kinds):
    """The first (kind, match) of a parser table that matches the line, or (None, None)."""
    for kind, rx in kinds:
        m = rx.match(line)
        if m:
            return kind, m
    return None, None


def _not_recognised(what, lines):
    first = next((line.strip() for line in lines if line.strip()), "")
    return VppParseError("text is not VPP '%s' output: no line of it could be parsed (first line: %r)" % (what, first[:120]))


# ---------------------------------------------------------------------------------------------------
# show errors

SEVERITIES = ("error", "warn", "info", "unknown")

ERRORS_LINE_KINDS = (
    ("header", re.compile(r"^\s*Count\s+Node\s+Reason(?P<severity>\s+Severity)?(?P<index>\s+Index)?\s*$")),
    ("thread", re.compile(r"^\s*Thread\s+(?P<thread>\d+)\s*(?:\((?P<name>[^)]*)\))?\s*:\s*$")),
    ("total", re.compile(r"^\s*Total\s*:\s*$")),
    ("row", re.compile(r"^\s*(?P<count>\d+)\s+(?P<node>\S+)\s+(?P<rest>\S.*?)\s*$")),
    ("blank", re.compile(r"^\s*$")),
)


def parse_vpp_errors(text):
    """``show errors`` -> list of ``{thread, thread_name, count, node, reason, severity, index}``.

    ``thread`` is the thread number from ``Thread N (name):`` sections (``show errors verbose``),
    ``"total"`` for the rows of the ``Total:`` section, and None when VPP printed no sections.
    """
    lines = _text_lines(text, "show errors")
    rows = []
    thread, thread_name = None, None
    has_severity = has_index = None
    recognised = False
    for line in lines:
        kind, m = _classify(line, ERRORS_LINE_KINDS)
        if kind is None:
            continue
        if kind == "blank":
            continue
        recognised = True
        if kind == "header":
            has_severity, has_index = bool(m.group("severity")), bool(m.group("index"))
        elif kind == "thread":
            thread, thread_name = int(m.group("thread")), m.group("name")
        elif kind == "total":
            thread, thread_name = "total", None
        else:
            words = m.group("rest").split()
            severity = index = None
            if len(words) > 1 and words[-1].isdigit() and (has_index or (has_index is None and thread is not None)):
                index = int(words.pop())
            if len(words) > 1 and words[-1] in SEVERITIES and has_severity is not False:
                severity = words.pop()
            rows.append({"thread": thread, "thread_name": thread_name, "count": int(m.group("count")),
                         "node": m.group("node"), "reason": " ".join(words), "severity": severity, "index": index})
    if not recognised and any(line.strip() for line in lines):
        raise _not_recognised("show errors", lines)
    return rows


def _error_totals(rows):
    """Sum counts per (node, reason): per-thread rows when present, else the Total section."""
    rows = rows or []
    per_thread = [r for r in rows if r.get("thread") != "total"]
    use = per_thread if per_thread else rows
    totals = {}
    meta = {}
    for row in use:
        key = (row["node"], row["reason"])
        totals[key] = totals.get(key, 0) + int(row["count"])
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
    old, _meta = _error_totals(before)
    new, meta = _error_totals(after)
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

_STATE = (r'(?P<state>"[a-z]+(?:[ ][a-z]+)*"?|active|polling|disabled|interrupt(?:[ ]wa(?:it?)?)?|event[ ]wait|any[ ]wait'
          r'|clock[ ]wait|time[ ]wait|one[ ]time[ ]ev\w*(?:[ ]\w+)*|done|running|suspended|not[ ]started|yield|unknown)')
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

RUNTIME_LINE_KINDS = (
    ("separator", re.compile(r"^\s*-{5,}\s*$")),
    ("thread", re.compile(r"^\s*Thread\s+(?P<thread>\d+)\s+(?P<name>\S+)(?:\s+\(lcore\s+(?P<lcore>\d+)\))?\s*$")),
    ("time", re.compile(r"^\s*Time\s+(?P<time>" + _NUM + r")\s*,\s*(?P<rest>.*)$")),
    ("rates", re.compile(r"^\s*vector\s+rates\s+in\s+(?P<in>" + _NUM + r")\s*,\s*out\s+(?P<out>" + _NUM
                         + r")\s*,\s*drop\s+(?P<drop>" + _NUM + r")\s*,\s*punt\s+(?P<punt>" + _NUM + r")")),
    ("header_max", re.compile(r"^\s*Name\s+Max\s+Node\s+Clocks\s+Vectors\s+at\s+Max\s+Max\s+Clocks\s+Avg\s+(?P<unit>Clocks|Time\s+\(ns\))")),
    ("header", re.compile(r"^\s*Name\s+State\s+Calls\s+Vectors\s+Suspends\s+(?P<clocks>Packet-Clocks|Packet-Time|Clocks)\s+Vectors/Call\s*$")),
    ("node", re.compile(r"^[ \t]*(?P<name>\S.*?)[ ]*" + _STATE + r"[ ]+(?P<calls>\d+)[ ]+(?P<vectors>\d+)[ ]+(?P<suspends>\d+)[ ]+(?P<clocks>"
                        + _NUM + r")[ ]+(?P<vpc>" + _NUM + r")\s*$", re.X)),
    ("node_max", re.compile(r"^\s*(?P<name>\S+?)\s+(?P<max_clocks>" + _NUM + r")\s+(?P<vectors_at_max>\d+)\s+(?P<max_clocks_per_vector>"
                            + _NUM + r")\s+(?P<avg_clocks>" + _NUM + r")\s+(?P<avg_vpc>" + _NUM + r")\s*$")),
    ("misc", re.compile(r"^\s+(?P<info>events pending.*?),?\s*$")),
    ("blank", re.compile(r"^\s*$")),
)

_TIME_FIELDS = (
    ("average_vectors_per_node", re.compile(r"average vectors/node (" + _NUM + ")")),
    ("last_main_loops", re.compile(r"last (\d+) main loops")),
    ("vectors_per_node_last_loops", re.compile(r"main loops (" + _NUM + ") per node")),
    ("stats_update_interval", re.compile(r"(" + _NUM + r") sec internal")),
    ("internal_node_vector_rate", re.compile(r"internal node vector rate (" + _NUM + ")")),
    ("loops_per_second", re.compile(r"loops/sec (" + _NUM + ")")),
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


def _num(value):
    number = float(value)
    return int(number) if number.is_integer() and "e" not in value.lower() and "." not in value else number


def parse_vpp_runtime(text):
    """``show runtime`` -> ``{threads: [{thread, name, lcore, time, ..., vector_rates, nodes: [...]}]}``.

    Node rows: ``{name, state, calls, vectors, suspends, clocks, vectors_per_call}`` (``clocks`` is the
    ``Clocks``/``Packet-Clocks`` column, or nanoseconds for ``Packet-Time``; ``clocks_unit`` on the thread
    says which), or for ``show runtime max`` ``{name, max_clocks, vectors_at_max, max_clocks_per_vector,
    avg_clocks, avg_vectors_per_call}``.
    """
    lines = _text_lines(text, "show runtime")
    threads = []
    current = None
    recognised = False

    def new_thread(number, name=None, lcore=None):
        entry = {"thread": number, "name": name, "lcore": lcore, "time": None, "vector_rates": None,
                 "clocks_unit": None, "nodes": []}
        threads.append(entry)
        return entry

    for line in lines:
        kind, m = _classify(line, RUNTIME_LINE_KINDS)
        if kind is None:
            continue
        if kind in ("blank", "separator"):
            continue
        recognised = True
        if kind == "thread":
            current = new_thread(int(m.group("thread")), m.group("name"),
                                 int(m.group("lcore")) if m.group("lcore") is not None else None)
            continue
        if current is None or (kind == "time" and current["time"] is not None):
            current = new_thread(len(threads))
        if kind == "time":
            current["time"] = float(m.group("time"))
            for key, rx in _TIME_FIELDS:
                found = rx.search(m.group("rest"))
                if found:
                    current[key] = _num(found.group(1))
        elif kind == "rates":
            current["vector_rates"] = dict((k, float(m.group(k))) for k in ("in", "out", "drop", "punt"))
        elif kind == "header":
            current["clocks_unit"] = "ns" if m.group("clocks") == "Packet-Time" else "clocks"
            current["clocks_column"] = m.group("clocks")
        elif kind == "header_max":
            current["clocks_unit"] = "ns" if m.group("unit").startswith("Time") else "clocks"
            current["clocks_column"] = "max"
        elif kind == "node":
            current["nodes"].append({
                "name": m.group("name").strip(), "state": _node_state(m.group("state")),
                "calls": int(m.group("calls")), "vectors": int(m.group("vectors")),
                "suspends": int(m.group("suspends")), "clocks": float(m.group("clocks")),
                "vectors_per_call": float(m.group("vpc")), "events_pending": False})
        elif kind == "node_max":
            current["nodes"].append({
                "name": m.group("name"), "max_clocks": float(m.group("max_clocks")),
                "vectors_at_max": int(m.group("vectors_at_max")),
                "max_clocks_per_vector": float(m.group("max_clocks_per_vector")),
                "avg_clocks": float(m.group("avg_clocks")), "avg_vectors_per_call": float(m.group("avg_vpc"))})
        elif kind == "misc" and current["nodes"]:
            current["nodes"][-1]["events_pending"] = True
    if not recognised and any(line.strip() for line in lines):
        raise _not_recognised("show runtime", lines)
    return {"threads": threads}


# ---------------------------------------------------------------------------------------------------
# show interface

_IF_STATE = r"(?P<state>up|down|error|up/punt|down/punt)"
_COUNTER = r"(?P<counter>[A-Za-z][\w-]*(?:[ ][A-Za-z][\w-]*)*?)[ ]+(?P<value>\d+)"

INTERFACE_LINE_KINDS = (
    ("header", re.compile(r"^\s*Name\s+Idx\s+(?:State|Link)\b.*$")),
    ("interface", re.compile(r"^[ \t]*(?P<name>\S+?)[ ]+(?P<idx>\d+)[ ]+" + _IF_STATE
                             + r"(?:[ ]+(?P<mtu>\d+/\d+/\d+/\d+))?(?:[ ]+" + _COUNTER + r")?[ ]*$")),
    ("counter", re.compile(r"^[ ]*" + _COUNTER + r"[ ]*$")),
    ("blank", re.compile(r"^\s*$")),
)


def parse_vpp_interfaces(text):
    """``show interface`` -> list of ``{name, idx, state, admin_up, mtu, counters: {name: value}}``.

    ``mtu`` is ``{l3, ip4, ip6, mpls}`` (VPP 18.10 and later print it) or None. Counter names are VPP's
    with spaces and dashes turned into underscores (``rx_packets``, ``rx_bytes``, ``drops``, ``ip4``,
    ``tx_error``); the names as printed are in ``counters_raw``.
    """
    lines = _text_lines(text, "show interface")
    interfaces = []
    current = None
    recognised = False
    for line in lines:
        line = line.rstrip()
        kind, m = _classify(line, INTERFACE_LINE_KINDS)
        if kind is None:
            continue
        if kind == "blank":
            continue
        recognised = True
        if kind == "interface":
            mtu = None
            if m.group("mtu"):
                l3, ip4, ip6, mpls = (int(v) for v in m.group("mtu").split("/"))
                mtu = {"l3": l3, "ip4": ip4, "ip6": ip6, "mpls": mpls}
            state = m.group("state")
            current = {"name": m.group("name"), "idx": int(m.group("idx")), "state": state,
                       "admin_up": state.startswith("up"), "mtu": mtu, "counters": {}, "counters_raw": {}}
            interfaces.append(current)
        if kind in ("interface", "counter") and m.group("counter"):
            if current is None:
                continue
            raw = m.group("counter")
            current["counters_raw"][raw] = int(m.group("value"))
            current["counters"][re.sub(r"[ -]+", "_", raw)] = int(m.group("value"))
    if not recognised and any(line.strip() for line in lines):
        raise _not_recognised("show interface", lines)
    return interfaces

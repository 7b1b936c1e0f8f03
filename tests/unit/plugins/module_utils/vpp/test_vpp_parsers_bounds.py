"""The VPP parsers never crash or hang (issue 9): one test per class the fuzz campaign found on main.

Each input here made a built-in exception escape, or took seconds to minutes, before the fix. Time is checked
against a budget that scales with the input's size (tests/support/parser_fuzz.py): generous for a linear
parser, far below what the old backtracking patterns needed on these lines.
"""

import pytest

from parser_fuzz import check_parser

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import (
    error_totals,
    parse_vpp_errors,
    parse_vpp_interfaces,
    parse_vpp_runtime,
    vpp_errors_delta,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import (
    VppParseError,
    parse_vpp_trace,
    timestamp_seconds,
    vpp_observations,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.vppctl import errors_delta

HUGE = "9" * 5000  # past Python's 4,300-digit limit of int()

PACKET = "Packet 1\n\n00:00:01:000001: af-packet-input\n  af_packet: hw_if_index 1 next-index 4\n%s\n"


@pytest.mark.parametrize("detail, what", [
    ("  TCP: 10.0.0.1 -> 10.0.0.2\n  tcp %s -> 80" % HUGE, "tcp port has 5000 digits"),
    ("  UDP: 10.0.0.1 -> 10.0.0.2\n  UDP: 53 -> %s" % HUGE, "udp port has 5000 digits"),
    ("  IP4: 02:00:00:00:00:01 -> 02:00:00:00:00:02 802.1q vlan %s" % HUGE, "vlan has 5000 digits"),
    ("  sw_if_index %s" % HUGE, "sw_if_index has 5000 digits"),
])
def test_trace_numbers_past_the_bound_are_our_error_naming_the_packet(detail, what):
    with pytest.raises(VppParseError, match="packet starting at line 1: %s" % what):
        parse_vpp_trace(PACKET % detail)


def test_handed_off_thread_past_the_bound():
    text = "Packet 1\n\n00:00:01:000001: handoff_trace\n  HANDED-OFF: from thread %s trace index 0\n" % HUGE
    with pytest.raises(VppParseError, match="HANDED-OFF thread has 5000 digits"):
        parse_vpp_trace(text)


# Structural lines are shorter than 1024 characters (a longer one is detail): 900 digits are still past the bound.
@pytest.mark.parametrize("header", ["Packet %s" % ("9" * 900), "--- Thread %s vpp_wk_0 ---" % ("9" * 900)])
def test_structural_numbers_past_the_bound_name_the_line(header):
    with pytest.raises(VppParseError, match="line 1: .* has [0-9]+ digits"):
        parse_vpp_trace(header + "\n\n00:00:01:000001: ip4-input\n  x\n")


def test_absurd_timestamp_is_refused_and_observations_never_overflow():
    # before: parsed, then vpp_observations raised OverflowError (int too large to convert to float)
    with pytest.raises(VppParseError, match="line 3: a timestamp of 413 characters"):
        parse_vpp_trace("Packet 1\n\n%s:00:00:000001: ip4-input\n  x\n" % ("9" * 400))
    # the longest timestamp allowed still gives a time (before: OverflowError from vpp_observations)
    parsed = parse_vpp_trace("Packet 1\n\n%s:00:00:000001: ip4-input\n  x\n" % ("9" * 50))
    assert vpp_observations(parsed, time_offset=1e308)[0]["vpp_time"].startswith("999")
    assert timestamp_seconds("9" * 400 + ":00:00:1") is None
    assert timestamp_seconds("1:00:00:000001") == pytest.approx(3600.000001)


def test_unicode_digit_in_the_index_column_is_part_of_the_reason():
    rows = parse_vpp_errors("   Count    Node    Reason    Severity   Index\n     3   ip4-input   bad thing   error   \u00b2\n")
    assert rows == [{"thread": None, "thread_name": None, "count": 3, "node": "ip4-input",
                     "reason": "bad thing error \u00b2", "severity": None, "index": None}]


def test_show_numbers_past_the_bound_name_the_line():
    with pytest.raises(VppParseError, match="show errors line 2: count has 4000 digits"):
        parse_vpp_errors("Count Node Reason\n%s ip4-input bad\n" % ("9" * 4000))
    with pytest.raises(VppParseError, match="show interface line 1: interface index has"):
        parse_vpp_interfaces("eth0 %s up\n" % ("9" * 30))
    with pytest.raises(VppParseError, match="show runtime line 1: time has 1000 characters"):
        parse_vpp_runtime("Time %s, average vectors/node 0.00\n" % ("1" * 1000))


def test_show_lines_past_the_bound_name_the_line():
    with pytest.raises(VppParseError, match="show errors line 2 is 5000 characters long"):
        parse_vpp_errors("Count Node Reason\n" + "x" * 5000)


# ------------------------------------------------------------------- superlinear patterns, now linear

SLOW_BEFORE = [
    # error-drop reason followed by a long run of blanks (quadratic)
    ("trace", "Packet 1\n\n00:00:01:000001: error-drop\n  ip4-input: no route" + " " * 30000 + "x\n"),
    # '--- Thread N' header with a long run of blanks (cubic: about 1 s per 1 KB line)
    ("trace", "\n".join(["--- Thread 1 a" + " " * 1000 + "--"] * 5)),
    # 'Time ...' with a long number (cubic)
    ("runtime", ("Time " + "1" * 2000 + "x\n") * 8),
    ("runtime", ("Time 1.0, 1" + "1" * 2000 + " sec\n") * 30),
    # per-row quadratic matching of show errors and show runtime rows (1 MB of rows: about 13 s)
    ("errors", ("1 node reason" + " " * 3000 + "x\n") * 300),
    ("runtime", ("ip4-input" + " " * 3000 + "active 1 2 3 4.0 x\n") * 300),
    ("runtime", ("  events pending" + " " * 3000 + "x\n") * 300),
    ("interfaces", ("eth0 1 up rx" + " a1" * 1000 + "\n") * 300),
]
PARSERS = {"trace": parse_vpp_trace, "runtime": parse_vpp_runtime, "errors": parse_vpp_errors,
           "interfaces": parse_vpp_interfaces}


@pytest.mark.parametrize("kind, text", SLOW_BEFORE, ids=["%s-%d" % (k, i) for i, (k, _t) in enumerate(SLOW_BEFORE)])
def test_lines_that_made_the_old_patterns_backtrack(kind, text):
    check_parser(PARSERS[kind], text, (VppParseError,))


# ---------------------------------------------------------------------- one error-counter summer

TOTAL_ONLY = """Total:
         5          ip4-input               ip4 ttl <= 1                   error   10
         2          acl-plugin-in-ip4-fa    ACL deny packets               error   20
"""


def test_a_total_only_output_is_summed_by_the_one_summer():
    rows = parse_vpp_errors(TOTAL_ONLY)
    assert [r["thread"] for r in rows] == ["total", "total"]
    assert error_totals(rows)[0] == {("ip4-input", "ip4 ttl <= 1"): 5, ("acl-plugin-in-ip4-fa", "ACL deny packets"): 2}
    cleared = parse_vpp_errors(TOTAL_ONLY.replace("         5  ", "         1  "))
    # before: the module's summer skipped Total rows, saw nothing and missed that a counter went down
    delta, reset = errors_delta(rows, cleared)
    assert reset is True
    assert [(r["node"], r["count"]) for r in delta] == [("ip4-input", 1)]
    assert vpp_errors_delta(rows, cleared) == delta


def test_rows_given_back_by_a_user_are_checked():
    with pytest.raises(VppParseError, match="before row 1: count must be a number"):
        vpp_errors_delta([{"node": "a", "reason": "b", "count": [1]}], [])
    with pytest.raises(VppParseError, match="after row 1 needs 'node' and 'reason' strings"):
        vpp_errors_delta([], [{"node": ["a"], "reason": "b", "count": 1}])

"""The nettrace parser never crashes or hangs (issue 9): one test per class the fuzz campaign found on main."""

import json
import tracemalloc

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_parse import (
    NettraceParseError,
    parse,
)

ROW = "18:14:41 DROP 12 kfree_skb 10.0.0.1:1 -> 10.0.0.2:80"


@pytest.mark.parametrize("lenient", [False, True])
def test_deeply_nested_json_is_our_error(lenient):
    line = '{"type": "DROP", "x": ' + "[" * 20000 + "]" * 20000 + "}"
    if lenient:
        result = parse(line, lenient=True)
        assert result["skipped"] == 1 and result["skipped_lines"][0]["error"] == "JSON nested too deeply"
    else:
        with pytest.raises(NettraceParseError, match="line 1 .*JSON nested too deeply"):
            parse(line)


@pytest.mark.parametrize("value", [[1], {"a": 1}, 3.5])
@pytest.mark.parametrize("lenient", [False, True])
def test_reason_that_is_not_text_is_our_error(value, lenient):
    line = json.dumps({"type": "SOCK_ERR", "reason": value, "src_ip": "10.0.0.1"})
    if lenient:
        assert parse([ROW, line], lenient=True, drop_reasons={"12": "NETFILTER_DROP"})["skipped"] == 1
    else:
        with pytest.raises(NettraceParseError, match="line 1 .*reason must be text"):
            parse(line, drop_reasons={"12": "NETFILTER_DROP"})


@pytest.mark.parametrize("line, what", [
    ("18:14:41 DROP 1 kfree_skb 10.0.0.1:%s -> 10.0.0.2:80" % ("9" * 5000), "port has 5000 digits"),
    ("18:14:41 DROP %s kfree_skb 10.0.0.1:1 -> 10.0.0.2:80" % ("9" * 5000), "reason code has 5000 digits"),
    ("18:14:41 DROP 1 kfree_skb 10.0.0.1:1 -> 10.0.0.2:80 %s" % ("9" * 5000), "namespace inode has 5000 digits"),
    ("18:14:41 DROP 1 kfree_skb 10.0.0.1:\u00b2 -> 10.0.0.2:80", "is not an address:port"),
    ('{"type": "DROP", "src_port": "%s"}' % ("9" * 5000), "src_port '9999"),
    ("x" * 70000, "70000 characters long"),
])
def test_bounds_name_the_line(line, what):
    with pytest.raises(NettraceParseError, match="line 2 .*%s" % what):
        parse([ROW, line])


def test_drop_reasons_that_are_not_a_table_are_refused():
    with pytest.raises(NettraceParseError, match="drop_reasons maps a code"):
        parse(ROW, drop_reasons={"12": ["NETFILTER_DROP"]})


def test_lenient_mode_counts_skipped_lines_and_keeps_only_examples():
    junk = ["junk line %d" % i for i in range(200000)]
    tracemalloc.start()
    try:
        result = parse(junk + [ROW], lenient=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["skipped"] == 200000 and len(result["events"]) == 1
    assert [s["line"] for s in result["skipped_lines"]] == list(range(1, 21))
    # before: every skipped line was kept as a dict, about 300 bytes each (60 MB here)
    assert peak < 5 * 1024 * 1024

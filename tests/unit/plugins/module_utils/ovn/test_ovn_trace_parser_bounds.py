"""The OVN trace parser never crashes or hangs (issue 9): one test per class the fuzz campaign found on main.

Each input made a built-in exception escape, or took seconds or more, before the fix; time is checked against
a budget that scales with the input's size (tests/support/parser_fuzz.py).
"""

import pytest

from parser_fuzz import check_parser

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import (
    OvnTraceInputError,
    OvnTraceParseError,
    parse_ovn_trace,
)

HEAD = 'ingress(dp="sw0", inport="sw0-p1")\n----------------------------------\n'


@pytest.mark.parametrize("line, what", [
    (" %s. ls_in_acl (northd.c:1): ip, priority 100, uuid 1234abcd" % ("9" * 5000), "table number has 5000 digits"),
    (" 1. ls_in_acl (northd.c:1): ip, priority %s, uuid 1234abcd" % ("9" * 5000), "priority has 5000 digits"),
    (" 1. ls_in_acl (northd.c:1): ip, priority -%s, uuid 1234abcd" % ("9" * 30), "priority has 30 digits"),
])
def test_numbers_past_the_bound_are_our_error_naming_the_line(line, what):
    with pytest.raises(OvnTraceParseError, match="line 3: %s" % what) as err:
        parse_ovn_trace(HEAD + line + "\n    next;\n")
    assert isinstance(err.value, TracekitError)


def test_lines_past_the_bound_name_the_line():
    with pytest.raises(OvnTraceParseError, match="line 2 is 1048578 characters long"):
        parse_ovn_trace("ingress(dp=x) {\n" + "x" * (1 << 20) + "1;\n")


def test_non_text_is_our_error_and_still_a_type_error():
    with pytest.raises(OvnTraceInputError, match="must be a string") as err:
        parse_ovn_trace(3)
    assert isinstance(err.value, TypeError) and isinstance(err.value, TracekitError)


SLOW_BEFORE = {
    # the key=value scan inside ingress(...) and log(...): every character restarted a key
    "kv-pipeline": HEAD.replace('dp="sw0", inport="sw0-p1"', "a" * 30000),
    "kv-log": HEAD + " 1. ls_in_acl: ip, priority 1, uuid 1\n    log(" + "a" * 30000 + ");\n",
    # a pipeline header followed by a long run of blanks
    "pipeline-blanks": 'ingress(dp="x")' + " " * 30000 + "x\n",
    "pipeline-blanks-braced": 'ingress(dp="x")' + " " * 30000 + "x {\n};\n",
    # repeated log( in one action
    "log-repeated": "ingress(dp=x) {\n    " + "log(" * 20000 + ";\n};\n",
    # 'omitting output because ...' with 16k tabs (about 16 s; tabs are expanded eightfold)
    "omitting-tabs": HEAD + "/* omitting output because " + "\t" * 16000 + "x */\n",
}


@pytest.mark.parametrize("name", sorted(SLOW_BEFORE))
def test_lines_that_made_the_old_patterns_backtrack(name):
    parsed, error = check_parser(parse_ovn_trace, SLOW_BEFORE[name], (OvnTraceParseError,))
    assert error is None and parsed["verdict"] in ("partial", "dropped", "delivered")


def test_omitting_reason_is_kept_without_trailing_blanks_and_dot():
    parsed = parse_ovn_trace(HEAD + ' 1. ls_in_l2_lkup: 1, priority 0, uuid 1\n    outport = "p";\n'
                             '    output;\n\negress(dp="sw0", inport="sw0-p1", outport="sw0-p1")\n'
                             '----\n 9. ls_out_port_sec_l2: 1, priority 0, uuid 2\n    output;\n'
                             '    /* omitting output because inport == outport && !flags.loopback.   */\n')
    assert parsed["drop"]["reason"] == "output omitted: inport == outport && !flags.loopback"


def test_unrecognised_lines_are_counted_not_kept():
    parsed = parse_ovn_trace("hello world\n" * 50000)
    assert any("50000 line(s) not recognised" in w for w in parsed["warnings"])
    assert len(parsed["warnings"]) <= 3

"""Filters and cli_parse parsers turn every parser failure into AnsibleFilterError / an ``errors`` entry that
names the line (issue 9), and check their options against their own DOCUMENTATION (issue 8)."""

import json

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter.parse_nettrace import parse_nettrace
from ansible_collections.netdiag.tracekit.plugins.filter.parse_ovn_trace import parse_ovn_trace
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_errors import parse_vpp_errors_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_interfaces import parse_vpp_interfaces_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_runtime import parse_vpp_runtime_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_trace import parse_vpp_trace_filter
from ansible_collections.netdiag.tracekit.plugins.filter.vpp_drop_point import vpp_drop_point_filter
from ansible_collections.netdiag.tracekit.plugins.filter.vpp_observations import vpp_observations_filter
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.parse_guard import call_parser
from ansible_collections.netdiag.tracekit.plugins.sub_plugins.cli_parser import (
    ovn_trace_parser,
    vpp_errors_parser,
    vpp_parser,
    vpp_trace_parser,
)

HUGE = "9" * 5000

# Each of these made a built-in exception (ValueError, RecursionError, TypeError) escape the filter before.
ESCAPED_BEFORE = [
    (parse_ovn_trace, 'ingress(dp="x")\n---\n %s. ls_in_acl: ip, priority 1, uuid 1\n' % HUGE,
     "parse_ovn_trace: line 3: table number has 5000 digits"),
    (parse_vpp_trace_filter, "Packet 1\n\n00:00:01:000001: ip4-input\n  TCP: 1.1.1.1 -> 2.2.2.2\n  tcp %s -> 80\n" % HUGE,
     "parse_vpp_trace: show trace packet starting at line 1: tcp port has 5000 digits"),
    (parse_vpp_errors_filter, "Count Node Reason Severity Index\n%s a b error\n" % ("9" * 4000),
     "parse_vpp_errors: show errors line 2: count has 4000 digits"),
    (parse_vpp_interfaces_filter, "eth0 %s up\n" % ("9" * 4000), "parse_vpp_interfaces: show interface line 1: interface index"),
    (parse_vpp_runtime_filter, "Thread %s vpp_wk_0\n" % ("9" * 4000), "parse_vpp_runtime: show runtime line 1: thread number"),
    (parse_nettrace, '{"type": "DROP", "x": ' + "[" * 20000 + "]" * 20000 + "}", "parse_nettrace: line 1 .*nested too deeply"),
    (parse_nettrace, json.dumps({"type": "SOCK_ERR", "reason": {"a": 1}}), "parse_nettrace: line 1 .*reason must be text"),
]


@pytest.mark.parametrize("func, text, message", ESCAPED_BEFORE, ids=[m.split(":")[0] + str(i) for i, (_f, _t, m) in enumerate(ESCAPED_BEFORE)])
def test_filters_raise_only_filter_errors_naming_the_line(func, text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        func(text)


def test_observation_filters_after_an_absurd_but_allowed_timestamp():
    parsed = parse_vpp_trace_filter("Packet 1\n\n%s:00:00:000001: error-drop\n  ip4-input: x\n" % ("9" * 50))
    assert vpp_observations_filter(parsed, node="n", time_offset=1e308)[-1]["action"] == "Dropped"
    assert vpp_drop_point_filter(parsed, node="n")["reason"] == "ip4-input: x"


@pytest.mark.parametrize("func, value, kwargs, message", [
    (parse_vpp_trace_filter, "Packet 1\n", {"flow_filter": "dst"}, "parse_vpp_trace: .*flow_filter"),
    (parse_vpp_trace_filter, "Packet 1\n", {"nope": 1}, "parse_vpp_trace: .*nope"),
    (parse_nettrace, "", {"lenient": "maybe"}, "parse_nettrace: .*lenient"),
    (parse_nettrace, "", {"drop_reasons": [1]}, "parse_nettrace: .*drop_reasons"),
    (vpp_observations_filter, {"packets": []}, {"time_offset": "soon"}, "vpp_observations: .*time_offset"),
    (vpp_drop_point_filter, {"packets": []}, {"flow_filter": 3}, "vpp_drop_point: .*flow_filter"),
    (parse_vpp_errors_filter, "", {"since": None, "extra": 1}, "parse_vpp_errors: .*extra"),
])
def test_options_are_checked_against_the_documentation(func, value, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        func(value, **kwargs)


def test_a_bug_is_reported_as_a_filter_error_not_a_traceback():
    def broken(_text):
        return {}["missing"]

    with pytest.raises(AnsibleFilterError, match=r"x: internal error \(KeyError: 'missing'\); this is a bug"):
        call_parser("x", broken, "text")


@pytest.mark.parametrize("cls, text, message", [
    (ovn_trace_parser.CliParser, 'ingress(dp="x")\n---\n %s. ls_in_acl: ip, priority 1, uuid 1\n' % HUGE,
     "table number has 5000 digits"),
    (vpp_trace_parser.CliParser, "Packet 1\n\n00:00:01:000001: ip4-input\n  sw_if_index %s\n" % HUGE, "sw_if_index has 5000 digits"),
    (vpp_errors_parser.CliParser, "Count Node Reason\n%s a b\n" % ("9" * 4000), "show errors line 2: count has 4000 digits"),
])
def test_cli_parsers_return_every_failure_in_errors(cls, text, message):
    result = cls(task_args={"text": text, "parser": {"command": "show x"}}, task_vars={}, debug=False).parse()
    assert list(result) == ["errors"] and message in result["errors"][0]


def test_cli_parser_with_a_command_that_is_not_text():
    result = vpp_parser.CliParser(task_args={"text": "x", "parser": {"command": 3}}, task_vars={}, debug=False).parse()
    assert list(result) == ["errors"] and "needs the command as text" in result["errors"][0]


def test_through_ansible_the_task_fails_with_the_parser_message():
    """A real ansible run: the filter's error reaches the user as a failed task naming the line, no traceback."""
    from conftest import run_module

    # real newlines inside the Jinja string literal
    expr = "{{ 'Packet 1\n\n00:00:01:000001: ip4-input\n  sw_if_index %s' | netdiag.tracekit.parse_vpp_trace }}" % ("9" * 30)
    result = run_module("ansible.builtin.debug", {"msg": expr}, timeout=120)
    assert result.get("failed") is True
    assert "parse_vpp_trace: show trace packet starting at line 1: sw_if_index has 30 digits" in result["msg"]
    assert "Traceback" not in result["msg"]

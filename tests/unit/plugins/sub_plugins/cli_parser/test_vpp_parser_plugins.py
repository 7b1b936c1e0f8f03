"""The thin plugins: filters raise AnsibleFilterError with the parser's message, cli_parse parsers return
``{"parsed": ...}`` or ``{"errors": [...]}``, and the ``vpp`` parser picks the parser from the command."""

import pytest

from ansible.errors import AnsibleFilterError

from conftest import shared_path

from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_errors import parse_vpp_errors_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_interfaces import parse_vpp_interfaces_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_runtime import parse_vpp_runtime_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_trace import parse_vpp_trace_filter
from ansible_collections.netdiag.tracekit.plugins.filter.vpp_drop_point import vpp_drop_point_filter
from ansible_collections.netdiag.tracekit.plugins.filter.vpp_observations import vpp_observations_filter
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import (
    parse_vpp_errors,
    parse_vpp_interfaces,
    parse_vpp_runtime,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import VppParseError, parse_vpp_trace
from ansible_collections.netdiag.tracekit.plugins.sub_plugins.cli_parser import vpp_parser, vpp_trace_parser


def local(name):
    with open(shared_path("fixtures", "vpp", "vpp-26.06-local", name)) as handle:
        return handle.read()


@pytest.mark.parametrize("func, pattern", [
    (parse_vpp_trace_filter, "parse_vpp_trace: text is not VPP 'show trace' output"),
    (parse_vpp_errors_filter, "parse_vpp_errors: text is not VPP 'show errors' output"),
    (parse_vpp_runtime_filter, "parse_vpp_runtime: text is not VPP 'show runtime' output"),
    (parse_vpp_interfaces_filter, "parse_vpp_interfaces: text is not VPP 'show interface' output"),
])
def test_filters_raise_filter_errors(func, pattern):
    with pytest.raises(AnsibleFilterError, match=pattern):
        func("vppctl: connect: No such file or directory")


def test_trace_filter_flow_filter_and_bad_key():
    text = local("trace_ttl_expired_icmp_error.txt")
    assert parse_vpp_trace_filter(text, flow_filter={"src": "10.10.1.0/24", "dport": 33434})["summary"]["packets"] == 1
    with pytest.raises(AnsibleFilterError, match="unknown flow_filter key 'ip'"):
        parse_vpp_trace_filter(text, flow_filter={"ip": "10.10.1.2"})


def test_errors_filter_since_text_or_rows():
    before = local("errors_vxlan4_encap_from_bridge.txt")
    after = before.replace("         1            vxlan4-encap", "         4            vxlan4-encap")
    for since in (before, parse_vpp_errors(before)):
        delta = parse_vpp_errors_filter(after, since=since)
        assert [(r["count"], r["node"], r["reason"]) for r in delta] == [(3, "vxlan4-encap", "good packets encapsulated")]


def test_observation_and_drop_point_filters():
    parsed = parse_vpp_trace(local("trace_no_route_drop.txt"))
    assert vpp_drop_point_filter(parsed, node="n")["reason"] == "null-node: blackholed packets"
    assert vpp_observations_filter(parsed, node="n")[-1]["action"] == "Dropped"
    with pytest.raises(AnsibleFilterError, match="vpp_observations expects the result of parse_vpp_trace"):
        vpp_observations_filter("text")
    with pytest.raises(AnsibleFilterError, match="vpp_drop_point expects the result of parse_vpp_trace"):
        vpp_drop_point_filter(["text"])


@pytest.mark.parametrize("command, func", [
    ("show trace", parse_vpp_trace),
    ("sh tr max 100", parse_vpp_trace),
    ("vppctl -s /run/vpp/cli.sock show trace", parse_vpp_trace),
    ("show errors", parse_vpp_errors),
    ("sh err verbose", parse_vpp_errors),
    ("show node counters", parse_vpp_errors),
    ("show runtime", parse_vpp_runtime),
    ("sh run max", parse_vpp_runtime),
    ("show interface", parse_vpp_interfaces),
    ("sh int", parse_vpp_interfaces),
    ("show interface pg0", parse_vpp_interfaces),
])
def test_vpp_parser_picks_by_command(command, func):
    assert vpp_parser.parser_for(command) is func


@pytest.mark.parametrize("command", ["show interface address", "show ip fib", "show hardware", None, ""])
def test_vpp_parser_rejects_other_commands(command):
    with pytest.raises(VppParseError, match="supported commands are show trace, show errors, show runtime, show interface"):
        vpp_parser.parser_for(command)


def test_cli_parsers_parsed_and_errors():
    ok = vpp_parser.CliParser({"text": local("show_interface.txt"), "parser": {"command": "show int"}}, {}, False).parse()
    assert [i["name"] for i in ok["parsed"]][:2] == ["local0", "pg-1"]
    bad = vpp_parser.CliParser({"text": "x", "parser": {"command": "show ip fib"}}, {}, False).parse()
    assert "errors" in bad and "show ip fib" in bad["errors"][0]
    trace = vpp_trace_parser.CliParser({"text": local("trace_empty.txt"), "parser": {"command": "show trace"}}, {}, False).parse()
    assert trace["parsed"]["threads"][0]["no_packets"] is True
    missing = vpp_trace_parser.CliParser({"parser": {"command": "show trace"}}, {}, False).parse()
    assert missing == {"errors": ["netdiag.tracekit.vpp_trace needs the 'show trace' output in 'text'"]}

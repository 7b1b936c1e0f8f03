"""Fuzz every text parser, its filter and its cli_parse parser (issue 9).

Inputs are real outputs from ../shared/fixtures, mutated (tests/support/parser_fuzz.py), and single lines made
of a grammar fragment followed by a long run of one token. Each input must give a result or the parser
family's own error (derived from TracekitError), within a time budget that scales with the input's size and
a memory budget; a filter must raise only AnsibleFilterError, a cli_parse parser must return a result or an
``errors`` list. Example counts are small in CI; ``TRACEKIT_FUZZ_EXAMPLES=20000 TRACEKIT_FUZZ_RANDOM=1 pytest
tests/fuzz`` runs a campaign.
"""

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import given
from hypothesis import strategies as st

from conftest import SHARED, shared_path
from parser_corpus import FRAGMENTS, load_corpus
from parser_fuzz import EXAMPLES, adversarial_line, check_parser, fuzz_settings, mutated

from ansible_collections.netdiag.tracekit.plugins.filter.parse_nettrace import parse_nettrace as nettrace_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_ovn_trace import parse_ovn_trace as ovn_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_errors import parse_vpp_errors_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_interfaces import parse_vpp_interfaces_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_runtime import parse_vpp_runtime_filter
from ansible_collections.netdiag.tracekit.plugins.filter.parse_vpp_trace import parse_vpp_trace_filter
from ansible_collections.netdiag.tracekit.plugins.filter.vpp_drop_point import vpp_drop_point_filter
from ansible_collections.netdiag.tracekit.plugins.filter.vpp_observations import vpp_observations_filter
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_parse import NettraceParseError
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_parse import parse as parse_nettrace
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import (
    OvnTraceParseError,
    acl_hints,
    ovn_observations,
    parse_ovn_trace,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import (
    parse_vpp_errors,
    parse_vpp_interfaces,
    parse_vpp_runtime,
    vpp_errors_delta,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import (
    VppParseError,
    parse_vpp_trace,
    vpp_drop_point,
    vpp_observations,
)
from ansible_collections.netdiag.tracekit.plugins.sub_plugins.cli_parser import (
    ovn_trace_parser,
    vpp_errors_parser,
    vpp_interfaces_parser,
    vpp_parser,
    vpp_runtime_parser,
    vpp_trace_parser,
)


@pytest.fixture(scope="module")
def corpus():
    shared_path("fixtures", "ovn")
    shared_path("fixtures", "vpp")
    found = load_corpus(SHARED)
    for name, texts in found.items():
        assert texts, "no %s fixture found under ../shared/fixtures" % name
    return found


PARSERS = {
    "ovn": (parse_ovn_trace, (OvnTraceParseError,)),
    "vpp_trace": (parse_vpp_trace, (VppParseError,)),
    "vpp_errors": (parse_vpp_errors, (VppParseError,)),
    "vpp_runtime": (parse_vpp_runtime, (VppParseError,)),
    "vpp_interfaces": (parse_vpp_interfaces, (VppParseError,)),
    "nettrace": (lambda text: parse_nettrace(text, lenient=True), (NettraceParseError,)),
}

FILTERS = {
    "ovn": ovn_filter,
    "vpp_trace": parse_vpp_trace_filter,
    "vpp_errors": parse_vpp_errors_filter,
    "vpp_runtime": parse_vpp_runtime_filter,
    "vpp_interfaces": parse_vpp_interfaces_filter,
    "nettrace": nettrace_filter,
}

CLI_PARSERS = {
    "ovn": (ovn_trace_parser.CliParser, None),
    "vpp_trace": (vpp_trace_parser.CliParser, None),
    "vpp_errors": (vpp_errors_parser.CliParser, None),
    "vpp_runtime": (vpp_runtime_parser.CliParser, None),
    "vpp_interfaces": (vpp_interfaces_parser.CliParser, None),
    "vpp_any": (vpp_parser.CliParser, "show trace"),
}


def _after_parse(name, parsed):
    """What the runbook does with a parse: observations and drop points must keep the same discipline."""
    if name == "ovn":
        for func in (ovn_observations, acl_hints):
            check_parser(func, parsed, (OvnTraceParseError,), size=1000)
    elif name == "vpp_trace":
        for func in (vpp_observations, vpp_drop_point, lambda p: vpp_observations(p, time_offset=1.0e9)):
            check_parser(func, parsed, (VppParseError,), size=1000)
    elif name == "vpp_errors":
        check_parser(lambda rows: vpp_errors_delta(rows, rows[::-1]), parsed, (VppParseError,), size=1000)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_mutated_real_outputs(name, corpus):
    func, allowed = PARSERS[name]

    @fuzz_settings()
    @given(data=st.data())
    def run(data):
        text = data.draw(mutated(corpus[name], FRAGMENTS[name]))
        parsed, _error = check_parser(func, text, allowed)
        if parsed is not None:
            _after_parse(name, parsed)

    run()


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_adversarial_lines(name):
    func, allowed = PARSERS[name]
    strict = parse_nettrace if name == "nettrace" else func

    @fuzz_settings()
    @given(line=adversarial_line(FRAGMENTS[name]))
    def run(line):
        for parser in (func, strict):
            check_parser(parser, line, allowed)

    run()


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filters_raise_only_filter_errors(name, corpus):
    func = FILTERS[name]

    @fuzz_settings(examples=max(10, EXAMPLES // 3))
    @given(data=st.data())
    def run(data):
        text = data.draw(st.one_of(mutated(corpus[name], FRAGMENTS[name]), adversarial_line(FRAGMENTS[name])))
        parsed, _error = check_parser(func, text, (AnsibleFilterError,))
        if name == "vpp_trace" and parsed is not None:
            for follow in (vpp_observations_filter, vpp_drop_point_filter):
                check_parser(follow, parsed, (AnsibleFilterError,), size=1000)

    run()


@pytest.mark.parametrize("name", sorted(CLI_PARSERS))
def test_cli_parsers_return_errors_not_exceptions(name, corpus):
    cls, command = CLI_PARSERS[name]
    texts = corpus["ovn" if name == "ovn" else ("vpp_trace" if name == "vpp_any" else name)]
    fragments = FRAGMENTS["ovn" if name == "ovn" else ("vpp_trace" if name == "vpp_any" else name)]

    def parse(text):
        args = {"text": text, "parser": {"name": "netdiag.tracekit.x", "command": command}}
        result = cls(task_args=args, task_vars={}, debug=False).parse()
        assert set(result) in ({"parsed"}, {"errors"}), result
        return result

    @fuzz_settings(examples=max(10, EXAMPLES // 3))
    @given(data=st.data())
    def run(data):
        text = data.draw(st.one_of(mutated(texts, fragments), adversarial_line(fragments)))
        check_parser(parse, text, ())

    run()

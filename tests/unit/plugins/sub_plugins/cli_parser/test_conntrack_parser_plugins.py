"""The parse_conntrack filter and the netdiag.tracekit.conntrack cli_parse parser, directly and through ansible."""

import textwrap

import pytest

from conftest import run_playbook

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter.parse_conntrack import FilterModule
from ansible_collections.netdiag.tracekit.plugins.sub_plugins.cli_parser.conntrack_parser import CliParser

# Printed by conntrack v1.4.7 -L -o extended in a lab namespace: a DNATed service connection.
LINE = ("ipv4     2 tcp      6 431999 ESTABLISHED src=10.231.0.1 dst=10.96.0.10 sport=39492 dport=80 packets=4 "
        "bytes=221 src=10.231.0.2 dst=10.231.0.1 sport=8080 dport=39492 packets=3 bytes=166 [ASSURED] mark=0 use=1")


def test_filter_parses_enriches_and_rejects_bad_input():
    filt = FilterModule().filters()["parse_conntrack"]
    (flow,) = filt(LINE, endpoints={"10.231.0.2": {"pod": "api-0", "namespace": "prod"}})
    assert flow["destinationClusterIPv4"] == "10.96.0.10" and flow["destinationPodName"] == "api-0"
    with pytest.raises(AnsibleFilterError, match="expects the text conntrack printed"):
        filt(42)
    with pytest.raises(AnsibleFilterError, match="line 1: expected 'PROTOCOL NUMBER'"):
        filt("not conntrack")
    with pytest.raises(AnsibleFilterError, match="endpoints"):
        filt(LINE, endpoints="api-0")


def test_cli_parser_class_contract():
    ok = CliParser(task_args={"text": LINE}, task_vars={}, debug=False).parse()
    assert ok["parsed"][0]["nat"] == ["dnat"]
    bad = CliParser(task_args={"text": "garbage here"}, task_vars={}, debug=False).parse()
    assert list(bad) == ["errors"] and "line 1" in bad["errors"][0]


def test_filter_and_cli_parse_through_ansible(tmp_path):
    saved = tmp_path / "ct.txt"
    saved.write_text(LINE + "\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          connection: local
          gather_facts: false
          vars:
            ansible_python_interpreter: "{{ ansible_playbook_python }}"
          tasks:
            - name: Filter
              ansible.builtin.set_fact:
                flows: "{{ lookup('ansible.builtin.file', '%(saved)s') | netdiag.tracekit.parse_conntrack }}"
            - name: cli_parse
              ansible.utils.cli_parse:
                text: "{{ lookup('ansible.builtin.file', '%(saved)s') }}"
                parser:
                  name: netdiag.tracekit.conntrack
                  command: conntrack -L
              register: cli
            - name: Check
              ansible.builtin.assert:
                that:
                  - flows[0].destinationIPv4Address == '10.231.0.2'
                  - flows[0].tcpState == 'ESTABLISHED'
                  - cli.parsed == flows
        """ % {"saved": saved}))
    rc, out, err = run_playbook(str(playbook), inventory="localhost,", timeout=300)
    assert rc == 0, out + err
    assert "failed=0" in out

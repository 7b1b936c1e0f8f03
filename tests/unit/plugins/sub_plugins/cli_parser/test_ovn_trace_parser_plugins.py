"""The parse_ovn_trace filter and the netdiag.tracekit.ovn_trace cli_parse parser, directly and through ansible."""

import textwrap

import pytest

from conftest import run_playbook, shared_path

from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter.parse_ovn_trace import FilterModule
from ansible_collections.netdiag.tracekit.plugins.sub_plugins.cli_parser.ovn_trace_parser import CliParser

FIXTURE = ("fixtures", "ovn", "ovn-23.03-local")


def _text(name):
    with open(shared_path(*(FIXTURE + (name,)))) as handle:
        return handle.read()


def test_filter_function_parses_and_rejects_non_text():
    filt = FilterModule().filters()["parse_ovn_trace"]
    parsed = filt(_text("acl_drop_ingress.detailed.txt"))
    assert parsed["verdict"] == "dropped" and parsed["drop"]["uuid"] == "404a3c71"
    for bad in (None, 3, {"stdout": "x"}):
        with pytest.raises(AnsibleFilterError, match="expects the text ovn-trace printed"):
            filt(bad)


def test_cli_parser_class_contract():
    ok = CliParser(task_args={"text": _text("acl_reject.minimal.txt")}, task_vars={}, debug=False).parse()
    assert ok["parsed"]["verdict"] == "rejected"
    assert ok["parsed"]["drop"]["acl"]["name"] == "reject-telnet"
    bad = CliParser(task_args={"text": None}, task_vars={}, debug=False).parse()
    assert list(bad) == ["errors"] and "the text ovn-trace printed" in bad["errors"][0]


def test_filter_and_cli_parse_through_ansible(tmp_path):
    """A real ansible-playbook run: the filter, the cli_parse parser, and the filter's error on bad input."""
    egress = shared_path(*(FIXTURE + ("acl_drop_egress.detailed.txt",)))
    reject = shared_path(*(FIXTURE + ("acl_reject.summary.txt",)))
    unknown = shared_path(*(FIXTURE + ("error_unknown_port.txt",)))
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
                egress: "{{ lookup('ansible.builtin.file', '%(egress)s') | netdiag.tracekit.parse_ovn_trace }}"
                unknown: "{{ lookup('ansible.builtin.file', '%(unknown)s') | netdiag.tracekit.parse_ovn_trace }}"
            - name: Check the filter result
              ansible.builtin.assert:
                that:
                  - egress.verdict == 'dropped'
                  - egress.drop.stage == 'ls_in_acl'
                  - egress.drop.acl.name == 'deny-ssh-egress'
                  - egress.hops | length == 6
                  - unknown.verdict == 'error'
                  - unknown.errors == ['unknown port "nope"']
            - name: cli_parse with the collection's parser
              ansible.utils.cli_parse:
                text: "{{ lookup('ansible.builtin.file', '%(reject)s') }}"
                parser:
                  name: netdiag.tracekit.ovn_trace
                  command: ovn-trace
              register: cli
            - name: Check the cli_parse result
              ansible.builtin.assert:
                that:
                  - cli.parsed.verdict == 'rejected'
                  - cli.parsed.format == 'summary'
                  - cli.parsed.generated[0].kind == 'tcp_reset'
                  - cli.parsed.drop.acl.name == 'reject-telnet'
            - name: The filter refuses what is not text
              block:
                - name: Parse a number
                  ansible.builtin.debug:
                    msg: "{{ 42 | netdiag.tracekit.parse_ovn_trace }}"
                - name: Not reached
                  ansible.builtin.fail:
                    msg: the filter accepted a number
              rescue:
                - name: Check the message
                  ansible.builtin.assert:
                    that:
                      - "'expects the text ovn-trace printed' in ansible_failed_result.msg"
        """ % {"egress": egress, "reject": reject, "unknown": unknown}))
    rc, out, err = run_playbook(str(playbook), inventory="localhost,", timeout=300)
    assert rc == 0, out + err
    assert "failed=0" in out and "rescued=1" in out

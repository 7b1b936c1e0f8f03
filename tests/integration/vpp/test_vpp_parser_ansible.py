"""The VPP parser filters and cli_parse parser plugins run through real ansible-playbook.

VPP cannot run on this machine (LAB-NOTES): the playbook parses real VPP outputs from
../shared/fixtures/vpp/ and asserts hand-checked values inside the play; a wrong value fails the play.
"""

import sys

from conftest import run_playbook, shared_path

PLAY = r"""
- name: VPP parsers through ansible
  hosts: localhost
  gather_facts: false
  vars:
    trace_text: "{{ lookup('ansible.builtin.file', fixtures ~ '/trace_acl_deny_ssh.txt') }}"
    ttl_text: "{{ lookup('ansible.builtin.file', fixtures ~ '/trace_ttl_expired_icmp_error.txt') }}"
    errors_text: "{{ lookup('ansible.builtin.file', fixtures ~ '/errors_ttl_expired_icmp_error.txt') }}"
    runtime_text: "{{ lookup('ansible.builtin.file', fixtures ~ '/show_runtime.txt') }}"
    interfaces_text: "{{ lookup('ansible.builtin.file', fixtures ~ '/show_interface.txt') }}"
  tasks:
    - name: Parse traces with the filters
      ansible.builtin.set_fact:
        acl: "{{ trace_text | netdiag.tracekit.parse_vpp_trace }}"
        ttl_udp: "{{ ttl_text | netdiag.tracekit.parse_vpp_trace(flow_filter={'protocol': 'udp', 'dport': 33434}) }}"
        ttl_tcp: "{{ ttl_text | netdiag.tracekit.parse_vpp_trace(flow_filter={'protocol': 'tcp'}) }}"
        obs: "{{ trace_text | netdiag.tracekit.parse_vpp_trace | netdiag.tracekit.vpp_observations(node='vpp1') }}"
        drop_point: "{{ trace_text | netdiag.tracekit.parse_vpp_trace | netdiag.tracekit.vpp_drop_point(node='vpp1') }}"
        errors: "{{ errors_text | netdiag.tracekit.parse_vpp_errors }}"
        errors_since: "{{ errors_text | netdiag.tracekit.parse_vpp_errors(since=errors_text) }}"
        runtime: "{{ runtime_text | netdiag.tracekit.parse_vpp_runtime }}"
        interfaces: "{{ interfaces_text | netdiag.tracekit.parse_vpp_interfaces }}"

    - name: Check the filters' results
      ansible.builtin.assert:
        that:
          - acl.packets[0].fate == 'dropped'
          - acl.packets[0].drop_node == 'acl-plugin-in-ip4-fa'
          - acl.packets[0].drop_reason == 'ACL deny packets'
          - acl.packets[0].flow.dport == 22
          - ttl_udp.summary.packets == 1 and ttl_udp.packets[0].icmp_error_sent
          - ttl_tcp.summary.packets == 0 and ttl_tcp.summary.total_packets == 1
          - "obs[-1].action == 'Dropped' and obs[-1].reason == 'acl-plugin-in-ip4-fa: ACL deny packets'"
          - obs[-1].node == 'vpp1' and obs[-1].component == 'vpp' and obs[-1].source == 'vpp-trace'
          - "drop_point.reason == 'acl-plugin-in-ip4-fa: ACL deny packets' and drop_point.detail.rx_interface == 'pg0'"
          - errors | length == 2 and errors[0].node == 'ip4-input' and errors[0].reason == 'ip4 ttl <= 1'
          - errors[1].severity == 'info'
          - errors_since == []
          - runtime.threads[0].clocks_column == 'Packet-Clocks'
          - (runtime.threads[0].nodes | selectattr('name', 'equalto', 'ip4-drop') | first).calls == 3
          - (interfaces | selectattr('name', 'equalto', 'pg0') | first).counters.drops == 5

    - name: Parse a trace with cli_parse and the vpp_trace parser
      ansible.utils.cli_parse:
        text: "{{ trace_text }}"
        parser:
          name: netdiag.tracekit.vpp_trace
          command: show trace
      register: by_trace_parser

    - name: Parse show errors with cli_parse and the command-switched vpp parser
      ansible.utils.cli_parse:
        text: "{{ errors_text }}"
        parser:
          name: netdiag.tracekit.vpp
          command: vppctl -s /run/vpp/cli.sock sh err
      register: by_vpp_parser

    - name: Check the parser plugins' results
      ansible.builtin.assert:
        that:
          - "by_trace_parser.parsed.summary.drops_by_reason == {'acl-plugin-in-ip4-fa: ACL deny packets': 1}"
          - by_vpp_parser.parsed | length == 2
          - by_vpp_parser.parsed[1].node == 'ip4-icmp-error'

    - name: A wrong input fails the filter with a message
      ansible.builtin.debug:
        msg: "{{ errors_text | netdiag.tracekit.parse_vpp_trace }}"
      register: bad_filter
      ignore_errors: true

    - name: An unsupported command fails the vpp parser with a message
      ansible.utils.cli_parse:
        text: "{{ errors_text }}"
        parser:
          name: netdiag.tracekit.vpp
          command: show ip fib
      register: bad_parser
      ignore_errors: true

    - name: Check the errors
      ansible.builtin.assert:
        that:
          - bad_filter is failed
          - "'parse_vpp_trace: text is not VPP' in bad_filter.msg"
          - bad_parser is failed
          - "'supported commands are show trace, show errors, show runtime, show interface' in bad_parser.msg"
"""


def test_filters_and_cli_parse_parsers_through_ansible(tmp_path):
    fixtures = shared_path("fixtures", "vpp", "vpp-26.06-local")
    playbook = tmp_path / "vpp_parsers.yml"
    playbook.write_text(PLAY)
    inventory = tmp_path / "hosts"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    rc, out, err = run_playbook(str(playbook), extra_vars={"fixtures": fixtures}, inventory=str(inventory), timeout=300)
    assert rc == 0, out[-4000:] + err[-2000:]
    assert "failed=0" in out and "ignored=2" in out

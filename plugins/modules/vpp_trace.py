#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vpp_trace
short_description: Trace packets through a VPP dataplane and report where and why VPP dropped them
version_added: 0.1.0
description:
  - Drives VPP's packet tracer with C(vppctl), the way an engineer does by hand (C(clear trace),
    C(trace add <input node> <count>), C(show trace), C(show errors)), and returns the trace parsed into
    packets with their graph path and fate, the error counters since the trace started, and the drops as
    drop points (graph node and reason, for example C(acl-plugin-in-ip4-fa) with C(ACL deny packets)).
  - Reaches VPP on the host through its CLI socket, or inside a container or pod through O(command_prefix)
    (C(crictl exec <id>), C(kubectl exec -n calico-vpp-dataplane <pod> -c vpp --)). Commands run as an
    argument list, never through a shell.
  - O(state=started) clears the trace (and the error counters with O(clear_errors)), snapshots C(show errors)
    into a state file under O(run_dir) (one per CLI socket and prefix) and arms C(trace add) on each of
    O(input_nodes). O(state=collected) reads C(show trace) and C(show errors) and reports the counters as a
    difference from that snapshot. O(state=stopped) clears the trace and removes the state file.
    O(state=captured) is the one-shot form, start, wait up to O(duration) seconds or until O(count) packets
    (matching the filters) are traced, then collect.
  - The filters O(filter_ip), O(filter_protocol) and O(filter_port) keep only the packets of one conversation,
    so the trace of a busy node stays usable; the counts of packets left out are returned too.
author:
  - netdiag.tracekit developers (@netdiag)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  state:
    description: What to do with VPP's packet tracer.
    type: str
    choices: [started, collected, stopped, captured]
    required: true
  cli_socket:
    description:
      - VPP's CLI socket (C(unix { cli-listen ... }) in startup.conf), passed as C(vppctl -s).
      - With O(command_prefix), the path inside the container or pod.
    type: str
    default: /run/vpp/cli.sock
  vppctl_path:
    description: The vppctl program, a name looked up in PATH or a path (inside the container with O(command_prefix)).
    type: str
    default: vppctl
  command_prefix:
    description:
      - Argument list put before vppctl to reach a VPP in a container or pod, for example
        C([crictl, exec, <container id>]) or C([kubectl, exec, -n, calico-vpp-dataplane, <pod>, -c, vpp, --]).
      - Its first element must be a program on this host.
    type: list
    elements: str
    default: []
  timeout:
    description: Seconds each vppctl call may take before VPP is reported as not answering.
    type: float
    default: 10
  input_nodes:
    description:
      - VPP graph input nodes to arm the trace on, such as C(dpdk-input), C(af-packet-input), C(virtio-input),
        C(memif-input), C(tapcli-rx), C(pg-input), C(vmxnet3-input), C(avf-input), C(rdma-input).
      - Required with O(state=started) and O(state=captured).
    type: list
    elements: str
  count:
    description:
      - Packets to trace on each input node (C(trace add <node> <count>); VPP counts per worker thread).
      - With O(state=captured), the capture also stops as soon as this many packets matching the filters are traced.
    type: int
    default: 50
  clear_errors:
    description: Run C(clear errors) on start, so C(show errors) afterwards holds only what happened since.
    type: bool
    default: false
  ignore_unknown_nodes:
    description:
      - Skip, with a warning, the input nodes this VPP does not have or cannot trace from (a VPP without the
        DPDK plugin has no C(dpdk-input)), so one list serves every node; the module still fails when none is left.
      - By default such a node fails the task, since a misspelt node would trace nothing.
    type: bool
    default: false
  max_packets:
    description: Most packets read from the trace (C(show trace max <max_packets>)).
    type: int
    default: 1000
  duration:
    description: With O(state=captured), the longest time in seconds to wait for traffic (at most 3600).
    type: float
    default: 10
  poll_interval:
    description: With O(state=captured), seconds between two reads of the trace while waiting.
    type: float
    default: 1
  filter_ip:
    description: Keep only packets whose source or destination address is one of these addresses or CIDRs.
    type: list
    elements: str
    default: []
  filter_protocol:
    description: Keep only packets of this IP protocol (C(tcp), C(udp), C(icmp), C(icmp6), C(sctp), C(gre), C(esp) or a number).
    type: str
  filter_port:
    description: Keep only packets whose source or destination port is this one.
    type: int
  run_dir:
    description: Folder of the state files (the C(show errors) snapshot taken at start), one per VPP instance.
    type: path
    default: /run/netdiag-tracekit/vpp_trace
  report_node:
    description:
      - Name put in the C(node) field of the returned drop points and observations; the runbook passes
        C(inventory_hostname). Default, this host's name.
    type: str
  endpoint:
    description: Endpoint name put in the returned drop points and observations (the probe's destination, for example).
    type: str
attributes:
  check_mode:
    support: full
    details:
      - In check mode only read-only commands run (C(show version), C(show errors), C(show trace)); the commands
        that would change VPP's trace state are returned in RV(planned) and no state file is written.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - VPP prints most CLI errors with exit code 0; this module reads them (for example an unknown graph node
    in C(trace add)) and fails with what was wrong.
  - O(state=started), O(state=stopped) and O(state=captured) report C(changed) since they change VPP's trace
    state; O(state=collected) only reads.
seealso:
  - name: VPP packet tracer
    description: The VPP CLI guide on packet tracing.
    link: https://s3-docs.fd.io/vpp/latest/cli-reference/clis/clicmd_src_vlib.html
"""

EXAMPLES = r"""
- name: Arm a trace on the input nodes of a host VPP, with fresh error counters
  netdiag.tracekit.vpp_trace:
    state: started
    input_nodes: [dpdk-input, virtio-input]
    count: 100
    clear_errors: true

- name: Collect the packets of one conversation and the drops
  netdiag.tracekit.vpp_trace:
    state: collected
    filter_ip: [10.10.1.2, 10.10.2.2]
    filter_protocol: tcp
    filter_port: 22
    report_node: "{{ inventory_hostname }}"
  register: vpp

- name: Show the drop reason
  ansible.builtin.debug:
    msg: "{{ vpp.drop_points | map(attribute='reason') | list }}"

- name: Stop tracing
  netdiag.tracekit.vpp_trace:
    state: stopped

- name: One-shot capture in a Calico/VPP pod, up to 20 s or 5 matching packets
  netdiag.tracekit.vpp_trace:
    state: captured
    command_prefix: [kubectl, exec, -n, calico-vpp-dataplane, calico-vpp-node-abcde, -c, vpp, --]
    cli_socket: /var/run/vpp/cli.sock
    input_nodes: [virtio-input, af-packet-input]
    count: 5
    duration: 20
    filter_ip: [10.244.1.11]
"""

RETURN = r"""
commands:
  description: The VPP CLI commands run, in order (each run as RV(vppctl) followed by the command's words).
  returned: always
  type: list
  elements: str
  sample: [show version, clear trace, show errors, trace add pg-input 50]
planned:
  description: In check mode, the commands that would have changed VPP's trace state.
  returned: always
  type: list
  elements: str
vppctl:
  description: The argument list every command starts with (prefix, vppctl, C(-s), socket).
  returned: always
  type: list
  elements: str
  sample: [vppctl, -s, /run/vpp/cli.sock]
input_nodes:
  description: The input nodes the trace was armed on.
  returned: when O(state=started) or O(state=captured)
  type: list
  elements: str
  sample: [pg-input]
skipped_nodes:
  description: The input nodes skipped with O(ignore_unknown_nodes).
  returned: when O(state=started) or O(state=captured)
  type: list
  elements: str
  sample: [dpdk-input]
version:
  description: VPP's C(show version) line.
  returned: when O(state=started) or O(state=captured)
  type: str
  sample: vpp v26.06.0-release built by root on vm at 2026-11-22T11:08:26
state_file:
  description: The state file of this VPP instance under O(run_dir).
  returned: always
  type: str
trace:
  description: The trace, parsed, with only the packets that match the filters.
  returned: when O(state=collected) or O(state=captured)
  type: dict
  contains:
    packets:
      description:
        - Matching packets, each C(thread), C(thread_name), C(index), C(nodes) (C(time), C(node), C(detail)),
          C(fate) (delivered, dropped, punted, local, truncated), C(drop_node), C(drop_reason),
          C(output_interface) and C(flow) (C(src), C(dst), C(protocol), C(src_port), C(dst_port)).
      type: list
      elements: dict
    summary:
      description: The parser's summary of the whole trace (counts by fate, drops by reason), before filtering.
      type: dict
    total:
      description: Packets in the trace output.
      type: int
    matched:
      description: Packets kept by the filters.
      type: int
    filtered_out:
      description: Packets left out, C(total) and by the first filter each failed (C(address), C(protocol), C(port)).
      type: dict
      sample: {total: 3, address: 2, protocol: 1, port: 0}
    limited:
      description: True when VPP held more packets than O(max_packets) (C(Limiting display to ...)).
      type: bool
errors:
  description: VPP's error counters.
  returned: when O(state=collected) or O(state=captured)
  type: dict
  contains:
    counters:
      description: C(show errors) parsed, each C(thread), C(count), C(node), C(reason), C(severity).
      type: list
      elements: dict
    since_start:
      description: >-
        The counters that grew since O(state=started), by how much (same fields). Null when no trace was
        started through this module on this socket.
      type: list
      elements: dict
    baseline:
      description: What RV(errors.since_start) is measured from, C(snapshot), C(cleared) (counters cleared at start) or C(none).
      type: str
    reset_detected:
      description: True when a counter went down since the start (someone ran C(clear errors)); its whole value is counted.
      type: bool
    started_at:
      description: When the trace was started (seconds since the epoch), or null.
      type: float
drops:
  description: Dropped and punted matching packets grouped by graph node and reason, most packets first.
  returned: when O(state=collected) or O(state=captured)
  type: list
  elements: dict
  sample:
    - {node: acl-plugin-in-ip4-fa, reason: ACL deny packets, fate: dropped, packets: 1, packet_indexes: [1], error_counter: 1}
drop_points:
  description:
    - >-
      One drop point per drop group, shaped as the diagnosis contract, C(node) (O(report_node)), C(netns) (null),
      C(endpoint), C(component) (C(vpp)), C(reason) (C(<graph node>: <reason>)) and C(detail) (one sentence,
      graph path, receiving interface, packets, error counter growth).
    - C(facts) holds the same as data, C(graph_node), C(drop_reason), C(fate), C(packets), C(error_counter),
      C(input_node), C(path), C(thread), C(packet_index), C(vpp_time), C(rx_interface), C(icmp_error_sent), C(flow).
  returned: when O(state=collected) or O(state=captured)
  type: list
  elements: dict
  sample:
    - node: node-vpp1
      netns: null
      endpoint: n2-pod1
      component: vpp
      reason: "acl-plugin-in-ip4-fa: ACL deny packets"
      detail: >-
        VPP graph path pg-input > ethernet-input > ip4-input > acl-plugin-in-ip4-fa > error-drop > drop;
        received on pg0; 1 traced packet dropped here; error counter +1 since the trace started
      facts: {graph_node: acl-plugin-in-ip4-fa, drop_reason: ACL deny packets, packets: 1, error_counter: 1}
observations:
  description:
    - Observations of the matching packets for the diagnosis, one per graph node crossed (C(Received), then
      C(Forwarded)) and one for the outcome (C(Delivered), C(Dropped) or C(Rejected)), each C(node), C(netns),
      C(endpoint), C(component), C(action), C(reason), C(time), C(source), plus C(graph_node), C(thread), C(packet),
      C(fate), C(flow), C(vpp_time), C(time_base); C(Dropped) and C(Rejected) ones carry C(detail).
    - C(time) is seconds since the epoch when VPP prints wall-clock trace timestamps
      (C(set trace timestamp-format unix), VPP 26.06 and later), else null (VPP's default timestamps count from
      VPP's start; they stay in C(vpp_time)).
  returned: when O(state=collected) or O(state=captured)
  type: list
  elements: dict
capture:
  description: How the one-shot capture waited, C(stopped_by) (count, duration, check_mode), C(waited) seconds, C(polls), C(packets_seen).
  returned: when O(state=captured)
  type: dict
state_removed:
  description: Whether O(state=stopped) removed a state file.
  returned: when O(state=stopped)
  type: bool
failure:
  description: >-
    On failure, what went wrong, C(socket_missing), C(not_running), C(connect_failed), C(timeout),
    C(vppctl_missing), C(prefix_failed), C(unknown_node), C(node_not_traceable), C(rejected), C(unparsable),
    C(state_damaged), C(run_dir), C(bad_input) or C(failed).
  returned: on failure
  type: str
  sample: unknown_node
output:
  description: On failure, what vppctl printed, when it printed something.
  returned: on failure
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.vppctl import (
    PacketFilter, StateStore, TraceSession, VppCli, VppError, local_hostname, normalize_protocol, parse_networks)

MAX_DURATION = 3600


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["started", "collected", "stopped", "captured"], required=True),
            cli_socket=dict(type="str", default="/run/vpp/cli.sock"),
            vppctl_path=dict(type="str", default="vppctl"),
            command_prefix=dict(type="list", elements="str", default=[]),
            timeout=dict(type="float", default=10),
            input_nodes=dict(type="list", elements="str"),
            count=dict(type="int", default=50),
            clear_errors=dict(type="bool", default=False),
            ignore_unknown_nodes=dict(type="bool", default=False),
            max_packets=dict(type="int", default=1000),
            duration=dict(type="float", default=10),
            poll_interval=dict(type="float", default=1),
            filter_ip=dict(type="list", elements="str", default=[]),
            filter_protocol=dict(type="str"),
            filter_port=dict(type="int"),
            run_dir=dict(type="path", default="/run/netdiag-tracekit/vpp_trace"),
            report_node=dict(type="str"),
            endpoint=dict(type="str"),
        ),
        required_if=[("state", "started", ["input_nodes"]), ("state", "captured", ["input_nodes"])],
        supports_check_mode=True,
    )
    p = module.params
    bad = _check_numbers(p)
    if bad:
        module.fail_json(msg=bad, failure="bad_input")
    try:
        packet_filter = PacketFilter(parse_networks(p["filter_ip"]), normalize_protocol(p["filter_protocol"]),
                                     p["filter_port"])
    except ValueError as exc:
        module.fail_json(msg=str(exc), failure="bad_input")

    cli = VppCli(p["cli_socket"], p["vppctl_path"], p["command_prefix"], p["timeout"], module=module)
    store = StateStore(p["run_dir"], p["cli_socket"], p["command_prefix"])
    session = TraceSession(cli, store, check_mode=module.check_mode)
    report_node = p["report_node"] or local_hostname()
    result = dict(changed=False, commands=cli.commands, planned=session.planned, state_file=store.path,
                  vppctl=[])
    try:
        result["vppctl"] = cli.base_argv()
        if p["state"] == "started":
            result.update(session.start(p["input_nodes"], p["count"], p["clear_errors"], p["ignore_unknown_nodes"]))
            del result["started"]
            result["changed"] = True
        elif p["state"] == "collected":
            result.update(session.collect(p["max_packets"], packet_filter, report_node, p["endpoint"]))
        elif p["state"] == "stopped":
            result.update(session.stop())
            result["changed"] = True
        else:
            result.update(session.capture(p["input_nodes"], p["count"], p["duration"], p["poll_interval"],
                                          p["max_packets"], packet_filter, p["clear_errors"], report_node,
                                          p["endpoint"], p["ignore_unknown_nodes"]))
            result.pop("started", None)
            result["changed"] = True
    except VppError as exc:
        for warning in session.warnings:
            module.warn(warning)
        module.fail_json(msg=str(exc), failure=exc.kind, output=exc.output, **result)
    for warning in session.warnings:
        module.warn(warning)
    module.exit_json(**result)


def _check_numbers(p):
    if p["count"] < 1:
        return "count must be at least 1 (packets to trace on each input node), got %d" % p["count"]
    if p["max_packets"] < 1:
        return "max_packets must be at least 1, got %d" % p["max_packets"]
    if not 0 < p["timeout"] <= 600:
        return "timeout must be between 0 and 600 seconds, got %s" % p["timeout"]
    if not 0 < p["duration"] <= MAX_DURATION:
        return "duration must be between 0 and %d seconds, got %s" % (MAX_DURATION, p["duration"])
    if not 0 < p["poll_interval"] <= 60:
        return "poll_interval must be between 0 and 60 seconds, got %s" % p["poll_interval"]
    if p["filter_port"] is not None and not 0 <= p["filter_port"] <= 65535:
        return "filter_port must be between 0 and 65535, got %d" % p["filter_port"]
    return None


if __name__ == "__main__":
    main()

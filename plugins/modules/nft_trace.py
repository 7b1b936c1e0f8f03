# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nft_trace
short_description: Trace one probe through nftables and name the rule (and policy) that decided its fate
version_added: 0.2.0
author:
  - netdiag.tracekit developers (@netdiag)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
description:
  - For the duration of a capture, loads a table of its own (C(inet tracekit_trace_PID_START)) in each
    namespace of O(netns). Its chains on the prerouting and output hooks, at the lowest priority (before every
    other chain), set C(meta nftrace set 1) on the probe's packets only (O(tag) - DSCP and IPv4 ID or IPv6 flow
    label), so the kernel reports every nftables rule those packets meet (C(NFT_MSG_TRACE) on
    C(NFNLGRP_NFTRACE)); the module reads these over netlink in each namespace.
  - Each trace is returned with its steps (table, chain, rule handle, verdict, jump target) and the rule that
    decided it, with its text (from the structured C(nft -j) ruleset, keyed by handle) and comment (from the
    rule's netlink user data), as the ruleset was when the trace ran, and the Kubernetes policy the rule
    enforces when its names say so (NetworkPolicy, Calico policy, kube-proxy's "has no endpoints" Service
    rejects).
  - The table is removed however the module ends, normally, on failure, on SIGTERM/SIGINT/SIGHUP; after a
    SIGKILL the next run removes it (state files under C(/run/netdiag-tracekit/nftrace)).
  - A node without nftables, or a namespace that cannot be entered, is reported in RV(problems) and the rest
    goes on.
  - Run it with C(async) and C(poll=0), wait for O(ready_file), send the probe, touch O(stop_file).
requirements:
  - root on the node; C(nft) (nftables) and C(nsenter) (util-linux); pyroute2.
attributes:
  check_mode:
    support: full
    details: In check mode nothing is loaded; the module only says which namespaces it would trace.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Linux only. Only nftables (and iptables-nft) chains are traced; iptables-legacy and eBPF datapaths are not.
options:
  tag:
    description:
      - The probe's tag, as M(netdiag.tracekit.packet_inject) returns it in C(probe.tag) - C(dscp) and
        C(ip_id) (IPv4) or C(flow_label) (IPv6); C(count) when several packets were sent (IDs follow each other).
      - One of O(tag) and O(tags) is required.
    type: dict
  tags:
    description:
      - The tags of several probes sent at once (M(netdiag.tracekit.packet_inject_batch), each as O(tag)), all
        followed in the one trace table; each trace's C(tag) says which probe's header it carried, to split the
        traces by probe (the P(netdiag.tracekit.nftrace_observations#filter) filter's O(tag)). At most 1000.
    type: list
    elements: dict
  netns:
    description:
      - Namespaces to trace, each an C(ip netns) name, a path such as C(/proc/1234/ns/net), or a PID.
        Empty means this process's own namespace.
    type: list
    elements: str
    default: []
  duration:
    description: How long to trace at most, in seconds.
    type: float
    default: 30
  ready_file:
    description:
      - Written (JSON with C(pid), C(attached_at), C(netns), C(problems)) once every table is loaded, so a play
        can wait for it before injecting; on a failure before that, a JSON object with the key C(error).
      - A stale file at that path is removed when the module starts.
    type: path
  stop_file:
    description:
      - End the trace as soon as this file exists (checked every 50 ms). A trace that ends normally removes its
        O(ready_file) and O(stop_file).
    type: path
  max_messages:
    description: Stop once this many trace messages were read.
    type: int
    default: 20000
"""

EXAMPLES = r"""
- name: Start tracing the probe in the node's and its pods' namespaces
  netdiag.tracekit.nft_trace:
    tag: "{{ probe.probe.tag }}"
    netns: [node2, n2-pod1]
    duration: 30
    ready_file: /tmp/nft.ready
    stop_file: /tmp/nft.stop
  async: 90
  poll: 0
  register: nft_job

- name: Wait until the tables are loaded
  ansible.builtin.wait_for:
    path: /tmp/nft.ready
    timeout: 30
"""

RETURN = r"""
traces:
  description: The probe's traces, one per packet and namespace, in time order.
  returned: success
  type: list
  elements: dict
  contains:
    netns:
      description: The namespace's name (or inode).
      type: str
    id:
      description: The kernel's trace id.
      type: str
    time:
      description: When the first message of the trace was read, seconds since the epoch.
      type: float
    packet:
      description: Addresses, protocol and ports of the traced packet, from the header copy in the trace.
      type: dict
    tag:
      description: C({dscp, ip_id}) or C({dscp, flow_label}) of the traced packet's IP header - which probe it was.
      type: dict
    steps:
      description: C({family, table, chain, handle, type, verdict, jump_target, text, comment}) in the order met.
      type: list
      elements: dict
    verdict:
      description: V(accept), V(drop), V(reject) or V(queue) - what nftables did with the packet.
      type: str
    rule:
      description: The rule that dropped, rejected or queued it - C({family, table, chain, handle, text, comment,
        verdict}); a chain's default policy has no handle and the text C(policy drop of chain NAME).
      type: dict
    policy:
      description: C({namespace, name, kind}) of the policy the rule enforces, when its names say so; else null.
      type: dict
counters:
  description: C(messages) read, C(kept) (steps of the probe's traces), C(enobufs) (netlink overruns - messages
    lost), C(malformed).
  returned: success
  type: dict
problems:
  description: What could not be traced and why (no nftables, a namespace that cannot be entered).
  returned: always
  type: list
  elements: str
stale_removed:
  description: Trace tables of earlier runs killed by SIGKILL, removed at this start.
  returned: success
  type: list
  elements: str
table:
  description: The name of this run's trace table.
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.signal_files import report_failure
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.stoppable import watchdog
from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.session import NftraceSession


def main():
    module = AnsibleModule(
        argument_spec=dict(
            tag=dict(type="dict"),
            tags=dict(type="list", elements="dict"),
            netns=dict(type="list", elements="str", default=[]),
            duration=dict(type="float", default=30),
            ready_file=dict(type="path"),
            stop_file=dict(type="path"),
            max_messages=dict(type="int", default=20000),
        ),
        required_one_of=[("tag", "tags")],
        supports_check_mode=True,
    )
    params = module.params
    if params["duration"] <= 0 or params["max_messages"] <= 0:
        module.fail_json(msg="duration and max_messages must be positive")
    session_ref = []
    limit = params["duration"] + 60
    timer = watchdog(module, limit, "nft_trace did not finish within %ss; its tables were removed" % limit,
                     cleanup=lambda: session_ref and session_ref[0].close())
    try:
        session = NftraceSession(params["netns"], params["tag"], tags=params["tags"], ready_file=params["ready_file"],
                                 stop_file=params["stop_file"], max_messages=params["max_messages"])
        session_ref.append(session)
        with session:
            session.prepare()
            if module.check_mode:
                module.exit_json(changed=False, traces=[], problems=session.problems,
                                 netns=[ns.spec for ns in session.spaces], table=session.table)
            session.arm()
            session.capture(params["duration"])
            result = session.result()
    except TracekitError as exc:
        timer.cancel()
        report_failure(params["ready_file"], str(exc))
        module.fail_json(msg="nft_trace: %s" % exc, problems=[])
    timer.cancel()
    if session.signal_name:
        module.fail_json(msg="trace interrupted by %s; every trace table was removed" % session.signal_name, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

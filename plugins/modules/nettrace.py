# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: nettrace
short_description: Capture packet drops, TCP resets, socket errors and retransmissions with eBPF
version_added: 0.1.0
author:
  - netdiag.tracekit developers (@netdiag)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
description:
  - Attaches small eBPF programs (BCC) to the kernel tracepoints C(skb:kfree_skb), C(tcp:tcp_send_reset),
    C(tcp:tcp_receive_reset), C(tcp:tcp_retransmit_skb) and the raw tracepoint C(sock:inet_sk_error_report)
    for O(duration) seconds and returns every event with the kernel's own reason name, the network namespace
    it happened in, the addresses and ports, and the fields that tie it to an injected probe packet.
  - Like C(retina nettrace), with these differences. Reason names are read from the running kernel every time
    (tracefs print formats and BTF), never from a built-in table, because codes differ between kernels.
    Address filters accept IPv6 and run in the kernel (an LPM trie). Each event carries its namespace.
  - Struct offsets come from the kernel's BTF and tracepoint layouts from tracefs, so the module works when
    the only kernel headers on the node belong to another kernel version (for example Debian's
    C(linux-headers-amd64) on a newer kernel). When C(/lib/modules/$(uname -r)/build) is missing it compiles
    against O(kernel_source_dir) when present, else against a private merged tree of the newest
    C(/usr/src/linux-headers-*) pair.
  - Tracepoints are global, so one capture in the root namespace sees every namespace of the node; use
    O(netns) to keep only some.
  - Run it with C(async) and C(poll=0) to capture on many nodes while a probe is injected; the module writes
    O(ready_file) once every program is attached, so the play can wait for it before injecting.
  - No BPF program stays attached after the module ends, whatever the way it ends (BPF links are file
    descriptors of the module's process; SIGTERM, SIGINT and SIGHUP end the capture early and detach).
requirements:
  - root on the node.
  - BCC's Python bindings (C(python3-bpfcc) on Debian/Ubuntu, C(python3-bcc) on the RHEL family).
  - A kernel with BTF (C(/sys/kernel/btf/vmlinux)) and tracefs.
  - Kernel headers of some version for BCC to compile against (see the node_prereqs role).
attributes:
  check_mode:
    support: full
    details: The capture only observes; nothing on the node changes, so check mode runs it too.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Linux only.
options:
  duration:
    description: How long to capture, in seconds.
    type: float
    default: 30
  events:
    description: Event types to capture; all of them when omitted.
    type: list
    elements: str
    choices: [DROP, RST_SENT, RST_RECV, SOCK_ERR, RETRANS]
  filter_ip:
    description:
      - Keep only events whose source or destination is one of these IPv4 or IPv6 addresses.
      - Combined with O(filter_cidr) (an event matching either list is kept). Applied in the kernel.
    type: list
    elements: str
    default: []
  filter_cidr:
    description: Keep only events whose source or destination is in one of these IPv4 or IPv6 prefixes.
    type: list
    elements: str
    default: []
  netns:
    description:
      - Keep only events of these network namespaces, each an C(ip netns) name, a path such as
        C(/proc/1234/ns/net), a PID, or a namespace inode as this module reports in RV(events[].netns).
      - V(auto) stands for every namespace of this node that holds one of the O(filter_ip) addresses (found as
        M(netdiag.tracekit.netns_info) finds them), so pods are named by their addresses; V(host) is the
        module's own namespace (the node's).
      - An unknown name or path fails the task before anything is attached.
    type: list
    elements: str
    default: []
  max_events:
    description:
      - Stop the capture once this many events were received; the kernel counters still count everything.
      - C(0) means no limit (all events are returned; mind the size of the result).
    type: int
    default: 10000
  timeout:
    description:
      - Seconds allowed, on top of O(duration), for preparing, compiling and attaching. If the run takes
        longer than O(duration) + O(timeout) the module fails; its BPF programs die with its process.
    type: int
    default: 60
  ready_file:
    description:
      - A file the module writes (JSON with C(pid), C(attached_at), C(attach_seconds)) as soon as every
        program is attached, so a play running this module with C(async) can wait for it with
        C(ansible.builtin.wait_for) before injecting traffic.
      - An existing file at that path is removed when the module starts; remove it in the play before starting
        the module too, so a previous run's file cannot satisfy the wait.
      - When the module fails before it is attached, it writes a JSON object with the key C(error) there
        instead, so the play stops waiting at once; read the file to tell the two apart.
    type: path
  stop_file:
    description:
      - End the capture as soon as this file exists (checked every 50 ms), and return normally.
      - A capture that ends normally removes its O(ready_file) and O(stop_file).
      - Lets a play stop every node's capture right after the probe has its answer, instead of waiting out
        O(duration). A stale file at that path is removed when the module starts.
    type: path
  ring_buffer_mb:
    description: Size of the BPF ring buffer in MiB (a power of two). Larger absorbs longer bursts.
    type: int
    default: 8
  nft_trace:
    description:
      - Also trace the probe through nftables while capturing (M(netdiag.tracekit.nft_trace) does the same on its
        own) - C(tag), the probe's tag (C(dscp) and C(ip_id) and/or C(flow_label)), or C(tags), a list of such
        tags (one per probe of a batch, as compliance_trace.yml sends), and C(netns), the namespaces to trace.
        The trace tables are loaded while BCC compiles, before O(ready_file) is written, and removed however
        the module ends. What cannot be traced is reported in the C(problems) of RV(nft_trace); it never fails
        the capture.
    type: dict
    version_added: 0.2.0
  kernel_source_dir:
    description:
      - Kernel header tree for BCC when C(/lib/modules/$(uname -r)/build) does not exist (the node_prereqs role
        creates it). When this directory is absent too, the module builds a private merged tree from
        C(/usr/src/linux-headers-*) for the run.
    type: path
    default: /var/lib/netdiag_tracekit/kernel-src
notes:
  - Reports with no pending error (a second C(inet_sk_error_report) after the application read the error) are
    not events.
  - C(RETRANS) events take their addresses from the socket; the retransmitted segment has no IP header yet,
    so they carry no probe-tie fields.
seealso:
  - name: retina nettrace
    description: The Kubernetes tool this module replaces on Ansible-managed nodes.
    link: https://retina.sh/
"""

EXAMPLES = r"""
- name: Capture drops and resets of one pod for 10 seconds
  netdiag.tracekit.nettrace:
    duration: 10
    filter_ip: [10.244.1.17]
  become: true
  register: trace

- name: Show the table
  ansible.builtin.debug:
    msg: "{{ trace.table }}"

# Capture on every node while a probe is injected: start, wait until attached, inject, collect.
- name: Forget a previous run's ready file
  ansible.builtin.file:
    path: /run/netdiag-nettrace.ready
    state: absent
  become: true

- name: Start the capture in the background
  netdiag.tracekit.nettrace:
    duration: 20
    filter_cidr: [10.244.0.0/16, "fd00:10:244::/56"]
    events: [DROP, RST_SENT, SOCK_ERR]
    ready_file: /run/netdiag-nettrace.ready
  become: true
  async: 120
  poll: 0
  register: capture_job

- name: Wait until every BPF program is attached
  ansible.builtin.wait_for:
    path: /run/netdiag-nettrace.ready
    timeout: 60
  become: true

- name: Inject the probe here (any task)
  ansible.builtin.command: ip netns exec client nc -z -w 2 10.244.2.9 5432
  failed_when: false
  changed_when: false

- name: Collect the capture
  ansible.builtin.async_status:
    jid: "{{ capture_job.ansible_job_id }}"
  become: true
  register: trace
  until: trace.finished
  retries: 60
  delay: 2

- name: Name the drop point
  ansible.builtin.debug:
    msg: "{{ item.netns_name }} dropped {{ item.src_ip }} -> {{ item.dst_ip }}: {{ item.reason }} at {{ item.location }}"
  loop: "{{ trace.events | selectattr('type', 'equalto', 'DROP') }}"
"""

RETURN = r"""
events:
  description: Captured events in time order (at most O(max_events)). Every event has every key; C(null) where
    a field does not apply.
  returned: success
  type: list
  elements: dict
  contains:
    time:
      description: When the kernel saw it, ISO 8601 in UTC with microseconds.
      type: str
      sample: "2026-11-22T22:52:42.862880Z"
    timestamp:
      description: The same time as seconds since the epoch.
      type: float
    type:
      description: C(DROP), C(RST_SENT), C(RST_RECV), C(SOCK_ERR) or C(RETRANS).
      type: str
    reason_code:
      description: The kernel's code (drop reason, reset reason, errno, or TCP state for C(RETRANS)).
      type: int
    reason:
      description: Its name on this kernel, such as C(NETFILTER_DROP), C(NO_SOCKET), C(ECONNREFUSED) or C(TCP_SYN_SENT).
      type: str
    probe:
      description: The tracepoint, as Retina names it (C(kfree_skb), C(tcp_send_reset), ...).
      type: str
    src_ip:
      description: Source address (IPv4 or IPv6). For C(RST_SENT), the reset's source (the local end).
      type: str
    src_port:
      description: Source port.
      type: int
    dst_ip:
      description: Destination address.
      type: str
    dst_port:
      description: Destination port.
      type: int
    protocol:
      description: C(tcp), C(udp), C(icmp), C(icmpv6), C(sctp), or the protocol number.
      type: str
    family:
      description: C(ipv4) or C(ipv6).
      type: str
    netns:
      description: Inode of the network namespace the event happened in.
      type: int
    netns_name:
      description: Its C(ip netns) name, when it has one.
      type: str
    location:
      description: For C(DROP), the kernel function that freed the packet (from C(/proc/kallsyms)).
      type: str
      sample: nft_do_chain+0x46f
    state:
      description: TCP state of the socket (always for C(RETRANS)).
      type: str
    errno:
      description: For C(SOCK_ERR), the error name.
      type: str
    ip_id:
      description: IPv4 identification field of the packet (probe tie).
      type: int
    dscp:
      description: DSCP of the packet (IPv4 TOS or IPv6 traffic class, upper six bits).
      type: int
    flow_label:
      description: IPv6 flow label of the packet (probe tie).
      type: int
  sample:
    - time: "2026-11-22T22:52:42.862880Z"
      timestamp: 1795387962.86288
      type: DROP
      reason_code: 12
      reason: NETFILTER_DROP
      probe: kfree_skb
      src_ip: 10.99.0.1
      src_port: 53660
      dst_ip: 10.99.0.2
      dst_port: 9
      protocol: udp
      family: ipv4
      netns: 4026532815
      netns_name: tkt-b
      location: nft_do_chain+0x46f
      state: null
      errno: null
      ip_id: 2235
      dscp: 0
      flow_label: null
counts:
  description: Number of returned events per type.
  returned: success
  type: dict
  sample: {DROP: 3, RST_SENT: 1, RST_RECV: 0, SOCK_ERR: 1, RETRANS: 0}
counters:
  description: Kernel-side counters of the capture.
  returned: success
  type: dict
  contains:
    seen:
      description: Tracepoint hits of the selected types, before filtering.
      type: int
    seen_by_type:
      description: The same per type.
      type: dict
    filtered_netns:
      description: Hits dropped by the O(netns) filter.
      type: int
    filtered_ip:
      description: Hits dropped by the address filters.
      type: int
    filtered_out:
      description: Sum of both filters.
      type: int
    emitted:
      description: Events written to the ring buffer.
      type: int
    lost:
      description: Events lost because the ring buffer was full.
      type: int
    received:
      description: Events read by the module.
      type: int
    over_max_events:
      description: Events received beyond O(max_events) and not returned.
      type: int
drop_reasons:
  description: This kernel's drop-reason table, code (as a string) to name.
  returned: success
  type: dict
  sample: {"2": NOT_SPECIFIED, "3": NO_SOCKET, "12": NETFILTER_DROP}
table:
  description: The events as text, in Retina's columns C(TIME TYPE REASON PROBE SRC -> DST) followed by C(NETNS LOCATION).
  returned: success
  type: str
attach_seconds:
  description: Seconds spent compiling, loading and attaching.
  returned: success
  type: float
capture_seconds:
  description: Seconds the capture ran.
  returned: success
  type: float
stopped_by:
  description: Why the capture ended, C(duration), C(max_events) or C(signal SIGTERM) (and so on).
  returned: success
  type: str
event_types:
  description: The event types that were captured.
  returned: success
  type: list
  elements: str
filters:
  description: The address filters in effect, normalised.
  returned: success
  type: list
  elements: str
netns_filter:
  description: Inodes of the namespaces kept, empty when all are.
  returned: success
  type: list
  elements: int
kernel_source:
  description: Which kernel header tree BCC compiled against.
  returned: success
  type: str
nft_trace:
  description: With O(nft_trace), what M(netdiag.tracekit.nft_trace) returns (C(traces), C(problems),
    C(counters), C(attached_at)...); else null.
  returned: success
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.signal_files import report_failure
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.stoppable import watchdog
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace import (
    ALL_KINDS, NettraceError, NettraceSession)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            duration=dict(type="float", default=30),
            events=dict(type="list", elements="str", choices=list(ALL_KINDS)),
            filter_ip=dict(type="list", elements="str", default=[]),
            filter_cidr=dict(type="list", elements="str", default=[]),
            netns=dict(type="list", elements="str", default=[]),
            max_events=dict(type="int", default=10000),
            timeout=dict(type="int", default=60),
            ready_file=dict(type="path"),
            stop_file=dict(type="path"),
            ring_buffer_mb=dict(type="int", default=8),
            kernel_source_dir=dict(type="path", default="/var/lib/netdiag_tracekit/kernel-src"),
            nft_trace=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["duration"] <= 0:
        module.fail_json(msg="duration must be a positive number of seconds, got %s" % params["duration"])
    if params["max_events"] < 0 or params["timeout"] <= 0:
        module.fail_json(msg="max_events must be >= 0 and timeout > 0")
    limit = params["duration"] + params["timeout"]
    timer = watchdog(module, limit, "nettrace did not finish within %ss (duration + timeout); the process ends and "
                                    "its BPF programs are detached" % limit)
    result = None
    try:
        session = NettraceSession(kinds=params["events"], filter_ip=params["filter_ip"],
                                  filter_cidr=params["filter_cidr"], netns=params["netns"],
                                  max_events=params["max_events"], ringbuf_mb=params["ring_buffer_mb"],
                                  ready_file=params["ready_file"], kernel_src=params["kernel_source_dir"],
                                  stop_file=params["stop_file"], nft_trace=params["nft_trace"])
        with session:
            session.prepare()
            session.attach()
            session.capture(params["duration"])
            result = session.result()
    except NettraceError as exc:
        timer.cancel()
        report_failure(params["ready_file"], str(exc))
        module.fail_json(msg=str(exc))
    timer.cancel()
    if session.signal_name:
        module.fail_json(msg="capture interrupted by %s after %ss; every BPF program was detached"
                             % (session.signal_name, result["capture_seconds"]), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

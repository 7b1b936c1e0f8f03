#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: packet_inject_batch
short_description: Inject many tagged test packets at once, each from its pod's namespace, and classify their replies
version_added: 0.2.0
description:
  - Sends a batch of probes, each built exactly as M(netdiag.tracekit.packet_inject) builds one, from the
    network namespaces of this node's pods. All sockets are opened first, all probes are sent back to back,
    and one wait of at most O(timeout) collects the replies of every namespace, so N probes cost one
    timeout, not N. C(compliance_trace.yml) uses it to check many flows in one capture window.
  - Each probe carries the tag the caller gives it (DSCP, IPv4 identification or IPv6 flow label, ICMP id),
    so captures can split their evidence by probe. Two probes with the same IPv4 ID or flow label are refused.
  - In check mode the probes are built and validated (namespaces must exist, source addresses are chosen)
    and returned, but not sent.
author:
  - netdiag.tracekit developers (@netdiag)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  probes:
    description: The probes to send (at most 1000).
    type: list
    elements: dict
    required: true
    suboptions:
      id:
        description: A name for the probe, unique in the batch; its result carries it.
        type: str
        required: true
      netns:
        description: Namespace to send from (C(ip netns) name, path or PID). Default, this host's own.
        type: str
      dst:
        description: Destination address, IPv4 or IPv6.
        type: str
        required: true
      src:
        description: Source address. Default, the address the namespace's routing would use for O(probes[].dst).
        type: str
      protocol:
        description: Protocol of the probe.
        type: str
        choices: [tcp, udp, icmp, icmpv6]
        default: tcp
      src_port:
        description: Source port for V(tcp) and V(udp). Default, a random ephemeral port.
        type: int
      dst_port:
        description: Destination port; required for V(tcp) and V(udp), refused for ICMP.
        type: int
      ttl:
        description: IPv4 TTL or IPv6 hop limit.
        type: int
        default: 64
      tag:
        description: DSCP value (1-63). Default, random.
        type: int
      ip_id:
        description: IPv4 identification (0-65535) of an IPv4 probe. Default, random.
        type: int
      flow_label:
        description: IPv6 flow label (0-1048575) of an IPv6 probe. Default, random.
        type: int
      icmp_id:
        description: ICMP echo identifier of an ICMP probe; replies are matched by it.
        type: int
        default: 0
  wait_reply:
    description: Wait for replies and classify them. Without it, each RV(results[].outcome) is C(not_checked).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for replies, for the whole batch; waiting ends earlier once every probe has one.
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
    details: Builds and validates the probes and returns them without sending.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs root (CAP_NET_RAW and CAP_SYS_ADMIN to enter the namespaces) and scapy on the node.
  - Each probe is one packet, as with M(netdiag.tracekit.packet_inject).
requirements:
  - scapy >= 2.5
seealso:
  - module: netdiag.tracekit.packet_inject
  - module: netdiag.tracekit.nettrace
"""

EXAMPLES = r"""
- name: Probe three flows from two pods of this node at once
  netdiag.tracekit.packet_inject_batch:
    probes:
      - {id: f001, netns: tklab-n1-pod1, dst: 10.244.2.11, protocol: tcp, dst_port: 8080, tag: 1, ip_id: 1000}
      - {id: f002, netns: tklab-n1-pod1, dst: 10.244.2.11, protocol: tcp, dst_port: 5432, tag: 2, ip_id: 1001}
      - {id: f003, netns: tklab-n1-pod2, dst: 10.244.2.12, protocol: icmp, tag: 3, ip_id: 1002, icmp_id: 7}
    timeout: 2
  register: batch
"""

RETURN = r"""
results:
  description:
    - One result per probe, in the order given, each shaped like M(netdiag.tracekit.packet_inject)'s result
      (so the M(netdiag.tracekit.diagnose) filter takes it as it is), with the probe's O(probes[].id).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The probe's id.
      type: str
      sample: f001
    outcome:
      description: V(reply), V(reset), V(icmp_error), V(no_reply), V(not_checked) or V(not_sent) (check mode).
      type: str
      sample: reply
    probe:
      description: What was sent, with its C(tag) (C(id), C(dscp), C(ip_id), C(flow_label), C(marker)) and C(summary).
      type: dict
    replies:
      description: Packets that answered the probe (C(kind), C(from), C(code_name), C(rtt_ms), C(summary)).
      type: list
      elements: dict
    sent:
      description: 1 when the probe was sent, else 0.
      type: int
    sent_at:
      description: Epoch time at which the probe was sent.
      type: float
    rtt_ms:
      description: Round trip time of the reply, or null.
      type: float
    netns:
      description: The namespace the probe was sent from (path, name, inode).
      type: dict
sent:
  description: How many probes were sent.
  returned: always
  type: int
  sample: 3
outcomes:
  description: How many probes ended with each outcome.
  returned: always
  type: dict
  sample: {reply: 2, no_reply: 1}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.probe import batch, probe

PROBE_SPEC = dict(
    id=dict(type="str", required=True),
    netns=dict(type="str"),
    dst=dict(type="str", required=True),
    src=dict(type="str"),
    protocol=dict(type="str", choices=list(probe.PROTOCOLS), default="tcp"),
    src_port=dict(type="int"),
    dst_port=dict(type="int"),
    ttl=dict(type="int", default=64),
    tag=dict(type="int"),
    ip_id=dict(type="int"),
    flow_label=dict(type="int"),
    icmp_id=dict(type="int", default=0),
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            probes=dict(type="list", elements="dict", required=True, options=PROBE_SPEC),
            wait_reply=dict(type="bool", default=True),
            timeout=dict(type="float", default=2.0),
        ),
        supports_check_mode=True,
    )
    if not probe.HAS_SCAPY:
        module.fail_json(msg=missing_required_lib("scapy"), exception=probe.SCAPY_IMPORT_ERROR)
    try:
        specs = batch.validate_batch(module.params["probes"], module.params["timeout"], module.params["wait_reply"])
        results = batch.inject_batch(specs, check_mode=module.check_mode)
    except TracekitError as exc:
        module.fail_json(msg=str(exc))
    outcomes = {}
    for result in results:
        outcomes[result["outcome"]] = outcomes.get(result["outcome"], 0) + 1
    module.exit_json(changed=True, results=results, sent=sum(r["sent"] for r in results),
                     outcomes=outcomes)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: packet_inject
short_description: Inject a tagged test packet from a pod's network namespace and classify the replies
version_added: 0.1.0
description:
  - Builds a TCP, UDP, ICMP or ICMPv6 probe with scapy and sends it from inside a network namespace (a pod's),
    through a raw socket, so the kernel routes it, resolves neighbours and applies the namespace's rules
    exactly as for the pod's own traffic. Like Antrea Traceflow, but for any CNI.
  - Tags the probe so captures on other nodes can tell it apart. The DSCP bits carry O(tag), the IPv4
    identification or IPv6 flow label is random, and UDP and ICMP probes carry a payload marker
    C(tracekit:<probe id>). The tag is returned.
  - Listens in the same namespace for replies and classifies them (syn-ack, rst, echo-reply, ICMP destination
    unreachable with its code, time exceeded...), giving an C(outcome).
  - In check mode the packet is built and validated (the namespace must exist, the source address is
    chosen) and returned, but not sent.
author:
  - netdiag.tracekit developers (@netdiag)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - netdiag.tracekit.netns
options:
  netns:
    description:
      - The network namespace to send from, for example a pod's.
      - An C(ip netns) name (V(cni-1234), a file under C(/var/run/netns)), a path such as
        V(/var/run/netns/cni-1234) or V(/proc/4242/ns/net), the PID of a process in the namespace, or the
        namespace's inode (as M(netdiag.tracekit.nettrace) and M(netdiag.tracekit.netns_info) report it).
      - V(auto) sends from the one namespace of this node that holds O(src) (see M(netdiag.tracekit.netns_info)),
        so a pod is named by its address; O(src) is then required.
      - Omitted, the module works in its own namespace (the node's).
    type: str
  dst:
    description: Destination address, IPv4 or IPv6 (a pod, a service VIP, any address).
    type: str
    required: true
  src:
    description:
      - Source address. Default, the address the namespace's routing would use for O(dst).
      - Must be of the same family as O(dst).
    type: str
  protocol:
    description: Protocol of the probe. V(icmp) is ICMPv4 echo, V(icmpv6) ICMPv6 echo (for IPv6 destinations).
    type: str
    choices: [tcp, udp, icmp, icmpv6]
    default: tcp
  src_port:
    description: Source port for V(tcp) and V(udp). Default, a random ephemeral port.
    type: int
  dst_port:
    description: Destination port; required for V(tcp) and V(udp), refused for ICMP.
    type: int
  tcp_flags:
    description: TCP flags as letters (V(S) SYN, V(A) ACK, V(F) FIN, V(R) RST, V(P) PSH, V(U) URG).
    type: str
    default: S
  ttl:
    description: IPv4 TTL or IPv6 hop limit.
    type: int
    default: 64
  icmp_id:
    description: ICMP echo identifier.
    type: int
    default: 0
  icmp_seq:
    description: ICMP echo sequence number of the first probe (each further probe adds one).
    type: int
    default: 0
  count:
    description: How many probes to send (1-100); each has its own IP ID and sequence number.
    type: int
    default: 1
  payload:
    description: Payload text. Default, the marker C(tracekit:<probe id>) for UDP and ICMP, none for TCP.
    type: str
  tag:
    description: DSCP value (1-63) that tags the probe. Default, random.
    type: int
  ip_id:
    description:
      - IPv4 identification of the first probe (0-65535; the next ones follow). Default, random.
      - Lets a capture armed before the probe (M(netdiag.tracekit.nft_trace)) match the probe exactly.
    type: int
    version_added: 0.2.0
  flow_label:
    description: IPv6 flow label of the probe (0-1048575). Default, random.
    type: int
    version_added: 0.2.0
  wait_reply:
    description: Wait for replies and classify them. Without it, O(timeout) is ignored and RV(outcome) is C(not_checked).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for replies; waiting ends earlier once every probe has an answer.
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
    details: Builds and validates the probe and returns it without sending.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Needs root (CAP_NET_RAW and CAP_SYS_ADMIN to enter the namespace) and scapy on the node.
  - A probe is one packet, not a connection. The source namespace's kernel answers a SYN-ACK to the probe
    with a RST, as it has no socket for it. This is expected and harmless.
requirements:
  - scapy >= 2.5
seealso:
  - module: netdiag.tracekit.nettrace
"""

EXAMPLES = r"""
- name: Is TCP/5432 of the database pod reachable from the web pod?
  netdiag.tracekit.packet_inject:
    netns: cni-7f0c2a9e-1d2b-4c3e-9f00-aa11bb22cc33
    dst: 10.244.2.11
    protocol: tcp
    dst_port: 5432
  register: probe

- name: Ping a pod over IPv6 from a container, by PID, with hop limit 3
  netdiag.tracekit.packet_inject:
    netns: "4242"
    dst: fd00:10:244:2::11
    protocol: icmpv6
    ttl: 3

- name: Only show the packet that would be sent
  netdiag.tracekit.packet_inject:
    netns: /var/run/netns/tklab-n1-pod1
    dst: 10.96.0.10
    dst_port: 80
  check_mode: true
"""

RETURN = r"""
outcome:
  description:
    - V(reply) (the destination answered, for example SYN-ACK or echo reply), V(reset) (TCP RST),
      V(icmp_error) (an ICMP error such as destination unreachable), V(no_reply) (nothing within O(timeout)),
      V(not_checked) (O(wait_reply=false)) or V(not_sent) (check mode).
  returned: always
  type: str
  sample: reply
probe:
  description: What was sent. Parameters after defaults, the tag, a summary, header fields and hex bytes.
  returned: always
  type: dict
  contains:
    src:
      description: Source address used.
      type: str
      sample: 10.244.1.11
    dst:
      description: Destination address.
      type: str
      sample: 10.244.2.11
    tag:
      description: How captures recognise the probe. C(id) is random, C(dscp) is the value in the DSCP bits,
        C(ip_id) is the IPv4 identification of the first probe, C(flow_label) is the IPv6 flow label, and
        C(marker) is the payload marker or null.
      type: dict
      sample: {id: 3f2a9c01, dscp: 23, ip_id: 51234, flow_label: null, marker: null}
    summary:
      description: One line describing the packet.
      type: str
      sample: TCP 10.244.1.11:43122 > 10.244.2.11:5432 [S] ttl=64 dscp=23 id=51234
    fields:
      description: Header fields of the first probe.
      type: dict
    hex:
      description: The first probe's bytes from the IP header on, in hex.
      type: str
replies:
  description: Packets that answered the probe, in arrival order.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(syn-ack), V(rst), V(tcp), V(udp), V(echo-reply), V(dest-unreachable), V(time-exceeded),
        V(packet-too-big), V(parameter-problem), V(redirect) or V(source-quench).
      type: str
    from:
      description: Who sent the reply (for ICMP errors, the router or host that refused).
      type: str
    code_name:
      description: For ICMP errors, the code by name, such as V(port-unreachable), V(admin-prohibited) or V(net-unreachable).
      type: str
    rtt_ms:
      description: Milliseconds from sending to this reply.
      type: float
    summary:
      description: One line describing the reply.
      type: str
sent:
  description: How many probes were sent.
  returned: always
  type: int
sent_at:
  description: Epoch time at which the probes were sent.
  returned: when sent
  type: float
rtt_ms:
  description: Round trip time of the first reply, or null.
  returned: when sent
  type: float
netns:
  description: The namespace the probe was sent from (path, name, inode).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils
from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns_finder
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.arg_specs import NETNS_ARG_SPEC, with_spec
from ansible_collections.netdiag.tracekit.plugins.module_utils.probe import probe


def main():
    module = AnsibleModule(
        argument_spec=with_spec(
            NETNS_ARG_SPEC,
            dst=dict(type="str", required=True),
            src=dict(type="str"),
            protocol=dict(type="str", choices=list(probe.PROTOCOLS), default="tcp"),
            src_port=dict(type="int"),
            dst_port=dict(type="int"),
            tcp_flags=dict(type="str", default="S"),
            ttl=dict(type="int", default=64),
            icmp_id=dict(type="int", default=0),
            icmp_seq=dict(type="int", default=0),
            count=dict(type="int", default=1),
            payload=dict(type="str"),
            tag=dict(type="int"),
            ip_id=dict(type="int"),
            flow_label=dict(type="int"),
            wait_reply=dict(type="bool", default=True),
            timeout=dict(type="float", default=2.0),
        ),
        supports_check_mode=True,
    )
    if not probe.HAS_SCAPY:
        module.fail_json(msg=missing_required_lib("scapy"), exception=probe.SCAPY_IMPORT_ERROR)
    params = dict(module.params)
    is_icmp = params["protocol"] in ("icmp", "icmpv6")
    # Defaults that belong to another protocol are not the user's choice: drop them before validation.
    if is_icmp:
        params["tcp_flags"] = None
    else:
        if not params["icmp_id"]:
            params["icmp_id"] = None
        if not params["icmp_seq"]:
            params["icmp_seq"] = None
        if params["protocol"] != "tcp" and params["tcp_flags"] == "S":
            params["tcp_flags"] = None
    try:
        spec = probe.validate(params)
        ns = netns_finder.resolve(params["netns"], address=params["src"])
        result = probe.inject(spec, ns["path"], check_mode=module.check_mode)
    except (probe.ProbeError, netns_utils.NetnsError) as exc:
        module.fail_json(msg=str(exc))
    result["netns"] = ns
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()

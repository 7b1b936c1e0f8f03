# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: conntrack_export
short_description: Read the kernel's connection tracking table or events, as facts and as Antrea-style IPFIX
version_added: 0.2.0
author:
  - netdiag.tracekit developers (@netdiag)
description:
  - Reads conntrack over netlink in a network namespace (a pod's or the node's), either the whole table once
    (O(mode=snapshot)) or the NEW, UPDATE and DESTROY events for O(duration) seconds (O(mode=events)); a
    DESTROY event carries the connection's final counters.
  - Every flow has its protocol, original and reply tuples (NAT is visible when they differ, and named in
    C(nat)), TCP state, status flags, timeout, mark, zone, conntrack id, packets and bytes each way when
    accounting is on (C(net.netfilter.nf_conntrack_acct=1)), and its start time when timestamping is on
    (C(net.netfilter.nf_conntrack_timestamp=1)). RV(accounting) and RV(timestamps) say when they are off.
  - Facts use the IPFIX information element names where one exists (C(sourceIPv4Address),
    C(destinationTransportPort), C(protocolIdentifier), C(packetTotalCount), C(reverseOctetTotalCount),
    C(flowStartSeconds), the Antrea elements C(tcpState), C(sourcePodName), C(destinationClusterIPv4)...), so the
    facts and the exported IPFIX records are the same data; docs/conntrack.md lists every key.
  - As Antrea's flow exporter does, the destination address and port of a flow are where its packets really go
    (the backend after DNAT); a DNATed flow also carries C(destinationClusterIPv4) (or C(IPv6)) and
    C(destinationServicePort), the address and port the client asked for.
  - O(output) C(ipfix) sends each flow as an IPFIX record (RFC 7011, the Antrea information elements of
    enterprise 56506 and the reverse counters of RFC 5103) to O(collector) over UDP, TCP or TLS. With several
    collectors, each flow goes to one of them chosen by a hash of its normalised 5-tuple, so the records of both
    ends of a connection reach the same aggregator.
  - The table is decoded without per-entry library objects, so a table of 100000 entries reads in seconds.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - netdiag.tracekit.netns
attributes:
  check_mode:
    support: full
    details: The table is read as usual; nothing is sent to a collector in check mode (RV(exported) stays empty).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
    details: Linux with conntrack (nf_conntrack) and netlink; runs as root (CAP_NET_ADMIN) on the node.
options:
  mode:
    description:
      - V(snapshot) dumps the table once; V(events) listens to conntrack events for O(duration) seconds.
    type: str
    choices: [snapshot, events]
    default: snapshot
  duration:
    description: Seconds to listen to events with O(mode=events).
    type: float
    default: 10
  event_types:
    description: The conntrack events to listen to with O(mode=events).
    type: list
    elements: str
    choices: [NEW, UPDATE, DESTROY]
    default: [NEW, UPDATE, DESTROY]
  max_flows:
    description:
      - Stop after this many flows (events) and return at most this many flows in RV(flows); V(0) means no limit.
        RV(truncated) says when flows were left out of RV(flows) (all are still exported).
    type: int
    default: 0
  src:
    description:
      - Keep flows whose original source address is one of these addresses or CIDRs (V(10.244.1.0/24),
        V(fd00::5)). A CIDR with host bits set is refused.
    type: list
    elements: str
  dst:
    description: Keep flows whose original destination address (before DNAT) is one of these addresses or CIDRs.
    type: list
    elements: str
  address:
    description:
      - Keep flows that have one of these addresses or CIDRs anywhere in their original or reply tuple (finds a
        service flow by its backend too).
    type: list
    elements: str
  src_port:
    description: Keep flows with this original source port.
    type: int
  dst_port:
    description: Keep flows with this original destination port (the service port before DNAT).
    type: int
  protocol:
    description: Keep flows of this protocol, a name (V(tcp), V(udp), V(icmp), V(icmpv6), V(sctp)...) or a number.
    type: str
  family:
    description: Keep only IPv4 or only IPv6 flows.
    type: str
    choices: [ipv4, ipv6]
  zone:
    description: Keep flows in this conntrack zone.
    type: int
  mark:
    description: Keep flows with this conntrack mark, V(VALUE) or V(VALUE/MASK) (V(0x2a), V(0x100/0xff00)).
    type: str
  tcp_state:
    description:
      - Keep TCP flows in one of these states (V(SYN_SENT), V(SYN_RECV), V(ESTABLISHED), V(FIN_WAIT),
        V(CLOSE_WAIT), V(LAST_ACK), V(TIME_WAIT), V(CLOSE), V(SYN_SENT2), V(NONE)).
    type: list
    elements: str
  status:
    description:
      - Keep flows that have every one of these status flags (V(ASSURED), V(UNREPLIED), V(SEEN_REPLY),
        V(CONFIRMED), V(SRC_NAT), V(DST_NAT), V(OFFLOAD)...). V(UNREPLIED) means no reply was seen.
    type: list
    elements: str
  endpoints:
    description:
      - Maps an IP address to the pod behind it, C({pod, namespace, node}) (each optional), so flows carry
        C(sourcePodName), C(sourcePodNamespace), C(sourceNodeName), the C(destination...) twins and C(flowType)
        (1 intra-node, 2 inter-node, 3 to external, 4 from external), as Antrea's records do.
    type: dict
  output:
    description: Where flows go, V(facts) (RV(flows)) and/or V(ipfix) (sent to O(collector)).
    type: list
    elements: str
    choices: [facts, ipfix]
    default: [facts]
  collector:
    description:
      - The IPFIX collector, C(host:port) (C([IPv6]:port); port 4739 when omitted), or a list of collectors
        (aggregator replicas), one chosen per flow by a hash of its normalised 5-tuple. Required with
        O(output=ipfix).
    type: list
    elements: str
  transport:
    description: IPFIX transport. With V(tcp) and V(tls) an unreachable collector fails the module.
    type: str
    choices: [udp, tcp, tls]
    default: udp
  ca:
    description: CA certificate (PEM) that signed the collector's certificate, for O(transport=tls).
    type: path
  certificate:
    description: Client certificate (PEM) for O(transport=tls) when the collector asks for one.
    type: path
  key:
    description: Private key (PEM) of O(certificate).
    type: path
  observation_domain_id:
    description: The IPFIX observation domain id of the exported messages.
    type: int
    default: 0
  timeout:
    description: Seconds to wait for the kernel's dump, and for a TCP/TLS collector to accept the connection.
    type: float
    default: 30
requirements:
  - Linux with nf_conntrack; root or CAP_NET_ADMIN
  - pyroute2 (Python) opens the netlink socket when installed; the standard library does otherwise
notes:
  - A network namespace tracks nothing until a ruleset there uses conntrack (a C(ct) match or NAT).
  - Accounting and timestamping are per namespace and apply to connections created after they are switched on.
seealso:
  - name: conntrack(8)
    description: The command-line view of the same table.
    link: https://conntrack-tools.netfilter.org/manual.html
  - name: Antrea network flow visibility
    description: The flow exporter whose records these are.
    link: https://antrea.io/docs/main/docs/network-flow-visibility/
"""

EXAMPLES = r"""
- name: TCP connections of a pod that never got an answer
  netdiag.tracekit.conntrack_export:
    netns: cni-5f1c3e3a
    protocol: tcp
    status: [UNREPLIED]
  register: stuck

- name: Which backend did the service 10.96.0.10:80 pick?
  netdiag.tracekit.conntrack_export:
    dst: 10.96.0.10
    dst_port: 80
  register: svc

- name: Show it
  ansible.builtin.debug:
    msg: "{{ svc.flows | map(attribute='destinationIPv4Address') | list }}"

- name: Watch a node for 30 s and send every flow to two aggregators over TLS, with pod names
  netdiag.tracekit.conntrack_export:
    mode: events
    duration: 30
    event_types: [DESTROY]
    output: [ipfix]
    collector: [10.0.0.21:4739, 10.0.0.22:4739]
    transport: tls
    ca: /etc/tracekit/ca.pem
    observation_domain_id: 7
    endpoints:
      10.244.1.5: {pod: web-1, namespace: prod, node: node1}
      10.244.2.7: {pod: db-0, namespace: prod, node: node2}
"""

RETURN = r"""
flows:
  description:
    - The flows (when O(output) has V(facts)), after the filters. Keys are IPFIX element names where one exists;
      docs/conntrack.md describes each. Counters are null when accounting is off, start times null when
      timestamping is off.
  returned: always
  type: list
  elements: dict
  sample:
    - id: 3962589906
      family: ipv4
      protocol: tcp
      protocolIdentifier: 6
      sourceIPv4Address: 10.231.0.1
      destinationIPv4Address: 10.231.0.2
      sourceTransportPort: 39492
      destinationTransportPort: 8080
      destinationClusterIPv4: 10.96.0.10
      destinationServicePort: 80
      original: {src: 10.231.0.1, dst: 10.96.0.10, src_port: 39492, dst_port: 80}
      reply: {src: 10.231.0.2, dst: 10.231.0.1, src_port: 8080, dst_port: 39492}
      nat: [dnat]
      tcpState: ESTABLISHED
      status: [SEEN_REPLY, ASSURED, CONFIRMED, DST_NAT, SRC_NAT_DONE, DST_NAT_DONE]
      timeout: 431999
      mark: 0
      zone: 0
      helper: null
      accounting: true
      packetTotalCount: 4
      octetTotalCount: 221
      reversePacketTotalCount: 3
      reverseOctetTotalCount: 166
      flowStartSeconds: 1795979792
      flowStartMilliseconds: 1795979792602
count:
  description: How many flows matched the filters (also those left out of RV(flows) by O(max_flows)).
  returned: always
  type: int
  sample: 11
truncated:
  description: True when O(max_flows) left flows out of RV(flows).
  returned: always
  type: bool
netns:
  description: The namespace read, as resolved (C(spec), C(path), C(name), C(inode)).
  returned: always
  type: dict
accounting:
  description:
    - C(enabled) (the namespace's C(net.netfilter.nf_conntrack_acct), null when unknown), C(flows_with_counters)
      and C(message), which says when counters are missing and how to switch them on.
  returned: always
  type: dict
  sample: {enabled: false, flows_with_counters: 0, message: "accounting is off in this namespace ..."}
timestamps:
  description: C(enabled) (C(net.netfilter.nf_conntrack_timestamp)) and C(flows_with_start).
  returned: always
  type: dict
events_lost:
  description: With O(mode=events), how many times the kernel dropped events because the reader fell behind.
  returned: always
  type: int
dump_interrupted:
  description: True when the table changed while it was dumped (the kernel flags the dump; entries may be missing).
  returned: always
  type: bool
exported:
  description:
    - Per collector, what was sent (C(flows) and the exporter's counters C(messages), C(records), C(templates),
      C(bytes), C(errors)); empty without O(output=ipfix) or in check mode.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_util
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.arg_specs import NETNS_ARG_SPEC, with_spec
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack import netlink
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackFilterError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.exporting import FlowExporter
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.filters import FILTER_KEYS, FlowFilter
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.records import add_endpoints, check_endpoints


def _switch(value):
    return None if value is None else value.strip() not in ("0", "")


def run(module):
    params = module.params
    result = dict(changed=False, flows=[], count=0, truncated=False, events_lost=0, dump_interrupted=False,
                  exported={})
    if params["mode"] == "events" and params["duration"] <= 0:
        raise ConntrackFilterError("duration must be more than 0 seconds with mode=events")
    if params["max_flows"] < 0:
        raise ConntrackFilterError("max_flows must be 0 (no limit) or more")
    flow_filter = FlowFilter(**dict((k, params[k]) for k in FILTER_KEYS))
    endpoints = check_endpoints(params["endpoints"])
    ns = netns_util.resolve(params["netns"])
    result["netns"] = ns
    exporter = None
    if "ipfix" in params["output"]:
        if not params["collector"]:
            raise ConntrackFilterError("output ipfix needs a collector (host:port)")
        exporter = FlowExporter(params["collector"], transport=params["transport"],
                                observation_domain_id=params["observation_domain_id"], ca=params["ca"],
                                certificate=params["certificate"], key=params["key"], timeout=params["timeout"])
        if module.check_mode:
            exporter = None
        else:
            exporter.connect()

    def prepare(batch):
        for flow in batch:
            add_endpoints(flow, endpoints)
        if exporter is not None:
            exporter.export(batch)

    try:
        if params["mode"] == "snapshot":
            flows, interrupted = netlink.dump(ns["path"], family=flow_filter.kernel_family(), keep=flow_filter,
                                              timeout=params["timeout"])
            result["dump_interrupted"] = interrupted
            prepare(flows)
        else:
            flows, lost = netlink.events(params["duration"], ns["path"], kinds=params["event_types"],
                                         keep=flow_filter, max_events=params["max_flows"] or 1000000,
                                         on_batch=prepare)
            result["events_lost"] = lost
    finally:
        if exporter is not None:
            result["exported"] = exporter.close()

    acct = _switch(netlink.sysctl("net.netfilter.nf_conntrack_acct", ns["path"]))
    stamp = _switch(netlink.sysctl("net.netfilter.nf_conntrack_timestamp", ns["path"]))
    counted = sum(1 for f in flows if f.get("accounting"))
    started = sum(1 for f in flows if f.get("flowStartSeconds") is not None)
    message = "every flow has packet and byte counters"
    if counted < len(flows):
        message = ("%d of %d flows have no packet/byte counters: accounting %s (net.netfilter.nf_conntrack_acct=%s "
                   "in this namespace); set it to 1 to count connections created from then on"
                   % (len(flows) - counted, len(flows), "is off" if acct is False else "was off when they began",
                      "0" if acct is False else "1"))
    result["accounting"] = dict(enabled=acct, flows_with_counters=counted, message=message)
    result["timestamps"] = dict(enabled=stamp, flows_with_start=started)
    result["count"] = len(flows)
    if "facts" in params["output"]:
        limit = params["max_flows"]
        result["truncated"] = bool(limit and len(flows) > limit)
        result["flows"] = flows[:limit] if limit else flows
    return result


def main():
    module = AnsibleModule(
        argument_spec=with_spec(
            NETNS_ARG_SPEC,
            mode=dict(type="str", choices=["snapshot", "events"], default="snapshot"),
            duration=dict(type="float", default=10),
            event_types=dict(type="list", elements="str", choices=["NEW", "UPDATE", "DESTROY"],
                             default=["NEW", "UPDATE", "DESTROY"]),
            max_flows=dict(type="int", default=0),
            src=dict(type="list", elements="str"),
            dst=dict(type="list", elements="str"),
            address=dict(type="list", elements="str"),
            src_port=dict(type="int"),
            dst_port=dict(type="int"),
            protocol=dict(type="str"),
            family=dict(type="str", choices=["ipv4", "ipv6"]),
            zone=dict(type="int"),
            mark=dict(type="str"),
            tcp_state=dict(type="list", elements="str"),
            status=dict(type="list", elements="str"),
            endpoints=dict(type="dict"),
            output=dict(type="list", elements="str", choices=["facts", "ipfix"], default=["facts"]),
            collector=dict(type="list", elements="str"),
            transport=dict(type="str", choices=["udp", "tcp", "tls"], default="udp"),
            ca=dict(type="path"),
            certificate=dict(type="path"),
            key=dict(type="path", no_log=False),
            observation_domain_id=dict(type="int", default=0),
            timeout=dict(type="float", default=30),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module)
    except TracekitError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From flows to what leaves the module: pod names from the endpoints map, and IPFIX records.

``endpoints`` maps an address to ``{pod, namespace, node}`` (the Antrea pod elements); an IPFIX record is a
plain dict keyed by element names (the contract of plugins/module_utils/ipfix), holding only the elements
the flow has a value for, in a fixed order so one template serves every flow of the same shape.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackFilterError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.flow import END_ACTIVE, END_OF_FLOW

# Antrea's flowType
FLOW_INTRA_NODE, FLOW_INTER_NODE, FLOW_TO_EXTERNAL, FLOW_FROM_EXTERNAL = 1, 2, 3, 4

# Elements a record may carry, in template order (IANA, reverse, then Antrea 56506).
IPFIX_ORDER = (
    "flowStartSeconds", "flowEndSeconds", "flowStartMilliseconds", "flowEndMilliseconds", "flowEndReason",
    "sourceIPv4Address", "destinationIPv4Address", "sourceIPv6Address", "destinationIPv6Address",
    "sourceTransportPort", "destinationTransportPort", "protocolIdentifier", "icmpTypeCodeIPv4",
    "icmpTypeCodeIPv6", "postNATSourceIPv4Address", "postNATSourceIPv6Address", "postNAPTSourceTransportPort",
    "packetTotalCount", "octetTotalCount", "packetDeltaCount", "octetDeltaCount",
    "reversePacketTotalCount", "reverseOctetTotalCount", "reversePacketDeltaCount", "reverseOctetDeltaCount",
    "sourcePodNamespace", "sourcePodName", "destinationPodNamespace", "destinationPodName",
    "sourceNodeName", "destinationNodeName", "destinationClusterIPv4", "destinationClusterIPv6",
    "destinationServicePort", "tcpState", "flowType",
)
ENDPOINT_KEYS = ("pod", "namespace", "node")


def check_endpoints(endpoints):
    """Validate ``{address: {pod, namespace, node}}``; return it keyed by normalised (compressed) addresses."""
    if not endpoints:
        return {}
    if not isinstance(endpoints, dict):
        raise ConntrackFilterError("endpoints must map an IP address to {pod, namespace, node}, got %s"
                                   % type(endpoints).__name__)
    out = {}
    for addr, info in endpoints.items():
        try:
            key = str(ipaddress.ip_address(str(addr).strip()))
        except ValueError:
            raise ConntrackFilterError("endpoints: %r is not an IP address" % (addr,))
        if not isinstance(info, dict):
            raise ConntrackFilterError("endpoints[%s] must be a dict with pod, namespace and node" % addr)
        extra = set(info) - set(ENDPOINT_KEYS)
        if extra:
            raise ConntrackFilterError("endpoints[%s]: unknown key %s; known: pod, namespace, node"
                                       % (addr, ", ".join(sorted(extra))))
        out[key] = dict((k, str(info[k])) for k in ENDPOINT_KEYS if info.get(k) not in (None, ""))
    return out


def add_endpoints(flow, endpoints):
    """Fill the Antrea pod elements and flowType from the endpoints map (in place; returns the flow)."""
    if not endpoints:
        return flow
    src = endpoints.get((flow.get("original") or {}).get("src"))
    dst = endpoints.get((flow.get("reply") or {}).get("src"))
    for prefix, ep in (("source", src), ("destination", dst)):
        if ep:
            if "pod" in ep:
                flow[prefix + "PodName"] = ep["pod"]
            if "namespace" in ep:
                flow[prefix + "PodNamespace"] = ep["namespace"]
            if "node" in ep:
                flow[prefix + "NodeName"] = ep["node"]
    src_pod = bool(src and src.get("pod"))
    dst_pod = bool(dst and dst.get("pod"))
    if src_pod and dst_pod:
        flow["flowType"] = FLOW_INTRA_NODE if src.get("node") == dst.get("node") else FLOW_INTER_NODE
    elif src_pod:
        flow["flowType"] = FLOW_TO_EXTERNAL
    elif dst_pod:
        flow["flowType"] = FLOW_FROM_EXTERNAL
    return flow


def ipfix_record(flow, now=None):
    """The IPFIX record of a flow: its elements with values, deltas equal to totals (first export).

    ``flowEndReason`` is end-of-flow for a DESTROY event, active timeout otherwise; a flow without kernel
    timestamps starts and ends at ``now`` (the export time), as it cannot say more.
    """
    now = time.time() if now is None else now
    rec = dict((k, flow[k]) for k in IPFIX_ORDER if flow.get(k) is not None)
    if rec.get("flowEndSeconds") is None:
        rec["flowEndSeconds"] = int(now)
        rec["flowEndMilliseconds"] = int(now * 1000)
    if rec.get("flowStartSeconds") is None:
        rec["flowStartSeconds"] = rec["flowEndSeconds"]
        rec["flowStartMilliseconds"] = rec["flowEndMilliseconds"]
    rec["flowEndReason"] = END_OF_FLOW if flow.get("event") == "DESTROY" else END_ACTIVE
    if flow.get("accounting"):
        rec["packetDeltaCount"] = flow["packetTotalCount"]
        rec["octetDeltaCount"] = flow["octetTotalCount"]
        rec["reversePacketDeltaCount"] = flow["reversePacketTotalCount"]
        rec["reverseOctetDeltaCount"] = flow["reverseOctetTotalCount"]
    return dict((k, rec[k]) for k in IPFIX_ORDER if k in rec)

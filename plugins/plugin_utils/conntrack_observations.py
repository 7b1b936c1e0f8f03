# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What each namespace's conntrack says about the probe's connection, as runbook observations.

Every namespace that tracks the probe's packets keeps an entry for it: its state says how far the connection
got (``TCP SYN_SENT [UNREPLIED], no reply seen``), and a translated reply tuple names the NAT that happened
there (``DNAT 10.96.0.10:80 -> 10.244.2.10:8080``), so a service probe names the backend conntrack chose.
Observations only: conntrack never says where a packet died, so none of them is ``Dropped``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.flow import endpoint_text
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import lookup_ip, observation

_PROTO = {"tcp": "TCP", "udp": "UDP", "icmp": "ICMP", "icmpv6": "ICMPv6", "sctp": "SCTP"}


def _same(a, b):
    try:
        return ipaddress.ip_address(str(a)) == ipaddress.ip_address(str(b))
    except ValueError:
        return False


def is_probe_flow(flow, probe, aliases=()):
    """The flow is the probe's connection: its source, source port (or ICMP id) and a destination it may have."""
    orig = flow.get("original") or {}
    if not _same(orig.get("src"), probe.get("src")):
        return False
    if not any(_same(orig.get("dst"), d) for d in [probe.get("dst")] + list(aliases or [])):
        return False
    if probe.get("src_port") and orig.get("src_port") is not None and orig["src_port"] != probe["src_port"]:
        return False
    if probe.get("icmp_id") is not None and orig.get("icmp_id") is not None and orig["icmp_id"] != probe["icmp_id"]:
        return False
    return True


def state_text(flow):
    """``TCP SYN_SENT [UNREPLIED], no reply seen`` / ``UDP [ASSURED], reply seen`` (zone, mark, counters added)."""
    status = flow.get("status") or []
    parts = [_PROTO.get(flow.get("protocol"), str(flow.get("protocol")).upper())]
    if flow.get("tcpState"):
        parts.append(flow["tcpState"])
    flags = " ".join("[%s]" % s for s in ("UNREPLIED", "ASSURED") if s in status)
    if flags:
        parts.append(flags)
    text = " ".join(parts) + (", no reply seen" if "UNREPLIED" in status else ", reply seen")
    extra = []
    if flow.get("zone"):
        extra.append("zone %s" % flow["zone"])
    if flow.get("mark"):
        extra.append("mark 0x%x" % flow["mark"])
    if flow.get("accounting"):
        extra.append("%s packets sent, %s back" % (flow.get("packetTotalCount"), flow.get("reversePacketTotalCount")))
    return text + (" (%s)" % ", ".join(extra) if extra else "")


def nat_texts(flow, endpoints=None, nodes=None, services=None):
    """[(text, backend)] for the DNAT and SNAT the flow shows; backend names the endpoint DNAT chose."""
    orig, reply = flow.get("original") or {}, flow.get("reply") or {}
    proto = flow.get("protocolIdentifier")
    out = []
    if "dnat" in (flow.get("nat") or []):
        before = endpoint_text(orig.get("dst"), orig.get("dst_port"), proto)
        after = endpoint_text(reply.get("src"), reply.get("src_port"), proto)
        who = lookup_ip(reply.get("src"), endpoints, nodes, services) or {}
        backend = who.get("name") or reply.get("src")
        text = "DNAT %s -> %s" % (before, after)
        if who.get("name"):
            text += " (backend %s)" % who["name"]
        out.append((text, backend))
    if "snat" in (flow.get("nat") or []):
        before = endpoint_text(orig.get("src"), orig.get("src_port"), proto)
        after = endpoint_text(reply.get("dst"), reply.get("dst_port"), proto)
        out.append(("SNAT %s -> %s" % (before, after), None))
    return out


def conntrack_observations(results, node, probe, src, dst, netns_endpoints=None, node_netns=None, aliases=(),
                           endpoints=None, nodes=None, services=None):
    """Observations from the conntrack_export results of one node (one result per namespace read).

    ``results`` items carry ``flows`` and the namespace they were read in (``item`` or ``netns.spec``); failed
    or skipped reads are left out. Returns (observations, namespaces without the probe's connection).
    """
    netns_endpoints = netns_endpoints or {}
    out = []
    untracked = []
    for result in results or []:
        if not isinstance(result, dict) or result.get("failed") or result.get("skipped"):
            continue
        ns = result.get("item")
        if ns is None:
            ns = (result.get("netns") or {}).get("spec")
        ns = None if ns in (None, "", "host") else str(ns)
        flows = [f for f in result.get("flows") or [] if is_probe_flow(f, probe, aliases)]
        if not flows:
            untracked.append(ns)
            continue
        endpoint = netns_endpoints.get(ns) if ns else None
        if endpoint is None and (ns is None or ns == node_netns):
            endpoint = node
        action = "Sent" if ns is not None and ns == src.get("netns") else "Received"
        for flow in flows:
            when = flow.get("flowStartMilliseconds")
            common = dict(node=node, netns=ns, endpoint=endpoint, time=when / 1000.0 if when else None,
                          conntrack={"id": flow.get("id"), "zone": flow.get("zone"), "mark": flow.get("mark"),
                                     "original": flow.get("original"), "reply": flow.get("reply"),
                                     "status": flow.get("status"), "tcpState": flow.get("tcpState")})
            out.append(observation(action, "conntrack", "conntrack_export", reason=state_text(flow),
                                   detail="conntrack entry %s in %s" % (flow.get("id"), ns or "the node's namespace"),
                                   **common))
            for text, backend in nat_texts(flow, endpoints, nodes, services):
                extra = dict(common, backend=backend) if backend else common
                out.append(observation("Forwarded", "conntrack", "conntrack_export", reason=text,
                                       detail="NAT by conntrack in %s" % (ns or "the node's namespace"), **extra))
    return out, untracked

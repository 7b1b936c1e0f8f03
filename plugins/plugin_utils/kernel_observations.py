# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which kernel events (from the nettrace module) belong to a probe, and what each one tells the runbook.

A capture on a node sees every packet of the probe's addresses, the probe's and others'. An event belongs
to the probe when it carries the probe's tag (IPv4 ID or IPv6 flow label, and DSCP), or, for packets that
carry no tag (replies, resets the kernel builds), when its 5-tuple is the probe's or its reverse.

Artifacts of probing are left out. The probe is one raw packet, not a socket, so the source's own kernel
discards the destination's answers (``NO_SOCKET``) and resets a SYN-ACK. Neither is a network fault.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import endpoint_in_netns, observation


def _ip(value):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


def _same(a, b):
    x, y = _ip(a), _ip(b)
    return x is not None and x == y


def probe_flow(probe, aliases=()):
    """The probe's addresses and ports, with the addresses it may have been translated to (service backends)."""
    dsts = [probe.get("dst")] + [a for a in aliases if a]
    return {"src": probe.get("src"), "dsts": dsts, "src_port": probe.get("src_port"),
            "dst_port": probe.get("dst_port"), "protocol": probe.get("protocol"), "tag": probe.get("tag") or {},
            "count": probe.get("count") or 1}


def _tag_matches(event, tag, count):
    if tag.get("dscp") is not None and event.get("dscp") is not None and event["dscp"] != tag["dscp"]:
        return False
    if tag.get("ip_id") is not None and event.get("ip_id") is not None:
        return (int(event["ip_id"]) - int(tag["ip_id"])) & 0xFFFF < count
    if tag.get("flow_label") is not None and event.get("flow_label") is not None:
        return int(event["flow_label"]) == int(tag["flow_label"])
    return False


def direction(event, flow):
    """``forward`` (the probe or its copy), ``reverse`` (an answer to it), or None (someone else's packet)."""
    src, dst = event.get("src_ip"), event.get("dst_ip")
    to_dst = any(_same(dst, d) for d in flow["dsts"])
    from_dst = any(_same(src, d) for d in flow["dsts"])
    if _same(src, flow["src"]) and to_dst:
        tag = flow["tag"]
        tagged = ((event.get("ip_id") is not None and tag.get("ip_id") is not None)
                  or (event.get("flow_label") is not None and tag.get("flow_label") is not None))
        if tagged:
            # The packet's own IP ID / flow label was read: it decides, whatever the ports say.
            return "forward" if _tag_matches(event, tag, flow["count"]) else None
        if flow["src_port"] and (event.get("src_port") or event.get("dst_port")):
            return "forward" if event.get("src_port") == flow["src_port"] else None
        return "forward"
    if from_dst and _same(dst, flow["src"]):
        if flow["src_port"] and event.get("dst_port") not in (None, 0) and event.get("dst_port") != flow["src_port"]:
            return None
        return "reverse"
    return None


def _where(event, node, netns_endpoints, node_netns, src, dst):
    """(netns, endpoint) for an event: the namespace's name and the endpoint that lives there."""
    ns = event.get("netns_name") or (str(event["netns"]) if event.get("netns") is not None else None)
    endpoint = netns_endpoints.get(ns) if ns else None
    if endpoint is not None:
        # Two entries may share the namespace (one per address family): the probe's own end is named.
        endpoint = endpoint_in_netns(ns, endpoint, src, dst)
    if endpoint is None and ns is not None and ns == node_netns:
        # The node's own namespace: a policy there protects the destination pod when it lives on this node.
        endpoint = dst.get("name") if dst.get("node") == node else node
    return ns, endpoint


def kernel_observations(events, node, probe, src, dst, netns_endpoints=None, node_netns=None, aliases=()):
    """Observations for the runbook from one node's nettrace events. Returns (observations, ignored_count)."""
    flow = probe_flow(probe, aliases)
    netns_endpoints = netns_endpoints or {}
    out = []
    ignored = 0
    for event in events or []:
        way = direction(event, flow)
        if way is None:
            ignored += 1
            continue
        ns, endpoint = _where(event, node, netns_endpoints, node_netns, src, dst)
        in_source = ns is not None and ns == src.get("netns")
        etype = event.get("type")
        reason = event.get("reason") or str(event.get("reason_code"))
        when = event.get("time_epoch", event.get("timestamp"))
        if not isinstance(when, (int, float)):
            when = None
        detail = "%s in %s" % (reason, event.get("location")) if event.get("location") else reason
        common = dict(node=node, netns=ns, endpoint=endpoint, time=when, detail=detail,
                      direction=way, event_type=etype)
        if etype == "DROP":
            if way == "reverse" and in_source:
                ignored += 1        # the source has no socket for the raw probe: its answers die there
                continue
            action = "Dropped"
            text = "%s%s" % (reason, " in %s" % event["location"] if event.get("location") else "")
            if way == "reverse":
                text = "reply dropped: " + text
            out.append(observation(action, "kernel", "nettrace", reason=text, **common))
        elif etype == "RST_SENT":
            if in_source:
                ignored += 1        # the source's kernel resets the SYN-ACK of a socket it never had
                continue
            out.append(observation("Rejected", "kernel", "nettrace", reason="TCP RST sent (%s)" % reason, **common))
        elif etype == "RST_RECV":
            out.append(observation("Received", "kernel", "nettrace", reason="TCP RST received", **common))
        elif etype == "SOCK_ERR":
            out.append(observation("Rejected", "kernel", "nettrace",
                                   reason="socket error %s" % (event.get("errno") or reason), **common))
        elif etype == "RETRANS":
            out.append(observation("Sent", "kernel", "nettrace",
                                   reason="TCP retransmission (%s)" % (event.get("state") or reason), **common))
        else:
            ignored += 1
    return out, ignored

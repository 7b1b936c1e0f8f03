# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``netns: auto`` in the runbook: put the namespaces each node found (module netns_info) into the plan.

The endpoints whose ``netns`` is ``auto`` get the namespace that holds their addresses on their node, as the
other modules name it (``ip netns`` name, or inode); the source and destination follow; the map from namespace
to pod (to name the pod of each kernel event) gets the pods found. An endpoint that no namespace, or several,
holds keeps ``auto`` and the reason is in ``problems``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress


def _norm(address):
    try:
        return str(ipaddress.ip_interface(str(address)).ip)
    except ValueError:
        return None


def _ips(ep):
    ips = list(ep.get("ips") or [])
    if ep.get("ip") and ep["ip"] not in ips:
        ips.insert(0, ep["ip"])
    return [a for a in (_norm(ip) for ip in ips) if a]


def apply(found_by_node, endpoints, src=None, dst=None, netns_endpoints=None):
    """``found_by_node`` maps a node to its netns_info result. Returns {endpoints, src, dst, netns_endpoints,
    problems}."""
    resolved, problems = {}, []
    for name, ep in sorted((endpoints or {}).items()):
        node = ep.get("node")
        result = (found_by_node or {}).get(node) or {}
        if ep.get("netns") != "auto" or not isinstance(result.get("found"), dict):
            resolved[name] = ep
            continue
        holders = {}
        for ip in _ips(ep):
            for holder in result["found"].get(ip) or []:
                holders[holder.get("inode")] = holder
        if len(holders) == 1:
            holder = list(holders.values())[0]
            resolved[name] = dict(ep, netns=str(holder.get("spec")), netns_inode=holder.get("inode"))
        else:
            resolved[name] = ep
            if holders:
                problems.append("netns auto: %s (%s) is held by %d namespaces on node %s (%s)"
                                % (name, ", ".join(_ips(ep)), len(holders), node,
                                   ", ".join(sorted(str(h.get("spec")) for h in holders.values()))))
            else:
                problems.append("netns auto: no namespace on node %s holds %s (%s)" % (node, name, ", ".join(_ips(ep))))
    mapping = dict((k, v) for k, v in (netns_endpoints or {}).items() if k != "auto")
    for name, ep in sorted(resolved.items()):
        if ep.get("netns_inode") is not None and ep.get("kind", "pod") == "pod" and not ep.get("host_network"):
            mapping[ep["netns"]] = name
    return {"endpoints": resolved, "src": _follow(src, resolved), "dst": _follow(dst, resolved),
            "netns_endpoints": mapping, "problems": problems}


def _follow(point, resolved):
    if not isinstance(point, dict) or point.get("netns") != "auto" or point.get("name") not in resolved:
        return point
    ep = resolved[point["name"]]
    if ep.get("netns") == "auto":
        return point
    return dict(point, netns=ep["netns"], netns_inode=ep.get("netns_inode"))

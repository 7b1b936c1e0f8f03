# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Planning one probe: both ends resolved, the nodes to capture on, the addresses to filter on.

diagnose_drop.yml (through the ``probe_plan`` filter) and compliance traces (``compliance.plan``, once per
flow) plan their probes here, so a flow is resolved and captured the same way whichever runbook sends it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import (
    DiagnosisError, endpoint_ips, resolve_endpoint)


def unique(items):
    """``items`` without repeats, in their first order (they need not be hashable)."""
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def destination_family(dst, protocol, family=None):
    """The address family to resolve the destination in: ``family`` if given, 6 for an IPv6 address or
    ICMPv6, else None (the endpoint's own address)."""
    if family in (4, 6):
        return family
    if family is not None:
        raise DiagnosisError("family must be 4 or 6, not %r" % (family,))
    return 6 if (":" in str(dst) or protocol == "icmpv6") else None


def plan_probe(src, dst, protocol, endpoints=None, nodes=None, services=None, family=None):
    """Resolve a probe from ``src`` to ``dst`` and plan what captures it.

    Returns ``{src, dst, protocol, aliases, capture_nodes, filter_ips}``: the source resolved in the
    destination's address family, ``protocol`` made ``icmpv6`` for ICMP to an IPv6 address, ``aliases`` the
    addresses a service destination may be translated to (its backends' of that family), ``capture_nodes`` the
    nodes of both ends and of the backends (every node when none is known, as for an external destination) and
    ``filter_ips`` every address a capture keeps. Raises DiagnosisError saying what cannot be resolved.
    """
    endpoints = endpoints or {}
    nodes = nodes or {}
    services = services or {}
    dst_ep = resolve_endpoint(dst, endpoints, nodes, services, destination_family(dst, protocol, family))
    if not dst_ep.get("ip"):
        if not dst_ep.get("ips"):
            raise DiagnosisError("endpoint %s has no address" % dst)
        dst_ep["ip"] = dst_ep["ips"][0]  # an endpoint given with ips only: its first address
    v6 = ":" in dst_ep["ip"]
    src_ep = resolve_endpoint(src, endpoints, nodes, services, 6 if v6 else 4)
    if src_ep.get("node") is None or src_ep["node"] not in nodes:
        raise DiagnosisError("src %s must be a pod or node of tracekit_endpoints with a node in tracekit_nodes: "
                             "the probe is sent from its network namespace on that node" % src)
    backends = []
    if dst_ep["kind"] == "service":
        backends = [name for name in (services.get(dst_ep["name"]) or {}).get("backends") or [] if name in endpoints]
    backend_nodes = [endpoints[name].get("node") for name in backends]
    aliases = unique([ip for name in backends for ip in endpoint_ips(endpoints[name]) if (":" in ip) == v6])
    if dst_ep.get("node") or any(backend_nodes):
        capture_nodes = unique([node for node in [src_ep["node"], dst_ep.get("node")] + backend_nodes if node])
    else:
        capture_nodes = sorted(nodes)
    return {"src": src_ep, "dst": dst_ep, "protocol": "icmpv6" if (protocol == "icmp" and v6) else protocol,
            "aliases": aliases, "capture_nodes": capture_nodes,
            "filter_ips": unique([src_ep["ip"], dst_ep["ip"]] + aliases)}


def netns_endpoints(endpoints):
    """Namespace name to the endpoint (pod) that lives in it, to name the pod of what is seen there; node
    entries are left out (their namespace is the node's)."""
    found = {}
    for name, ep in sorted((endpoints or {}).items()):
        if ep.get("netns") is not None and ep.get("kind", "pod") != "node":
            found[str(ep["netns"])] = name
    return found

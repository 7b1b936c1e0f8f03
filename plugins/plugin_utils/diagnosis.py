# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runbook's verdict: from a probe, its replies and what captures saw, to ``diagnosis.json``.

Contract (docs/diagnosis.md; keep stable, outside tooling depends on it):

- ``verdict``: ``delivered`` (the destination answered), ``rejected`` (refused with a TCP RST or an ICMP
  error; ``drop_point`` says who refused and why), ``dropped`` (silently discarded; ``drop_point`` says where
  and why) or ``no_reply`` (nothing came back and no drop was seen).
- ``probe``: what was sent, from which node and namespace, with its tag.
- ``drop_point``: null or ``{node, netns, endpoint, component, reason, detail}``, with ``rule`` and ``policy``
  when an nftables trace saw a rule decide there.
- ``observations``: ``[{node, netns, endpoint, component, action, reason, time, source}]`` in time order,
  ``action`` one of Sent, Forwarded, Received, Delivered, Dropped, Rejected.
- ``backend``: null, or the endpoint conntrack DNATed a service probe to.
- ``summary``: one sentence for a human.

Sources of observations: the probe itself (``packet_inject``), and captures that later versions add
(``nettrace`` kernel events, ``ovn-trace`` logical pipelines, VPP traces, conntrack entries), each turned into observations by
its own module_utils and passed in here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

ACTIONS = ("Sent", "Forwarded", "Received", "Delivered", "Dropped", "Rejected")
VERDICTS = ("delivered", "rejected", "dropped", "no_reply")
OBSERVATION_KEYS = ("node", "netns", "endpoint", "component", "action", "reason", "time", "source")
# When two captures both saw a drop, the one closest to the packet wins: the kernel's drop (where the
# packet died) before a dataplane's (VPP) before the logical model's prediction (OVN).
# nftables traces (nft-trace) name the rule behind a kernel drop; their times are when the trace was read.
COMPONENT_RANK = {"kernel": 0, "nftables": 1, "vpp": 2, "ovn": 3, "conntrack": 4, "probe": 5}


class DiagnosisError(TracekitError):
    pass


def observation(action, component, source, node=None, netns=None, endpoint=None, reason=None, time=None, **extra):
    if action not in ACTIONS:
        raise DiagnosisError("observation action %r is not one of %s" % (action, ", ".join(ACTIONS)))
    obs = {"node": node, "netns": netns, "endpoint": endpoint, "component": component, "action": action,
           "reason": reason, "time": time, "source": source}
    obs.update(extra)
    return obs


def _same_ip(a, b):
    try:
        return ipaddress.ip_address(str(a)) == ipaddress.ip_address(str(b))
    except ValueError:
        return False


def endpoint_ips(ep):
    """Every address of an inventory endpoint: its ``ip`` first, then its ``ips``."""
    ips = list(ep.get("ips") or [])
    if ep.get("ip") and ep["ip"] not in ips:
        ips.insert(0, ep["ip"])
    return ips


def _family(ip):
    try:
        return ipaddress.ip_address(str(ip)).version
    except ValueError:
        return None


def _pod_of_netns(ep, netns):
    """True when endpoint entry ``ep`` is a pod (not a node) that lives in namespace ``netns``."""
    return (ep.get("kind") or "pod") != "node" and ep.get("netns") is not None and str(ep["netns"]) == netns


def endpoint_in_netns(netns, named, src=None, dst=None, endpoints=None, family=None):
    """The endpoint to name for something seen in namespace ``netns`` that was attributed to ``named``.

    Several endpoint entries may share a namespace (one per address family, as docs/inventory.md allows), so
    the namespace alone does not say which one. The probe's own ends come first: the destination, then the
    source, when it lives in ``netns`` (it is the entry whose address the probe used). Else, given
    ``endpoints`` and the probe's address ``family`` (4 or 6), the entry of that namespace with an address of
    that family. Else ``named`` as it was. With ``endpoints``, only a pod entry of ``netns`` is ever renamed.
    """
    if netns is None or named is None:
        return named
    netns = str(netns)
    if endpoints is not None and not _pod_of_netns(endpoints.get(named) or {}, netns):
        return named
    for end in (dst, src):
        if end and end.get("name") and _pod_of_netns(end, netns):
            return end["name"]
    if endpoints and family in (4, 6):
        mates = sorted(name for name, ep in endpoints.items() if _pod_of_netns(ep, netns))
        fitting = [name for name in mates if any(_family(a) == family for a in endpoint_ips(endpoints[name]))]
        if fitting and named not in fitting:
            return fitting[0]
    return named


def resolve_endpoint(value, endpoints=None, nodes=None, services=None, family=None):
    """Turn an endpoint name or an IP address into ``{name, kind, node, netns, ip, ips}``.

    ``endpoints`` is the inventory's ``tracekit_endpoints``; ``nodes`` maps a node host to ``{netns, ips}``;
    ``services`` is ``tracekit_services``. ``family`` (4 or 6) picks the address of a dual-stack endpoint.
    """
    endpoints = endpoints or {}
    nodes = nodes or {}
    services = services or {}
    if value is None or str(value).strip() == "":
        raise DiagnosisError("an endpoint name or IP address is required")
    value = _namespaced_key(str(value).strip(), endpoints, services)
    found = None
    if value in endpoints:
        found = dict(endpoints[value], name=value)
    elif value in services:
        svc = services[value]
        found = {"name": value, "kind": "service", "node": None, "netns": None, "ip": svc.get("ip"),
                 "ips": svc.get("ips") or [svc.get("ip")]}
    else:
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            known = sorted(list(endpoints) + list(services))
            raise DiagnosisError("%r is neither an IP address nor an endpoint of the inventory (known: %s)"
                                 % (value, ", ".join(known[:20]) or "none: tracekit_endpoints is empty"))
        found = lookup_ip(str(ip), endpoints, nodes, services) or {
            "name": None, "kind": "external", "node": None, "netns": None, "ip": str(ip), "ips": [str(ip)]}
        found = dict(found, ip=str(ip))
    ips = endpoint_ips(found)
    if family in (4, 6):
        ips_family = [a for a in ips if ipaddress.ip_address(a).version == family]
        if not ips_family:
            raise DiagnosisError("endpoint %s has no IPv%d address (it has %s)" % (value, family, ", ".join(ips)))
        found["ip"] = ips_family[0]
    found["ips"] = ips
    found.setdefault("kind", "pod")
    found.setdefault("node", None)
    found.setdefault("netns", None)
    return found


def _namespaced_key(value, endpoints, services):
    """The key of ``namespace/name`` (a pod or service as Kubernetes names it) in inventories that key endpoints
    by bare name with a ``namespace`` field, or none for ``default`` (the lab); else ``value`` unchanged."""
    if value in endpoints or value in services or value.count("/") != 1:
        return value
    namespace, name = value.split("/")
    for table in (endpoints, services):
        for key, item in sorted(table.items()):
            if name in (key, item.get("pod")) and (item.get("namespace") or "default") == namespace:
                return key
    return value


def lookup_ip(ip, endpoints=None, nodes=None, services=None):
    """The endpoint, node or service that owns ``ip``, or None."""
    for name, ep in sorted((endpoints or {}).items()):
        if ep.get("host_network"):
            continue            # a host-network pod's addresses are its node's: they name the node
        if any(_same_ip(ip, a) for a in endpoint_ips(ep)):
            return dict(ep, name=name)
    for name, node in sorted((nodes or {}).items()):
        if any(_same_ip(ip, a) for a in node.get("ips") or []):
            return {"name": name, "kind": "node", "node": name, "netns": node.get("netns"),
                    "ip": ip, "ips": node.get("ips") or []}
    for name, svc in sorted((services or {}).items()):
        if any(_same_ip(ip, a) for a in (svc.get("ips") or [svc.get("ip")])):
            return {"name": name, "kind": "service", "node": None, "netns": None, "ip": ip, "ips": [ip]}
    return None


def probe_observations(injection, src, dst, endpoints=None, nodes=None, services=None):
    """Observations the probe itself gives: Sent at the source, then what each reply says."""
    probe = injection.get("probe") or {}
    out = [observation("Sent", "probe", "packet_inject", node=src.get("node"), netns=src.get("netns"),
                       endpoint=src.get("name"), reason=probe.get("summary"), time=injection.get("sent_at"))]
    for reply in injection.get("replies") or []:
        who = lookup_ip(reply.get("from"), endpoints, nodes, services) or {}
        kind = reply.get("kind")
        if kind in ("syn-ack", "tcp", "udp", "echo-reply"):
            # A reply from the destination's address: the destination (or its service backend) answered.
            target = dst if _same_ip(reply.get("from"), dst.get("ip")) else who
            out.append(observation("Delivered", "probe", "packet_inject", node=target.get("node"),
                                   netns=target.get("netns"), endpoint=target.get("name"),
                                   reason="%s from %s after %s ms" % (kind, reply.get("from"), reply.get("rtt_ms")),
                                   time=reply.get("time")))
        else:
            out.append(observation("Rejected", "probe", "packet_inject", node=who.get("node"),
                                   netns=who.get("netns"), endpoint=who.get("name"), reason=reply_reason(reply),
                                   time=reply.get("time"), refused_by=reply.get("from")))
    return out


def reply_reason(reply):
    kind = reply.get("kind")
    if kind == "rst":
        return "TCP RST from %s" % reply.get("from")
    return "ICMP %s %s from %s" % (kind, reply.get("code_name"), reply.get("from"))


def locate_logical(obs, nodes, dst):
    """Place a logical observation (OVN) on the node whose switch its datapath is, not on the host that ran
    the trace; a drop in the egress pipeline of the destination's switch is the destination pod's policy."""
    datapath = obs.get("datapath")
    if obs.get("component") != "ovn" or not datapath or datapath not in (nodes or {}):
        return obs
    placed = dict(obs, node=datapath, traced_on=obs.get("node"))
    if obs.get("action") in ("Dropped", "Rejected") and dst.get("node") == datapath and obs.get("pipeline") == "egress":
        placed["endpoint"] = dst.get("name")
    return placed


def _named_in_netns(obs, src, dst, endpoints):
    """The observation with the endpoint of its namespace that the probe concerns (see endpoint_in_netns)."""
    named = endpoint_in_netns(obs.get("netns"), obs.get("endpoint"), src, dst, endpoints or {}, _family(dst.get("ip")))
    return obs if named == obs.get("endpoint") else dict(obs, endpoint=named)


def in_path_order(observations):
    """The observations in the order the probe met them: by time, the kernel's view first at equal times.

    nftables traces carry no time of their own: theirs is when they were read, a little after the packet
    passed the hook. A trace of the probe (or of its reply) read after the first reply reached the source
    happened before that reply arrived, so it is ordered just before it: forward traces first, in the order
    they were read.
    """
    replies = [o["time"] for o in observations if o.get("component") == "probe" and o.get("action") != "Sent"
               and isinstance(o.get("time"), (int, float))]
    first_reply = min(replies) if replies else None

    def key(obs):
        when = obs.get("time")
        read_late = (first_reply is not None and obs.get("source") == "nft-trace"
                     and isinstance(when, (int, float)) and when > first_reply)
        return (when is None, first_reply if read_late else (when or 0),
                COMPONENT_RANK.get(obs.get("component"), 9), obs.get("direction") == "reverse", when or 0)
    return sorted(observations, key=key)


def drop_point_of(obs):
    point = {"node": obs.get("node"), "netns": obs.get("netns"), "endpoint": obs.get("endpoint"),
             "component": obs.get("component"), "reason": obs.get("reason"),
             "detail": obs.get("detail") or "%s observation from %s" % (obs.get("action"), obs.get("source"))}
    if obs.get("rule"):
        point.update(rule=obs["rule"], policy=obs.get("policy"))
    return point


def rule_ref(rule):
    """``rule `inet filter forward handle 7```, or ``policy drop of chain `inet filter input```."""
    if not rule:
        return None
    where = "%s %s %s" % (rule.get("family"), rule.get("table"), rule.get("chain"))
    if rule.get("handle") is None:
        return "policy %s of chain `%s`" % (rule.get("verdict") or "drop", where)
    return "rule `%s handle %s`" % (where, rule.get("handle"))


def policy_text(pol):
    """``NetworkPolicy default/deny-postgres``; ``Service default/web (has no endpoints)``."""
    if not pol:
        return None
    name = pol.get("name")
    who = "%s/%s" % (pol["namespace"], name) if pol.get("namespace") and name else (name or "")
    text = ("%s %s" % (pol.get("kind") or "policy", who)).strip()
    if pol.get("reason"):
        text += " (%s)" % pol["reason"]
    return text


def attach_rule(point, observations):
    """Give ``point`` (a drop point or a kernel observation) the rule and policy that an nftables trace saw
    decide the probe's fate in the same node and namespace."""
    if not point or point.get("rule") or point.get("component") == "nftables":
        return point
    for obs in observations:
        if (obs.get("component") == "nftables" and obs.get("action") in ("Dropped", "Rejected") and obs.get("rule")
                and obs.get("node") == point.get("node") and obs.get("netns") == point.get("netns")):
            point["rule"] = obs["rule"]
            point["policy"] = obs.get("policy")
            return point
    return point


def _pick_drop(observations):
    drops = [o for o in observations if o["action"] == "Dropped"]
    if not drops:
        return None
    # The kernel's drop and the nftables trace of the same node and namespace are one drop: the kernel's is
    # kept (its time is the kernel's own; a trace's is when it was read, so sub-millisecond comparisons of the
    # two say nothing), and gets the trace's rule and policy (attach_rule).
    kernel_places = set((o.get("node"), o.get("netns")) for o in drops if o.get("component") == "kernel")
    drops = [o for o in drops
             if o.get("source") != "nft-trace" or (o.get("node"), o.get("netns")) not in kernel_places]
    # Earliest drop wins (the packet cannot die twice); among equally timed ones, the closest component.
    timed = [o for o in drops if o.get("time") is not None]
    pool = timed or drops
    return sorted(pool, key=lambda o: (o.get("time") or 0, COMPONENT_RANK.get(o.get("component"), 9)))[0]


def diagnose(injection, src, dst, captures=None, endpoints=None, nodes=None, services=None, captures_ran=None):
    """Build the diagnosis dict from the probe result and the capture observations (already in contract form)."""
    if not isinstance(injection, dict) or "outcome" not in injection:
        raise DiagnosisError("the injection result has no outcome: was packet_inject run (and not skipped)?")
    for obs in captures or []:
        if obs.get("action") not in ACTIONS:
            raise DiagnosisError("capture observation with action %r; expected one of %s"
                                 % (obs.get("action"), ", ".join(ACTIONS)))
    captures = [_named_in_netns(locate_logical(obs, nodes, dst), src, dst, endpoints) for obs in captures or []]
    observations = in_path_order(probe_observations(injection, src, dst, endpoints, nodes, services) + captures)
    outcome = injection["outcome"]
    drop_point = None
    if outcome == "reply":
        verdict = "delivered"
    elif outcome in ("reset", "icmp_error"):
        verdict = "rejected"
        # Who refused: a capture's drop (an nftables reject drops the probe and forges the reply) before the
        # capture's own reset record, before what the reply's source address claims.
        kernel = _pick_drop([o for o in observations if o["component"] != "probe"])
        rejects = [o for o in observations if o["action"] == "Rejected"]
        captured = [o for o in rejects if o["component"] != "probe"]
        chosen = kernel or (captured[0] if captured else (rejects[0] if rejects else None))
        if chosen is not None:
            drop_point = drop_point_of(chosen)
            reply = [o for o in rejects if o["component"] == "probe"]
            if chosen is not (reply[0] if reply else None) and reply:
                drop_point["detail"] = "%s; the source got %s" % (drop_point["detail"], reply[0]["reason"])
    else:
        chosen = _pick_drop(observations)
        if chosen is not None:
            verdict = "dropped"
            drop_point = drop_point_of(chosen)
        else:
            verdict = "no_reply"
    if drop_point is not None:
        attach_rule(drop_point, observations)
        for obs in observations:
            if obs["component"] == "kernel" and obs["action"] in ("Dropped", "Rejected"):
                attach_rule(obs, observations)
    probe = dict(injection.get("probe") or {})
    probe.update(node=src.get("node"), netns=src.get("netns"), endpoint=src.get("name"),
                 dst_endpoint=dst.get("name"), dst_node=dst.get("node"), outcome=outcome,
                 sent=injection.get("sent"), sent_at=injection.get("sent_at"))
    for key in ("hex",):
        probe.pop(key, None)
    result = {"verdict": verdict, "probe": probe, "drop_point": drop_point, "observations": observations,
              "replies": injection.get("replies") or [], "captures": sorted(captures_ran or [])}
    # conntrack's DNAT observation names the backend a service probe went to
    backends = [o["backend"] for o in observations if o.get("component") == "conntrack" and o.get("backend")]
    result["backend"] = backends[0] if backends else None
    result["summary"] = summarize(result, src, dst)
    if result["backend"]:
        result["summary"] += " Conntrack sent it to backend %s." % result["backend"]
    return result


def _name(ep):
    if ep.get("name") and ep.get("ip") and ep["name"] != ep["ip"]:
        return "%s (%s)" % (ep["name"], ep["ip"])
    return ep.get("ip") or ep.get("name") or "?"


def _where(point):
    parts = []
    if point.get("endpoint"):
        parts.append(point["endpoint"])
    if point.get("node") and point.get("node") != point.get("endpoint"):
        parts.append("node %s" % point["node"])
    if point.get("netns"):
        parts.append("netns %s" % point["netns"])
    return ", ".join(parts) or "an unknown place"


def summarize(result, src, dst):
    probe = result["probe"]
    what = (probe.get("protocol") or "probe").upper()
    if probe.get("dst_port"):
        what += "/%s" % probe["dst_port"]
    head = "%s from %s to %s" % (what, _name(src), _name(dst))
    verdict = result["verdict"]
    point = result["drop_point"]
    if verdict == "delivered":
        first = [o for o in result["observations"] if o["action"] == "Delivered"]
        return "%s was delivered: %s." % (head, first[0]["reason"] if first else "the destination answered")
    if verdict in ("rejected", "dropped") and point.get("rule"):
        # "dropped at node2 for n2-pod1 by nftables rule `inet filter forward handle 7` (NetworkPolicy ns/name)"
        where = point.get("node") or point.get("netns") or "an unknown place"
        if point.get("endpoint") and point.get("endpoint") != point.get("node"):
            where += " for %s" % point["endpoint"]
        pol = policy_text(point.get("policy"))
        tail = " (%s)" % pol if pol else ""
        return "%s was %s at %s by nftables %s%s." % (head, verdict, where, rule_ref(point["rule"]), tail)
    if verdict in ("rejected", "dropped"):
        by = "" if point.get("component") == "probe" else " (%s)" % point.get("component")
        return "%s was %s at %s%s: %s." % (head, verdict, _where(point), by, point.get("reason"))
    ran = ", ".join(result.get("captures") or []) or "none"
    return ("%s got no reply within %ss and no capture saw it dropped (captures: %s)."
            % (head, probe.get("timeout"), ran))

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""From nft_trace's traces to runbook observations, and the rule and policy onto the drop point.

Each trace (one packet of the probe through the nftables hooks of one namespace) becomes one observation:
``Dropped`` (a drop rule or a chain's policy drop), ``Rejected`` (a reject rule: the RST or ICMP error the
source got was forged by it), ``Dropped`` for a packet queued to user space that never came back, or
``Forwarded`` when nftables let it through. Each carries ``rule`` and ``policy``.
The diagnosis (``diagnosis.attach_rule``) then gives the drop point, and the kernel observation of the same
node and namespace, that rule and policy, so an eBPF ``NETFILTER_DROP`` names its rule.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import observation, policy_text, rule_ref

RULE_KEYS = ("family", "table", "chain", "handle", "text", "comment", "verdict")
POLICY_KEYS = ("namespace", "name", "kind")


def _clean_rule(rule):
    return dict((k, rule.get(k)) for k in RULE_KEYS) if rule else None


def _clean_policy(pol):
    if not pol:
        return None
    out = dict((k, pol.get(k)) for k in POLICY_KEYS)
    for extra in ("enforcer", "reason", "port", "direction"):
        if pol.get(extra) is not None:
            out[extra] = pol[extra]
    return out


def _step_text(step):
    which = "handle %s" % step["handle"] if step.get("handle") is not None else "policy"
    comment = " [%s]" % step["comment"] if step.get("comment") else ""
    return "%s %s %s%s: %s" % (step.get("table"), step.get("chain"), which, comment, step.get("verdict"))


def trace_has_tag(trace, tag):
    """True when the trace's packet header (its ``tag``: dscp and ip_id or flow_label) is the probe's ``tag``.

    A probe of ``count`` packets has the IPv4 IDs ``ip_id`` .. ``ip_id + count - 1`` (modulo 2**16).
    """
    seen = trace.get("tag") or {}
    try:
        if tag.get("dscp") is not None and seen.get("dscp") != int(tag["dscp"]):
            return False
        if seen.get("flow_label") is not None:
            return tag.get("flow_label") is not None and int(seen["flow_label"]) == int(tag["flow_label"])
        if seen.get("ip_id") is None or tag.get("ip_id") is None:
            return False
        count = max(1, int(tag.get("count") or 1))
        return (int(seen["ip_id"]) - int(tag["ip_id"])) & 0xFFFF < count
    except (TypeError, ValueError):
        return False


def nftrace_observations(traces, node, src, dst, netns_endpoints=None, node_netns=None, tag=None):
    """Observations of one node's nft_trace traces (only those of the probe with ``tag``, when given)."""
    netns_endpoints = netns_endpoints or {}
    out = []
    for trace in traces or []:
        if tag and not trace_has_tag(trace, tag):
            continue
        ns = trace.get("netns")
        endpoint = netns_endpoints.get(ns)
        if endpoint is None and ns is not None and ns == node_netns:
            endpoint = dst.get("name") if dst.get("node") == node else node
        rule = _clean_rule(trace.get("rule"))
        pol = _clean_policy(trace.get("policy"))
        verdict = trace.get("verdict")
        steps = trace.get("steps") or []
        hooks = ", ".join("%s %s %s" % (s.get("family"), s.get("table"), s.get("chain"))
                          for s in steps if s.get("type") == "policy" or s is steps[-1])
        if verdict in ("drop", "reject", "queue", "stolen"):
            action = "Rejected" if verdict == "reject" else "Dropped"
            how = {"reject": "rejected", "queue": "queued to user space and not returned"}.get(verdict, "dropped")
            reason = "%s by nftables %s" % (how, rule_ref(rule))
            if pol:
                reason += " (%s)" % policy_text(pol)
        else:
            action = "Forwarded"
            reason = "accepted by nftables (%s)" % (hooks or "no chain")
        detail = "; ".join(_step_text(s) for s in steps[:30])
        out.append(observation(action, "nftables", "nft-trace", node=node, netns=ns, endpoint=endpoint,
                               reason=reason, time=trace.get("time"), detail=detail, rule=rule, policy=pol,
                               trace_id=trace.get("id"),
                               direction="forward" if (trace.get("packet") or {}).get("src") != dst.get("ip") else "reverse"))
    return out

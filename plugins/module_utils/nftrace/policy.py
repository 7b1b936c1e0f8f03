# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which Kubernetes policy an nftables rule enforces, read from the names and comments its owner gives it.

Shapes recognised (docs/nftrace.md):

- the tracekit lab's own table (``tracekit_lab``): the comment is ``namespace/name`` of the NetworkPolicy;
- kube-proxy, iptables-nft mode: ``-m comment --comment "ns/svc:port has no endpoints"`` (a Service);
- kube-proxy, nftables mode (tables ``ip kube-proxy`` / ``ip6 kube-proxy``): the ``no-endpoint-services`` and
  ``no-endpoint-nodeports`` verdict maps, whose elements carry ``ns/svc:port`` comments;
- Calico: ``cali-pi-`` (ingress) and ``cali-po-`` (egress) policy chains and ``Policy ns/name`` comments
  (``knp.default.`` names are Kubernetes NetworkPolicies, others Calico's own);
- kube-network-policies (table ``kube-network-policies``): the packet is queued to user space, which
  decides; the policy's name is not in the ruleset;
- any ``ns/name`` comment in a table whose name says it enforces policies.

A rule whose comment names none of these keeps its comment (``rule.comment``) and has no policy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

LAB_TABLE = "tracekit_lab"
KUBE_PROXY_TABLE = "kube-proxy"
KNP_TABLE = "kube-network-policies"
NO_ENDPOINT_MAPS = ("no-endpoint-services", "no-endpoint-nodeports")

_NS_NAME = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NO_ENDPOINTS = re.compile(r"^(?P<ns>%s)/(?P<svc>[a-z0-9][-a-z0-9.]*)(:(?P<port>[-\w]*))?\s+has no endpoints$" % _NS_NAME)
_SVC_PORT = re.compile(r"^(?P<ns>%s)/(?P<svc>[a-z0-9][-a-z0-9.]*)(:(?P<port>[-\w]*))?$" % _NS_NAME)
_CALICO = re.compile(r"\bPolicy (?:(?P<ns>%s)/)?(?P<name>[-\w.:]+)(?: (?P<dir>ingress|egress))?" % _NS_NAME)
_PLAIN = re.compile(r"^(?P<ns>%s)/(?P<name>[-\w.:]{1,253})$" % _NS_NAME)
_POLICY_TABLE = re.compile(r"(polic|npc|network)", re.I)


def policy(namespace, name, kind, **extra):
    out = {"namespace": namespace, "name": name, "kind": kind}
    out.update(extra)
    return out


def _calico(comment):
    found = _CALICO.search(comment or "")
    if not found:
        return None
    name = found.group("name")
    ns = found.group("ns")
    for prefix, kind in (("knp.default.", "NetworkPolicy"), ("kns.", "Profile")):
        if name.startswith(prefix):
            return policy(ns, name[len(prefix):], kind, enforcer="calico")
    if ns is None:
        return policy(None, name, "GlobalNetworkPolicy", enforcer="calico")
    return policy(ns, name, "CalicoNetworkPolicy", enforcer="calico")


def recognise(rule, chain_comments=(), map_comment=None):
    """The policy ``rule`` enforces, or None.

    ``rule`` is ``{family, table, chain, handle, text, comment, verdict}``; ``chain_comments`` the comments
    of the other rules of its chain (Calico writes the policy's name on some of them); ``map_comment`` the
    comment of the verdict-map element that sent the packet to this rule's chain, when one did.
    """
    table = rule.get("table") or ""
    chain = rule.get("chain") or ""
    comment = (rule.get("comment") or "").strip()
    if map_comment:
        found = _SVC_PORT.match(map_comment.strip())
        if found:
            return policy(found.group("ns"), found.group("svc"), "Service", port=found.group("port"),
                          enforcer="kube-proxy", reason="has no endpoints")
    found = _NO_ENDPOINTS.match(comment)
    if found:
        return policy(found.group("ns"), found.group("svc"), "Service", port=found.group("port"),
                      enforcer="kube-proxy", reason="has no endpoints")
    if table == LAB_TABLE:
        found = _PLAIN.match(comment)
        if found:
            return policy(found.group("ns"), found.group("name"), "NetworkPolicy", enforcer="tracekit-lab")
    calico = _calico(comment)
    if calico is None and re.search(r"(^|-)cali-p[io]-", chain):
        for other in chain_comments or ():
            calico = _calico(other)
            if calico:
                break
        if calico is None:
            calico = policy(None, chain, "CalicoPolicyChain", enforcer="calico",
                            direction="ingress" if "cali-pi-" in chain else "egress")
    if calico is not None:
        return calico
    if table == KNP_TABLE:
        found = _PLAIN.match(comment)
        if found:
            return policy(found.group("ns"), found.group("name"), "NetworkPolicy", enforcer="kube-network-policies")
        return policy(None, None, "NetworkPolicy", enforcer="kube-network-policies",
                      reason="the verdict is taken in user space (nfqueue); its policy is not in the ruleset")
    if comment and _POLICY_TABLE.search(table):
        found = _PLAIN.match(comment)
        if found:
            return policy(found.group("ns"), found.group("name"), "NetworkPolicy")
    return None


def describe(pol):
    """``NetworkPolicy default/deny-postgres``, ``Service default/web (has no endpoints)``..."""
    if not pol:
        return None
    name = pol.get("name")
    who = "%s/%s" % (pol["namespace"], name) if pol.get("namespace") and name else (name or "")
    text = ("%s %s" % (pol.get("kind"), who)).strip()
    if pol.get("reason") == "has no endpoints":
        text += " (has no endpoints)"
    elif pol.get("enforcer") == "kube-network-policies" and not name:
        text += " (kube-network-policies, decided in user space)"
    return text

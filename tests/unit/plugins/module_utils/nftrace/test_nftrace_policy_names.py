"""Which policy a rule's names say it enforces (the comment and chain shapes of each enforcer).

The strings are the shapes those projects write: kube-proxy's iptables comment "ns/svc:port has no endpoints"
and its nftables-mode map element comments "ns/svc:port", Calico's "Policy ns/knp.default.name ingress"
comments and cali-pi-/cali-po- chains. The integration tests load the same shapes as real rulesets.
"""

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.policy import describe, recognise


def rule(table="filter", chain="FORWARD", comment=None, family="ip"):
    return {"family": family, "table": table, "chain": chain, "handle": 3, "text": "", "comment": comment,
            "verdict": "drop"}


@pytest.mark.parametrize("given,expected", [
    (rule("tracekit_lab", "pod_policy", "default/deny-postgres", "inet"),
     ("default", "deny-postgres", "NetworkPolicy")),
    (rule("filter", "KUBE-SERVICES", "default/web-empty:http has no endpoints"), ("default", "web-empty", "Service")),
    (rule("filter", "KUBE-EXTERNAL-SERVICES", "prod/api has no endpoints"), ("prod", "api", "Service")),
    (rule("filter", "cali-pi-_Y0BBQX8u1kpbd", "Policy default/knp.default.deny-postgres ingress"),
     ("default", "deny-postgres", "NetworkPolicy")),
    (rule("filter", "cali-po-_abc", "Policy shop/default.allow-dns egress"),
     ("shop", "default.allow-dns", "CalicoNetworkPolicy")),
    (rule("filter", "cali-pi-_abc", "Policy default.global-deny ingress"),
     (None, "default.global-deny", "GlobalNetworkPolicy")),
    (rule("filter", "cali-pi-_XYZ", "cali:k2lTPGm5hbPTm1zz"), (None, "cali-pi-_XYZ", "CalicoPolicyChain")),
    (rule("kube-network-policies", "postrouting", None, "inet"), (None, None, "NetworkPolicy")),
])
def test_shapes(given, expected):
    found = recognise(given)
    assert (found["namespace"], found["name"], found["kind"]) == expected


def test_map_element_comment_names_the_service_without_endpoints():
    found = recognise(rule("kube-proxy", "reject-chain", None), map_comment="default/web-empty:http")
    got = (found["namespace"], found["name"], found["kind"], found["port"])
    assert got == ("default", "web-empty", "Service", "http")
    assert describe(found) == "Service default/web-empty (has no endpoints)"


def test_calico_policy_named_on_another_rule_of_the_chain():
    found = recognise(rule("filter", "cali-pi-_abc", "cali:xyz"),
                      chain_comments=["cali:aaa", "Policy default/knp.default.deny-all ingress"])
    assert (found["namespace"], found["name"], found["kind"]) == ("default", "deny-all", "NetworkPolicy")


@pytest.mark.parametrize("comment", [None, "", "block legacy telnet", "ns/name but not a lab table",
                                     "default/x has no endpoint", "default/deny-all"])
def test_plain_comments_name_no_policy(comment):
    assert recognise(rule("filter", "INPUT", comment)) is None

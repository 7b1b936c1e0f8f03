"""Real rulesets of each enforcer, loaded in namespaces of this test, and the rule and policy a trace names.

Each namespace has a veth pair (d0 holds 10.77.0.1/24); a tagged TCP SYN leaves it from a raw socket and meets
the ruleset on the output hook. Rulesets are written with the real tools: nft for the lab, kube-proxy's
nftables mode and kube-network-policies; iptables (iptables-nft) for kube-proxy's iptables mode, Calico's
chains and a plain ``-m comment`` rule. The expected handles are read from ``nft -j list ruleset``.
"""

import itertools
import json
import os
import shutil
import subprocess
import threading

import pytest

from conftest import need_root
from nftrace_support import del_netns, make_netns, nft_load, send_syn, sh, trace_tables

from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.session import NftraceSession

PREFIX = "tknr%d" % (os.getpid() % 10000)
IDS = itertools.count(1000)

KUBE_PROXY_NFT = """
table ip kube-proxy {
  comment "rules for kube-proxy"
  map no-endpoint-services {
    type ipv4_addr . inet_proto . inet_service : verdict
    comment "vmap to drop or reject packets to services with no endpoints"
    elements = { 10.96.0.20 . tcp . 80 comment "default/web-empty:http" : goto reject-chain }
  }
  chain reject-chain {
    comment "helper for @no-endpoint-services / @no-endpoint-nodeports"
    reject
  }
  chain service-endpoints-check {
    ip daddr . meta l4proto . th dport vmap @no-endpoint-services
  }
  chain filter-output {
    type filter hook output priority -110; policy accept;
    ct state new jump service-endpoints-check
  }
}
"""

SHAPES = {
    "lab": ("nft", """
table inet tracekit_lab {
  chain pod_policy {
    type filter hook output priority filter; policy accept;
    tcp dport 8080 accept
    tcp dport 5432 counter drop comment "default/deny-postgres"
  }
}"""),
    "kpnft": ("nft", KUBE_PROXY_NFT),
    "kpipt": ("iptables", [
        "-N KUBE-SERVICES",
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment kubernetes-service-portals -j KUBE-SERVICES",
        "-A KUBE-SERVICES -d 10.96.0.30/32 -p tcp -m comment --comment default/web-empty:http_has_no_endpoints "
        "-m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"]),
    "calico": ("iptables", [
        "-N cali-tw-d0", "-N cali-pi-_Y0BBQX8u1kpbdoVf2RK",
        "-A OUTPUT -m comment --comment cali:to-wl -j cali-tw-d0",
        "-A cali-tw-d0 -m comment --comment cali:jump-pi -j cali-pi-_Y0BBQX8u1kpbdoVf2RK",
        "-A cali-pi-_Y0BBQX8u1kpbdoVf2RK -p tcp --dport 5432 -m comment "
        "--comment Policy_default/knp.default.deny-postgres_ingress -j DROP"]),
    "plain": ("iptables", ["-A OUTPUT -p tcp --dport 23 -m comment --comment block_telnet -j DROP"]),
    "chainpol": ("nft", """
table inet filter {
  chain output {
    type filter hook output priority filter; policy drop;
    oif "lo" accept
  }
}"""),
    "knp": ("nft", """
table inet kube-network-policies {
  chain postrouting {
    type filter hook output priority 0; policy accept;
    ct state established,related accept
    ip daddr 10.77.0.0/24 queue num 100
  }
}"""),
}


def _iptables_args(line):
    # Comments are written without spaces above so the line splits simply; iptables gets them with spaces.
    return [a.replace("_", " ") if a.startswith(("default/", "Policy_", "block_")) else a for a in line.split()]


@pytest.fixture(scope="module")
def spaces():
    need_root()
    if not shutil.which("nft"):
        pytest.skip("nft (nftables) is not installed")
    made = {}
    try:
        for key, (tool, rules) in SHAPES.items():
            ns = make_netns("%s-%s" % (PREFIX, key), "10.77.0.1/24")
            sh("ip", "-n", ns, "route", "add", "10.96.0.0/16", "dev", "d0")
            made[key] = ns
            if tool == "nft":
                try:
                    nft_load(ns, rules)
                except subprocess.CalledProcessError as exc:
                    if key != "knp":
                        raise
                    # The queue expression needs nft_queue in the kernel (absent on some CI kernels).
                    made["knp-missing"] = exc.stderr.strip()
            else:
                if not shutil.which("iptables"):
                    pytest.skip("iptables (iptables-nft) is not installed: apt-get install iptables")
                for line in rules:
                    sh("ip", "netns", "exec", ns, "iptables", *_iptables_args(line))
        yield made
    finally:
        for key, ns in made.items():
            if key == "knp-missing":
                continue
            left = trace_tables(ns)
            del_netns(ns)
            assert left == [], "trace tables left behind in %s: %s" % (ns, left)


def trace(ns, dport, dst="10.77.0.9"):
    """Trace one tagged SYN from ns; return the single trace of the probe that was decided (or the last one)."""
    ip_id = next(IDS)
    tag = {"dscp": 46, "ip_id": ip_id}

    def go():
        try:
            send_syn(ns, "10.77.0.1", dst, dport, 46, ip_id)
        except OSError:
            pass                    # a drop on the output hook makes sendto() fail with EPERM
    with NftraceSession([ns], tag) as session:
        session.prepare()
        session.arm()
        assert trace_tables(ns) == [session.table]
        timer = threading.Timer(0.1, go)
        timer.start()
        session.capture(0.5)
        timer.join()
        result = session.result()
    assert trace_tables(ns) == []
    assert result["problems"] == [] and result["counters"]["enobufs"] == 0
    decided = [t for t in result["traces"] if t["rule"]]
    assert decided, result
    return decided[0]


def handle_of(ns, family, table, chain, index=-1):
    """The handle of a chain's rule, from nft's own JSON listing (not from our code)."""
    out = json.loads(sh("ip", "netns", "exec", ns, "nft", "-j", "list", "ruleset").stdout)
    rules = [r["rule"] for r in out["nftables"] if "rule" in r and r["rule"]["family"] == family
             and r["rule"]["table"] == table and r["rule"]["chain"] == chain]
    return rules[index]["handle"]


def test_lab_comment_names_the_network_policy(spaces):
    ns = spaces["lab"]
    found = trace(ns, 5432)
    rule = found["rule"]
    assert (rule["family"], rule["table"], rule["chain"]) == ("inet", "tracekit_lab", "pod_policy")
    assert rule["handle"] == handle_of(ns, "inet", "tracekit_lab", "pod_policy")
    assert rule["comment"] == "default/deny-postgres" and rule["verdict"] == "drop"
    assert rule["text"] == "tcp dport 5432 counter drop"
    assert [s["verdict"] for s in found["steps"]] == ["drop"]
    assert found["policy"]["kind"] == "NetworkPolicy"
    assert (found["policy"]["namespace"], found["policy"]["name"]) == ("default", "deny-postgres")


def test_lab_allowed_port_is_accepted(spaces):
    ip_id = next(IDS)
    with NftraceSession([spaces["lab"]], {"dscp": 46, "ip_id": ip_id}) as session:
        session.prepare()
        session.arm()
        send_syn(spaces["lab"], "10.77.0.1", "10.77.0.9", 8080, 46, ip_id)
        session.capture(0.3)
        result = session.result()
    assert [t["verdict"] for t in result["traces"]] == ["accept"]
    assert result["traces"][0]["rule"] is None


def test_kube_proxy_nftables_no_endpoints_map_element(spaces):
    ns = spaces["kpnft"]
    found = trace(ns, 80, dst="10.96.0.20")
    rule = found["rule"]
    assert (rule["family"], rule["table"], rule["chain"]) == ("ip", "kube-proxy", "reject-chain")
    assert rule["handle"] == handle_of(ns, "ip", "kube-proxy", "reject-chain")
    assert rule["verdict"] == "reject" and found["verdict"] == "reject"
    jumps = [s for s in found["steps"] if s["verdict"] == "goto"]
    assert jumps and jumps[0]["jump_target"] == "reject-chain" and jumps[0]["chain"] == "service-endpoints-check"
    pol = found["policy"]
    assert (pol["namespace"], pol["name"], pol["kind"], pol["port"]) == ("default", "web-empty", "Service", "http")


def test_kube_proxy_iptables_has_no_endpoints_comment(spaces):
    ns = spaces["kpipt"]
    found = trace(ns, 80, dst="10.96.0.30")
    rule = found["rule"]
    assert (rule["family"], rule["table"], rule["chain"]) == ("ip", "filter", "KUBE-SERVICES")
    assert rule["handle"] == handle_of(ns, "ip", "filter", "KUBE-SERVICES")
    assert rule["comment"] == "default/web-empty:http has no endpoints"
    assert rule["verdict"] == "reject"
    assert (found["policy"]["namespace"], found["policy"]["name"], found["policy"]["kind"]) == (
        "default", "web-empty", "Service")


def test_calico_policy_chain_and_comment(spaces):
    ns = spaces["calico"]
    found = trace(ns, 5432)
    rule = found["rule"]
    assert rule["chain"] == "cali-pi-_Y0BBQX8u1kpbdoVf2RK" and rule["table"] == "filter"
    assert rule["comment"] == "Policy default/knp.default.deny-postgres ingress"
    assert [s["chain"] for s in found["steps"] if s["verdict"] == "jump"] == ["OUTPUT", "cali-tw-d0"]
    pol = found["policy"]
    assert (pol["namespace"], pol["name"], pol["kind"]) == ("default", "deny-postgres", "NetworkPolicy")


def test_plain_iptables_comment_is_kept_without_a_policy(spaces):
    ns = spaces["plain"]
    found = trace(ns, 23)
    assert found["rule"]["comment"] == "block telnet"
    assert (found["rule"]["table"], found["rule"]["chain"]) == ("filter", "OUTPUT")
    assert found["rule"]["handle"] == handle_of(ns, "ip", "filter", "OUTPUT")
    assert found["policy"] is None


def test_chain_default_policy_drop(spaces):
    found = trace(spaces["chainpol"], 5432)
    rule = found["rule"]
    assert rule["text"] == "policy drop of chain output" and rule["handle"] is None
    assert (rule["family"], rule["table"], rule["chain"], rule["verdict"]) == ("inet", "filter", "output", "drop")
    assert found["steps"][-1]["type"] == "policy"


def test_kube_network_policies_queue_is_named(spaces):
    if "knp-missing" in spaces:
        pytest.skip("this kernel cannot load a queue rule (nft_queue): %s" % spaces["knp-missing"])
    found = trace(spaces["knp"], 5432)
    assert found["verdict"] == "queue"
    assert found["rule"]["table"] == "kube-network-policies"
    assert found["policy"]["kind"] == "NetworkPolicy" and found["policy"]["enforcer"] == "kube-network-policies"

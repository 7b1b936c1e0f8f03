"""diagnose_drop.yml on the lab names the nftables rule and policy of each nftables fault, and leaves nothing.

A lab with its own prefix (playbooks/lab.yml, its default faults: policy_drop, policy_reject, default_deny,
no_endpoints) is built once for this module. Expected handles are read with ``nft -j`` in the namespace;
after every run no trace table may remain in any of the lab's namespaces. The first test runs the eBPF
capture too (its NETFILTER_DROP gains the rule); the others trace with nftables alone (capture_kernel=false),
which also shows the trace is enough to name the drop point, and keeps the module fast.
"""

import json
import os
import subprocess
import time

import pytest
import yaml

from conftest import need_root, run_playbook
from nftrace_support import trace_tables
from report_browser import browser, close, png_colors, save

PREFIX = "tknb%d" % (os.getpid() % 10000)


def ns(name):
    return "%s-%s" % (PREFIX, name)


def lab_namespaces():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(PREFIX + "-")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need_root()
    work = tmp_path_factory.mktemp("nftlab")
    inv = str(work / "inventory.yml")
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_inventory_file": inv})
    assert rc == 0, out + err
    with open(inv) as handle:
        data = yaml.safe_load(handle)
    yield {"inventory": inv, "data": data, "dir": work}
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_state": "absent"})
    assert rc == 0, out + err
    assert lab_namespaces() == []


@pytest.fixture(autouse=True)
def nothing_left(lab):
    yield
    left = dict((name, trace_tables(name)) for name in lab_namespaces())
    assert not any(left.values()), "trace tables left behind: %s" % left


def diagnose(lab, **extra):
    report = str(lab["dir"] / ("report-%d" % time.time_ns()))
    args = {"src": "n1-pod1", "protocol": "tcp", "report_dir": report}
    args.update(extra)
    rc, out, err = run_playbook("playbooks/diagnose_drop.yml", args, inventory=lab["inventory"])
    assert rc == 0, out + err
    with open(os.path.join(report, "diagnosis.json")) as handle:
        result = json.load(handle)
    result["_report"] = report
    result["_out"] = out
    return result


def handle_of(namespace, family, table, chain, comment=None):
    """The handle nft itself lists for a chain's rule (with that comment, if given)."""
    out = subprocess.run(["ip", "netns", "exec", namespace, "nft", "-j", "list", "ruleset"], capture_output=True,
                         text=True, check=True).stdout
    rules = [r["rule"] for r in json.loads(out)["nftables"] if "rule" in r and r["rule"]["family"] == family
             and r["rule"]["table"] == table and r["rule"]["chain"] == chain
             and (comment is None or r["rule"].get("comment") == comment)]
    assert len(rules) >= 1
    return rules[0]["handle"]


def test_policy_drop_names_the_node_rule_and_network_policy(lab):
    result = diagnose(lab, dst="n2-pod1", dst_port=5432)
    assert result["verdict"] == "dropped"
    point = result["drop_point"]
    # The node-level forward drop: node2's rule, in node2's namespace, for the pod it protects.
    assert (point["node"], point["netns"], point["endpoint"]) == ("node2", ns("node2"), "n2-pod1")
    handle = handle_of(ns("node2"), "inet", "tracekit_lab", "pod_policy", "default/deny-postgres")
    assert point["rule"] == {"family": "inet", "table": "tracekit_lab", "chain": "pod_policy", "handle": handle,
                             "text": "ip daddr 10.244.2.11 tcp dport 5432 counter drop",
                             "comment": "default/deny-postgres", "verdict": "drop"}
    assert (point["policy"]["namespace"], point["policy"]["name"], point["policy"]["kind"]) == (
        "default", "deny-postgres", "NetworkPolicy")
    assert result["summary"].endswith(
        "was dropped at node2 for n2-pod1 by nftables rule `inet tracekit_lab pod_policy handle %d` "
        "(NetworkPolicy default/deny-postgres)." % handle)
    assert {"nft-trace@node1", "nft-trace@node2"} <= set(result["captures"])
    kernel = [o for o in result["observations"] if o["component"] == "kernel" and o["action"] == "Dropped"]
    assert kernel and kernel[0]["rule"]["handle"] == handle
    forwarded = [o for o in result["observations"] if o["component"] == "nftables" and o["action"] == "Forwarded"]
    assert forwarded and forwarded[0]["node"] == "node1"
    # The report beside it, in a real browser.
    html = os.path.join(result["_report"], "diagnosis.html")
    driver = browser()
    try:
        driver.get("file://" + html)
        assert driver.find_element("id", "drop-point").is_displayed()
        assert driver.find_element("id", "drop-policy").text == "NetworkPolicy default/deny-postgres"
        shot = driver.get_screenshot_as_png()
        save(os.path.join(result["_report"], "screenshot.png"), shot)
        assert len(png_colors(shot)) > 8
    finally:
        close(driver)


def test_ipv6_policy_drop_is_traced_by_flow_label(lab):
    result = diagnose(lab, dst="fd00:10:244:2::11", dst_port=5432, capture_kernel=False)
    assert result["verdict"] == "dropped"
    assert result["drop_point"]["rule"]["chain"] == "pod_policy"
    assert result["drop_point"]["rule"]["comment"] == "default/deny-postgres"
    assert result["drop_point"]["policy"]["name"] == "deny-postgres"


def test_policy_reject_is_attributed_to_the_reject_rule(lab):
    result = diagnose(lab, dst="n2-pod1", dst_port=5433, capture_kernel=False)
    assert result["verdict"] == "rejected"
    point = result["drop_point"]
    handle = handle_of(ns("node2"), "inet", "tracekit_lab", "pod_policy", "default/reject-5433")
    assert (point["netns"], point["rule"]["handle"], point["rule"]["verdict"]) == (ns("node2"), handle, "reject")
    assert point["policy"]["name"] == "reject-5433"
    assert point["component"] == "nftables"
    assert "TCP RST" in point["detail"]             # the reset the source got was forged by that rule
    assert "by nftables rule `inet tracekit_lab pod_policy handle %d` (NetworkPolicy default/reject-5433)" % handle \
        in result["summary"]


def test_default_deny_chain_policy(lab):
    result = diagnose(lab, dst="n2-pod4", dst_port=8080, capture_kernel=False)
    assert result["verdict"] == "dropped"
    point = result["drop_point"]
    assert point["netns"] == ns("n2-pod4")
    assert point["rule"] == {"family": "inet", "table": "tracekit_lab", "chain": "input", "handle": None,
                             "text": "policy drop of chain input", "comment": "default/default-deny",
                             "verdict": "drop"}
    assert (point["policy"]["namespace"], point["policy"]["name"]) == ("default", "default-deny")
    assert "by nftables policy drop of chain `inet tracekit_lab input` (NetworkPolicy default/default-deny)" in \
        result["summary"]


def test_kube_proxy_style_no_endpoints_reject(lab):
    result = diagnose(lab, dst="web-empty", dst_port=80, capture_kernel=False)
    assert result["verdict"] == "rejected"
    point = result["drop_point"]
    assert (point["node"], point["netns"]) == ("node1", ns("node1"))     # the source's node rejects it
    handle = handle_of(ns("node1"), "ip", "kube-proxy", "reject-chain")
    assert (point["rule"]["table"], point["rule"]["chain"], point["rule"]["handle"]) == (
        "kube-proxy", "reject-chain", handle)
    assert (point["policy"]["namespace"], point["policy"]["name"], point["policy"]["kind"]) == (
        "default", "web-empty", "Service")
    assert "(Service default/web-empty (has no endpoints))" in result["summary"]


def test_delivered_has_no_rule_and_trace_off_still_works(lab):
    result = diagnose(lab, dst="n2-pod1", dst_port=8080, capture_kernel=False)
    assert result["verdict"] == "delivered" and result["drop_point"] is None
    result = diagnose(lab, dst="n2-pod1", dst_port=5432, trace_nft=False)
    assert result["verdict"] == "dropped" and "rule" not in result["drop_point"]
    assert not any(c.startswith("nft-trace") for c in result["captures"])

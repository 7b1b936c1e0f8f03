"""The lab, packet_inject and diagnose_drop.yml against real namespaces, with real packets.

A lab with its own prefix is built once for this module through playbooks/lab.yml (the role and the
lab_topology module) and removed at the end. Every probe stays inside the lab's namespaces.
"""

import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import yaml

from conftest import need_root, run_module, run_playbook

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns

PREFIX = "tkt%d" % (os.getpid() % 100000)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    need_root()
    work = tmp_path_factory.mktemp("lab")
    inv = str(work / "inventory.yml")
    # With lab_ovn the lab is mirrored into a real user-space OVN, so the runbook also runs ovn-trace.
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_inventory_file": inv,
                                                      "lab_ovn": shutil.which("ovn-northd") is not None})
    assert rc == 0, out + err
    with open(inv) as handle:
        inventory = yaml.safe_load(handle)
    yield {"inventory": inv, "data": inventory, "dir": work, "first_run": out}
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_state": "absent"})
    assert rc == 0, out + err
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert PREFIX + "-" not in left


def ns(name):
    return "%s-%s" % (PREFIX, name)


def inject(**args):
    return run_module("netdiag.tracekit.packet_inject", args)


def test_lab_is_idempotent_and_writes_the_inventory_contract(lab):
    rc, out, err = run_playbook("playbooks/lab.yml", {"lab_prefix": PREFIX, "lab_inventory_file": lab["inventory"],
                                                      "lab_ovn": "tracekit_ovn" in lab["data"]["all"]["vars"]})
    assert rc == 0, err
    assert "changed=0" in out
    hosts = lab["data"]["all"]["children"]["tracekit_nodes"]["hosts"]
    assert set(hosts) == {"node1", "node2"}
    assert hosts["node1"]["tracekit_netns"] == ns("node1")
    eps = lab["data"]["all"]["vars"]["tracekit_endpoints"]
    assert eps["n2-pod1"]["node"] == "node2" and eps["n2-pod1"]["netns"] == ns("n2-pod1")
    assert eps["n2-pod1"]["ips"] == ["10.244.2.11", "fd00:10:244:2::11"]


def test_allowed_port_gets_a_syn_ack(lab):
    res = inject(netns=ns("n1-pod1"), dst="10.244.2.11", dst_port=8080)
    assert res["outcome"] == "reply"
    assert res["replies"][0]["kind"] == "syn-ack"
    assert res["probe"]["src"] == "10.244.1.11"      # chosen by the pod's routing
    assert res["changed"] is True


def test_policy_drop_gets_nothing_and_reject_gets_a_reset(lab):
    res = inject(netns=ns("n1-pod1"), dst="10.244.2.11", dst_port=5432, timeout=0.5)
    assert res["outcome"] == "no_reply" and res["replies"] == []
    res = inject(netns=ns("n1-pod1"), dst="10.244.2.11", dst_port=5433)
    assert res["outcome"] == "reset" and res["replies"][0]["kind"] == "rst"


def test_closed_port_resets_and_udp_closed_port_is_icmp_port_unreachable(lab):
    assert inject(netns=ns("n1-pod1"), dst="10.244.2.11", dst_port=9999)["outcome"] == "reset"
    res = inject(netns=ns("n1-pod1"), dst="10.244.2.11", protocol="udp", dst_port=9999)
    assert res["outcome"] == "icmp_error"
    assert res["replies"][0]["code_name"] == "port-unreachable"
    assert res["replies"][0]["from"] == "10.244.2.11"


def test_udp_open_port_echoes(lab):
    res = inject(netns=ns("n1-pod1"), dst="10.244.2.11", protocol="udp", dst_port=5353)
    assert res["outcome"] == "reply" and res["replies"][0]["kind"] == "udp"


def test_missing_route_is_net_unreachable_from_the_source_node(lab):
    res = inject(netns=ns("n1-pod1"), dst="10.244.102.13", protocol="icmp")
    assert res["outcome"] == "icmp_error"
    assert res["replies"][0]["code_name"] == "net-unreachable"
    assert res["replies"][0]["from"] == "10.244.1.1"   # node1's gateway address on cni0


def test_service_vip_is_dnatted_and_answers(lab):
    res = inject(netns=ns("n1-pod1"), dst="10.96.0.10", dst_port=80)
    assert res["outcome"] == "reply"
    assert res["replies"][0]["from"] == "10.96.0.10"


def test_ipv6_echo_and_ttl_expiry(lab):
    res = inject(netns=ns("n1-pod1"), dst="fd00:10:244:2::11", protocol="icmpv6")
    assert res["outcome"] == "reply" and res["replies"][0]["kind"] == "echo-reply"
    res = inject(netns=ns("n1-pod1"), dst="10.244.2.11", protocol="icmp", ttl=1)
    assert res["outcome"] == "icmp_error"
    assert res["replies"][0]["kind"] == "time-exceeded"
    assert res["replies"][0]["from"] == "10.244.1.1"


def test_tag_is_on_the_wire_at_the_destination(lab):
    """Capture at the destination pod (AF_PACKET inside its namespace) and find the probe by its tag."""
    with netns.entered("/var/run/netns/" + ns("n2-pod1")):
        cap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
    cap.settimeout(0.2)
    try:
        res = inject(netns=ns("n1-pod1"), dst="10.244.2.11", protocol="udp", dst_port=5353, tag=42)
        tag = res["probe"]["tag"]
        seen = None
        deadline = time.time() + 3
        while time.time() < deadline and seen is None:
            try:
                data, addr = cap.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[1] == 0x0800 and data[9] == 17 and data[16:20] == socket.inet_aton("10.244.2.11"):
                seen = data
    finally:
        cap.close()
    assert seen is not None, "the probe never reached the destination pod"
    assert seen[1] >> 2 == 42                                   # DSCP
    assert int.from_bytes(seen[4:6], "big") == tag["ip_id"]     # IP ID
    assert seen[28:].decode() == tag["marker"] == "tracekit:" + tag["id"]
    assert seen[8] == 64 - 2                                    # TTL after two routed hops (node1, node2)


def _drop_counter(node):
    out = subprocess.run(["ip", "netns", "exec", ns(node), "nft", "-j", "list", "table", "inet", "tracekit_lab"],
                         capture_output=True, text=True, check=True).stdout
    total = 0
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if rule and rule.get("comment") == "default/deny-postgres":
            total += sum(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)
    return total


def test_check_mode_builds_but_sends_nothing(lab):
    before = _drop_counter("node2")
    res = run_module("netdiag.tracekit.packet_inject",
                     {"netns": ns("n1-pod1"), "dst": "10.244.2.11", "dst_port": 5432}, check=True)
    assert res["outcome"] == "not_sent" and res["sent"] == 0
    assert res["probe"]["summary"].startswith("TCP 10.244.1.11:")
    assert _drop_counter("node2") == before
    inject(netns=ns("n1-pod1"), dst="10.244.2.11", dst_port=5432, timeout=0.3)
    assert _drop_counter("node2") == before + 1     # the counter does see a real probe


@pytest.mark.parametrize("args, message", [
    ({"netns": "tracekit-missing-ns", "dst": "10.244.2.11", "dst_port": 80}, "does not exist"),
    ({"dst": "10.244.2", "dst_port": 80}, "is not an IPv4 or IPv6 address"),
    ({"dst": "10.244.2.11", "dst_port": 99999}, "out of range"),
    ({"dst": "10.244.2.11", "protocol": "icmp", "dst_port": 80}, "make no sense with protocol icmp"),
    ({"dst": "fd00:10:244:2::11", "src": "10.244.1.11", "dst_port": 80}, "both must be of one family"),
])
def test_bad_input_fails_with_a_clear_message(lab, args, message):
    args = dict(args)
    args.setdefault("netns", ns("n1-pod1"))
    res = inject(**args)
    assert res.get("failed") is True
    assert message in res["msg"]
    assert "Traceback" not in json.dumps(res)


def diagnose(lab, **extra):
    report = str(lab["dir"] / ("report-%d" % time.time_ns()))
    args = {"src": "n1-pod1", "report_dir": report}
    args.update(extra)
    rc, out, err = run_playbook("playbooks/diagnose_drop.yml", args, inventory=lab["inventory"])
    path = os.path.join(report, "diagnosis.json")
    result = None
    if os.path.exists(path):
        with open(path) as handle:
            result = json.load(handle)
    return rc, out + err, result


def test_runbook_delivered_and_not_delivered(lab):
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=8080)
    assert rc == 0, out
    assert result["verdict"] == "delivered"
    assert result["drop_point"] is None
    assert result["probe"]["node"] == "node1" and result["probe"]["netns"] == ns("n1-pod1")
    assert result["probe"]["tag"]["dscp"] >= 1
    assert [o["action"] for o in result["observations"]][:1] == ["Sent"]
    assert {"nettrace@node1", "nettrace@node2"} <= set(result["captures"])
    assert "DELIVERED" in out


def test_runbook_names_the_policy_drop_point_with_the_kernel_reason(lab):
    """The NetworkPolicy fault: dropped at the destination node, for the destination pod, NETFILTER_DROP."""
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=5432)
    assert rc == 0, out
    assert result["verdict"] == "dropped", result["summary"]
    point = result["drop_point"]
    assert point["node"] == "node2"
    assert point["netns"] == ns("node2")
    assert point["endpoint"] == "n2-pod1"
    assert point["component"] == "kernel"
    assert point["reason"].startswith("NETFILTER_DROP")
    assert "nf_hook_slow" in point["reason"] or "nft_do_chain" in point["reason"]
    kernel = [o for o in result["observations"] if o["action"] == "Dropped" and o["component"] == "kernel"]
    assert kernel and all(o["source"] == "nettrace" for o in kernel)


def test_runbook_ipv6_policy_drop(lab):
    rc, out, result = diagnose(lab, dst="fd00:10:244:2::11", protocol="tcp", dst_port=5432)
    assert rc == 0, out
    assert result["verdict"] == "dropped"
    assert result["drop_point"]["node"] == "node2"
    assert result["drop_point"]["reason"].startswith("NETFILTER_DROP")


def test_runbook_closed_port_is_rejected_with_the_reset_observed(lab):
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=9999)
    assert rc == 0, out
    assert result["verdict"] == "rejected"
    assert result["drop_point"]["netns"] == ns("n2-pod1")
    assert result["drop_point"]["endpoint"] == "n2-pod1"
    assert result["drop_point"]["reason"].startswith("NO_SOCKET")
    resets = [o for o in result["observations"] if o["action"] == "Rejected" and o["source"] == "nettrace"]
    assert resets and resets[0]["netns"] == ns("n2-pod1")
    assert any(o["action"] == "Rejected" and o["reason"].startswith("TCP RST") for o in result["observations"])


def test_runbook_policy_reject_is_blamed_on_the_node_not_the_forged_rst(lab):
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=5433)
    assert rc == 0, out
    assert result["verdict"] == "rejected"
    assert result["drop_point"]["netns"] == ns("node2")
    assert result["drop_point"]["reason"].startswith("NETFILTER_DROP")
    assert "TCP RST" in result["drop_point"]["detail"]


def test_runbook_missing_route_is_at_the_node_without_it(lab):
    rc, out, result = diagnose(lab, dst="n2-pod3", protocol="tcp", dst_port=8080)
    assert rc == 0, out
    assert result["verdict"] == "rejected"      # node1 answers with ICMP net unreachable
    point = result["drop_point"]
    assert point["node"] == "node1" and point["netns"] == ns("node1")
    assert point["component"] == "kernel"
    assert "NOROUTE" in point["reason"]          # IP_INNOROUTES on this kernel
    assert "net-unreachable" in point["detail"]


def test_runbook_without_captures_falls_back_to_the_probe(lab):
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=5432, capture_kernel=False,
                               trace_ovn=False, read_conntrack=False, trace_nft=False)
    assert rc == 0, out
    assert result["verdict"] == "no_reply"
    assert result["captures"] == []


def need_ovn(lab):
    if "tracekit_ovn" not in lab["data"]["all"]["vars"]:
        pytest.skip("OVN (ovn-central) is not installed: make bootstrap installs it")


def test_runbook_reports_the_ovn_acl_of_the_policy_drop(lab):
    """The lab mirrored into OVN: ovn-trace names the ACL and the NetworkPolicy behind it (an observation);
    the kernel's drop stays the drop point."""
    need_ovn(lab)
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=5432)
    assert rc == 0, out
    assert result["drop_point"]["component"] == "kernel"
    ovn = [o for o in result["observations"] if o["component"] == "ovn" and o["action"] == "Dropped"]
    assert ovn and "ACL default_deny-postgres" in ovn[0]["reason"]
    assert ovn[0]["node"] == "node2" and ovn[0]["endpoint"] == "n2-pod1"
    assert result["ovn"]["acl"]["external_ids"]["k8s.ovn.org/name"] == "deny-postgres"
    assert result["ovn"]["drop"]["stage"] == "ls_out_acl"
    assert any(c.startswith("ovn-trace@") for c in result["captures"])


def test_runbook_uses_the_ovn_drop_when_no_kernel_event_explains_it(lab):
    need_ovn(lab)
    # Without the kernel's evidence: no eBPF capture and no nftables trace (which would name the rule itself).
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=5432, capture_kernel=False,
                               trace_nft=False)
    assert rc == 0, out
    assert result["verdict"] == "dropped"
    point = result["drop_point"]
    assert (point["node"], point["endpoint"], point["component"]) == ("node2", "n2-pod1", "ovn")
    assert "ACL default_deny-postgres" in point["reason"] and "ls_out_acl" in point["reason"]
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=8080, capture_kernel=False)
    assert result["verdict"] == "delivered"
    assert [o["action"] for o in result["observations"] if o["component"] == "ovn"][-1] == "Delivered"


def test_runbook_compliance_mode_fails_on_an_unexpected_verdict(lab):
    rc, out, result = diagnose(lab, dst="web", protocol="tcp", dst_port=80, expect_verdict="delivered")
    assert rc == 0, out
    rc, out, result = diagnose(lab, dst="n2-pod1", protocol="tcp", dst_port=5433, expect_verdict="delivered")
    assert rc != 0
    assert "expected delivered, got rejected" in out
    assert result["verdict"] == "rejected"      # the report is still written


def test_runbook_rejects_bad_inputs_clearly(lab):
    rc, out, _result = diagnose(lab, dst="no-such-pod", protocol="tcp", dst_port=80)
    assert rc != 0 and "neither an IP address nor an endpoint" in out
    rc, out, _result = diagnose(lab, dst="n2-pod1", protocol="tcp")
    assert rc != 0 and "numeric dst_port" in out

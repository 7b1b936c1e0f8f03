"""The ovn_trace module through ansible, against a real user-space OVN 23.03 (no stand-in).

The topology is built by ovn_sandbox.py (NB/SB ovsdb-servers and ovn-northd in a private run folder).
Every expected verdict, stage and port was read by hand from ovn-trace's own output for the same flow.
"""

import json
import os
import shutil
import stat

import pytest

from conftest import run_module

from ovn_sandbox import ACLS, OvnSandbox, have_ovn, make_pki

PODS = {
    # the sandbox's pods: (port, mac, ipv4, ipv6)
    "web": ("sw0-p1", "50:54:00:00:00:01", "10.0.0.11", "fd00::11"),
    "client": ("sw0-p2", "50:54:00:00:00:02", "10.0.0.12", "fd00::12"),
    "db": ("sw1-p1", "50:54:00:00:01:01", "10.0.1.11", "fd00:1::11"),
    "app": ("sw1-p2", "50:54:00:00:01:02", "10.0.1.12", "fd00:1::12"),
}
ROUTER_MAC_SW0 = "00:00:00:00:ff:01"


@pytest.fixture(scope="module")
def ovn(tmp_path_factory):
    if not have_ovn():
        pytest.skip("OVN is not installed (ovn-central: make bootstrap installs it)")
    run_dir = "/tmp/tkt-ovnm-%d" % os.getpid()  # short: unix socket paths are limited to 108 bytes
    shutil.rmtree(run_dir, ignore_errors=True)
    sandbox = OvnSandbox(run_dir)
    try:
        sandbox.start()
        sandbox.build_topology()
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def trace(ovn, src, check=False, **fields):
    port, mac, ip4, ip6 = PODS[src]
    args = dict(db=ovn.sb, nb_db=ovn.nb, inport=port, eth_src=mac)
    if fields.pop("ipv6", False):
        args["ip_src"] = ip6
    elif "microflow" not in fields:
        args["ip_src"] = ip4
    args.update(fields)
    return run_module("netdiag.tracekit.ovn_trace", args, check=check)


def test_acl_drop_names_the_network_policy_through_the_logical_flow(ovn):
    # client -> db tcp/5432, routed through lr0: dropped by np-deny-db (not logged) in sw1's egress ACL
    res = trace(ovn, "client", eth_dst=ROUTER_MAC_SW0, ip_dst="10.0.1.11", protocol="tcp", dst_port=5432)
    assert not res.get("failed"), res.get("msg")
    assert res["changed"] is False
    assert res["verdict"] == "dropped" == res["trace"]["verdict"]
    drop = res["trace"]["drop"]
    assert (drop["datapath"], drop["pipeline"], drop["stage"]) == ("sw1", "egress", "ls_out_acl")
    acl = res["acl"]
    assert acl["name"] == "np-deny-db"
    assert acl["found_by"] == "stage-hint"
    assert acl["uuid"] == ovn.acl_uuid("np-deny-db")
    assert acl["lflow_uuid"].startswith(drop["uuid"])
    assert (acl["direction"], acl["priority"], acl["action"]) == ("to-lport", 1001, "drop")
    assert acl["match"] == ACLS["np-deny-db"][3]
    assert acl["external_ids"]["k8s.ovn.org/name"] == "deny-db"
    assert acl["external_ids"]["k8s.ovn.org/namespace"] == "prod"
    assert acl["port_groups"] == ["pg_db"]
    assert res["command"][-1] == ('inport == "sw0-p2" && eth.src == 50:54:00:00:00:02 && eth.dst == 00:00:00:00:ff:01'
                                  ' && ip4.src == 10.0.0.12 && ip4.dst == 10.0.1.11 && ip.ttl == 64'
                                  ' && tcp.dst == 5432')
    assert "--" in res["command"] and res["stdout"].startswith("# tcp,")


def test_acl_drop_with_new_connection_state(ovn):
    # --ct=new for each ct action: the drop is the plain `drop;` flow (reg0[9] == 1 branch), same ACL
    res = trace(ovn, "client", eth_dst=ROUTER_MAC_SW0, ip_dst="10.0.1.11", protocol="tcp", dst_port=5432,
                ct=["new", "new", "new", "new"])
    assert res["verdict"] == "dropped"
    assert res["trace"]["drop"]["stage"] == "ls_out_acl"
    assert res["acl"]["name"] == "np-deny-db"
    assert "--ct=new" in res["command"]


def test_egress_acl_drop_on_the_source_switch(ovn):
    res = trace(ovn, "client", eth_dst=ROUTER_MAC_SW0, ip_dst="10.0.1.11", protocol="udp", dst_port=53)
    assert res["verdict"] == "dropped"
    drop = res["trace"]["drop"]
    assert (drop["datapath"], drop["pipeline"], drop["stage"]) == ("sw0", "ingress", "ls_in_acl")
    assert res["acl"]["name"] == "np-deny-dns-egress"
    assert res["acl"]["direction"] == "from-lport"
    assert res["acl"]["external_ids"]["k8s.ovn.org/name"] == "no-dns"


def test_acl_reject_is_rejected_with_the_security_group_rule(ovn):
    res = trace(ovn, "client", eth_dst=PODS["web"][1], ip_dst="10.0.0.11", protocol="tcp", dst_port=23)
    assert res["verdict"] == "rejected"
    assert res["acl"]["name"] == "sg-reject-telnet"
    assert res["acl"]["action"] == "reject"
    assert res["acl"]["external_ids"] == {"neutron:security_group_rule_id": "5f1d0c1e-8f5a-4b7e-9d21-3c3f0e1a2b44"}
    # the TCP RST goes back to the client: that is not a delivery of the original packet
    assert not any(out["port"] == "sw0-p1" for out in res["trace"]["outputs"])


def test_summary_format_finds_the_acl_by_its_logged_name(ovn):
    res = trace(ovn, "client", eth_dst=PODS["web"][1], ip_dst="10.0.0.11", protocol="tcp", dst_port=23,
                format="summary")
    assert res["trace"]["format"] == "summary"
    assert res["verdict"] == "rejected"
    assert res["acl"]["name"] == "sg-reject-telnet"
    assert res["acl"]["found_by"] == "log-name"


def test_delivered_on_the_same_switch(ovn):
    res = trace(ovn, "client", eth_dst=PODS["web"][1], ip_dst="10.0.0.11", protocol="tcp", src_port=40000,
                dst_port=80, tcp_flags=["syn"])
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("sw0", "sw0-p1")]
    assert res["acl"] is None and res["acl_commands"] == []


def test_routed_between_switches(ovn):
    res = trace(ovn, "web", eth_dst=ROUTER_MAC_SW0, ip_dst="10.0.1.12", protocol="tcp", dst_port=80)
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("sw1", "sw1-p2")]
    assert "lr0" in set(hop["datapath"] for hop in res["trace"]["hops"])


def test_load_balancer_vip_reaches_the_backend(ovn):
    # 10.0.0.100:80 -> 10.0.1.12:8080; with --ct=new ct_lb_mark picks the backend and the router forwards
    res = trace(ovn, "client", eth_dst=ROUTER_MAC_SW0, ip_dst="10.0.0.100", protocol="tcp", dst_port=80,
                ct=["new", "new"], lb_dst="10.0.1.12:8080")
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("sw1", "sw1-p2")]
    assert "--lb-dst=10.0.1.12:8080" in res["command"]


def test_snat_to_the_external_network(ovn):
    res = trace(ovn, "web", eth_dst=ROUTER_MAC_SW0, ip_dst="172.16.0.50", protocol="tcp", dst_port=443)
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("public", "public-ln")]
    assert "ip4.src=172.16.0.1" in res["stdout"]  # the SNAT ovn-trace applied


def test_dnat_from_the_external_network_to_a_floating_ip(ovn):
    res = run_module("netdiag.tracekit.ovn_trace", dict(
        db=ovn.sb, nb_db=ovn.nb, inport="public-ln", eth_src="52:54:00:aa:bb:cc", eth_dst="00:00:00:00:ff:ee",
        ip_src="172.16.0.50", ip_dst="172.16.0.110", protocol="tcp", dst_port=80))
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("sw1", "sw1-p1")]


def test_ipv6_routed_ping(ovn):
    res = trace(ovn, "web", ipv6=True, eth_dst=ROUTER_MAC_SW0, ip_dst="fd00:1::12", protocol="icmp")
    assert "ip6.src == fd00::11 && ip6.dst == fd00:1::12" in res["expression"]
    assert "icmp6.type == 128" in res["expression"]
    assert res["verdict"] == "delivered"
    assert [(o["datapath"], o["port"]) for o in res["trace"]["outputs"]] == [("sw1", "sw1-p2")]


def test_port_security_drop_is_not_blamed_on_an_acl(ovn):
    res = run_module("netdiag.tracekit.ovn_trace", dict(
        db=ovn.sb, nb_db=ovn.nb, inport="sw0-p1", eth_src="50:54:00:00:00:99", eth_dst=PODS["client"][1],
        ip_src="10.0.0.11", ip_dst="10.0.0.12", protocol="tcp", dst_port=80))
    assert res["verdict"] == "dropped"
    assert res["trace"]["drop"]["datapath"] == "sw0"
    assert "port_sec" in res["trace"]["drop"]["stage"]
    assert res["acl"] is None
    assert any("outside an ACL stage" in note for note in res["acl_notes"])


def test_raw_microflow_on_an_explicit_datapath(ovn):
    res = run_module("netdiag.tracekit.ovn_trace", dict(
        db=ovn.sb, nb_db=ovn.nb, datapath="sw0", format="minimal",
        microflow='inport == "sw0-p2" && eth.src == 50:54:00:00:00:02 && eth.dst == 50:54:00:00:00:01 && '
                  'ip4.src == 10.0.0.12 && ip4.dst == 10.0.0.11 && ip.ttl == 64 && tcp.dst == 80'))
    assert res["verdict"] == "delivered"
    assert res["trace"]["format"] == "minimal"
    assert res["command"][-2:] == ["sw0", res["expression"]]


def test_check_mode_traces_too(ovn):
    res = trace(ovn, "client", check=True, eth_dst=ROUTER_MAC_SW0, ip_dst="10.0.1.11", protocol="tcp",
                dst_port=5432)
    assert res["changed"] is False and res["verdict"] == "dropped" and res["acl"]["name"] == "np-deny-db"


def test_unknown_port_fails_with_ovn_traces_message(ovn):
    res = run_module("netdiag.tracekit.ovn_trace", dict(db=ovn.sb, inport="no-such-port", protocol="tcp"))
    assert res["failed"] is True
    assert 'unknown port "no-such-port"' in res["msg"]
    assert res["trace"]["verdict"] == "error"
    assert res["stdout"].strip() == 'unknown port "no-such-port"'  # ovn-trace's raw output is returned
    assert res["rc"] == 0  # ovn-trace itself reported success


def test_unknown_datapath_fails(ovn):
    res = run_module("netdiag.tracekit.ovn_trace", dict(db=ovn.sb, datapath="nowhere", microflow="ip4"))
    assert res["failed"] is True
    assert 'unknown datapath "nowhere"' in res["msg"]


@pytest.fixture
def recorder(tmp_path):
    """A stand-in ovn-trace that only records that it ran (to prove that bad input never reaches it)."""
    marker = tmp_path / "ran"
    script = tmp_path / "ovn-trace"
    script.write_text("#!/bin/sh\necho ran > %s\n" % marker)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, marker


@pytest.mark.parametrize("args,message", [
    (dict(inport='sw0-p1" || inport == "sw0-p2'), "inport"),
    (dict(inport="sw0-p1", ip_dst="10.0.0.1 || 1"), "ip_dst"),
    (dict(inport="sw0-p1", datapath="--ovs"), "datapath"),
    (dict(inport="sw0-p1", db="unix:/x --ovs"), "db"),
])
def test_injection_attempts_fail_before_ovn_trace_runs(recorder, args, message):
    script, marker = recorder
    res = run_module("netdiag.tracekit.ovn_trace", dict(args, ovn_trace_path=str(script)))
    assert res["failed"] is True
    assert res["msg"].startswith("invalid input, ovn-trace not run: %s" % message)
    assert "command" not in res
    assert not marker.exists()


def test_typed_fields_and_microflow_are_exclusive(recorder):
    script, marker = recorder
    res = run_module("netdiag.tracekit.ovn_trace",
                     dict(inport="p", microflow="ip4", protocol="tcp", ovn_trace_path=str(script)))
    assert res["failed"] is True and "mutually exclusive" in res["msg"]
    assert not marker.exists()


def test_missing_ovn_trace_and_unreachable_database(tmp_path):
    res = run_module("netdiag.tracekit.ovn_trace", dict(inport="p", ovn_trace_path=str(tmp_path / "ovn-trace")))
    assert res["failed"] is True and "is not an executable file" in res["msg"]
    if shutil.which("ovn-trace"):
        res = run_module("netdiag.tracekit.ovn_trace",
                         dict(inport="p", db="unix:%s" % (tmp_path / "nope.sock"), timeout=5))
        assert res["failed"] is True
        assert "nope.sock" in res["msg"]
        assert json.dumps(res["command"]).count("--db=unix:") == 1


@pytest.fixture(scope="module")
def ovn_with_ovs():
    """The same topology with ovs-vswitchd (dummy datapath, user space) and ovn-controller binding the pods."""
    if not have_ovn() or not (shutil.which("ovs-vswitchd") and shutil.which("ovn-controller")):
        pytest.skip("ovs-vswitchd or ovn-controller is not installed (openvswitch-switch, ovn-host)")
    run_dir = "/tmp/tkt-ovno-%d" % os.getpid()
    shutil.rmtree(run_dir, ignore_errors=True)
    sandbox = OvnSandbox(run_dir)
    try:
        sandbox.start(ovs=True)
        sandbox.build_topology()
        sandbox.wait_ports_up(["sw0-p2", "sw1-p1"])
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def test_ovs_option_shows_the_openflow_flows_of_the_dropping_acl(ovn_with_ovs):
    ovn = ovn_with_ovs
    res = trace(ovn, "client", eth_dst=ROUTER_MAC_SW0, ip_dst="10.0.1.11", protocol="tcp", dst_port=5432,
                ovs=True, ovs_remote=ovn.br_int_mgmt)
    assert "--ovs=%s" % ovn.br_int_mgmt in res["command"]
    assert res["verdict"] == "dropped"
    drop = res["trace"]["drop"]
    assert drop["stage"] == "ls_out_acl"
    # ovn-controller installed the ACL flow: its OpenFlow cookie is the logical flow's uuid prefix
    assert "cookie=0x%s" % drop["uuid"].lstrip("0") in res["stdout"]
    assert res["acl"]["name"] == "np-deny-db"


def test_ssl_remotes_with_client_certificates(tmp_path):
    """Both databases reached over ssl: (127.0.0.1 only) with certificates made by ovs-pki."""
    if not have_ovn() or not shutil.which("ovs-pki"):
        pytest.skip("OVN or ovs-pki (openvswitch-common) is not installed")
    certs = make_pki(str(tmp_path))
    run_dir = "/tmp/tkt-ovns-%d" % os.getpid()
    shutil.rmtree(run_dir, ignore_errors=True)
    sandbox = OvnSandbox(run_dir)
    try:
        sandbox.start(ssl=certs["server"])
        sandbox.build_topology()
        client = certs["client"]
        res = run_module("netdiag.tracekit.ovn_trace", dict(
            db=sandbox.ssl_remotes["ovnsb"], nb_db=sandbox.ssl_remotes["ovnnb"], inport="sw0-p2",
            eth_src=PODS["client"][1], eth_dst=ROUTER_MAC_SW0, ip_src="10.0.0.12", ip_dst="10.0.1.11",
            protocol="tcp", dst_port=5432, **client))
        assert res["verdict"] == "dropped", res.get("msg")
        assert res["acl"]["name"] == "np-deny-db"
        assert "--private-key=%s" % client["private_key"] in res["command"]
        assert all("--ca-cert=%s" % client["ca_cert"] in cmd for cmd in res["acl_commands"])
        # without the client files the module refuses before running anything
        res = run_module("netdiag.tracekit.ovn_trace", dict(db=sandbox.ssl_remotes["ovnsb"], inport="sw0-p2"))
        assert res["failed"] is True and "an ssl: database remote needs private_key, certificate, ca_cert" in res["msg"]
    finally:
        sandbox.stop()
        shutil.rmtree(run_dir, ignore_errors=True)

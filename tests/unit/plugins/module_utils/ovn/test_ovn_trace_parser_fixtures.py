"""parse_ovn_trace against every real ovn-trace output in ../shared/fixtures/ovn/.

The expectation table below was written by hand from the comment of each scenario in
ovn-23.03-local/commands.txt and by reading the outputs (which port the packet leaves by, which stage
drops it), never from the parser's own result.
"""

import glob
import os

import pytest

from conftest import SHARED, shared_path

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import (
    acl_hints,
    ovn_observations,
    parse_ovn_trace,
)

LOCAL = ("fixtures", "ovn", "ovn-23.03-local")
PUBLIC = ("fixtures", "ovn", "public")

# scenario -> (verdict, ports the original packet is delivered to: friendly names / --no-friendly-names)
# From commands.txt: "delivered to sw0-port1", "dropped in ls_in_acl", "tcp_reset generated back" ...
EXPECTED = {
    "tcp_allowed_l2": ("delivered", ["sw0-port1"]),
    "tcp_allowed_l2_ct_new": ("delivered", ["sw0-port1"]),
    "tcp_allowed_l2_ct_est": ("delivered", ["sw0-port1"]),
    "tcp_allowed_l2_ct_rpl": ("delivered", ["sw0-port1"]),
    "tcp_ct_inv_drop": ("dropped", []),
    "acl_drop_egress": ("dropped", []),
    "acl_drop_egress_ct_new": ("dropped", []),
    "acl_drop_ingress": ("dropped", []),
    "acl_drop_ingress_ct_new": ("dropped", []),
    "acl_allow_admin_ssh": ("delivered", ["sw0-port1"]),
    "acl_reject": ("rejected", []),
    "portsec_mac_spoof": ("dropped", []),
    "portsec_ip_spoof": ("dropped", []),
    "routed_tcp": ("delivered", ["sw1-port2"]),
    "routed_tcp_to_pg": ("delivered", ["sw1-port1"]),
    "routed_admin_ssh_allowed": ("delivered", ["web-vm3"]),
    "routed_pg_to_uuid_port_allowed": ("delivered", ["web-vm3"]),
    "no_route": ("dropped", []),
    "lb_vip": ("delivered", ["sw1-port1"]),           # backend 10.0.1.11 is sw1-port1
    "lb_vip_default_ct": ("delivered", ["web-vm3"]),
    "icmp_routed": ("delivered", ["sw1-port2"]),
    "icmp_router_ping": ("delivered", ["sw0-port1"]),  # echo reply built in place, back to the sender
    "ttl_expired": ("rejected", []),                   # ICMP time exceeded sent instead
    "ipv6_routed": ("delivered", ["sw1-port2"]),
    "ipv6_icmp6_router": ("delivered", ["sw0-port1"]),
    "arp_known": ("delivered", ["sw0-port1"]),         # ARP responder answers back to the asker
    "arp_unknown_flood": ("delivered", ["a1b2c3", "sw0-port2"]),  # _MC_flood; lr0 drops its copy
    "unknown_dst_mac": ("dropped", []),
    "friendly_uuid_port": ("delivered", ["web-vm3"]),
    "from_uuid_port": ("delivered", ["sw1-port2"]),
    "snat_to_external": ("delivered", ["public-ln"]),
    "arp_request_unresolved": ("dropped", []),         # held for ARP resolution, ARP request goes out
    "dnat_from_external": ("delivered", ["sw1-port1"]),
    "uuid_port_shortened": ("delivered", ["a1b2c3"]),
    "isolated_sw2": ("delivered", ["sw2-port2"]),
    "routed_acl_drop_to_lport": ("dropped", []),
    "error_unknown_port": ("error", []),
    "error_parse": ("error", []),
    "error_ambiguous": ("error", []),
    "error_unknown_datapath": ("error", []),
    "error_no_inport": ("error", []),
}
NO_FRIENDLY_PORTS = {
    "friendly_uuid_port": ["7e3c5a52-5f4f-4c2b-9d0e-3f1b2a9c8d11"],
    "uuid_port_shortened": ["a1b2c3d4-1111-2222-3333-444455556666"],
}
# scenario -> stage that drops (detailed and --all outputs), read from the outputs
DROP_STAGE = {
    "tcp_ct_inv_drop": "ls_in_acl",
    "acl_drop_egress": "ls_in_acl",
    "acl_drop_egress_ct_new": "ls_in_acl",
    "acl_drop_ingress": "ls_out_acl",
    "acl_drop_ingress_ct_new": "ls_out_acl",
    "acl_reject": "ls_out_acl",
    "portsec_mac_spoof": "ls_in_apply_port_sec",
    "portsec_ip_spoof": "ls_in_apply_port_sec",
    "no_route": "lr_in_ip_routing",
    "ttl_expired": "lr_in_ip_input",
    "unknown_dst_mac": "ls_in_l2_unknown",
    "arp_request_unresolved": "lr_in_arp_request",
    "routed_acl_drop_to_lport": "ls_out_acl",
}


def _read(*parts):
    with open(shared_path(*parts)) as handle:
        return handle.read()


def _local_files():
    base = os.path.join(SHARED, *LOCAL)
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(base, "*.txt")) if not p.endswith("commands.txt"))


def _scenario(name):
    return name.split(".", 1)[0]


def test_fixture_folders_are_all_covered():
    """Every fixture folder under fixtures/ovn is one this test module knows about."""
    root = shared_path("fixtures", "ovn")
    assert sorted(os.listdir(root)) == ["ovn-23.03-local", "public"]
    files = _local_files()
    assert len(files) == 133
    missing = sorted(set(_scenario(f) for f in files) - set(EXPECTED))
    assert not missing, "no hand-written expectation for %s" % missing


@pytest.mark.parametrize("name", _local_files() or ["(shared fixtures absent)"])
def test_verdict_and_outputs_of_every_local_fixture(name):
    text = _read(*(LOCAL + (name,)))
    parsed = parse_ovn_trace(text)
    verdict, ports = EXPECTED[_scenario(name)]
    if "no-friendly-names" in name and _scenario(name) in NO_FRIENDLY_PORTS:
        ports = NO_FRIENDLY_PORTS[_scenario(name)]
    assert parsed["verdict"] == verdict, name
    assert [o["port"] for o in parsed["outputs"]] == ports, name
    fmt = "minimal" if ".minimal" in name else "summary" if ".summary" in name else "detailed"
    if verdict != "error":
        assert parsed["format"] == fmt
        assert parsed["flow"] and parsed["flow"].split(",", 1)[0] in ("tcp", "udp", "icmp", "icmp6", "tcp6", "arp")
        assert parsed["warnings"] == []
    if fmt == "detailed" and _scenario(name) in DROP_STAGE:
        assert parsed["drop"]["stage"] == DROP_STAGE[_scenario(name)], name
    if verdict == "delivered":
        assert parsed["drop"] is None
    if verdict in ("dropped", "rejected"):
        assert parsed["drop"]["reason"]
    if fmt != "detailed":
        assert parsed["hops"] == []


@pytest.mark.parametrize("folder", [("context",), ("ovs-ofproto-trace",), ()])
def test_files_that_are_not_ovn_trace_output_give_partial_with_a_warning(folder):
    base = shared_path(*(LOCAL + folder))
    names = [n for n in sorted(os.listdir(base)) if os.path.isfile(os.path.join(base, n))]
    if not folder:
        names = ["commands.txt", "README.md", "topology.sh"]
    assert names
    for name in names:
        with open(os.path.join(base, name)) as handle:
            parsed = parse_ovn_trace(handle.read())
        assert parsed["verdict"] == "partial", name
        assert parsed["warnings"], name
        assert parsed["outputs"] == [] and parsed["hops"] == []


def test_acl_drop_egress_detailed_names_the_logged_acl():
    parsed = parse_ovn_trace(_read(*(LOCAL + ("acl_drop_egress.detailed.txt",))))
    assert parsed["flow"].startswith("tcp,reg14=0x1,vlan_tci=0x0000,dl_src=50:54:00:00:00:01")
    assert [h["table"] for h in parsed["hops"]] == [0, 4, 5, 6, 7, 8]
    assert [h["stage"] for h in parsed["hops"]][:2] == ["ls_in_check_port_sec", "ls_in_pre_acl"]
    assert parsed["hops"][0]["source"] == "northd.c:8432"
    assert parsed["hops"][0]["priority"] == 50 and parsed["hops"][0]["uuid"] == "89257307"
    drop = parsed["drop"]
    assert (drop["datapath"], drop["pipeline"], drop["table"], drop["stage"]) == ("sw0", "ingress", 8, "ls_in_acl")
    assert drop["uuid"] == "8d20eeae" and drop["priority"] == 2001
    assert drop["match"] == "reg0[10] == 1 && (inport == @pg_web && ip4 && tcp.dst == 22)"
    assert drop["actions"] == ["ct_commit { ct_mark.blocked = 1; };",
                               'log(name="deny-ssh-egress", verdict=drop, severity=warning);']
    assert drop["kind"] == "acl"
    assert "ct_mark.blocked = 1" in drop["reason"]
    acl = drop["acl"]
    assert (acl["name"], acl["verdict"], acl["severity"], acl["direction"]) == (
        "deny-ssh-egress", "drop", "warning", "from-lport")
    assert parsed["logs"][0]["name"] == "deny-ssh-egress" and parsed["logs"][0]["direction"] == "IN"
    hints = acl_hints(parsed)
    assert hints["lflow_uuid_prefix"] == "8d20eeae"
    assert (hints["stage"], hints["datapath"], hints["name"]) == ("ls_in_acl", "sw0", "deny-ssh-egress")


@pytest.mark.parametrize("variant", ["summary", "minimal", "all", "detailed.ovs", "detailed.friendly-names"])
def test_acl_drop_egress_acl_name_in_every_format(variant):
    parsed = parse_ovn_trace(_read(*(LOCAL + ("acl_drop_egress.%s.txt" % variant,))))
    assert parsed["verdict"] == "dropped"
    assert parsed["drop"]["acl"]["name"] == "deny-ssh-egress"
    if variant == "all":
        assert parsed["format"] == "detailed"
        assert parsed["formats"] == ["detailed", "summary", "minimal"]
        assert parsed["drop"]["uuid"] == "8d20eeae"
    if variant == "detailed.ovs":
        # --ovs: OpenFlow flows interleaved with the logical actions, attached to their hop
        assert len(parsed["hops"]) == 6
        assert len(parsed["hops"][0]["openflow"]) == 3
        assert parsed["hops"][0]["openflow"][0].startswith("cookie=0x89257307,")
        assert parsed["hops"][0]["actions"] == ["reg0[15] = check_in_port_sec();", "next;"]


def test_acl_drop_ingress_unlogged_acl_gives_the_flow_to_look_up():
    parsed = parse_ovn_trace(_read(*(LOCAL + ("acl_drop_ingress.detailed.txt",))))
    assert len(parsed["hops"]) == 9  # ingress 0,4,6,7,25 then egress 0,2,3,4
    assert [p["pipeline"] for p in parsed["path"]] == ["ingress", "egress"]
    drop = parsed["drop"]
    assert (drop["datapath"], drop["pipeline"], drop["table"], drop["stage"], drop["uuid"]) == (
        "backend-net", "egress", 4, "ls_out_acl", "404a3c71")
    assert drop["acl"]["name"] is None  # deny-ssh-ingress is not logged: the trace cannot name it
    assert drop["acl"]["direction"] == "to-lport"
    hints = acl_hints(parsed)
    assert hints["lflow_uuid_prefix"] == "404a3c71" and hints["pipeline"] == "egress"
    new = parse_ovn_trace(_read(*(LOCAL + ("acl_drop_ingress_ct_new.detailed.txt",))))
    assert new["drop"]["uuid"] == "614263ab" and new["drop"]["actions"] == ["drop;"]
    assert new["drop"]["match"] == "reg0[9] == 1 && (outport == @pg_web && ip4 && tcp.dst == 22)"


def test_routed_acl_drop_after_routing():
    parsed = parse_ovn_trace(_read(*(LOCAL + ("routed_acl_drop_to_lport.detailed.txt",))))
    assert [(p["datapath"], p["pipeline"]) for p in parsed["path"]] == [
        ("sw0", "ingress"), ("sw0", "egress"), ("lr0", "ingress"), ("lr0", "egress"),
        ("backend-net", "ingress"), ("backend-net", "egress")]
    assert parsed["drop"]["datapath"] == "backend-net" and parsed["drop"]["stage"] == "ls_out_acl"
    obs = ovn_observations(parsed, node="hv1")
    assert [o["action"] for o in obs] == ["Received", "Forwarded", "Forwarded", "Dropped"]
    assert "ls_out_acl" in obs[-1]["reason"] and "backend-net" in obs[-1]["reason"]
    assert all(o["component"] == "ovn" and o["source"] == "ovn-trace" and o["node"] == "hv1" for o in obs)


def test_acl_reject_tcp_reset_is_not_a_delivery():
    parsed = parse_ovn_trace(_read(*(LOCAL + ("acl_reject.detailed.txt",))))
    assert parsed["verdict"] == "rejected"
    assert parsed["outputs"] == []
    assert len(parsed["hops"]) == 17
    assert [h["generated"] for h in parsed["hops"]].count("tcp_reset") == 6
    gen = parsed["generated"]
    assert len(gen) == 1 and gen[0]["kind"] == "tcp_reset"
    assert gen[0]["outputs"] == [{"datapath": "backend-net", "port": "sw1-port2", "type": ""}]
    drop = parsed["drop"]
    assert (drop["stage"], drop["uuid"], drop["kind"]) == ("ls_out_acl", "4e849477", "reject")
    assert drop["acl"]["name"] == "reject-telnet" and drop["acl"]["verdict"] == "reject"
    assert ovn_observations(parsed)[-1]["action"] == "Rejected"
    for fmt in ("summary", "minimal"):
        other = parse_ovn_trace(_read(*(LOCAL + ("acl_reject.%s.txt" % fmt,))))
        assert other["drop"]["acl"]["name"] == "reject-telnet"
        assert other["generated"][0]["outputs"][0]["port"] == "sw1-port2"


def test_ttl_expired_icmp4_is_a_reply_not_a_delivery():
    parsed = parse_ovn_trace(_read(*(LOCAL + ("ttl_expired.detailed.txt",))))
    assert parsed["generated"][0]["kind"] == "icmp4"
    assert parsed["generated"][0]["outputs"] == [{"datapath": "sw0", "port": "sw0-port1", "type": ""}]
    assert parsed["drop"]["stage"] == "lr_in_ip_input" and parsed["drop"]["acl"] is None


def test_lb_vip_and_dnat_paths():
    lb = parse_ovn_trace(_read(*(LOCAL + ("lb_vip.detailed.txt",))))
    assert len(lb["hops"]) == 41
    assert lb["outputs"] == [{"datapath": "backend-net", "port": "sw1-port1", "type": ""}]
    assert [p["datapath"] for p in lb["path"]] == ["sw0", "sw0", "lr0", "lr0", "backend-net", "backend-net"]
    dnat = parse_ovn_trace(_read(*(LOCAL + ("dnat_from_external.detailed.txt",))))
    assert dnat["path"][0] == {"datapath": "public", "pipeline": "ingress", "inport": "public-ln",
                               "outport": None, "generated": None}
    assert len(dnat["hops"]) == 32
    assert dnat["outputs"] == [{"datapath": "backend-net", "port": "sw1-port1", "type": ""}]


def test_arp_and_multicast():
    known = parse_ovn_trace(_read(*(LOCAL + ("arp_known.detailed.txt",))))
    assert len(known["hops"]) == 8
    assert known["hops"][4]["stage"] == "ls_in_arp_rsp"
    flood = parse_ovn_trace(_read(*(LOCAL + ("arp_unknown_flood.detailed.txt",))))
    assert flood["outputs"] == [{"datapath": "sw0", "port": "a1b2c3", "type": ""},
                                {"datapath": "sw0", "port": "sw0-port2", "type": ""}]
    unresolved = parse_ovn_trace(_read(*(LOCAL + ("arp_request_unresolved.detailed.txt",))))
    assert unresolved["generated"][0]["kind"] == "arp"
    assert unresolved["generated"][0]["outputs"] == [{"datapath": "public", "port": "public-ln", "type": "localnet"}]
    assert unresolved["drop"]["kind"] == "arp_pending"


def test_no_route_portsec_unknown_mac():
    nr = parse_ovn_trace(_read(*(LOCAL + ("no_route.detailed.txt",))))
    assert len(nr["hops"]) == 19
    assert (nr["drop"]["datapath"], nr["drop"]["table"], nr["drop"]["uuid"], nr["drop"]["match"]) == (
        "lr0", 13, "7f9e69b6", "1")
    assert nr["drop"]["kind"] == "explicit" and nr["drop"]["acl"] is None
    ps = parse_ovn_trace(_read(*(LOCAL + ("portsec_mac_spoof.detailed.txt",))))
    assert len(ps["hops"]) == 2 and ps["drop"]["uuid"] == "63fdda61"
    assert ps["drop"]["match"] == "reg0[15] == 1"
    um = parse_ovn_trace(_read(*(LOCAL + ("unknown_dst_mac.detailed.txt",))))
    # the allow-egress ACL logged on the way does not make this an ACL drop
    assert um["drop"]["acl"] is None and um["drop"]["kind"] == "explicit"
    assert acl_hints(um) is None


def test_isolated_switch_with_ovs_no_openflow_flows_is_still_delivered():
    parsed = parse_ovn_trace(_read(*(LOCAL + ("isolated_sw2.detailed.ovs.txt",))))
    assert parsed["verdict"] == "delivered"
    assert parsed["errors"] == ["*** no OpenFlow flows"]
    assert len(parsed["hops"]) == 4
    assert parsed["hops"][1]["openflow"] == [] and len(parsed["hops"][0]["openflow"]) == 3


def test_errors_are_reported_as_errors():
    for name, line in (("error_unknown_port.txt", 'unknown port "nope"'),
                       ("error_unknown_datapath.txt", 'unknown datapath "nosuchdp"'),
                       ("error_parse.txt", "error parsing flow: Invalid numeric constant."),
                       ("error_no_inport.txt", "error parsing flow: flow match expression does not match on inport")):
        parsed = parse_ovn_trace(_read(*(LOCAL + (name,))))
        assert parsed["verdict"] == "error"
        assert parsed["errors"] == [line]
        assert parsed["flow"] is None and parsed["drop"] is None
        obs = ovn_observations(parsed)
        assert obs[-1]["action"] == "Dropped" and line in obs[-1]["reason"]


def test_ipv6_and_friendly_names():
    v6 = parse_ovn_trace(_read(*(LOCAL + ("ipv6_routed.detailed.txt",))))
    assert "ipv6_src=fd00::11" in v6["flow"]
    assert v6["outputs"] == [{"datapath": "backend-net", "port": "sw1-port2", "type": ""}]
    raw = parse_ovn_trace(_read(*(LOCAL + ("friendly_uuid_port.detailed.no-friendly-names.txt",))))
    assert raw["outputs"] == [{"datapath": "e9b4c698-b3b7-4237-a1d3-425d0d62c39a",
                               "port": "7e3c5a52-5f4f-4c2b-9d0e-3f1b2a9c8d11", "type": ""}]
    nice = parse_ovn_trace(_read(*(LOCAL + ("friendly_uuid_port.detailed.txt",))))
    assert nice["outputs"] == [{"datapath": "backend-net", "port": "web-vm3", "type": ""}]


def test_daemon_mode_output_parses_like_the_cli():
    cli = parse_ovn_trace(_read(*(LOCAL + ("routed_tcp.detailed.txt",))))
    daemon = parse_ovn_trace(_read(*(LOCAL + ("routed_tcp.detailed.daemon-appctl.txt",))))
    assert daemon == cli


def test_public_ovs27_switched():
    parsed = parse_ovn_trace(_read(*(PUBLIC + ("ovs2.7_openstack_tutorial_switched.detailed.txt",))))
    assert parsed["verdict"] == "delivered" and parsed["flow"] is None
    assert [(h["table"], h["stage"], h["source"], h["uuid"]) for h in parsed["hops"]] == [
        (0, "ls_in_port_sec_l2", "northd.c:3234", "6dcc418a"),
        (13, "ls_in_l2_lkup", "northd.c:3529", "57a4c46f"),
        (8, "ls_out_port_sec_l2", "northd.c:3654", "8aa6426d")]
    assert parsed["hops"][0]["match"] == 'inport == "ap" && eth.src == {fa:16:3e:a9:4c:c7}'
    assert parsed["outputs"] == [{"datapath": "n1", "port": "bp", "type": ""}]


def test_public_ovs27_routed_stanza_is_partial():
    """The document splits one trace in three: the first stanza ends at a patch port."""
    parsed = parse_ovn_trace(_read(*(PUBLIC + ("ovs2.7_openstack_tutorial_routed_part1_n1.detailed.txt",))))
    assert parsed["verdict"] == "partial"
    assert len(parsed["hops"]) == 8
    assert parsed["hops"][4]["stage"] == "ls_in_acl"
    assert parsed["hops"][4]["match"].startswith("!ct.new && ct.est && !ct.rpl && ct_label.blocked == 0")
    assert parsed["outputs"] == [] and parsed["drop"] is None


def test_public_main_minimal_without_flow_line():
    parsed = parse_ovn_trace(_read(*(PUBLIC + ("ovn-main_tests_lb_ct-new.minimal.txt",))))
    assert parsed["format"] == "minimal" and parsed["flow"] is None
    assert parsed["verdict"] == "delivered"
    assert parsed["outputs"] == [{"datapath": None, "port": "lsp2", "type": None}]

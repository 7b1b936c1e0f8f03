"""The microflow expression builder and ovn-trace argument checks (pure functions, no OVN needed).

Expected expressions are written by hand in ovn-trace's syntax (see ovn-trace(8) and the commands in
../shared/fixtures/ovn/ovn-23.03-local/commands.txt), not copied from the builder's output.
"""

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.microflow import (
    FlowError, build_microflow, check_ct, check_lb_dst, check_remote, ovn_trace_argv, tcp_flags_value)
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.northbound import (
    AclLookupError, acl_name_in, describe_acl, find_acl, ovsdb_rows, policy_of, verdict_hop)


def test_tcp_ipv4_full_flow_matches_the_fixture_command():
    # the exact expression of tcp_allowed_l2 in commands.txt
    expr = build_microflow(inport="sw0-port2", eth_src="50:54:00:00:00:02", eth_dst="50:54:00:00:00:01",
                           ip_src="10.0.0.12", ip_dst="10.0.0.11", ttl=64, protocol="tcp",
                           src_port=40000, dst_port=80)
    assert expr == ('inport == "sw0-port2" && eth.src == 50:54:00:00:00:02 && eth.dst == 50:54:00:00:00:01 && '
                    'ip4.src == 10.0.0.12 && ip4.dst == 10.0.0.11 && ip.ttl == 64 && tcp.src == 40000 && '
                    'tcp.dst == 80')


def test_macs_are_normalised_and_ttl_defaults_to_64():
    expr = build_microflow(inport="prod_pod1", eth_src="0A-58-0A-F4-00-05", ip_src="10.244.0.5",
                           ip_dst="10.244.1.7", protocol="udp", dst_port=53)
    assert expr == ('inport == "prod_pod1" && eth.src == 0a:58:0a:f4:00:05 && ip4.src == 10.244.0.5 && '
                    'ip4.dst == 10.244.1.7 && ip.ttl == 64 && udp.dst == 53')


def test_ipv6_is_chosen_from_the_addresses_and_compressed():
    expr = build_microflow(inport="p", ip_src="fd00:0:0:0::11", ip_dst="FD00:1::12", protocol="tcp", dst_port=443,
                           ttl=5)
    assert expr == 'inport == "p" && ip6.src == fd00::11 && ip6.dst == fd00:1::12 && ip.ttl == 5 && tcp.dst == 443'


def test_icmp_is_an_echo_request_in_either_family():
    assert build_microflow(inport="p", ip_dst="10.0.1.12", protocol="icmp") == \
        'inport == "p" && ip4.dst == 10.0.1.12 && ip.ttl == 64 && icmp4.type == 8 && icmp4.code == 0'
    assert build_microflow(inport="p", ip_dst="fd00::1", protocol="icmp") == \
        'inport == "p" && ip6.dst == fd00::1 && ip.ttl == 64 && icmp6.type == 128 && icmp6.code == 0'
    assert build_microflow(inport="p", protocol="icmp6") == \
        'inport == "p" && ip6 && ip.ttl == 64 && icmp6.type == 128 && icmp6.code == 0'


def test_protocol_without_addresses_names_the_family_and_the_protocol():
    assert build_microflow(inport="p", protocol="tcp") == 'inport == "p" && ip4 && ip.ttl == 64 && tcp'


def test_l2_only_flow_has_no_ip_terms():
    assert build_microflow(inport="p", eth_src="50:54:00:00:00:01", eth_dst="ff:ff:ff:ff:ff:ff") == \
        'inport == "p" && eth.src == 50:54:00:00:00:01 && eth.dst == ff:ff:ff:ff:ff:ff'


@pytest.mark.parametrize("flags,value", [(["syn"], 0x002), (["syn", "ack"], 0x012), ("fin,ack", 0x011),
                                         (["0x4"], 0x004), (18, 0x012)])
def test_tcp_flags(flags, value):
    assert tcp_flags_value(flags) == value


def test_tcp_flags_in_the_expression():
    assert build_microflow(inport="p", protocol="tcp", dst_port=80, tcp_flags=["syn"]).endswith(
        "tcp.dst == 80 && tcp.flags == 0x2")


def test_raw_microflow_is_kept_and_inport_prepended():
    assert build_microflow(microflow='inport == "a" && arp') == 'inport == "a" && arp'
    assert build_microflow(inport="a", microflow="eth.type == 0x806 || arp") == \
        'inport == "a" && (eth.type == 0x806 || arp)'


@pytest.mark.parametrize("kwargs,message", [
    (dict(inport='p" || 1 == 1 || inport == "q'), "not a valid OVN name"),
    (dict(inport="p && ip4"), "not a valid OVN name"),
    (dict(inport="--db=tcp:evil:1"), "not a valid OVN name"),
    (dict(inport="p\nq"), "not a valid OVN name"),
    (dict(inport="p", eth_src="50:54:00:00:00:01 || 1"), "not a MAC address"),
    (dict(inport="p", ip_src="10.0.0.1 || ip6"), "not an IPv4 or IPv6 address"),
    (dict(inport="p", ip_src="10.1"), "not an IPv4 or IPv6 address"),
    (dict(inport="p", ip_src="10.0.0.0/24"), "single address"),
    (dict(inport="p", ip_src="10.0.0.1", ip_dst="fd00::1"), "must both be IPv4 or both IPv6"),
    (dict(inport="p", protocol="icmp6", ip_dst="10.0.0.1"), "needs IPv6"),
    (dict(inport="p", protocol="sctp"), "not one of"),
    (dict(inport="p", dst_port=80), "need protocol tcp or udp"),
    (dict(inport="p", protocol="icmp", dst_port=80), "need protocol tcp or udp"),
    (dict(inport="p", protocol="tcp", dst_port=70000), "out of range"),
    (dict(inport="p", ttl=256), "out of range"),
    (dict(inport="p", protocol="udp", tcp_flags=["syn"]), "needs protocol tcp"),
    (dict(inport="p", protocol="tcp", tcp_flags=["bogus"]), "unknown flag"),
    (dict(inport="p", microflow="ip4", protocol="tcp"), "not both"),
    (dict(microflow="ip4\n--ovs"), "control character"),
    (dict(microflow="  "), "empty"),
    (dict(), "nothing to trace"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(FlowError, match=message):
        build_microflow(**kwargs)


def test_ct_states_and_lb_dst():
    assert check_ct(["new", "est,RPL"]) == ["new", "est,rpl"]
    with pytest.raises(FlowError, match="unknown flag"):
        check_ct(["new;rm"])
    assert check_lb_dst("10.0.1.12:8080") == "10.0.1.12:8080"
    assert check_lb_dst("[fd00::0012]:80") == "[fd00::12]:80"
    assert check_lb_dst("fd00::12") == "fd00::12"
    with pytest.raises(FlowError):
        check_lb_dst("10.0.1.12:99999")


def test_remotes():
    assert check_remote("unix:/run/ovn/ovnsb_db.sock", "db") == "unix:/run/ovn/ovnsb_db.sock"
    assert check_remote("ssl:10.0.0.1:6642,ssl:10.0.0.2:6642", "db")
    assert check_remote("tcp:[fd00::1]:6642", "db")
    for bad in ("/run/ovn/ovnsb_db.sock", "unix:/a b", "http://x", "tcp:a:1 --ovs"):
        with pytest.raises(FlowError, match="not a remote"):
            check_remote(bad, "db")


def test_argv_puts_every_option_before_the_end_of_options_marker():
    args = ovn_trace_argv(dict(db="unix:/r/sb.sock", format="summary", friendly_names=False, ct=["new", "new"],
                               lb_dst="10.0.1.12:8080", ovs=True, ovs_remote="unix:/r/br-int.mgmt",
                               datapath="sw0"), 'inport == "p"')
    assert args == ["--db=unix:/r/sb.sock", "--summary", "--no-friendly-names", "--ct=new", "--ct=new",
                    "--lb-dst=10.0.1.12:8080", "--ovs=unix:/r/br-int.mgmt", "--", "sw0", 'inport == "p"']


def test_ovs_remote_without_ovs_is_refused():
    with pytest.raises(FlowError, match="only used with ovs: true"):
        ovn_trace_argv(dict(ovs=False, ovs_remote="unix:/r/br-int.mgmt"), "ip4")


def test_ssl_remote_needs_the_three_files():
    with pytest.raises(FlowError, match="private_key, certificate, ca_cert"):
        ovn_trace_argv(dict(db="ssl:10.0.0.1:6642"), "ip4")
    args = ovn_trace_argv(dict(db="ssl:10.0.0.1:6642", private_key="/k.pem", certificate="/c.pem",
                               ca_cert="/ca.pem"), "ip4")
    assert args[:4] == ["--db=ssl:10.0.0.1:6642", "--private-key=/k.pem", "--certificate=/c.pem",
                        "--ca-cert=/ca.pem"]


def test_ovsdb_json_rows_decode_uuid_map_and_empty_optional():
    # shape of `ovn-nbctl --format=json list ACL` as printed by ovn-nbctl 23.03 on this machine
    text = ('{"data":[[["uuid","3545e567-56ab-48ef-9995-8bfb099ca55c"],"drop","to-lport",'
            '["map",[["k8s.ovn.org/name","deny-db"]]],0,false,"outport == @pg_db",["set",[]],"np-deny-db",'
            '["map",[]],1001,"warning"]],"headings":["_uuid","action","direction","external_ids","label","log",'
            '"match","meter","name","options","priority","severity"]}')
    (row,) = ovsdb_rows(text)
    assert row["_uuid"] == "3545e567-56ab-48ef-9995-8bfb099ca55c"
    assert row["external_ids"] == {"k8s.ovn.org/name": "deny-db"}
    assert row["meter"] is None and row["options"] == {} and row["priority"] == 1001 and row["log"] is False


def test_acl_name_and_verdict_hop_from_trace_actions():
    assert acl_name_in('log(name="deny-ssh-egress", verdict=drop, severity=warning);') == "deny-ssh-egress"
    assert acl_name_in("LOG: ACL name=reject-telnet, direction=OUT, verdict=reject") == "reject-telnet"
    hops = [{"stage": "ls_out_acl_hint", "actions": ["reg0[8] = 1;"]},
            {"stage": "ls_out_acl", "actions": ["ct_commit { ct_mark.blocked = 1; };"], "uuid": "404a3c71"}]
    assert verdict_hop({"verdict": "dropped", "hops": hops, "drop": None})["uuid"] == "404a3c71"
    # a port-security drop is not an ACL
    assert verdict_hop({"verdict": "dropped", "hops": [], "drop": {"stage": "ls_in_check_port_sec"}}) is None


class _Lookup(object):
    """Answers like ovn-sbctl/ovn-nbctl would for one ACL; raises for the SB when told to (database down)."""

    def __init__(self, sb_down=False):
        self.sb_down = sb_down
        self.acl = {"_uuid": "3545e567-56ab-48ef-9995-8bfb099ca55c", "name": "np-deny-db", "priority": 1001,
                    "direction": "to-lport", "match": "outport == @pg_db && ip4 && tcp.dst == 5432", "action": "drop",
                    "label": 0, "severity": None, "log": False, "meter": None, "options": {},
                    "external_ids": {"k8s.ovn.org/name": "deny-db", "k8s.ovn.org/namespace": "prod"}}

    def logical_flow(self, prefix):
        if self.sb_down:
            raise AclLookupError("ovn-sbctl: unix:/x: database connection failed")
        return {"_uuid": prefix + "-7532-4125-8f8f-c276d3805a50", "external_ids": {"stage-hint": "3545e567"}}

    def acl_by_uuid(self, prefix):
        return self.acl if self.acl["_uuid"].startswith(prefix) else None

    def acls_by_name(self, name):
        return [self.acl] if name == self.acl["name"] else []

    def applied_to(self, uuid):
        return {"port_groups": ["pg_db"], "switches": []}


def _parsed(name=None, uuid="3f1637db", verdict="dropped"):
    acl = {"name": name, "uuid": uuid, "stage": "ls_out_acl", "match": "outport == @pg_db && ip4 && tcp.dst == 5432"}
    return {"format": "detailed" if uuid else "summary", "verdict": verdict, "hops": [],
            "drop": {"stage": "ls_out_acl", "datapath": "sw1", "uuid": uuid, "acl": acl}}


def _hints(parsed):
    acl = parsed["drop"]["acl"]
    return {"lflow_uuid_prefix": acl["uuid"], "name": acl["name"], "match": acl["match"]}


def test_find_acl_through_the_stage_hint_then_by_name_when_the_southbound_is_down():
    acl, notes = find_acl(_parsed(), _Lookup(), acl_hints=_hints)
    assert (acl["name"], acl["found_by"], notes) == ("np-deny-db", "stage-hint", [])
    assert acl["port_groups"] == ["pg_db"] and acl["lflow_uuid"].startswith("3f1637db")
    # SB unreachable and the ACL not logged: no name to fall back on, and the notes say why
    acl, notes = find_acl(_parsed(), _Lookup(sb_down=True), acl_hints=_hints)
    assert acl is None and "database connection failed" in notes[0]
    # logged ACL: found by its name
    acl, notes = find_acl(_parsed(name="np-deny-db"), _Lookup(sb_down=True), acl_hints=_hints)
    assert acl["found_by"] == "log-name" and "database connection failed" in notes[0]


def test_policy_description_from_external_ids():
    assert describe_acl(dict(_Lookup().acl, uuid="x")) == \
        "ACL np-deny-db (to-lport, priority 1001, drop) from NetworkPolicy prod/deny-db"
    assert policy_of({"external_ids": {"neutron:security_group_rule_id": "5f1d"}}) == \
        "Neutron security group rule id 5f1d"
    assert policy_of({"external_ids": {}}) is None

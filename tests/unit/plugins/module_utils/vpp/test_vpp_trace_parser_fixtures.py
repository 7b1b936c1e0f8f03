"""parse_vpp_trace on every real ``show trace`` output in ../shared/fixtures/vpp/.

The expected values were written by reading each output (and commands.txt / SOURCES.md, which say what
each case does), not taken from the parser's result.
"""

import pytest

from conftest import shared_path

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import (
    parse_vpp_trace,
    timestamp_seconds,
)


def local(name):
    with open(shared_path("fixtures", "vpp", "vpp-26.06-local", name)) as handle:
        return handle.read()


def public(name):
    with open(shared_path("fixtures", "vpp", "public", name)) as handle:
        return handle.read()


def only_packet(parsed):
    assert parsed["summary"]["packets"] == 1
    return parsed["packets"][0]


# case: (fate, drop_node, drop_reason, output_interface, protocol, src, dst, sport, dport)
VPP26_SINGLE = {
    "trace_acl_deny_ssh.txt": ("dropped", "acl-plugin-in-ip4-fa", "ACL deny packets", None, "tcp", "10.10.1.2", "10.10.2.2", 33333, 22),
    "trace_acl_permit_reflect_http.txt": ("delivered", None, None, "pg1", "tcp", "10.10.1.2", "10.10.2.2", 33333, 80),
    "trace_egress_interface_down.txt": ("dropped", "null-node", "blackholed packets", None, "udp", "10.10.1.2", "10.10.2.2", 1000, 2000),
    "trace_icmp_echo_to_vpp.txt": ("local", None, None, "pg0", "icmp", "10.10.1.2", "10.10.1.1", None, None),
    "trace_ipv6_routed_delivered.txt": ("delivered", None, None, "pg1", "tcp", "fd00:1::2", "fd00:2::2", 33333, 80),
    "trace_l3_mac_mismatch_drop.txt": ("punted", "ethernet-input", "l3 mac mismatch", None, "tcp", "10.10.1.2", "10.10.2.2", 33333, 80),
    "trace_nat44_ed_in2out.txt": ("dropped", "nat44-ed-in2out-slowpath", "non-SYN packet try to create session", None,
                                  "tcp", "10.10.1.2", "10.10.2.2", 33333, 80),
    "trace_nat44_ed_in2out_syn_translated.txt": ("delivered", None, None, "pg1", "tcp", "10.10.1.2", "10.10.2.2", 33333, 80),
    "trace_no_route_drop.txt": ("dropped", "null-node", "blackholed packets", None, "tcp", "10.10.1.2", "192.168.99.1", 33333, 80),
    "trace_routed_glean_arp.txt": ("dropped", "ip4-glean", "ARP requests sent", None, "udp", "10.10.1.2", "10.10.2.99", 5000, 53),
    "trace_routed_tcp_delivered.txt": ("delivered", None, None, "pg1", "tcp", "10.10.1.2", "10.10.2.2", 33333, 80),
    "trace_ttl_expired_icmp_error.txt": ("dropped", "ip4-input", "ip4 ttl <= 1", "pg0", "udp", "10.10.1.2", "10.10.2.2", 33333, 33434),
    "trace_unknown_vlan_drop.txt": ("dropped", "ethernet-input", "unknown vlan", None, "udp", "10.10.1.2", "10.10.2.2", 1000, 2000),
    "trace_vxlan4_encap_from_bridge.txt": ("delivered", None, None, "pg1", "udp", "192.168.50.1", "192.168.50.2", 1000, 2000),
}


@pytest.mark.parametrize("name", sorted(VPP26_SINGLE))
def test_vpp26_single_packet_cases(name):
    fate, drop_node, reason, out_if, proto, src, dst, sport, dport = VPP26_SINGLE[name]
    parsed = parse_vpp_trace(local(name))
    packet = only_packet(parsed)
    assert (packet["thread"], packet["thread_name"], packet["index"]) == (0, "vpp_main", 1)
    assert packet["fate"] == fate
    assert packet["drop_node"] == drop_node
    assert packet["drop_reason"] == reason
    assert packet["output_interface"] == out_if
    flow = packet["flow"]
    assert (flow["protocol"], flow["src"], flow["dst"], flow["sport"], flow["dport"]) == (proto, src, dst, sport, dport)
    assert packet["nodes"][0]["node"] == "pg-input"
    assert packet["sw_if_index"] == (3 if "vxlan4" in name else 1)
    assert parsed["summary"]["by_fate"][fate] == 1
    assert parsed["limited"] is False
    assert parsed["timestamp_format"] == "relative"
    if fate in ("dropped", "punted"):
        # 26.06 prints error-drop/error-punt with rx:<interface>, then drop/punt with the reason.
        assert packet["rx_interface"] == "pg0"
        assert parsed["summary"]["drops_by_reason"] == {"%s: %s" % (drop_node, reason): 1}
        assert packet["path"][-2:] == (["error-punt", "punt"] if fate == "punted" else ["error-drop", "drop"]) \
            or name == "trace_ttl_expired_icmp_error.txt"


def test_acl_deny_path_and_details():
    packet = only_packet(parse_vpp_trace(local("trace_acl_deny_ssh.txt")))
    assert packet["path"] == ["pg-input", "ethernet-input", "ip4-input", "acl-plugin-in-ip4-fa", "error-drop", "drop"]
    assert packet["nodes"][0]["time"] == "00:00:02:944090"
    assert packet["nodes"][-1] == {"time": "00:00:02:944704", "node": "drop", "detail": "acl-plugin-in-ip4-fa: ACL deny packets"}
    assert packet["nodes"][3]["detail"].startswith("acl-plugin: lc_index: 0, sw_if_index 1, next index 0, action: 0, match: acl 0 rule 0")
    assert packet["flow"]["src_mac"] == "02:00:00:00:01:02"
    assert packet["flow"]["dst_mac"] == "02:fe:e2:86:26:e4"
    assert packet["flow"]["ethertype"] == "IP4"
    # whitespace-only lines inside the entry are not part of the detail
    assert all(line.strip() for rec in packet["nodes"] for line in rec["detail"].split("\n") if rec["detail"])


def test_ttl_expired_holds_drop_and_icmp_error_output():
    packet = only_packet(parse_vpp_trace(local("trace_ttl_expired_icmp_error.txt")))
    assert packet["icmp_error_sent"] is True
    assert packet["output_interfaces"] == ["pg0"]
    assert "ip4-icmp-error" in packet["path"]
    # the drop record comes between pg0-output and pg0-tx in this trace
    assert packet["path"][-3:] == ["pg0-output", "drop", "pg0-tx"]
    icmp = [f for f in packet["flows"] if f["protocol"] == "icmp"]
    assert icmp and (icmp[0]["src"], icmp[0]["dst"], icmp[0]["icmp_type"]) == ("10.10.1.1", "10.10.1.2", "time_exceeded")


def test_icmp_echo_answered_by_vpp_is_local():
    packet = only_packet(parse_vpp_trace(local("trace_icmp_echo_to_vpp.txt")))
    assert "ip4-receive" in packet["path"]
    assert packet["flow"]["icmp_type"] == "echo_request"
    reply = [f for f in packet["flows"] if f["icmp_type"] == "echo_reply"]
    assert reply and (reply[0]["src"], reply[0]["dst"]) == ("10.10.1.1", "10.10.1.2")


def test_nat44_translation_seen_in_flows():
    packet = only_packet(parse_vpp_trace(local("trace_nat44_ed_in2out_syn_translated.txt")))
    assert packet["flow"]["tcp_flags"] == "SYN"
    assert ("10.10.2.1", "10.10.2.2", 33333, 80) in [(f["src"], f["dst"], f["sport"], f["dport"]) for f in packet["flows"]]


def test_vxlan_outer_header_in_flows():
    packet = only_packet(parse_vpp_trace(local("trace_vxlan4_encap_from_bridge.txt")))
    outer = [f for f in packet["flows"] if f["dport"] == 4789]
    assert outer and (outer[0]["src"], outer[0]["dst"], outer[0]["sport"]) == ("10.10.2.1", "10.10.2.2", 36344)
    assert packet["path"][2:8] == ["l2-input", "l2-learn", "l2-fwd", "l2-flood", "l2-output", "vxlan4-encap"]


def test_unknown_vlan_tag_read():
    packet = only_packet(parse_vpp_trace(local("trace_unknown_vlan_drop.txt")))
    assert packet["flow"]["vlan"] == 100


def test_ipv6():
    packet = only_packet(parse_vpp_trace(local("trace_ipv6_routed_delivered.txt")))
    assert packet["flow"]["ip_version"] == 6
    assert packet["flow"]["ethertype"] == "IP6"
    assert packet["path"] == ["pg-input", "ethernet-input", "ip6-input", "ip6-lookup", "ip6-rewrite", "pg1-output", "pg1-tx"]


def test_empty_trace():
    parsed = parse_vpp_trace(local("trace_empty.txt"))
    assert parsed["packets"] == []
    assert parsed["threads"] == [{"thread": 0, "name": "vpp_main", "packets": 0, "no_packets": True}]
    assert parsed["summary"]["packets"] == 0


def test_limiting_before_and_after():
    parsed = parse_vpp_trace(local("trace_max2_limiting.txt"))
    assert parsed["limited"] is True
    assert parsed["limit"] == 2
    assert [p["index"] for p in parsed["packets"]] == [1, 2]
    assert [p["fate"] for p in parsed["packets"]] == ["delivered", "delivered"]
    assert parsed["ignored_lines"] == 0


def test_multi_packet():
    parsed = parse_vpp_trace(local("trace_multi_packet_max.txt"))
    assert [p["index"] for p in parsed["packets"]] == [1, 2, 3]
    assert parsed["summary"]["by_fate"]["delivered"] == 3
    assert parsed["limited"] is False
    assert all(len(p["nodes"]) == 7 for p in parsed["packets"])


def test_unix_and_datetime_timestamps():
    unix = parse_vpp_trace(local("trace_timestamp_unix.txt"))
    dt = parse_vpp_trace(local("trace_timestamp_datetime.txt"))
    assert unix["timestamp_format"] == "unix"
    assert dt["timestamp_format"] == "datetime"
    assert unix["packets"][0]["nodes"][0]["time"] == "1795346881.719683"
    assert dt["packets"][2]["nodes"][0]["time"] == "2026-11-22T11:28:01.719682"
    # the same VPP run printed both ways: the datetime is UTC and agrees with the unix time to a microsecond
    assert abs(timestamp_seconds(dt["packets"][0]["nodes"][0]["time"]) - 1795346881.719683) < 2e-6
    for parsed in (unix, dt):
        assert parsed["summary"]["packets"] == 3
        assert [p["fate"] for p in parsed["packets"]] == ["delivered"] * 3
        assert [p["output_interface"] for p in parsed["packets"]] == ["pg1"] * 3


def test_v18_af_packet_detail_without_indentation():
    parsed = parse_vpp_trace(public("trace_v18_af-packet_icmp-to-vpp_delivered.txt"))
    packet = only_packet(parsed)
    assert packet["path"] == ["af-packet-input", "ethernet-input", "ip4-input", "ip4-lookup", "ip4-local", "ip4-icmp-input",
                              "ip4-icmp-echo-request", "ip4-load-balance", "ip4-rewrite", "host-vpp1out-output"]
    # the echo request reached VPP's stack and VPP answered: local, the reply left on host-vpp1out
    assert packet["fate"] == "local"
    assert packet["output_interface"] == "host-vpp1out"
    assert (packet["flow"]["src"], packet["flow"]["dst"], packet["flow"]["icmp_type"]) == ("10.10.1.1", "10.10.1.2", "echo_request")
    rewrite = packet["nodes"][8]["detail"].split("\n")
    assert len(rewrite) == 3 and rewrite[1].startswith("00000000: e20f1e59ecf7")
    assert parsed["ignored_lines"] == 0


def test_v18_contiv_excerpt_without_headers():
    parsed = parse_vpp_trace(public("trace_v18_contiv_pod-to-service-same-node_acl_nat44-lb_virtio_tap.txt"))
    packet = only_packet(parsed)
    assert packet["index"] is None
    assert packet["thread"] == 0 and packet["thread_name"] is None
    assert packet["path"][0] == "virtio-input" and packet["path"][-1] == "tap4-output"
    assert packet["path"] == ["virtio-input", "ethernet-input", "ip4-input", "acl-plugin-in-ip4-fa", "nat44-out2in", "ip4-lookup",
                              "ip4-rewrite", "acl-plugin-out-ip4-fa", "tap4-output"]
    assert packet["fate"] == "delivered"
    assert packet["output_interface"] == "tap4"
    # the service VIP before DNAT, the pod after
    assert [(f["dst"], f["dport"]) for f in packet["flows"]] == [("10.104.221.85", 80), ("10.1.1.5", 8080)]


def test_v18_contiv_bvi_vxlan_dpdk():
    packet = only_packet(parse_vpp_trace(public("trace_v18_contiv_tapcli_nat44-out2in_vxlan4-encap_dpdk-tx.txt")))
    assert packet["index"] == 33
    assert len(packet["nodes"]) == 16
    assert packet["rx_interface"] == "tapcli-2"
    assert packet["fate"] == "delivered"
    # loop0-output is a BVI on the way into the bridge, not the exit
    assert packet["output_interfaces"] == ["loop0", "GigabitEthernet0/8/0"]
    assert packet["output_interface"] == "GigabitEthernet0/8/0"
    assert (packet["flow"]["sport"], packet["flow"]["dport"], packet["flow"]["tcp_flags"]) == (80, 58430, "FIN ACK")


def test_v19_multithread_handoff_new_drop_format():
    parsed = parse_vpp_trace(public("trace_v19_multithread_handoff_no-packets_error-drop-new-format.txt"))
    assert parsed["threads"] == [
        {"thread": 0, "name": "vpp_main", "packets": 0, "no_packets": True},
        {"thread": 1, "name": "vpp_wk_0", "packets": 5, "no_packets": False},
        {"thread": 2, "name": "vpp_wk_1", "packets": 5, "no_packets": False},
    ]
    wk0 = [p for p in parsed["packets"] if p["thread"] == 1]
    wk1 = [p for p in parsed["packets"] if p["thread"] == 2]
    assert [p["index"] for p in wk0] == [1, 2, 3, 4, 5]
    # worker 0 hands the packets over: its traces end at handoffdemo-1
    assert all(p["path"] == ["pg-input", "handoffdemo-1"] and p["fate"] == "truncated" and p["handed_off"] for p in wk0)
    assert not any(p["handed_off"] for p in wk1)
    assert all(p["fate"] == "dropped" and p["drop_node"] == "handoffdemo-2" and p["drop_reason"] == "completed packets"
               and p["rx_interface"] == "local0" for p in wk1)
    assert [p["handoff_from"] for p in wk1] == [{"thread": 1, "trace_index": i} for i in range(5)]
    assert parsed["summary"]["by_fate"] == {"delivered": 0, "dropped": 5, "punted": 0, "local": 0, "truncated": 5}
    assert parsed["summary"]["drops_by_reason"] == {"handoffdemo-2: completed packets": 5}


def test_seed_trace_copied_without_any_indentation():
    """The seed document (003) shows a trace whose detail lines all lost their indentation."""
    import glob
    import os
    seeds = glob.glob(os.path.join(shared_path("seeds"), "003_*"))
    if not seeds:
        pytest.skip("seed 003 is not in ../shared/seeds")
    with open(seeds[0]) as handle:
        text = handle.read()
    excerpt = text[text.index("Packet 33"):text.index("In the captured packet")]
    packet = only_packet(parse_vpp_trace(excerpt))
    assert packet["index"] == 33
    assert len(packet["nodes"]) == 16
    assert packet["fate"] == "delivered"
    assert packet["output_interface"] == "GigabitEthernet0/8/0"
    assert packet["nodes"][-1]["detail"].startswith("GigabitEthernet0/8/0 tx queue 0\nbuffer 0xfa7f")


@pytest.mark.parametrize("case", ["acl_deny_ssh", "egress_interface_down", "l3_mac_mismatch_drop", "no_route_drop",
                                  "routed_glean_arp", "ttl_expired_icmp_error", "unknown_vlan_drop", "nat44_ed_in2out"])
def test_trace_drop_reason_agrees_with_show_errors(case):
    """The reason a trace gives for a drop is a counter of 'show errors' taken after the same case."""
    from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import parse_vpp_errors
    packet = only_packet(parse_vpp_trace(local("trace_%s.txt" % case)))
    rows = parse_vpp_errors(local("errors_%s.txt" % case))
    # show errors cuts reasons at 35 characters (nat44: "...create sessio")
    assert any(r["node"] == packet["drop_node"] and packet["drop_reason"].startswith(r["reason"]) and r["count"] == 1
               for r in rows)

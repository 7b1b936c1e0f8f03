"""parse_vpp_trace and vpp_observations on hand-written traces: old formats, odd copies, malformed input.

The traces follow the print formats of vlib/trace.c (VPP 17.01 to 26.x): thread header, ``Packet N``,
``<time>: <node>`` then two-space-indented detail. Each case changes one thing a real copy can show.
"""

import random

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import (
    VppParseError,
    check_flow_filter,
    filter_packets,
    parse_vpp_trace,
    select_packets,
    timestamp_seconds,
    vpp_drop_point,
    vpp_observations,
)

THREAD0 = "------------------- Start of thread 0 vpp_main -------------------\n"

# VPP 17.x/18.x: error-drop carries "<node>: <reason>" itself, there is no "drop" record.
OLD_DROP = THREAD0 + """Packet 1

00:01:02:000100: dpdk-input
  GigabitEthernet0/8/0 rx queue 0
  buffer 0x1234: current data 0, length 60, free-list 0, clone-count 0, totlen-nifb 0, trace 0x0
  PKT MBUF: port 0, nb_segs 1, pkt_len 60
  IP4: 08:00:27:b2:61:09 -> 08:00:27:33:fb:6f
  UDP: 192.168.16.1 -> 192.168.16.2
    tos 0x00, ttl 1, length 46, checksum 0x1234
    fragment id 0x0000
  UDP: 5000 -> 6000
    length 26, checksum 0x0000
00:01:02:000120: ethernet-input
  IP4: 08:00:27:b2:61:09 -> 08:00:27:33:fb:6f
00:01:02:000130: ip4-input
  UDP: 192.168.16.1 -> 192.168.16.2
    tos 0x00, ttl 1, length 46, checksum 0x1234
    fragment id 0x0000
  UDP: 5000 -> 6000
    length 26, checksum 0x0000
00:01:02:000140: error-drop
  ip4-input: ip4 ttl <= 1

"""

OLD_PUNT = THREAD0 + """Packet 1

00:00:10:000001: af-packet-input
  af_packet: hw_if_index 1 next-index 4
00:00:10:000002: ethernet-input
  IP4: e2:0f:1e:59:ec:f7 -> 02:fe:d9:75:d5:b4
00:00:10:000003: ip4-input
  UDP: 10.10.1.1 -> 10.10.1.2
    tos 0x00, ttl 64, length 84, checksum 0x3f7c
  UDP: 4000 -> 9999
00:00:10:000004: ip4-local
  UDP: 10.10.1.1 -> 10.10.1.2
00:00:10:000005: ip4-udp-lookup
  UDP: src-port 4000 dst-port 9999 (no listener)
00:00:10:000006: error-punt
  ip4-udp-lookup: no listener for dst port
"""


def test_old_drop_format():
    parsed = parse_vpp_trace(OLD_DROP)
    packet = parsed["packets"][0]
    assert packet["fate"] == "dropped"
    assert (packet["drop_node"], packet["drop_reason"]) == ("ip4-input", "ip4 ttl <= 1")
    assert packet["rx_interface"] == "GigabitEthernet0/8/0"
    assert (packet["flow"]["src"], packet["flow"]["sport"], packet["flow"]["dport"]) == ("192.168.16.1", 5000, 6000)
    assert parsed["summary"]["drops_by_reason"] == {"ip4-input: ip4 ttl <= 1": 1}


def test_old_punt_format():
    packet = parse_vpp_trace(OLD_PUNT)["packets"][0]
    assert packet["fate"] == "punted"
    assert (packet["drop_node"], packet["drop_reason"]) == ("ip4-udp-lookup", "no listener for dst port")


def test_crlf_and_whitespace_only_lines_and_lost_indentation():
    text = OLD_DROP.replace("    fragment id 0x0000\n", "fragment id 0x0000\n   \t \n").replace("\n", "\r\n")
    packet = parse_vpp_trace(text)["packets"][0]
    assert packet["path"] == ["dpdk-input", "ethernet-input", "ip4-input", "error-drop"]
    assert packet["fate"] == "dropped"
    assert "fragment id 0x0000" in packet["nodes"][2]["detail"]
    assert "\r" not in packet["nodes"][2]["detail"]


def test_excerpt_of_several_packets_without_headers_and_prompt():
    body = OLD_DROP.split("Packet 1\n\n", 1)[1]
    text = "vpp# show trace\n...\n" + body + body.replace("00:01:02", "00:01:03")
    parsed = parse_vpp_trace(text)
    assert parsed["summary"]["packets"] == 2
    assert [p["index"] for p in parsed["packets"]] == [None, None]
    assert [p["nodes"][0]["time"] for p in parsed["packets"]] == ["00:01:02:000100", "00:01:03:000100"]
    assert parsed["ignored_lines"] == 1  # the prompt; "..." is an elision, not noise


def test_limiting_line_glued_to_next_thread_header():
    one = OLD_DROP.split(THREAD0, 1)[1].rstrip("\n")
    text = ("Limiting display to 1 packets. To display more specify max.\n" + THREAD0 + one + "\n\n"
            + "Limiting display to 1 packets. To display more specify max."
            + "------------------- Start of thread 1 vpp_wk_0 -------------------\n"
            + one.replace("Packet 1", "Packet 1") + "\n\n"
            + "Limiting display to 1 packets. To display more specify max.")
    parsed = parse_vpp_trace(text)
    assert parsed["limited"] is True and parsed["limit"] == 1
    assert [(t["thread"], t["name"], t["packets"]) for t in parsed["threads"]] == [(0, "vpp_main", 1), (1, "vpp_wk_0", 1)]
    assert [p["thread"] for p in parsed["packets"]] == [0, 1]
    assert parsed["ignored_lines"] == 0


def test_tracepath_thread_header_and_indented_block():
    """'show trace path N' (tracepath plugin) heads threads with '--- Thread N name ---'; documents indent it."""
    body = OLD_DROP.split(THREAD0, 1)[1]
    text = ("==================== Path [0] ====================\n"
            "Path: dpdk-input -> ethernet-input -> ip4-input -> error-drop\n"
            "Threads: [1]  Count: 1\n\n--- Thread 1 vpp_wk_0 ---\n" + body)
    text = "\n".join("   " + line for line in text.split("\n"))
    parsed = parse_vpp_trace(text)
    assert [(t["thread"], t["name"], t["packets"]) for t in parsed["threads"]] == [(1, "vpp_wk_0", 1)]
    packet = parsed["packets"][0]
    assert (packet["fate"], packet["drop_reason"], packet["thread"]) == ("dropped", "ip4 ttl <= 1", 1)
    assert parsed["ignored_lines"] == 3


def test_thread_header_cut_short_in_a_copy():
    text = "------------------- Start of thread 2 vpp_wk_1\n" + OLD_DROP.split(THREAD0, 1)[1]
    parsed = parse_vpp_trace(text)
    assert [(t["thread"], t["name"], t["packets"]) for t in parsed["threads"]] == [(2, "vpp_wk_1", 1)]


def test_node_names_with_digits_slashes_dots_and_plugins():
    text = THREAD0 + """Packet 7

01:00:00:000001: VirtualFunctionEthernet0/6/0.100-input
  VirtualFunctionEthernet0/6/0.100 rx queue 0
01:00:00:000002: acl-plugin-in-ip6-fa
  acl-plugin: lc_index: 1, sw_if_index 5, next index 1, action: 1, match: acl 2 rule 3 trace_bits 00000000
01:00:00:000003: ip6-lookup
  fib 2 dpo-idx 7 flow hash: 0x00000000
  UDP: 2001:db8::1 -> 2001:db8:1::5
    tos 0x00, flow label 0x0, hop limit 64, payload length 20
  UDP: 53 -> 40000
01:00:00:000004: memif1/0-output
  memif1/0
01:00:00:000005: memif1/0-tx
  memif1/0 tx queue 0
"""
    packet = parse_vpp_trace(text)["packets"][0]
    assert packet["index"] == 7
    assert packet["path"][0] == "VirtualFunctionEthernet0/6/0.100-input"
    assert packet["fate"] == "delivered"
    assert packet["output_interface"] == "memif1/0"
    assert packet["sw_if_index"] == 5
    assert (packet["flow"]["ip_version"], packet["flow"]["src"], packet["flow"]["dport"]) == (6, "2001:db8::1", 40000)


def test_interface_output_then_tx():
    text = THREAD0 + """Packet 1

00:00:01:000001: pg-input
  stream s0, 60 bytes, sw_if_index 1, next_node ethernet-input
00:00:01:000002: l2-input
  l2-input: sw_if_index 1 dst ff:ff:ff:ff:ff:ff src 02:00:00:00:00:01
00:00:01:000003: interface-output
  host-eth1 flags 0x00180005
00:00:01:000004: host-eth1-tx
  af_packet: hw_if_index 2 tx-queue 0
"""
    packet = parse_vpp_trace(text)["packets"][0]
    assert packet["fate"] == "delivered"
    assert packet["output_interface"] == "host-eth1"


def test_tunnel_adjacency_tx_is_not_an_interface():
    text = THREAD0 + """Packet 1

00:00:01:000001: dpdk-input
  GigabitEthernet0/8/0 rx queue 0
00:00:01:000002: ip4-lookup
  fib 0 dpo-idx 9 flow hash: 0x00000000
00:00:01:000003: adj-midchain-tx
  adj-midchain:[9]:ipv4 via 0.0.0.0 ipip0: mtu:9000 next:3
00:00:01:000004: ip4-rewrite
  tx_sw_if_index 1 dpo-idx 4 : ipv4 via 192.168.16.1 GigabitEthernet0/8/0: mtu:9000
00:00:01:000005: GigabitEthernet0/8/0-output
  GigabitEthernet0/8/0
00:00:01:000006: GigabitEthernet0/8/0-tx
  GigabitEthernet0/8/0 tx queue 0
"""
    packet = parse_vpp_trace(text)["packets"][0]
    assert packet["fate"] == "delivered"
    assert packet["output_interfaces"] == ["GigabitEthernet0/8/0"]
    assert packet["rx_interface"] == "GigabitEthernet0/8/0"


def test_arp_request_answered_by_vpp():
    text = THREAD0 + """Packet 1

00:00:01:000001: af-packet-input
  af_packet: hw_if_index 1 next-index 4
00:00:01:000002: ethernet-input
  ARP: e2:0f:1e:59:ec:f7 -> ff:ff:ff:ff:ff:ff
00:00:01:000003: arp-input
  request, type ethernet/IP4, address size 6/4
  e2:0f:1e:59:ec:f7/10.10.1.1 -> 00:00:00:00:00:00/10.10.1.2
00:00:01:000004: arp-reply
  request, type ethernet/IP4, address size 6/4
  e2:0f:1e:59:ec:f7/10.10.1.1 -> 00:00:00:00:00:00/10.10.1.2
00:00:01:000005: host-vpp1out-output
  host-vpp1out
  ARP: 02:fe:d9:75:d5:b4 -> e2:0f:1e:59:ec:f7
  reply, type ethernet/IP4, address size 6/4
  02:fe:d9:75:d5:b4/10.10.1.2 -> e2:0f:1e:59:ec:f7/10.10.1.1
"""
    parsed = parse_vpp_trace(text)
    packet = parsed["packets"][0]
    assert packet["fate"] == "local"
    assert packet["output_interface"] == "host-vpp1out"
    assert (packet["flow"]["protocol"], packet["flow"]["src"], packet["flow"]["dst"], packet["flow"]["ethertype"]) == \
        ("arp", "10.10.1.1", "10.10.1.2", "ARP")
    assert len(filter_packets(parsed, {"protocol": "arp", "address": "10.10.1.2"})) == 1


def test_bvi_output_then_nothing_is_truncated():
    text = THREAD0 + """Packet 1

00:00:01:000001: tapcli-rx
  tapcli-0
00:00:01:000002: loop0-output
  loop0
00:00:01:000003: l2-input
  l2-input: sw_if_index 3 dst 1a:2b:3c:4d:5e:01 src 1a:2b:3c:4d:5e:02
"""
    packet = parse_vpp_trace(text)["packets"][0]
    assert packet["fate"] == "truncated"
    assert packet["rx_interface"] == "tapcli-0"
    assert packet["output_interfaces"] == ["loop0"]


def test_tcp_to_vpp_host_stack_is_local():
    text = THREAD0 + """Packet 1

00:00:01:000001: virtio-input
  virtio: hw_if_index 1 next-index 4 vring 0 len 74
00:00:01:000002: ip4-input
  TCP: 10.0.0.1 -> 10.0.0.2
  TCP: 40000 -> 179
00:00:01:000003: ip4-local
  TCP: 10.0.0.1 -> 10.0.0.2
00:00:01:000004: tcp4-listen
  [0|0][T] 10.0.0.2:179->10.0.0.1:40000 state LISTEN
"""
    packet = parse_vpp_trace(text)["packets"][0]
    assert packet["fate"] == "local"
    assert (packet["flow"]["dport"], packet["flow"]["protocol"]) == (179, "tcp")


def test_drop_without_reason_and_packet_header_without_nodes():
    text = THREAD0 + """Packet 1

00:00:01:000001: pg-input
  stream s0, 60 bytes, sw_if_index 1, next_node ethernet-input
00:00:01:000002: ip4-drop
    fib:0 adj:0 flow:0x00000000

Packet 2
"""
    parsed = parse_vpp_trace(text)
    first, second = parsed["packets"]
    assert (first["fate"], first["drop_node"], first["drop_reason"]) == ("dropped", "ip4-drop", None)
    assert (second["fate"], second["nodes"]) == ("truncated", [])
    assert parsed["summary"]["drops_by_reason"] == {"ip4-drop: (no reason shown)": 1}


def test_new_format_drop_cut_before_the_reason():
    text = THREAD0 + """Packet 1

00:00:01:000001: pg-input
  stream s0, 60 bytes, sw_if_index 1, next_node ethernet-input
00:00:01:000002: acl-plugin-in-ip4-fa
  acl-plugin: lc_index: 0, sw_if_index 1, next index 0, action: 0, match: acl 0 rule 0 trace_bits 00000000
00:00:01:000003: error-drop
  rx:pg0
"""
    packet = parse_vpp_trace(text)["packets"][0]
    assert (packet["fate"], packet["drop_node"], packet["drop_reason"], packet["rx_interface"]) == \
        ("dropped", "acl-plugin-in-ip4-fa", None, "pg0")


def test_timestamp_seconds():
    assert timestamp_seconds("01:02:03:000004") == pytest.approx(3723.000004)
    assert timestamp_seconds("1795346881.719683") == pytest.approx(1795346881.719683)
    assert timestamp_seconds("1970-01-01T00:00:10.500000") == pytest.approx(10.5)
    assert timestamp_seconds("not a time") is None


@pytest.mark.parametrize("bad", [None, 42, ["show trace"], {"text": "x"}])
def test_not_a_string_is_a_clear_error(bad):
    with pytest.raises(VppParseError, match="must be a string"):
        parse_vpp_trace(bad)


def test_other_text_is_a_clear_error():
    with pytest.raises(VppParseError, match="not VPP 'show trace' output.*first line: .show trace: unknown input"):
        parse_vpp_trace("show trace: unknown input `foo'\n")


def test_empty_text_is_empty_result():
    parsed = parse_vpp_trace("")
    assert parsed["packets"] == [] and parsed["summary"]["packets"] == 0
    assert parse_vpp_trace(b"")["packets"] == []


def test_mangled_input_never_raises_anything_but_a_parse_error():
    """Shuffled, cut and duplicated lines of a real-format trace: a result or VppParseError, nothing else."""
    lines = (OLD_DROP + OLD_PUNT).split("\n")
    rng = random.Random(1234)
    for _round in range(300):
        sample = [rng.choice(lines)[: rng.randint(0, 80)] for _i in range(rng.randint(0, 40))]
        try:
            parsed = parse_vpp_trace("\n".join(sample))
        except VppParseError:
            continue
        assert parsed["summary"]["packets"] == len(parsed["packets"])


def test_pathological_long_lines_are_handled():
    """Long runs of dashes, quotes or spaces must not make the regexes backtrack for ages (no hang)."""
    from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import (
        parse_vpp_errors, parse_vpp_interfaces, parse_vpp_runtime)
    junk = ["Limiting " + "-" * 200000, "--- Thread 1 " + "-" * 200000 + "x", '"' + "a " * 100000,
            "1 node " + " " * 200000 + "x", "a" * 200000 + " active 1 2 3 4.0 5.0"]
    text = OLD_DROP + "\n".join(junk)
    assert parse_vpp_trace(text)["summary"]["packets"] == 1
    for parser in (parse_vpp_errors, parse_vpp_runtime, parse_vpp_interfaces):
        with pytest.raises(VppParseError):
            parser("\n".join(junk))


# ----------------------------------------------------------------------------------- filters, observations

def test_flow_filter_keys_and_errors():
    parsed = parse_vpp_trace(OLD_DROP + OLD_PUNT.replace(THREAD0, ""))
    assert len(filter_packets(parsed, {"dst": "192.168.16.0/24"})) == 1
    assert len(filter_packets(parsed, {"address": "10.10.1.1", "protocol": "UDP", "port": 9999})) == 1
    assert len(filter_packets(parsed, {"dport": "6000"})) == 1
    assert len(filter_packets(parsed, {"protocol": "tcp"})) == 0
    assert len(filter_packets(parsed, None)) == 2
    selected = select_packets(parsed, {"sport": 4000})
    assert selected["summary"]["packets"] == 1 and selected["summary"]["total_packets"] == 2
    assert selected["summary"]["by_fate"]["punted"] == 1
    with pytest.raises(VppParseError, match="unknown flow_filter key 'dest'"):
        check_flow_filter({"dest": "1.2.3.4"})
    with pytest.raises(VppParseError, match="port number"):
        check_flow_filter({"port": "http"})
    with pytest.raises(VppParseError, match="IP address or CIDR"):
        check_flow_filter({"src": "10.0.0.300"})
    with pytest.raises(VppParseError, match="must be a dict"):
        check_flow_filter("10.0.0.1")


def test_observations_for_a_drop():
    obs = vpp_observations(parse_vpp_trace(OLD_DROP), node="worker-1")
    assert [o["action"] for o in obs] == ["Received", "Forwarded", "Forwarded", "Dropped"]
    assert [o["graph_node"] for o in obs] == ["dpdk-input", "ethernet-input", "ip4-input", "ip4-input"]
    last = obs[-1]
    assert last["reason"] == "ip4-input: ip4 ttl <= 1"
    assert (last["node"], last["netns"], last["endpoint"], last["component"], last["source"]) == \
        ("worker-1", None, None, "vpp", "vpp-trace")
    assert last["vpp_time"] == "00:01:02:000140" and last["uptime"] == pytest.approx(62.00014)
    # relative timestamps are not epoch times: none without the offset of VPP's clock
    assert last["time"] is None and last["time_base"] == "uptime"
    shifted = vpp_observations(parse_vpp_trace(OLD_DROP), time_offset=1700000000)
    assert shifted[-1]["time"] == pytest.approx(1700000062.00014)
    with pytest.raises(VppParseError, match="time_offset must be a number"):
        vpp_observations(parse_vpp_trace(OLD_DROP), time_offset="yesterday")


def test_drop_point():
    parsed = parse_vpp_trace(OLD_PUNT + OLD_DROP.replace(THREAD0, ""))
    point = vpp_drop_point(parsed, node="n1")
    assert point["reason"] == "ip4-udp-lookup: no listener for dst port"
    assert (point["node"], point["netns"], point["endpoint"], point["component"]) == ("n1", None, None, "vpp")
    assert point["detail"]["fate"] == "punted" and point["detail"]["graph_node"] == "ip4-udp-lookup"
    assert vpp_drop_point(parsed, flow_filter={"dport": 6000})["reason"] == "ip4-input: ip4 ttl <= 1"
    assert vpp_drop_point(parsed, flow_filter={"dport": 1}) is None


def test_observations_filtered_out():
    assert vpp_observations(parse_vpp_trace(OLD_DROP), flow_filter={"dst": "10.9.9.9"}) == []


def test_observations_need_a_parsed_trace():
    with pytest.raises(VppParseError, match="result of parse_vpp_trace"):
        vpp_observations("Packet 1")

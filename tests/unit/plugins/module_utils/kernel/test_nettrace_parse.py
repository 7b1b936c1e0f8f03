"""parse_nettrace: Retina's seed samples (expected values read off the seed by hand), the module's own table,
bad lines, and the filter wrapper."""

import re

import pytest

from conftest import run_module, shared_path

from ansible.errors import AnsibleFilterError
from ansible_collections.netdiag.tracekit.plugins.filter.parse_nettrace import FilterModule
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace import format_table
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_parse import (
    EVENT_KEYS, NettraceParseError, parse)

parse_nettrace = FilterModule().filters()["parse_nettrace"]


def seed_blocks():
    with open(shared_path("seeds", "002_cd6dabe0074f4b1a.txt")) as handle:
        return re.findall(r"```(text|json)\n(.*?)```", handle.read(), re.S)


def test_retina_table_seed():
    text = seed_blocks()[0][1]
    result = parse(text)
    assert result["format"] == "table" and result["skipped"] == 0
    events = result["events"]
    assert [e["type"] for e in events] == ["SOCK_ERR", "DROP", "RETRANS", "RST_SENT"]
    sock = events[0]
    assert (sock["time"], sock["reason"], sock["reason_code"], sock["errno"], sock["probe"]) == (
        "18:28:12", "ECONNREFUSED", 111, "ECONNREFUSED", "inet_sk_error_report")
    assert (sock["src_ip"], sock["src_port"], sock["dst_ip"], sock["dst_port"]) == ("127.0.0.1", 35779, "127.0.0.1", 9999)
    drop = events[1]
    # a bare code stays unnamed: 6 is NETFILTER_DROP on 5.x kernels but not on 6.18
    assert (drop["reason_code"], drop["reason"], drop["src_ip"], drop["dst_port"]) == (6, None, "10.224.0.60", 80)
    assert (events[2]["reason_code"], events[2]["state"]) == (2, "TCP_SYN_SENT")
    rst = events[3]
    assert (rst["reason"], rst["reason_code"], rst["dst_ip"], rst["dst_port"]) == (None, None, "20.161.216.95", 443)
    assert all(set(e) == set(EVENT_KEYS) for e in events)


def test_retina_json_seed_matches_table():
    json_events = parse(seed_blocks()[1][1])["events"]
    table_events = parse(seed_blocks()[0][1])["events"][:2]
    assert json_events == table_events
    assert json_events[1]["src_port"] == 41929


def test_drop_reasons_table_names_codes():
    text = seed_blocks()[2][1]
    events = parse(text, drop_reasons={"6": "NETFILTER_DROP", "2": "NOT_SPECIFIED"})["events"]
    assert [(e["type"], e["reason"]) for e in events] == [
        ("DROP", "NETFILTER_DROP"), ("RETRANS", "TCP_SYN_SENT"), ("DROP", "NETFILTER_DROP")]


def test_module_table_round_trip():
    events = [
        {"time": "2026-11-22T22:52:42.862880Z", "type": "DROP", "reason_code": 12, "reason": "NETFILTER_DROP",
         "probe": "kfree_skb", "src_ip": "fd99::1", "src_port": 40001, "dst_ip": "fd99::2", "dst_port": 9,
         "netns": 4026532815, "netns_name": "n2-pod1", "location": "nft_do_chain+0x46f"},
        {"time": "2026-11-22T22:52:43.155000Z", "type": "RST_RECV", "reason_code": None, "reason": None,
         "probe": "tcp_receive_reset", "src_ip": "10.99.0.1", "src_port": 55104, "dst_ip": "10.99.0.2",
         "dst_port": 81, "netns": 4026532744, "netns_name": None, "location": None},
        {"time": "2026-11-22T22:52:44.000000Z", "type": "DROP", "reason_code": 2, "reason": "NOT_SPECIFIED",
         "probe": "kfree_skb", "src_ip": None, "src_port": None, "dst_ip": None, "dst_port": None,
         "netns": None, "netns_name": None, "location": "ip6_mc_input+0x15e"},
    ]
    table = format_table(events)
    parsed = parse(table)["events"]
    assert parsed[0]["time"] == "22:52:42.862"
    assert (parsed[0]["src_ip"], parsed[0]["dst_port"], parsed[0]["netns"], parsed[0]["netns_name"]) == (
        "fd99::1", 9, 4026532815, "n2-pod1")
    assert (parsed[0]["reason"], parsed[0]["location"], parsed[0]["family"]) == ("NETFILTER_DROP", "nft_do_chain+0x46f", "ipv6")
    assert (parsed[1]["type"], parsed[1]["reason"], parsed[1]["netns"], parsed[1]["location"]) == (
        "RST_RECV", None, 4026532744, None)
    assert (parsed[2]["src_ip"], parsed[2]["netns"], parsed[2]["location"]) == (None, None, "ip6_mc_input+0x15e")


def test_malformed_line_names_number_and_content():
    text = "TIME TYPE REASON PROBE SRC -> DST\n18:14:41 DROP 6 kfree_skb 10.0.0.1:1 -> 10.0.0.2:80\nTracing... hit Ctrl-C\n"
    with pytest.raises(NettraceParseError) as err:
        parse(text)
    assert "line 3" in str(err.value) and "Tracing... hit Ctrl-C" in str(err.value)
    with pytest.raises(NettraceParseError, match=r"line 1 .*999\.1\.1\.1"):
        parse("18:14:41 DROP 6 kfree_skb 999.1.1.1:1 -> 10.0.0.2:80")
    with pytest.raises(NettraceParseError, match=r"line 2 .*invalid JSON"):
        parse(['{"type": "DROP"}', '{"type": "DROP",'])


def test_lenient_skips_and_counts():
    text = "banner\n18:14:41 DROP 6 kfree_skb 10.0.0.1:1 -> 10.0.0.2:80\n{\"type\": \"NOPE\"}\n"
    result = parse(text, lenient=True)
    assert len(result["events"]) == 1 and result["skipped"] == 2
    assert [s["line"] for s in result["skipped_lines"]] == [1, 3]
    assert "unknown event type 'NOPE'" in result["skipped_lines"][1]["error"]


def test_filter_wrapper_errors_and_dict_input():
    assert parse_nettrace({"table": "18:14:41 DROP 6 kfree_skb 10.0.0.1:1 -> 10.0.0.2:80"})["events"][0]["dst_port"] == 80
    with pytest.raises(AnsibleFilterError, match="line 1"):
        parse_nettrace("garbage")
    with pytest.raises(AnsibleFilterError, match="expected text"):
        parse_nettrace(42)
    with pytest.raises(AnsibleFilterError, match="'table' or 'stdout'"):
        parse_nettrace({"rc": 0})
    assert parse_nettrace("garbage", lenient=True)["skipped"] == 1


def test_filter_loads_by_fqcn_in_ansible():
    expr = ("{{ ['18:14:41 DROP 12 kfree_skb [fd00::1]:5 -> [fd00::2]:80', 'banner'] | "
            "netdiag.tracekit.parse_nettrace(lenient=true, drop_reasons={'12': 'NETFILTER_DROP'}) }}")
    result = run_module("ansible.builtin.debug", {"msg": expr}, timeout=120)
    parsed = result["msg"]
    assert parsed["skipped"] == 1 and parsed["events"][0]["reason"] == "NETFILTER_DROP"
    assert (parsed["events"][0]["src_ip"], parsed["events"][0]["dst_port"]) == ("fd00::1", 80)

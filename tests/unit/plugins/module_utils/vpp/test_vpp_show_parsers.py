"""parse_vpp_errors / vpp_errors_delta / parse_vpp_runtime / parse_vpp_interfaces and trace observations.

Real outputs from ../shared/fixtures/vpp/ with expectations read off the files by hand, plus hand-written
cases in the formats of vlib/error.c, vlib/node_cli.c and vnet/interface_format.c of other versions.
"""

import glob
import os

import pytest

from conftest import shared_path

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import (
    parse_vpp_errors,
    parse_vpp_interfaces,
    parse_vpp_runtime,
    vpp_errors_delta,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import (
    VppParseError,
    parse_vpp_trace,
    vpp_observations,
)


def fixture(folder, name):
    with open(shared_path("fixtures", "vpp", folder, name)) as handle:
        return handle.read()


def seed_section(start, end):
    seeds = glob.glob(os.path.join(shared_path("seeds"), "003_*"))
    if not seeds:
        pytest.skip("seed 003 is not in ../shared/seeds")
    with open(seeds[0]) as handle:
        text = handle.read()
    return text[text.index(start):text.index(end)]


# ------------------------------------------------------------------------------------------ show errors

def rows_of(rows):
    return [(r["count"], r["node"], r["reason"], r["severity"]) for r in rows]


def test_errors_26_four_columns():
    assert rows_of(parse_vpp_errors(fixture("vpp-26.06-local", "errors_ttl_expired_icmp_error.txt"))) == [
        (1, "ip4-input", "ip4 ttl <= 1", "error"),
        (1, "ip4-icmp-error", "hop limit exceeded response sent", "info"),
    ]
    assert rows_of(parse_vpp_errors(fixture("vpp-26.06-local", "errors_acl_deny_ssh.txt"))) == [
        (1, "acl-plugin-in-ip4-fa", "ACL deny packets", "error"),
        (1, "acl-plugin-in-ip4-fa", "checked packets", "error"),
    ]
    # VPP cut the reason at the column width
    assert rows_of(parse_vpp_errors(fixture("vpp-26.06-local", "errors_nat44_ed_in2out.txt"))) == [
        (1, "nat44-ed-in2out-slowpath", "non-SYN packet try to create sessio", "error")]
    vxlan = parse_vpp_errors(fixture("vpp-26.06-local", "errors_vxlan4_encap_from_bridge.txt"))
    assert len(vxlan) == 6
    assert vxlan[0]["node"] == "vxlan4-encap" and vxlan[0]["reason"] == "good packets encapsulated"
    assert all(r["thread"] is None and r["index"] is None for r in vxlan)


@pytest.mark.parametrize("name", ["errors_ipv6_routed_delivered.txt", "errors_multi_packet_max.txt",
                                  "show_errors_cumulative.txt", "show_node_counters.txt"])
def test_errors_header_only(name):
    assert parse_vpp_errors(fixture("vpp-26.06-local", name)) == []


def test_errors_v19_three_columns():
    assert rows_of(parse_vpp_errors(fixture("public", "show_errors_v19_multithread_3col.txt"))) == [
        (5, "handoffdemo-1", "packets handed off processed", None),
        (5, "handoffdemo-2", "completed packets", None),
    ]


VERBOSE_26 = """\
   Count                  Node                              Reason               Severity  Index
Thread 0 (vpp_main):
         3             ip4-input                         ip4 ttl <= 1              error     812
         1             null-node                      blackholed packets           error     2
Thread 1 (vpp_wk_0):
        10             ip4-input                         ip4 ttl <= 1              error     812
Total:
        13                ip4-input                    ip4 ttl <= 1         812
         1                null-node                 blackholed packets       2
"""

VERBOSE_18 = """\
   Count                    Node                  Reason              Index
Thread 0 (vpp_main):
         7                ip4-glean             ARP requests sent       44
Thread 1 (vpp_wk_0):
         2                ip4-glean             ARP requests sent       44
Total:
         9                ip4-glean             ARP requests sent       44
"""


def test_errors_verbose_threads_and_total():
    rows = parse_vpp_errors(VERBOSE_26)
    assert [(r["thread"], r["thread_name"], r["count"], r["node"], r["reason"], r["severity"], r["index"]) for r in rows] == [
        (0, "vpp_main", 3, "ip4-input", "ip4 ttl <= 1", "error", 812),
        (0, "vpp_main", 1, "null-node", "blackholed packets", "error", 2),
        (1, "vpp_wk_0", 10, "ip4-input", "ip4 ttl <= 1", "error", 812),
        ("total", None, 13, "ip4-input", "ip4 ttl <= 1", None, 812),
        ("total", None, 1, "null-node", "blackholed packets", None, 2),
    ]
    old = parse_vpp_errors(VERBOSE_18)
    assert [(r["thread"], r["count"], r["reason"], r["severity"], r["index"]) for r in old] == [
        (0, 7, "ARP requests sent", None, 44), (1, 2, "ARP requests sent", None, 44), ("total", 9, "ARP requests sent", None, 44)]


def test_errors_delta():
    before = parse_vpp_errors(VERBOSE_26)
    after = parse_vpp_errors(VERBOSE_26.replace("        10             ip4-input", "        15             ip4-input")
                             .replace("Total:\n", "         4           ethernet-input                    unknown vlan              error     9\nTotal:\n"))
    delta = vpp_errors_delta(before, after)
    expected = [(5, "ip4-input", "ip4 ttl <= 1"), (4, "ethernet-input", "unknown vlan")]
    assert [(r["count"], r["node"], r["reason"]) for r in delta] == expected
    # counters cleared in between: count from zero
    cleared = vpp_errors_delta(parse_vpp_errors(VERBOSE_18), parse_vpp_errors(VERBOSE_18.replace("       7  ", "       1  ")))
    assert [(r["count"], r["reason"]) for r in cleared] == [(3, "ARP requests sent")]
    assert vpp_errors_delta(before, before) == []
    with pytest.raises(VppParseError, match="before must be a list"):
        vpp_errors_delta("text", after)


def test_errors_not_errors_output():
    with pytest.raises(VppParseError, match="not VPP 'show errors' output"):
        parse_vpp_errors("unknown input `show erors'")
    with pytest.raises(VppParseError, match="must be a string"):
        parse_vpp_errors(None)


# ------------------------------------------------------------------------------------------ show runtime

def node_of(thread, name):
    return next(n for n in thread["nodes"] if n["name"] == name)


def test_runtime_26_packet_clocks_quoted_states():
    parsed = parse_vpp_runtime(fixture("vpp-26.06-local", "show_runtime.txt"))
    assert len(parsed["threads"]) == 1
    thread = parsed["threads"][0]
    assert thread["time"] == 5.2
    assert thread["vector_rates"] == {"in": 3.2604, "out": 2.8769, "drop": 0.959, "punt": 0.19184}
    assert thread["loops_per_second"] == 4924.5
    assert thread["clocks_column"] == "Packet-Clocks"
    assert len(thread["nodes"]) == 62  # 65 lines less the Time, vector rates and header lines
    assert node_of(thread, "acl-plugin-fa-cleaner-process")["state"] == "event wait"
    assert node_of(thread, "acl-plugin-fa-cleaner-process")["suspends"] == 9
    # a 30-character name touching a state cut at 12 characters
    cut = node_of(thread, "acl-plugin-fa-worker-cleaner-p")
    assert (cut["state"], cut["calls"], cut["clocks"]) == ("interrupt wait", 7, 4.95e5)
    assert node_of(thread, "startup-config-process")["state"] == "not started"
    assert node_of(thread, "statseg-collector-process")["state"] == "suspended"
    assert node_of(thread, "pg-input")["vectors_per_call"] == 0.65
    drop = node_of(thread, "ip4-drop")
    assert (drop["state"], drop["calls"], drop["vectors"], drop["suspends"], drop["vectors_per_call"]) == ("active", 3, 3, 0, 1.0)


def test_runtime_v19_threads():
    parsed = parse_vpp_runtime(fixture("public", "show_run_v19_multithread.txt"))
    assert [(t["thread"], t["name"], t["lcore"], len(t["nodes"])) for t in parsed["threads"]] == [
        (1, "vpp_wk_0", 0, 3), (2, "vpp_wk_1", 2, 4)]
    wk1 = parsed["threads"][1]
    assert wk1["time"] == 133.9 and wk1["average_vectors_per_node"] == 5.0
    assert wk1["vector_rates"]["drop"] == 3.7331e-2
    assert node_of(wk1, "error-drop")["vectors"] == 5
    assert node_of(parsed["threads"][0], "pg-input")["state"] == "disabled"


def test_runtime_seed_whitespace_squeezed():
    parsed = parse_vpp_runtime(seed_section("vpp# show run", "tapcli-rx\nabove"))
    thread = parsed["threads"][0]
    assert thread["time"] == 1026791.9
    assert node_of(thread, "nat64-expire-worker-walk")["state"] == "interrupt wait"
    assert node_of(thread, "unix-cli-127.0.0.1:43282")["suspends"] == 455
    assert node_of(thread, "GigabitEthernet0/8/0-tx")["vectors"] == 67


RUNTIME_MAX = """\
Time 12.0, 10.000000 sec internal node vector rate 0.00 loops/sec 100.00
  vector rates in 0.0000e0, out 0.0000e0, drop 0.0000e0, punt 0.0000e0
             Name                 Max Node Clocks       Vectors at Max     Max Clocks         Avg Clocks      Avg Vectors/Call
ip4-lookup                            1.20e4                 3             4.00e3             2.10e3             1.50e0
"""

RUNTIME_TIME_EVENTS = """\
Thread 0 vpp_main (lcore 1)
Time 3.0, 10.000000 sec internal node vector rate 0.00 loops/sec 100.00
  vector rates in 0.0000e0, out 0.0000e0, drop 0.0000e0, punt 0.0000e0
             Name                 State         Calls          Vectors        Suspends       Packet-Time    Vectors/Call
bfd-process                   "event wait"               0               0               1          2.10e2            0.00
    events pending,
---------------
Thread 1 vpp_wk_0 (lcore 2)
Time 3.0, 10.000000 sec internal node vector rate 0.00 loops/sec 100.00
  vector rates in 0.0000e0, out 0.0000e0, drop 0.0000e0, punt 0.0000e0
             Name                 State         Calls          Vectors        Suspends       Packet-Time    Vectors/Call
dpdk-input                       polling              1000               0               0          1.00e1            0.00
"""


def test_runtime_max_and_time_and_events_pending():
    node = parse_vpp_runtime(RUNTIME_MAX)["threads"][0]["nodes"][0]
    assert node == {"name": "ip4-lookup", "max_clocks": 1.2e4, "vectors_at_max": 3, "max_clocks_per_vector": 4.0e3,
                    "avg_clocks": 2.1e3, "avg_vectors_per_call": 1.5}
    threads = parse_vpp_runtime(RUNTIME_TIME_EVENTS)["threads"]
    assert [(t["thread"], t["lcore"], t["clocks_unit"]) for t in threads] == [(0, 1, "ns"), (1, 2, "ns")]
    assert threads[0]["nodes"][0]["events_pending"] is True
    assert threads[1]["nodes"][0]["calls"] == 1000


def test_runtime_not_runtime_output():
    with pytest.raises(VppParseError, match="not VPP 'show runtime' output"):
        parse_vpp_runtime("some random words\nand more")


# ------------------------------------------------------------------------------------------ show interface

def by_name(interfaces):
    return dict((i["name"], i) for i in interfaces)


def test_interfaces_26_mtu_and_counters():
    ifs = by_name(parse_vpp_interfaces(fixture("vpp-26.06-local", "show_interface.txt")))
    assert sorted(ifs) == ["local0", "pg-1", "pg0", "pg1", "pg2", "vxlan_tunnel0"]
    pg0 = ifs["pg0"]
    assert (pg0["idx"], pg0["state"], pg0["admin_up"]) == (1, "up", True)
    assert pg0["mtu"] == {"l3": 9000, "ip4": 0, "ip6": 0, "mpls": 0}
    assert pg0["counters"] == {"rx_packets": 16, "rx_bytes": 1600, "tx_packets": 3, "tx_bytes": 398, "drops": 5, "punt": 1,
                               "ip4": 14, "ip6": 1}
    assert pg0["counters_raw"]["rx packets"] == 16
    assert (ifs["local0"]["state"], ifs["local0"]["admin_up"], ifs["local0"]["counters"]) == ("down", False, {})
    assert ifs["vxlan_tunnel0"]["counters"] == {"tx_packets": 1, "tx_bytes": 136}
    assert ifs["pg-1"]["idx"] == 4


def test_interfaces_v18_without_mtu():
    ifs = by_name(parse_vpp_interfaces(fixture("public", "show_interface_v18_contiv_counters.txt")))
    assert len(ifs) == 7
    gig = ifs["GigabitEthernet0/8/0"]
    assert gig["mtu"] is None
    assert gig["counters"] == {"rx_packets": 138, "rx_bytes": 18681, "tx_packets": 100, "tx_bytes": 29658, "drops": 1,
                               "ip4": 137, "tx_error": 2}
    assert ifs["tapcli-0"]["counters"]["ip6"] == 7 and ifs["tapcli-0"]["counters"]["drops"] == 9
    assert ifs["local0"]["counters"] == {"drops": 1}


def test_interfaces_seed_whitespace_squeezed():
    ifs = by_name(parse_vpp_interfaces(seed_section("vpp# show int\n", "vpp# show hardware")))
    assert ifs["GigabitEthernet0/8/0"]["counters"]["tx_error"] == 2
    assert ifs["vxlan_tunnel0"]["counters"] == {"rx_packets": 137, "rx_bytes": 11771, "tx_packets": 100, "tx_bytes": 28290}


def test_interfaces_error_and_punt_states():
    text = """\
              Name               Idx    State  MTU (L3/IP4/IP6/MPLS)     Counter          Count
GigabitEthernet3/0/0              1     error         9000/0/0/0     rx-miss                       12
host-veth1                        2    up/punt        1500/0/0/0
"""
    ifs = by_name(parse_vpp_interfaces(text))
    assert (ifs["GigabitEthernet3/0/0"]["state"], ifs["GigabitEthernet3/0/0"]["counters"]) == ("error", {"rx_miss": 12})
    assert (ifs["host-veth1"]["state"], ifs["host-veth1"]["admin_up"]) == ("up/punt", True)


def test_interfaces_and_runtime_indented_as_in_documents():
    """Documents indent whole outputs: interface rows then start with spaces like their counter lines."""
    text = "\n".join("    " + line for line in fixture("public", "show_interface_v18_contiv_counters.txt").split("\n"))
    ifs = by_name(parse_vpp_interfaces(text))
    assert len(ifs) == 7 and ifs["loop0"]["counters"]["tx_packets"] == 200
    runtime = "\n".join("     " + line for line in fixture("public", "show_run_v19_multithread.txt").split("\n"))
    threads = parse_vpp_runtime(runtime)["threads"]
    assert [(t["thread"], len(t["nodes"])) for t in threads] == [(1, 3), (2, 4)]
    assert node_of(threads[0], "unix-epoll-input")["calls"] == 22760


def test_interfaces_other_output_is_error():
    with pytest.raises(VppParseError, match="not VPP 'show interface' output"):
        parse_vpp_interfaces(fixture("vpp-26.06-local", "show_interface_address.txt"))


# ------------------------------------------------------------------------------------------ observations

def trace_obs(name):
    return vpp_observations(parse_vpp_trace(fixture("vpp-26.06-local", name)), node="vpp-node-1")


def test_observations_acl_deny():
    obs = trace_obs("trace_acl_deny_ssh.txt")
    assert [(o["action"], o["graph_node"]) for o in obs] == [
        ("Received", "pg-input"), ("Forwarded", "ethernet-input"), ("Forwarded", "ip4-input"),
        ("Forwarded", "acl-plugin-in-ip4-fa"), ("Dropped", "acl-plugin-in-ip4-fa")]
    drop = obs[-1]
    assert drop["reason"] == "acl-plugin-in-ip4-fa: ACL deny packets"
    assert dict((k, drop[k]) for k in ("node", "netns", "endpoint", "component", "source", "fate")) == {
        "node": "vpp-node-1", "netns": None, "endpoint": None, "component": "vpp", "source": "vpp-trace", "fate": "dropped"}
    assert drop["vpp_time"] == "00:00:02:944704"


def test_observations_outcomes():
    assert trace_obs("trace_ttl_expired_icmp_error.txt")[-1]["action"] == "Rejected"
    assert trace_obs("trace_ttl_expired_icmp_error.txt")[-1]["reason"] == "ip4-input: ip4 ttl <= 1 (ICMP error sent via pg0)"
    punt = trace_obs("trace_l3_mac_mismatch_drop.txt")[-1]
    assert (punt["action"], punt["reason"]) == ("Dropped", "ethernet-input: l3 mac mismatch (punted)")
    delivered = trace_obs("trace_routed_tcp_delivered.txt")[-1]
    assert (delivered["action"], delivered["graph_node"], delivered["reason"]) == ("Delivered", "pg1-tx", "sent on pg1")
    local = trace_obs("trace_icmp_echo_to_vpp.txt")[-1]
    assert (local["action"], local["graph_node"]) == ("Delivered", "ip4-receive")
    unix = vpp_observations(parse_vpp_trace(fixture("vpp-26.06-local", "trace_timestamp_unix.txt")))
    assert unix[0]["time"] == pytest.approx(1795346881.719683) and unix[0]["uptime"] is None
    assert unix[0]["time_base"] == "unix"

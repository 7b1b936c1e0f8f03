"""Unit tests of the vpp_trace command layer and state machine (plugins/module_utils/vpp/vppctl.py).

VPP cannot run here (see LAB-NOTES): the error texts below are VPP's own, read in VPP's source
(vlib/trace.c, vlib/cli.c, vpp/app/vppctl.c); the fixtures are real VPP outputs from ../shared.
"""

import glob
import json
import os

import pytest

from conftest import shared_path

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.vppctl import (
    PacketFilter, StateStore, TraceSession, VppError, check_cli_answer, errors_delta, normalize_protocol,
    parse_networks, state_key)


@pytest.mark.parametrize("command, out, kind", [
    ("trace add dpdk-input 50", "expected NODE COUNT, got `dpdk-input 50'\n", "unknown_node"),
    ("trace add ip4-lookup 5", "node 'ip4-lookup' doesn't support per-node tracing. There may be another way "
                               "to initiate trace on this node.\n", "node_not_traceable"),
    ("show trace max x", "expected 'max COUNT', got `max x'\n", "rejected"),
    ("show tracex", "show: unknown input `tracex'\n", "rejected"),
    ("frobnicate", "unknown input `frobnicate'\n", "rejected"),
])
def test_vpp_cli_errors_printed_with_rc_0_are_detected(command, out, kind):
    with pytest.raises(VppError) as err:
        check_cli_answer(command, out)
    assert err.value.kind == kind
    assert command in str(err.value)


def test_unknown_node_message_names_the_node():
    with pytest.raises(VppError) as err:
        check_cli_answer("trace add memif-inptu 10", "expected NODE COUNT, got `memif-inptu 10'\n")
    assert "'memif-inptu'" in str(err.value)


def test_real_vpp_outputs_are_not_mistaken_for_errors():
    files = glob.glob(os.path.join(shared_path("fixtures", "vpp"), "*", "*.txt"))
    assert len(files) > 30
    for path in files:
        with open(path) as handle:
            check_cli_answer("show", handle.read())  # raises on a false positive


def test_errors_delta_flags_counters_that_went_down_or_vanished():
    before = [{"thread": None, "node": "acl-plugin-in-ip4-fa", "reason": "ACL deny packets", "count": 3,
               "severity": "error"}]
    grown = [dict(before[0], count=5)]
    assert errors_delta(before, grown)[1] is False
    assert [r["count"] for r in errors_delta(before, grown)[0]] == [2]
    assert errors_delta(before, [dict(before[0], count=1)])[1] is True
    assert errors_delta(before, [])[1] is True
    assert errors_delta(before, [])[0] == []


@pytest.mark.parametrize("value, expected", [
    ("TCP", "tcp"), ("udp", "udp"), (6, "tcp"), ("17", "udp"), ("1", "icmp"), ("ICMPv6", "icmp6"),
    ("ipv6-icmp", "icmp6"), ("58", "icmp6"), ("99", "99"), (None, None),
])
def test_normalize_protocol(value, expected):
    assert normalize_protocol(value) == expected


@pytest.mark.parametrize("value", ["tcpx", "256", "-1"])
def test_normalize_protocol_refuses_what_is_no_protocol(value):
    with pytest.raises(ValueError):
        normalize_protocol(value)


def _packet(index, *flows):
    return {"index": index, "flow": flows[0] if flows else None, "flows": list(flows)}


def _flow(proto, src, dst, sport=None, dport=None):
    return {"protocol": proto, "src": src, "dst": dst, "sport": sport, "dport": dport}


def test_filter_matches_a_packet_after_nat_by_any_header_on_its_path():
    # A pod's SYN to a service VIP, DNATed by VPP: the first header has the VIP, the later one the pod.
    natted = _packet(1, _flow("tcp", "10.1.1.2", "10.96.0.10", 40000, 80), _flow("tcp", "10.1.1.2", "10.1.2.3", 40000, 8080))
    other = _packet(2, _flow("udp", "10.1.1.9", "10.1.2.3", 53, 53))
    arp = _packet(3)
    kept, out = PacketFilter(parse_networks(["10.1.2.3"]), "tcp", 8080).apply([natted, other, arp])
    assert [p["index"] for p in kept] == [1]
    assert out == {"total": 2, "address": 1, "protocol": 1, "port": 0}


def test_filter_needs_one_header_matching_every_filter():
    # Address in one header and port in another header is not a match.
    packet = _packet(1, _flow("tcp", "10.0.0.1", "10.0.0.2", 1, 2), _flow("tcp", "192.0.2.1", "192.0.2.2", 1, 22))
    assert PacketFilter(parse_networks(["10.0.0.2"]), None, 22).rejects(packet) == "port"
    assert PacketFilter(parse_networks(["10.0.0.0/8"]), None, 2).rejects(packet) is None


def test_filter_cidr_families_do_not_mix():
    packet = _packet(1, _flow("tcp", "fd00::1", "fd00::2", 1, 2))
    assert PacketFilter(parse_networks(["0.0.0.0/0"])).rejects(packet) == "address"
    assert PacketFilter(parse_networks(["::/0"])).rejects(packet) is None


def test_parse_networks_names_the_bad_value():
    with pytest.raises(ValueError, match="'10.1.1' is not an IP address or CIDR"):
        parse_networks(["10.0.0.0/8", "10.1.1"])


def test_state_files_are_per_socket_and_prefix(tmp_path):
    a = StateStore(str(tmp_path), "/run/vpp/cli.sock", [])
    b = StateStore(str(tmp_path), "/run/vpp/cli.sock", ["crictl", "exec", "abc"])
    assert a.path != b.path
    assert state_key("/run/vpp/cli.sock", None) == state_key("/run/vpp/cli.sock", [])
    a.save({"errors_baseline": [], "started_at": 1.0})
    assert a.load()["started_at"] == 1.0
    assert b.load() is None
    assert a.remove() is True and a.remove() is False


def test_damaged_state_file_is_a_clear_error(tmp_path):
    store = StateStore(str(tmp_path), "/run/vpp/cli.sock", [])
    with open(store.path, "w") as handle:
        handle.write("{not json")
    with pytest.raises(VppError, match="damaged"):
        store.load()
    with open(store.path, "w") as handle:
        json.dump({"version": 99}, handle)
    with pytest.raises(VppError, match="not written by this vpp_trace version"):
        store.load()


class FakeCli(object):
    """Answers like a VPP whose trace buffer never fills; counts what it was asked."""

    socket_path = "/run/vpp/cli.sock"
    prefix = []

    def __init__(self, trace_text, errors_text):
        self.trace_text, self.errors_text = trace_text, errors_text
        self.commands = []

    def preflight(self):
        return None

    def run(self, command):
        self.commands.append(command)
        if command == "show version":
            return "vpp v26.06.0-release\n"
        if command == "show errors":
            return self.errors_text
        if command.startswith("show trace"):
            return self.trace_text
        return ""


class FakeClock(object):
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.now += seconds


def _fixture(name):
    with open(shared_path("fixtures", "vpp", "vpp-26.06-local", name)) as handle:
        return handle.read()


def test_capture_polling_is_bounded_by_duration(tmp_path):
    cli = FakeCli(_fixture("trace_empty.txt"), _fixture("show_errors_cumulative.txt"))
    clock = FakeClock()
    session = TraceSession(cli, StateStore(str(tmp_path), cli.socket_path, []), clock=clock.time, sleep=clock.sleep)
    result = session.capture(["pg-input"], 10, duration=5, poll_interval=1, max_packets=100,
                             packet_filter=PacketFilter())
    assert result["capture"] == {"stopped_by": "duration", "waited": 5.0, "polls": 5, "packets_seen": 0}
    assert cli.commands.count("show trace max 100") == 6  # five polls and the collection


def test_capture_counts_only_packets_matching_the_filter(tmp_path):
    # trace_multi_packet_max.txt holds 3 UDP packets 10.10.1.2:1000 -> 10.10.2.2:2000 (read by hand).
    cli = FakeCli(_fixture("trace_multi_packet_max.txt"), _fixture("show_errors_cumulative.txt"))
    clock = FakeClock()
    session = TraceSession(cli, StateStore(str(tmp_path), cli.socket_path, []), clock=clock.time, sleep=clock.sleep)
    udp = session.capture(["pg-input"], 3, 4, 1, 100, PacketFilter(protocol="udp"))
    assert udp["capture"]["stopped_by"] == "count" and udp["capture"]["polls"] == 1
    tcp = session.capture(["pg-input"], 1, 4, 1, 100, PacketFilter(protocol="tcp"))
    assert tcp["capture"]["stopped_by"] == "duration" and tcp["capture"]["packets_seen"] == 0
    assert tcp["trace"]["filtered_out"]["protocol"] == 3


def test_start_refuses_bad_node_names_before_talking_to_vpp(tmp_path):
    cli = FakeCli("", "")
    session = TraceSession(cli, StateStore(str(tmp_path), cli.socket_path, []))
    for nodes in (["dpdk-input 5"], ["-x"], [""], []):
        with pytest.raises(VppError):
            session.start(nodes, 5)
    assert cli.commands == []


def test_unparsable_answer_is_a_clear_error(tmp_path):
    cli = FakeCli("this is not a trace\n", _fixture("show_errors_cumulative.txt"))
    session = TraceSession(cli, StateStore(str(tmp_path), cli.socket_path, []))
    with pytest.raises(VppError) as err:
        session.collect(10, PacketFilter())
    assert err.value.kind == "unparsable"
    assert "show trace" in str(err.value)


def test_observation_times_are_kept_only_when_vpp_printed_wall_clock_time(tmp_path):
    # trace_timestamp_unix.txt: `set trace timestamp-format unix`; packet 1 enters pg-input at 1795346881.719683.
    cli = FakeCli(_fixture("trace_timestamp_unix.txt"), _fixture("show_errors_cumulative.txt"))
    session = TraceSession(cli, StateStore(str(tmp_path), cli.socket_path, []))
    unix = session.collect(10, PacketFilter(), "node1", "pod")["observations"]
    assert unix[0]["graph_node"] == "pg-input"
    assert unix[0]["time"] == pytest.approx(1795346881.719683)
    cli.trace_text = _fixture("trace_multi_packet_max.txt")  # default relative time: seconds since VPP started
    relative = session.collect(10, PacketFilter(), "node1", "pod")["observations"]
    assert relative[0]["time"] is None and relative[0]["vpp_time"] == "00:00:04:243743"

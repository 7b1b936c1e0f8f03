"""The vpp_trace module run through ansible against a vppctl stand-in.

VPP cannot run on this machine or in CI (no VPP package is reachable, see LAB-NOTES), so these tests put
``tests/support/vppctl_standin.py`` where vppctl would be. The stand-in accepts vppctl's real command
line, connects to a real unix socket the test listens on, answers from the REAL outputs of VPP v26.06 in
``../shared/fixtures/vpp/vpp-26.06-local`` (and prints VPP's own error texts, taken from VPP's source), and
logs every command it receives, so each test checks the exact command sequence the module ran on VPP.
Expected values were read by hand from the fixture files named in each test.
"""

import json
import os
import socket
import stat
import sys
import threading

import pytest

from conftest import SUPPORT, run_module, run_playbook, shared_path

STANDIN = os.path.join(SUPPORT, "vppctl_standin.py")
MODULE = "netdiag.tracekit.vpp_trace"
# The stand-in starts with `#!/usr/bin/env python` (the shebang ansible-test allows): find this interpreter first.
STANDIN_ENV = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
VERSION = "vpp v26.06.0-release built by root on vm at 2026-11-22T11:08:26"
# A busy node's trace: the packets of six real cases in one buffer (8 packets, read by hand):
#   1 TCP 10.10.1.2:33333 -> 10.10.2.2:80 delivered (routed_tcp_delivered)
#   2 TCP 10.10.1.2:33333 -> 10.10.2.2:22 dropped by acl-plugin-in-ip4-fa: ACL deny packets (acl_deny_ssh)
#   3-5 UDP 10.10.1.2:1000 -> 10.10.2.2:2000 delivered (multi_packet_max)
#   6 TCP fd00:1::2:33333 -> fd00:2::2:80 delivered (ipv6_routed_delivered)
#   7 TCP 10.10.1.2:33333 -> 192.168.99.1:80 dropped by null-node: blackholed packets (no_route_drop)
#   8 ICMP 10.10.1.2 -> 10.10.1.1 echo to VPP itself (icmp_echo_to_vpp)
BUSY_TRACE = ["trace_routed_tcp_delivered.txt", "trace_acl_deny_ssh.txt", "trace_multi_packet_max.txt",
              "trace_ipv6_routed_delivered.txt", "trace_no_route_drop.txt", "trace_icmp_echo_to_vpp.txt"]


class Vpp(object):
    """A listening CLI socket, the stand-in's scenario file beside it, and its command log."""

    def __init__(self, root, fixtures):
        self.root = root
        self.fixtures = fixtures
        self.sock = os.path.join(root, "cli.sock")
        self.run_dir = os.path.join(root, "run")
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.sock)
        self.server.listen(64)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.server.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _addr = self.server.accept()
                conn.close()
            except OSError:
                continue

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.server.close()

    def scenario(self, **scenario):
        scenario.setdefault("fixtures", self.fixtures)
        with open(self.sock + ".scenario.json", "w") as handle:
            json.dump(scenario, handle)

    def log(self):
        """The commands the stand-in received, in order."""
        if not os.path.exists(self.sock + ".log"):
            return []
        with open(self.sock + ".log") as handle:
            return [json.loads(line)["command"] for line in handle if line.strip()]

    def argvs(self):
        with open(self.sock + ".log") as handle:
            return [json.loads(line)["argv"] for line in handle if line.strip()]

    def vppctl(self, *words):
        """Run the stand-in by hand, as an operator would run vppctl."""
        import subprocess
        return subprocess.run([sys.executable, STANDIN, "-s", self.sock] + list(words), capture_output=True,
                              text=True, check=True, timeout=30).stdout

    def module(self, check=False, **args):
        args.setdefault("cli_socket", self.sock)
        args.setdefault("vppctl_path", STANDIN)
        args.setdefault("run_dir", self.run_dir)
        args.setdefault("report_node", "node-vpp1")
        return run_module(MODULE, args, check=check, extra_env=STANDIN_ENV)

    def state_files(self):
        if not os.path.isdir(self.run_dir):
            return []
        return [n for n in os.listdir(self.run_dir) if n.startswith("vpp-trace-")]

    def errors_file(self, name, counts=None, extra_from=None):
        """A ``show errors`` answer made from a real one: the same lines, with other counts (hand-set)."""
        with open(os.path.join(self.fixtures, "errors_acl_deny_ssh.txt")) as handle:
            lines = handle.read().splitlines()
        out = [lines[0]]
        for line, count in zip(lines[1:], counts or []):
            out.append("%10d%s" % (count, line[10:]))
        if extra_from:
            with open(os.path.join(self.fixtures, extra_from)) as handle:
                out.extend(handle.read().splitlines()[1:])
        path = os.path.join(self.root, name)
        with open(path, "w") as handle:
            handle.write("\n".join(out) + "\n")
        return path


@pytest.fixture
def vpp(tmp_path):
    fixtures = shared_path("fixtures", "vpp", "vpp-26.06-local")
    env = Vpp(str(tmp_path), fixtures)
    yield env
    env.close()


def test_standin_is_executable():
    assert os.stat(STANDIN).st_mode & stat.S_IXUSR, "vppctl_standin.py must be executable to stand for vppctl"


def test_started_collected_stopped_reports_the_acl_deny(vpp):
    vpp.scenario(trace="trace_acl_deny_ssh.txt", errors_before="errors_no_route_drop.txt",
                 errors_after_clear="errors_acl_deny_ssh.txt")
    started = vpp.module(state="started", input_nodes=["pg-input"], count=20, clear_errors=True)
    assert not started.get("failed"), started
    assert started["changed"] is True
    assert started["version"] == VERSION
    assert started["commands"] == ["show version", "clear trace", "clear errors", "show errors", "trace add pg-input 20"]
    assert started["vppctl"] == [STANDIN, "-s", vpp.sock]
    assert len(vpp.state_files()) == 1

    collected = vpp.module(state="collected", filter_ip=["10.10.1.2", "10.10.2.2"], filter_protocol="tcp",
                           filter_port=22, endpoint="n2-pod1")
    assert not collected.get("failed"), collected
    assert collected["changed"] is False
    assert collected["commands"] == ["show trace max 1000", "show errors"]
    trace = collected["trace"]
    assert (trace["total"], trace["matched"], trace["filtered_out"]["total"]) == (1, 1, 0)
    packet = trace["packets"][0]
    assert packet["fate"] == "dropped"
    assert (packet["drop_node"], packet["drop_reason"]) == ("acl-plugin-in-ip4-fa", "ACL deny packets")
    assert [d["node"] for d in collected["drops"]] == ["acl-plugin-in-ip4-fa"]
    assert collected["drops"][0]["reason"] == "ACL deny packets"
    assert collected["drops"][0]["packets"] == 1
    assert collected["drops"][0]["error_counter"] == 1
    point = collected["drop_points"][0]
    assert {k: point[k] for k in ("node", "netns", "endpoint", "component", "reason")} == {
        "node": "node-vpp1", "netns": None, "endpoint": "n2-pod1", "component": "vpp",
        "reason": "acl-plugin-in-ip4-fa: ACL deny packets"}
    assert point["facts"]["path"] == ["pg-input", "ethernet-input", "ip4-input", "acl-plugin-in-ip4-fa",
                                      "error-drop", "drop"]
    assert point["facts"]["input_node"] == "pg-input"
    assert point["detail"] == ("VPP graph path pg-input > ethernet-input > ip4-input > acl-plugin-in-ip4-fa > "
                               "error-drop > drop; received on pg0; 1 traced packet dropped here; "
                               "error counter +1 since the trace started")
    # Counters were cleared at start: everything shown since then is the traffic's.
    errors = collected["errors"]
    assert errors["baseline"] == "cleared"
    assert sorted((e["node"], e["reason"], e["count"]) for e in errors["since_start"]) == [
        ("acl-plugin-in-ip4-fa", "ACL deny packets", 1), ("acl-plugin-in-ip4-fa", "checked packets", 1)]
    assert errors["reset_detected"] is False
    dropped = [o for o in collected["observations"] if o["action"] == "Dropped"]
    assert [o["reason"] for o in dropped] == ["acl-plugin-in-ip4-fa: ACL deny packets"]
    assert dropped[0]["endpoint"] == "n2-pod1" and dropped[0]["node"] == "node-vpp1"
    assert dropped[0]["component"] == "vpp" and dropped[0]["netns"] is None
    assert dropped[0]["time"] is None and dropped[0]["vpp_time"] == "00:00:02:944704"  # uptime, not epoch
    assert dropped[0]["detail"].startswith("VPP graph path pg-input > ethernet-input")
    assert [o["graph_node"] for o in collected["observations"] if o["action"] != "Dropped"] == [
        "pg-input", "ethernet-input", "ip4-input", "acl-plugin-in-ip4-fa"]

    stopped = vpp.module(state="stopped")
    assert not stopped.get("failed"), stopped
    assert stopped["changed"] is True
    assert stopped["commands"] == ["clear trace"]
    assert stopped["state_removed"] is True
    assert vpp.state_files() == []
    assert vpp.log() == ["show version", "clear trace", "clear errors", "show errors", "trace add pg-input 20",
                         "show trace max 1000", "show errors", "clear trace"]
    assert all(argv[1:3] == ["-s", vpp.sock] for argv in vpp.argvs())
    # After stopped, VPP's buffer is empty again.
    assert "No packets in trace buffer" in vpp.vppctl("show", "trace")


def test_error_counters_are_reported_since_the_start(vpp):
    # Before: errors_acl_deny_ssh.txt as printed (ACL deny 1, checked 1). After the traffic: the same lines
    # with ACL deny 3 and checked 4, plus null-node blackholed 1 (the line of errors_no_route_drop.txt).
    after = vpp.errors_file("after.txt", counts=[3, 4], extra_from="errors_no_route_drop.txt")
    vpp.scenario(trace="trace_acl_deny_ssh.txt", errors_before="errors_acl_deny_ssh.txt", errors_after=after)
    started = vpp.module(state="started", input_nodes=["pg-input", "virtio-input"], count=5)
    assert started["commands"] == ["show version", "clear trace", "show errors", "trace add pg-input 5",
                                   "trace add virtio-input 5"]
    collected = vpp.module(state="collected")
    errors = collected["errors"]
    assert errors["baseline"] == "snapshot"
    assert errors["reset_detected"] is False
    assert sorted((e["node"], e["reason"], e["count"]) for e in errors["counters"]) == [
        ("acl-plugin-in-ip4-fa", "ACL deny packets", 3), ("acl-plugin-in-ip4-fa", "checked packets", 4),
        ("null-node", "blackholed packets", 1)]
    assert sorted((e["node"], e["reason"], e["count"]) for e in errors["since_start"]) == [
        ("acl-plugin-in-ip4-fa", "ACL deny packets", 2), ("acl-plugin-in-ip4-fa", "checked packets", 3),
        ("null-node", "blackholed packets", 1)]
    assert collected["drops"][0]["error_counter"] == 2


def test_counters_cleared_behind_the_module_are_flagged(vpp):
    before = vpp.errors_file("before.txt", counts=[3, 4])
    vpp.scenario(trace="trace_acl_deny_ssh.txt", errors_before=before, errors_after="errors_no_route_drop.txt",
                 errors_after_clear="errors_acl_deny_ssh.txt")
    vpp.module(state="started", input_nodes=["pg-input"])
    vpp.vppctl("clear", "errors")  # an operator clears the counters while the trace runs
    collected = vpp.module(state="collected")
    assert collected["errors"]["reset_detected"] is True
    assert sorted((e["reason"], e["count"]) for e in collected["errors"]["since_start"]) == [
        ("ACL deny packets", 1), ("checked packets", 1)]


def test_filters_keep_one_conversation_of_a_busy_trace(vpp):
    vpp.scenario(trace=BUSY_TRACE)
    vpp.module(state="started", input_nodes=["pg-input"])
    ssh = vpp.module(state="collected", filter_ip=["10.10.2.2"], filter_protocol="TCP", filter_port=22)
    trace = ssh["trace"]
    assert (trace["total"], trace["matched"]) == (8, 1)
    assert trace["filtered_out"] == {"total": 7, "address": 3, "protocol": 3, "port": 1}
    assert trace["packets"][0]["index"] == 2
    assert trace["summary"]["packets"] == 8
    assert [(d["node"], d["reason"]) for d in ssh["drops"]] == [("acl-plugin-in-ip4-fa", "ACL deny packets")]

    web = vpp.module(state="collected", filter_port=80)
    assert [p["index"] for p in web["trace"]["packets"]] == [1, 6, 7]
    assert web["trace"]["filtered_out"] == {"total": 5, "address": 0, "protocol": 0, "port": 5}
    assert [d["reason"] for d in web["drop_points"]] == ["null-node: blackholed packets"]

    lan = vpp.module(state="collected", filter_ip=["10.10.0.0/16"])
    assert [p["index"] for p in lan["trace"]["packets"]] == [1, 2, 3, 4, 5, 7, 8]
    assert lan["trace"]["filtered_out"]["address"] == 1

    v6 = vpp.module(state="collected", filter_ip=["fd00:2::2"], filter_protocol="6")
    assert [p["index"] for p in v6["trace"]["packets"]] == [6]
    assert v6["drops"] == [] and v6["drop_points"] == []

    first_two = vpp.module(state="collected", max_packets=2)
    assert first_two["commands"] == ["show trace max 2", "show errors"]
    assert first_two["trace"]["limited"] is True
    assert any("more traced packets than max_packets=2" in w for w in first_two["warnings"])
    assert [p["index"] for p in first_two["trace"]["packets"]] == [1, 2]

    everything = vpp.module(state="collected")
    assert everything["trace"]["limited"] is False
    assert everything["trace"]["matched"] == 8
    assert sorted((d["node"], d["packets"]) for d in everything["drops"]) == [
        ("acl-plugin-in-ip4-fa", 1), ("null-node", 1)]


def test_captured_stops_when_count_packets_are_traced(vpp):
    # The traffic shows in the trace 1 s after `trace add`: the first polls see an empty buffer.
    vpp.scenario(trace="trace_acl_deny_ssh.txt", errors_after="errors_acl_deny_ssh.txt", traffic_delay=1.0)
    result = vpp.module(state="captured", input_nodes=["pg-input"], count=1, duration=60, poll_interval=0.3,
                        filter_ip=["10.10.2.2"], filter_port=22)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["capture"]["stopped_by"] == "count"
    assert result["capture"]["packets_seen"] == 1
    polls = result["capture"]["polls"]
    assert polls >= 2
    assert result["commands"] == (["show version", "clear trace", "show errors", "trace add pg-input 1"]
                                  + ["show trace max 1000"] * polls + ["show trace max 1000", "show errors"])
    assert vpp.log() == result["commands"]
    assert [p["reason"] for p in result["drop_points"]] == ["acl-plugin-in-ip4-fa: ACL deny packets"]
    assert result["errors"]["baseline"] == "snapshot"
    assert [(e["reason"], e["count"]) for e in result["errors"]["since_start"]] == [
        ("ACL deny packets", 1), ("checked packets", 1)]


def test_captured_gives_up_after_duration(vpp):
    vpp.scenario(trace="trace_acl_deny_ssh.txt", traffic_delay=600)
    result = vpp.module(state="captured", input_nodes=["pg-input"], count=5, duration=1.2, poll_interval=0.5)
    assert not result.get("failed"), result
    assert result["capture"]["stopped_by"] == "duration"
    assert result["capture"]["packets_seen"] == 0
    assert result["trace"]["total"] == 0
    assert result["drops"] == []


def test_command_prefix_runs_vppctl_through_another_program(vpp):
    # `env` stands for crictl/kubectl exec: a real program that runs vppctl with its arguments. The scenario
    # reaches the stand-in only through env's VAR=value argument, proving the prefix was used.
    vpp.scenario(trace="trace_no_route_drop.txt")
    prefixed = os.path.join(vpp.root, "prefixed.json")
    with open(prefixed, "w") as handle:
        json.dump({"fixtures": vpp.fixtures, "trace": "trace_acl_deny_ssh.txt"}, handle)
    prefix = ["env", "VPPCTL_STANDIN_SCENARIO=%s" % prefixed]
    started = vpp.module(state="started", input_nodes=["pg-input"], command_prefix=prefix)
    assert started["vppctl"] == prefix + [STANDIN, "-s", vpp.sock]
    collected = vpp.module(state="collected", command_prefix=prefix)
    assert collected["errors"]["baseline"] == "snapshot"  # same state file: keyed by prefix and socket
    assert [d["node"] for d in collected["drops"]] == ["acl-plugin-in-ip4-fa"]
    # Without the prefix it is another VPP instance for the module: no state, and the other scenario.
    bare = vpp.module(state="collected")
    assert bare["errors"]["baseline"] == "none"
    assert [d["node"] for d in bare["drops"]] == ["null-node"]
    assert any("no trace was started" in w for w in bare.get("warnings", []))


def test_check_mode_runs_only_read_only_commands(vpp):
    vpp.scenario(trace="trace_acl_deny_ssh.txt")
    result = vpp.module(check=True, state="started", input_nodes=["pg-input"], count=7, clear_errors=True)
    assert not result.get("failed"), result
    assert result["changed"] is True
    assert result["commands"] == ["show version", "show errors"]
    assert result["planned"] == ["clear trace", "clear errors", "trace add pg-input 7"]
    assert vpp.log() == ["show version", "show errors"]
    assert vpp.state_files() == []
    stopped = vpp.module(check=True, state="stopped")
    assert stopped["changed"] is True and stopped["planned"] == ["clear trace"] and stopped["commands"] == []
    captured = vpp.module(check=True, state="captured", input_nodes=["pg-input"], duration=30)
    assert captured["changed"] is True and captured["capture"]["stopped_by"] == "check_mode"
    assert captured["planned"] == ["clear trace", "trace add pg-input 50"]
    assert vpp.log() == ["show version", "show errors"] * 2
    assert vpp.state_files() == []


def test_unknown_graph_node_fails_and_disarms(vpp):
    vpp.scenario(trace="trace_acl_deny_ssh.txt")
    result = vpp.module(state="started", input_nodes=["pg-input", "no-such-input"], count=3)
    assert result.get("failed") is True
    assert result["failure"] == "unknown_node"
    assert "no-such-input" in result["msg"]
    assert "expected NODE COUNT, got `no-such-input 3'" in result["msg"]
    # The first node was armed: the module clears the trace again and keeps no state.
    assert vpp.log() == ["show version", "clear trace", "show errors", "trace add pg-input 3",
                         "trace add no-such-input 3", "clear trace"]
    assert vpp.state_files() == []


def test_unknown_nodes_can_be_skipped_for_mixed_fleets(vpp):
    vpp.scenario(trace="trace_acl_deny_ssh.txt")
    result = vpp.module(state="started", input_nodes=["no-such-input", "pg-input"], count=4,
                        ignore_unknown_nodes=True)
    assert not result.get("failed"), result
    assert (result["input_nodes"], result["skipped_nodes"]) == (["pg-input"], ["no-such-input"])
    assert any("skipped input node no-such-input" in w for w in result["warnings"])
    assert vpp.state_files() != []
    none_left = vpp.module(state="started", input_nodes=["no-such-input", "ip4-lookup"], ignore_unknown_nodes=True)
    assert none_left["failure"] == "unknown_node"
    assert "none of the input nodes" in none_left["msg"]
    assert vpp.log()[-3:] == ["trace add no-such-input 50", "trace add ip4-lookup 50", "clear trace"]
    assert vpp.state_files() == []  # the first start's snapshot went with the trace it described


def test_graph_node_that_cannot_start_a_trace_fails(vpp):
    vpp.scenario()
    result = vpp.module(state="started", input_nodes=["ip4-lookup"])
    assert result["failure"] == "node_not_traceable"
    assert "doesn't support per-node tracing" in result["msg"]


def test_missing_socket_fails_before_running_anything(vpp):
    vpp.scenario()
    result = vpp.module(state="collected", cli_socket=os.path.join(vpp.root, "absent.sock"))
    assert result["failure"] == "socket_missing"
    assert "absent.sock does not exist" in result["msg"]
    assert vpp.log() == []


def test_missing_socket_inside_a_container_is_reported_from_vppctl(vpp):
    vpp.scenario()
    absent = os.path.join(vpp.root, "absent.sock")
    result = vpp.module(state="started", input_nodes=["pg-input"], cli_socket=absent, command_prefix=["env"])
    assert result["failure"] == "socket_missing"
    assert "inside the container" in result["msg"]
    assert "connect: No such file or directory" in result["msg"]


def test_stale_socket_means_vpp_is_not_running(vpp):
    stale = os.path.join(vpp.root, "stale.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(stale)
    server.close()  # the file stays, nobody listens: what a crashed VPP leaves behind
    with open(stale + ".scenario.json", "w") as handle:
        json.dump({"fixtures": vpp.fixtures}, handle)
    result = vpp.module(state="stopped", cli_socket=stale)
    assert result["failure"] == "not_running"
    assert "connect: Connection refused" in result["msg"]


def test_vpp_not_answering_times_out(vpp):
    vpp.scenario(trace="trace_acl_deny_ssh.txt", hang=["show trace"], hang_seconds=30)
    result = vpp.module(state="collected", timeout=1)
    assert result["failure"] == "timeout"
    assert "did not answer `show trace max 1000`" in result["msg"]
    assert "within 1.0s" in result["msg"]


def test_vppctl_missing(vpp):
    vpp.scenario()
    here = vpp.module(state="stopped", vppctl_path="vppctl-absent-tkt")
    assert here["failure"] == "vppctl_missing"
    assert "vppctl-absent-tkt was not found" in here["msg"]
    there = vpp.module(state="stopped", vppctl_path="vppctl-absent-tkt", command_prefix=["env"])
    assert there["failure"] == "vppctl_missing"
    assert "not available where command_prefix runs it" in there["msg"]


@pytest.mark.parametrize("args, needle", [
    ({"state": "collected", "filter_ip": ["10.0.0.300"]}, "filter_ip: '10.0.0.300' is not an IP address or CIDR"),
    ({"state": "collected", "filter_protocol": "tcpx"}, "unknown protocol 'tcpx'"),
    ({"state": "collected", "filter_port": 70000}, "filter_port must be between 0 and 65535"),
    ({"state": "started"}, "input_nodes"),
    ({"state": "started", "input_nodes": ["pg-input; reboot"]}, "is not a VPP graph node name"),
    ({"state": "captured", "input_nodes": ["pg-input"], "duration": 0}, "duration must be between"),
    ({"state": "started", "input_nodes": ["pg-input"], "count": 0}, "count must be at least 1"),
])
def test_bad_input_is_refused_with_a_clear_message(vpp, args, needle):
    vpp.scenario()
    result = vpp.module(**args)
    assert result.get("failed") is True
    assert needle in result["msg"]
    assert "Traceback" not in json.dumps(result)
    assert vpp.log() == []


def _role_inventory(vpp):
    node = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {
        "hosts": {"localhost": node},
        "children": {"tracekit_nodes": {"hosts": {
            "vpp1": dict(node, tracekit_dataplane="vpp", tracekit_vpp_cli_socket=vpp.sock,
                         tracekit_vpp_vppctl=STANDIN, tracekit_vpp_input_nodes=["pg-input"]),
            "vpp2": dict(node, tracekit_dataplane="vpp", tracekit_vpp_cli_socket=os.path.join(vpp.root, "gone.sock"),
                         tracekit_vpp_vppctl=STANDIN),
            "k1": dict(node, tracekit_dataplane="linux", tracekit_vpp_cli_socket=vpp.sock,
                       tracekit_vpp_vppctl=STANDIN),
        }}}}}
    inv_path = os.path.join(vpp.root, "inventory.json")
    with open(inv_path, "w") as handle:
        json.dump(inventory, handle)
    return inv_path


def test_role_traces_the_vpp_nodes_of_the_inventory_for_the_runbook(vpp):
    """The vpp_trace role run from localhost: start, (probe), collect, stop; a broken VPP node is reported."""
    vpp.scenario(trace="trace_acl_deny_ssh.txt", errors_after="errors_acl_deny_ssh.txt")
    inv_path = _role_inventory(vpp)
    out_file = os.path.join(vpp.root, "out.json")
    rc, out, err = run_playbook("tests/integration/vpp/vpp_module/play_vpp_trace_role.yml", inventory=inv_path,
                                extra_vars={"run_dir": vpp.run_dir, "out_file": out_file}, extra_env=STANDIN_ENV)
    assert rc == 0, out + err
    with open(out_file) as handle:
        got = json.load(handle)
    assert got["ran"] == ["vpp@vpp1"]
    assert got["failures"] == ["vpp2"]
    assert "VPP trace not started on vpp2" in out and "does not exist" in out
    assert [(p["node"], p["component"], p["reason"], p["endpoint"]) for p in got["drop_points"]] == [
        ("vpp1", "vpp", "acl-plugin-in-ip4-fa: ACL deny packets", "n2-pod1")]
    keys = {"node", "netns", "endpoint", "component", "action", "reason", "time", "source"}
    assert all(keys <= set(o) for o in got["observations"])
    assert [o["action"] for o in got["observations"]] == ["Received", "Forwarded", "Forwarded", "Forwarded", "Dropped"]
    # Only vpp1 was driven (k1 is not a VPP node, vpp2's socket is gone), and its trace was cleared at the end.
    assert vpp.log() == ["show version", "clear trace", "show errors", "trace add pg-input 100",
                         "show trace max 1000", "show errors", "clear trace"]


def test_role_in_per_host_capture_plays_adds_to_each_nodes_observations(vpp):
    """The form diagnose_drop.yml's capture plays (hosts: tracekit_nodes) use; see docs/vpp_trace.md."""
    vpp.scenario(trace="trace_acl_deny_ssh.txt", errors_after="errors_acl_deny_ssh.txt")
    inv_path = _role_inventory(vpp)
    out_file = os.path.join(vpp.root, "out.json")
    rc, out, err = run_playbook("tests/integration/vpp/vpp_module/play_vpp_trace_per_host.yml", inventory=inv_path,
                                extra_vars={"run_dir": vpp.run_dir, "out_file": out_file}, extra_env=STANDIN_ENV)
    assert rc == 0, out + err
    with open(out_file) as handle:
        got = json.load(handle)
    assert got["ran"] == ["vpp@vpp1"]
    assert len(got["problems"]) == 1 and got["problems"][0].startswith("vpp_trace on vpp2: VPP CLI socket ")
    assert "does not exist" in got["problems"][0]
    dropped = [o for o in got["observations"] if o["action"] == "Dropped"]
    assert [(o["node"], o["reason"], o["endpoint"]) for o in dropped] == [
        ("vpp1", "acl-plugin-in-ip4-fa: ACL deny packets", "n2-pod1")]
    assert vpp.log() == ["show version", "clear trace", "show errors", "trace add pg-input 100",
                         "show trace max 1000", "show errors", "clear trace"]

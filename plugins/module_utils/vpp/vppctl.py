# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drive VPP's packet tracer through ``vppctl`` and turn its answers into facts.

``VppCli`` runs one CLI command at a time as an argument list (``[prefix...] vppctl -s SOCKET word...``),
so the same code reaches a VPP on the host or inside a container or pod (``crictl exec ID``,
``kubectl exec -n NS POD -c vpp --``). vppctl prints VPP's own CLI errors on stdout and still exits 0,
so every answer is checked for them. ``TraceSession`` is the state machine of the ``vpp_trace`` module:
started / collected / stopped / captured, with a small state file per VPP instance that keeps the
``show errors`` snapshot taken at start, so a later collection reports counters *since* the start.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import json
import os
import re
import socket
import stat
import tempfile
import time
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.cli_runner import CliError, CliRunner, run_argv
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import error_totals, parse_vpp_errors, vpp_errors_delta
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import (
    VppParseError, parse_vpp_trace, vpp_observations)

DEFAULT_SOCKET = "/run/vpp/cli.sock"
DEFAULT_RUN_DIR = "/run/netdiag-tracekit/vpp_trace"
STATE_VERSION = 1

# VPP CLI errors, printed on stdout while vppctl exits 0 (texts from vlib/trace.c and vlib/cli.c).
_UNKNOWN_NODE_RE = re.compile(r"expected NODE COUNT, got `(?P<rest>[^']*)'")
_NOT_TRACEABLE_RE = re.compile(r"node '(?P<node>[^']+)' doesn't support per-node tracing")
_UNKNOWN_INPUT_RE = re.compile(r"^(?P<path>[^\n`]*?):? ?unknown input `(?P<rest>[^']*)'", re.M)
_EXPECTED_RE = re.compile(r"^expected '[^']*', got `[^']*'", re.M)
# What vppctl prints on stderr when it cannot reach the CLI socket (vpp/app/vppctl.c: perror("connect")).
_CONNECT_RE = re.compile(r"connect: (?P<why>.+)")
_NO_SOCKET_TEXT = "Could not find VPP CLI socket"
# What a container runtime or env prints when the program inside is missing.
_MISSING_PROGRAM_RE = re.compile(r"executable file not found|No such file or directory|not found", re.I)

_NODE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$")

PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "icmp6": 58, "sctp": 132}
_PROTOCOL_ALIASES = {"ipv6-icmp": "icmp6", "icmpv6": "icmp6", "icmp4": "icmp"}


class VppError(TracekitError):
    """A VPP operation failed; ``kind`` names the failure for callers and tests, ``str()`` says what to do."""

    def __init__(self, msg, kind="error", command=None, output=None):
        super(VppError, self).__init__(msg)
        self.kind = kind
        self.command = command
        self.output = output


def check_cli_answer(command, out):
    """Raise VppError when VPP answered ``command`` with one of its CLI error texts (vppctl still exits 0)."""
    match = _UNKNOWN_NODE_RE.search(out)
    if match:
        node = match.group("rest").split()[0] if match.group("rest").split() else ""
        raise VppError("VPP has no graph node %r to trace (`%s` answered: %s). Name an input node that exists "
                       "on this VPP (see `show runtime`), e.g. dpdk-input, af-packet-input, virtio-input, "
                       "memif-input, tapcli-rx, pg-input" % (node, command, match.group(0)),
                       kind="unknown_node", command=command, output=out)
    match = _NOT_TRACEABLE_RE.search(out)
    if match:
        raise VppError("VPP graph node %r cannot start a packet trace (`%s` answered: %s). Trace an input node "
                       "instead (the node that receives packets from an interface)"
                       % (match.group("node"), command, out.strip()),
                       kind="node_not_traceable", command=command, output=out)
    match = _UNKNOWN_INPUT_RE.search(out) or _EXPECTED_RE.search(out)
    if match:
        raise VppError("VPP rejected the command `%s`: %s" % (command, match.group(0).strip()),
                       kind="rejected", command=command, output=out)


class VppCli(object):
    """Run VPP CLI commands through vppctl and keep the list of what was run."""

    def __init__(self, socket_path=DEFAULT_SOCKET, vppctl="vppctl", prefix=None, timeout=10, module=None):
        self.socket_path = socket_path
        self.prefix = list(prefix or [])
        self.timeout = timeout
        self.runner = CliRunner(vppctl, {"socket": lambda v: ["-s", v]}, prefix=self.prefix, module=module,
                                timeout=timeout)
        self.commands = []

    def base_argv(self):
        """``[prefix...] vppctl -s SOCKET``; vppctl is looked up here only without a prefix (else it runs there)."""
        if self.prefix:
            return self.prefix + [self.runner.program, "-s", self.socket_path]
        try:
            return self.runner.argv(["socket"], socket=self.socket_path)
        except CliError as exc:
            raise VppError("vppctl is missing: %s" % exc, kind="vppctl_missing")

    def preflight(self):
        """Fail early and clearly when vppctl or the CLI socket is missing (on this host, not in a container)."""
        self.base_argv()
        if self.prefix:
            return  # the socket lives inside the container: only vppctl there can tell
        try:
            mode = os.stat(self.socket_path).st_mode
        except OSError:
            raise VppError("VPP CLI socket %s does not exist: is VPP running on this host? Set cli_socket to the "
                           "path of VPP's `unix { cli-listen ... }`, or command_prefix when VPP runs in a "
                           "container or pod" % self.socket_path, kind="socket_missing")
        if not stat.S_ISSOCK(mode):
            raise VppError("%s is not a unix socket: cli_socket must be VPP's CLI socket (`unix { cli-listen }`)"
                           % self.socket_path, kind="socket_missing")

    def run(self, command):
        """Run one VPP CLI command (a string of words); return its output; raise VppError on any failure."""
        argv = self.base_argv() + command.split()
        self.commands.append(command)
        try:
            rc, out, err = run_argv(argv, check_rc=False, timeout=self.timeout)
        except CliError as exc:
            if exc.rc is None and "did not answer" in str(exc):
                raise VppError("VPP did not answer `%s` on %s within %ss: is VPP running and not stuck (a "
                               "huge `show trace` can also take long: lower max_packets)? (%s)"
                               % (command, self.socket_path, self.timeout, " ".join(argv)),
                               kind="timeout", command=command)
            raise VppError("cannot run %s: %s" % (" ".join(argv), exc), kind="vppctl_missing" if not self.prefix
                           else "prefix_failed", command=command)
        if rc != 0:
            raise self._failure(command, argv, rc, out, err)
        check_cli_answer(command, out)
        return out

    def _failure(self, command, argv, rc, out, err):
        text = (err or out or "").strip()
        if _NO_SOCKET_TEXT in text:
            return VppError("vppctl found no VPP CLI socket (%s): give cli_socket" % text, kind="socket_missing",
                            command=command, output=text)
        match = _CONNECT_RE.search(text)
        if match:
            why = match.group("why").strip()
            if "No such file" in why:
                return VppError("VPP CLI socket %s does not exist%s: is VPP running? Set cli_socket to VPP's "
                                "`unix { cli-listen ... }` path (vppctl: %s)"
                                % (self.socket_path, " inside the container" if self.prefix else "", text),
                                kind="socket_missing", command=command, output=text)
            if "refused" in why:
                return VppError("VPP is not listening on %s (vppctl: %s): the socket is stale, VPP is stopped or "
                                "restarting" % (self.socket_path, text), kind="not_running", command=command,
                                output=text)
            return VppError("vppctl cannot connect to %s: %s" % (self.socket_path, text), kind="connect_failed",
                            command=command, output=text)
        if self.prefix and rc in (126, 127) or (self.prefix and _MISSING_PROGRAM_RE.search(text)
                                                and self.runner.program in text):
            return VppError("%s is not available where command_prefix runs it (%s exited %d: %s)"
                            % (self.runner.program, " ".join(argv), rc, text), kind="vppctl_missing",
                            command=command, output=text)
        return VppError("%s exited with %d: %s" % (" ".join(argv), rc, text[:2000]), kind="failed",
                        command=command, output=text)


# ---------------------------------------------------------------- state file


def state_key(socket_path, prefix):
    """A file-name-safe key for one VPP instance: its socket as seen through its command prefix."""
    blob = json.dumps([list(prefix or []), socket_path])
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


class StateStore(object):
    """The state file of one VPP instance under ``run_dir`` (what was started, and the errors snapshot)."""

    def __init__(self, run_dir, socket_path, prefix):
        self.run_dir = run_dir
        self.path = os.path.join(run_dir, "vpp-trace-%s.json" % state_key(socket_path, prefix))

    def load(self):
        try:
            with open(self.path) as handle:
                data = json.load(handle)
        except (IOError, OSError):
            return None
        except ValueError as exc:
            raise VppError("state file %s is damaged (%s): remove it or run state=stopped" % (self.path, exc),
                           kind="state_damaged")
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise VppError("state file %s was not written by this vpp_trace version: remove it or run "
                           "state=stopped" % self.path, kind="state_damaged")
        return data

    def save(self, data):
        try:
            if not os.path.isdir(self.run_dir):
                os.makedirs(self.run_dir, 0o700)
            fd, tmp = tempfile.mkstemp(dir=self.run_dir, prefix=".vpp-trace-")
            with os.fdopen(fd, "w") as handle:
                json.dump(dict(data, version=STATE_VERSION), handle, sort_keys=True)
            os.rename(tmp, self.path)
        except (IOError, OSError) as exc:
            raise VppError("cannot write the state file under run_dir %s: %s" % (self.run_dir, exc),
                           kind="run_dir")

    def remove(self):
        try:
            os.unlink(self.path)
            return True
        except OSError:
            return False


# ---------------------------------------------------------------- error counters


def _totals(rows):
    # the same summer as the parser's delta: per-thread rows, or the Total: section when it is all there is
    return error_totals(rows)[0]


def errors_delta(before, after):
    """(counters that grew since ``before``, whether any went down); rows summed over threads.

    A counter that went down was cleared in between (``clear errors``): the parser's delta counts its whole
    current value, and ``reset`` says so.
    """
    old, new = _totals(before), _totals(after)
    # show errors lists only non-zero counters: one that vanished was cleared too.
    reset = any(new.get(key, 0) < count for key, count in old.items())
    return vpp_errors_delta(before or [], after or []), reset


# ---------------------------------------------------------------- packet filters


def normalize_protocol(value):
    """'TCP', 'tcp', 6, '6' -> 'tcp'; None -> None; raise ValueError for what is no protocol."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    text = _PROTOCOL_ALIASES.get(text, text)
    if text.isdigit():
        number = int(text)
        for name, num in PROTOCOL_NUMBERS.items():
            if num == number:
                return name
        if 0 <= number <= 255:
            return str(number)
        raise ValueError("protocol number %s is out of range 0-255" % value)
    if text in PROTOCOL_NUMBERS:
        return text
    raise ValueError("unknown protocol %r: use one of %s or a protocol number"
                     % (value, ", ".join(sorted(PROTOCOL_NUMBERS))))


def parse_networks(values):
    """Addresses or CIDRs -> ip_network objects; raise ValueError naming the bad one."""
    nets = []
    for value in values or []:
        try:
            nets.append(ipaddress.ip_network(str(value).strip(), strict=False))
        except ValueError:
            raise ValueError("filter_ip: %r is not an IP address or CIDR" % (value,))
    return nets


def _address(value):
    if not value:
        return None
    try:
        return ipaddress.ip_address(str(value).split("%", 1)[0])
    except ValueError:
        return None


def _port(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _flow_value(flow, *keys):
    for key in keys:
        if flow.get(key) is not None:
            return flow.get(key)
    return None


class PacketFilter(object):
    """Keep the packets of one conversation: any address in ``networks`` (source or destination), protocol, port.

    A packet matches when one of the headers seen along its graph path (``flows``: before and after NAT or
    encapsulation) matches every filter, so a probe is still found after VPP rewrote it.
    """

    def __init__(self, networks=None, protocol=None, port=None):
        self.networks = list(networks or [])
        self.protocol = protocol
        self.port = port

    @property
    def active(self):
        return bool(self.networks or self.protocol or self.port is not None)

    def _address_ok(self, flow):
        if not self.networks:
            return True
        addrs = [a for a in (_address(flow.get("src")), _address(flow.get("dst"))) if a is not None]
        return any(a.version == n.version and a in n for a in addrs for n in self.networks)

    def _protocol_ok(self, flow):
        if not self.protocol:
            return True
        try:
            return normalize_protocol(flow.get("protocol")) == self.protocol
        except ValueError:
            return False

    def _port_ok(self, flow):
        if self.port is None:
            return True
        ports = (_port(_flow_value(flow, "sport", "src_port")), _port(_flow_value(flow, "dport", "dst_port")))
        return self.port in ports

    def rejects(self, packet):
        """None when the packet matches, else the first filter no header of it passes (address/protocol/port)."""
        flows = [f for f in (packet.get("flows") or [packet.get("flow")]) if f]
        stage = [f for f in flows if self._address_ok(f)]
        if not stage:
            return "address"
        stage = [f for f in stage if self._protocol_ok(f)]
        if not stage:
            return "protocol"
        if not any(self._port_ok(f) for f in stage):
            return "port"
        return None

    def apply(self, packets):
        if not self.active:
            return list(packets), {"total": 0, "address": 0, "protocol": 0, "port": 0}
        kept, out = [], {"total": 0, "address": 0, "protocol": 0, "port": 0}
        for packet in packets:
            why = self.rejects(packet)
            if why is None:
                kept.append(packet)
            else:
                out["total"] += 1
                out[why] += 1
        return kept, out


# ---------------------------------------------------------------- drops, observations


def drops_summary(packets, error_delta=None):
    """Group dropped and punted packets by (graph node, reason), with the matching error counter delta."""
    counters = {}
    for entry in error_delta or []:
        key = (entry.get("node"), entry.get("reason"))
        counters[key] = counters.get(key, 0) + int(entry.get("count") or 0)
    groups, order = {}, []
    for packet in packets:
        if packet.get("fate") not in ("dropped", "punted"):
            continue
        key = (packet.get("drop_node"), packet.get("drop_reason"))
        if key not in groups:
            groups[key] = {"node": key[0], "reason": key[1], "fate": packet.get("fate"), "packets": 0,
                           "packet_indexes": [], "error_counter": counters.get(key)}
            order.append(key)
        groups[key]["packets"] += 1
        groups[key]["packet_indexes"].append(packet.get("index"))
    return sorted((groups[k] for k in order), key=lambda g: -g["packets"])


def _path(packet):
    return [n.get("node") for n in packet.get("nodes") or []]


def _drop_text(node, reason):
    if node and reason:
        return "%s: %s" % (node, reason)
    return node or reason or "unknown"


def drop_detail(packet, packets_count=None, error_counter=None):
    """One sentence for a human: the graph path, where the packet came in, how many, the error counter."""
    parts = ["VPP graph path %s" % " > ".join(_path(packet))]
    if packet.get("rx_interface"):
        parts.append("received on %s" % packet["rx_interface"])
    if packet.get("fate") == "punted":
        parts.append("punted (not handled by VPP's graph)")
    if packet.get("icmp_error_sent"):
        parts.append("an ICMP error was sent back via %s" % packet.get("output_interface"))
    if packets_count is not None:
        parts.append("%d traced packet%s dropped here" % (packets_count, "" if packets_count == 1 else "s"))
    if error_counter is not None:
        parts.append("error counter +%d since the trace started" % error_counter)
    return "; ".join(parts)


def drop_points(packets, drops, report_node=None, endpoint=None):
    """One drop_point per (graph node, reason), shaped as diagnose_drop.yml's contract, plus ``facts``."""
    first = {}
    for packet in packets:
        key = (packet.get("drop_node"), packet.get("drop_reason"))
        if packet.get("fate") in ("dropped", "punted") and key not in first:
            first[key] = packet
    points = []
    for group in drops:
        packet = first[(group["node"], group["reason"])]
        nodes = _path(packet)
        points.append({
            "node": report_node,
            "netns": None,
            "endpoint": endpoint,
            "component": "vpp",
            "reason": _drop_text(group["node"], group["reason"]),
            "detail": drop_detail(packet, group["packets"], group["error_counter"]),
            "facts": {
                "graph_node": group["node"],
                "drop_reason": group["reason"],
                "fate": group["fate"],
                "packets": group["packets"],
                "error_counter": group["error_counter"],
                "input_node": nodes[0] if nodes else None,
                "path": nodes,
                "thread": packet.get("thread"),
                "packet_index": packet.get("index"),
                "vpp_time": packet["nodes"][-1].get("time") if packet.get("nodes") else None,
                "rx_interface": packet.get("rx_interface"),
                "icmp_error_sent": packet.get("icmp_error_sent"),
                "flow": packet.get("flow"),
            },
        })
    return points


def observations(parsed, packets, report_node=None, endpoint=None, drops=None):
    """The parser's observations (one per graph node crossed, then the outcome) for the kept packets.

    ``time`` stays only when VPP printed wall-clock timestamps (``set trace timestamp-format unix`` or
    ``datetime``, VPP 26.06+); VPP's default is seconds since VPP started, which cannot be ordered against
    the probe's and the kernel's epoch times, so it is kept in ``vpp_time`` and ``time`` is null.
    Dropped and Rejected observations carry ``detail``, which the diagnosis copies into its drop point.
    """
    counters = dict(((d["node"], d["reason"]), d.get("error_counter")) for d in drops or [])
    by_packet = dict(((p.get("thread"), p.get("index")), p) for p in packets if p.get("index") is not None)
    obs = vpp_observations(dict(parsed, packets=packets), node=report_node)
    for item in obs:
        item["endpoint"] = endpoint
        if item.get("time_base") != "unix":
            item["time"] = None
        if item.get("action") in ("Dropped", "Rejected"):
            packet = by_packet.get((item.get("thread"), item.get("packet")))
            if packet is not None:
                item["detail"] = drop_detail(packet, None, counters.get((packet.get("drop_node"),
                                                                         packet.get("drop_reason"))))
    return obs


# ---------------------------------------------------------------- the state machine


def _parse_trace(text):
    try:
        return parse_vpp_trace(text)
    except VppParseError as exc:
        raise VppError("cannot read VPP's `show trace` answer: %s" % exc, kind="unparsable", output=text)


def validate_nodes(nodes):
    for node in nodes or []:
        if not isinstance(node, str) or not _NODE_NAME_RE.match(node):
            raise VppError("input_nodes: %r is not a VPP graph node name (letters, digits, - _ . : /)" % (node,),
                           kind="bad_input")


class TraceSession(object):
    """started / collected / stopped / captured against one VPP instance."""

    def __init__(self, cli, store, check_mode=False, clock=time.time, sleep=time.sleep):
        self.cli = cli
        self.store = store
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.planned = []
        self.warnings = []

    # -- helpers
    def _mutate(self, command):
        """Run a command that changes VPP's trace state, or only plan it in check mode."""
        if self.check_mode:
            self.planned.append(command)
            return ""
        return self.cli.run(command)

    def _errors(self):
        text = self.cli.run("show errors")
        try:
            return parse_vpp_errors(text)
        except ValueError as exc:
            raise VppError("cannot read VPP's `show errors` answer: %s" % exc, kind="unparsable", output=text)

    # -- states
    def start(self, input_nodes, count, clear_errors=False, ignore_unknown_nodes=False):
        """Clear the trace (and the counters), snapshot ``show errors``, arm ``trace add`` on each input node.

        With ``ignore_unknown_nodes``, a node this VPP does not have (or cannot trace from) is skipped with a
        warning, so one list of input nodes serves VPPs built with different drivers; at least one must arm.
        """
        validate_nodes(input_nodes)
        if not input_nodes:
            raise VppError("input_nodes is empty: name at least one VPP input node to trace", kind="bad_input")
        self.cli.preflight()
        version = self.cli.run("show version").strip()
        commands = ["clear trace"]
        if clear_errors:
            commands.append("clear errors")
        armed, skipped = [], []
        try:
            for command in commands:
                self._mutate(command)
            baseline = self._errors()
            for node in input_nodes:
                try:
                    self._mutate("trace add %s %d" % (node, count))
                    armed.append(node)
                except VppError as exc:
                    if not ignore_unknown_nodes or exc.kind not in ("unknown_node", "node_not_traceable"):
                        raise
                    skipped.append(node)
                    self.warnings.append("skipped input node %s: %s" % (node, exc))
            if not armed:
                raise VppError("none of the input nodes %s exists on this VPP or can start a trace: name the "
                               "input nodes of its interfaces (see `show runtime`)" % ", ".join(input_nodes),
                               kind="unknown_node")
        except VppError:
            if not self.check_mode:
                self._cleanup()
            raise
        state = {"socket": self.cli.socket_path, "command_prefix": self.cli.prefix, "started_at": self.clock(),
                 "input_nodes": armed, "count": count, "errors_cleared": bool(clear_errors),
                 "errors_baseline": baseline, "vpp_version": version}
        if not self.check_mode:
            self.store.save(state)
        return {"version": version, "started": state, "input_nodes": armed, "skipped_nodes": skipped}

    def _cleanup(self):
        self.store.remove()  # an older start's snapshot no longer matches what VPP holds
        try:
            self.cli.run("clear trace")
            self.warnings.append("trace start failed part-way: ran `clear trace` so no trace stays armed")
        except VppError as exc:
            self.warnings.append("trace start failed and `clear trace` failed too: %s" % exc)

    def collect(self, max_packets, packet_filter, report_node=None, endpoint=None):
        self.cli.preflight()
        state = self.store.load()
        text = self.cli.run("show trace max %d" % max_packets)
        parsed = _parse_trace(text)
        counters = self._errors()
        packets = parsed.get("packets") or []
        kept, filtered_out = packet_filter.apply(packets)
        if state is None:
            since, reset, baseline = None, False, "none"
            self.warnings.append("no trace was started by vpp_trace on %s (no state file %s): error counters are "
                                 "cumulative, not since a start" % (self.cli.socket_path, self.store.path))
        else:
            since, reset = errors_delta(state.get("errors_baseline"), counters)
            baseline = "cleared" if state.get("errors_cleared") else "snapshot"
        if parsed.get("limited"):
            self.warnings.append("VPP holds more traced packets than max_packets=%d: only the first ones were read "
                                 "(raise max_packets, or trace fewer packets with count)" % max_packets)
        drops = drops_summary(kept, since)
        return {
            "trace": {
                "packets": kept,
                "summary": parsed.get("summary"),
                "total": len(packets),
                "matched": len(kept),
                "filtered_out": filtered_out,
                "limited": bool(parsed.get("limited")),
            },
            "errors": {"counters": counters, "since_start": since, "baseline": baseline,
                       "reset_detected": reset, "started_at": state.get("started_at") if state else None},
            "drops": drops,
            "drop_points": drop_points(kept, drops, report_node, endpoint),
            "observations": observations(parsed, kept, report_node, endpoint, drops),
        }

    def stop(self):
        self.cli.preflight()
        self._mutate("clear trace")
        removed = False
        if not self.check_mode:
            removed = self.store.remove()
        return {"state_removed": removed}

    def capture(self, input_nodes, count, duration, poll_interval, max_packets, packet_filter,
                clear_errors=False, report_node=None, endpoint=None, ignore_unknown_nodes=False):
        result = self.start(input_nodes, count, clear_errors, ignore_unknown_nodes)
        if self.check_mode:
            result["capture"] = {"stopped_by": "check_mode", "waited": 0.0, "polls": 0, "packets_seen": 0}
            return result
        begin = self.clock()
        deadline = begin + duration
        polls, seen, stopped_by = 0, 0, "duration"
        while True:
            now = self.clock()
            if now >= deadline:
                break
            self.sleep(min(poll_interval, deadline - now))
            polls += 1
            packets = _parse_trace(self.cli.run("show trace max %d" % max_packets)).get("packets") or []
            seen = len(packet_filter.apply(packets)[0])
            if seen >= count:
                stopped_by = "count"
                break
        waited = round(self.clock() - begin, 3)
        result.update(self.collect(max_packets, packet_filter, report_node, endpoint))
        result["capture"] = {"stopped_by": stopped_by, "waited": waited, "polls": polls, "packets_seen": seen}
        return result


def local_hostname():
    return socket.gethostname()

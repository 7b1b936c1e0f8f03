# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One nftables trace of a probe: arm a trace table in each namespace, read NFT_MSG_TRACE, always clean up.

For each namespace: open a netlink socket there (pyroute2) on ``NFNLGRP_NFTRACE``, load a table of our own
(``inet tracekit_trace_<pid>_<start>``) whose chains on the prerouting and output hooks, at the lowest
priority there is, set ``meta nftrace set 1`` on the probe's packets only (DSCP and IPv4 ID or IPv6 flow
label), and snapshot the ruleset (rule handles and comments over netlink, readable text from ``nft -j``).
After the capture, only the trace ids whose packet carries the probe's tag are kept, and each is turned into
the steps it went through and the rule (and policy) that decided it.

The table goes away on every exit: normal end, failure (``close()`` in ``finally``), SIGTERM/SIGINT/SIGHUP
(they end the capture, which then cleans up), and SIGKILL: every armed namespace is written to a state file
under ``STATE_DIR`` first, and the next session removes the tables of owners that no longer run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import ipaddress
import json
import os
import select
import shutil
import struct
import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.cli_runner import CliError, run_argv
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.signal_files import remove_leftover, write_json
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.stoppable import Stoppable
from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace import policy as policy_mod
from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace import ruleset as ruleset_mod
from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.trace_decode import (
    TraceDecodeError, decode_stream, network_tag)

TABLE_PREFIX = "tracekit_trace_"
STATE_DIR = "/run/netdiag-tracekit/nftrace"
NFNLGRP_NFTRACE = 9
PRIORITY = -2147483648          # before every other chain of the hook
L4 = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}


class NftraceError(TracekitError):
    """The trace could not run at all; the message says why and what to do."""


# ------------------------------------------------------------------ helpers

def _proc_start(pid):
    """The start time of a process (clock ticks since boot), to tell a live owner from a reused PID."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError, ValueError):
        return None


def own_table_name():
    return "%s%d_%s" % (TABLE_PREFIX, os.getpid(), _proc_start(os.getpid()) or "0")


def owner_alive(table):
    """False when the table's owner (pid and start time in its name) no longer runs."""
    try:
        pid, start = table[len(TABLE_PREFIX):].split("_", 1)
        return _proc_start(int(pid)) == start
    except ValueError:
        return False


def nft(ns_path, args, data=None, timeout=20):
    """Run nft in the namespace at ns_path (None: this one); return its stdout; CliError on failure."""
    cmd = ["nft"] + list(args)
    if ns_path and ns_path != "/proc/self/ns/net":
        cmd = ["nsenter", "--net=%s" % ns_path, "--"] + cmd
    _rc, out, _err = run_argv(cmd, data=data, timeout=timeout)
    return out


def tag_match(tag):
    """The nft matches of the probe's packets: DSCP and IPv4 IDs, and/or DSCP and IPv6 flow label."""
    try:
        dscp = int(tag["dscp"])
        label = int(tag["flow_label"]) if tag.get("flow_label") is not None else None
        first = int(tag["ip_id"]) if tag.get("ip_id") is not None else None
        count = max(1, min(int(tag.get("count") or 1), 64))
    except (TypeError, ValueError, KeyError):
        raise NftraceError("the tag must have a numeric dscp and ip_id and/or flow_label, got %r" % (tag,))
    if not 0 <= dscp <= 63:
        raise NftraceError("tag dscp %r is not 0-63" % tag["dscp"])
    matches = []
    if first is not None:
        if not 0 <= first <= 0xFFFF:
            raise NftraceError("tag ip_id %r is not 0-65535" % tag["ip_id"])
        ids = sorted(set((first + i) & 0xFFFF for i in range(count)))
        id_match = ids[0] if len(ids) == 1 else "{ %s }" % ", ".join(str(i) for i in ids)
        matches.append("ip dscp %d ip id %s" % (dscp, id_match))
    if label is not None:
        if not 0 <= label <= 0xFFFFF:
            raise NftraceError("tag flow_label %r is not 0-1048575" % tag["flow_label"])
        matches.append("ip6 dscp %d ip6 flowlabel %d" % (dscp, label))
    if not matches:
        raise NftraceError("the tag needs ip_id (IPv4) or flow_label (IPv6) besides dscp")
    return matches


MAX_TAGS = 1000


def tag_list(tag=None, tags=None):
    """The probes' tags as one checked list: ``tag`` (one probe) and/or ``tags`` (a batch, one per probe)."""
    if tags is not None and not isinstance(tags, list):
        raise NftraceError("tags must be a list of probe tags, got %r" % (tags,))
    out = ([tag] if tag else []) + list(tags or [])
    if not out:
        raise NftraceError("give the probe's tag (or the batch's tags): dscp and ip_id or flow_label "
                           "(packet_inject's probe.tag)")
    if len(out) > MAX_TAGS:
        raise NftraceError("%d tags is more than one trace follows (at most %d)" % (len(out), MAX_TAGS))
    for one in out:
        if not isinstance(one, dict) or one.get("dscp") is None:
            raise NftraceError("each tag needs dscp and ip_id or flow_label (packet_inject's probe.tag), got %r"
                               % (one,))
        tag_match(one)
    return out


def table_text(name, tags):
    """The trace table: one ``meta nftrace set 1`` rule per match of each tag, in both chains."""
    if isinstance(tags, dict):
        tags = [tags]
    matches = []
    for tag in tags:
        for match in tag_match(tag):
            if match not in matches:
                matches.append(match)
    chains = []
    for chain, hook in (("pre", "prerouting"), ("out", "output")):
        rules = "".join("    %s meta nftrace set 1\n" % m for m in matches)
        chains.append("  chain %s {\n    type filter hook %s priority %d; policy accept;\n%s  }"
                      % (chain, hook, PRIORITY, rules))
    return ('table inet %s {\n  comment "tracekit-nftrace: marks one probe for tracing, removed when the capture '
            'ends"\n%s\n}\n' % (name, "\n".join(chains)))


def list_trace_tables(ns_path):
    out = json.loads(nft(ns_path, ["-j", "list", "tables"]) or "{}")
    return [t["table"]["name"] for t in out.get("nftables", [])
            if "table" in t and t["table"].get("family") == "inet"
            and str(t["table"].get("name", "")).startswith(TABLE_PREFIX)]


def remove_stale(ns_path):
    """Delete trace tables whose owner no longer runs (a capture killed by SIGKILL); return their names."""
    removed = []
    for table in list_trace_tables(ns_path):
        if not owner_alive(table):
            try:
                nft(ns_path, ["delete", "table", "inet", table])
                removed.append(table)
            except CliError:
                continue
    return removed


def clean_state_dir(state_dir=STATE_DIR):
    """Clean the namespaces listed by state files of dead owners; return [(ns_path, table)] removed."""
    removed = []
    for path in glob.glob(os.path.join(state_dir, "*.json")):
        try:
            with open(path) as handle:
                state = json.load(handle)
            table = state["table"]
            if owner_alive(table):
                continue
            for ns_path in state.get("netns") or []:
                if ns_path and not os.path.exists(ns_path):
                    continue
                try:
                    nft(ns_path, ["delete", "table", "inet", table])
                    removed.append((ns_path, table))
                except CliError:
                    pass
            os.unlink(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return removed


def packet_info(network_hex, transport_hex):
    """{version, src, dst, protocol, dport, sport, dscp, tag} of a header copy, or {} when it is none."""
    try:
        raw = bytes.fromhex(network_hex or "")
        l4 = bytes.fromhex(transport_hex or "")
    except ValueError:
        return {}
    out = {}
    if len(raw) >= 20 and raw[0] >> 4 == 4:
        out = {"version": 4, "src": str(ipaddress.ip_address(raw[12:16])), "dst": str(ipaddress.ip_address(raw[16:20])),
               "proto": raw[9]}
    elif len(raw) >= 40 and raw[0] >> 4 == 6:
        out = {"version": 6, "src": str(ipaddress.ip_address(raw[8:24])), "dst": str(ipaddress.ip_address(raw[24:40])),
               "proto": raw[6]}
    else:
        return {}
    out["protocol"] = L4.get(out["proto"], str(out["proto"]))
    if out["proto"] in (6, 17, 132) and len(l4) >= 4:
        out["sport"], out["dport"] = struct.unpack(">HH", l4[:4])
    return out


def header_tag(network_hex):
    """``{dscp, ip_id}`` or ``{dscp, flow_label}`` of a traced packet's IP header (to split traces by probe)."""
    found = network_tag(network_hex)
    if found is None:
        return None
    version, dscp, value = found
    return {"dscp": dscp, "flow_label" if version == 6 else "ip_id": value}


def tag_of_trace(tag, network_hex):
    """True when a traced packet's IP header carries the probe's tag (tag: one tag or a list of them)."""
    if isinstance(tag, list):
        return any(tag_of_trace(one, network_hex) for one in tag)
    found = network_tag(network_hex)
    if found is None:
        return False
    version, dscp, value = found
    if tag.get("dscp") is not None and dscp != int(tag["dscp"]):
        return False
    if version == 6:
        return tag.get("flow_label") is not None and value == int(tag["flow_label"])
    if tag.get("ip_id") is None:
        return False
    return (value - int(tag["ip_id"])) & 0xFFFF < max(1, int(tag.get("count") or 1))


# ------------------------------------------------------------------ one namespace

class Namespace(object):
    """The trace in one namespace: socket, table, ruleset snapshot, messages."""

    def __init__(self, spec, table):
        self.spec = spec
        self.table = table
        self.path = None
        self.name = None
        self.inode = None
        self.sock = None
        self.nlsock = None
        self.installed = False
        self.messages = []
        self.errors = []
        self.enobufs = 0
        self.rules = {}
        self.index = {"rules": {}, "chains": {}, "sets": {}}
        self.stale_removed = []

    def resolve(self):
        info = netns_utils.resolve(self.spec)
        self.path, self.name, self.inode = info["path"], info["name"], info["inode"]

    def open(self):
        # Imported here: the module still loads (and says what is missing) on a node without pyroute2.
        from pyroute2.netlink.nlsocket import NetlinkSocket  # pylint: disable=import-outside-toplevel
        from pyroute2.netlink import NETLINK_NETFILTER  # pylint: disable=import-outside-toplevel
        kwargs = {"family": NETLINK_NETFILTER, "rcvbuf": 4 * 1024 * 1024}
        if self.path != "/proc/self/ns/net":
            kwargs.update(netns=self.path, flags=0)
        self.nlsock = NetlinkSocket(**kwargs)
        self.nlsock.bind()
        self.sock = self.nlsock.asyncore.socket
        self.sock.setsockopt(270, 1, NFNLGRP_NFTRACE)       # SOL_NETLINK, NETLINK_ADD_MEMBERSHIP
        self.sock.setblocking(False)

    def install(self, tags):
        self.stale_removed = remove_stale(self.path)
        nft(self.path, ["-f", "-"], data=table_text(self.table, tags))
        self.installed = True

    def snapshot(self):
        """Rule handles and comments by netlink, readable text by ``nft -j`` (as the ruleset is now)."""
        from pyroute2.netlink.nlsocket import NetlinkSocket  # pylint: disable=import-outside-toplevel
        from pyroute2.netlink import NETLINK_NETFILTER  # pylint: disable=import-outside-toplevel
        kwargs = {"family": NETLINK_NETFILTER}
        if self.path != "/proc/self/ns/net":
            kwargs.update(netns=self.path, flags=0)
        dump = NetlinkSocket(**kwargs)
        try:
            dump.bind()
            raw = dump.asyncore.socket
            raw.settimeout(5)
            for seq, what in ((1, ruleset_mod.NFT_MSG_GETRULE), (2, ruleset_mod.NFT_MSG_GETCHAIN)):
                raw.send(ruleset_mod.getrule_request(seq, what))
                deadline = time.monotonic() + 5
                done = False
                while not done and time.monotonic() < deadline:
                    data = raw.recv(1024 * 1024)
                    self.rules, done, err = ruleset_mod.decode_rule_dump(data, self.rules)
                    if err:
                        raise NftraceError("the rule dump failed: %s" % os.strerror(err))
        finally:
            dump.close()
        self.index = ruleset_mod.index_json(json.loads(nft(self.path, ["-j", "list", "ruleset"]) or "{}"))

    def read(self, now):
        """Read every pending message (non-blocking)."""
        for _i in range(10000):
            try:
                data = self.sock.recv(1024 * 1024)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == 105:        # ENOBUFS: the kernel dropped messages for this socket
                    self.enobufs += 1
                    continue
                raise
            if not data:
                return
            msgs, errors = decode_stream(data)
            for msg in msgs:
                msg["received"] = now
            self.messages.extend(msgs)
            self.errors.extend(errors[:20])

    def remove(self):
        if self.installed:
            try:
                nft(self.path, ["delete", "table", "inet", self.table])
            except CliError as exc:
                if "No such file" not in str(exc):
                    self.errors.append("cannot remove table inet %s: %s" % (self.table, exc))
            self.installed = False

    def close_socket(self):
        if self.nlsock is not None:
            try:
                self.nlsock.close()
            except Exception:  # pylint: disable=broad-except
                pass
            self.nlsock = None
            self.sock = None


# ------------------------------------------------------------------ session

class NftraceSession(Stoppable):
    """``with NftraceSession(netns, tag) as s: s.arm(); s.capture(10); result = s.result()``.

    ``tags`` (a list of tags, one per probe of a batch) follows several probes in the one table; each trace
    then says in ``tag`` which header values it carried, to split the traces by probe afterwards.
    """

    def __init__(self, netns, tag=None, ready_file=None, stop_file=None, state_dir=STATE_DIR, max_messages=20000,
                 tags=None):
        self.tags = tag_list(tag, tags)
        self.tag = self.tags[0]
        self.table = own_table_name()
        self.specs = list(netns or []) or ["host"]
        self.ready_file = ready_file
        self.stop_file = stop_file
        self.state_dir = state_dir
        self.state_file = os.path.join(state_dir, "%s.json" % self.table)
        self.max_messages = max_messages
        self.spaces = []
        self.problems = []
        self.stale_removed = []
        self.stopped_by = None
        self.signal_name = None
        self.arm_seconds = None
        self.attached_at = None
        self.capture_seconds = None
        self._old_handlers = {}

    def prepare(self):
        if os.geteuid() != 0:
            raise NftraceError("nft_trace must run as root (CAP_NET_ADMIN in every namespace): use become: true")
        for path in (self.ready_file, self.stop_file):
            if path:
                remove_leftover(path, NftraceError)
        self.install_signal_handlers()
        if not shutil.which("nft"):
            self.problems.append("nftables is not installed on this node (no nft program): nothing was traced")
            return self
        if not shutil.which("nsenter"):
            self.problems.append("nsenter (util-linux) is missing: cannot enter namespaces")
            return self
        try:
            import pyroute2  # noqa: F401 pylint: disable=import-outside-toplevel,unused-import
        except ImportError:
            raise NftraceError("pyroute2 is not installed for %s: pip install pyroute2" % os.sys.executable)
        self.stale_removed = ["%s in %s" % (t, p) for p, t in clean_state_dir(self.state_dir)]
        seen = set()
        for spec in self.specs:
            ns = Namespace(spec, self.table)
            try:
                ns.resolve()
            except netns_utils.NetnsError as exc:
                self.problems.append("namespace %s: %s; it is not traced" % (spec, exc))
                continue
            if ns.inode in seen:
                continue
            seen.add(ns.inode)
            self.spaces.append(ns)
        return self

    def _write_state(self):
        try:
            if not os.path.isdir(self.state_dir):
                os.makedirs(self.state_dir, 0o700)
            with open(self.state_file, "w") as handle:
                json.dump({"table": self.table, "pid": os.getpid(), "netns": [ns.path for ns in self.spaces]}, handle)
        except OSError as exc:
            raise NftraceError("cannot write the state file %s: %s" % (self.state_file, exc.strerror))

    def arm(self):
        """Open the sockets, load the tables, snapshot the rulesets; write ready_file."""
        start = time.monotonic()
        if self.spaces:
            self._write_state()         # first: a SIGKILL from here on is cleaned by the next start
        armed = []
        for ns in self.spaces:
            if self.stopped_by:
                break
            try:
                ns.open()
                ns.install(self.tags)
                ns.snapshot()
                armed.append(ns)
                self.stale_removed.extend("%s in %s" % (t, ns.spec) for t in ns.stale_removed)
            except (CliError, NftraceError, TraceDecodeError, OSError, ValueError) as exc:
                self.problems.append("namespace %s: cannot trace (%s); the rest goes on" % (ns.spec, exc))
                ns.remove()
                ns.close_socket()
        self.spaces = armed
        self.arm_seconds = round(time.monotonic() - start, 3)
        self.attached_at = round(time.time(), 6)
        if self.ready_file:
            write_json(self.ready_file, {"pid": os.getpid(), "attached_at": self.attached_at,
                                         "netns": [ns.spec for ns in armed], "problems": self.problems},
                       NftraceError)
        return self.arm_seconds

    def capture(self, duration, poll_ms=50):
        start = time.monotonic()
        deadline = start + duration
        socks = dict((ns.sock.fileno(), ns) for ns in self.spaces if ns.sock is not None)
        while self.stopped_by is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stopped_by = "duration"
                break
            ready = select.select(list(socks), [], [], min(poll_ms / 1000.0, left))[0] if socks else (
                time.sleep(min(poll_ms / 1000.0, left)) or [])
            now = time.time()
            for fd in ready:
                socks[fd].read(now)
            if self.full():
                self.stopped_by = "max_messages"
            elif self.stop_file and os.path.exists(self.stop_file):
                self.stopped_by = "stop_file"
        self.poll()
        self.capture_seconds = round(time.monotonic() - start, 3)
        self.close()
        for path in (self.ready_file, self.stop_file):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def full(self):
        return sum(len(ns.messages) for ns in self.spaces) >= self.max_messages

    def filenos(self):
        """The trace sockets' descriptors, for a caller with its own loop to wait on (nettrace)."""
        return [ns.sock.fileno() for ns in self.spaces if ns.sock is not None]

    def poll(self):
        """Read what is pending on every socket without waiting (for a caller with its own loop: nettrace)."""
        now = time.time()
        for ns in self.spaces:
            if ns.sock is not None and not self.full():
                ns.read(now)

    def close(self):
        """Remove every table and socket; safe to call more than once."""
        for ns in self.spaces:
            ns.remove()
            ns.close_socket()
        if not any(ns.installed for ns in self.spaces):
            try:
                os.unlink(self.state_file)
            except OSError:
                pass
        self.restore_signal_handlers()

    def result(self):
        traces = []
        counters = {"messages": 0, "kept": 0, "enobufs": 0, "malformed": 0}
        for ns in self.spaces:
            counters["messages"] += len(ns.messages)
            counters["enobufs"] += ns.enobufs
            counters["malformed"] += len(ns.errors)
            found = build_traces(ns, self.tags)
            counters["kept"] += sum(len(t["steps"]) for t in found)
            traces.extend(found)
        traces.sort(key=lambda t: t["time"] or 0)
        return {"traces": traces, "counters": counters, "problems": self.problems,
                "netns": [{"spec": ns.spec, "name": ns.name, "inode": ns.inode} for ns in self.spaces],
                "table": self.table, "stale_removed": self.stale_removed, "stopped_by": self.stopped_by,
                "arm_seconds": self.arm_seconds, "attached_at": self.attached_at,
                "capture_seconds": self.capture_seconds,
                "errors": [e for ns in self.spaces for e in ns.errors][:50]}


# ------------------------------------------------------------------ interpretation

def _rule_of(ns, step):
    """{family, table, chain, handle, text, comment, verdict} for one trace step."""
    if step["type"] == "policy":
        # A base chain's default policy: no rule, no handle; the chain's own comment may name the policy.
        chain = (ns.rules.get((step["family"], step["table"], "chain", step["chain"]))
                 or ns.index["chains"].get((step["family"], step["table"], step["chain"])) or {})
        return {"family": step["family"], "table": step["table"], "chain": step["chain"], "handle": None,
                "text": "policy %s of chain %s" % (step["verdict"], step["chain"]), "comment": chain.get("comment"),
                "verdict": step["verdict"]}
    key = (step["family"], step["table"], step["handle"])
    nl = ns.rules.get(key) or {}
    js = ns.index["rules"].get(key) or {}
    text = ruleset_mod.rule_text(js.get("expr")) if js else None
    verdict = step["verdict"]
    if verdict == "drop" and text and "reject" in text.lower():
        verdict = "reject"
    if verdict in ("jump", "goto") and step.get("jump_target"):
        verdict = "%s %s" % (verdict, step["jump_target"])
    return {"family": step["family"], "table": step["table"], "chain": step["chain"], "handle": step["handle"],
            "text": text, "comment": nl.get("comment") if nl else js.get("comment"), "verdict": verdict}


def _map_comment(ns, steps, index, packet):
    """The comment of the verdict-map element that sent the packet into steps[index]'s chain, if any."""
    chain = steps[index]["chain"]
    for prev in reversed(steps[:index]):
        if prev.get("jump_target") != chain or prev["type"] != "rule":
            continue
        js = ns.index["rules"].get((prev["family"], prev["table"], prev["handle"])) or {}
        for stmt in js.get("expr") or []:
            vmap = stmt.get("vmap") if isinstance(stmt, dict) else None
            if not isinstance(vmap, dict) or not str(vmap.get("data", "")).startswith("@"):
                continue
            entry = ns.index["sets"].get((prev["family"], prev["table"], vmap["data"][1:])) or {}
            for elem in entry.get("elem") or []:
                if not isinstance(elem, list) or len(elem) != 2 or not isinstance(elem[0], dict):
                    continue
                inner = elem[0].get("elem") or {}
                key = inner.get("val")
                parts = key.get("concat") if isinstance(key, dict) else [key]
                if _elem_matches(parts or [], packet) and inner.get("comment"):
                    return inner["comment"]
        return None
    return None


def _elem_matches(parts, packet):
    want = [packet.get("dst"), packet.get("protocol"), packet.get("dport")]
    if not packet or len(parts) > 3:
        return False
    for part, value in zip(parts, want):
        if str(part) != str(value):
            return False
    return True


def build_traces(ns, tag):
    """The probes' traces in one namespace (tag: one tag or a list): steps in order and the step that decided."""
    groups = {}
    order = []
    for msg in ns.messages:
        if msg["table"] == ns.table or msg["id"] is None:
            continue
        key = msg["id"]
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(msg)
    out = []
    for key in order:
        msgs = groups[key]
        first = [m for m in msgs if m.get("network_header")]
        if not first or not tag_of_trace(tag, first[0]["network_header"]):
            continue
        packet = packet_info(first[0]["network_header"], first[0].get("transport_header"))
        steps = [{"family": m["family"], "table": m["table"], "chain": m["chain"], "handle": m["handle"],
                  "type": m["type"], "verdict": m["verdict"], "jump_target": m["jump_target"], "iif": m["iif"],
                  "oif": m["oif"], "nfproto": m["nfproto"]} for m in msgs]
        decided = None
        for i, step in enumerate(steps):
            if step["verdict"] in ("drop", "queue", "stolen"):
                decided = i
                break
        rule = pol = None
        verdict = "accept"
        if decided is not None:
            step = steps[decided]
            rule = _rule_of(ns, step)
            verdict = "reject" if rule["verdict"] == "reject" else step["verdict"]
            chain_comments = [r.get("comment") for k, r in ns.rules.items() if len(k) == 3
                              and r.get("table") == step["table"] and r.get("chain") == step["chain"] and r.get("comment")]
            pol = policy_mod.recognise(rule, chain_comments, _map_comment(ns, steps, decided, packet))
        for step in steps:
            rule_step = _rule_of(ns, step) if step["type"] != "policy" else None
            step["text"] = rule_step["text"] if rule_step else "policy %s" % step["verdict"]
            step["comment"] = rule_step["comment"] if rule_step else None
        out.append({"netns": ns.name or str(ns.inode), "netns_inode": ns.inode, "id": key,
                    "time": msgs[0].get("received"), "packet": packet, "tag": header_tag(first[0]["network_header"]), "steps": steps, "verdict": verdict,
                    "rule": rule, "policy": pol})
    return out

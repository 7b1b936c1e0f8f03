# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nettrace tracer session: compile, attach, poll the ring buffer, decode, detach.

Events (``DROP``, ``RST_SENT``, ``RST_RECV``, ``SOCK_ERR``, ``RETRANS``) come from tracepoints, so one tracer
in the root namespace sees every namespace of the node; filters by namespace and address run in the kernel.
The hot path only copies each 80-byte record; decoding (``struct.unpack`` of a fixed layout, names from the
running kernel's tables) happens after the capture, so a flood does not slow the traced traffic.

Every exit path detaches: ``close()`` runs in ``finally``; SIGTERM/SIGINT/SIGHUP end the capture and go
through it; and BPF links are file descriptors, so even SIGKILL leaves nothing attached.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ctypes
import datetime
import errno
import ipaddress
import mmap
import os
import select
import shutil
import socket
import sys
import tempfile
import threading
import time
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.signal_files import remove_leftover, write_json
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.stoppable import Stoppable

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import kernel_facts
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.kernel_facts import KernelFactsError
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import nettrace_bpf
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_bpf import (
    EVENT, RECORD, EVENT_KINDS, TYPE_NAMES, F_TIE, F_REASON, F_STATE)
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.ringbuf import RingBufReader
from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils
from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns_finder

ALL_KINDS = ("DROP", "RST_SENT", "RST_RECV", "SOCK_ERR", "RETRANS")
DEBIAN_DIST_PACKAGES = ("/usr/lib/python3/dist-packages", "/usr/lib64/python3/site-packages",
                        "/usr/lib/python3/site-packages")
L4_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp", 136: "udplite", 262: "mptcp"}


class NettraceError(TracekitError):
    """The capture could not run; the message says why and what to do."""


# ---------------------------------------------------------------- environment

def import_bcc(private_dir=None):
    """Return the ``bcc`` package; when the interpreter lacks it, borrow only the distribution's ``bcc`` folder."""
    try:
        import bcc  # pylint: disable=import-outside-toplevel
        return bcc
    except ImportError as exc:
        first = exc
    for base in DEBIAN_DIST_PACKAGES:
        pkg = os.path.join(base, "bcc")
        if not os.path.isfile(os.path.join(pkg, "__init__.py")):
            continue
        link_dir = os.path.join(private_dir or tempfile.mkdtemp(prefix="netdiag-bcc-"), "pylib")
        os.makedirs(link_dir, exist_ok=True)
        if not os.path.lexists(os.path.join(link_dir, "bcc")):
            os.symlink(pkg, os.path.join(link_dir, "bcc"))
        sys.path.insert(0, link_dir)
        try:
            import bcc  # pylint: disable=import-outside-toplevel
            return bcc
        except ImportError as exc:  # libbcc itself missing or broken
            first = exc
    raise NettraceError("BCC is not available to %s (%s): install python3-bpfcc (Debian/Ubuntu) or python3-bcc "
                        "(RHEL family); the netdiag.tracekit.node_prereqs role does this" % (sys.executable, first))


def check_root():
    if os.geteuid() != 0:
        raise NettraceError("nettrace must run as root (eBPF needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): "
                            "use become: true")


def parse_kinds(kinds):
    """Upper-cased, de-duplicated event kinds in canonical order; NettraceError on unknown names."""
    if not kinds:
        return list(ALL_KINDS)
    wanted = set()
    for kind in kinds:
        name = str(kind).strip().upper()
        if name not in EVENT_KINDS:
            raise NettraceError("unknown event type %r: choose among %s" % (kind, ", ".join(ALL_KINDS)))
        wanted.add(name)
    return [k for k in ALL_KINDS if k in wanted]


def parse_filters(filter_ip=None, filter_cidr=None):
    """[(prefixlen over the 128-bit IPv4-mapped space, 16 address bytes, text)] for the kernel's LPM trie."""
    out = []
    for item in filter_ip or []:
        try:
            addr = ipaddress.ip_address(str(item).strip())
        except ValueError:
            raise NettraceError("filter_ip item %r is not an IPv4 or IPv6 address" % (item,))
        out.append(_lpm_entry(ipaddress.ip_network(addr), str(addr)))
    for item in filter_cidr or []:
        try:
            net = ipaddress.ip_network(str(item).strip(), strict=False)
        except ValueError:
            raise NettraceError("filter_cidr item %r is not an IPv4 or IPv6 prefix such as 10.0.0.0/8 or 2001:db8::/32"
                                % (item,))
        out.append(_lpm_entry(net, str(net)))
    return out


def _lpm_entry(net, text):
    if net.version == 4:
        return 96 + net.prefixlen, b"\0" * 10 + b"\xff\xff" + net.network_address.packed, text
    return net.prefixlen, net.network_address.packed, text


def resolve_netns(specs, addresses=()):
    """{inode: name or None} of the namespaces named by ``specs``; NettraceError for an unknown one.

    ``auto`` stands for every namespace of this node holding one of ``addresses`` (the filter_ip ones).
    """
    out = {}
    for spec in specs or []:
        if str(spec) == "auto":
            out.update(_auto_netns(addresses))
            continue
        try:
            if isinstance(spec, int) or (str(spec).isdigit() and len(str(spec)) > 7):
                # a namespace inode (as eBPF reports it): accept it as is
                out[int(spec)] = None
                continue
            info = netns_utils.resolve(spec)
        except netns_utils.NetnsError as exc:
            raise NettraceError("netns %s" % exc)
        out[info["inode"]] = info["name"]
    return out


def _auto_netns(addresses):
    if not addresses:
        raise NettraceError("netns auto keeps the namespaces holding the filter_ip addresses: give filter_ip")
    try:
        found, _scanned = netns_finder.find(addresses)
    except netns_utils.NetnsError as exc:
        raise NettraceError("netns auto: %s" % exc)
    holders = dict((ns["inode"], ns["name"]) for spaces in found.values() for ns in spaces)
    if not holders:
        raise NettraceError("netns auto: no network namespace of this node holds any of %s" % ", ".join(addresses))
    return holders


# ---------------------------------------------------------------- decoding

class Decoder(object):
    """Turns raw 80-byte records into event dicts, with names from the running kernel's tables."""

    def __init__(self, drop_reasons, rst_reasons, tcp_states, netns_names=None, kallsyms=None, clock_offset=0.0):
        self.drop_reasons = drop_reasons
        self.rst_reasons = rst_reasons
        self.tcp_states = tcp_states
        self.netns_names = netns_names or {}
        self.kallsyms = kallsyms
        self.clock_offset = clock_offset
        self._addr_cache = {}
        self._loc_cache = {}
        self._sec_cache = {}
        self._name_cache = {}

    def _addr(self, family, raw):
        key = (family, raw)
        text = self._addr_cache.get(key)
        if text is None:
            if family == 2:
                text = socket.inet_ntop(socket.AF_INET, raw[12:])
            elif family == 10:
                text = socket.inet_ntop(socket.AF_INET6, raw)
            else:
                return None
            self._addr_cache[key] = text
        return text

    def _location(self, addr):
        if not addr:
            return None
        if addr not in self._loc_cache:
            if self.kallsyms is None:
                self.kallsyms = kernel_facts.Kallsyms()
            self._loc_cache[addr] = self.kallsyms.lookup(addr) or "0x%x" % addr
        return self._loc_cache[addr]

    def decode(self, chunks, limit=None):
        """Decode ring-buffer chunks (records with their 8-byte headers) into event dicts, in kernel time order."""
        out = []
        event = self.event
        for chunk in chunks:
            out.extend(event(fields) for fields in RECORD.iter_unpack(chunk))
            if limit and len(out) >= limit:
                del out[limit:]
                break
        out.sort(key=lambda e: e["timestamp"])
        return out

    def _time(self, micros):
        """ISO 8601 UTC with microseconds; the part up to the second is cached (floods share seconds)."""
        sec, micro = divmod(micros, 1000000)
        prefix = self._sec_cache.get(sec)
        if prefix is None:
            prefix = datetime.datetime.fromtimestamp(sec, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            self._sec_cache = {sec: prefix}
        return "%s.%06dZ" % (prefix, micro)

    def _names(self, etype, reason, flags, state):
        """(type, reason_code, reason, state, errno, probe) for one combination, cached."""
        key = (etype, reason, flags, state)
        names = self._name_cache.get(key)
        if names is not None:
            return names
        kind = TYPE_NAMES.get(etype, str(etype))
        state_name = self.tcp_states.get(state, str(state)) if flags & F_STATE and state else None
        reason_code = reason if flags & F_REASON else None
        err_name = None
        reason_name = None
        if kind == "DROP" and reason_code is not None:
            reason_name = self.drop_reasons.get(reason, str(reason))
        elif kind == "RST_SENT" and reason_code is not None:
            reason_name = self.rst_reasons.get(reason, str(reason))
        elif kind == "SOCK_ERR":
            err_name = errno.errorcode.get(reason, str(reason))
            reason_name = err_name
        elif kind == "RETRANS":
            reason_name = state_name
        names = (kind, reason_code, reason_name, state_name, err_name,
                 EVENT_KINDS[kind][3] if kind in EVENT_KINDS else None)
        self._name_cache[key] = names
        return names

    def event(self, fields):
        (ts, location, netns, reason, saddr, daddr, sport, dport, family, etype, l4proto, tag, dscp, flags,
         _pad, state) = fields
        kind, reason_code, reason_name, state_name, err_name, probe = self._names(etype, reason, flags, state)
        micros = int(round(ts / 1e3 + self.clock_offset * 1e6))
        has_addr = family == 2 or family == 10
        has_ports = has_addr and (sport or dport)
        tie = flags & F_TIE
        return {
            "time": self._time(micros),
            "timestamp": micros / 1e6,
            "type": kind,
            "reason_code": reason_code,
            "reason": reason_name,
            "probe": probe,
            "src_ip": self._addr(family, saddr) if has_addr else None,
            "src_port": sport if has_ports else None,
            "dst_ip": self._addr(family, daddr) if has_addr else None,
            "dst_port": dport if has_ports else None,
            "protocol": L4_NAMES.get(l4proto, str(l4proto)) if l4proto else None,
            "family": "ipv4" if family == 2 else "ipv6" if family == 10 else None,
            "netns": netns or None,
            "netns_name": self.netns_names.get(netns),
            "location": self._location(location) if etype == 1 else None,
            "state": state_name,
            "errno": err_name,
            "ip_id": tag if tie and family == 2 else None,
            "dscp": dscp if tie else None,
            "flow_label": tag if tie and family == 10 else None,
        }


# ---------------------------------------------------------------- table

TABLE_LEFT = "%-12s %-10s %-18s %-18s "  # retina: TIME TYPE REASON PROBE, then SRC -> DST


def _endpoint(ip, port):
    if not ip:
        return "-"
    host = "[%s]" % ip if ":" in ip else ip
    return "%s:%s" % (host, port) if port is not None else host


def format_table(events):
    """Retina's nettrace table (``TIME TYPE REASON PROBE SRC -> DST``) plus ``NETNS LOCATION`` columns."""
    rows = []
    for event in events:
        flow = "%s  ->  %s" % (_endpoint(event.get("src_ip"), event.get("src_port")),
                               _endpoint(event.get("dst_ip"), event.get("dst_port")))
        netns = "-"
        if event.get("netns"):
            netns = str(event["netns"])
            if event.get("netns_name"):
                netns += "(%s)" % event["netns_name"]
        clock = (event.get("time") or "")[11:23] or "-"
        reason = event.get("reason")
        if reason is None:
            reason = "-" if event.get("reason_code") is None else str(event["reason_code"])
        rows.append((clock, event.get("type") or "-", reason, event.get("probe") or "-", flow, netns,
                     event.get("location") or "-"))
    flow_width = max([len("SRC -> DST")] + [len(r[4]) for r in rows])
    netns_width = max([len("NETNS")] + [len(r[5]) for r in rows])
    tail = "%-*s  %-*s  %s"
    header = (TABLE_LEFT % ("TIME", "TYPE", "REASON", "PROBE")
              + tail % (flow_width, "SRC -> DST", netns_width, "NETNS", "LOCATION"))
    out = [header, u"\u2500" * len(header)]
    for row in rows:
        out.append((TABLE_LEFT % row[:4] + tail % (flow_width, row[4], netns_width, row[5], row[6])).rstrip())
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- session

class NettraceSession(Stoppable):
    """One capture. Use as ``with NettraceSession(...) as s: s.attach(); s.capture(30); result = s.result()``."""

    def __init__(self, kinds=None, filter_ip=None, filter_cidr=None, netns=None, max_events=10000,
                 ringbuf_mb=8, ready_file=None, kernel_src=kernel_facts.KERNEL_SRC_DEFAULT, stop_file=None,
                 nft_trace=None):
        self.kinds = parse_kinds(kinds)
        self.filters = parse_filters(filter_ip, filter_cidr)
        self.netns_filter = resolve_netns(netns, addresses=filter_ip or ())
        self.max_events = max_events
        if ringbuf_mb < 1 or ringbuf_mb & (ringbuf_mb - 1):
            raise NettraceError("the ring buffer size must be a power of two in MiB, got %s" % ringbuf_mb)
        self.ringbuf_pages = ringbuf_mb * 1024 * 1024 // mmap.PAGESIZE
        self.ready_file = ready_file
        self.stop_file = stop_file
        self.kernel_src = kernel_src
        self.private_dir = None
        self.bpf = None
        self.chunks = []
        self.received = 0
        self.reader = None
        self.attach_seconds = None
        self.capture_seconds = None
        self.stopped_by = None
        self.signal_name = None
        self._old_handlers = {}
        self._attached = []
        self.counters = {}
        self.facts = {}
        # The nftables trace of the probe (module_utils/nftrace), armed beside the eBPF programs so a runbook
        # gets both from one task: {'tag': probe tag, 'netns': [namespaces]}; its problems never fail nettrace.
        self.nft_spec = nft_trace
        self.nft = None
        self.nft_problems = []
        self._nft_thread = None

    def prepare(self):
        """Check the node, read the kernel facts; raise NettraceError with what to fix."""
        check_root()
        if self.ready_file:
            remove_leftover(self.ready_file, NettraceError, "ready_file")
        if self.stop_file:
            remove_leftover(self.stop_file, NettraceError, "stop_file")
        self.private_dir = tempfile.mkdtemp(prefix="netdiag-nettrace-")
        try:
            tracefs = kernel_facts.tracefs_dir()
            btf = kernel_facts.vmlinux_btf()
            self.facts = {
                "offsets": kernel_facts.struct_offsets(btf),
                "drop_reasons": kernel_facts.drop_reasons(tracefs, btf),
                "rst_reasons": kernel_facts.rst_reasons(tracefs, btf),
                "tcp_states": kernel_facts.tcp_states(btf),
                "tracefs": tracefs,
            }
            src, how = kernel_facts.kernel_source(default=self.kernel_src, private_dir=self.private_dir)
            self.facts["kernel_source"] = how
            self.text = nettrace_bpf.generate(self.kinds, self.facts["offsets"], filter_ip=bool(self.filters),
                                              filter_netns=bool(self.netns_filter),
                                              ringbuf_pages=self.ringbuf_pages, tracefs=tracefs)
        except KernelFactsError as exc:
            raise NettraceError(str(exc))
        if src:
            os.environ["BCC_KERNEL_SOURCE"] = src
        return self

    def attach(self):
        """Compile, load and attach every program; fill the filter maps; write the ready file."""
        if not self.facts:
            self.prepare()
        bcc = import_bcc(self.private_dir)
        start = time.monotonic()
        self.install_signal_handlers()
        nft_thread = self._start_nft()
        try:
            self.bpf = bcc.BPF(text=self.text.encode(), cflags=["-Wno-unused-function"])
        except Exception as exc:  # BCC raises bare Exception on compile/load failures
            raise NettraceError("BCC could not compile or load the tracer (kernel source: %s): %s"
                                % (self.facts.get("kernel_source"), exc))
        self._fill_maps()
        self._open_ring()
        for kind in self.kinds:
            _tid, category, event, _probe = EVENT_KINDS[kind]
            fn_name = nettrace_bpf.FN_NAMES[kind]
            try:
                if kind == "SOCK_ERR":
                    self.bpf.attach_raw_tracepoint(tp=event.encode(), fn_name=fn_name.encode())
                else:
                    self.bpf.attach_tracepoint(tp=("%s:%s" % (category, event)).encode(), fn_name=fn_name.encode())
            except Exception as exc:
                raise NettraceError("cannot attach to %s:%s: %s" % (category, event, exc))
            self._attached.append(kind)
        if nft_thread is not None:
            nft_thread.join(60)
        self.attach_seconds = round(time.monotonic() - start, 3)
        self.clock_offset = time.time() - time.monotonic()
        if self.ready_file:
            self._write_ready()
        return self.attach_seconds

    def _start_nft(self):
        """Arm the nftables trace in a thread while BCC compiles (it takes ~0.2 s; the compile takes seconds)."""
        if not self.nft_spec:
            return None
        from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.session import (  # pylint: disable=import-outside-toplevel
            NftraceSession)

        def arm():
            try:
                session = NftraceSession(self.nft_spec.get("netns") or [], self.nft_spec.get("tag"),
                                         tags=self.nft_spec.get("tags"))
                self.nft = session
                session.prepare()
                session.arm()
            except TracekitError as exc:
                self.nft_problems.append("nftables trace: %s" % exc)
            except Exception as exc:  # pylint: disable=broad-except
                self.nft_problems.append("nftables trace failed: %s" % exc)
        thread = threading.Thread(target=arm, name="nftrace-arm")
        thread.daemon = True
        thread.start()
        self._nft_thread = thread
        return thread

    def _fill_maps(self):
        if self.filters:
            trie = self.bpf[b"ipfilter"]
            for prefixlen, addr, _text in self.filters:
                key = trie.Key()
                key.prefixlen = prefixlen
                key.addr = (ctypes.c_ubyte * 16)(*bytearray(addr))
                trie[key] = trie.Leaf(1)
        if self.netns_filter:
            table = self.bpf[b"netns_ok"]
            for inode in self.netns_filter:
                table[table.Key(inode)] = table.Leaf(1)

    def _open_ring(self):
        self.reader = RingBufReader(self.bpf[b"events"].map_fd, self.ringbuf_pages * mmap.PAGESIZE, EVENT.size)

    def consume(self):
        """Move every committed record from the ring buffer into ``chunks``; return how many."""
        chunks, count = self.reader.consume()
        self.chunks.extend(chunks)
        self.received += count
        return count

    def _write_ready(self):
        info = {"pid": os.getpid(), "attached_at": round(time.time(), 6),
                "attached_at_iso": _iso(time.time()), "attach_seconds": self.attach_seconds, "events": self.kinds}
        write_json(self.ready_file, info, NettraceError)

    def capture(self, duration, poll_ms=50):
        """Drain the ring buffer every ``poll_ms`` for ``duration`` seconds, until max_events, the stop file
        appears or a stop signal."""
        start = time.monotonic()
        deadline = start + duration
        interval = poll_ms / 1000.0
        next_drain = start + interval
        # nftables traces carry no time of their own: they get the time they are read, so their sockets are
        # read as soon as a message arrives rather than at the next drain (the ring buffer's events carry the
        # kernel's time and can wait).
        nft_fds = self.nft.filenos() if self.nft is not None else []
        while self.stopped_by is None:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                self.stopped_by = "duration"
                break
            wait = max(0.0, min(next_drain - now, left))
            if nft_fds:
                if select.select(nft_fds, [], [], wait)[0]:
                    self.nft.poll()
                    # a socket that failed is closed; a full session reads no more: stop waiting on those
                    nft_fds = [] if self.nft.full() else self.nft.filenos()
                if time.monotonic() < next_drain:
                    continue
            else:
                time.sleep(wait)
            next_drain = time.monotonic() + interval
            self.consume()
            if self.nft is not None:
                self.nft.poll()
            if self.max_events and self.received >= self.max_events:
                self.stopped_by = "max_events"
            elif self.stop_file and os.path.exists(self.stop_file):
                # The runbook's way to end a capture as soon as the probe has its answer.
                self.stopped_by = "stop_file"
        self.capture_seconds = round(time.monotonic() - start, 3)
        if self.nft is not None:
            self.nft.poll()
        self.finish()
        # The capture ended normally: its signal files have served (a failure leaves ready_file for the waiter).
        for path in (self.ready_file, self.stop_file):
            if path:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def finish(self):
        """Detach every program, drain what is left in the ring buffer, read the kernel counters."""
        if self.bpf is None:
            return
        self._detach()
        self.consume()
        self.counters = self.read_counters()

    def _detach(self):
        for kind in list(self._attached):
            _tid, category, event, _probe = EVENT_KINDS[kind]
            try:
                if kind == "SOCK_ERR":
                    self.bpf.detach_raw_tracepoint(tp=event.encode())
                else:
                    self.bpf.detach_tracepoint(tp=("%s:%s" % (category, event)).encode())
            except Exception:  # pylint: disable=broad-except
                pass  # close() below releases the file descriptors anyway
            self._attached.remove(kind)

    def read_counters(self):
        table = self.bpf[b"counters"]
        values = {}
        for idx in range(nettrace_bpf.N_COUNTERS):
            values[idx] = sum(table[table.Key(idx)])
        seen = dict((kind, values[EVENT_KINDS[kind][0]]) for kind in self.kinds)
        received = self.received
        kept = min(received, self.max_events) if self.max_events else received
        out = {
            "seen": sum(seen.values()),
            "seen_by_type": seen,
            "filtered_netns": values[nettrace_bpf.COUNTERS["filtered_netns"]],
            "filtered_ip": values[nettrace_bpf.COUNTERS["filtered_ip"]],
            "emitted": values[nettrace_bpf.COUNTERS["emitted"]],
            "lost": values[nettrace_bpf.COUNTERS["lost"]],
            "received": received,
            "over_max_events": received - kept,
        }
        out["filtered_out"] = out["filtered_netns"] + out["filtered_ip"]
        return out

    def close(self):
        """Detach and free everything; safe to call more than once and after failures."""
        try:
            if self._nft_thread is not None:
                self._nft_thread.join(60)   # a failure while it arms: let it finish, then remove what it loaded
            if self.nft is not None:
                self.nft.close()        # the trace tables go first: nothing of ours stays in any namespace
            if self.reader is not None:
                self.reader.close()
                self.reader = None
            if self.bpf is not None:
                self._detach()
                self.bpf.cleanup()
        finally:
            self.bpf = None
            self.restore_signal_handlers()
            if self.private_dir:
                shutil.rmtree(self.private_dir, ignore_errors=True)
                self.private_dir = None

    def result(self):
        """Everything the module returns (events decoded now, after the capture)."""
        names = netns_utils.named_inodes()
        names.update((k, v) for k, v in self.netns_filter.items() if v)
        decoder = Decoder(self.facts["drop_reasons"], self.facts["rst_reasons"], self.facts["tcp_states"],
                          netns_names=names, clock_offset=getattr(self, "clock_offset", 0.0))
        events = decoder.decode(self.chunks, self.max_events)
        counts = dict((kind, 0) for kind in self.kinds)
        for event in events:
            counts[event["type"]] = counts.get(event["type"], 0) + 1
        return {
            "events": events,
            "counts": counts,
            "counters": self.counters,
            "drop_reasons": dict((str(k), v) for k, v in sorted(self.facts["drop_reasons"].items())),
            "table": format_table(events),
            "attach_seconds": self.attach_seconds,
            "capture_seconds": self.capture_seconds,
            "stopped_by": self.stopped_by,
            "event_types": self.kinds,
            "filters": [text for _p, _a, text in self.filters],
            "netns_filter": sorted(self.netns_filter),
            "kernel_source": self.facts.get("kernel_source"),
            "nft_trace": self._nft_result(),
        }

    def _nft_result(self):
        if not self.nft_spec:
            return None
        if self.nft is None:
            return {"traces": [], "problems": self.nft_problems, "counters": {}, "attached_at": None}
        out = self.nft.result()
        out["problems"] = self.nft_problems + out["problems"]
        return out


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).isoformat(
        timespec="microseconds").replace("+00:00", "Z")


def run(kinds=None, duration=30, filter_ip=None, filter_cidr=None, netns=None, max_events=10000,
        ready_file=None, ringbuf_mb=8):
    """One complete capture; returns the result dict. Raises NettraceError (nothing stays attached)."""
    session = NettraceSession(kinds=kinds, filter_ip=filter_ip, filter_cidr=filter_cidr, netns=netns,
                              max_events=max_events, ready_file=ready_file, ringbuf_mb=ringbuf_mb)
    with session:
        session.prepare()
        session.attach()
        session.capture(duration)
        return session.result()

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many tagged probes at once, from several namespaces of one node, each with its own replies.

Every probe is the packet ``probe.py`` builds for ``packet_inject``, with a tag the caller chose (DSCP, IPv4
ID or IPv6 flow label, ICMP id) so probes of one batch, and of other nodes' batches, never share one. The
sockets of every namespace are opened first, then all probes are sent back to back, then one bounded wait
reads the replies of all namespaces together: N probes cost one timeout, not N.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import select
import socket
import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils
from ansible_collections.netdiag.tracekit.plugins.module_utils.probe import probe

MAX_PROBES = 1000
PROBE_KEYS = ("id", "netns", "dst", "src", "protocol", "src_port", "dst_port", "ttl", "tag", "ip_id", "flow_label",
              "icmp_id")


def _bounded(value, what, low, high):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise probe.ProbeError("%s %r is not a number" % (what, value))
    if not low <= number <= high:
        raise probe.ProbeError("%s %d is out of range (%d-%d)" % (what, number, low, high))
    return number


def validate_batch(probes, timeout=2.0, wait_reply=True, rng=None):
    """Check every probe (as ``packet_inject`` would) and apply the caller's tags; no I/O.

    Raises ProbeError naming the probe when one is wrong, or when two probes would carry the same tag.
    """
    if not isinstance(probes, list) or not probes:
        raise probe.ProbeError("probes must be a non-empty list")
    if len(probes) > MAX_PROBES:
        raise probe.ProbeError("%d probes is more than one batch sends (at most %d)" % (len(probes), MAX_PROBES))
    specs = []
    ids = set()
    tags = {}
    for index, raw in enumerate(probes):
        if not isinstance(raw, dict):
            raise probe.ProbeError("probes[%d] must be a mapping" % index)
        name = raw.get("id")
        where = "probe %s" % (name if name not in (None, "") else "#%d" % index)
        if name in (None, ""):
            raise probe.ProbeError("%s has no id (each probe needs a unique id)" % where)
        name = str(name)
        if name in ids:
            raise probe.ProbeError("%s: id %s is used twice" % (where, name))
        ids.add(name)
        unknown = sorted(set(raw) - set(PROBE_KEYS))
        if unknown:
            raise probe.ProbeError("%s has unknown keys %s (allowed: %s)" % (where, ", ".join(unknown),
                                                                             ", ".join(PROBE_KEYS)))
        protocol = raw.get("protocol") or "tcp"
        is_icmp = protocol in ("icmp", "icmpv6")
        params = {"dst": raw.get("dst"), "src": raw.get("src"), "protocol": protocol, "ttl": raw.get("ttl", 64),
                  "src_port": raw.get("src_port"), "dst_port": raw.get("dst_port"), "count": 1,
                  "timeout": timeout, "wait_reply": wait_reply, "tag": raw.get("tag"),
                  "icmp_id": raw.get("icmp_id", 0) if is_icmp else None, "icmp_seq": 0 if is_icmp else None,
                  "tcp_flags": "S" if protocol == "tcp" else None}
        try:
            spec = probe.validate(params, rng)
        except probe.ProbeError as exc:
            raise probe.ProbeError("%s: %s" % (where, exc))
        if spec["family"] == 4 and raw.get("ip_id") is not None:
            spec["tag"]["ip_id"] = _bounded(raw["ip_id"], "%s: ip_id" % where, 0, 0xFFFF)
        if spec["family"] == 6 and raw.get("flow_label") is not None:
            spec["tag"]["flow_label"] = _bounded(raw["flow_label"], "%s: flow_label" % where, 0, 0xFFFFF)
        key = ("ip_id", spec["tag"]["ip_id"]) if spec["family"] == 4 else ("flow_label", spec["tag"]["flow_label"])
        if key in tags:
            raise probe.ProbeError("%s: %s %s is also the tag of probe %s; give each probe its own"
                                   % (where, key[0], key[1], tags[key]))
        tags[key] = name
        spec["id"] = name
        spec["netns_spec"] = raw.get("netns")
        specs.append(spec)
    return specs


def inject_batch(specs, check_mode=False):
    """Send every probe from its namespace, then collect all replies in one wait; return one result per probe.

    Each result has the keys of ``packet_inject``'s result (``outcome``, ``probe``, ``replies``, ``sent``,
    ``sent_at``, ``rtt_ms``, ``netns``) and the probe's ``id``, in the order of ``specs``.
    """
    specs = [dict(s) for s in specs]
    namespaces = {}
    for spec in specs:
        ns = netns_utils.resolve(spec.pop("netns_spec"))
        spec["netns"] = ns
        namespaces.setdefault(ns["path"], {"ns": ns, "specs": [], "listener": None, "senders": {}})
        namespaces[ns["path"]]["specs"].append(spec)
    results = {}
    try:
        for group in namespaces.values():
            with netns_utils.entered(group["ns"]["path"]):
                for spec in group["specs"]:
                    if spec["src"] is None:
                        spec["src"] = probe.source_address(spec)
                if not check_mode:
                    _open_sockets(group)
        for spec in specs:
            spec["dst_aliases"] = set([spec["dst"]])
            spec["packet"] = probe.build(spec, 0)
            results[spec["id"]] = {"id": spec["id"], "probe": probe._probe_report(spec, spec["packet"]),
                                   "replies": [], "sent": 0, "netns": spec["netns"]}
        if check_mode:
            for result in results.values():
                result["outcome"] = "not_sent"
            return [results[s["id"]] for s in specs]
        started = time.time()
        for group in namespaces.values():
            for spec in group["specs"]:
                try:
                    group["senders"][spec["family"]].sendto(bytes(spec["packet"]), (spec["dst"], 0))
                except OSError as exc:
                    raise probe.ProbeError("probe %s: sending to %s failed: %s"
                                           % (spec["id"], spec["dst"], exc.strerror or exc))
                results[spec["id"]]["sent"] = 1
                results[spec["id"]]["sent_at"] = time.time()
        waiting = [g for g in namespaces.values() if g["listener"] is not None]
        if waiting:
            _collect_all(waiting, results, started, max(s["timeout"] for s in specs))
    finally:
        for group in namespaces.values():
            for sock in list(group["senders"].values()) + [group["listener"]]:
                if sock is not None:
                    sock.close()
    out = []
    for spec in specs:
        result = results[spec["id"]]
        replies = result["replies"]
        result["outcome"] = probe.outcome_of(replies) if spec["wait_reply"] else "not_checked"
        result["rtt_ms"] = replies[0]["rtt_ms"] if replies else None
        out.append(result)
    return out


def _open_sockets(group):
    """A raw sender per address family and one listener, opened inside the group's namespace."""
    try:
        for family in sorted(set(s["family"] for s in group["specs"])):
            group["senders"][family] = socket.socket(socket.AF_INET6 if family == 6 else socket.AF_INET,
                                                     socket.SOCK_RAW, socket.IPPROTO_RAW)
        if any(s["wait_reply"] for s in group["specs"]):
            group["listener"] = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(probe.ETH_P_ALL))
            group["listener"].setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    except PermissionError:
        raise probe.ProbeError("sending raw packets needs root (CAP_NET_RAW)")


def _collect_all(groups, results, started, timeout):
    """Read every namespace's replies until each probe has one or the timeout ends (bounded in time)."""
    deadline = started + timeout
    by_fd = dict((g["listener"].fileno(), g) for g in groups)
    for group in groups:
        group["listener"].setblocking(False)
    pending = sum(len(g["specs"]) for g in groups)
    while pending > 0:
        left = deadline - time.time()
        if left <= 0:
            break
        ready, _w, _x = select.select([g["listener"] for g in groups], [], [], left)
        if not ready:
            break
        for sock in ready:
            group = by_fd[sock.fileno()]
            while True:
                try:
                    data, addr = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                if addr[2] == probe.PACKET_OUTGOING or addr[1] not in (0x0800, 0x86DD):
                    continue
                pkt = (probe.IPv6 if addr[1] == 0x86DD else probe.IP)(data)
                for spec in group["specs"]:
                    if results[spec["id"]]["replies"]:
                        continue
                    verdict = probe.classify(pkt, spec)
                    if verdict is None:
                        continue
                    now = time.time()
                    info = probe.describe(pkt)
                    verdict.update(time=now, rtt_ms=round((now - results[spec["id"]]["sent_at"]) * 1000.0, 3),
                                   summary=info["summary"], fields=info["fields"], interface=addr[0])
                    results[spec["id"]]["replies"].append(verdict)
                    pending -= 1
                    break

# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tagged test packets, as Antrea Traceflow injects them: build, send from a pod's namespace, classify replies.

scapy builds and dissects the packets; a raw IP socket opened inside the pod's namespace sends them, so the
kernel routes, resolves neighbours and applies the pod's own rules exactly as it would for the pod's
traffic. An AF_PACKET socket opened there beforehand sees the replies.

The probe's tag lets captures on other nodes recognise it: the DSCP bits (a value 1-63), the IPv4
identification or IPv6 flow label, and a payload marker ``tracekit:<probe id>`` where the protocol carries
a payload (UDP, ICMP; TCP only when a payload is asked for, since a SYN normally has none).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import random
import select
import socket
import time
from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils

try:
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
    from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6PacketTooBig,
                                    ICMPv6ParamProblem, ICMPv6TimeExceeded, IPerror6, IPv6)
    from scapy.packet import Raw
    HAS_SCAPY = True
    SCAPY_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported by the module
    HAS_SCAPY = False
    SCAPY_IMPORT_ERROR = str(_exc)

PROTOCOLS = ("tcp", "udp", "icmp", "icmpv6")
TCP_FLAG_LETTERS = "FSRPAUEC"
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
EPHEMERAL = (32768, 60999)
MARKER = "tracekit:"

ICMP4_UNREACH = {0: "net-unreachable", 1: "host-unreachable", 2: "protocol-unreachable", 3: "port-unreachable",
                 4: "fragmentation-needed", 5: "source-route-failed", 6: "net-unknown", 7: "host-unknown",
                 9: "net-prohibited", 10: "host-prohibited", 11: "net-tos-unreachable",
                 12: "host-tos-unreachable", 13: "admin-prohibited", 14: "host-precedence-violation",
                 15: "precedence-cutoff"}
ICMP6_UNREACH = {0: "no-route", 1: "admin-prohibited", 2: "beyond-scope", 3: "address-unreachable",
                 4: "port-unreachable", 5: "failed-policy", 6: "reject-route"}
TIME_EXCEEDED = {0: "ttl-exceeded-in-transit", 1: "fragment-reassembly-time-exceeded"}
ICMP4_ERRORS = {3: "dest-unreachable", 4: "source-quench", 5: "redirect", 11: "time-exceeded",
                12: "parameter-problem"}
ICMP6_ERRORS = {1: "dest-unreachable", 2: "packet-too-big", 3: "time-exceeded", 4: "parameter-problem"}

OUTCOME_OF_KIND = {"syn-ack": "reply", "tcp": "reply", "udp": "reply", "echo-reply": "reply", "rst": "reset"}


class ProbeError(TracekitError):
    """Bad input or an environment problem; the message says what was wrong."""


def _ip(value, what):
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError:
        raise ProbeError("%s %r is not an IPv4 or IPv6 address" % (what, value))


def _port(value, what):
    if value is None:
        return None
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ProbeError("%s %r is not a number" % (what, value))
    if not 0 < port < 65536:
        raise ProbeError("%s %d is out of range (1-65535)" % (what, port))
    return port


def _bounded(value, what, low, high):
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ProbeError("%s %r is not a number" % (what, value))
    if not low <= number <= high:
        raise ProbeError("%s %d is out of range (%d-%d)" % (what, number, low, high))
    return number


def validate(params, rng=None):
    """Check the probe parameters and fill the defaults; return the probe spec (a dict). No I/O."""
    rng = rng or random.SystemRandom()
    dst = _ip(params.get("dst"), "dst")
    src = _ip(params["src"], "src") if params.get("src") else None
    if src is not None and src.version != dst.version:
        raise ProbeError("src %s is IPv%d but dst %s is IPv%d: both must be of one family"
                         % (src, src.version, dst, dst.version))
    proto = (params.get("protocol") or "tcp").lower()
    if proto not in PROTOCOLS:
        raise ProbeError("protocol %r is not one of %s" % (proto, ", ".join(PROTOCOLS)))
    if proto == "icmp" and dst.version == 6:
        raise ProbeError("protocol icmp is ICMPv4 but dst %s is IPv6: use protocol icmpv6" % dst)
    if proto == "icmpv6" and dst.version == 4:
        raise ProbeError("protocol icmpv6 needs an IPv6 dst, but %s is IPv4: use protocol icmp" % dst)
    is_icmp = proto in ("icmp", "icmpv6")
    src_port = _port(params.get("src_port"), "src_port")
    dst_port = _port(params.get("dst_port"), "dst_port")
    if is_icmp and (src_port is not None or dst_port is not None):
        raise ProbeError("src_port/dst_port make no sense with protocol %s (use icmp_id/icmp_seq)" % proto)
    if not is_icmp and dst_port is None:
        raise ProbeError("protocol %s needs dst_port" % proto)
    if not is_icmp and (params.get("icmp_id") is not None or params.get("icmp_seq") is not None):
        raise ProbeError("icmp_id/icmp_seq are for protocol icmp or icmpv6, not %s" % proto)
    flags = params.get("tcp_flags")
    if flags is not None and proto != "tcp":
        raise ProbeError("tcp_flags are for protocol tcp, not %s" % proto)
    flags = (flags or "S").upper() if proto == "tcp" else None
    if flags is not None and (not flags or any(c not in TCP_FLAG_LETTERS for c in flags)):
        raise ProbeError("tcp_flags %r: use letters of %s (S=SYN, A=ACK, F=FIN, R=RST, P=PSH, U=URG)"
                         % (params.get("tcp_flags"), TCP_FLAG_LETTERS))
    ttl = _bounded(params.get("ttl", 64), "ttl", 1, 255)
    count = _bounded(params.get("count", 1), "count", 1, 100)
    timeout = float(params.get("timeout", 2.0))
    if not 0 < timeout <= 60:
        raise ProbeError("timeout %s is out of range (0-60 seconds)" % timeout)
    dscp = _bounded(params.get("tag"), "tag", 1, 63) if params.get("tag") is not None else rng.randint(1, 63)
    probe_id = "%08x" % rng.getrandbits(32)
    payload = params.get("payload")
    if payload is None and proto != "tcp":
        payload = MARKER + probe_id
    return {
        "dst": str(dst),
        "src": str(src) if src else None,
        "family": dst.version,
        "protocol": proto,
        "src_port": (src_port or rng.randint(*EPHEMERAL)) if not is_icmp else None,
        "dst_port": dst_port,
        "tcp_flags": flags,
        "ttl": ttl,
        "icmp_id": _bounded(params.get("icmp_id") or 0, "icmp_id", 0, 65535) if is_icmp else None,
        "icmp_seq": _bounded(params.get("icmp_seq") or 0, "icmp_seq", 0, 65535) if is_icmp else None,
        "count": count,
        "timeout": timeout,
        "wait_reply": bool(params.get("wait_reply", True)),
        "payload": payload or "",
        "tag": {
            "id": probe_id,
            "dscp": dscp,
            "ip_id": _chosen(params.get("ip_id"), "ip_id", 0xFFFF, rng) if dst.version == 4 else None,
            "flow_label": _chosen(params.get("flow_label"), "flow_label", 0xFFFFF, rng) if dst.version == 6 else None,
            "marker": (MARKER + probe_id) if payload and MARKER + probe_id in payload else None,
        },
    }


def source_address(spec):
    """The address the kernel would pick for this destination, in the current namespace (no packet sent)."""
    family = socket.AF_INET6 if spec["family"] == 6 else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    try:
        s.connect((spec["dst"], 9))
        return s.getsockname()[0]
    except OSError as exc:
        raise ProbeError("no route from this namespace to %s (%s)" % (spec["dst"], exc.strerror or exc))
    finally:
        s.close()


def build(spec, index=0):
    """The scapy packet for probe number ``index`` (IDs advance so each copy is distinct)."""
    tag = spec["tag"]
    if spec["family"] == 4:
        ip = IP(src=spec["src"], dst=spec["dst"], ttl=spec["ttl"], tos=tag["dscp"] << 2,
                id=(tag["ip_id"] + index) & 0xFFFF)
    else:
        ip = IPv6(src=spec["src"], dst=spec["dst"], hlim=spec["ttl"], tc=tag["dscp"] << 2, fl=tag["flow_label"])
    proto = spec["protocol"]
    if proto == "tcp":
        l4 = TCP(sport=spec["src_port"], dport=spec["dst_port"], flags=spec["tcp_flags"],
                 seq=(int(tag["id"], 16) + index) & 0xFFFFFFFF, window=64240)
    elif proto == "udp":
        l4 = UDP(sport=spec["src_port"], dport=spec["dst_port"])
    elif proto == "icmp":
        l4 = ICMP(type=8, code=0, id=spec["icmp_id"], seq=(spec["icmp_seq"] + index) & 0xFFFF)
    else:
        l4 = ICMPv6EchoRequest(id=spec["icmp_id"], seq=(spec["icmp_seq"] + index) & 0xFFFF)
    pkt = ip / l4
    if spec["payload"]:
        pkt = pkt / Raw(load=spec["payload"].encode("utf-8"))
    # Serialise once so checksums and lengths are final in what we report and send.
    return pkt.__class__(bytes(pkt))


def describe(pkt):
    """Summary, header fields and hex of a packet, with numeric ports (no service names)."""
    fields = {"length": len(bytes(pkt))}
    if IP in pkt:
        ip = pkt[IP]
        fields.update(src=ip.src, dst=ip.dst, ttl=ip.ttl, dscp=ip.tos >> 2, ip_id=ip.id, ip_version=4)
    elif IPv6 in pkt:
        ip = pkt[IPv6]
        fields.update(src=ip.src, dst=ip.dst, ttl=ip.hlim, dscp=ip.tc >> 2, flow_label=ip.fl, ip_version=6)
    text = "IPv%s %s > %s" % (fields.get("ip_version"), fields.get("src"), fields.get("dst"))
    if TCP in pkt and not isinstance(pkt[TCP], TCPerror):
        tcp = pkt[TCP]
        fields.update(protocol="tcp", src_port=tcp.sport, dst_port=tcp.dport, tcp_flags=str(tcp.flags),
                      seq=tcp.seq, ack=tcp.ack)
        text = "TCP %s:%d > %s:%d [%s]" % (fields["src"], tcp.sport, fields["dst"], tcp.dport, tcp.flags)
    elif UDP in pkt and not isinstance(pkt[UDP], UDPerror):
        udp = pkt[UDP]
        fields.update(protocol="udp", src_port=udp.sport, dst_port=udp.dport)
        text = "UDP %s:%d > %s:%d" % (fields["src"], udp.sport, fields["dst"], udp.dport)
    elif ICMP in pkt:
        icmp = pkt[ICMP]
        fields.update(protocol="icmp", icmp_type=icmp.type, icmp_code=icmp.code)
        if icmp.type in (0, 8):
            fields.update(icmp_id=icmp.id, icmp_seq=icmp.seq)
        text = "ICMP %s > %s type %d code %d" % (fields["src"], fields["dst"], icmp.type, icmp.code)
    elif fields.get("ip_version") == 6:
        l4 = pkt[IPv6].payload
        fields.update(protocol="icmpv6", icmp_type=getattr(l4, "type", None), icmp_code=getattr(l4, "code", None))
        if isinstance(l4, (ICMPv6EchoRequest, ICMPv6EchoReply)):
            fields.update(icmp_id=l4.id, icmp_seq=l4.seq)
        text = "ICMPv6 %s > %s type %s code %s" % (
            fields["src"], fields["dst"], fields["icmp_type"], fields["icmp_code"])
    text += " ttl=%s dscp=%s" % (fields.get("ttl"), fields.get("dscp"))
    if fields.get("ip_id") is not None:
        text += " id=%d" % fields["ip_id"]
    if fields.get("flow_label") is not None:
        text += " flowlabel=0x%05x" % fields["flow_label"]
    return {"summary": text, "fields": fields, "hex": bytes(pkt).hex()}


def _embedded_matches(inner, spec):
    """Does the packet quoted in an ICMP error come from this probe?"""
    if inner is None:
        return False
    if inner.src != spec["src"] or inner.dst not in spec["dst_aliases"]:
        return False
    if spec["family"] == 4:
        base = spec["tag"]["ip_id"]
        return (inner.id - base) & 0xFFFF < spec["count"]
    return inner.fl == spec["tag"]["flow_label"]


def classify(pkt, spec):
    """Return ``{kind, from, ...}`` if ``pkt`` answers the probe, else None."""
    if spec["family"] == 4:
        if IP not in pkt or pkt[IP].dst != spec["src"]:
            return None
        outer = pkt[IP]
        if ICMP in pkt and pkt[ICMP].type in ICMP4_ERRORS:
            icmp = pkt[ICMP]
            if not _embedded_matches(pkt[IPerror] if IPerror in pkt else None, spec):
                return None
            kind = ICMP4_ERRORS[icmp.type]
            names = {3: ICMP4_UNREACH, 11: TIME_EXCEEDED}.get(icmp.type, {})
            code_name = names.get(icmp.code, str(icmp.code))
            return {"kind": kind, "from": outer.src, "icmp_type": icmp.type, "icmp_code": icmp.code,
                    "code_name": code_name}
    else:
        if IPv6 not in pkt or pkt[IPv6].dst != spec["src"]:
            return None
        outer = pkt[IPv6]
        err = None
        for layer in (ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded, ICMPv6ParamProblem):
            if layer in pkt:
                err = pkt[layer]
        if err is not None:
            if not _embedded_matches(pkt[IPerror6] if IPerror6 in pkt else None, spec):
                return None
            names = {1: ICMP6_UNREACH, 3: TIME_EXCEEDED}.get(err.type, {})
            code_name = names.get(err.code, str(err.code))
            return {"kind": ICMP6_ERRORS[err.type], "from": outer.src, "icmp_type": err.type, "icmp_code": err.code,
                    "code_name": code_name}
    if outer.src not in spec["dst_aliases"]:
        return None
    proto = spec["protocol"]
    if proto == "tcp" and TCP in pkt:
        tcp = pkt[TCP]
        if tcp.sport != spec["dst_port"] or tcp.dport != spec["src_port"]:
            return None
        flags = str(tcp.flags)
        if "R" in flags:
            kind = "rst"
        elif "S" in flags and "A" in flags:
            kind = "syn-ack"
        else:
            kind = "tcp"
        return {"kind": kind, "from": outer.src, "tcp_flags": flags}
    if proto == "udp" and UDP in pkt:
        udp = pkt[UDP]
        if udp.sport == spec["dst_port"] and udp.dport == spec["src_port"]:
            return {"kind": "udp", "from": outer.src}
        return None
    if proto == "icmp" and ICMP in pkt and pkt[ICMP].type == 0 and pkt[ICMP].id == spec["icmp_id"]:
        return {"kind": "echo-reply", "from": outer.src, "icmp_seq": pkt[ICMP].seq}
    if proto == "icmpv6" and ICMPv6EchoReply in pkt and pkt[ICMPv6EchoReply].id == spec["icmp_id"]:
        return {"kind": "echo-reply", "from": outer.src, "icmp_seq": pkt[ICMPv6EchoReply].seq}
    return None


def outcome_of(replies):
    """reply, reset, icmp_error or no_reply, from the first reply that answers the probe."""
    for reply in replies:
        return OUTCOME_OF_KIND.get(reply["kind"], "icmp_error")
    return "no_reply"


def _open_sockets(spec):
    family = socket.AF_INET6 if spec["family"] == 6 else socket.AF_INET
    sender = socket.socket(family, socket.SOCK_RAW, socket.IPPROTO_RAW)
    listener = None
    if spec["wait_reply"]:
        listener = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    return sender, listener


def inject(spec, netns_path=None, check_mode=False):
    """Send the probe from the namespace and collect the replies; return the module's result dict."""
    spec = dict(spec)
    with netns_utils.entered(netns_path):
        if spec["src"] is None:
            spec["src"] = source_address(spec)
        sender = listener = None
        if not check_mode:
            try:
                sender, listener = _open_sockets(spec)
            except PermissionError:
                raise ProbeError("sending raw packets needs root (CAP_NET_RAW)")
    spec["dst_aliases"] = set([spec["dst"]])
    packets = [build(spec, i) for i in range(spec["count"])]
    result = {"probe": _probe_report(spec, packets[0]), "replies": [], "sent": 0}
    if check_mode:
        result["outcome"] = "not_sent"
        return result
    replies = []
    try:
        started = time.time()
        for pkt in packets:
            sender.sendto(bytes(pkt), (spec["dst"], 0))
            result["sent"] += 1
        result["sent_at"] = started
        if listener is not None:
            replies = _collect(listener, spec, started)
    except OSError as exc:
        raise ProbeError("sending to %s failed: %s" % (spec["dst"], exc.strerror or exc))
    finally:
        sender.close()
        if listener is not None:
            listener.close()
    result["replies"] = replies
    result["outcome"] = outcome_of(replies) if spec["wait_reply"] else "not_checked"
    result["rtt_ms"] = replies[0]["rtt_ms"] if replies else None
    return result


def _collect(listener, spec, started):
    """Read replies until every probe is answered or the timeout ends (bounded in time)."""
    deadline = started + spec["timeout"]
    replies = []
    listener.setblocking(False)
    while len(replies) < spec["count"]:
        left = deadline - time.time()
        if left <= 0:
            break
        ready, _w, _x = select.select([listener], [], [], left)
        if not ready:
            break
        while True:
            try:
                data, addr = listener.recvfrom(65535)
            except BlockingIOError:
                break
            if addr[2] == PACKET_OUTGOING or addr[1] not in (0x0800, 0x86DD):
                continue
            pkt = (IPv6 if addr[1] == 0x86DD else IP)(data)
            verdict = classify(pkt, spec)
            if verdict is None:
                continue
            now = time.time()
            info = describe(pkt)
            verdict.update(time=now, rtt_ms=round((now - started) * 1000.0, 3), summary=info["summary"],
                           fields=info["fields"], interface=addr[0])
            replies.append(verdict)
    return replies


def _chosen(value, name, top, rng):
    """The caller's value (checked against 0..top), else a random one."""
    if value is None:
        return rng.getrandbits(top.bit_length())
    return _bounded(value, name, 0, top)


def _probe_report(spec, pkt):
    info = describe(pkt)
    keys = ("src", "dst", "protocol", "src_port", "dst_port", "tcp_flags", "ttl", "icmp_id", "icmp_seq", "count",
            "timeout", "payload", "tag")
    report = dict((k, spec[k]) for k in keys)
    report.update(summary=info["summary"], fields=info["fields"], hex=info["hex"])
    return report

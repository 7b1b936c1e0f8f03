# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Conntrack over netlink: the table dump and the NEW/UPDATE/DESTROY event stream, with a lean decoder.

pyroute2 opens and binds the netlink socket (``NFCTSocket`` cannot bind to the event groups, so a generic
``NetlinkSocket`` does); its message objects are not used: they cost about 20 KB and a millisecond per entry,
and a 100k-entry table must not. The decoder below walks the ctnetlink attributes with ``struct`` and builds the
flow dict (flow.py) directly. Without pyroute2 the socket comes from the standard library (the same syscalls).

Attribute numbers: include/uapi/linux/netfilter/nfnetlink_conntrack.h. Netlink headers are in host byte order,
ctnetlink payloads in network byte order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import gc
import os
import select
import socket
import struct
import time

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_util
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack import layouts
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.flow import (
    TCP_STATES, make_flow, status_names)

try:
    from pyroute2.netlink.nlsocket import NetlinkSocket as _Pyroute2Socket
except ImportError:  # pragma: no cover - the standard library socket does the same
    _Pyroute2Socket = None

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_NEW = 0
IPCTNL_MSG_CT_GET = 1
IPCTNL_MSG_CT_DELETE = 2
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR = 0x1, 0x2, 0x4, 0x10
NLM_F_DUMP, NLM_F_EXCL, NLM_F_CREATE = 0x300, 0x200, 0x400
# NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY as a bind() group mask
EVENT_GROUPS = {"NEW": 0x1, "UPDATE": 0x2, "DESTROY": 0x4}
FAMILIES = {None: 0, 0: 0, 4: socket.AF_INET, 6: socket.AF_INET6}

_HDR = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH").unpack_from
_BE16 = struct.Struct(">H").unpack_from
_BE32 = struct.Struct(">I").unpack_from
_BE64 = struct.Struct(">Q").unpack_from
_I32 = struct.Struct("=i").unpack_from
_NTOP = socket.inet_ntop
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6
_ADDR_CACHE = {}
RECV_SIZE = 1 << 16


def _addr(raw):
    text = _ADDR_CACHE.get(raw)
    if text is None:
        text = _NTOP(_AF4 if len(raw) == 4 else _AF6, raw)
        if len(_ADDR_CACHE) > 200000:
            _ADDR_CACHE.clear()
        _ADDR_CACHE[raw] = text
    return text


layouts.set_address_function(_addr)
# (message length, family) -> compiled layouts seen with that key (at most _MAX_SHAPES; None = not compilable)
_SHAPES = {}
_MAX_SHAPES = 4


def _attributes(buf, pos, end, what):
    """Each netlink attribute of ``buf[pos:end]``: (type without its flags, payload start, attribute end).
    One that is shorter than its header or runs past ``end`` is a ConntrackError naming ``what`` it was in."""
    while pos + 4 <= end:
        length, kind = _NLA(buf, pos)
        if length < 4 or pos + length > end:
            raise ConntrackError("malformed %s attribute (length %d at offset %d)" % (what, length, pos))
        yield kind & 0x3FFF, pos + 4, pos + length
        pos += (length + 3) & ~3


# CTA_PROTO_* attribute type -> (tuple key, 16 bits or else one octet): ports, ICMP and ICMPv6 id, type and
# code; CTA_PROTO_NUM (1) apart
_PROTO_KEYS = {2: ("src_port", True), 3: ("dst_port", True), 4: ("icmp_id", True), 5: ("icmp_type", False),
               6: ("icmp_code", False), 7: ("icmp_id", True), 8: ("icmp_type", False), 9: ("icmp_code", False)}


def _tuple(buf, pos, end):
    """CTA_TUPLE_ORIG/REPLY payload -> (protocol number, tuple dict, zone of the tuple or None)."""
    tup = {}
    proto = zone = None
    for atype, start, stop in _attributes(buf, pos, end, "tuple"):
        if atype == 1:      # CTA_TUPLE_IP: CTA_IP_V4_SRC/DST 1/2, CTA_IP_V6_SRC/DST 3/4
            for kind, value, value_end in _attributes(buf, start, stop, "address"):
                if kind == 1 or kind == 3:
                    tup["src"] = _addr(buf[value:value_end])
                elif kind == 2 or kind == 4:
                    tup["dst"] = _addr(buf[value:value_end])
        elif atype == 2:    # CTA_TUPLE_PROTO
            for kind, value, _value_end in _attributes(buf, start, stop, "protocol"):
                if kind == 1:
                    proto = buf[value]
                else:
                    known = _PROTO_KEYS.get(kind)
                    if known is not None:
                        tup[known[0]] = _BE16(buf, value)[0] if known[1] else buf[value]
        elif atype == 3:    # CTA_TUPLE_ZONE
            zone = _BE16(buf, start)[0]
    return proto, tup, zone


def _nested_u64_pair(buf, pos, end):
    """CTA_COUNTERS_*: (packets, bytes) from the 64-bit (1, 2) or old 32-bit (3, 4) attributes."""
    packets = octets = 0
    for kind, value, _value_end in _attributes(buf, pos, end, "counter"):
        if kind == 1:
            packets = _BE64(buf, value)[0]
        elif kind == 2:
            octets = _BE64(buf, value)[0]
        elif kind == 3:
            packets = _BE32(buf, value)[0]
        elif kind == 4:
            octets = _BE32(buf, value)[0]
    return packets, octets


def _first_nested(buf, pos, end, want):
    """(start, end) of the payload of the nested attribute ``want``, or None."""
    for kind, value, value_end in _attributes(buf, pos, end, "nested"):
        if kind == want:
            return value, value_end
    return None


def decode_entry(buf, pos, end, family):
    """One ctnetlink message's attributes (after nfgenmsg) -> flow dict."""
    orig = reply = None
    proto = 0
    status = 0
    tcp_state = timeout = ct_id = start = stop = helper = None
    mark = zone = 0
    c_orig = c_reply = None
    for atype, value, aend in _attributes(buf, pos, end, "conntrack"):
        if atype == 1:
            proto, orig, tzone = _tuple(buf, value, aend)
            if tzone is not None:
                zone = tzone
        elif atype == 2:
            reply = _tuple(buf, value, aend)[1]
        elif atype == 3:
            status = _BE32(buf, value)[0]
        elif atype == 4:        # CTA_PROTOINFO -> CTA_PROTOINFO_TCP -> CTA_PROTOINFO_TCP_STATE
            tcp = _first_nested(buf, value, aend, 1)
            if tcp:
                state = _first_nested(buf, tcp[0], tcp[1], 1)
                if state:
                    code = buf[state[0]]
                    tcp_state = TCP_STATES[code] if code < len(TCP_STATES) else str(code)
        elif atype == 7:
            timeout = _BE32(buf, value)[0]
        elif atype == 8:
            mark = _BE32(buf, value)[0]
        elif atype == 9:
            c_orig = _nested_u64_pair(buf, value, aend)
        elif atype == 10:
            c_reply = _nested_u64_pair(buf, value, aend)
        elif atype == 12:
            ct_id = _BE32(buf, value)[0]
        elif atype == 18:
            zone = _BE16(buf, value)[0]
        elif atype == 20:       # CTA_TIMESTAMP_START 1, _STOP 2 (epoch ns)
            for kind, stamp, _stamp_end in _attributes(buf, value, aend, "timestamp"):
                if kind == 1:
                    start = _BE64(buf, stamp)[0]
                elif kind == 2:
                    stop = _BE64(buf, stamp)[0]
        elif atype == 5:        # CTA_HELP -> CTA_HELP_NAME
            name = _first_nested(buf, value, aend, 1)
            if name:
                helper = bytes(buf[name[0]:name[1]]).split(b"\0", 1)[0].decode("ascii", "replace")
    if orig is None or reply is None:
        raise ConntrackError("conntrack message without %s tuple" % ("original" if orig is None else "reply"))
    if proto != 6:
        tcp_state = None
    counters = None
    if c_orig is not None or c_reply is not None:
        counters = (c_orig or (0, 0)) + (c_reply or (0, 0))
    return make_flow(6 if family == _AF6 else 4, proto, orig, reply, status_names(status), tcp_state=tcp_state,
                     timeout=timeout, mark=mark, zone=zone, ct_id=ct_id, counters=counters, start_ns=start,
                     stop_ns=stop, helper=helper)


def decode_messages(buf, events=False):
    """Decode one datagram of netlink messages.

    Returns ``(flows, done)``: each flow a dict (with ``event`` NEW/UPDATE/DESTROY when ``events``); ``done``
    True when the dump ended (NLMSG_DONE). A netlink error message raises ConntrackError; so does a malformed one.
    """
    flows = []
    done = False
    pos = 0
    size = len(buf)
    try:
        while pos + 16 <= size:
            length, mtype, flags, _seq, _pid = _HDR.unpack_from(buf, pos)
            if length < 16 or pos + length > size:
                raise ConntrackError("malformed netlink message (length %d at offset %d of %d)" % (length, pos, size))
            if mtype == NLMSG_DONE:
                done = True
            elif mtype == NLMSG_ERROR:
                code = _I32(buf, pos + 16)[0]
                if code:
                    raise ConntrackError("the kernel refused the conntrack request: %s"
                                         % os.strerror(-code))
            elif mtype >> 8 == NFNL_SUBSYS_CTNETLINK and pos + 20 <= pos + length:
                flow = None
                key = (length, buf[pos + 16])
                shapes = _SHAPES.get(key)
                if shapes:
                    for shape in shapes:
                        if shape is not None and shape[0](buf, pos + 20) == shape[1]:
                            flow = shape[3](shape[2](buf, pos + 20))
                            break
                if flow is None:
                    flow = decode_entry(buf, pos + 20, pos + length, buf[pos + 16])
                    if (shapes is None or len(shapes) < _MAX_SHAPES) and len(_SHAPES) < 4096:
                        _SHAPES.setdefault(key, []).append(
                            layouts.compile_layout(buf, pos + 20, pos + length, buf[pos + 16]))
                if events:
                    msg = mtype & 0xFF
                    if msg == IPCTNL_MSG_CT_DELETE:
                        flow["event"] = "DESTROY"
                    else:
                        flow["event"] = "NEW" if flags & (NLM_F_CREATE | NLM_F_EXCL) else "UPDATE"
                if flags & NLM_F_DUMP_INTR:
                    flow["dump_interrupted"] = True
                flows.append(flow)
            pos += (length + 3) & ~3
    except (struct.error, IndexError, ValueError) as exc:
        raise ConntrackError("malformed or truncated conntrack netlink message: %s" % exc)
    return flows, done


def dump_request(family=0, seq=1):
    """IPCTNL_MSG_CT_GET with NLM_F_DUMP for one family (0 = both)."""
    return _HDR.pack(20, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + \
        struct.pack("=BBH", family, 0, 0)


def open_socket(groups=0, netns_path=None, rcvbuf=None):
    """A NETLINK_NETFILTER socket bound to ``groups``, opened in the namespace at ``netns_path``.

    The socket stays in that namespace for its life (a socket belongs to the namespace it was made in).
    """
    with netns_util.entered(netns_path):
        try:
            if _Pyroute2Socket is not None:
                owner = _Pyroute2Socket(family=NETLINK_NETFILTER)
                try:
                    owner.bind(groups=groups)
                    sock = socket.socket(fileno=os.dup(owner.fileno()))
                finally:
                    owner.close()
            else:
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
                sock.bind((0, groups))
        except OSError as exc:
            raise ConntrackError("cannot open a conntrack netlink socket%s: %s (needs root or CAP_NET_ADMIN)"
                                 % (" in %s" % netns_path if netns_path else "", exc.strerror or exc))
    if rcvbuf:
        try:
            sock.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)   # SO_RCVBUFFORCE (root)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    return sock


def dump(netns_path=None, family=None, keep=None, timeout=30.0):
    """Every entry of the table (one family or both), each passed through ``keep`` (a predicate) when given.

    Returns ``(flows, interrupted)``; ``interrupted`` is True when the kernel flagged the dump inconsistent
    (the table changed while it was read, NLM_F_DUMP_INTR).
    """
    sock = open_socket(0, netns_path)
    flows = []
    interrupted = False
    deadline = time.monotonic() + timeout
    # Flow dicts hold no cycles; without this pause the cyclic collector rescans the growing list again and
    # again, and a 100k-entry dump gets several times slower than a 10k one per entry.
    collecting = gc.isenabled()
    gc.disable()
    try:
        sock.settimeout(timeout)
        sock.send(dump_request(FAMILIES.get(family, 0)))
        while True:
            if time.monotonic() > deadline:
                raise ConntrackError("the conntrack dump did not finish within %ss" % timeout)
            try:
                data = sock.recv(RECV_SIZE)
            except socket.timeout:
                raise ConntrackError("the kernel did not answer the conntrack dump within %ss" % timeout)
            except OSError as exc:
                raise ConntrackError("reading the conntrack dump failed: %s" % (exc.strerror or exc))
            batch, done = decode_messages(data)
            for flow in batch:
                if flow.pop("dump_interrupted", False):
                    interrupted = True
                if keep is None or keep(flow):
                    flows.append(flow)
            if done:
                break
    finally:
        sock.close()
        if collecting:
            gc.enable()
    return flows, interrupted


def events(duration, netns_path=None, kinds=("NEW", "UPDATE", "DESTROY"), keep=None, max_events=1000000,
           rcvbuf=8 << 20, ready=None, on_batch=None):
    """Conntrack events for ``duration`` seconds (at most ``max_events``). Returns ``(flows, lost)``.

    ``lost`` counts the times the kernel dropped events because the socket buffer was full (ENOBUFS).
    ``ready`` (a callable) is called once the socket listens, so a caller can start traffic after it;
    ``on_batch`` gets each datagram's kept flows as they arrive (to export while listening).
    """
    groups = 0
    for kind in kinds:
        groups |= EVENT_GROUPS[kind]
    sock = open_socket(groups, netns_path, rcvbuf=rcvbuf)
    flows = []
    lost = 0
    end = time.monotonic() + duration
    try:
        sock.setblocking(False)
        if ready is not None:
            ready()
        while len(flows) < max_events:
            left = end - time.monotonic()
            if left <= 0:
                break
            readable, _w, _x = select.select([sock], [], [], left)
            if not readable:
                continue
            while len(flows) < max_events:
                try:
                    data = sock.recv(RECV_SIZE)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno == errno.ENOBUFS:
                        lost += 1
                        continue
                    raise ConntrackError("reading conntrack events failed: %s" % (exc.strerror or exc))
                batch = [flow for flow in decode_messages(data, events=True)[0] if keep is None or keep(flow)]
                if batch:
                    flows.extend(batch)
                    if on_batch is not None:
                        on_batch(batch)
    finally:
        sock.close()
    return flows, lost


def sysctl(name, netns_path=None):
    """A net.* sysctl as the namespace at ``netns_path`` sees it (``/proc/sys/net`` follows the opener's
    namespace), or None when it does not exist there."""
    path = "/proc/sys/" + name.replace(".", "/")
    with netns_util.entered(netns_path):
        try:
            with open(path) as handle:
                return handle.read().strip()
        except (IOError, OSError):
            return None

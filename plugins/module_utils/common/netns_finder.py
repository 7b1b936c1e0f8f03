# -*- coding: utf-8 -*-
# Copyright: netdiag.tracekit contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find the network namespace that holds an address, on this node (``netns: auto``).

A pod's namespace is not in the Kubernetes API, but its address is: the namespace is the one of this node
whose interfaces carry it. Candidates are the named namespaces (``/run/netns``, ``/var/run/netns``, listed
with pyroute2) and every process's ``/proc/PID/ns/net``, de-duplicated by inode (the namespace's identity,
the number eBPF reports). For each, this process enters it (setns), opens one rtnetlink socket there, and
returns; the sockets then dump their addresses. No process is forked per namespace, so hundreds of
namespaces take milliseconds.

A namespace is named for the other modules by its ``ip netns`` name, or else by its inode (a number above
the PID range), which ``resolve`` turns back into a path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import socket
import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils

try:
    from pyroute2 import netns as pyroute2_netns
    HAS_PYROUTE2 = True
except ImportError:  # pragma: no cover - the listing falls back to os.listdir
    HAS_PYROUTE2 = False

NETNS_DIRS = ("/run/netns", "/var/run/netns")
NETLINK_ROUTE = 0
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFA_ADDRESS, IFA_LOCAL = 1, 2
BATCH = 256                      # sockets open at once (file descriptors)
PID_MAX_DIGITS = 7               # pid_max is at most 4194304: a longer number is a namespace inode


class NetnsNotFound(netns_utils.NetnsError):
    pass


def _listdir(path):
    if HAS_PYROUTE2:
        return pyroute2_netns.listnetns(nspath=path)
    try:
        return os.listdir(path)
    except OSError:
        return []


def namespaces():
    """Every network namespace of the node, once: ``[{inode, name, path, pid}]``, named ones first."""
    out, seen, dirs = [], set(), []
    for base in NETNS_DIRS:
        real = os.path.realpath(base)
        if real not in dirs:
            dirs.append(real)
            for name in sorted(_listdir(base)):
                path = os.path.join(base, name)
                try:
                    inode = os.stat(path).st_ino
                except OSError:
                    continue
                if inode not in seen:
                    seen.add(inode)
                    out.append({"inode": inode, "name": name, "path": path, "pid": None})
    try:
        pids = sorted((int(p) for p in os.listdir("/proc") if p.isdigit()))
    except OSError:
        pids = []
    for pid in pids:
        path = "/proc/%d/ns/net" % pid
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue                       # the process ended, or a kernel thread
        if inode not in seen:
            seen.add(inode)
            out.append({"inode": inode, "name": None, "path": path, "pid": pid})
    return out


def _open_sockets(spaces):
    """One rtnetlink socket inside each namespace (None where it cannot be entered)."""
    socks = []
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    try:
        for ns in spaces:
            try:
                fd = os.open(ns["path"], os.O_RDONLY)
            except OSError:
                socks.append(None)
                continue
            try:
                netns_utils._setns(fd)  # pylint: disable=protected-access
                socks.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE))
            except (OSError, netns_utils.NetnsError):
                socks.append(None)
            finally:
                os.close(fd)
    finally:
        netns_utils._setns(own)  # pylint: disable=protected-access
        os.close(own)
    return socks


def _parse_addresses(data, out):
    """Append the addresses of the RTM_NEWADDR messages in ``data``; True once the dump is done."""
    offset = 0
    while offset + 16 <= len(data):
        length, mtype = struct.unpack_from("=IH", data, offset)
        if length < 16:
            return True
        if mtype == NLMSG_DONE or mtype == NLMSG_ERROR:
            return True
        if mtype == RTM_NEWADDR:
            family = data[offset + 16]
            attr = offset + 24
            end = offset + length
            local = address = None
            while attr + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, attr)
                if alen < 4:
                    break
                value = data[attr + 4:attr + alen]
                if atype in (IFA_LOCAL, IFA_ADDRESS) and len(value) in (4, 16):
                    text = socket.inet_ntop(socket.AF_INET if family == socket.AF_INET else socket.AF_INET6, value)
                    if atype == IFA_LOCAL:
                        local = text
                    else:
                        address = text
                attr += (alen + 3) & ~3
            if local or address:
                out.append(local or address)
        offset += (length + 3) & ~3
    return False


def _dump(sock, seq):
    request = struct.pack("=IHHII", 24, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + struct.pack(
        "=BBBBI", socket.AF_UNSPEC, 0, 0, 0, 0)
    sock.settimeout(2.0)
    sock.send(request)
    found = []
    for _i in range(10000):
        if _parse_addresses(sock.recv(65536), found):
            break
    return found


def addresses_of(spaces):
    """``[(ns, [addresses])]`` for the namespaces given (unreadable ones have no addresses)."""
    out = []
    for start in range(0, len(spaces), BATCH):
        chunk = spaces[start:start + BATCH]
        socks = _open_sockets(chunk)
        try:
            for index, (ns, sock) in enumerate(zip(chunk, socks)):
                addrs = []
                if sock is not None:
                    try:
                        addrs = _dump(sock, start + index + 1)
                    except (OSError, socket.timeout):
                        addrs = []
                out.append((ns, addrs))
        finally:
            for sock in socks:
                if sock is not None:
                    sock.close()
    return out


def _norm(address):
    try:
        return str(ipaddress.ip_interface(str(address).strip()).ip)
    except ValueError:
        raise netns_utils.NetnsError("%r is not an IPv4 or IPv6 address" % (address,))


def spec_of(ns):
    """How the other modules are told this namespace: its name, or its inode."""
    return ns["name"] or str(ns["inode"])


def find(addresses):
    """``{address: [namespace, ...]}`` for each address (a list: on a healthy node it has one element);
    each namespace is ``{inode, name, path, pid, spec}``. Also returns how many namespaces were scanned."""
    wanted = dict((_norm(a), []) for a in addresses)
    spaces = namespaces()
    for ns, addrs in addresses_of(spaces):
        for addr in addrs:
            if addr in wanted:
                wanted[addr].append(dict(ns, spec=spec_of(ns)))
    return wanted, len(spaces)


def by_inode(inode):
    for ns in namespaces():
        if ns["inode"] == int(inode):
            return ns
    return None


def resolve(spec, address=None):
    """Like ``netns.resolve``, and also ``auto`` (the one namespace holding ``address``) and an inode."""
    spec_text = "" if spec is None else str(spec)
    if spec_text == "auto":
        if not address:
            raise netns_utils.NetnsError("netns auto finds the namespace by an address: give the source address too")
        holders = find([address])[0][_norm(address)]
        if not holders:
            raise NetnsNotFound("netns auto: no network namespace of this node holds %s" % address)
        if len(holders) > 1:
            raise netns_utils.NetnsError("netns auto: %s is held by %d namespaces (%s): name one of them"
                                         % (address, len(holders), ", ".join(h["spec"] for h in holders)))
        ns = holders[0]
        return {"spec": "auto", "path": ns["path"], "name": ns["name"], "inode": ns["inode"], "found_by": address}
    if spec_text.isdigit() and len(spec_text) > PID_MAX_DIGITS:
        ns = by_inode(spec_text)
        if ns is None:
            raise NetnsNotFound("no network namespace with inode %s on this node" % spec_text)
        return {"spec": spec_text, "path": ns["path"], "name": ns["name"], "inode": ns["inode"]}
    return netns_utils.resolve(spec)

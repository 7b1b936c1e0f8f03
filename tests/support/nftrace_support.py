"""Helpers for the nftables trace tests: namespaces with real rulesets, a tagged TCP SYN, leftover checks."""

import json
import os
import socket
import struct
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.path.join(REPO, ".build", "collections") not in sys.path:
    sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils


def sh(*cmd, data=None, check=True):
    return subprocess.run(list(cmd), input=data, capture_output=True, text=True, check=check, timeout=30)


def make_netns(name, addr=None, peer=None):
    """A namespace with lo up; with addr, a veth pair whose end d0 holds it (so packets to peer route out of it)."""
    sh("ip", "netns", "del", name, check=False)
    sh("ip", "netns", "add", name)
    sh("ip", "-n", name, "link", "set", "lo", "up")
    if addr:
        sh("ip", "-n", name, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        sh("ip", "-n", name, "addr", "add", addr, "dev", "d0")
        sh("ip", "-n", name, "link", "set", "d0", "up")
        sh("ip", "-n", name, "link", "set", "d1", "up")
    return name


def del_netns(name):
    sh("ip", "netns", "del", name, check=False)


def nft_load(ns, text):
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", data=text)


def trace_tables(ns):
    """Names of every table of ours (the trace table) left in a namespace."""
    out = sh("ip", "netns", "exec", ns, "nft", "-j", "list", "tables").stdout
    return [t["table"]["name"] for t in json.loads(out or "{}").get("nftables", [])
            if "table" in t and t["table"]["name"].startswith("tracekit_trace")]


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def send_syn(ns, src, dst, dport, dscp, ip_id, sport=40000):
    """One TCP SYN with the given DSCP and IP ID, sent from inside namespace ns (a raw socket, no reply read)."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, dscp << 2, 20 + len(tcp), ip_id, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    with netns_utils.entered(os.path.join("/var/run/netns", ns)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        sock.sendto(ip + tcp, (dst, 0))
    finally:
        sock.close()


HOLD_TAG = {"dscp": 46, "ip_id": 4242}


def hold(ns, ready_file, seconds=30.0):
    """Run one trace session in ns until a signal or ``seconds`` (the body of ``python nftrace_support.py hold``)."""
    from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.session import NftraceSession
    with NftraceSession([ns], HOLD_TAG, ready_file=ready_file) as session:
        session.prepare()
        session.arm()
        session.capture(seconds)
        result = session.result()
    print(json.dumps({"stopped_by": result["stopped_by"], "problems": result["problems"], "table": result["table"]}))


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "hold":
        hold(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) == 5 else 30.0)
    else:
        sys.exit("usage: nftrace_support.py hold NETNS READY_FILE [SECONDS]")

"""A small lab of network namespaces for the nettrace tests, and the traffic that makes each event happen.

Topology (every name starts with the lab prefix, e.g. ``tkt-nt-1234``):

    <p>-a 10.99.0.1 fd99::1  ==veth==  <p>-b 10.99.0.2 fd99::2   (b drops udp/9 and tcp/5432 with nftables,
                                                                  forwards, and has no route to 10.98/16, fd98::/64)
    <p>-c 10.97.0.1 fd97::1  ==veth==  <p>-d 10.97.0.2 fd97::2   (unrelated traffic: d drops udp/9)

Run as a script (``python nettrace_lab.py PREFIX traffic``) it sends the traffic, so a playbook can inject it.
Packets stay inside these namespaces.
"""

import os
import socket
import struct
import subprocess
import sys
import threading

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils  # noqa: E402

NFT_RULES = """
table inet tkt_filter {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 9 drop
    tcp dport 5432 drop
  }
}
"""

# The probe tags the tests look for (DSCP + IPv4 ID / IPv6 flow label), as the runbook's injector sets them.
V4_ID, V4_DSCP = 0x4a7e, 46
V6_FLOW, V6_DSCP = 0xabcde, 10


def sh(cmd, check=True):
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=False, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd, proc.stderr.strip()))
    return proc.stdout


class Lab(object):
    def __init__(self, prefix):
        self.prefix = prefix
        self.ns = dict((x, "%s-%s" % (prefix, x)) for x in "abcd")

    def ifname(self, which):
        return "t%s%s" % ("".join(ch for ch in self.prefix if ch.isalnum())[-10:], which)

    def inode(self, which):
        return os.stat("/var/run/netns/%s" % self.ns[which]).st_ino

    def create(self):
        self.destroy()
        for side in "abcd":
            sh("ip netns add %s" % self.ns[side])
            sh("ip -n %s link set lo up" % self.ns[side])
        for left, right, net4, net6 in (("a", "b", "10.99.0", "fd99:"), ("c", "d", "10.97.0", "fd97:")):
            lname, rname = self.ns[left], self.ns[right]
            sh("ip link add %s type veth peer name %s" % (self.ifname(left), self.ifname(right)))
            sh("ip link set %s netns %s" % (self.ifname(left), lname))
            sh("ip link set %s netns %s" % (self.ifname(right), rname))
            for ns, dev, host in ((lname, left, 1), (rname, right, 2)):
                ifname = self.ifname(dev)
                sh("ip -n %s addr add %s.%d/24 dev %s" % (ns, net4, host, ifname))
                sh("ip -n %s addr add %s:%d/64 dev %s nodad" % (ns, net6, host, ifname))
                sh("ip -n %s link set %s up" % (ns, ifname))
        for side in "bd":
            proc = subprocess.run(["ip", "netns", "exec", self.ns[side], "nft", "-f", "-"], input=NFT_RULES,
                                  capture_output=True, text=True, check=False, timeout=30)
            if proc.returncode != 0:
                raise RuntimeError("nft failed: %s" % proc.stderr)
        # b forwards, with no route to 10.98.0.0/16 or fd98::/64; a sends those prefixes to b.
        sh("ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1" % self.ns["b"])
        sh("ip -n %s route add 10.98.0.0/16 via 10.99.0.2" % self.ns["a"])
        sh("ip -n %s -6 route add fd98::/64 via fd99::2" % self.ns["a"])
        return self

    def destroy(self):
        for side in "abcd":
            sh("ip netns del %s" % self.ns[side], check=False)

    # ------------------------------------------------------------ traffic

    def _in(self, which, fn, *args):
        """Run fn in namespace ``which`` on a fresh thread (setns is per thread)."""
        box = {}

        def target():
            with netns_utils.entered("/var/run/netns/%s" % self.ns[which]):
                try:
                    box["value"] = fn(*args)
                except Exception as exc:  # pylint: disable=broad-except
                    box["error"] = exc
        thread = threading.Thread(target=target)
        thread.start()
        thread.join(30)
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def mac(self, which):
        ifname = self.ifname(which)
        out = sh("ip -n %s -o link show %s" % (self.ns[which], ifname))
        return bytes.fromhex(out.split("link/ether ")[1].split()[0].replace(":", ""))

    def send_tagged_udp(self, src="a", dst="b", port=9):
        """One IPv4 and one IPv6 UDP packet carrying the probe tags, written as raw frames on the veth."""
        net4, net6 = ("10.99.0", "fd99::") if src in "ab" else ("10.97.0", "fd97::")
        dmac, smac = self.mac(dst), self.mac(src)
        ifname = self.ifname(src)
        frames = [
            dmac + smac + b"\x08\x00" + ipv4_udp("%s.1" % net4, "%s.2" % net4, 40000, port, V4_ID, V4_DSCP),
            dmac + smac + b"\x86\xdd" + ipv6_udp("%s1" % net6, "%s2" % net6, 40001, port, V6_FLOW, V6_DSCP),
        ]

        def send():
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind((ifname, 0))
            for frame in frames:
                sock.send(frame)
            sock.close()
        self._in(src, send)

    def connect(self, which, addr, port, timeout=0.5):
        """A TCP connect; returns the errno name it ended with (or 'OK')."""
        def run():
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect((addr, port))
                return "OK"
            except socket.timeout:
                return "TIMEOUT"
            except OSError as exc:
                return os.strerror(exc.errno)
            finally:
                sock.close()
        return self._in(which, run)

    def udp(self, which, addr, port, count=1):
        def run():
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            for _packet in range(count):
                sock.sendto(b"tkt", (addr, port))
            sock.close()
        self._in(which, run)

    def all_traffic(self, retrans=True):
        """Every event kind, IPv4 and IPv6, in a/b; plus unrelated drops in c/d."""
        self.send_tagged_udp("a", "b")                  # DROP NETFILTER_DROP in b (tagged)
        self.send_tagged_udp("c", "d")                  # unrelated DROP in d
        for addr in ("10.99.0.2", "fd99::2"):
            self.connect("a", addr, 81)                 # RST_SENT NO_SOCKET in b, RST_RECV + SOCK_ERR in a
        self.udp("a", "10.98.0.7", 53)                  # DROP (no route) in b
        self.udp("a", "fd98::7", 53)
        self.udp("c", "10.97.0.2", 9, count=5)          # unrelated
        if retrans:
            threads = [threading.Thread(target=self.connect, args=("a", addr, 5432, 1.6))
                       for addr in ("10.99.0.2", "fd99::2")]  # SYN dropped -> RETRANS TCP_SYN_SENT in a
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xffff) + (total >> 16)
    return ~total & 0xffff


def ipv4_udp(src, dst, sport, dport, ident, dscp, payload=b"tkt-probe"):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, dscp << 2, 20 + len(udp), ident, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", _csum(hdr)) + hdr[12:]
    return hdr + udp


def ipv6_udp(src, dst, sport, dport, flow, dscp, payload=b"tkt-probe"):
    s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    length = 8 + len(payload)
    pseudo = s6 + d6 + struct.pack("!I3xB", length, 17)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    check = _csum(pseudo + udp) or 0xffff
    udp = udp[:6] + struct.pack("!H", check) + udp[8:]
    first = (6 << 28) | ((dscp << 2) << 20) | flow
    return struct.pack("!IHBB", first, length, 17, 64) + s6 + d6 + udp


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] != "traffic":
        sys.exit("usage: nettrace_lab.py PREFIX traffic")
    Lab(sys.argv[1]).all_traffic()

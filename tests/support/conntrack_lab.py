"""Two network namespaces with conntrack, NAT, zones and marks, and real connections between them.

Topology (names start with the prefix, e.g. ``tkct-1234``)::

    <p>-a  10.231.0.1 (+10.231.0.11) fd31::1   ==veth==   <p>-b  10.231.0.2 fd31::2
    client: accounting and timestamps ON          server: accounting OFF, listeners on 8080, 8081, 9090 (tcp),
                                                  5353 and 7007 (udp), on its own addresses

Ruleset of ``a`` (nftables): DNAT 10.96.0.10:80 -> 10.231.0.2:8080 (a service), SNAT of tcp/9090 to
10.231.0.11, ct mark 0x2a on tcp/8081, conntrack zone 7 for udp/7007 in both directions (or replies would make
a second entry), and a ``ct state`` rule so everything else is tracked. ``b`` tracks with a ``ct state`` rule.
Connections are made from sockets opened inside the namespaces; packets never leave them.
"""

import os
import socket
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils  # noqa: E402

A4, A4_SNAT, B4, SVC4 = "10.231.0.1", "10.231.0.11", "10.231.0.2", "10.96.0.10"
A6, B6 = "fd31::1", "fd31::2"
TCP_PORTS = (8080, 8081, 9090)
UDP_PORTS = (5353, 7007)
CLOSED_PORT = 8999          # nothing listens: a SYN gets a RST
DEAD_ADDR = "10.231.0.99"   # nobody has it: a SYN stays SYN_SENT [UNREPLIED]

NFT_A = """
table inet tkct {
  chain zone_out { type filter hook output priority raw; udp dport 7007 ct zone set 7; }
  chain zone_in { type filter hook prerouting priority raw; udp sport 7007 ct zone set 7; }
  chain nat_out { type nat hook output priority -100; ip daddr 10.96.0.10 tcp dport 80 dnat ip to 10.231.0.2:8080; }
  chain nat_post { type nat hook postrouting priority 100; tcp dport 9090 snat ip to 10.231.0.11; }
  chain out {
    type filter hook output priority 0;
    tcp dport 8081 ct mark set 0x2a
    ct state new counter
  }
}
"""
NFT_B = """
table inet tkct {
  chain inp { type filter hook input priority 0; ct state new counter; }
}
"""


def sh(cmd, check=True, data=None):
    proc = subprocess.run(cmd, shell=isinstance(cmd, str), capture_output=True, text=True, check=False,
                          timeout=60, input=data)
    if check and proc.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd, proc.stderr.strip()))
    return proc.stdout


def conntrack_text(ns, *args):
    """What ``conntrack`` prints in namespace ``ns`` (stdout only)."""
    return sh(["ip", "netns", "exec", ns, "conntrack"] + list(args))


class ConntrackLab(object):
    def __init__(self, prefix):
        self.prefix = prefix
        self.a = "%s-a" % prefix
        self.b = "%s-b" % prefix
        self.sockets = []
        self._stop = threading.Event()
        self._threads = []

    def path(self, ns):
        return "/var/run/netns/%s" % ns

    def create(self):
        self.destroy()
        short = "".join(ch for ch in self.prefix if ch.isalnum())[-9:]
        for ns in (self.a, self.b):
            sh(["ip", "netns", "add", ns])
        sh(["ip", "link", "add", "ta%s" % short, "netns", self.a, "type", "veth", "peer", "name", "tb%s" % short,
            "netns", self.b])
        for ns, dev, addrs in ((self.a, "ta" + short, ["10.231.0.1/24", "10.231.0.11/24", "fd31::1/64"]),
                               (self.b, "tb" + short, ["10.231.0.2/24", "fd31::2/64"])):
            for addr in addrs:
                sh(["ip", "-n", ns, "addr", "add", addr, "dev", dev] + (["nodad"] if ":" in addr else []))
            sh(["ip", "-n", ns, "link", "set", dev, "up"])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "-n", self.a, "route", "add", "10.96.0.0/16", "dev", "ta" + short])
        sh(["ip", "netns", "exec", self.a, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1",
            "net.netfilter.nf_conntrack_timestamp=1"])
        sh(["ip", "netns", "exec", self.b, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=0"])
        sh(["ip", "netns", "exec", self.a, "nft", "-f", "-"], data=NFT_A)
        sh(["ip", "netns", "exec", self.b, "nft", "-f", "-"], data=NFT_B)
        self._serve()
        return self

    def destroy(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=3)
        self._threads = []
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass
        self.sockets = []
        for ns in (self.a, self.b):
            sh(["ip", "netns", "del", ns], check=False)
        self._stop = threading.Event()

    def _serve(self):
        """Listeners in ``b``: TCP accepts and answers 'ok'; UDP echoes. Threads stop with destroy()."""
        listeners = []
        with netns_utils.entered(self.path(self.b)):
            for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                for port in TCP_PORTS:
                    s = socket.socket(family, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((addr, port))
                    s.listen(64)
                    listeners.append(s)
                for port in UDP_PORTS:
                    s = socket.socket(family, socket.SOCK_DGRAM)
                    if family == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((addr, port))
                    listeners.append(s)
        self.sockets.extend(listeners)
        for s in listeners:
            s.settimeout(0.2)
            thread = threading.Thread(target=self._loop, args=(s,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _loop(self, s):
        deadline = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if s.type == socket.SOCK_STREAM:
                    conn, _peer = s.accept()
                    conn.sendall(b"ok")
                    self.sockets.append(conn)
                else:
                    data, peer = s.recvfrom(2048)
                    s.sendto(data, peer)
            except (socket.timeout, OSError):
                continue

    def tcp(self, dst, port, payload=b"hello", close=False, timeout=2.0):
        """A TCP connection from ``a``; returns the client socket (kept open unless ``close``) or None (refused)."""
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        with netns_utils.entered(self.path(self.a)):
            s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((dst, port))
            s.sendall(payload)
            s.recv(16)
        except (ConnectionRefusedError, socket.timeout, OSError):
            s.close()
            return None
        if close:
            s.close()
            return None
        self.sockets.append(s)
        return s

    def udp(self, dst, port, payload=b"ping", timeout=2.0):
        family = socket.AF_INET6 if ":" in dst else socket.AF_INET
        with netns_utils.entered(self.path(self.a)):
            s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(payload, (dst, port))
            return s.recvfrom(2048)[0]
        except socket.timeout:
            return None
        finally:
            s.close()

    def ping(self, dst):
        return sh(["ip", "netns", "exec", self.a, "ping", "-c1", "-W1", dst], check=False)

    def syn_only(self, dst, port):
        """A connect that gets no answer (SYN_SENT [UNREPLIED]); the socket is left pending briefly."""
        with netns_utils.entered(self.path(self.a)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((dst, port))
        except BlockingIOError:
            pass
        time.sleep(0.2)
        self.sockets.append(s)
        return s

    def traffic(self):
        """One of each kind of flow the tests check."""
        self.tcp(B4, 8080)
        self.tcp(B6, 8080)
        self.tcp(SVC4, 80)                  # DNAT to b:8080
        self.tcp(B4, 9090)                  # SNAT to 10.231.0.11
        self.tcp(B4, 8081)                  # ct mark 0x2a
        self.udp(B4, 5353)
        self.udp(B6, 5353)
        self.udp(B4, 7007)                  # zone 7
        self.ping(B4)
        sh(["ip", "netns", "exec", self.a, "ping", "-6", "-c1", "-W1", B6], check=False)
        self.tcp(B4, CLOSED_PORT)           # refused: RST
        self.syn_only(DEAD_ADDR, 80)        # never answered

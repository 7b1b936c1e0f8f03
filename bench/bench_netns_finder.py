"""Benchmark: netns auto, finding the namespaces of 300 pod addresses on one node.

Creates 300 network namespaces (prefix tkk8sb-, each with 10.251.X.Y/32 and an IPv6 address on its
loopback), then measures, several times (bounded):
  - netns_finder.find() for all 300 addresses: list the namespaces (named and /proc/*/ns/net by inode),
    dump every namespace's addresses, match (target: under 100 ms);
  - the peer: `ip -all netns exec ip -o addr`, one `ip` process per named namespace, the shell way;
  - a naive loop of pyroute2 IPRoute(netns=NAME).get_addr() over the same namespaces (first 50, scaled).
Removes every namespace it created, also after a failure. Run as root: .venv/bin/python bench/bench_netns_finder.py
"""

import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns_finder  # noqa: E402

PREFIX = "tkk8sb"
COUNT = 300
RUNS = 5
TARGET = 0.100


def names():
    return ["%s-%03d" % (PREFIX, i) for i in range(COUNT)]


def address(i):
    return "10.251.%d.%d" % (i // 250, i % 250 + 1)


def ip_batch(lines):
    subprocess.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True, timeout=300)


def create():
    ip_batch(["netns add %s" % n for n in names()])
    for i, name in enumerate(names()):
        subprocess.run(["ip", "-n", name, "-batch", "-"], check=True, timeout=30, text=True,
                       input="link set lo up\naddr add %s/32 dev lo\naddr add fd00:251::%x/128 dev lo nodad\n"
                             % (address(i), i + 1))


def destroy():
    present = [n for n in os.listdir("/var/run/netns") if n.startswith(PREFIX + "-")] if os.path.isdir(
        "/var/run/netns") else []
    if present:
        ip_batch(["netns del %s" % n for n in present])


def fmt(samples):
    return "median %.1f ms (min %.1f, max %.1f, n=%d)" % (statistics.median(samples) * 1000, min(samples) * 1000,
                                                          max(samples) * 1000, len(samples))


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root (namespaces)")
    destroy()
    try:
        started = time.perf_counter()
        create()
        print("created %d namespaces in %.1f s" % (COUNT, time.perf_counter() - started))
        wanted = [address(i) for i in range(COUNT)]
        samples = []
        for _run in range(RUNS):
            t0 = time.perf_counter()
            found, scanned = netns_finder.find(wanted)
            samples.append(time.perf_counter() - t0)
        right = sum(1 for i, a in enumerate(wanted)
                    if [h["name"] for h in found[a]] == ["%s-%03d" % (PREFIX, i)])
        assert right == COUNT, "found %d of %d namespaces" % (right, COUNT)
        print("netns_finder.find, %d addresses, %d namespaces scanned: %s; target < %.0f ms: %s"
              % (COUNT, scanned, fmt(samples), TARGET * 1000, "MET" if statistics.median(samples) < TARGET else "MISSED"))
        peer = []
        for _run in range(2):
            t0 = time.perf_counter()
            out = subprocess.run(["ip", "-all", "netns", "exec", "ip", "-o", "addr"], capture_output=True, text=True,
                                 timeout=300, check=False).stdout
            peer.append(time.perf_counter() - t0)
        assert all(a + " " in out or a + "/32" in out for a in wanted[:5])
        print("peer: ip -all netns exec ip -o addr (every named namespace, %d): %s"
              % (len(os.listdir("/var/run/netns")), fmt(peer)))
        try:
            from pyroute2 import IPRoute
            t0 = time.perf_counter()
            sample = names()[:50]
            for name in sample:
                with IPRoute(netns=name) as ipr:
                    ipr.get_addr()
            naive = (time.perf_counter() - t0) * COUNT / len(sample)
            print("peer: naive pyroute2 IPRoute(netns=NAME).get_addr() loop, 50 namespaces scaled to %d: %.1f ms"
                  % (COUNT, naive * 1000))
        except ImportError:
            print("peer: pyroute2 not installed, naive loop skipped")
    finally:
        destroy()
        left = [n for n in os.listdir("/var/run/netns") if n.startswith(PREFIX + "-")]
        print("cleaned up: %d namespaces left" % len(left))


if __name__ == "__main__":
    main()

"""Benchmark: parse throughput of parse_vpp_trace on a large ``show trace`` built from real VPP outputs.

Run on demand: ``.venv/bin/python bench/bench_vpp_parse.py [--packets 10000] [--repeat 3]``.

The trace is made of the real packets in ../shared/fixtures/vpp/ (VPP 26.06 and 18.x/19.x outputs),
renumbered and spread over two threads, as ``show trace max N`` prints them. Targets (issue 5): at least
10 MB/s, and a 10,000-packet trace in under 1 s. Peers measured in the same run, for context:
``grep -c`` over the same file (the floor: a C scan that understands nothing), and a naive line-by-line
parser in the manner of the manual routine (loop over lines, one regex per kind tried on each line).
"""

from __future__ import print_function

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import parse_vpp_trace  # noqa: E402

SHARED = os.environ.get("TRACEKIT_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
PACKET_SPLIT = re.compile(r"^Packet \d+\n", re.M)
THREAD = "------------------- Start of thread %d %s -------------------\n"


def real_packets():
    """The body (after 'Packet N') of every packet in the real trace fixtures."""
    bodies = []
    for path in sorted(glob.glob(os.path.join(SHARED, "fixtures", "vpp", "*", "trace_*.txt"))):
        with open(path) as handle:
            text = handle.read()
        parts = PACKET_SPLIT.split(text)[1:]
        for part in parts:
            body = part.split("------------------- Start of thread")[0].split("Limiting display")[0]
            body = body.rstrip("\n") + "\n\n"
            if re.search(r"^\S+: \S+$", body, re.M):
                bodies.append(body)
    return bodies


def build_trace(n_packets):
    bodies = real_packets()
    if not bodies:
        sys.exit("no real VPP traces found under %s/fixtures/vpp: set TRACEKIT_SHARED" % SHARED)
    half = n_packets // 2
    out = []
    for thread, name, count in ((0, "vpp_main", half), (1, "vpp_wk_0", n_packets - half)):
        out.append(THREAD % (thread, name))
        for i in range(count):
            out.append("Packet %d\n" % (i + 1))
            out.append(bodies[(i + thread) % len(bodies)])
    return "".join(out), len(bodies)


NAIVE_KINDS = (
    ("thread", re.compile(r"^-+ Start of thread (\d+) (\S+) -+$")),
    ("packet", re.compile(r"^Packet (\d+)$")),
    ("node", re.compile(r"^(\d+:\d+:\d+:\d+|\d+\.\d+|\d{4}-\d\d-\d\dT[\d:.]+): (\S+)$")),
    ("drop", re.compile(r"^\s+(\S+): (.+)$")),
)


def naive_parse(text):
    """The manual routine as code: one pass over lines, every regex tried on every line until one matches."""
    packets = []
    packet = None
    last_node = None
    for line in text.splitlines():
        for kind, rx in NAIVE_KINDS:
            m = rx.match(line)
            if not m:
                continue
            if kind == "packet":
                packet = {"nodes": [], "drop": None}
                packets.append(packet)
            elif kind == "node" and packet is not None:
                last_node = m.group(2)
                packet["nodes"].append(last_node)
            elif kind == "drop" and packet is not None and last_node in ("drop", "error-drop"):
                packet["drop"] = (m.group(1), m.group(2))
            break
    return packets


def best_of(repeat, func, *args, **kwargs):
    """Best wall-clock time of ``repeat`` runs (and, with cpu=True, the best process CPU time too)."""
    cpu = kwargs.get("cpu", False)
    best = best_cpu = None
    result = None
    for _round in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = func(*args)
        elapsed, used = time.perf_counter() - start, time.process_time() - start_cpu
        best = elapsed if best is None else min(best, elapsed)
        best_cpu = used if best_cpu is None else min(best_cpu, used)
    return (best, best_cpu, result) if cpu else (best, result)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("--packets", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    text, n_real = build_trace(args.packets)
    size_mb = len(text.encode()) / 1e6
    print("show trace built from %d real packets: %d packets, %d lines, %.1f MB" % (
        n_real, args.packets, text.count("\n"), size_mb))

    print("machine: %d CPUs, load average %.2f (other work inflates the wall-clock figures; CPU time less so)" % (
        os.cpu_count() or 0, os.getloadavg()[0]))
    elapsed, cpu, parsed = best_of(args.repeat, parse_vpp_trace, text, cpu=True)
    assert parsed["summary"]["packets"] == args.packets, parsed["summary"]
    rate = size_mb / elapsed
    per_10k = elapsed * 10000.0 / args.packets
    print("parse_vpp_trace: %.3f s, %.1f MB/s, %.0f packets/s, %.3f s per 10,000 packets (best of %d)" % (
        elapsed, rate, args.packets / elapsed, per_10k, args.repeat))
    print("  CPU time: %.3f s, %.1f MB/s" % (cpu, size_mb / cpu))
    print("  fates: %s" % ", ".join("%s=%d" % kv for kv in sorted(parsed["summary"]["by_fate"].items())))
    print("target: >= 10 MB/s [%s], 10,000 packets < 1 s [%s]" % (
        "met" if rate >= 10 else "NOT met", "met" if per_10k < 1 else "NOT met"))

    naive_s, naive = best_of(args.repeat, naive_parse, text)
    assert len(naive) == args.packets
    print("peer, naive line-by-line parser (paths and drop lines only): %.3f s, %.1f MB/s" % (naive_s, size_mb / naive_s))

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(text)
        path = handle.name
    try:
        def grep_count():
            out = subprocess.run(["grep", "-c", "^Packet ", path], capture_output=True, text=True, check=False)
            return int(out.stdout.strip() or 0)
        grep_s, count = best_of(args.repeat, grep_count)
        assert count == args.packets
        print("peer, grep -c '^Packet ' (counts, understands nothing): %.3f s, %.1f MB/s" % (grep_s, size_mb / grep_s))
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()

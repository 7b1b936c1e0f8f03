"""Benchmark: the vpp_trace module's collection step on a busy node's trace, against parsing alone.

Run on demand: ``.venv/bin/python bench/bench_vpp_module.py [--packets 10000] [--repeat 3]``.

A ``collected`` run reads ``show trace`` and then filters the packets, groups the drops, builds drop points
and observations and computes the error counter delta. This measures that whole step (module_utils
``TraceSession.collect``, with vppctl answered from memory so only our code is timed) on a trace made of the
real packets in ../shared/fixtures/vpp/ (see bench_vpp_parse.py), unfiltered and filtered to one
conversation. Target: a 10,000-packet trace collected in under 2 s (the parser's own target is 1 s).
Peer measured in the same run: parse_vpp_trace alone on the same text, the floor of any collection.
"""

from __future__ import print_function

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
sys.path.insert(0, HERE)

from bench_vpp_parse import build_trace  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.vppctl import (  # noqa: E402
    PacketFilter, StateStore, TraceSession, parse_networks)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import parse_vpp_trace  # noqa: E402

ERRORS = ("   Count                  Node                              Reason               Severity \n"
          "         1        acl-plugin-in-ip4-fa                 ACL deny packets            error  \n")
TARGET_SECONDS = 2.0


class MemoryCli(object):
    """vppctl answered from memory: what is timed is our code, not a process start."""

    socket_path = "/run/vpp/cli.sock"
    prefix = []

    def __init__(self, trace):
        self.trace = trace
        self.commands = []

    def preflight(self):
        return None

    def run(self, command):
        self.commands.append(command)
        return self.trace if command.startswith("show trace") else ERRORS


def best_of(repeat, func):
    times = []
    result = None
    for _round in range(repeat):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--packets", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    text, kinds = build_trace(args.packets)
    run_dir = tempfile.mkdtemp(prefix="tkt-bench-vpp-")
    session = TraceSession(MemoryCli(text), StateStore(run_dir, MemoryCli.socket_path, []))
    one_conversation = PacketFilter(parse_networks(["10.10.2.2"]), "tcp", 22)

    parse_s, parsed = best_of(args.repeat, lambda: parse_vpp_trace(text))
    all_s, everything = best_of(args.repeat, lambda: session.collect(args.packets, PacketFilter(), "node1", "pod"))
    one_s, filtered = best_of(args.repeat, lambda: session.collect(args.packets, one_conversation, "node1", "pod"))
    os.rmdir(run_dir)

    mb = len(text) / 1e6
    print("trace: %d packets (%d real packet kinds), %.1f MB; best of %d; load %s"
          % (len(parsed["packets"]), kinds, mb, args.repeat, " ".join("%.2f" % x for x in os.getloadavg())))
    print("peer  parse_vpp_trace alone        : %6.3f s  %6.1f MB/s" % (parse_s, mb / parse_s))
    print("ours  collected, no filter         : %6.3f s  %6.1f MB/s  (%d observations, %d drop points)"
          % (all_s, mb / all_s, len(everything["observations"]), len(everything["drop_points"])))
    print("ours  collected, one conversation  : %6.3f s  %6.1f MB/s  (%d of %d packets kept)"
          % (one_s, mb / one_s, filtered["trace"]["matched"], filtered["trace"]["total"]))
    for label, seconds in (("one conversation", one_s), ("no filter", all_s)):
        print("target: collect a %d-packet trace (%s) in under %.1f s: %s"
              % (args.packets, label, TARGET_SECONDS, "met" if seconds < TARGET_SECONDS else "MISSED"))
    print("our layer over parsing: %.3f s filtered, %.3f s unfiltered (observations: one per graph node crossed)"
          % (one_s - parse_s, all_s - parse_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())

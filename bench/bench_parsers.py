"""Benchmark: every text parser on 1x, 10x and 100x real input, and on the worst adversarial 64 KB line.

Run on demand: ``.venv/bin/python bench/bench_parsers.py [--repeat 3]``.

Real input is the parser's real outputs from ../shared/fixtures joined (1x), and that text repeated 10 and
100 times. Targets (issue 9): time linear in the input (the 100x time within 100 times the 1x time, with
slack for fixed costs: ``linear`` is the per-MB time of 100x over that of 10x, target <= 1.5), and under 50
ms for the worst 64 KB line built from a grammar fragment and a long run of one token (the lines the fuzz
tests build; an error is a fine answer, a slow one is not). Peers measured in the same run, on the same 100x
text: ``grep -c .`` (a C scan that understands nothing) and a naive line-by-line parser (one regex per line
kind tried on every line, as bench_vpp_parse.py's peer).
"""

from __future__ import print_function

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
sys.path.insert(0, os.path.join(REPO, "tests", "support"))

from parser_corpus import FRAGMENTS, load_corpus  # noqa: E402
from parser_fuzz import RUN_TOKENS  # noqa: E402

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace_parse import parse as parse_nettrace  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import parse_ovn_trace  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.show_parsers import (  # noqa: E402
    MAX_SHOW_LINE,
    parse_vpp_errors,
    parse_vpp_interfaces,
    parse_vpp_runtime,
)
from ansible_collections.netdiag.tracekit.plugins.module_utils.vpp.trace_parser import parse_vpp_trace  # noqa: E402

SHARED = os.environ.get("TRACEKIT_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
LINE_TARGET = 0.050
LINE_SIZE = 64 * 1024
LINEAR_TARGET = 1.5

PARSERS = (
    ("ovn", "parse_ovn_trace", parse_ovn_trace),
    ("vpp_trace", "parse_vpp_trace", parse_vpp_trace),
    ("vpp_errors", "parse_vpp_errors", parse_vpp_errors),
    ("vpp_runtime", "parse_vpp_runtime", parse_vpp_runtime),
    ("vpp_interfaces", "parse_vpp_interfaces", parse_vpp_interfaces),
    ("nettrace", "parse_nettrace(lenient)", lambda text: parse_nettrace(text, lenient=True)),
)
NAIVE_KINDS = [re.compile(p) for p in (r"^\s*(\d+)\.\s+(\S+)", r"^\s*(\S+):\s+(\S+)\s*$", r"^\s*(\d+)\s+(\S+)\s+(.*)$",
                                       r"^\s*(\w+)\((.*)\)", r"^\s*Thread\s+(\d+)", r"^\S+\s+->\s+\S+")]


def cpu(func, arg, repeat):
    """Best CPU time of ``repeat`` runs of func(arg); an error of ours counts as an answer."""
    best = None
    for _round in range(repeat):
        start = time.process_time()
        try:
            func(arg)
        except TracekitError:
            pass
        elapsed = time.process_time() - start
        best = elapsed if best is None else min(best, elapsed)
    return best


def naive(text):
    found = 0
    for line in text.splitlines():
        for rx in NAIVE_KINDS:
            if rx.match(line):
                found += 1
                break
    return found


def grep_count(text):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(text)
        path = handle.name
    try:
        start = time.perf_counter()
        subprocess.run(["grep", "-c", ".", path], stdout=subprocess.DEVNULL, check=False)
        return time.perf_counter() - start
    finally:
        os.unlink(path)


def adversarial_lines(name, size=LINE_SIZE):
    """(description, line) pairs of ``size`` characters: each fragment of the grammar followed by each token
    repeated."""
    for fragment in FRAGMENTS[name]:
        for token in RUN_TOKENS:
            body = fragment + token * ((size - len(fragment)) // len(token))
            yield "%r + %r * n" % (fragment[:30], token), body[:size]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    corpus = load_corpus(SHARED)
    if not corpus["ovn"] or not corpus["vpp_trace"]:
        sys.exit("no real outputs under %s/fixtures: set TRACEKIT_SHARED" % SHARED)
    load = os.getloadavg()
    print("load average %.2f %.2f %.2f on %d CPUs; CPU times, best of %d" % (load + (os.cpu_count(), args.repeat)))
    print("targets: linear (per-MB time of 100x over 10x <= %.1f), worst 64 KB line < %d ms" % (LINEAR_TARGET, LINE_TARGET * 1000))
    missed = []
    # ovn-trace outputs joined form one trace of the first one's format: take the detailed ones (the largest
    # format; an --all output would hide the rest behind its first part)
    corpus["ovn"] = [t for t in corpus["ovn"] if re.search(r"\n-{3,}\n", t) and "# Detailed trace." not in t]
    for name, label, func in PARSERS:
        text = "\n".join(corpus[name]) + "\n"
        times = {}
        for factor in (1, 10, 100):
            times[factor] = cpu(func, text * factor, args.repeat)
        size = len(text) / 1e6
        per_mb = dict((k, v / (size * k)) for k, v in times.items())
        linear = per_mb[100] / per_mb[10] if per_mb[10] else float("inf")
        big = text * 100
        naive_time = cpu(naive, big, 1)
        grep_time = grep_count(big)
        worst = max(((cpu(func, line, 1), what) for what, line in adversarial_lines(name)), key=lambda item: item[0])
        ok_linear = linear <= LINEAR_TARGET
        ok_line = worst[0] < LINE_TARGET
        if not (ok_linear and ok_line):
            missed.append(label)
        print("%s (1x = %.3f MB of real output)" % (label, size))
        print("  1x %8.2f ms   10x %8.2f ms   100x %8.1f ms   %.1f MB/s at 100x   linear %.2f -> %s"
              % (times[1] * 1e3, times[10] * 1e3, times[100] * 1e3, size * 100 / times[100] if times[100] else float("inf"),
                 linear, "OK" if ok_linear else "MISSED"))
        print("  worst 64 KB line %6.2f ms (%s) -> %s" % (worst[0] * 1e3, worst[1], "OK" if ok_line else "MISSED"))
        if name.startswith("vpp_") and name != "vpp_trace":
            # these tables refuse lines over MAX_SHOW_LINE at once: also the worst line they do parse
            inner = max(((cpu(func, line, 1), what) for what, line in adversarial_lines(name, MAX_SHOW_LINE)),
                        key=lambda item: item[0])
            print("  worst %d-character line (the longest these tables read) %6.2f ms (%s)"
                  % (MAX_SHOW_LINE, inner[0] * 1e3, inner[1]))
        print("  peers on 100x: naive line-by-line parser %8.1f ms, grep -c . %6.1f ms (wall)"
              % (naive_time * 1e3, grep_time * 1e3))
    print("all targets met" if not missed else "targets missed: %s" % ", ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

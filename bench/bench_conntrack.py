"""Benchmark: a full dump of a 100k-entry conntrack table, the module's netlink reader against its peers.

Fills the table of a namespace this script creates (``tkct-bench-PID``) with ENTRIES entries through
``conntrack -R`` (batches of ``-I`` commands; timeouts of an hour so nothing expires while measuring), then
measures, each in a fresh process (its own peak memory) and RUNS times (median):

  * ours: ``netlink.dump()`` of module_utils/conntrack, the flow dicts conntrack_export returns
    (targets: at least 1.5x the parsed peer in entries/s, peak memory under 300 MB);
  * the parsed peer: ``conntrack -L -o extended`` read by a plain Python parser (split lines into key=value
    dicts, the least a consumer of the text must do), and by this collection's own text parser
    (parse_conntrack, which builds the same flow dicts as ours);
  * bare ``conntrack -L > /dev/null`` (the C tool with no parsing at all: the floor).

Every step is bounded in time; the namespace (and its table) is removed at the end, also on failure.
Run as root: ``.venv/bin/python bench/bench_conntrack.py [--entries N]``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
RUNS = 3
BATCH = 20000

OURS = r"""
import json, resource, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack import netlink
started = time.perf_counter()
flows, _ = netlink.dump(%(path)r, timeout=120)
elapsed = time.perf_counter() - started
print(json.dumps({"entries": len(flows), "seconds": elapsed,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""

PLAIN_PEER = r"""
import json, resource, subprocess, time
started = time.perf_counter()
out = subprocess.run(["ip", "netns", "exec", %(ns)r, "conntrack", "-L", "-o", "extended"], capture_output=True,
                     text=True, check=True, timeout=120).stdout
entries = []
for line in out.splitlines():
    fields = line.split()
    entry = {"l3": fields[0], "proto": fields[2], "timeout": int(fields[4])}
    for token in fields[5:]:
        key, sep, value = token.partition("=")
        if sep:
            entry.setdefault(key, []).append(value)   # src/dst/sport/dport appear once per tuple
        elif token.startswith("["):
            entry.setdefault("flags", []).append(token)
        else:
            entry["state"] = token
    entries.append(entry)
elapsed = time.perf_counter() - started
print(json.dumps({"entries": len(entries), "seconds": elapsed,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""

OWN_TEXT_PEER = r"""
import json, resource, subprocess, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack
started = time.perf_counter()
out = subprocess.run(["ip", "netns", "exec", %(ns)r, "conntrack", "-L", "-o", "extended"], capture_output=True,
                     text=True, check=True, timeout=120).stdout
flows = parse_conntrack(out)
elapsed = time.perf_counter() - started
print(json.dumps({"entries": len(flows), "seconds": elapsed,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))
"""


def sh(cmd, timeout=300):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise SystemExit("failed: %s\n%s" % (" ".join(cmd), proc.stderr[-2000:]))
    return proc.stdout


def fill(ns, entries):
    """ENTRIES distinct TCP (ESTABLISHED, ASSURED) and UDP entries in batches through conntrack -R."""
    done = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tkct-bench-") as work:
        while done < entries:
            path = os.path.join(work, "batch")
            with open(path, "w") as handle:
                for i in range(done, min(done + BATCH, entries)):
                    src = "10.%d.%d.%d" % (100 + (i >> 16), (i >> 8) & 255, i & 255)
                    if i % 4:
                        handle.write("-I -s %s -d 10.250.0.1 -p tcp --sport %d --dport 443 --state ESTABLISHED "
                                     "-t 3600 -u ASSURED\n" % (src, 1024 + i % 60000))
                    else:
                        handle.write("-I -s %s -d 10.250.0.2 -p udp --sport %d --dport 53 -t 3600\n"
                                     % (src, 1024 + i % 60000))
            sh(["ip", "netns", "exec", ns, "conntrack", "-R", path], timeout=300)
            done = min(done + BATCH, entries)
            if time.monotonic() - started > 600:
                raise SystemExit("filling the table took more than 10 minutes; stopped at %d entries" % done)
    count = int(sh(["ip", "netns", "exec", ns, "conntrack", "-C"]).strip())
    return count, time.monotonic() - started


def measure(script):
    out = sh([sys.executable, "-c", script], timeout=300)
    return json.loads(out.strip().splitlines()[-1])


def bare(ns):
    started = time.perf_counter()
    with open(os.devnull, "w") as null:
        subprocess.run(["ip", "netns", "exec", ns, "conntrack", "-L"], stdout=null, stderr=subprocess.DEVNULL,
                       timeout=300, check=True)
    return time.perf_counter() - started


def median_of(samples, key):
    return statistics.median(s[key] for s in samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (namespaces, conntrack)")
    ns = "tkct-bench-%d" % os.getpid()
    sh(["ip", "netns", "add", ns])
    try:
        count, fill_s = fill(ns, args.entries)
        print("table: %d entries in namespace %s (filled in %.1f s)" % (count, ns, fill_s))
        params = {"collections": COLLECTIONS, "path": "/var/run/netns/%s" % ns, "ns": ns}
        ours = [measure(OURS % params) for _run in range(RUNS)]
        plain = [measure(PLAIN_PEER % params) for _run in range(RUNS)]
        own_text = [measure(OWN_TEXT_PEER % params) for _run in range(RUNS)]
        bare_s = [bare(ns) for _run in range(RUNS)]
        for name, samples in (("ours", ours), ("plain peer", plain), ("own text parser", own_text)):
            if any(s["entries"] != count for s in samples):
                raise SystemExit("%s read %s entries, the table has %d" % (name, [s["entries"] for s in samples], count))

        ours_rate = count / median_of(ours, "seconds")
        plain_rate = count / median_of(plain, "seconds")
        text_rate = count / median_of(own_text, "seconds")
        bare_rate = count / statistics.median(bare_s)
        peak = max(s["peak_mb"] for s in ours)
        print("\nFull dump of %d entries (median of %d runs, each in a fresh process):" % (count, RUNS))
        print("  ours (netlink + lean decoder -> flow dicts):   %9.0f entries/s  %6.2f s  peak %.0f MB"
              % (ours_rate, median_of(ours, "seconds"), peak))
        print("  peer: conntrack -L -o extended + plain parser: %9.0f entries/s  %6.2f s  peak %.0f MB"
              % (plain_rate, median_of(plain, "seconds"), max(s["peak_mb"] for s in plain)))
        print("  peer: conntrack -L -o extended + parse_conntrack: %6.0f entries/s  %6.2f s  peak %.0f MB"
              % (text_rate, median_of(own_text, "seconds"), max(s["peak_mb"] for s in own_text)))
        print("  floor: bare conntrack -L > /dev/null:          %9.0f entries/s  %6.2f s"
              % (bare_rate, statistics.median(bare_s)))
        ratio = ours_rate / plain_rate
        print("\nTargets:")
        print("  speed  >= 1.5x the parsed peer: %.2fx the plain parser (%s), %.2fx parse_conntrack"
              % (ratio, "met" if ratio >= 1.5 else "MISSED", ours_rate / text_rate))
        print("  memory <  300 MB peak: %.0f MB (%s)" % (peak, "met" if peak < 300 else "MISSED"))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False, timeout=120)


if __name__ == "__main__":
    main()

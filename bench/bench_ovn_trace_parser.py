"""Benchmark of the ovn-trace parser, run on demand: .venv/bin/python bench/bench_ovn_trace_parser.py

Prints, in one run:
1. for the scenarios of ../shared/fixtures/ovn/ovn-23.03-local/commands.txt, the time ovn-trace itself
   takes against a real user-space OVN (ovsdb-server NB and SB, ovn-northd, topology.sh) and the time
   parse_ovn_trace takes on that output (target: parsing under 5% of ovn-trace's time);
2. the parse throughput on large traces, detailed, summary and minimal (target: 10 MB/s or more).
Part 1 needs ovn-central (ovsdb-server, ovn-northd, ovn-trace) and ../shared; it is skipped, saying why,
when either is missing. Every process it starts is stopped by its pid file; every wait is bounded.
"""

import os
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))
SHARED = os.environ.get("TRACEKIT_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
FIXTURES = os.path.join(SHARED, "fixtures", "ovn", "ovn-23.03-local")

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import parse_ovn_trace  # noqa: E402

TARGET_RATIO = 5.0
TARGET_MBS = 10.0
ENV = dict(os.environ, LC_ALL="C")


def _run(argv, timeout=30, env=None, cwd=None):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env=env or ENV, cwd=cwd)


class UserSpaceOvn:
    """NB + SB ovsdb-servers and ovn-northd in a private folder, with the fixtures' topology."""

    def __init__(self):
        self.run = tempfile.mkdtemp(prefix="tkt-ovnbench-")
        self.nb = "unix:%s/ovnnb_db.sock" % self.run
        self.sb = "unix:%s/ovnsb_db.sock" % self.run

    def start(self):
        for name in ("nb", "sb"):
            db = os.path.join(self.run, "ovn%s_db.db" % name)
            _run(["ovsdb-tool", "create", db, "/usr/share/ovn/ovn-%s.ovsschema" % name]).check_returncode()
            _run(["ovsdb-server", "--detach", "--no-chdir", "--no-self-confinement",
                  "--pidfile=%s/ovsdb-%s.pid" % (self.run, name),
                  "--log-file=%s/ovsdb-%s.log" % (self.run, name),
                  "--remote=punix:%s/ovn%s_db.sock" % (self.run, name),
                  "--unixctl=%s/ovsdb-%s.ctl" % (self.run, name), db]).check_returncode()
        _run(["ovn-northd", "--detach", "--no-chdir", "--pidfile=%s/northd.pid" % self.run,
              "--log-file=%s/northd.log" % self.run, "--unixctl=%s/northd.ctl" % self.run,
              "--ovnnb-db=" + self.nb, "--ovnsb-db=" + self.sb]).check_returncode()
        _run(["ovn-nbctl", "--db=" + self.nb, "init"]).check_returncode()
        topo = _run(["bash", os.path.join(FIXTURES, "topology.sh")], timeout=120, cwd=self.run,
                    env=dict(ENV, R=self.run))
        if topo.returncode:
            raise RuntimeError("topology.sh failed: %s" % topo.stderr[-2000:])
        _run(["ovn-nbctl", "--db=" + self.nb, "--wait=sb", "--timeout=30", "sync"], timeout=40).check_returncode()

    def stop(self):
        for pid_file in ("northd.pid", "ovsdb-sb.pid", "ovsdb-nb.pid"):
            path = os.path.join(self.run, pid_file)
            try:
                with open(path) as handle:
                    os.kill(int(handle.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(0.2)
        shutil.rmtree(self.run, ignore_errors=True)


def _commands():
    """(file name, argv) of each plain ovn-trace command in commands.txt (no --ovs, no daemon)."""
    out = []
    name = None
    with open(os.path.join(FIXTURES, "commands.txt")) as handle:
        for line in handle:
            line = line.rstrip("\n")
            if line.startswith("## "):
                name = line[3:].strip()
            elif line.startswith("ovn-trace ") and name and "--ovs" not in line and "--detach" not in line:
                out.append((name, shlex.split(line)))
                name = None
    return out


def _best(fn, repeat, clock=time.process_time):
    """min and median of `repeat` runs on `clock` (CPU time of this process by default: the
    machine may be shared, and CPU time is what the parser costs)."""
    times = []
    result = None
    for dummy in range(repeat):
        start = clock()
        result = fn()
        times.append(clock() - start)
    return min(times), statistics.median(times), result


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_against_ovn_trace():
    missing = [p for p in ("ovsdb-server", "ovsdb-tool", "ovn-northd", "ovn-trace", "ovn-nbctl") if not shutil.which(p)]
    if missing:
        print("part 1 skipped: %s not installed (apt-get install ovn-central)" % ", ".join(missing))
        return True
    if not os.path.isdir(FIXTURES):
        print("part 1 skipped: %s is absent" % FIXTURES)
        return True
    ovn = UserSpaceOvn()
    try:
        ovn.start()
        rows = []
        for name, argv in _commands():
            argv = [a.replace("$SB", ovn.sb) for a in argv]
            trace_med, proc = _best(lambda: _run(argv), 3, clock=_children_cpu)[1:]
            trace_wall = _best(lambda: _run(argv), 1, clock=time.perf_counter)[0]
            text = proc.stdout
            parse_med, parsed = _best(lambda: parse_ovn_trace(text), 20)[1:]
            with open(os.path.join(FIXTURES, name)) as handle:
                recorded = parse_ovn_trace(handle.read())["verdict"]
            rows.append((name, trace_med, parse_med, len(text), parsed["verdict"], recorded, trace_wall))
    finally:
        ovn.stop()
    total_trace = sum(r[1] for r in rows)
    total_parse = sum(r[2] for r in rows)
    worst = max(rows, key=lambda r: r[2] / r[1])
    same = sum(1 for r in rows if r[4] == r[5])
    print("part 1: %d ovn-trace runs against a live user-space OVN (topology.sh)" % len(rows))
    print("  ovn-trace (peer)   CPU total %8.1f ms   median per trace %6.2f ms (wall median %6.2f ms)"
          % (total_trace * 1e3, statistics.median(r[1] for r in rows) * 1e3,
             statistics.median(r[6] for r in rows) * 1e3))
    print("  parse_ovn_trace    CPU total %8.1f ms   median per trace %6.3f ms"
          % (total_parse * 1e3, statistics.median(r[2] for r in rows) * 1e3))
    ratio = 100.0 * total_parse / total_trace
    print("  parse / ovn-trace  %.2f%% overall, worst %.2f%% (%s); target < %.0f%% -> %s"
          % (ratio, 100.0 * worst[2] / worst[1], worst[0], TARGET_RATIO, "OK" if ratio < TARGET_RATIO else "MISSED"))
    print("  live verdict equals the recorded fixture's verdict for %d of %d traces" % (same, len(rows)))
    return ratio < TARGET_RATIO


def _large(fmt, size):
    """A large trace of the given format: real fixture bodies repeated up to `size` bytes."""
    names = sorted(n for n in os.listdir(FIXTURES) if n.endswith(".%s.txt" % fmt)) if os.path.isdir(FIXTURES) else []
    bodies = []
    for name in names:
        with open(os.path.join(FIXTURES, name)) as handle:
            text = handle.read()
        bodies.append(re.sub(r"\A#[^\n]*\n", "", text))
    if not bodies:
        return None
    chunk = "\n".join(bodies)
    return "# tcp,reg14=0x1\n" + chunk * max(1, size // len(chunk))


def bench_throughput(size=20 * 1024 * 1024):
    ok = True
    print("part 2: parse throughput on large traces (target >= %.0f MB/s)" % TARGET_MBS)
    for fmt in ("detailed", "summary", "minimal"):
        text = _large(fmt, size)
        if text is None:
            print("  %s: skipped, fixtures absent" % fmt)
            continue
        best, parsed = _best(lambda: parse_ovn_trace(text), 3)[::2]
        wall = _best(lambda: parse_ovn_trace(text), 1, clock=time.perf_counter)[0]
        mbs = len(text) / best / 1e6
        ok = ok and mbs >= TARGET_MBS
        print("  %-8s %6.1f MB in %6.3f s CPU = %6.1f MB/s (wall %6.1f MB/s; %d hops) -> %s"
              % (fmt, len(text) / 1e6, best, mbs, len(text) / wall / 1e6, len(parsed["hops"]),
                 "OK" if mbs >= TARGET_MBS else "MISSED"))
    return ok


def main():
    print("load average %.2f %.2f %.2f on %d CPUs; times are CPU times unless marked wall"
          % (os.getloadavg() + (os.cpu_count(),)))
    ok = bench_against_ovn_trace()
    ok = bench_throughput() and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

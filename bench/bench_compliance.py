"""Benchmark: a compliance trace of 25 flows on the lab, end to end, beside 25 single diagnose_drop.yml runs.

Builds its own lab (prefix tkbcmp), then measures (each bounded):
  - compliance_trace.yml with 25 flows, from start to reports written (target: under 20 s), twice;
  - the peer: diagnose_drop.yml for one flow, measured 3 times; 25 sequential runs are its median x 25
    (a measured single run times 25, not 25 runs: that would take minutes and tell nothing more);
  - how compliance_trace.yml grows: 50 and 100 flows, once each.
The flows mix every lab pod as source and destination with open, policy-dropped, rejected, closed and
unroutable ports, so drops (which wait the whole reply timeout) are part of every batch.
Run as root: .venv/bin/python bench/bench_compliance.py
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
BIN = os.path.dirname(sys.executable)
PREFIX = "tkbcmp"
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
PODS = ["n1-pod1", "n1-pod2", "n2-pod1", "n2-pod2", "n2-pod3"]
PORTS = [("tcp", 8080), ("tcp", 5432), ("tcp", 5433), ("udp", 5353), ("tcp", 9999)]


def flows(count):
    """``count`` flows, pairs first so that even 25 flows cover every source and destination."""
    out = []
    pairs = [(s, d) for s in PODS for d in PODS if s != d]
    for protocol, port in PORTS:
        for src, dst in pairs:
            out.append({"src": src, "dst": dst, "protocol": protocol, "dst_port": port, "expect": "delivered"})
    return out[:count]


def run(cmd, ok=(0,)):
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(cmd), proc.stdout[-3000:], proc.stderr[-2000:]))
    return elapsed


def compliance(inv, work, count, tag):
    report = os.path.join(work, "c%d-%s" % (count, tag))
    # Expectations are all "delivered", so the play fails (rc 2) after writing its reports: timed all the same.
    elapsed = run([os.path.join(BIN, "ansible-playbook"), "-i", inv, os.path.join(REPO, "playbooks/compliance_trace.yml"),
                   "-e", json.dumps({"flows": flows(count), "report_dir": report})], ok=(0, 2))
    with open(os.path.join(report, "compliance.json")) as handle:
        doc = json.load(handle)
    assert doc["totals"]["flows"] == count and doc["totals"]["errors"] == 0, doc["totals"]
    return elapsed, doc["totals"]["verdicts"]


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root (namespaces)")
    load_before = os.getloadavg()[0]
    work = tempfile.mkdtemp(prefix="tkbcmp-")
    inv = os.path.join(work, "inventory.yml")
    build = run([os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks/lab.yml"),
                 "-e", "lab_prefix=%s" % PREFIX, "-e", "lab_inventory_file=%s" % inv])
    try:
        c25 = [compliance(inv, work, 25, str(i)) for i in range(2)]
        single = []
        for i in range(3):
            report = os.path.join(work, "single-%d" % i)
            single.append(run([os.path.join(BIN, "ansible-playbook"), "-i", inv,
                               os.path.join(REPO, "playbooks/diagnose_drop.yml"), "-e", "src=n1-pod1",
                               "-e", "dst=n2-pod1", "-e", "dst_port=5432", "-e", "report_dir=%s" % report]))
        c50 = compliance(inv, work, 50, "0")
        c100 = compliance(inv, work, 100, "0")
    finally:
        run([os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks/lab.yml"),
             "-e", "lab_prefix=%s" % PREFIX, "-e", "lab_state=absent"])
    t25 = statistics.median([e for e, _v in c25])
    one = statistics.median(single)
    print("netdiag.tracekit benchmark: compliance_trace.yml on the namespace lab")
    print("  machine: %d cores, load average %.1f before, %.1f after (other work slows every figure alike)"
          % (os.cpu_count(), load_before, os.getloadavg()[0]))
    print("  lab build (playbooks/lab.yml):                  %.2f s" % build)
    print("  compliance_trace.yml, 25 flows, end to end:     median %.2f s (runs: %s) verdicts %s  [target < 20 s: %s]"
          % (t25, ", ".join("%.2f" % e for e, _v in c25), c25[0][1], "met" if max(e for e, _v in c25) < 20 else "MISSED"))
    print("  peer: diagnose_drop.yml, one flow:              median %.2f s (runs: %s)"
          % (one, ", ".join("%.2f" % e for e in single)))
    print("  peer: 25 sequential diagnose_drop.yml runs:     %.1f s (the measured single run x 25, not run)" % (one * 25))
    print("  speed-up at 25 flows:                           %.1fx" % (one * 25 / t25))
    print("  growth: 50 flows                                %.2f s  verdicts %s" % c50)
    print("  growth: 100 flows                               %.2f s  verdicts %s" % c100)
    print("  per extra flow (25 -> 100):                     %.3f s" % ((c100[0] - t25) / 75.0))


if __name__ == "__main__":
    main()

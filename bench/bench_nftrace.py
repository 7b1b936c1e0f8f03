"""Benchmark: what the nftables trace adds to one diagnose_drop.yml run, the run's total, and where time goes.

Builds its own lab (prefix tkbnft), then, alternating so load drifts hit both alike (bounded: RUNS each):
  - diagnose_drop.yml for the policy drop (n1-pod1 -> n2-pod1 tcp/5432) with trace_nft=true and, the peer
    measured in the same run, trace_nft=false: the difference is what tracing adds (target < 0.5 s);
  - the run's total with tracing (target < 15 s), and how far it is from 5 s;
  - per task (ansible's profile_tasks callback) for one traced run: where the time goes;
  - in-process: arming the trace tables in the 6 lab namespaces of node2 and node1 (socket, table, ruleset
    snapshot) and removing them, the part of the trace that is not Ansible's.
Run as root: .venv/bin/python bench/bench_nftrace.py
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, ".build", "collections")
sys.path.insert(0, COLLECTIONS)
BIN = os.path.dirname(sys.executable)
PREFIX = "tkbnft"
RUNS = 4
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))


def run(cmd, env=None):
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env or ENV, capture_output=True, text=True, check=False, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(cmd), proc.stdout[-2000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


def fmt(samples):
    return "median %.2f s (min %.2f, max %.2f, n=%d)" % (statistics.median(samples), min(samples), max(samples),
                                                         len(samples))


def diagnose(work, inv, tag, trace, env=None):
    report = os.path.join(work, "r-%s" % tag)
    elapsed, out = run([os.path.join(BIN, "ansible-playbook"), "-i", inv,
                        os.path.join(REPO, "playbooks/diagnose_drop.yml"), "-e", "src=n1-pod1", "-e", "dst=n2-pod1",
                        "-e", "dst_port=5432", "-e", "report_dir=%s" % report, "-e", "trace_nft=%s" % trace], env=env)
    with open(os.path.join(report, "diagnosis.json")) as handle:
        result = json.load(handle)
    return elapsed, out, result


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root (namespaces)")
    work = tempfile.mkdtemp(prefix="tkbnft-")
    inv = os.path.join(work, "inventory.yml")
    run([os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks/lab.yml"),
         "-e", "lab_prefix=%s" % PREFIX, "-e", "lab_inventory_file=%s" % inv])
    traced, plain = [], []
    try:
        for i in range(RUNS):
            elapsed, _out, result = diagnose(work, inv, "t%d" % i, "true")
            assert result["drop_point"].get("rule"), result["summary"]
            traced.append(elapsed)
            elapsed, _out, result = diagnose(work, inv, "p%d" % i, "false")
            plain.append(elapsed)
        env = dict(ENV, ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks,profile_tasks",
                   PROFILE_TASKS_SORT_ORDER="descending", PROFILE_TASKS_TASK_OUTPUT_LIMIT="12")
        _elapsed, out, _result = diagnose(work, inv, "profile", "true", env=env)
        tasks = re.findall(r"^(.+?) -+ ([0-9.]+)s$", out, re.M)
        from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.session import NftraceSession
        arm, remove = [], []
        spaces = ["%s-%s" % (PREFIX, n) for n in ("node1", "n1-pod1", "n1-pod2", "node2", "n2-pod1", "n2-pod2")]
        for _i in range(5):
            with NftraceSession(spaces, {"dscp": 46, "ip_id": 1, "flow_label": 1}) as session:
                session.prepare()
                arm.append(session.arm())
                started = time.perf_counter()
            remove.append(time.perf_counter() - started)
    finally:
        run([os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks/lab.yml"),
             "-e", "lab_prefix=%s" % PREFIX, "-e", "lab_state=absent"])
    extra = statistics.median(traced) - statistics.median(plain)
    total = statistics.median(traced)
    print("netdiag.tracekit benchmark: the nftables trace in diagnose_drop.yml (lab, policy drop tcp/5432)")
    print("  diagnose_drop.yml with trace_nft=true:   %s" % fmt(traced))
    print("  peer, same run, trace_nft=false:         %s" % fmt(plain))
    print("  extra time tracing adds (median diff):   %.2f s  [target < 0.5 s: %s]"
          % (extra, "met" if extra < 0.5 else "MISSED"))
    print("  total with tracing:                      median %.2f s, slowest %.2f s  [target < 15 s, every run: %s; "
          "median %.2f s from 5 s]" % (total, max(traced), "met" if max(traced) < 15 else "MISSED", total - 5))
    print("  in-process arm, 6 namespaces:            median %.3f s;  removal (close): median %.3f s"
          % (statistics.median(arm), statistics.median(remove)))
    print("  where one traced run's time goes (profile_tasks, slowest first):")
    for name, secs in tasks[:12]:
        print("    %6.2f s  %s" % (float(secs), name.strip()))
    print("  load average during the run: %s" % open("/proc/loadavg").read().split()[:3])


if __name__ == "__main__":
    main()

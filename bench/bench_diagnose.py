"""Benchmark: wall time of one diagnose_drop.yml run on the lab, and of one packet_inject call.

Builds its own lab (prefix tkbench), then measures, each several times (bounded):
  - diagnose_drop.yml from start to report (target: under 15 s), for an allowed and a dropped port;
  - packet_inject through ansible (what a playbook task costs) and in-process (the probe itself);
  - the peer: iputils ping from the same pod namespace to the same destination, the floor for one probe.
Run as root: .venv/bin/python bench/bench_diagnose.py
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
sys.path.insert(0, COLLECTIONS)
BIN = os.path.dirname(sys.executable)
PREFIX = "tkbench"
RUNS = 3
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))


def run(cmd, **kw):
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, check=False, **kw)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit("failed: %s\n%s%s" % (" ".join(cmd), proc.stdout[-2000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


def fmt(samples):
    return "median %.3f s (min %.3f, max %.3f, n=%d)" % (statistics.median(samples), min(samples), max(samples),
                                                         len(samples))


def main():
    if os.geteuid() != 0:
        raise SystemExit("run as root (namespaces)")
    work = tempfile.mkdtemp(prefix="tkbench-")
    inv = os.path.join(work, "inventory.yml")
    build, _out = run([
        os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks/lab.yml"),
        "-e", "lab_prefix=%s" % PREFIX, "-e", "lab_inventory_file=%s" % inv])
    try:
        results = {}
        for name, port in (("allowed tcp/8080", 8080), ("policy-dropped tcp/5432", 5432)):
            samples = []
            for i in range(RUNS):
                report = os.path.join(work, "r%d-%d" % (port, i))
                elapsed, _out = run([
                    os.path.join(BIN, "ansible-playbook"), "-i", inv, os.path.join(REPO, "playbooks/diagnose_drop.yml"),
                    "-e", "src=n1-pod1", "-e", "dst=n2-pod1", "-e", "dst_port=%d" % port, "-e", "report_dir=%s" % report])
                with open(os.path.join(report, "diagnosis.json")) as handle:
                    verdict = json.load(handle)["verdict"]
                samples.append(elapsed)
            results[name] = (samples, verdict)
        adhoc = []
        for _run in range(RUNS):
            elapsed, _out = run([
                os.path.join(BIN, "ansible"), "localhost", "-i", "localhost,", "-c", "local",
                "-e", "ansible_python_interpreter=%s" % sys.executable, "-m", "netdiag.tracekit.packet_inject",
                "-a", "netns=%s-n1-pod1 dst=10.244.2.11 dst_port=8080" % PREFIX])
            adhoc.append(elapsed)
        from ansible_collections.netdiag.tracekit.plugins.module_utils.probe import probe  # noqa: E402
        inproc = []
        for _run in range(20):
            spec = probe.validate({"dst": "10.244.2.11", "dst_port": 8080})
            started = time.perf_counter()
            res = probe.inject(spec, "/var/run/netns/%s-n1-pod1" % PREFIX)
            inproc.append(time.perf_counter() - started)
            assert res["outcome"] == "reply"
        ping = []
        for _run in range(20):
            elapsed, _out = run(["ip", "netns", "exec", "%s-n1-pod1" % PREFIX, "ping", "-c1", "-W1", "-q", "10.244.2.11"])
            ping.append(elapsed)
    finally:
        run([os.path.join(BIN, "ansible-playbook"), os.path.join(REPO, "playbooks/lab.yml"),
             "-e", "lab_prefix=%s" % PREFIX, "-e", "lab_state=absent"])
    print("netdiag.tracekit benchmark: diagnose_drop.yml and packet_inject on the namespace lab")
    print("  lab build (playbooks/lab.yml, cold):          %.3f s" % build)
    for name, (samples, verdict) in results.items():
        worst = max(samples)
        print("  diagnose_drop.yml, %-24s %s -> %s  [target < 15 s: %s]"
              % (name + ":", fmt(samples), verdict, "met" if worst < 15 else "MISSED"))
    print("  packet_inject via ansible ad-hoc:           %s" % fmt(adhoc))
    print("  packet_inject in-process (probe + reply):   median %.2f ms (n=%d)"
          % (statistics.median(inproc) * 1000, len(inproc)))
    print("  peer: ip netns exec ... ping -c1:           median %.2f ms (n=%d)"
          % (statistics.median(ping) * 1000, len(ping)))


if __name__ == "__main__":
    main()

"""Benchmark: parsing ovn-trace output against running ovn-trace itself, on a real user-space OVN.

Run: .venv/bin/python bench/bench_ovn_trace.py [--repeat N]

1. For every scenario of the test topology (ACL drop and reject, L2, routed, LB VIP, SNAT, DNAT, IPv6, port
   security drop) in the three formats, ovn-trace's own run time (the peer: median wall time of the real
   command) and the parser's time for the same output (median). Target: parsing < 5% of ovn-trace's time.
2. Throughput on a large real trace: an ARP broadcast on a switch with many ports (one egress pipeline per
   port, as ovn-trace prints it), and the scenario outputs concatenated into a multi-megabyte text. Target:
   >= 10 MB/s. The peer figure is the rate at which ovn-trace itself produced the large trace.
Bounded: a fixed number of runs each, a few tens of seconds in all. Packets never leave ovn-trace's simulation.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from ovn_sandbox import OvnSandbox, have_ovn  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.microflow import build_microflow  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser import parse_ovn_trace  # noqa: E402

R0 = "00:00:00:00:ff:01"
SCENARIOS = {
    # name: (ct states, lb_dst, microflow fields)
    "acl_drop_routed": ([], None, dict(inport="sw0-p2", eth_src="50:54:00:00:00:02", eth_dst=R0, ip_src="10.0.0.12",
                                       ip_dst="10.0.1.11", protocol="tcp", dst_port=5432)),
    "acl_drop_ct_new": (["new"] * 4, None, dict(inport="sw0-p2", eth_src="50:54:00:00:00:02", eth_dst=R0,
                                                ip_src="10.0.0.12", ip_dst="10.0.1.11", protocol="tcp", dst_port=5432)),
    "acl_reject": ([], None, dict(inport="sw0-p2", eth_src="50:54:00:00:00:02", eth_dst="50:54:00:00:00:01",
                                  ip_src="10.0.0.12", ip_dst="10.0.0.11", protocol="tcp", dst_port=23)),
    "l2_delivered": ([], None, dict(inport="sw0-p2", eth_src="50:54:00:00:00:02", eth_dst="50:54:00:00:00:01",
                                    ip_src="10.0.0.12", ip_dst="10.0.0.11", protocol="tcp", dst_port=80)),
    "routed": ([], None, dict(inport="sw0-p1", eth_src="50:54:00:00:00:01", eth_dst=R0, ip_src="10.0.0.11",
                              ip_dst="10.0.1.12", protocol="tcp", dst_port=80)),
    "lb_vip": (["new", "new"], "10.0.1.12:8080", dict(inport="sw0-p2", eth_src="50:54:00:00:00:02", eth_dst=R0,
                                                      ip_src="10.0.0.12", ip_dst="10.0.0.100", protocol="tcp",
                                                      dst_port=80)),
    "snat": ([], None, dict(inport="sw0-p1", eth_src="50:54:00:00:00:01", eth_dst=R0, ip_src="10.0.0.11",
                            ip_dst="172.16.0.50", protocol="tcp", dst_port=443)),
    "dnat": ([], None, dict(inport="public-ln", eth_src="52:54:00:aa:bb:cc", eth_dst="00:00:00:00:ff:ee",
                            ip_src="172.16.0.50", ip_dst="172.16.0.110", protocol="tcp", dst_port=80)),
    "ipv6_routed": ([], None, dict(inport="sw0-p1", eth_src="50:54:00:00:00:01", eth_dst=R0, ip_src="fd00::11",
                                   ip_dst="fd00:1::12", protocol="icmp6")),
    "portsec_drop": ([], None, dict(inport="sw0-p1", eth_src="50:54:00:00:00:99", eth_dst="50:54:00:00:00:02",
                                    ip_src="10.0.0.11", ip_dst="10.0.0.12", protocol="tcp", dst_port=80)),
}


def ovn_trace_argv(sb, fmt, ct, lb_dst, expression):
    argv = ["ovn-trace", "--db=" + sb, "--" + fmt] + ["--ct=" + c for c in ct]
    if lb_dst:
        argv.append("--lb-dst=" + lb_dst)
    return argv + ["--", expression]


def timed_run(argv):
    env = dict(os.environ, LC_ALL="C")
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=True)
    return time.perf_counter() - start, proc.stdout


def timed_parse(text, repeat):
    times = []
    for _attempt in range(repeat):
        start = time.perf_counter()
        parse_ovn_trace(text)
        times.append(time.perf_counter() - start)
    return times


def add_flood_switch(sandbox, ports):
    """Switch 'big' with many ports: an ARP broadcast has one egress pipeline per port."""
    cmds = ["ls-add", "big"]
    for i in range(ports):
        name = "big-p%d" % i
        mac = "52:54:01:%02x:%02x:%02x" % (i >> 16 & 0xff, i >> 8 & 0xff, i & 0xff)
        cmds += ["--", "lsp-add", "big", name, "--", "lsp-set-addresses", name, "%s 10.9.%d.%d" % (mac, i // 250, i % 250 + 1)]
    sandbox.nbctl(*cmds)
    sandbox.wait_sb()
    return ('inport == "big-p0" && eth.src == 52:54:01:00:00:00 && eth.dst == ff:ff:ff:ff:ff:ff && arp.op == 1 && '
            'arp.sha == 52:54:01:00:00:00 && arp.spa == 10.9.0.1 && arp.tpa == 10.9.255.254')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=7, help="ovn-trace runs per trace (median), default 7")
    parser.add_argument("--flood-ports", type=int, default=1000, help="ports on the broadcast switch, default 1000")
    args = parser.parse_args()
    args.repeat = max(1, min(args.repeat, 50))
    args.flood_ports = max(10, min(args.flood_ports, 5000))
    if not have_ovn():
        sys.exit("OVN is not installed (apt-get install ovn-central): cannot benchmark against real ovn-trace")
    run_dir = "/tmp/tkt-ovnb-%d" % os.getpid()
    shutil.rmtree(run_dir, ignore_errors=True)
    sandbox = OvnSandbox(run_dir)
    try:
        sandbox.start()
        sandbox.build_topology()
        run(sandbox, args)
    finally:
        sandbox.stop()
        shutil.rmtree(run_dir, ignore_errors=True)


def run(sandbox, args):
    import ansible_collections.netdiag.tracekit.plugins.module_utils.ovn.trace_parser as parser_mod
    sys.stdout.write("ovn-trace parse benchmark (ovn-trace %s, parser %s)\n\n" % (
        subprocess.run(["ovn-trace", "--version"], capture_output=True, text=True, check=False).stdout.split("\n")[0],
        os.path.relpath(parser_mod.__file__, os.path.join(ROOT, ".build", "collections"))))
    header = ("scenario", "format", "bytes", "ovn-trace ms", "parse ms", "ratio", "verdict")
    sys.stdout.write("%-18s %-9s %8s %12s %11s %7s  %s\n" % header)
    total_trace = total_parse = 0.0
    outputs = []
    for name, (ct, lb_dst, fields) in sorted(SCENARIOS.items()):
        expression = build_microflow(**fields)
        for fmt in ("detailed", "summary", "minimal"):
            argv = ovn_trace_argv(sandbox.sb, fmt, ct, lb_dst, expression)
            runs = [timed_run(argv) for _attempt in range(args.repeat)]
            trace_s = statistics.median(r[0] for r in runs)
            text = runs[0][1]
            parse_s = statistics.median(timed_parse(text, max(20, args.repeat)))
            total_trace += trace_s
            total_parse += parse_s
            outputs.append((fmt, text))
            sys.stdout.write("%-18s %-9s %8d %12.2f %11.3f %6.2f%%  %s\n" % (
                name, fmt, len(text), trace_s * 1e3, parse_s * 1e3, 100.0 * parse_s / trace_s,
                parse_ovn_trace(text)["verdict"]))
    ratio = 100.0 * total_parse / total_trace
    figures = (len(outputs), total_trace * 1e3, total_parse * 1e3, ratio, "OK" if ratio < 5 else "MISSED")
    sys.stdout.write("\nall %d traces: ovn-trace (peer) %.1f ms, parse %.2f ms -> parse is %.2f%% of ovn-trace's run "
                     "time (target < 5%%): %s\n" % figures)

    flood = add_flood_switch(sandbox, args.flood_ports)
    gen_s, big = timed_run(["ovn-trace", "--db=" + sandbox.sb, "--detailed", "--", flood])
    parsed = parse_ovn_trace(big)
    best = min(timed_parse(big, 3))
    mbs = len(big) / best / 1e6
    sys.stdout.write("\nlarge trace: ARP broadcast to %d ports, %.2f MB, %d hops, %d outputs, verdict %s\n" % (
        args.flood_ports, len(big) / 1e6, len(parsed["hops"]), len(parsed["outputs"]), parsed["verdict"]))
    sys.stdout.write("  parse %.1f ms = %.1f MB/s (target >= 10 MB/s): %s; ovn-trace (peer) produced it at %.1f MB/s "
                     "(%.1f ms)\n" % (best * 1e3, mbs, "OK" if mbs >= 10 else "MISSED", len(big) / gen_s / 1e6,
                                      gen_s * 1e3))
    detailed = [text for fmt, text in outputs if fmt == "detailed"]
    mixed = "\n".join(detailed)
    mixed = "\n".join([mixed] * max(1, int(4e6 // max(1, len(mixed)))))
    best = min(timed_parse(mixed, 3))
    mbs2 = len(mixed) / best / 1e6
    sys.stdout.write("  %d real scenario traces concatenated, %.2f MB: parse %.1f ms = %.1f MB/s (target >= 10 MB/s): "
                     "%s\n" % (len(detailed), len(mixed) / 1e6, best * 1e3, mbs2, "OK" if mbs2 >= 10 else "MISSED"))


if __name__ == "__main__":
    main()

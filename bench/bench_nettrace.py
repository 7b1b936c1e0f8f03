"""Benchmark: nettrace under a flood of drops, against bpftrace printing one line per event (retina's way).

Inside two namespaces this script creates (sender ``tkt-bn-PID-s``, receiver ``tkt-bn-PID-r``), a C sender
floods UDP port 9 at fixed rates. ``--path output`` (default) drops in the sender's nftables output chain
(the cheapest drop path, so the tracer, not the sender, is what is measured); ``--path veth`` drops in the
receiver's input chain after the veth (the realistic path, but a single sender tops out near 115k packets/s
on a 2-core machine even untraced). Every packet is one ``kfree_skb`` with reason NETFILTER_DROP. Every run
is bounded by a packet count AND a time limit.

Printed figures:
  * attach time of the nettrace session (target < 3 s) and the process's peak memory;
  * the senders' ceiling without any tracer (on a loaded 2-core machine it is the limit, not the tracer);
  * per offered rate: events received by the tracer, kernel-side lost counter, so the highest rate delivered
    with no loss ("counted", target >= 200k/s), and the drain capacity of the user-space reader (events per
    CPU second spent reading the ring buffer);
  * full event records per second (records decoded into the module's event dicts, target >= 50k/s);
  * bpftrace with one printf per event under the same load (lines received, its lost count), and the ratio.

Run as root: ``.venv/bin/python bench/bench_nettrace.py [--quick]``.
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel import kernel_facts  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.common import netns as netns_utils  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.kernel.nettrace import Decoder, NettraceSession  # noqa: E402

PREFIX = "tkt-bn-%d" % os.getpid()
NS_S, NS_R = PREFIX + "-s", PREFIX + "-r"
SRC, DST = "10.231.0.1", "10.231.0.2"
MAX_SECONDS = 4.0          # each flood stops after this long...
TARGET_COUNTED, TARGET_FULL, TARGET_ATTACH = 200000, 50000, 3.0

FLOOD_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
/* flood DST PORT COUNT SECONDS RATE: send COUNT tiny UDP datagrams (or stop after SECONDS), RATE/s (0 = max) */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    if (argc != 6) return 2;
    long count = atol(argv[3]); double seconds = atof(argv[4]); double rate = atof(argv[5]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    inet_pton(AF_INET, argv[1], &dst.sin_addr);
    enum { B = 64 };
    struct mmsghdr msgs[B]; struct iovec iov = {.iov_base = "tkt", .iov_len = 3};
    memset(msgs, 0, sizeof(msgs));
    for (int i = 0; i < B; i++) { msgs[i].msg_hdr.msg_name = &dst; msgs[i].msg_hdr.msg_namelen = sizeof(dst);
                                  msgs[i].msg_hdr.msg_iov = &iov; msgs[i].msg_hdr.msg_iovlen = 1; }
    long sent = 0; double start = now(), t = start;
    while (sent < count && (t = now()) - start < seconds) {
        if (rate > 0 && sent > rate * (t - start)) { struct timespec s = {0, 50000}; nanosleep(&s, NULL); continue; }
        int n = sendmmsg(fd, msgs, (count - sent) < B ? (int)(count - sent) : B, 0);
        if (n > 0) { sent += n; continue; }
        /* dropped in our own output chain: sendmmsg stops at the first (EPERM) message, which was one drop;
         * go on with plain sendto, one drop each */
        sent++;
        for (int i = 1; i < B && sent < count; i++, sent++)
            sendto(fd, "tkt", 3, 0, (struct sockaddr *)&dst, sizeof(dst));
    }
    printf("%ld %.6f\n", sent, now() - start);
    return 0;
}
"""

BPFTRACE = r"""
tracepoint:skb:kfree_skb /args->reason == %(code)d/ {
  $skb = (struct sk_buff *)args->skbaddr;
  $iph = (struct iphdr *)($skb->head + $skb->network_header);
  $udp = (struct udphdr *)($skb->head + $skb->network_header + 20);
  time("%%H:%%M:%%S ");
  printf("DROP %%d kfree_skb %%s:%%d -> %%s:%%d\n", args->reason, ntop($iph->saddr), bswap($udp->source),
         ntop($iph->daddr), bswap($udp->dest));
}
"""


def sh(cmd, check=True):
    proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60, check=False)
    if check and proc.returncode:
        raise SystemExit("%s: %s" % (cmd, proc.stderr))
    return proc.stdout


def setup(path):
    sh("ip netns add %s && ip netns add %s" % (NS_S, NS_R))
    sh("ip link add tbn%ds type veth peer name tbn%dr" % (os.getpid() % 100000, os.getpid() % 100000))
    for ns, side, addr in ((NS_S, "s", SRC), (NS_R, "r", DST)):
        dev = "tbn%d%s" % (os.getpid() % 100000, side)
        sh("ip link set %s netns %s" % (dev, ns))
        sh("ip -n %s addr add %s/24 dev %s && ip -n %s link set %s up && ip -n %s link set lo up"
           % (ns, addr, dev, ns, dev, ns))
    sh("ip netns exec %s nft add table inet tkt && ip netns exec %s nft add chain inet tkt in "
       "'{ type filter hook input priority 0; }' && ip netns exec %s nft add rule inet tkt in udp dport 9 drop"
       % (NS_R, NS_R, NS_R))
    if path == "output":
        sh("ip netns exec %s nft add table inet tkt && ip netns exec %s nft add chain inet tkt out "
           "'{ type filter hook output priority 0; }' && ip netns exec %s nft add rule inet tkt out udp dport 9 drop"
           % (NS_S, NS_S, NS_S))
    # the sender must know the receiver's MAC without ARP delays in the measurement
    sh("ip netns exec %s ping -c1 -W1 %s" % (NS_S, DST), check=False)


def teardown():
    sh("ip netns del %s" % NS_S, check=False)
    sh("ip netns del %s" % NS_R, check=False)


def build_flooder(workdir):
    if not shutil.which("gcc"):
        raise SystemExit("gcc is needed to build the bounded UDP sender of this benchmark (apt-get install gcc)")
    src = os.path.join(workdir, "flood.c")
    with open(src, "w") as handle:
        handle.write(FLOOD_C)
    binary = os.path.join(workdir, "flood")
    sh("gcc -O2 -o %s %s" % (binary, src))
    return binary


SENDERS = 2


def flood(binary, count, rate):
    """SENDERS parallel senders share ``count`` packets and ``rate``; return (packets sent, seconds)."""
    procs = [subprocess.Popen(["ip", "netns", "exec", NS_S, binary, DST, "9", str(count // SENDERS),
                               str(MAX_SECONDS), str(rate // SENDERS)], stdout=subprocess.PIPE, text=True)
             for _sender in range(SENDERS)]
    sent, seconds = 0, 0.0
    for proc in procs:
        out, _err = proc.communicate(timeout=MAX_SECONDS + 30)
        one_sent, one_seconds = out.split()
        sent += int(one_sent)
        seconds = max(seconds, float(one_seconds))
    return sent, seconds


def run_nettrace(binary, rates, count):
    session = NettraceSession(kinds=["DROP"], filter_cidr=["10.231.0.0/24"], max_events=0, ringbuf_mb=16)
    rows = []
    with session:
        session.prepare()
        attach = session.attach()
        for rate in rates:
            session.chunks, session.received = [], 0
            before = session.read_counters()
            box = {}
            sender = threading.Thread(target=lambda: box.update(result=flood(binary, count, rate)))
            sender.start()
            busy = 0.0
            while sender.is_alive():
                time.sleep(0.05)
                tick = time.perf_counter()
                session.consume()
                busy += time.perf_counter() - tick
            sender.join()
            tick = time.perf_counter()
            session.consume()
            busy += time.perf_counter() - tick
            after = session.read_counters()
            sent, seconds = box["result"]
            received = session.received
            lost = after["lost"] - before["lost"]
            rows.append({"rate": rate, "sent": sent, "seconds": seconds, "received": received, "lost": lost,
                         "per_s": received / seconds, "drain_per_s": received / busy if busy else 0})
        session.finish()
        decoder = Decoder(session.facts["drop_reasons"], session.facts["rst_reasons"], session.facts["tcp_states"],
                          netns_names=netns_utils.named_inodes(), clock_offset=session.clock_offset)
        started = time.monotonic()
        events = decoder.decode(session.chunks)
        decode_seconds = time.monotonic() - started
    return attach, rows, len(events), decode_seconds, events[:1]


def run_bpftrace(binary, count, rate):
    if not shutil.which("bpftrace"):
        return None
    code = [c for c, n in kernel_facts.drop_reasons().items() if n == "NETFILTER_DROP"][0]
    proc = subprocess.Popen(["bpftrace", "-e", BPFTRACE % {"code": code}], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    lines = {"n": 0, "lost": 0, "ready": threading.Event()}

    def reader():
        for line in proc.stdout:
            if line.startswith("Attaching"):
                lines["ready"].set()
            elif " DROP " in line:
                lines["n"] += 1
            else:
                match = re.search(r"Lost (\d+) events", line)
                if match:
                    lines["lost"] += int(match.group(1))
    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    started = time.monotonic()
    if not lines["ready"].wait(60):
        proc.kill()
        return None
    attach = time.monotonic() - started
    time.sleep(0.5)
    sent, seconds = flood(binary, count, rate)
    time.sleep(1.0)
    proc.terminate()
    try:
        _out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    thread.join(5)
    if not lines["lost"]:  # older bpftrace versions print the message on stderr
        for match in re.finditer(r"Lost (\d+) events", err or ""):
            lines["lost"] += int(match.group(1))
    return {"sent": sent, "seconds": seconds, "lines": lines["n"], "lost": lines["lost"], "attach": attach,
            "per_s": lines["n"] / seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rates, smaller floods")
    parser.add_argument("--path", choices=["output", "veth"], default="output", help="where packets are dropped")
    parser.add_argument("--senders", type=int, default=2, help="parallel sender processes")
    opts = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (namespaces and eBPF)")
    rates = [100000, 200000, 250000, 0] if not opts.quick else [200000, 0]
    count = 1200000 if not opts.quick else 600000
    global SENDERS  # pylint: disable=global-statement
    SENDERS = max(1, opts.senders)
    workdir = tempfile.mkdtemp(prefix="tkt-bench-")
    try:
        setup(opts.path)
        binary = build_flooder(workdir)
        ceiling_sent, ceiling_s = flood(binary, count, 0)
        attach, rows, decoded, decode_s, sample = run_nettrace(binary, rates, count)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        peer = run_bpftrace(binary, count, 0)
    finally:
        teardown()
        shutil.rmtree(workdir, ignore_errors=True)

    print("nettrace benchmark (DROP events, UDP flood in namespaces, nftables drop on the %s path)" % opts.path)
    print("  attach time: %.2f s (target < %.0f s)   peak memory (RSS): %.0f MB" % (attach, TARGET_ATTACH, peak_mb))
    print("  senders' ceiling with no tracer: %.0f packets/s (%d senders; the machine's load limits it)"
          % (ceiling_sent / ceiling_s, SENDERS))
    columns = ("offered/s", "sent", "seconds", "received", "lost", "received/s", "drain cap./s")
    print("  %-12s %10s %10s %10s %8s %12s %14s" % columns)
    best, best_near = 0, 0
    for row in rows:
        print("  %-12s %10d %10.2f %10d %8d %12.0f %14.0f" % (
            row["rate"] or "max", row["sent"], row["seconds"], row["received"], row["lost"], row["per_s"],
            row["drain_per_s"]))
        if row["lost"] == 0 and row["received"] >= row["sent"]:
            best = max(best, row["per_s"])
        if row["lost"] <= row["sent"] // 100000:
            best_near = max(best_near, row["per_s"])
    full = decoded / decode_s if decode_s else 0
    print("  counted with no loss (lost == 0): %.0f events/s (target >= %d)" % (best, TARGET_COUNTED))
    print("  counted with loss <= 0.001%%:     %.0f events/s" % best_near)
    print("  user-space drain capacity (events / CPU seconds spent reading the ring): %.0f events/s"
          % max(row["drain_per_s"] for row in rows))
    print("  full event records:   %.0f events/s decoded (%d records in %.2f s; target >= %d)"
          % (full, decoded, decode_s, TARGET_FULL))
    if sample:
        print("  sample: %s" % sample[0])
    if peer is None:
        print("  bpftrace: not installed or did not attach; no peer figure")
        return
    print("bpftrace, one printf per event (retina nettrace's way), same senders at max rate:")
    print("  sent %d in %.2f s, lines %d, lost %d, %.0f lines/s, attach %.2f s"
          % (peer["sent"], peer["seconds"], peer["lines"], peer["lost"], peer["per_s"], peer["attach"]))
    ours_max = rows[-1]
    print("  ratio at max rate: nettrace %.0f/s vs bpftrace %.0f/s = %.1fx (events delivered per second)"
          % (ours_max["per_s"], peer["per_s"], ours_max["per_s"] / peer["per_s"] if peer["per_s"] else float("inf")))


if __name__ == "__main__":
    main()

"""Benchmark: the flow aggregator on one core, against nfcapd receiving the same IPFIX stream.

Run: .venv/bin/python bench/bench_flow_aggregator.py [--flows 50000] [--store-rows 1000000]

1. Ingest: two exporters (a source node and a destination node, the collection's encoder) send both halves of
   FLOWS connections (2 x FLOWS Antrea records) over UDP on loopback to an aggregator pinned to one core. We
   time from the first datagram until every record is decoded, every flow correlated and stored, and check
   there is zero loss (decoded == sent, lost == 0, rejected == 0). Target: >= 100k records/s. The CPU time the
   aggregator spent (all its threads, from schedstat) gives records per CPU-second too.
   Peer: nfcapd (pinned to the same core) receives the same datagrams; its records per CPU-second and the
   records it stored (nfdump) are printed, and the ratio aggregator / nfcapd.
2. Memory per active flow: the aggregator's RSS growth over the flows it holds after 1, then over a second wave
   of as many new connections (what each further flow costs, without the fixed part). Target: < 1 KB.
3. API query latency on a STORE_ROWS-flow store (built directly with the store's writer): median and p95 of
   GET /api/v1/flows by source address, destination port, node, time range.
4. Past one core (--shards N, default 2, at most one per core): N aggregators, each pinned to its own core, the
   exporters picking one per connection by the hash of its normalised 5-tuple (ipfix.flow_key.pick_collector,
   what conntrack_export does with several collectors): records/s of all of them together, zero loss, and
   every connection correlated (both halves met at the same aggregator). The sender shares the cores.
Bounded: fixed counts, every wait has a deadline. Packets go to 127.0.0.1 only.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from flow_aggregator_proc import Aggregator, free_port  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.encoder import MessageEncoder  # noqa: E402
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import pick_collector  # noqa: E402
from ansible_collections.netdiag.tracekit.services.flow_aggregator.store import FlowStore  # noqa: E402
from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import Flow  # noqa: E402

CORE = "0"


def records(flows, side, first=0):
    now = int(time.time())
    for i in range(first, first + flows):
        src = "10.%d.%d.%d" % (100 + i % 50, (i >> 8) & 255, i & 255)
        rec = {"sourceIPv4Address": src, "destinationIPv4Address": "10.200.%d.%d" % ((i >> 4) & 255, i % 16 + 1),
               "sourceTransportPort": 10000 + i % 50000, "destinationTransportPort": 8080,
               "protocolIdentifier": 6, "flowStartSeconds": now - 5, "flowEndSeconds": now, "flowType": 2,
               "packetTotalCount": 10 + i % 7, "octetTotalCount": 1500 + i % 100, "packetDeltaCount": 2,
               "octetDeltaCount": 300, "reversePacketTotalCount": 8, "reverseOctetTotalCount": 6400,
               "reversePacketDeltaCount": 1, "reverseOctetDeltaCount": 800, "tcpState": "ESTABLISHED"}
        if side == "src":
            rec.update(sourcePodName="client-%d" % (i % 500), sourcePodNamespace="default",
                       sourceNodeName="node-%d" % (i % 10))
        else:
            rec.update(destinationPodName="server-%d" % (i % 100), destinationPodNamespace="web",
                       destinationNodeName="node-%d" % (i % 10 + 10), ingressNetworkPolicyName="allow-web")
        yield rec


def encode(flows, side, domain, first=0, keep=None):
    """The IPFIX messages of ``flows`` connections' records of one side (those ``keep(record)`` accepts)."""
    encoder = MessageEncoder(observation_domain_id=domain)
    out = []
    batch = []
    for rec in records(flows, side, first):
        if keep is not None and not keep(rec):
            continue
        batch.append(rec)
        if len(batch) == 500:
            out.extend(encoder.encode(batch))
            batch = []
    if batch:
        out.extend(encoder.encode(batch))
    return out


def cpu_seconds(pid):
    """CPU time of every thread of ``pid`` so far, in nanosecond resolution (schedstat), not 10 ms ticks."""
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task), encoding="ascii") as handle:
                total += int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just ended
    return total / 1e9


def rss_kb(pid):
    with open("/proc/%d/status" % pid, encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def blast(messages, port, progress=None, window=100000, per_message=20):
    """Send the datagrams. With ``progress`` (records the receiver has decoded so far), never run more than
    ``window`` records ahead of it, so a burst fits in the receiver's socket buffer (zero loss)."""
    socks = {}
    deadline = time.monotonic() + 300
    for index, (exporter, data) in enumerate(messages):
        if progress and index % 500 == 0:
            while index * per_message - progress() > window and time.monotonic() < deadline:
                time.sleep(0.2)  # each look costs the receiver an HTTP request: not too often
        sock = socks.get(exporter)
        if sock is None:
            sock = socks[exporter] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(data, ("127.0.0.1", port))
    for sock in socks.values():
        sock.close()


def interleave(a, b):
    out = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(("src", a[i]))
        if i < len(b):
            out.append(("dst", b[i]))
    return out


def decoded(agg):
    """Records the aggregator has decoded so far (its metrics)."""
    return agg.metrics().get(("flow_aggregator_decoded_total", None), 0)


def wait_stored(agg, decoded_total, deadline):
    """Until the aggregator decoded ``decoded_total`` records and committed every changed flow; its health."""
    health = {}
    while time.monotonic() < deadline:
        health = agg.get("/healthz")
        if health["pending_store"] == 0:
            if decoded(agg) >= decoded_total:
                return health
        time.sleep(0.05)
    return health


def wave(agg, stream, records_count):
    """Send a stream of datagrams without overrunning the aggregator; the seconds it took."""
    decoded_before = decoded(agg)
    start = time.monotonic()
    blast(stream, agg.ports["udp"],
          lambda: decoded(agg) - decoded_before,
          per_message=float(records_count) / len(stream))
    return time.monotonic() - start


def bench_ingest(flows, workdir):
    total = 2 * flows
    stream = interleave(encode(flows, "src", 1), encode(flows, "dst", 2))
    second = interleave(encode(flows, "src", 1, flows), encode(flows, "dst", 2, flows))
    agg = Aggregator(os.path.join(workdir, "agg"), collect=("udp",), max_flows=4 * flows + 10,
                     idle_timeout="600s", active_timeout="600s", flush_interval="0.5s")
    agg.start()
    subprocess.run(["taskset", "-pc", CORE, str(agg.proc.pid)], capture_output=True, check=False)
    rss_before = rss_kb(agg.proc.pid)
    cpu_before = cpu_seconds(agg.proc.pid)
    start = time.monotonic()
    sent_in = wave(agg, stream, total)
    health = wait_stored(agg, total, time.monotonic() + 300)
    elapsed = time.monotonic() - start
    cpu = cpu_seconds(agg.proc.pid) - cpu_before
    metrics = agg.metrics()
    decoded_count = metrics.get(("flow_aggregator_decoded_total", None), 0)
    lost = metrics.get(("flow_aggregator_lost_total", None), 0)
    rejected = metrics.get(("flow_aggregator_rejected_total", None), 0)
    correlated = metrics.get(("flow_aggregator_correlated_total", None), 0)
    rows = len(agg.flows(limit=1))  # the API answers from the store
    store = FlowStore(os.path.join(agg.folder, "flows.db"))
    stored_rows = store.count()
    store.close()
    rss_mid = rss_kb(agg.proc.pid)
    active_mid = health.get("active_flows", 0)
    # A second wave of as many new connections: what each more active flow costs, without the fixed part
    # (interpreter, SQLite's page cache, the bounded caches) that the first wave's growth includes.
    wave(agg, second, total)
    health = wait_stored(agg, 2 * total, time.monotonic() + 300)
    rss_after = rss_kb(agg.proc.pid)
    active_after = health.get("active_flows", 0)
    agg.stop()
    return {"records": total, "sent_in": sent_in, "elapsed": elapsed, "cpu": cpu, "decoded": decoded_count,
            "lost": lost, "rejected": rejected, "correlated": correlated, "stored": stored_rows, "rows": rows,
            "rss_per_flow": (rss_mid - rss_before) * 1024.0 / max(1, active_mid),
            "rss_marginal": (rss_after - rss_mid) * 1024.0 / max(1, active_after - active_mid),
            "active": (active_mid, active_after), "stream": stream}


def bench_nfcapd(stream, total, workdir):
    if not shutil.which("nfcapd"):
        return None
    folder = os.path.join(workdir, "nfcapd")
    os.makedirs(folder, exist_ok=True)
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(["taskset", "-c", CORE, "nfcapd", "-w", folder, "-b", "127.0.0.1", "-p", str(port),
                             "-B", str(32 << 20), "-t", "3600"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    cpu_before = cpu_seconds(proc.pid)
    start = time.monotonic()
    blast(stream, port)
    # nfcapd has no progress counter: wait until its CPU time stops growing
    last, still = cpu_seconds(proc.pid), 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and still < 5:
        time.sleep(0.1)
        now = cpu_seconds(proc.pid)
        still = still + 1 if now == last else 0
        last = now
    elapsed = time.monotonic() - start - 0.5
    cpu = cpu_seconds(proc.pid) - cpu_before
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    out = subprocess.run(["nfdump", "-R", folder, "-q", "-o", "fmt:%pr"], capture_output=True, text=True,
                         timeout=120, check=False).stdout
    received = sum(1 for line in out.splitlines() if line.strip())
    return {"records": total, "received": received, "cpu": cpu, "elapsed": elapsed}


def build_store(path, rows):
    store = FlowStore(path)
    old = time.time() - 3600  # an hour ago: not taken back into memory at start
    batch = []
    for i in range(rows):
        flow = Flow(None, i + 1, old - i * 0.001)
        flow.last_seen = old - i * 0.001
        flow.record = {"sourceIPv4Address": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255),
                       "destinationIPv4Address": "10.250.%d.%d" % (i % 200, i % 250 + 1),
                       "sourceTransportPort": 1024 + i % 60000, "destinationTransportPort": 1 + i % 1000,
                       "protocolIdentifier": 6, "sourcePodName": "pod-%d" % (i % 5000),
                       "sourceNodeName": "node-%d" % (i % 50), "destinationNodeName": "node-%d" % (i % 50 + 50),
                       "packetTotalCount": i % 1000, "octetTotalCount": i % 100000,
                       "packetTotalCountFromSourceNode": i % 1000, "packetTotalCountFromDestinationNode": i % 999,
                       "flowStartSeconds": int(old) - 10, "flowEndSeconds": int(old)}
        batch.append(flow)
        if len(batch) == 20000:
            store.write(batch)
            batch = []
    store.write(batch)
    store.close()


def bench_queries(workdir, rows):
    folder = os.path.join(workdir, "big")
    os.makedirs(folder, exist_ok=True)
    t0 = time.monotonic()
    build_store(os.path.join(folder, "flows.db"), rows)
    built = time.monotonic() - t0
    agg = Aggregator(folder, collect=("udp",))
    agg.start(timeout=120)
    results = {}
    queries = {"by source address": {"src_ip": "10.1.2.3"},
               "by destination port (limit 100)": {"dst_port": 443, "limit": 100},
               "by node (limit 100)": {"node": "node-7", "limit": 100},
               "time range (limit 1000)": {"since": str(time.time() - 3600.5), "until": str(time.time() - 3599),
                                           "limit": 1000},
               "no match (full scan)": {"pod": "no-such-pod"}}
    for name, params in queries.items():
        times = []
        for _run in range(15):
            start = time.monotonic()
            agg.flows(**params)
            times.append((time.monotonic() - start) * 1000)
        times.sort()
        results[name] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    agg.stop()
    return built, results


def bench_scale_out(flows, shards, workdir):
    """``shards`` aggregators, one per core, fed by exporters that pick one per connection by hash."""
    aggs = []
    try:
        for index in range(shards):
            agg = Aggregator(os.path.join(workdir, "shard%d" % index), collect=("udp",), max_flows=4 * flows + 10,
                             idle_timeout="600s", active_timeout="600s", flush_interval="0.5s")
            agg.start()
            subprocess.run(["taskset", "-pc", str(index), str(agg.proc.pid)], capture_output=True, check=False)
            aggs.append(agg)
        names = ["127.0.0.1:%d" % agg.ports["udp"] for agg in aggs]
        streams = []
        totals = [0] * shards  # records each aggregator is sent

        def keep(rec, index):
            if pick_collector(rec, names) != names[index]:
                return False
            totals[index] += 1
            return True

        for index in range(shards):
            streams.append(interleave(encode(flows, "src", 1, keep=lambda rec, i=index: keep(rec, i)),
                                      encode(flows, "dst", 2, keep=lambda rec, i=index: keep(rec, i))))
        cpu_before = [cpu_seconds(agg.proc.pid) for agg in aggs]
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _side in range(2 * shards)]
        start = time.monotonic()
        deadline = start + 300
        position = [0] * shards
        while any(position[i] < len(streams[i]) for i in range(shards)) and time.monotonic() < deadline:
            for index, stream in enumerate(streams):  # 500 messages to each in turn, each within its window
                if position[index] >= len(stream):
                    continue
                per_message = float(totals[index]) / len(stream)
                if position[index] * per_message - decoded(aggs[index]) > 100000:
                    time.sleep(0.05)
                    continue
                for side, data in stream[position[index]:position[index] + 500]:
                    socks[2 * index + (side == "dst")].sendto(data, ("127.0.0.1", aggs[index].ports["udp"]))
                position[index] += 500
        for sock in socks:
            sock.close()
        healths = [wait_stored(agg, totals[index], deadline) for index, agg in enumerate(aggs)]
        elapsed = time.monotonic() - start
        cpu = [cpu_seconds(agg.proc.pid) - before for agg, before in zip(aggs, cpu_before)]
        metrics = [agg.metrics() for agg in aggs]
        return {"records": 2 * flows, "per_shard": totals, "elapsed": elapsed, "cpu": cpu,
                "decoded": [m.get(("flow_aggregator_decoded_total", None), 0) for m in metrics],
                "lost": sum(m.get(("flow_aggregator_lost_total", None), 0) for m in metrics),
                "rejected": sum(m.get(("flow_aggregator_rejected_total", None), 0) for m in metrics),
                "correlated": sum(m.get(("flow_aggregator_correlated_total", None), 0) for m in metrics),
                "pending": sum(h.get("pending_store", 1) for h in healths)}
    finally:
        for agg in aggs:
            agg.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=50000, help="connections (2 records each)")
    parser.add_argument("--store-rows", type=int, default=1000000)
    parser.add_argument("--shards", type=int, default=2, help="aggregators for the scale-out figure (0: skip)")
    args = parser.parse_args()
    shards = min(args.shards, os.cpu_count() or 1)
    workdir = tempfile.mkdtemp(prefix="bench-flow-aggregator-")
    try:
        ing = bench_ingest(args.flows, workdir)
        rate = ing["records"] / ing["elapsed"]
        print("1. ingest over UDP, one core: %d records (%d connections) from 2 exporters" % (ing["records"], args.flows))
        print("   decoded %d, lost %d, rejected %d, correlated %d flows, stored %d rows -> %s"
              % (ing["decoded"], ing["lost"], ing["rejected"], ing["correlated"], ing["stored"],
                 "zero loss" if ing["decoded"] == ing["records"] and not ing["lost"] and not ing["rejected"]
                 else "LOSS"))
        print("   %.0f records/s ingested+correlated+stored (wall, %.2f s; sender took %.2f s)   target >= 100000 %s"
              % (rate, ing["elapsed"], ing["sent_in"], "met" if rate >= 100000 else "MISSED"))
        print("   %.0f records per CPU-second of the aggregator (%.2f s CPU)" % (ing["records"] / ing["cpu"], ing["cpu"]))
        peer = bench_nfcapd(ing["stream"], ing["records"], workdir)
        if peer:
            peer_rate = peer["records"] / peer["cpu"] if peer["cpu"] else float("inf")
            print("   peer nfcapd, same datagrams, same core: received %d/%d records, %.0f records per CPU-second "
                  "(%.3f s CPU)" % (peer["received"], peer["records"], peer_rate, peer["cpu"]))
            print("   ratio aggregator/nfcapd (records per CPU-second): %.2f" % ((ing["records"] / ing["cpu"]) / peer_rate))
        else:
            print("   peer nfcapd: not installed")
        print("2. memory per active flow: %.0f bytes (RSS growth over the first %d flows / %d)   target < 1024 %s"
              % (ing["rss_per_flow"], ing["active"][0], ing["active"][0],
                 "met" if ing["rss_per_flow"] < 1024 else "MISSED"))
        print("   each further active flow: %.0f bytes (RSS growth from %d to %d flows)   target < 1024 %s"
              % (ing["rss_marginal"], ing["active"][0], ing["active"][1],
                 "met" if ing["rss_marginal"] < 1024 else "MISSED"))
        built, results = bench_queries(workdir, args.store_rows)
        print("3. API query latency on a %d-flow store (built in %.1f s):" % (args.store_rows, built))
        for name, (median, p95) in results.items():
            print("   %-32s median %7.1f ms   p95 %7.1f ms" % (name, median, p95))
        if shards >= 2:
            out = bench_scale_out(args.flows, shards, workdir)
            whole = out["records"] == sum(out["decoded"]) and not out["lost"] and not out["rejected"]
            print("4. past one core: %d aggregators on %d cores, connections spread by hash (%s records each)"
                  % (shards, shards, " / ".join(str(n) for n in out["per_shard"])))
            print("   %.0f records/s ingested+correlated+stored by all of them (wall, %.2f s), %s; correlated %d of %d "
                  "connections" % (out["records"] / out["elapsed"], out["elapsed"], "zero loss" if whole else "LOSS",
                                   out["correlated"], args.flows))
            print("   per aggregator: %s records per CPU-second"
                  % " / ".join("%.0f" % (n / c) for n, c in zip(out["decoded"], out["cpu"]) if c))
        else:
            print("4. past one core: skipped (one core, or --shards below 2)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The flow aggregator service: collector -> flow table -> store and sinks, with the API beside it."""

import asyncio
import gc
import logging
import os
import signal
import time

from ansible_collections.netdiag.tracekit.services.flow_aggregator.api import ApiServer
from ansible_collections.netdiag.tracekit.services.flow_aggregator.collector import Collector
from ansible_collections.netdiag.tracekit.services.flow_aggregator.sinks import make_sink
from ansible_collections.netdiag.tracekit.services.flow_aggregator.store import FlowStore
from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import FlowTable

LOG = logging.getLogger("flow_aggregator")
PURGE_EVERY = 60.0
# Flows changed since the store last saw them are stored at every tick, or as soon as this many are waiting.
# Large batches write each changed index page once for many rows (the store's cost is mostly there); the flow
# table keeps the memory of waiting flows small by packing them (FlowTable.hot_limit).
STORE_BATCH = 65536
GC_THRESHOLD = 50000
QUIET = 0.05


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Service:
    def __init__(self, config):
        self.config = config
        store_path = config["store"]["path"]
        if store_path != ":memory:":
            os.makedirs(os.path.dirname(store_path) or ".", exist_ok=True)
        self.store = FlowStore(store_path)
        self.table = FlowTable(config["max_flows"], config["active_timeout"], config["idle_timeout"],
                               next_id=self.store.max_id() + 1)
        self.collector = Collector(self.on_records, config["max_exporters"])
        self.sinks = [make_sink(sink) for sink in config["export"]]
        self.evicted = []
        self.stored = 0
        self.storing = 0
        self.started = time.time()
        self.bound = []
        self.api = None
        self.stopping = None
        self.last_purge = 0.0

    # ---- data path
    def on_records(self, records, exporter_ip, domain_id, label):
        evicted, rejected, error = self.table.add_records(records, exporter_ip, domain_id, time.time())
        if rejected:
            self.collector.exporters.add(label, "rejected", rejected)
            if self.collector.exporters.should_log(label):
                LOG.warning("%d record(s) from %s not correlated: %s", rejected, label, error)
        if evicted:
            self.evicted.extend(evicted)
        if len(self.table.pending) >= STORE_BATCH:
            try:
                self.store_pending()
            except Exception:  # pylint: disable=broad-except
                LOG.exception("storing flows failed; retrying at the next tick")

    def _export(self, flows, now):
        if not flows:
            return
        records = [flow.record for flow in flows] if self.sinks else []  # fresh dicts, unpacked
        self.table.mark_exported(flows, now)
        for sink in self.sinks:
            sink.submit(records)

    def store_pending(self):
        """Write the flows changed since the last write; on failure they are written at the next attempt."""
        flows = self.table.take_to_store()
        if not flows:
            return
        self.storing = len(flows)
        try:
            self.stored += self.store.write(flows)
        except BaseException:
            self.table.give_back(flows)
            raise
        finally:
            self.storing = 0
        for flow in flows:
            flow.stored = True

    def tick(self):
        """Store what changed, export what is due, expire idle flows, purge old rows."""
        now = time.time()
        self.store_pending()
        active, idle = self.table.due(now)
        evicted, self.evicted = self.evicted, []
        self._export([flow for flow in active + idle + evicted if not flow.exported], now)
        if now - self.last_purge >= PURGE_EVERY:
            self.last_purge = now
            purged = self.store.purge(now - self.config["store"]["retention"])
            if purged:
                LOG.info("retention: deleted %d flows older than %ss", purged, self.config["store"]["retention"])

    async def _ticker(self):
        """A full tick every flush_interval; in between, what changed is stored as soon as the input pauses
        (``QUIET`` seconds without a message), so the API shows a burst's flows right after it."""
        interval = self.config["flush_interval"]
        step = min(interval, QUIET)
        last_tick = time.monotonic()
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            try:
                if now - last_tick >= interval:
                    last_tick = now
                    self.tick()
                elif self.table.pending and now - self.collector.last_message >= QUIET:
                    self.store_pending()
            except Exception:  # pylint: disable=broad-except
                LOG.exception("flush failed; retrying at the next tick")

    # ---- reporting
    def health(self):
        return {"status": "ok", "listeners": ["%s:%s:%d" % item for item in self.bound],
                "active_flows": len(self.table), "pending_store": len(self.table.pending) + self.storing, "uptime": round(time.time() - self.started, 1),
                "sinks": {sink.name_: {"up": sink.up, "pending": sink.pending()} for sink in self.sinks}}

    def metrics(self):
        ex = self.collector.exporters
        lines = []

        def family(name, help_text, kind="counter"):
            lines.append("# HELP flow_aggregator_%s %s" % (name, help_text))
            lines.append("# TYPE flow_aggregator_%s %s" % (name, kind))

        helps = {"received": "IPFIX messages received", "decoded": "data records decoded",
                 "rejected": "malformed messages, sets or records rejected",
                 "lost": "data records lost according to the exporters' sequence numbers"}
        for field in ex.FIELDS:
            family(field + "_total", helps[field])
            lines.append("flow_aggregator_%s_total %d" % (field, ex.totals[field]))
            for label, counters in list(ex.by_exporter.items()):
                lines.append('flow_aggregator_%s_total{exporter="%s"} %d' % (field, _escape(label), counters[field]))
        table = self.table.counters
        for name, value, text in (("correlated", table["correlated"], "flows with both nodes' records"),
                                  ("stored", self.stored, "flow rows written to the store"),
                                  ("evicted", table["evicted"], "flows evicted by the max_flows cap"),
                                  ("expired", table["expired"], "flows ended by the idle timeout"),
                                  ("store_dropped", table["store_dropped"],
                                   "changed flows not written because the store kept failing")):
            family(name + "_total", text)
            lines.append("flow_aggregator_%s_total %d" % (name, value))
        family("exported_total", "records delivered by each sink")
        lines.append("flow_aggregator_exported_total %d" % sum(s.counters["exported"] for s in self.sinks))
        for field, text in (("exported", None), ("dropped", "records a sink's bounds dropped"),
                            ("spooled", "records a sink wrote to its spool"),
                            ("errors", "failed deliveries (retried)")):
            if text:
                family("sink_%s_total" % field, text)
            for sink in self.sinks:
                prefix = "exported_total" if field == "exported" else "sink_%s_total" % field
                lines.append('flow_aggregator_%s{sink="%s"} %d' % (prefix, _escape(sink.name_), sink.counters[field]))
        family("sink_pending", "records waiting in a sink's queue and spool", "gauge")
        for sink in self.sinks:
            lines.append('flow_aggregator_sink_pending{sink="%s"} %d' % (_escape(sink.name_), sink.pending()))
        family("active_flows", "flows in the in-memory table", "gauge")
        lines.append("flow_aggregator_active_flows %d" % len(self.table))
        family("tls_refused_total", "TLS handshakes refused (no valid client certificate...)")
        lines.append("flow_aggregator_tls_refused_total %d" % self.collector.tls_refused)
        return "\n".join(lines) + "\n"

    # ---- life cycle
    def restore(self):
        since = time.time() - self.config["idle_timeout"]
        restored = self.store.recent(since, self.config["max_flows"])
        for flow_id, record, first_seen, last_seen in reversed(restored):
            self.table.restore(flow_id, record, first_seen, last_seen)
        if restored:
            LOG.info("restart: %d recent flows taken back from the store", len(self.table))

    async def run(self, ready=None):
        loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stopping.set)
            except (NotImplementedError, RuntimeError):
                pass
        self.restore()
        # The flow table holds millions of long-lived objects and makes no reference cycles: move what exists
        # now out of the collector's way and let it run less often, so a full collection does not walk the
        # whole table every few hundred thousand records (reference counting frees the table's garbage).
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, 50, 1000)
        for sink in self.sinks:
            sink.start()
        self.bound = await self.collector.start(self.config["collect"])
        api = self.config["api"]
        self.api = ApiServer(self, api["host"], api["port"])
        address = self.api.start()
        LOG.info("API and page on http://%s:%d/", address[0], address[1])
        ticker = asyncio.ensure_future(self._ticker())
        if ready:
            ready()
        await self.stopping.wait()
        ticker.cancel()
        self.collector.close()
        self.tick()
        # What was not exported yet goes to the sinks (or their spool) before leaving.
        self._export([flow for flow in self.table.flows.values() if not flow.exported], time.time())
        for sink in self.sinks:
            sink.stop()
        self.api.stop()
        self.store.close()

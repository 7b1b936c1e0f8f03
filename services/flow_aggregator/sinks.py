"""Sinks: where correlated flows go besides the store (another IPFIX collector, a JSON lines file,
Elasticsearch/OpenSearch).

Each sink runs in its own thread and never blocks the collector. Records wait in a bounded queue in memory;
when the sink is down a batch goes to a bounded spool on disk (segment files of JSON lines, kept across
restarts) and is retried oldest first every ``retry_interval``. What a bound drops is counted (``dropped``), so a
sink that was down never loses records silently.
"""

import base64
import collections
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.index_template import index_template
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError
from ansible_collections.netdiag.tracekit.services.flow_aggregator.store import record_json

LOG = logging.getLogger("flow_aggregator.sinks")


class SinkError(TracekitError):
    """A sink could not deliver a batch (it is spooled and retried)."""


class Spool:
    """Bounded folder of segment files ``<seq>-<records>.jsonl``; the oldest segments go first."""

    def __init__(self, path, max_bytes):
        self.path = path
        self.max_bytes = max_bytes
        os.makedirs(path, exist_ok=True)
        self.segments = collections.deque(sorted(
            (name for name in os.listdir(path) if name.endswith(".jsonl")), key=lambda n: int(n.split("-")[0])))
        self.seq = int(self.segments[-1].split("-")[0]) + 1 if self.segments else 1
        self.size = sum(os.path.getsize(os.path.join(path, name)) for name in self.segments)

    @staticmethod
    def records_in(name):
        return int(name.split("-")[1].split(".")[0])

    def pending(self):
        return sum(self.records_in(name) for name in self.segments)

    def put(self, lines):
        """Write one segment; returns how many records older segments (or this one) lost to the bound."""
        data = ("\n".join(lines) + "\n").encode("utf-8")
        dropped = 0
        if len(data) > self.max_bytes:
            return len(lines)
        while self.segments and self.size + len(data) > self.max_bytes:
            dropped += self._remove(self.segments[0])
        name = "%d-%d.jsonl" % (self.seq, len(lines))
        self.seq += 1
        tmp = os.path.join(self.path, name + ".tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp, os.path.join(self.path, name))
        self.segments.append(name)
        self.size += len(data)
        return dropped

    def _remove(self, name):
        full = os.path.join(self.path, name)
        try:
            self.size -= os.path.getsize(full)
            os.unlink(full)
        except OSError:
            pass
        self.segments.remove(name)
        return self.records_in(name)

    def oldest(self):
        """(name, records) of the oldest segment, or None."""
        if not self.segments:
            return None
        name = self.segments[0]
        with open(os.path.join(self.path, name), encoding="utf-8") as handle:
            return name, [json.loads(line) for line in handle if line.strip()]

    def done(self, name):
        self._remove(name)


class Sink(threading.Thread):
    """Base: queue, spool, retry loop and counters; subclasses implement ``send(records)``."""

    max_queue = 200000

    def __init__(self, config):
        super().__init__(name="sink-" + config["name"], daemon=True)
        self.config = config
        self.name_ = config["name"]
        self.queue = collections.deque()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.spool = Spool(config["spool"], config["spool_max_bytes"])
        self.counters = collections.Counter()
        self.up = True
        self.next_try = 0.0

    def submit(self, records):
        """Queue records (dicts keyed by element names); never blocks."""
        with self.lock:
            self.queue.extend(records)
            over = len(self.queue) - self.max_queue
            for _drop in range(max(0, over)):
                self.queue.popleft()
            if over > 0:
                self.counters["dropped"] += over
        self.wake.set()

    def pending(self):
        return len(self.queue) + self.spool.pending()

    def _take(self):
        with self.lock:
            batch = [self.queue.popleft() for _index in range(min(self.config["batch"], len(self.queue)))]
        return batch

    def _deliver(self, records):
        try:
            self.send(records)
        except Exception as exc:  # pylint: disable=broad-except
            # whatever goes wrong in a sink (down, refused, a bug) must not lose records nor stop the thread
            self.counters["errors"] += 1
            if self.up:
                LOG.warning("sink %s is down (%s): spooling to %s", self.name_, exc, self.spool.path)
            self.up = False
            self.next_try = time.monotonic() + self.config["retry_interval"]
            return False
        if not self.up:
            LOG.warning("sink %s is back: sending what was spooled", self.name_)
        self.up = True
        self.counters["exported"] += len(records)
        return True

    def _to_spool(self, records):
        try:
            dropped = self.spool.put([record_json(record) for record in records])
            self.counters["spooled"] += len(records)
        except OSError as exc:
            LOG.error("sink %s: cannot write its spool %s (%s): %d records dropped",
                      self.name_, self.spool.path, exc, len(records))
            dropped = len(records)
        if dropped:
            self.counters["dropped"] += dropped
            LOG.warning("sink %s: spool bound %d bytes reached, %d records dropped",
                        self.name_, self.spool.max_bytes, dropped)

    def step(self):
        """One round: retry the spool when due, then send or spool one queued batch. True if work was done."""
        worked = False
        if self.spool.segments and time.monotonic() >= self.next_try:
            name, records = self.spool.oldest()
            if self._deliver(records):
                self.spool.done(name)
            worked = True
        batch = self._take()
        if batch:
            worked = True
            if self.spool.segments or not self.up or not self._deliver(batch):
                self._to_spool(batch)
        return worked

    def run(self):
        while not self.stopping.is_set():
            if not self.step():
                self.wake.wait(0.2 if not self.spool.segments else min(0.2, self.config["retry_interval"]))
                self.wake.clear()
        while self.queue:  # shutting down: what cannot be sent now is spooled for the next start
            batch = self._take()
            if not (self.up and not self.spool.segments and self._deliver(batch)):
                self._to_spool(batch)
        self.close()

    def stop(self, timeout=5):
        self.stopping.set()
        self.wake.set()
        self.join(timeout)

    def send(self, records):
        raise NotImplementedError

    def close(self):
        """Release connections and files."""


class JsonlSink(Sink):
    def send(self, records):
        with open(self.config["path"], "a", encoding="utf-8") as handle:
            handle.write("".join(record_json(record) + "\n" for record in records))


class IpfixSink(Sink):
    """IPFIX toward another collector (nfcapd, Logstash's netflow codec, another aggregator)."""

    def __init__(self, config):
        super().__init__(config)
        self.exporter = None

    def _records(self, records):
        out = []
        for record in records:
            clean = {}
            for name, value in record.items():
                try:
                    element = registry.by_name(name)
                except IpfixError:
                    continue  # an element the registry does not know (kept as raw bytes by the decoder)
                if element.data_type == "octetArray" or isinstance(value, (bytes, bytearray)):
                    continue
                clean[name] = value
            out.append(clean)
        return out

    def send(self, records):
        from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.exporter import IpfixExporter
        if self.exporter is None:
            cfg = self.config
            self.exporter = IpfixExporter(collector=cfg["address"], transport=cfg["transport"],
                                          observation_domain_id=cfg["observation_domain_id"], ca=cfg["ca"],
                                          certificate=cfg["certificate"], key=cfg["key"])
        try:
            self.exporter.export(self._records(records))
        except (TracekitError, OSError):
            self.close()
            raise

    def close(self):
        if self.exporter is not None:
            try:
                self.exporter.close()
            except (TracekitError, OSError):
                pass
            self.exporter = None


class ElasticsearchSink(Sink):
    """Bulk API of Elasticsearch or OpenSearch, with an index template built from the IPFIX registry.

    Each flow's document id is stable (its normalised 5-tuple and start), so a flow exported again (active
    timeout) replaces its document, and several aggregators can write to one cluster.
    """

    def __init__(self, config):
        super().__init__(config)
        self.template_done = not config["template"]

    def _request(self, method, path, body, content_type="application/json"):
        cfg = self.config
        req = urllib.request.Request(cfg["url"] + path, data=body, method=method,
                                     headers={"Content-Type": content_type})
        if cfg["username"]:
            token = base64.b64encode(("%s:%s" % (cfg["username"], cfg["password"] or "")).encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        try:
            with urllib.request.urlopen(req, timeout=cfg["timeout"]) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise SinkError("%s %s%s answered %s: %s" % (method, cfg["url"], path, exc.code, detail))
        except (urllib.error.URLError, OSError) as exc:
            raise SinkError("%s %s%s failed: %s" % (method, cfg["url"], path, getattr(exc, "reason", exc)))

    def install_template(self):
        """Install the index template unless one of that name exists: an operator's (the elk_collector role's,
        with its lifecycle policy) is kept, never replaced."""
        index = self.config["index"]
        body = json.dumps(index_template([index, index + "-*"])).encode()
        try:
            self._request("PUT", "/_index_template/%s-flows?create=true" % index, body)
        except SinkError as exc:
            if "already exists" not in str(exc):
                raise
            LOG.info("index template %s-flows already exists: kept as it is", index)
        self.template_done = True

    @staticmethod
    def doc_id(record):
        parts = []
        for name in ("sourceIPv4Address", "sourceIPv6Address", "sourceTransportPort", "destinationIPv4Address",
                     "destinationIPv6Address", "destinationTransportPort", "protocolIdentifier",
                     "flowStartSeconds", "flowStartMilliseconds"):
            if name in record:
                parts.append(str(record[name]))
        return "-".join(parts).replace(":", "_")

    def send(self, records):
        if not self.template_done:
            self.install_template()
        lines = []
        index = self.config["index"]
        for record in records:
            lines.append(json.dumps({"index": {"_index": index, "_id": self.doc_id(record)}}))
            lines.append(record_json(record))
        answer = self._request("POST", "/_bulk", ("\n".join(lines) + "\n").encode(), "application/x-ndjson")
        if answer.get("errors"):
            retry, rejected = 0, []
            for item in answer.get("items", []):
                status = next(iter(item.values()), {}).get("status", 200)
                if status == 429 or status >= 500:
                    retry += 1
                elif status >= 300:
                    rejected.append(next(iter(item.values())).get("error"))
            if retry:
                raise SinkError("bulk: %d documents refused for now (429/5xx)" % retry)
            if rejected:
                self.counters["rejected"] += len(rejected)
                LOG.error("sink %s: %d documents rejected by %s, first: %s",
                          self.name_, len(rejected), self.config["url"], rejected[0])


SINKS = {"ipfix": IpfixSink, "jsonl": JsonlSink, "elasticsearch": ElasticsearchSink}


def make_sink(config):
    return SINKS[config["type"]](config)

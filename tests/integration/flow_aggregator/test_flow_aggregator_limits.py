"""The flow aggregator's bounds and failure handling, as a real process: the max_flows cap, idle and active
timeouts, kill -9 with a restart, a sink that is down (spooled, retried, what the bound drops counted), and the
same Elasticsearch sink once its server comes up. osmem-server stands in for Elasticsearch (an in-memory
OpenSearch-compatible server started as a real process on loopback).
"""

import json
import os
import socket
import time

import pytest

from flow_aggregator_proc import Aggregator, Exporter, flow_record, free_port


def _jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_cap_evicts_oldest_and_counts_and_idle_flows_expire(tmp_path):
    sink = str(tmp_path / "out.jsonl")
    agg = Aggregator(tmp_path, collect=("udp",), max_flows=5, idle_timeout="2s", active_timeout="60s",
                     export=[{"type": "jsonl", "path": sink}]).start()
    try:
        exporter = Exporter(agg.ports["udp"])
        for i in range(8):  # one at a time so the order of arrival is the order of age
            exporter.send([flow_record("10.1.0.1", "10.1.0.2", 1000 + i, 80, packetTotalCount=i + 1)])
            time.sleep(0.02)
        metrics = agg.wait_value(agg.metrics, lambda m: m[("flow_aggregator_evicted_total", None)] == 3,
                                 what="3 evictions")
        assert metrics[("flow_aggregator_active_flows", None)] <= 5
        # the evicted flows (the three oldest) went to the sink; all eight stay in the store
        evicted = agg.wait_value(lambda: sorted(r["sourceTransportPort"] for r in _jsonl(sink)),
                                 lambda ports: len(ports) >= 3, what="evicted in sink")
        assert evicted == [1000, 1001, 1002]
        assert len(agg.flows(src_ip="10.1.0.1")) == 8
        # idle timeout: with no more records every flow ends and is exported once
        agg.wait_for(lambda: agg.metrics()[("flow_aggregator_active_flows", None)] == 0, what="idle expiry")
        ports = sorted(r["sourceTransportPort"] for r in _jsonl(sink))
        assert ports == list(range(1000, 1008))
        assert agg.metrics()[("flow_aggregator_expired_total", None)] == 5
        exporter.close()
    finally:
        agg.stop()


def test_active_timeout_exports_a_long_flow_again(tmp_path):
    sink = str(tmp_path / "out.jsonl")
    agg = Aggregator(tmp_path, collect=("tcp",), active_timeout="1s", idle_timeout="30s",
                     export=[{"type": "jsonl", "path": sink}]).start()
    try:
        exporter = Exporter(agg.ports["tcp"], "tcp")
        for count in (5, 9):
            exporter.send([flow_record("10.2.0.1", "10.2.0.2", 5555, 443, packetTotalCount=count)])
            agg.wait_for(lambda c=count: [r for r in _jsonl(sink) if r.get("packetTotalCount") == c],
                         timeout=5, what="export with %d packets" % count)
        assert [r["packetTotalCount"] for r in _jsonl(sink)] == [5, 9]
        exporter.close()
    finally:
        agg.stop()


def test_kill_9_loses_no_flow_the_api_returned(tmp_path):
    agg = Aggregator(tmp_path, collect=("udp",), idle_timeout="60s").start()
    exporter = Exporter(agg.ports["udp"])
    try:
        exporter.send([flow_record("10.3.0.1", "10.3.0.2", 2000 + i, 80, packetTotalCount=i) for i in range(50)])
        seen = agg.wait_value(lambda: agg.flows(src_ip="10.3.0.1"), lambda f: len(f) == 50, what="50 flows")
        # a record arriving right before the kill may be lost, but nothing the API already returned
        exporter.send([flow_record("10.3.0.1", "10.3.0.2", 2000, 80, packetTotalCount=1000)])
        agg.kill()
        agg.start()
        after = {f["sourceTransportPort"]: f for f in agg.flows(src_ip="10.3.0.1")}
        for flow in seen:
            assert flow["sourceTransportPort"] in after
            assert after[flow["sourceTransportPort"]]["packetTotalCount"] >= flow["packetTotalCount"]
        # after the restart a record for a known flow updates the same flow, not a new row (the restarted
        # aggregator knows no template: a UDP exporter sends them again, as its template refresh does)
        for message in exporter.encoder.template_messages():
            exporter.send_raw(message)
        exporter.send([flow_record("10.3.0.1", "10.3.0.2", 2001, 80, packetTotalCount=77)])
        agg.wait_for(lambda: [f for f in agg.flows(src_port=2001) if f["packetTotalCount"] == 77], what="update")
        assert len(agg.flows(src_ip="10.3.0.1")) == 50
    finally:
        exporter.close()
        agg.stop()


def test_a_burst_is_queryable_as_soon_as_the_input_pauses(tmp_path):
    """flush_interval is 30 s here, yet the API shows a burst's flows within a few seconds: the service stores
    what changed as soon as no message came for a moment."""
    agg = Aggregator(tmp_path, collect=("udp",), flush_interval="30s", idle_timeout="60s").start()
    exporter = Exporter(agg.ports["udp"])
    try:
        started = time.monotonic()
        exporter.send([flow_record("10.4.0.1", "10.4.0.2", 3000 + i, 80, packetTotalCount=i) for i in range(200)])
        flows = agg.wait_value(lambda: agg.flows(src_ip="10.4.0.1"), lambda f: len(f) == 200, timeout=5,
                               what="200 flows before the 30 s tick")
        assert time.monotonic() - started < 10
        assert sorted(f["packetTotalCount"] for f in flows) == list(range(200))
    finally:
        exporter.close()
        agg.stop()


def test_sink_down_is_spooled_bounded_counted_and_retried(tmp_path):
    osmem = pytest.importorskip("osmem_server")
    port = free_port(socket.SOCK_STREAM)
    agg = Aggregator(tmp_path, collect=("udp",), active_timeout="60s", idle_timeout="1s",
                     export=[{"type": "elasticsearch", "url": "http://127.0.0.1:%d" % port, "index": "flows",
                              "name": "es", "batch": 10, "retry_interval": "0.5s", "spool_max_bytes": 8192,
                              "timeout": "2s"}]).start()
    exporter = Exporter(agg.ports["udp"])
    server = None
    try:
        exporter.send([flow_record("10.4.0.1", "10.4.0.2", 3000 + i, 80) for i in range(60)])
        # Elasticsearch is down: every flow goes to the spool; the 8 KiB bound drops the oldest, counted.
        metrics = agg.wait_value(agg.metrics, lambda m: m[("flow_aggregator_sink_spooled_total", "es")] == 60,
                                 what="60 records spooled")
        dropped = metrics[("flow_aggregator_sink_dropped_total", "es")]
        pending = metrics[("flow_aggregator_sink_pending", "es")]
        assert dropped > 0 and pending > 0 and dropped + pending == 60
        spool = os.path.join(str(tmp_path), "spool", "es")
        assert sum(os.path.getsize(os.path.join(spool, n)) for n in os.listdir(spool)) <= 8192
        # It comes up: what the spool kept is delivered, nothing more is lost.
        server = osmem.OsmemServer.start(japanese=False, addr="127.0.0.1:%d" % port)
        agg.wait_for(lambda: agg.metrics()[("flow_aggregator_sink_pending", "es")] == 0, timeout=15,
                     what="the spool drained")
        count = server.request("POST", "/flows/_search", {"query": {"match_all": {}}, "size": 100})
        assert len(count["hits"]["hits"]) == pending
        assert agg.metrics()[("flow_aggregator_exported_total", "es")] == pending
    finally:
        exporter.close()
        agg.stop()
        if server:
            server.close()


def test_elasticsearch_sink_keeps_an_index_template_already_there(tmp_path):
    """An operator's template (the elk_collector role's, with its lifecycle policy) is never replaced by the
    sink's own. osmem-server stands in for Elasticsearch (an in-memory OpenSearch-compatible server)."""
    osmem = pytest.importorskip("osmem_server")
    server = osmem.OsmemServer.start(japanese=False)
    agg = None
    try:
        mine = {"index_patterns": ["ops", "ops-*"], "priority": 42,
                "template": {"settings": {"number_of_replicas": 0},
                             "mappings": {"properties": {"sourcePodName": {"type": "keyword"}}}}}
        server.request("PUT", "/_index_template/ops-flows", mine)
        agg = Aggregator(tmp_path, collect=("udp",), active_timeout="1s", idle_timeout="60s",
                         export=[{"type": "elasticsearch", "url": server.url, "index": "ops"}]).start()
        exporter = Exporter(agg.ports["udp"])
        exporter.send([flow_record("10.5.0.1", "10.5.0.2", 4000, 80, sourcePodName="cli", packetTotalCount=3)])
        exporter.close()
        agg.wait_for(lambda: agg.metrics().get(("flow_aggregator_exported_total", "elasticsearch0"), 0) >= 1,
                     what="the flow delivered to Elasticsearch")
        got = server.request("GET", "/_index_template/ops-flows")["index_templates"][0]["index_template"]
        assert got["priority"] == 42 and sorted(got["index_patterns"]) == ["ops", "ops-*"]
        assert agg.metrics().get(("flow_aggregator_sink_errors_total", "elasticsearch0"), 0) == 0
    finally:
        if agg is not None:
            agg.stop()
        server.close()

"""The SQLite flow store: what a query returns is the record that was written, whatever way the row holds it."""

import json
import marshal
import sqlite3

import pytest

from ansible_collections.netdiag.tracekit.services.flow_aggregator.store import FlowStore, StoreError, jsonable
from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import Flow


def flow(flow_id, last_seen, **record):
    item = Flow(None, flow_id, last_seen - 5)
    item.last_seen = last_seen
    item.record = record
    return item


def test_records_come_back_as_written_and_survive_a_reopen(tmp_path):
    path = str(tmp_path / "flows.db")
    store = FlowStore(path)
    store.write([flow(1, 100.0, sourceIPv4Address="10.0.0.1", destinationIPv4Address="10.0.0.2",
                      sourceTransportPort=1000, destinationTransportPort=80, protocolIdentifier=6,
                      sourcePodName="caf\u00e9", packetTotalCount=12, unknownElement=b"\x01\xab"),
                 flow(2, 101.0, sourceIPv6Address="fd00::1", destinationIPv6Address="fd00::2",
                      protocolIdentifier=17, sourceNodeName="node-1")])
    # written by hand: raw bytes come back as they were (the API and the sinks show them as lowercase hex)
    first = {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "sourceTransportPort": 1000,
             "destinationTransportPort": 80, "protocolIdentifier": 6, "sourcePodName": "caf\u00e9",
             "packetTotalCount": 12, "unknownElement": b"\x01\xab"}
    second = {"sourceIPv6Address": "fd00::1", "destinationIPv6Address": "fd00::2", "protocolIdentifier": 17,
              "sourceNodeName": "node-1"}
    assert store.query() == [second, first]
    assert store.query(src_ip="10.0.0.1", dst_port=80) == [first]
    assert store.query(node="node-1") == [second]
    # an update of the same flow replaces its row
    store.write([flow(1, 102.0, sourceIPv4Address="10.0.0.1", destinationIPv4Address="10.0.0.2",
                      packetTotalCount=13)])
    store.close()
    reopened = FlowStore(path)  # as after kill -9 and a restart: the element names are read back too
    assert reopened.query(src_ip="10.0.0.1") == [{"sourceIPv4Address": "10.0.0.1",
                                                  "destinationIPv4Address": "10.0.0.2", "packetTotalCount": 13}]
    assert [(row[0], row[1]) for row in reopened.recent(0, 10)] == [
        (1, {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "packetTotalCount": 13}),
        (2, second)]
    reopened.close()


def test_a_store_written_by_the_earlier_schema_still_answers(tmp_path):
    path = str(tmp_path / "old.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE flows (id INTEGER PRIMARY KEY, src_ip TEXT, dst_ip TEXT, src_port INTEGER, "
               "dst_port INTEGER, protocol INTEGER, src_node TEXT, dst_node TEXT, src_pod TEXT, dst_pod TEXT, "
               "src_ns TEXT, dst_ns TEXT, policies TEXT, first_seen REAL, last_seen REAL, record TEXT NOT NULL)")
    old = {"sourceIPv4Address": "10.1.1.1", "destinationIPv4Address": "10.1.1.2", "octetTotalCount": 99}
    db.execute("INSERT INTO flows VALUES (7, '10.1.1.1', '10.1.1.2', NULL, NULL, 6, NULL, NULL, NULL, NULL, "
               "NULL, NULL, NULL, 1.0, 2.0, ?)", (json.dumps(old),))
    db.commit()
    db.close()
    store = FlowStore(path)
    assert store.max_id() == 7
    store.write([flow(8, 3.0, sourceIPv4Address="10.1.1.3", destinationIPv4Address="10.1.1.4")])
    assert store.query() == [{"sourceIPv4Address": "10.1.1.3", "destinationIPv4Address": "10.1.1.4"}, old]
    assert store.query(src_ip="10.1.1.1") == [old]
    # new stores use larger pages (fewer page writes per row); an existing file keeps the ones it has
    assert store.db.execute("PRAGMA page_size").fetchone()[0] == 4096
    store.close()
    fresh = FlowStore(str(tmp_path / "new.db"))
    assert fresh.db.execute("PRAGMA page_size").fetchone()[0] == 8192
    fresh.close()


def test_rows_of_the_previous_version_json_arrays_with_a_shape_still_answer(tmp_path):
    path = str(tmp_path / "v2.db")
    store = FlowStore(path)  # today's schema, then rows as the previous version wrote them: JSON text
    store.close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO shapes (id, names) VALUES (5, ?)",
               (json.dumps(["sourceIPv4Address", "destinationIPv4Address", "packetTotalCount"]),))
    db.execute("INSERT INTO flows (id, src_ip, dst_ip, first_seen, last_seen, record, shape) "
               "VALUES (1, '10.2.2.1', '10.2.2.2', 1.0, 2.0, '[\"10.2.2.1\",\"10.2.2.2\",41]', 5)")
    db.commit()
    db.close()
    store = FlowStore(path)
    assert store.query() == [{"sourceIPv4Address": "10.2.2.1", "destinationIPv4Address": "10.2.2.2",
                              "packetTotalCount": 41}]
    store.close()


def test_rows_hold_the_values_marshalled_and_a_damaged_row_is_an_error_not_a_crash(tmp_path):
    path = str(tmp_path / "flows.db")
    store = FlowStore(path)
    store.write([flow(1, 10.0, sourceIPv4Address="10.0.0.1", destinationIPv4Address="10.0.0.2",
                      unknownElement=b"\x01\xab")])
    raw = sqlite3.connect(path)
    (blob,) = raw.execute("SELECT record FROM flows").fetchone()
    assert marshal.loads(blob) == ("10.0.0.1", "10.0.0.2", b"\x01\xab")
    # what the API and the JSON sinks make of raw bytes: lowercase hex
    assert json.loads(json.dumps(store.query(), default=jsonable)) == [
        {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "unknownElement": "01ab"}]
    raw.execute("UPDATE flows SET record = x'e3ff'")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="cannot be read|does not match its shape"):
        store.query()
    store.close()

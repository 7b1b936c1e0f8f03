"""Fuzzed input to the collector's entry points (the code every UDP datagram and TCP/TLS stream goes
through): random bytes and mutated valid messages are counted as rejected or decoded, never raise, never hang,
and never stop the next valid message from being decoded."""

import asyncio

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import frame_stream
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.encoder import MessageEncoder
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixDecodeError
from ansible_collections.netdiag.tracekit.services.flow_aggregator.collector import Collector
from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import FlowTable

RECORDS = [{"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "sourceTransportPort": 1234,
            "destinationTransportPort": 80, "protocolIdentifier": 6, "packetTotalCount": 3,
            "sourcePodName": "cli", "flowStartSeconds": 1700000000}]
VALID = MessageEncoder(observation_domain_id=5).encode(RECORDS)[0]
FUZZ = settings(max_examples=300, deadline=500, suppress_health_check=[HealthCheck.too_slow])


def _collector():
    table = FlowTable(1000, 60, 15)

    def on_records(records, ip, domain, _label):
        for record in records:
            try:
                table.add(record, ip, domain, 1.0)
            except (ValueError, TypeError):
                pass
    return Collector(on_records), table


@FUZZ
@given(st.binary(max_size=2000))
def test_random_datagrams(data):
    collector, _table = _collector()
    collector.message(data, ("udp", "127.0.0.1", 1), "fuzz", "127.0.0.1")
    assert collector.exporters.totals["received"] == 1
    assert collector.message(VALID, ("udp", "127.0.0.1", 2), "good", "127.0.0.1")
    assert collector.exporters.by_exporter["good"]["decoded"] == 1


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(VALID)))
def test_mutated_messages_then_a_valid_one_from_the_same_exporter(flips, cut):
    collector, table = _collector()
    data = bytearray(VALID)
    for index, value in flips:
        data[index] = value
    source = ("udp", "127.0.0.1", 9)
    collector.message(bytes(data[:cut] if cut else data), source, "fuzz", "127.0.0.1")
    collector.message(VALID, ("udp", "127.0.0.1", 10), "good", "127.0.0.1")
    assert collector.exporters.by_exporter["good"]["decoded"] == 1
    assert len(table) >= 1


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_stream_framing_never_raises_anything_else(chunks):
    buffer = b""
    for chunk in chunks + [VALID]:
        buffer += chunk
        try:
            messages, buffer = frame_stream(buffer)
        except IpfixDecodeError:
            return  # the collector closes such a stream
        assert all(isinstance(m, bytes) for m in messages)
        assert len(buffer) <= sum(len(c) for c in chunks) + len(VALID)


def test_udp_listener_survives_junk_end_to_end():
    """One real UDP socket: junk first, then a valid message from another exporter is decoded."""
    import socket

    async def run():
        collector, table = _collector()
        host, port = await collector.start_udp("127.0.0.1", 0)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for junk in (b"\x00\x0a\x00\x04", b"\xff" * 100, VALID[:30]):
            sock.sendto(junk, (host, port))
        sock.sendto(VALID, (host, port))
        for _attempt in range(100):
            await asyncio.sleep(0.01)
            if len(table):
                break
        collector.close()
        sock.close()
        return collector, table
    collector, table = asyncio.run(run())
    assert len(table) == 1
    assert collector.exporters.totals["rejected"] >= 2

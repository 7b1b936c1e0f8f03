"""Fuzz the IPFIX decoder (it reads from the network): random and mutated messages never crash, hang or grow it.

Every example runs under a hypothesis deadline and a hard SIGALRM bound (a hang would never reach the
deadline check), with bounded example counts so the whole file takes a few seconds.
"""

import contextlib
import signal
import socket
import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import DecodeResult, Decoder, frame_stream
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.encoder import MessageEncoder
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixDecodeError

FUZZ = settings(max_examples=1000, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
LIMITS = dict(max_templates_per_source=16, max_sources=4, max_fields_per_source=256)


@contextlib.contextmanager
def hard_time_limit(seconds=5):
    def expired(_signum, _frame):
        raise AssertionError("the decoder hung on this input")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def valid_messages():
    encoder = MessageEncoder(max_message_size=600)
    records = [
        {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "sourceTransportPort": 1,
         "destinationTransportPort": 80, "protocolIdentifier": 6, "octetTotalCount": 5, "sourcePodName": "web-0",
         "destinationPodNamespace": "default", "flowStartMilliseconds": 1700000000000},
        {"sourceIPv6Address": "fd00::1", "sourceMacAddress": "02:00:00:00:00:01", "tcpState": "x" * 300},
        {"flowStartMicroseconds": 1, "reversePacketTotalCount": 3, "e99id7": b"\x00\x01"},
    ]
    messages = encoder.encode(records * 3, export_time=1)
    messages += encoder.encode_options([{"exportingProcessId": 1, "exportedMessageTotalCount": 2}],
                                       scope=["exportingProcessId"])
    messages += encoder.withdraw_all()
    return messages


VALID = valid_messages()


def check(decoder, raw):
    try:
        result = decoder.decode(raw, "fuzz")
    except IpfixDecodeError as exc:
        assert exc.reason
        return None
    assert isinstance(result, DecodeResult)
    for record in result.records + result.options_records:
        assert isinstance(record, dict)
    assert all(isinstance(reason, str) for reason in result.rejected)
    assert len(result.rejected) <= decoder.max_reasons + 1
    assert len(decoder.templates("fuzz")) <= LIMITS["max_templates_per_source"]
    # the bookkeeping behind the bounds stays exact
    sessions = decoder._sources.values()  # pylint: disable=protected-access
    for session in sessions:
        assert session.field_count == sum(len(t.fields) for t in session.templates.values())
    assert decoder._field_total == sum(s.field_count for s in sessions)  # pylint: disable=protected-access
    return result


mutation = st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete", "length"]),
                     st.integers(0, 2000), st.binary(min_size=1, max_size=8))


def mutate(raw, operations):
    raw = bytearray(raw)
    for kind, position, payload in operations:
        if not raw:
            break
        position %= len(raw)
        if kind == "flip":
            raw[position] ^= payload[0] or 1
        elif kind == "truncate":
            del raw[position:]
        elif kind == "insert":
            raw[position:position] = payload
        elif kind == "delete":
            del raw[position:position + len(payload)]
        else:  # overwrite a 16-bit field: lengths, ids, field counts
            raw[position:position + 2] = payload[:2]
    return bytes(raw)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.lists(mutation, max_size=4)), min_size=1, max_size=6))
def test_mutated_valid_messages(plan):
    decoder = Decoder(**LIMITS)
    with hard_time_limit():
        for index, operations in plan:
            check(decoder, mutate(VALID[index], operations))


@FUZZ
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.binary(max_size=600))
def test_random_bodies_behind_a_valid_header(domain, sequence, body):
    decoder = Decoder(**LIMITS)
    raw = struct.pack("!HHIII", 10, 16 + len(body), 0, sequence, domain) + body
    with hard_time_limit():
        check(decoder, raw)
        check(decoder, raw)  # templates it may have defined, used again


set_strategy = st.tuples(st.integers(0, 300), st.integers(0, 80), st.binary(max_size=80))


@FUZZ
@given(st.lists(set_strategy, max_size=8))
def test_random_sets_with_lying_lengths(sets):
    """Template and data sets with arbitrary ids, declared lengths and contents."""
    body = b""
    for set_id, declared, content in sets:
        if set_id > 260:
            set_id = 256 + set_id % 4
        body += struct.pack("!HH", set_id, declared) + content
    decoder = Decoder(**LIMITS)
    raw = struct.pack("!HHIII", 10, 16 + len(body), 0, 0, 0) + body
    with hard_time_limit():
        check(decoder, VALID[0])
        check(decoder, raw)


@FUZZ
@given(st.binary(max_size=400), st.integers(1, 50))
def test_frame_stream_on_any_bytes(stream, chunk):
    with hard_time_limit():
        rest = b""
        try:
            for start in range(0, len(stream), chunk):
                messages, rest = frame_stream(rest + stream[start:start + chunk])
                assert all(len(m) >= 16 for m in messages)
        except IpfixDecodeError as exc:
            assert "stream out of step" in exc.reason


def value_strategy(data_type):
    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry

    size = registry.TYPE_LENGTHS[data_type]
    if data_type.startswith("unsigned") or data_type.startswith("dateTime"):
        return st.integers(0, 2 ** (8 * size) - 1) if data_type.startswith("unsigned") else \
            st.integers(0, 2 ** 32 - 1) if data_type == "dateTimeSeconds" else st.integers(0, 2 ** 62)
    if data_type == "string":
        return st.text(max_size=300)
    if data_type == "octetArray":
        return st.binary(max_size=300)
    if data_type == "ipv4Address":
        return st.ip_addresses(v=4).map(str)
    if data_type == "ipv6Address":  # as inet_ntop writes them (IPv4-mapped ones as ::ffff:1.2.3.4)
        return st.ip_addresses(v=6).map(lambda a: socket.inet_ntop(socket.AF_INET6, a.packed))
    if data_type == "macAddress":
        return st.binary(min_size=6, max_size=6).map(lambda raw: raw.hex(":"))
    raise AssertionError(data_type)


ROUND_TRIP_ELEMENTS = ["sourceIPv4Address", "sourceIPv6Address", "sourceMacAddress", "protocolIdentifier",
                       "sourceTransportPort", "ingressInterface", "octetDeltaCount", "flowStartSeconds",
                       "flowStartMilliseconds", "sourcePodName", "tcpState", "destinationPodName", "paddingOctets",
                       "reverseOctetTotalCount", "destinationClusterIPv6"]


@st.composite
def records(draw):
    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import registry

    names = draw(st.lists(st.sampled_from(ROUND_TRIP_ELEMENTS), min_size=1, max_size=8, unique=True))
    return dict((name, draw(value_strategy(registry.by_name(name).data_type))) for name in names)


@settings(max_examples=200, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=12))
def test_round_trip_and_slow_path_agree(batch):
    """Any records come back equal, through the compiled decoders and field by field alike."""
    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import decoder as decoder_module

    messages = MessageEncoder(max_message_size=1400).encode(batch)
    fast = Decoder()
    out = []
    for message in messages:
        result = fast.decode(message, "s")
        assert result.rejected == []
        out.extend(result.records)

    def canonical(record):
        return repr(sorted(record.items()))

    assert sorted(out, key=canonical) == sorted(batch, key=canonical)
    slow = Decoder()
    original = decoder_module.MAX_COMPILED_FIELDS
    decoder_module.MAX_COMPILED_FIELDS = 0  # every template decoded field by field
    try:
        slow_out = [r for message in messages for r in slow.decode(message, "s").records]
    finally:
        decoder_module.MAX_COMPILED_FIELDS = original
    assert slow_out == out

"""The NFT_MSG_TRACE decoder against messages a real kernel sent, and against anything else (fuzzed).

REAL_BUFFERS are five recv() buffers read from NFNLGRP_NFTRACE in a test namespace (kernel 6.18) while
``nft monitor trace`` ran beside; it printed, for the same packet (a TCP SYN 10.77.0.1:40000 -> 10.77.0.9:8080,
DSCP ef, IP ID 1234):

    trace id 9223cab0 inet tx o rule ip dscp ef ip id 1234 meta nftrace set 1 (verdict continue)
    trace id 9223cab0 inet tx o policy accept
    trace id 9223cab0 inet pol out rule tcp dport 8080 counter packets 0 bytes 0 jump deny (verdict jump deny)
    trace id 9223cab0 inet pol deny rule tcp dport 8080 counter packets 0 bytes 0 drop comment "default/deny-8080" (verdict drop)

and ``nft -a list ruleset`` gave the handles: tx o rule 2, pol out rule 3, pol deny rule 4.
"""

import struct

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace import ruleset, trace_decode
from ansible_collections.netdiag.tracekit.plugins.module_utils.nftrace.trace_decode import (
    TraceDecodeError, decode_stream, network_tag)

REAL_BUFFERS = [
    ("94000000110a000000000000000000000100000008000f00000000020800040000000003080006009223cab0060002006f0000000700010074780000"
     "0c00030000000000000000020c00050008000100ffffffff08000c000000000306000d00000100001800080045b8002804d20000400660a30a4d0001"
     "0a4d0009180009009c401f9000000001000000005002faf0e47c0000"),
    ("48000000110a000000000000000000000100000008000f00000000020800040000000003080006009223cab0060002006f0000000700010074780000"
     "0c00050008000100ffffffff"),
    ("44000000110a000000000000000000000100000008000f00000000020800040000000001080006009223cab0060002006f0000000700010074780000"
     "0800100000000001"),
    ("a0000000110a000000000000000000000100000008000f00000000020800040000000003080006009223cab0080002006f75740008000100706f6c00"
     "0c00030000000000000000031800050008000100fffffffd0900020064656e790000000008000c000000000306000d00000100001800080045b80028"
     "04d20000400660a30a4d00010a4d0009180009009c401f9000000001000000005002faf0e47c0000"),
    ("58000000110a000000000000000000000100000008000f00000000020800040000000003080006009223cab00900020064656e790000000008000100"
     "706f6c000c00030000000000000000040c0005000800010000000000"),
]


def _all():
    out = []
    for text in REAL_BUFFERS:
        msgs, errors = decode_stream(bytes.fromhex(text))
        assert errors == []
        out.extend(msgs)
    return out


def test_real_messages_decode_as_nft_monitor_printed_them():
    msgs = _all()
    assert {m["id"] for m in msgs} == {"9223cab0"}
    steps = [(m["table"], m["chain"], m["type"], m["handle"], m["verdict"], m["jump_target"]) for m in msgs]
    assert ("tx", "o", "rule", 2, "continue", None) in steps
    assert ("tx", "o", "policy", None, "accept", None) in steps
    assert ("pol", "out", "rule", 3, "jump", "deny") in steps
    assert steps[-1] == ("pol", "deny", "rule", 4, "drop", None)
    assert all(m["family"] == "inet" for m in msgs)


def test_the_first_message_of_a_hook_carries_the_packet_and_its_tag():
    first = [m for m in _all() if m["network_header"]]
    assert len(first) == 2          # one per base chain evaluated (tx o, pol out), as nft printed "packet:"
    assert network_tag(first[0]["network_header"]) == (4, 46, 1234)
    assert first[0]["transport_header"].startswith("9c401f90")      # ports 40000 -> 8080


def test_verdict_names_follow_the_kernel_codes():
    assert trace_decode.verdict_name(0) == "drop"
    assert trace_decode.verdict_name(1) == "accept"
    assert trace_decode.verdict_name(-3) == "jump"
    assert trace_decode.verdict_name((1 << 16) | 0) == "drop"     # NF_DROP_ERR(-EPERM): errno above, NF_DROP below
    assert trace_decode.verdict_name(-77).startswith("verdict")


def test_a_truncated_message_is_reported_not_raised():
    data = bytes.fromhex(REAL_BUFFERS[0])
    msgs, errors = decode_stream(data[:-7])
    assert msgs == [] and errors and "length" in errors[0]


def test_a_bad_attribute_length_is_reported_and_the_next_message_still_decodes():
    good = bytes.fromhex(REAL_BUFFERS[1])
    bad = bytearray(good)
    struct.pack_into("=H", bad, 20, 2)          # first attribute claims 2 bytes (< 4)
    msgs, errors = decode_stream(bytes(bad) + good)
    assert len(msgs) == 1 and len(errors) == 1 and "attribute" in errors[0]


def test_udata_comment_is_read_and_a_short_tlv_is_an_error():
    assert ruleset.udata_comment(b"\x00\x05abcd\x00") == "abcd"
    assert ruleset.udata_comment(b"\x01\x01x\x00\x03ok\x00") == "ok"
    assert ruleset.udata_comment(b"") is None
    try:
        ruleset.udata_comment(b"\x00\x09ab")
    except TraceDecodeError as exc:
        assert "TLV" in str(exc)
    else:
        raise AssertionError("a TLV longer than its data must be refused")


FUZZ = settings(max_examples=300, deadline=200, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_never_raise(data):
    msgs, errors = decode_stream(data)
    assert isinstance(msgs, list) and isinstance(errors, list)


@FUZZ
@given(st.integers(min_value=0, max_value=4), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                                       min_size=1, max_size=12))
def test_fuzz_mutated_real_messages_never_raise(which, flips):
    data = bytearray(bytes.fromhex(REAL_BUFFERS[which]))
    for pos, value in flips:
        data[pos % len(data)] = value
    msgs, errors = decode_stream(bytes(data))
    for msg in msgs:
        assert msg["table"] is None or len(msg["table"]) <= 256


@FUZZ
@given(st.binary(max_size=1024))
def test_fuzz_rule_dump_raises_only_its_own_error(data):
    try:
        ruleset.decode_rule_dump(data)
    except TraceDecodeError:
        pass


def test_many_messages_in_one_buffer_are_bounded():
    data = bytes.fromhex(REAL_BUFFERS[2]) * 50
    msgs, errors = decode_stream(data, max_messages=10)
    assert len(msgs) == 10 and "more than 10" in errors[-1]

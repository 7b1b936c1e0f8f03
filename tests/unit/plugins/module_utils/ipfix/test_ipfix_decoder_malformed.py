"""The decoder on malformed and hostile input: every class is rejected with a reason, nothing hangs or grows.

Messages are assembled here with struct from RFC 7011's layouts (not with our encoder), so each test
controls exactly which length or id is wrong. The PyPI ``ipfix`` package hangs on several of these
(zero set length, withdrawal then data, oversized string length): ours must answer at once.
"""

import re
import struct
import time

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import Decoder, frame_stream
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixDecodeError


def message(*sets, sequence=0, domain=0, length=None):
    body = b"".join(sets)
    total = 16 + len(body) if length is None else length
    return struct.pack("!HHIII", 10, total, 0, sequence, domain) + body


def a_set(set_id, body, length=None):
    return struct.pack("!HH", set_id, 4 + len(body) if length is None else length) + body


def template(template_id, *fields):
    """fields: (element id, length) or (element id, length, enterprise)."""
    out = struct.pack("!HH", template_id, len(fields))
    for field in fields:
        if len(field) == 3:
            out += struct.pack("!HHI", field[0] | 0x8000, field[1], field[2])
        else:
            out += struct.pack("!HH", *field)
    return out


# template 256: protocolIdentifier (1 octet), sourcePodName (56506/101, variable)
T256 = a_set(2, template(256, (4, 1), (101, 65535, 56506)))


def data(*records):
    return a_set(256, b"".join(records))


def rec(protocol, name):
    raw = name.encode()
    return bytes((protocol, len(raw))) + raw


def decode(*messages, decoder=None):
    decoder = decoder or Decoder()
    started = time.monotonic()
    results = [decoder.decode(m, "exporter") for m in messages]
    assert time.monotonic() - started < 2, "the decoder took too long"
    return results[-1]


def test_zero_set_length_ends_the_message_and_keeps_what_came_before():
    result = decode(message(T256, data(rec(6, "a")), a_set(256, b"", length=0), data(rec(17, "b"))))
    assert result.records == [{"protocolIdentifier": 6, "sourcePodName": "a"}]
    assert result.rejected == ["set 256 at offset 43 has length 0 (under 4): rest of the message dropped"]


def test_short_set_length():
    result = decode(message(T256, a_set(256, b"\x06\x00", length=2)))
    assert result.records == []
    assert "has length 2 (under 4)" in result.rejected[0]


def test_set_length_past_the_message_end():
    result = decode(message(T256, a_set(256, rec(6, "a"), length=200)))
    assert result.records == []
    assert result.rejected == ["set 256 at offset 36 has length 200, past the message end (43): rest of the "
                               "message dropped"]


@pytest.mark.parametrize("raw, reason", [
    (b"", "0 octets are shorter than the 16-octet IPFIX message header"),
    (b"\x00\x0a\x00", "3 octets are shorter"),
    (struct.pack("!HHIII", 9, 16, 0, 0, 0), "version 9 is not IPFIX (10)"),
    (struct.pack("!HHIII", 10, 8, 0, 0, 0), "message length 8 is under the 16-octet header"),
    (struct.pack("!HHIII", 10, 100, 0, 0, 0), "message length 100 runs past the 16 octets received"),
])
def test_messages_that_cannot_be_framed_raise(raw, reason):
    with pytest.raises(IpfixDecodeError, match=re.escape(reason)) as info:
        Decoder().decode(raw, "x")
    assert info.value.reason.startswith(reason[:10])


def test_unknown_template():
    result = decode(message(data(rec(6, "a"))))
    assert result.records == []
    assert result.rejected == ["data set of 3 octets for unknown template 256 (observation domain 0): dropped"]


def test_templates_are_per_exporter_and_domain():
    decoder = Decoder()
    decode(message(T256), decoder=decoder)
    other_domain = decoder.decode(message(data(rec(6, "a")), domain=1), "exporter")
    other_source = decoder.decode(message(data(rec(6, "a"))), "someone else")
    assert other_domain.records == other_source.records == []
    assert decoder.decode(message(data(rec(6, "a"))), "exporter").records


def test_withdrawal_then_data():
    decoder = Decoder()
    result = decode(message(T256, a_set(2, struct.pack("!HH", 256, 0)), data(rec(6, "a"))), decoder=decoder)
    assert result.withdrawn == [256]
    assert result.records == []
    assert "unknown template 256" in result.rejected[0]
    # all-templates withdrawal (template id 2), then data
    result = decode(message(T256), message(a_set(2, struct.pack("!HH", 2, 0)), data(rec(6, "a"))), decoder=decoder)
    assert result.records == [] and "unknown template 256" in result.rejected[0]


def test_withdrawal_of_unknown_or_reserved_ids():
    result = decode(message(a_set(2, struct.pack("!HH", 300, 0) + struct.pack("!HH", 5, 0))))
    assert result.rejected == ["withdrawal of unknown template 300 ignored",
                               "withdrawal of reserved template id 5 ignored"]


def test_huge_string_length_past_the_set():
    # 0xff then 65535: a string longer than anything that follows
    result = decode(message(T256, data(rec(6, "ok"), b"\x06\xff\xff\xff" + b"x" * 20)))
    assert result.records == [{"protocolIdentifier": 6, "sourcePodName": "ok"}]
    assert result.rejected == ["data set of template 256: record 1 truncated (sourcePodName needs 65535 octets, "
                               "20 left): rest of the set dropped"]


def test_truncated_string_and_truncated_long_length():
    result = decode(message(T256, data(b"\x06\x0aabc")))
    assert "record 0 truncated (sourcePodName needs 10 octets, 3 left)" in result.rejected[0]
    result = decode(message(T256, data(b"\x06\xff\x01")))
    assert "record 0 truncated" in result.rejected[0]


def test_largest_string_that_fits_is_read():
    name = "n" * 65000
    result = decode(message(T256, data(b"\x06\xff" + struct.pack("!H", len(name)) + name.encode())))
    assert result.records == [{"protocolIdentifier": 6, "sourcePodName": name}]


def test_invalid_utf8_drops_only_that_record():
    result = decode(message(T256, data(rec(6, "a"), b"\x06\x02\xff\xfe", rec(17, "c"))))
    assert [r["sourcePodName"] for r in result.records] == ["a", "c"]
    assert result.rejected[0].startswith("data set of template 256: record 1 dropped, sourcePodName: not UTF-8")


def test_padding_shorter_than_a_record_is_ignored():
    # a fixed template of 6 octets and 3 octets of padding
    t = a_set(2, template(257, (7, 2), (8, 4)))
    result = decode(message(t, a_set(257, b"\x00\x50\x0a\x00\x00\x01" + b"\x00" * 3)))
    assert result.records == [{"sourceTransportPort": 80, "sourceIPv4Address": "10.0.0.1"}]
    assert result.rejected == []


@pytest.mark.parametrize("body, reason", [
    (template(256, (8, 8)), "template 256: field 0 (sourceIPv4Address) ipv4Address takes 4 octets, not 8: dropped"),
    (template(256, (1, 9)), "template 256: field 0 (octetDeltaCount) unsigned64 takes 1 to 8 octets, not 9"),
    (template(256, (4, 0)), "template 256: field 0 (protocolIdentifier) unsigned8 takes 1 to 1 octets, not 0"),
    (template(256, (210, 0)), "template 256 describes records of 0 octets: dropped"),
    (template(100, (4, 1)), "template 100: template ids under 256 are reserved: dropped"),
    (struct.pack("!HH", 256, 5) + struct.pack("!HH", 4, 1), "template 256 declares 5 fields but the set ends after 1"),
    (struct.pack("!HH", 256, 1) + struct.pack("!HH", 0x8004, 1) + b"\x00\x00",
     "template 256 declares 1 fields but the set ends after 0"),
])
def test_bad_templates(body, reason):
    result = decode(message(a_set(2, body)))
    assert result.template_ids == []
    assert result.rejected[0].startswith(reason), result.rejected


def test_bad_options_templates():
    no_scope = struct.pack("!HHH", 256, 1, 0) + struct.pack("!HH", 144, 4)
    result = decode(message(a_set(3, no_scope)))
    assert result.rejected == ["options template 256: scope field count 0 must be 1 to 1: dropped"]
    result = decode(message(a_set(3, struct.pack("!HH", 256, 1))))
    assert result.rejected == ["options template 256 truncated in its header: rest of the set dropped"]


def test_reserved_set_ids_are_skipped():
    result = decode(message(a_set(1, b"\x00" * 8), T256, data(rec(6, "a"))))
    assert result.rejected == ["set id 1 at offset 16 is reserved: set skipped"]
    assert result.records == [{"protocolIdentifier": 6, "sourcePodName": "a"}]


def test_trailing_octets_after_the_message():
    result = decode(message(T256) + b"junk")
    assert result.rejected == ["4 octets after the message end ignored"]


def test_template_flood_from_one_exporter_is_bounded():
    decoder = Decoder(max_templates_per_source=50)
    sets = [a_set(2, b"".join(template(256 + i * 10 + j, (4, 1)) for j in range(10))) for i in range(30)]
    for start in range(0, 30, 5):
        decoder.decode(message(*sets[start:start + 5]), "flooder")
    assert len(decoder.templates("flooder")) == 50
    result = decoder.decode(message(a_set(2, template(5000, (4, 1)))), "flooder")
    assert result.rejected == ["template 5000: this exporter already has 50 templates (max_templates_per_source): "
                               "dropped"]
    # a known template may still be refreshed, and another exporter is not affected
    assert decoder.decode(message(a_set(2, template(256, (4, 1)))), "flooder").template_ids == [256]
    assert decoder.decode(message(T256), "honest").template_ids == [256]


def test_field_budget_per_exporter():
    decoder = Decoder(max_fields_per_source=100)
    wide = template(256, *[(4, 1)] * 80)
    assert decoder.decode(message(a_set(2, wide)), "x").template_ids == [256]
    result = decoder.decode(message(a_set(2, template(257, *[(4, 1)] * 30))), "x")
    assert "would hold 110 fields (max_fields_per_source 100)" in result.rejected[0]


def test_exporter_flood_forgets_the_least_recently_heard():
    decoder = Decoder(max_sources=3)
    for name in ("a", "b", "c"):
        decoder.decode(message(T256), name)
    decoder.decode(message(T256), "a")  # a is recent again
    result = decoder.decode(message(T256), "d")
    assert result.rejected == ["forgot the templates of exporter 'b', the least recently heard of more than 3 "
                               "(max_sources)"]
    assert sorted(decoder.sources()) == ["a", "c", "d"]


def test_rejection_reasons_per_message_are_bounded():
    bad = b"\x06\x02\xff\xfe" * 1000
    result = decode(message(T256, data(bad)), decoder=Decoder(max_reasons=5))
    assert len(result.rejected) == 6
    assert result.rejected[-1] == "... and 995 more rejections in this message"


def test_sequence_gaps_and_reordering():
    decoder = Decoder()
    decoder.decode(message(T256, data(rec(6, "a"))), "s")
    assert decoder.decode(message(data(rec(6, "b")), sequence=1), "s").missing == 0
    assert decoder.decode(message(data(rec(6, "c")), sequence=10), "s").missing == 8
    assert decoder.decode(message(data(rec(6, "d")), sequence=5), "s").missing == 0  # late or duplicate


def test_large_templates_are_decoded_without_compiling():
    fields = [(4, 1)] * 300 + [(82, 65535)]
    result = decode(message(a_set(2, template(256, *fields)), a_set(256, bytes(300) + b"\x02hi")))
    assert result.records == [{"protocolIdentifier": 0, "interfaceName": "hi"}]


@pytest.mark.parametrize("stream, reason", [
    (b"\x00\x09" + b"\x00" * 14, "stream out of step at offset 0: version 9 is not IPFIX (10)"),
    (struct.pack("!HHIII", 10, 4, 0, 0, 0), "message length 4 is under 16"),
])
def test_frame_stream_out_of_step(stream, reason):
    with pytest.raises(IpfixDecodeError, match=re.escape(reason)):
        frame_stream(stream)


def test_total_field_budget_forgets_the_least_recently_heard_exporters():
    decoder = Decoder(max_fields=250)
    wide = a_set(2, template(256, *[(4, 1)] * 100))
    for name in ("a", "b"):
        assert decoder.decode(message(wide), name).template_ids == [256]
    result = decoder.decode(message(wide), "c")
    assert result.template_ids == [256]
    assert result.rejected == ["forgot the templates of exporter 'a', the least recently heard, to stay under 250 "
                               "template fields (max_fields)"]
    assert sorted(decoder.sources()) == ["b", "c"]
    # one exporter alone cannot pass the budget
    result = decoder.decode(message(a_set(2, template(257, *[(4, 1)] * 200))), "c")
    assert result.template_ids == [] and "(max_fields): dropped" in result.rejected[-1]
    # withdrawing gives the room back
    decoder.decode(message(a_set(2, struct.pack("!HH", 256, 0))), "c")
    decoder.forget("b")
    assert decoder.decode(message(a_set(2, template(257, *[(4, 1)] * 200))), "c").template_ids == [257]

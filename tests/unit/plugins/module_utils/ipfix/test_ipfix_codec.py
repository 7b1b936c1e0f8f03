"""IPFIX encoder and decoder on valid data: byte layouts written by hand from RFC 7011, and round trips.

Expected bytes are built here field by field from the RFC's figures (message header 3.1, set header 3.3.2,
template record 3.4.1, options template record 3.4.2, field specifier 3.2, variable-length encoding 7),
never from the encoder's own output.
"""

import time

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import Decoder, frame_stream
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.encoder import MessageEncoder
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError


def h(*parts):
    return bytes.fromhex("".join(parts).replace(" ", ""))


# Version 10, length 68, export time 1700000000 (0x6553f100), sequence 0, observation domain 5.
# Template set (2), 28 octets: template 256 with 4 fields; sourceIPv4Address (8) 4 octets,
# destinationTransportPort (11) 2, octetDeltaCount (1) 8, sourcePodName 56506/101 (enterprise bit set:
# 0x8065) variable (0xffff) with enterprise number 56506 (0x0000dcba).
# Data set (256), 24 octets: 192.0.2.1, 443, 1000, then "web-1" with a 1-octet length prefix.
FIRST_MESSAGE = h(
    "000a 0044 6553f100 00000000 00000005",
    "0002 001c 0100 0004 0008 0004 000b 0002 0001 0008 8065 ffff 0000dcba",
    "0100 0018 c0000201 01bb 00000000000003e8 05 7765622d31",
)
RECORD = {"sourceIPv4Address": "192.0.2.1", "destinationTransportPort": 443, "octetDeltaCount": 1000,
          "sourcePodName": "web-1"}


def test_encoder_writes_the_rfc_layout():
    encoder = MessageEncoder(observation_domain_id=5)
    assert encoder.encode([RECORD], export_time=1700000000) == [FIRST_MESSAGE]
    # Next message: no template set, sequence number 1 (one data record sent before it).
    second = dict(RECORD, sourcePodName="")
    assert encoder.encode([second, second], export_time=1700000001) == [h(
        "000a 0032 6553f101 00000001 00000005",
        "0100 0022 c0000201 01bb 00000000000003e8 00 c0000201 01bb 00000000000003e8 00",
    )]
    assert encoder.sequence == 3


def test_decoder_reads_the_rfc_layout():
    result = Decoder().decode(FIRST_MESSAGE, "exporter")
    assert result.records == [RECORD]
    assert (result.export_time, result.sequence, result.observation_domain_id) == (1700000000, 0, 5)
    assert result.template_ids == [256]
    assert result.rejected == [] and result.missing == 0


def test_fixed_fields_go_first_and_long_strings_take_three_length_octets():
    encoder = MessageEncoder()
    name = "p" * 300
    message = encoder.encode([{"sourcePodName": name, "protocolIdentifier": 17}], export_time=0)[0]
    # template 256: protocolIdentifier (4, 1 octet) first, then the string; data: 0x11, 0xff 0x012c, 300 octets
    assert message[16:16 + 20] == h("0002 0014 0100 0002 0004 0001 8065 ffff 0000dcba")
    assert message[36:36 + 8] == h("0100", "%04x" % (4 + 1 + 3 + 300), "11 ff012c")
    assert Decoder().decode(message).records == [{"protocolIdentifier": 17, "sourcePodName": name}]


def test_types_decode_from_hand_written_records():
    """Every abstract type, reduced-size encoding (RFC 7011 6.2) and an unknown enterprise element."""
    template = h(
        "0002 0048 0111 000d",  # 72 octets: 4 + 4 + 13 specifiers of 4 + 3 enterprise numbers of 4
        "0001 0004",  # octetDeltaCount (unsigned64) in 4 octets
        "0002 0003",  # packetDeltaCount (unsigned64) in 3 octets
        "001b 0010",  # sourceIPv6Address
        "0038 0006",  # sourceMacAddress
        "0096 0004",  # flowStartSeconds
        "0098 0008",  # flowStartMilliseconds
        "009a 0008",  # flowStartMicroseconds (NTP format)
        "8064 0008 0000dcba",  # sourcePodNamespace, a string in a fixed 8 octets (NUL padded)
        "8fff 0002 00003039",  # unknown element 4095 of enterprise 12345
        "0052 ffff",  # interfaceName, variable length
        "0004 0001",  # protocolIdentifier
        "f0f0 0001 0000dcba",  # unknown 56506 element 0x70f0, 1 octet
        "00d2 0000",  # paddingOctets (octetArray) of 0 octets
    )
    ntp = (1700000000 + 2208988800) << 32 | (1 << 31)  # half a second past
    data = h(
        "000f4240",  # 1000000
        "010000",  # 65536
        "20010db8000000000000000000000001",
        "0a1b2c3d4e5f",
        "6553f100",
        "0000018bcfe56800",  # 1700000000000
        "%016x" % ntp,
        "64656661756c7400",  # "default\0"
        "beef",
        "04 65746830",  # "eth0"
        "06",
        "7f",
    )
    data_set = h("0111", "%04x" % (4 + len(data)), data.hex())
    body = template + data_set
    message = h("000a", "%04x" % (16 + len(body)), "00000000 00000000 00000000", body.hex())
    result = Decoder().decode(message)
    assert result.rejected == []
    assert result.records == [{
        "octetDeltaCount": 1000000, "packetDeltaCount": 65536, "sourceIPv6Address": "2001:db8::1",
        "sourceMacAddress": "0a:1b:2c:3d:4e:5f", "flowStartSeconds": 1700000000,
        "flowStartMilliseconds": 1700000000000, "flowStartMicroseconds": 1700000000500000,
        "sourcePodNamespace": "default", "e12345id4095": b"\xbe\xef", "interfaceName": "eth0",
        "protocolIdentifier": 6, "e56506id28912": b"\x7f", "paddingOctets": b"",
    }]


def test_signed_float_and_boolean_values():
    records = [{"octetDeltaCount": 1, "reverseOctetDeltaCount": 2}]
    encoder = MessageEncoder()
    assert Decoder().decode(encoder.encode(records)[0]).records == records
    # booleans are 1 (true) and 2 (false); a float64 reduced to 4 octets; a signed32 reduced to 2 octets.
    from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix import _fields
    assert _fields.encode_value("boolean", True) == b"\x01"
    assert _fields.encode_value("boolean", False) == b"\x02"
    assert _fields.decode_value("boolean", b"\x02") is False
    assert _fields.decode_value("float64", h("3fc00000")) == 1.5
    assert _fields.decode_value("signed32", h("ff38")) == -200
    assert _fields.decode_value("signed64", h("fffffffffffffffe")) == -2


def test_options_template_layout_and_decoding():
    encoder = MessageEncoder(observation_domain_id=1)
    messages = encoder.encode_options([{"exportingProcessId": 7, "exportedFlowRecordTotalCount": 99}],
                                      scope=["exportingProcessId"], export_time=0)
    # options template set (3), 18 octets: template 256, 2 fields, 1 scope field: exportingProcessId (144,
    # 4 octets), exportedFlowRecordTotalCount (42, 8 octets); data set 256: 7, 99.
    assert messages == [h(
        "000a 0032 00000000 00000000 00000001",
        "0003 0012 0100 0002 0001 0090 0004 002a 0008",
        "0100 0010 00000007 0000000000000063",
    )]
    message = messages[0]
    result = Decoder().decode(message)
    assert result.records == []
    assert result.options_records == [{"exportingProcessId": 7, "exportedFlowRecordTotalCount": 99}]


def test_round_trip_antrea_records_ipv4_and_ipv6():
    v4 = {"flowStartSeconds": 1700000000, "flowEndSeconds": 1700000060, "flowEndReason": 3,
          "sourceIPv4Address": "10.244.1.5", "destinationIPv4Address": "10.244.2.9", "sourceTransportPort": 40000,
          "destinationTransportPort": 8080, "protocolIdentifier": 6, "packetTotalCount": 2 ** 64 - 1,
          "octetTotalCount": 0, "reversePacketTotalCount": 5, "reverseOctetTotalCount": 700,
          "sourcePodNamespace": "default", "sourcePodName": "client-\u00e9\u4e2d", "destinationPodNamespace": "web",
          "destinationPodName": "", "destinationClusterIPv4": "10.96.0.10", "destinationServicePort": 80,
          "ingressNetworkPolicyRuleAction": 2, "tcpState": "TIME_WAIT", "flowType": 2}
    v6 = {"sourceIPv6Address": "fd00::5", "destinationIPv6Address": "fd00::1:9", "sourceTransportPort": 1,
          "destinationTransportPort": 53, "protocolIdentifier": 17, "destinationClusterIPv6": "fd00:96::a",
          "sourceMacAddress": "02:00:00:00:00:01", "flowEndMilliseconds": 1700000000999,
          "flowStartNanoseconds": 1700000000123456789}
    encoder = MessageEncoder(max_message_size=200)
    records = [v4, v6, dict(v4, sourceTransportPort=1), v6]
    decoder = Decoder()
    out = []
    for message in encoder.encode(records):
        assert len(message) <= 200
        out.extend(decoder.decode(message, "s").records)
    assert sorted(out, key=repr) == sorted(records, key=repr)


def test_messages_split_under_the_size_limit_with_a_continuous_sequence():
    records = [{"sourceIPv4Address": "10.0.0.%d" % (i % 250), "packetDeltaCount": i, "sourcePodName": "p%d" % i}
               for i in range(1000)]
    encoder = MessageEncoder(max_message_size=512)
    messages = encoder.encode(records, export_time=1)
    assert len(messages) > 1 and all(len(m) <= 512 for m in messages)
    decoder = Decoder()
    expected_sequence = 0
    out = []
    for message in messages:
        result = decoder.decode(message, "s")
        assert result.sequence == expected_sequence and result.missing == 0 and not result.rejected
        expected_sequence += len(result.records)
        out.extend(result.records)
    assert out == records
    assert encoder.sequence == 1000


def test_lost_messages_show_up_as_missing_records():
    encoder = MessageEncoder(max_message_size=128)
    messages = encoder.encode([{"packetDeltaCount": i} for i in range(100)])
    decoder = Decoder()
    decoder.decode(messages[0], "s")
    per_message = len(decoder.decode(messages[1], "s").records)
    result = decoder.decode(messages[3], "s")  # message 2 lost
    assert result.missing == per_message


def test_templates_are_sent_again_when_the_refresh_is_due(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    encoder = MessageEncoder(template_refresh=600)
    record = {"sourceIPv4Address": "10.0.0.1", "packetDeltaCount": 1}
    first = encoder.encode([record])[0]
    assert first[16:18] == h("0002")
    clock[0] += 599
    assert encoder.encode([record])[0][16:18] == h("0100")  # data only
    clock[0] += 2
    again = encoder.encode([record])[0]
    assert again[16:18] == h("0002")  # template set first, again
    # A collector that lost the first message learns the template from the refresh.
    assert Decoder().decode(again).records == [record]


def test_template_messages_and_withdraw_all():
    encoder = MessageEncoder()
    encoder.encode([{"packetDeltaCount": 1}, {"octetDeltaCount": 2}])
    templates = encoder.template_messages(export_time=0)
    decoder = Decoder()
    assert decoder.decode(templates[0], "tcp").template_ids == [256, 257]
    withdrawal = encoder.withdraw_all(export_time=0)
    # template id 2 in a template set and 3 in an options template set, field count 0 (RFC 7011 8.1)
    assert withdrawal[0][16:] == h("0002 0008 0002 0000 0003 0008 0003 0000")
    result = decoder.decode(withdrawal[0], "tcp")
    assert sorted(result.withdrawn) == [256, 257]
    assert decoder.templates("tcp") == {}


def test_key_order_does_not_make_a_new_template():
    encoder = MessageEncoder()
    encoder.encode([{"packetDeltaCount": 1, "octetDeltaCount": 2}])
    message = encoder.encode([{"octetDeltaCount": 2, "packetDeltaCount": 1}])[0]
    assert message[16:18] == h("0100")


@pytest.mark.parametrize("record, message", [
    ({"sourcePodNme": "x"}, "unknown IPFIX information element 'sourcePodNme'"),
    ({"sourceTransportPort": 70000}, "sourceTransportPort=70000 is not a valid unsigned16"),
    ({"sourceIPv4Address": "10.0.0.256"}, "sourceIPv4Address='10.0.0.256' is not a valid ipv4Address"),
    ({"sourceIPv4Address": "fd00::1"}, "sourceIPv4Address='fd00::1' is not a valid ipv4Address"),
    ({"sourcePodName": None}, "sourcePodName=None is not a valid string"),
    ({"packetDeltaCount": -1}, "packetDeltaCount=-1 is not a valid unsigned64"),
    ({"paddingOctets": "text"}, "paddingOctets='text' is not a valid octetArray"),
    ({"sourcePodName": "x" * 2000}, "does not fit max_message_size 1400"),
])
def test_encoder_says_which_field_is_wrong(record, message):
    with pytest.raises(IpfixError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MessageEncoder().encode([{"protocolIdentifier": 6}, dict(record, protocolIdentifier=6)])


def test_frame_stream_splits_and_keeps_the_partial_message():
    encoder = MessageEncoder()
    messages = encoder.encode([{"packetDeltaCount": i} for i in range(3)])
    messages += encoder.encode([{"packetDeltaCount": 9}])
    stream = b"".join(messages)
    whole, rest = frame_stream(stream[:-3])
    assert whole == messages[:-1] and rest == messages[-1][:-3]
    whole, rest = frame_stream(rest + messages[-1][-3:])
    assert whole == messages[-1:] and rest == b""


def test_a_bad_record_leaves_the_encoder_as_it_was():
    encoder = MessageEncoder(max_message_size=128)
    good = [{"packetDeltaCount": i, "sourcePodName": "p"} for i in range(50)]
    with pytest.raises(IpfixError, match="flow record 50 cannot be encoded: sourceTransportPort=-1"):
        encoder.encode(good + [{"sourceTransportPort": -1}])
    assert encoder.sequence == 0
    messages = encoder.encode(good)
    decoder = Decoder()
    result = decoder.decode(messages[0], "s")
    assert result.template_ids == [256] and result.sequence == 0  # the template is still sent first
    assert sum(len(decoder.decode(m, "s").records) for m in messages[1:]) + len(result.records) == 50

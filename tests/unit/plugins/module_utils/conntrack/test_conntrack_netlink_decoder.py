"""The lean ctnetlink decoder on messages built here by hand from the kernel's UAPI layout
(include/uapi/linux/netfilter/nfnetlink_conntrack.h: attribute numbers; payloads in network byte order)."""

import socket
import struct

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.errors import ConntrackError
from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.netlink import decode_messages, dump_request

NESTED = 0x8000


def nla(kind, payload, nested=False):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind | (NESTED if nested else 0)) + payload + b"\0" * ((4 - length % 4) % 4)


def tuple_attr(kind, family, src, dst, proto, sport=None, dport=None, icmp=None, zone=None):
    fam = socket.AF_INET6 if family == 6 else socket.AF_INET
    base = 3 if family == 6 else 1
    ip = nla(base, socket.inet_pton(fam, src)) + nla(base + 1, socket.inet_pton(fam, dst))
    pr = nla(1, bytes([proto]))
    if sport is not None:
        pr += nla(2, struct.pack(">H", sport)) + nla(3, struct.pack(">H", dport))
    if icmp is not None:
        off = 3 if family == 6 else 0
        pr += nla(4 + off, struct.pack(">H", icmp[2])) + nla(5 + off, bytes([icmp[0]])) + nla(6 + off, bytes([icmp[1]]))
    body = nla(1, ip, True) + nla(2, pr, True)
    if zone is not None:
        body += nla(3, struct.pack(">H", zone))
    return nla(kind, body, True)


def message(attrs, family=socket.AF_INET, msg=0, flags=0):
    payload = struct.pack("=BBH", family, 0, 0) + attrs
    return struct.pack("=IHHII", 16 + len(payload), (1 << 8) | msg, flags, 1, 0) + payload


def counters(kind, packets, octets):
    return nla(kind, nla(1, struct.pack(">Q", packets)) + nla(2, struct.pack(">Q", octets)), True)


DONE = struct.pack("=IHHII", 20, 3, 2, 1, 0) + b"\0\0\0\0"


def tcp_dnat_entry():
    return (tuple_attr(1, 4, "10.0.0.1", "10.96.0.10", 6, 40000, 80)
            + tuple_attr(2, 4, "10.244.2.10", "10.0.0.1", 6, 8080, 40000)
            + nla(3, struct.pack(">I", 0b100101110))           # SEEN_REPLY ASSURED CONFIRMED DST_NAT DST_NAT_DONE
            + nla(4, nla(1, nla(1, bytes([3])), True), True)    # ESTABLISHED
            + nla(7, struct.pack(">I", 431999)) + nla(8, struct.pack(">I", 0x2a))
            + counters(9, 5, 300) + counters(10, 4, 250) + nla(12, struct.pack(">I", 77))
            + nla(18, struct.pack(">H", 3))
            + nla(20, nla(1, struct.pack(">Q", 1700000000123456789)), True))


def test_tcp_dnat_entry_with_counters_zone_mark_timestamp():
    (flow,), done = decode_messages(message(tcp_dnat_entry()) + DONE)
    assert done
    assert flow["original"] == {"src": "10.0.0.1", "dst": "10.96.0.10", "src_port": 40000, "dst_port": 80}
    assert flow["reply"] == {"src": "10.244.2.10", "dst": "10.0.0.1", "src_port": 8080, "dst_port": 40000}
    assert flow["nat"] == ["dnat"] and flow["destinationClusterIPv4"] == "10.96.0.10"
    assert flow["destinationIPv4Address"] == "10.244.2.10" and flow["destinationTransportPort"] == 8080
    assert flow["status"] == ["SEEN_REPLY", "ASSURED", "CONFIRMED", "DST_NAT", "DST_NAT_DONE"]
    assert flow["tcpState"] == "ESTABLISHED" and flow["timeout"] == 431999 and flow["mark"] == 42
    assert flow["zone"] == 3 and flow["id"] == 77 and flow["accounting"] is True
    assert (flow["packetTotalCount"], flow["octetTotalCount"]) == (5, 300)
    assert (flow["reversePacketTotalCount"], flow["reverseOctetTotalCount"]) == (4, 250)
    assert flow["flowStartSeconds"] == 1700000000 and flow["flowStartMilliseconds"] == 1700000000123


def test_icmpv6_unreplied_without_accounting_and_destroy_event():
    attrs = (tuple_attr(1, 6, "fd00::1", "fd00::2", 58, icmp=(128, 0, 9))
             + tuple_attr(2, 6, "fd00::2", "fd00::1", 58, icmp=(129, 0, 9))
             + nla(3, struct.pack(">I", 0b1000)))
    (flow,), _done = decode_messages(message(attrs, socket.AF_INET6, msg=2), events=True)
    assert flow["event"] == "DESTROY" and flow["family"] == "ipv6"
    assert flow["original"] == {"src": "fd00::1", "dst": "fd00::2", "icmp_id": 9, "icmp_type": 128, "icmp_code": 0}
    assert flow["status"] == ["CONFIRMED", "UNREPLIED"] and flow["accounting"] is False
    assert flow["packetTotalCount"] is None and flow["tcpState"] is None and flow["nat"] == []


def test_new_and_update_events_by_flags():
    new = message(tcp_dnat_entry(), flags=0x400 | 0x200)
    update = message(tcp_dnat_entry(), flags=0)
    flows, _done = decode_messages(new + update, events=True)
    assert [f["event"] for f in flows] == ["NEW", "UPDATE"]


def test_kernel_error_and_truncation_raise():
    err = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", -1) + b"\0" * 16
    with pytest.raises(ConntrackError, match="refused"):
        decode_messages(err)
    with pytest.raises(ConntrackError):
        decode_messages(message(tcp_dnat_entry())[:-7])


def test_a_nested_attribute_past_its_parent_is_named_not_read_from_the_next_one():
    # the counters' packets attribute claims 40 octets inside a 16-octet parent: the bytes after it belong to
    # the next attribute, so reading them would give a wrong count
    bad = struct.pack("=HH", 40, 1) + struct.pack(">Q", 5)
    attrs = (tuple_attr(1, 4, "10.0.0.1", "10.0.0.2", 6, 1, 2) + tuple_attr(2, 4, "10.0.0.2", "10.0.0.1", 6, 2, 1)
             + nla(9, bad, True) + nla(12, struct.pack(">I", 7)) + nla(8, struct.pack(">I", 1)))
    with pytest.raises(ConntrackError, match="malformed counter attribute"):
        decode_messages(message(attrs))


def test_dump_request_layout():
    req = dump_request(socket.AF_INET6, seq=5)
    assert struct.unpack("=IHHII", req[:16]) == (20, 0x101, 0x301, 5, 0) and req[16] == socket.AF_INET6


@settings(max_examples=300, deadline=200)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=400))
def test_fuzz_garbage_and_cut_messages_only_raise_conntrack_error(noise, cut):
    good = message(tcp_dnat_entry())
    for data in (noise, good[:cut] + noise, good[:16] + noise):
        try:
            decode_messages(data, events=True)
        except ConntrackError:
            pass


@settings(max_examples=300, deadline=200)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=500), st.integers(min_value=0, max_value=255)),
                min_size=1, max_size=8))
def test_fuzz_mutated_entries_only_raise_conntrack_error(edits):
    data = bytearray(message(tcp_dnat_entry()) + message(tcp_dnat_entry(), flags=0x600))
    for pos, value in edits:
        data[pos % len(data)] = value
    try:
        flows, _done = decode_messages(bytes(data), events=True)
    except ConntrackError:
        return
    assert len(flows) <= 2


def test_compiled_layouts_give_what_the_generic_decoder_gives():
    from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack import netlink
    icmp6 = (tuple_attr(1, 6, "fd00::1", "fd00::2", 58, icmp=(128, 0, 9))
             + tuple_attr(2, 6, "fd00::2", "fd00::1", 58, icmp=(129, 0, 9)) + nla(3, struct.pack(">I", 0b1010)))
    udp_zone = (tuple_attr(1, 4, "10.0.0.1", "10.0.0.2", 17, 5000, 53, zone=4)
                + tuple_attr(2, 4, "10.0.0.2", "10.0.0.9", 17, 53, 5000, zone=4) + nla(7, struct.pack(">I", 30)))
    for attrs, family in ((tcp_dnat_entry(), socket.AF_INET), (icmp6, socket.AF_INET6), (udp_zone, socket.AF_INET)):
        netlink._SHAPES.clear()
        msg = message(attrs, family)
        expected = netlink.decode_entry(msg, 20, len(msg), family)
        first, _done = decode_messages(msg)             # learns the layout
        assert netlink._SHAPES[(len(msg), family)][0] is not None
        second, _done = decode_messages(msg)            # uses it
        assert first == second == [expected]
    # same length and family, different attributes: the header check sends it to the generic decoder
    netlink._SHAPES.clear()
    a = message(tcp_dnat_entry())
    b = bytearray(a)
    b[a.index(struct.pack(">I", 431999)) - 2] = 8      # the timeout attribute becomes a mark
    decode_messages(a)
    (flow,), _done = decode_messages(bytes(b))
    assert flow["timeout"] is None and flow["mark"] == 42     # two marks: the generic decoder keeps the last

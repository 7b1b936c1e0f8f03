"""flow_key: one key for both directions of a connection, and a stable choice of collector."""

import subprocess
import sys

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import (
    normalised_five_tuple,
    pick_collector,
)

FORWARD = {"sourceIPv4Address": "10.244.1.9", "destinationIPv4Address": "10.244.1.10", "sourceTransportPort": 40000,
           "destinationTransportPort": 80, "protocolIdentifier": 6, "sourcePodName": "client"}
REPLY = {"sourceIPv4Address": "10.244.1.10", "destinationIPv4Address": "10.244.1.9", "sourceTransportPort": 80,
         "destinationTransportPort": 40000, "protocolIdentifier": 6, "destinationPodName": "server"}
COLLECTORS = ["10.0.0.1:4739", "10.0.0.2:4739", "10.0.0.3:4739"]


def test_both_directions_share_one_key():
    # 10.244.1.9 sorts before 10.244.1.10 as an address (not as text).
    assert normalised_five_tuple(FORWARD) == normalised_five_tuple(REPLY) == (6, "10.244.1.9", 40000, "10.244.1.10", 80)


def test_ipv6_keys_are_canonical_and_icmp_has_port_zero():
    record = {"sourceIPv6Address": "FD00:0:0::2", "destinationIPv6Address": "fd00::1", "protocolIdentifier": 58}
    assert normalised_five_tuple(record) == (58, "fd00::1", 0, "fd00::2", 0)


def test_records_without_addresses_are_refused():
    with pytest.raises(IpfixError, match="no source and destination address"):
        normalised_five_tuple({"sourceIPv4Address": "10.0.0.1"})
    with pytest.raises(IpfixError, match="'10.0.0.300' is not an IP address"):
        normalised_five_tuple({"sourceIPv4Address": "10.0.0.300", "destinationIPv4Address": "10.0.0.1"})


def test_both_directions_go_to_the_same_collector_in_every_process():
    chosen = pick_collector(FORWARD, COLLECTORS)
    assert pick_collector(REPLY, COLLECTORS) == chosen
    # Python's hash() differs per process; the choice must not.
    code = ("from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import pick_collector;"
            "print(pick_collector(%r, %r))" % (FORWARD, COLLECTORS))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": ":".join(sys.path), "PYTHONHASHSEED": "123"}).stdout.strip()
    assert out == chosen


def test_collectors_share_the_load_and_a_new_one_moves_only_its_share():
    records = [dict(FORWARD, sourceTransportPort=port) for port in range(1024, 4024)]
    before = [pick_collector(r, COLLECTORS) for r in records]
    counts = {c: before.count(c) for c in COLLECTORS}
    assert all(800 < n < 1200 for n in counts.values()), counts
    after = [pick_collector(r, COLLECTORS + ["10.0.0.4:4739"]) for r in records]
    moved = [(b, a) for b, a in zip(before, after) if b != a]
    assert all(a == "10.0.0.4:4739" for _b, a in moved)
    assert 500 < len(moved) < 1000


def test_no_collectors():
    with pytest.raises(IpfixError, match="no collector"):
        pick_collector(FORWARD, [])

"""packet_inject_batch's logic: every probe validated as packet_inject does, the caller's tags applied and kept
distinct, and check mode building the packets without sending (host namespace, loopback only)."""

import pytest

from ansible_collections.netdiag.tracekit.plugins.module_utils.probe import batch, probe

pytest.importorskip("scapy")


def probes():
    return [{"id": "f1", "dst": "127.0.0.1", "protocol": "tcp", "dst_port": 8080, "tag": 5, "ip_id": 1000},
            {"id": "f2", "dst": "127.0.0.1", "protocol": "udp", "dst_port": 53, "tag": 6, "ip_id": 1001},
            {"id": "f3", "dst": "127.0.0.1", "protocol": "icmp", "tag": 7, "ip_id": 1002, "icmp_id": 99},
            {"id": "f4", "dst": "::1", "protocol": "icmpv6", "tag": 8, "flow_label": 0xabcde, "icmp_id": 100}]


def test_validate_applies_the_callers_tags():
    specs = batch.validate_batch(probes(), timeout=1.5)
    assert [s["tag"]["dscp"] for s in specs] == [5, 6, 7, 8]
    assert [s["tag"]["ip_id"] for s in specs[:3]] == [1000, 1001, 1002]
    assert specs[3]["tag"]["flow_label"] == 0xabcde and specs[3]["tag"]["ip_id"] is None
    assert specs[2]["icmp_id"] == 99 and specs[0]["tcp_flags"] == "S" and specs[1]["tcp_flags"] is None
    assert specs[1]["payload"] == "tracekit:" + specs[1]["tag"]["id"]
    assert all(s["timeout"] == 1.5 and s["count"] == 1 for s in specs)


@pytest.mark.parametrize("change, message", [
    ({"f2": {"ip_id": 1000}}, "probe f2: ip_id 1000 is also the tag of probe f1; give each probe its own"),
    ({"f2": {"id": "f1"}}, "id f1 is used twice"),
    ({"f1": {"dst_port": None}}, "probe f1: protocol tcp needs dst_port"),
    ({"f3": {"dst_port": 80}}, "probe f3: src_port/dst_port make no sense with protocol icmp"),
    ({"f1": {"ip_id": 70000}}, "probe f1: ip_id 70000 is out of range (0-65535)"),
    ({"f4": {"flow_label": -1}}, "probe f4: flow_label -1 is out of range"),
    ({"f1": {"tag": 64}}, "probe f1: tag 64 is out of range (1-63)"),
    ({"f1": {"dst": "10.0.0"}}, "probe f1: dst '10.0.0' is not an IPv4 or IPv6 address"),
    ({"f1": {"colour": "red"}}, "probe f1 has unknown keys colour"),
    ({"f1": {"id": ""}}, "has no id"),
])
def test_bad_probes_are_refused_naming_the_probe(change, message):
    items = probes()
    for item in items:
        item.update(change.get(item["id"], {}))
    with pytest.raises(probe.ProbeError) as err:
        batch.validate_batch(items)
    assert message in str(err.value)


def test_empty_or_oversized_batches_are_refused():
    with pytest.raises(probe.ProbeError, match="non-empty list"):
        batch.validate_batch([])
    many = [{"id": str(i), "dst": "127.0.0.1", "dst_port": 1} for i in range(batch.MAX_PROBES + 1)]
    with pytest.raises(probe.ProbeError, match="at most 1000"):
        batch.validate_batch(many)


def test_check_mode_builds_each_probe_with_its_tag_and_sends_nothing():
    results = batch.inject_batch(batch.validate_batch(probes()), check_mode=True)
    assert [r["id"] for r in results] == ["f1", "f2", "f3", "f4"]
    assert all(r["outcome"] == "not_sent" and r["sent"] == 0 for r in results)
    first = results[0]["probe"]
    assert first["fields"]["ip_id"] == 1000 and first["fields"]["dscp"] == 5 and first["src"] == "127.0.0.1"
    assert results[2]["probe"]["fields"]["icmp_id"] == 99
    assert results[3]["probe"]["fields"]["flow_label"] == 0xabcde and results[3]["probe"]["src"] == "::1"
    assert results[0]["netns"]["path"] == "/proc/self/ns/net"


def test_a_missing_namespace_fails_before_anything_is_sent():
    items = probes()
    items[1]["netns"] = "tracekit-no-such-ns"
    with pytest.raises(Exception) as err:
        batch.inject_batch(batch.validate_batch(items))
    assert "network namespace 'tracekit-no-such-ns' does not exist" in str(err.value)

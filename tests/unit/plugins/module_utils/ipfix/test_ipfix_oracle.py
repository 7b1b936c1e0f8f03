"""Our IPFIX codec and the PyPI ``ipfix`` package agree on valid data, both ways.

The package hangs on some malformed input, so it runs in a child process with a timeout and only ever
sees valid messages (tests/support/ipfix_oracle.py).
"""

import pytest

from ipfix_oracle import run_oracle

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.decoder import Decoder
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.encoder import MessageEncoder

pytest.importorskip("ipfix")


def antrea_records(count, ipv6=False):
    records = []
    for i in range(count):
        record = {
            "flowStartSeconds": 1700000000 + i, "flowEndSeconds": 1700000100 + i, "flowEndReason": 3,
            "sourceTransportPort": 30000 + i, "destinationTransportPort": 8080, "protocolIdentifier": 6,
            "packetTotalCount": 10 + i, "octetTotalCount": 2 ** 40 + i, "packetDeltaCount": i,
            "octetDeltaCount": 1500 * i, "reversePacketTotalCount": 9, "reverseOctetTotalCount": 900,
            "reversePacketDeltaCount": 1, "reverseOctetDeltaCount": 60,
            "sourcePodNamespace": "default", "sourcePodName": "client-%d" % i,
            "destinationPodNamespace": "web", "destinationPodName": "server-\u00e9-%d" % (i % 3),
            "sourceNodeName": "node-1", "destinationNodeName": "node-2", "destinationServicePort": 80,
            "destinationServicePortName": "web/server:http", "ingressNetworkPolicyName": "allow" if i % 2 else "",
            "ingressNetworkPolicyNamespace": "web", "ingressNetworkPolicyType": 1,
            "ingressNetworkPolicyRuleName": "", "egressNetworkPolicyName": "", "egressNetworkPolicyNamespace": "",
            "egressNetworkPolicyType": 0, "egressNetworkPolicyRuleName": "", "ingressNetworkPolicyRuleAction": 1,
            "egressNetworkPolicyRuleAction": 0, "tcpState": "ESTABLISHED", "flowType": 2,
            "flowStartMilliseconds": 1700000000123 + i,
        }
        if ipv6:
            record.update({"sourceIPv6Address": "fd00:10:244:1::%x" % (i + 1),
                           "destinationIPv6Address": "fd00:10:244:2::9", "destinationClusterIPv6": "fd00:10:96::a"})
        else:
            record.update({"sourceIPv4Address": "10.244.1.%d" % (i % 250 + 1),
                           "destinationIPv4Address": "10.244.2.9", "destinationClusterIPv4": "10.96.0.10"})
        records.append(record)
    return records


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_package_decodes_what_we_encode(ipv6):
    records = antrea_records(200, ipv6)
    messages = MessageEncoder(observation_domain_id=3).encode(records, export_time=1700000000)
    assert len(messages) > 1
    assert run_oracle("decode", messages) == records


@pytest.mark.parametrize("ipv6", [False, True], ids=["ipv4", "ipv6"])
def test_we_decode_what_the_package_encodes(ipv6):
    records = antrea_records(200, ipv6)
    messages = run_oracle("encode", records)
    assert len(messages) > 1
    decoder = Decoder()
    out = []
    for message in messages:
        result = decoder.decode(message, "package")
        assert result.rejected == []
        out.extend(result.records)
    assert out == records


def test_other_types_both_ways():
    records = [{"sourceMacAddress": "02:42:ac:11:00:%02x" % i, "ipVersion": 4, "interfaceName": "eth%d" % i,
                "paddingOctets": bytes(range(i)), "flowEndMilliseconds": 1700000000000 + i, "ingressInterface": i}
               for i in range(20)]
    assert run_oracle("decode", MessageEncoder().encode(records)) == records
    decoder = Decoder()
    out = []
    for message in run_oracle("encode", records):
        out.extend(decoder.decode(message, "p").records)
    assert out == records

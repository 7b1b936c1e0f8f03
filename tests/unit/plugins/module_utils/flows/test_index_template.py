"""The Elasticsearch index template built from the IPFIX registry."""

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.index_template import index_template


def test_types_by_element_kind():
    body = index_template("flows")
    props = body["template"]["mappings"]["properties"]
    assert body["index_patterns"] == ["flows"]
    assert props["sourceIPv4Address"] == {"type": "ip"}
    assert props["destinationIPv6Address"] == {"type": "ip"}
    assert props["destinationClusterIPv4"] == {"type": "ip"}
    assert props["sourcePodName"]["type"] == "keyword"
    assert props["ingressNetworkPolicyName"]["type"] == "keyword"
    assert props["octetTotalCount"] == {"type": "long"}
    assert props["reversePacketDeltaCount"] == {"type": "long"}
    assert props["packetTotalCountFromSourceNode"] == {"type": "long"}
    assert props["flowStartSeconds"] == {"type": "date", "format": "epoch_second"}
    assert props["flowEndMilliseconds"] == {"type": "date", "format": "epoch_millis"}

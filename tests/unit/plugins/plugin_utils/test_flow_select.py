"""select_flows: by endpoint, address, port and JMESPath, with clear errors."""

import pytest

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.flow_select import FlowSelectError, select_flows

FLOWS = [
    {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "sourceTransportPort": 40000,
     "destinationTransportPort": 8080, "sourcePodName": "cli", "destinationPodName": "srv",
     "packetTotalCountFromDestinationNode": 3},
    {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.9", "sourceTransportPort": 40001,
     "destinationTransportPort": 8443, "destinationClusterIPv4": "10.96.0.10", "destinationServicePort": 443},
    {"sourceIPv6Address": "fd00::1", "destinationIPv6Address": "fd00::2", "sourceTransportPort": 1,
     "destinationTransportPort": 53, "sourceNodeName": "node1"},
]


def ports(flows):
    return [flow["destinationTransportPort"] for flow in flows]


def test_criteria():
    assert ports(select_flows(FLOWS, endpoint="srv")) == [8080]
    assert ports(select_flows(FLOWS, endpoint="node1")) == [53]
    assert ports(select_flows(FLOWS, endpoint="10.96.0.10")) == [8443]
    assert ports(select_flows(FLOWS, address="fd00:0::2")) == [53]
    assert ports(select_flows(FLOWS, address="10.0.0.1", port=443)) == [8443]
    assert ports(select_flows(FLOWS, query="[?packetTotalCountFromDestinationNode]")) == [8080]
    assert select_flows(FLOWS, query="[?destinationTransportPort > `9000`]") == []


def test_errors():
    with pytest.raises(FlowSelectError, match="not an IP address"):
        select_flows(FLOWS, address="10.0.0")
    with pytest.raises(FlowSelectError, match="JMESPath"):
        select_flows(FLOWS, query="[?")
    with pytest.raises(FlowSelectError, match="not a list"):
        select_flows(FLOWS, query="length(@)")
    with pytest.raises(FlowSelectError, match="list of flow records"):
        select_flows({"flows": []})

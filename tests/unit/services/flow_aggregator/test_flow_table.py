"""Correlation in the flow table, checked against hand-computed expectations (Antrea's semantics)."""

import pytest

from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import FlowTable, flow_key


def only_flow(table):
    flows = list(table.flows.values())
    assert len(flows) == 1, flows
    return flows[0]


def rec(src="10.0.0.1", dst="10.0.0.2", sport=1000, dport=80, **extra):
    record = {"sourceIPv4Address": src, "destinationIPv4Address": dst, "sourceTransportPort": sport,
              "destinationTransportPort": dport, "protocolIdentifier": 6}
    record.update(extra)
    return record


def test_exporter_without_pod_elements_first_is_source_second_is_destination():
    table = FlowTable(10, 60, 15)
    table.add(rec(packetTotalCount=5), "192.0.2.1", 1, 100.0)
    table.add(rec(packetTotalCount=4), "192.0.2.2", 2, 101.0)
    table.add(rec(packetTotalCount=7), "192.0.2.1", 1, 102.0)
    flow = only_flow(table)
    assert flow.record["packetTotalCountFromSourceNode"] == 7
    assert flow.record["packetTotalCountFromDestinationNode"] == 4
    assert flow.record["packetTotalCount"] == 7
    assert flow.record["originalExporterIPv4Address"] == "192.0.2.1"
    assert flow.record["originalObservationDomainId"] == 1
    assert table.counters["correlated"] == 1


def test_pod_elements_decide_the_side_whatever_the_order():
    table = FlowTable(10, 60, 15)
    table.add(rec(destinationPodName="srv", packetTotalCount=3), "192.0.2.2", 0, 1.0)
    table.add(rec(sourcePodName="cli", packetTotalCount=4), "192.0.2.1", 0, 2.0)
    flow = only_flow(table)
    assert flow.record["packetTotalCountFromSourceNode"] == 4
    assert flow.record["packetTotalCountFromDestinationNode"] == 3
    assert flow.record["originalExporterIPv4Address"] == "192.0.2.1"
    assert (flow.record["sourcePodName"], flow.record["destinationPodName"]) == ("cli", "srv")


def test_empty_strings_do_not_erase_the_other_sides_names():
    table = FlowTable(10, 60, 15)
    table.add(rec(sourcePodName="cli", destinationPodName=""), "192.0.2.1", 0, 1.0)
    table.add(rec(sourcePodName="", destinationPodName="srv"), "192.0.2.2", 0, 2.0)
    flow = only_flow(table)
    assert (flow.record["sourcePodName"], flow.record["destinationPodName"]) == ("cli", "srv")


def test_cap_evicts_the_least_recently_updated():
    table = FlowTable(2, 60, 15)
    table.add(rec(sport=1), "192.0.2.1", 0, 1.0)
    table.add(rec(sport=2), "192.0.2.1", 0, 2.0)
    table.add(rec(sport=1), "192.0.2.1", 0, 3.0)  # 1 is fresh again
    evicted = table.add(rec(sport=3), "192.0.2.1", 0, 4.0)
    assert [f.record["sourceTransportPort"] for f in evicted] == [2]
    assert table.counters["evicted"] == 1 and len(table) == 2


def test_timeouts():
    table = FlowTable(10, active_timeout=5, idle_timeout=10)
    table.add(rec(sport=1), "192.0.2.1", 0, 100.0)
    table.add(rec(sport=2), "192.0.2.1", 0, 108.0)
    active, idle = table.due(106.0)
    assert [f.record["sourceTransportPort"] for f in active] == [1] and idle == []
    table.mark_exported(active, 106.0)
    active, idle = table.due(111.0)
    assert [f.record["sourceTransportPort"] for f in idle] == [1]
    assert [f.record["sourceTransportPort"] for f in active] == []  # 2 is 3 s old, under active_timeout
    assert len(table) == 1 and table.counters["expired"] == 1


def test_missing_times_are_filled_from_arrival():
    table = FlowTable(10, 60, 15)
    table.add(rec(), "192.0.2.1", 0, 1000.5)
    table.add(rec(), "192.0.2.1", 0, 1010.2)
    flow = only_flow(table)
    assert (flow.record["flowStartSeconds"], flow.record["flowEndSeconds"]) == (1000, 1010)


def test_each_node_naming_its_own_pod_makes_an_inter_node_flow():
    """Antrea's agents name only local pods: node1 says to-external (3), node2 from-external (4)."""
    table = FlowTable(10, 60, 15)
    table.add(rec(flowType=3, sourcePodName="cli", sourceNodeName="n1", destinationNodeName="n2",
                  packetTotalCount=5), "192.0.2.1", 1, 1.0)
    table.add(rec(flowType=4, destinationPodName="srv", destinationNodeName="n2", sourceNodeName="n1",
                  packetTotalCount=4), "192.0.2.2", 2, 2.0)
    flow = only_flow(table)
    assert flow.record["flowType"] == 2
    assert flow.record["packetTotalCountFromSourceNode"] == 5
    assert flow.record["packetTotalCountFromDestinationNode"] == 4
    assert table.counters["correlated"] == 1


def test_inter_node_records_naming_both_pods_split_by_exporter():
    table = FlowTable(10, 60, 15)
    both = {"flowType": 2, "sourcePodName": "cli", "destinationPodName": "srv"}
    table.add(rec(packetTotalCount=5, **both), "192.0.2.1", 1, 1.0)
    table.add(rec(packetTotalCount=4, **both), "192.0.2.2", 2, 2.0)
    flow = only_flow(table)
    assert flow.record["packetTotalCountFromSourceNode"] == 5
    assert flow.record["packetTotalCountFromDestinationNode"] == 4


def test_a_node_reporting_the_other_direction_is_turned_round():
    """The destination node names the connection server -> client: its forward counters are the flow's reverse
    ones (hand-computed: the flow's packetTotalCount is the larger of 5 and the server's reverse 6)."""
    table = FlowTable(10, 60, 15)
    table.add(rec(sourcePodName="cli", packetTotalCount=5, reversePacketTotalCount=3), "192.0.2.1", 1, 1.0)
    table.add(rec(src="10.0.0.2", dst="10.0.0.1", sport=80, dport=1000, sourcePodName="srv",
                  packetTotalCount=4, reversePacketTotalCount=6), "192.0.2.2", 2, 2.0)
    flow = only_flow(table)
    record = flow.record
    assert (record["sourceIPv4Address"], record["sourceTransportPort"]) == ("10.0.0.1", 1000)
    assert (record["sourcePodName"], record["destinationPodName"]) == ("cli", "srv")
    assert record["packetTotalCountFromSourceNode"] == 5 and record["reversePacketTotalCountFromSourceNode"] == 3
    assert record["packetTotalCountFromDestinationNode"] == 6
    assert record["reversePacketTotalCountFromDestinationNode"] == 4
    assert (record["packetTotalCount"], record["reversePacketTotalCount"]) == (6, 4)
    assert table.counters["correlated"] == 1


def test_elements_the_aggregator_sets_are_not_taken_from_an_exporter():
    table = FlowTable(10, 60, 15)
    table.add(rec(sourcePodName="cli", packetTotalCount=5, packetTotalCountFromSourceNode=999,
                  originalExporterIPv4Address="203.0.113.66", originalObservationDomainId=77), "192.0.2.1", 1, 1.0)
    flow = only_flow(table)
    assert flow.record["packetTotalCountFromSourceNode"] == 5
    assert (flow.record["originalExporterIPv4Address"], flow.record["originalObservationDomainId"]) == \
        ("192.0.2.1", 1)


def _merged(hot_limit):
    table = FlowTable(100, 60, 15, hot_limit=hot_limit)
    for sport in range(5):  # both halves of five connections, the second halves later
        table.add(rec(sport=sport, sourcePodName="cli", packetTotalCount=sport + 1, flowStartSeconds=100,
                      flowEndSeconds=110), "192.0.2.1", 1, 1.0)
    for sport in range(5):
        table.add(rec(sport=sport, destinationPodName="srv", packetTotalCount=sport + 10, flowStartSeconds=99,
                      flowEndSeconds=112, ingressNetworkPolicyName="allow"), "192.0.2.2", 2, 2.0)
    return {flow.flow_id: flow.record for flow in table.flows.values()}, table


def test_packed_and_unpacked_flows_merge_alike():
    """hot_limit=1 packs every flow after each record, so every second half merges into a packed flow."""
    packed, table = _merged(1)
    unpacked, _table = _merged(1000)
    assert packed == unpacked
    assert all(not flow.hot for flow in table.flows.values())
    assert packed[3] == {**rec(sport=2), "flowStartSeconds": 99, "flowEndSeconds": 112, "sourcePodName": "cli",
                         "destinationPodName": "srv", "ingressNetworkPolicyName": "allow",
                         "packetTotalCount": 12, "packetTotalCountFromSourceNode": 3,
                         "packetTotalCountFromDestinationNode": 12, "originalExporterIPv4Address": "192.0.2.1",
                         "originalObservationDomainId": 1}


def test_eviction_takes_the_oldest_one_percent_at_once_and_counts_them():
    table = FlowTable(1000, 60, 15)
    for sport in range(1000):
        table.add(rec(sport=sport), "192.0.2.1", 0, float(sport))
    table.add(rec(sport=0), "192.0.2.1", 0, 2000.0)  # the oldest becomes the newest
    evicted = table.add(rec(sport=5000), "192.0.2.1", 0, 2001.0)
    assert [flow.record["sourceTransportPort"] for flow in evicted] == list(range(1, 11))
    assert table.counters["evicted"] == 10 and len(table) == 991


def test_a_store_that_keeps_failing_holds_at_most_max_flows_pending():
    table = FlowTable(3, 60, 15)
    for sport in range(3):
        table.add(rec(sport=sport), "192.0.2.1", 0, 1.0)
    taken = table.take_to_store()
    assert len(taken) == 3 and table.pending == []
    table.add(rec(sport=0), "192.0.2.1", 0, 2.0)  # changed again while the store was failing
    table.add(rec(sport=9), "192.0.2.1", 0, 2.0)  # a new flow: evicts sport 1
    table.give_back(taken)
    assert [flow.record["sourceTransportPort"] for flow in table.pending] == [2, 0, 9]
    assert table.counters["store_dropped"] == 1
    assert len(set(map(id, table.pending))) == 3  # a flow given back and changed again is pending once


def test_records_that_cannot_be_keyed_are_rejected_with_a_reason():
    table = FlowTable(10, 60, 15)
    evicted, rejected, error = table.add_records(
        [{"sourceIPv4Address": "10.0.0.1"}, rec(sport=70000), rec()], "192.0.2.1", 0, 1.0)
    assert (evicted, rejected, len(table)) == ([], 2, 1)
    assert "no source and destination address" in error


def test_flow_key_is_the_same_from_both_ends_and_for_any_address_form():
    forward = flow_key(rec())
    assert flow_key(rec(src="10.0.0.2", dst="10.0.0.1", sport=80, dport=1000)) == forward
    assert flow_key(rec(src=167772161, dst="10.0.0.2")) == forward  # an address given as an integer
    assert flow_key(rec(sport=1001)) != forward
    six = {"sourceIPv6Address": "fd00::1", "destinationIPv6Address": "fd00:0::2", "sourceTransportPort": 1,
           "destinationTransportPort": 2, "protocolIdentifier": 17}
    assert flow_key(six) == flow_key({"sourceIPv6Address": "fd00::2", "destinationIPv6Address": "fd00::1",
                                      "sourceTransportPort": 2, "destinationTransportPort": 1,
                                      "protocolIdentifier": 17})
    assert len(flow_key(six)) == 37 and len(forward) == 13
    with pytest.raises(ValueError, match="ports cannot key a flow"):
        flow_key(rec(sport=-1))
    with pytest.raises(ValueError, match="not an IP address"):
        flow_key(rec(src="nonsense"))

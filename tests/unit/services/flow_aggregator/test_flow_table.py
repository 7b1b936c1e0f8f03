"""Correlation in the flow table, checked against hand-computed expectations (Antrea's semantics)."""

from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import FlowTable


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
    (flow,) = table.flows.values()
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
    (flow,) = table.flows.values()
    assert flow.record["packetTotalCountFromSourceNode"] == 4
    assert flow.record["packetTotalCountFromDestinationNode"] == 3
    assert flow.record["originalExporterIPv4Address"] == "192.0.2.1"
    assert (flow.record["sourcePodName"], flow.record["destinationPodName"]) == ("cli", "srv")


def test_empty_strings_do_not_erase_the_other_sides_names():
    table = FlowTable(10, 60, 15)
    table.add(rec(sourcePodName="cli", destinationPodName=""), "192.0.2.1", 0, 1.0)
    table.add(rec(sourcePodName="", destinationPodName="srv"), "192.0.2.2", 0, 2.0)
    (flow,) = table.flows.values()
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
    (flow,) = table.flows.values()
    assert (flow.record["flowStartSeconds"], flow.record["flowEndSeconds"]) == (1000, 1010)


def test_each_node_naming_its_own_pod_makes_an_inter_node_flow():
    """Antrea's agents name only local pods: node1 says to-external (3), node2 from-external (4)."""
    table = FlowTable(10, 60, 15)
    table.add(rec(flowType=3, sourcePodName="cli", sourceNodeName="n1", destinationNodeName="n2",
                  packetTotalCount=5), "192.0.2.1", 1, 1.0)
    table.add(rec(flowType=4, destinationPodName="srv", destinationNodeName="n2", sourceNodeName="n1",
                  packetTotalCount=4), "192.0.2.2", 2, 2.0)
    (flow,) = table.flows.values()
    assert flow.record["flowType"] == 2
    assert flow.record["packetTotalCountFromSourceNode"] == 5
    assert flow.record["packetTotalCountFromDestinationNode"] == 4
    assert table.counters["correlated"] == 1


def test_inter_node_records_naming_both_pods_split_by_exporter():
    table = FlowTable(10, 60, 15)
    both = {"flowType": 2, "sourcePodName": "cli", "destinationPodName": "srv"}
    table.add(rec(packetTotalCount=5, **both), "192.0.2.1", 1, 1.0)
    table.add(rec(packetTotalCount=4, **both), "192.0.2.2", 2, 2.0)
    (flow,) = table.flows.values()
    assert flow.record["packetTotalCountFromSourceNode"] == 5
    assert flow.record["packetTotalCountFromDestinationNode"] == 4

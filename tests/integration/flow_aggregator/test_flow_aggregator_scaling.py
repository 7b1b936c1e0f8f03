"""Scaling past one aggregator: two aggregators, exporters pick one by a hash of the normalised 5-tuple
(``ipfix.flow_key.pick_collector``, what conntrack_export does with several collectors), so both halves of
every flow meet at the same aggregator with no coordination."""

from flow_aggregator_proc import Aggregator, Exporter, flow_record

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import pick_collector


def test_two_aggregators_split_flows_and_each_flow_is_complete(tmp_path):
    aggs = [Aggregator(tmp_path / name, collect=("udp",)).start() for name in ("a", "b")]
    try:
        collectors = [agg.address("udp") for agg in aggs]
        # node1 exports the source side, node2 the destination side (node2 sees some connections reversed)
        node1 = {c: Exporter(int(c.rsplit(":", 1)[1]), domain=1) for c in collectors}
        node2 = {c: Exporter(int(c.rsplit(":", 1)[1]), domain=2) for c in collectors}
        expected = {}
        for i in range(40):
            fwd = flow_record("10.20.1.%d" % (i % 7 + 1), "10.20.2.%d" % (i % 5 + 1), 30000 + i, 80 + i % 3,
                              sourcePodName="c%d" % i, packetTotalCount=i + 1)
            if i % 2:
                back = flow_record(fwd["destinationIPv4Address"], fwd["sourceIPv4Address"], 80 + i % 3,
                                   30000 + i, sourcePodName="s%d" % i, reversePacketTotalCount=i + 2)
            else:
                back = flow_record(fwd["sourceIPv4Address"], fwd["destinationIPv4Address"], 30000 + i,
                                   80 + i % 3, destinationPodName="s%d" % i, packetTotalCount=i + 2)
            chosen = pick_collector(fwd, collectors)
            assert pick_collector(back, collectors) == chosen  # both halves pick the same aggregator
            node1[chosen].send([fwd])
            expected[30000 + i] = collectors.index(chosen)
        for agg in aggs:
            count = sum(1 for v in expected.values() if v == aggs.index(agg))
            agg.wait_for(lambda a=agg, n=count: len(a.flows(limit=1000)) == n, what="source sides")
        for i in range(40):
            fwd = flow_record("10.20.1.%d" % (i % 7 + 1), "10.20.2.%d" % (i % 5 + 1), 30000 + i, 80 + i % 3)
            if i % 2:
                back = flow_record(fwd["destinationIPv4Address"], fwd["sourceIPv4Address"], 80 + i % 3,
                                   30000 + i, sourcePodName="s%d" % i, reversePacketTotalCount=i + 2)
            else:
                back = flow_record(fwd["sourceIPv4Address"], fwd["destinationIPv4Address"], 30000 + i,
                                   80 + i % 3, destinationPodName="s%d" % i, packetTotalCount=i + 2)
            node2[pick_collector(back, collectors)].send([back])
        assert 0 < sum(1 for v in expected.values() if v == 0) < 40  # the hash spreads the flows
        for index, agg in enumerate(aggs):
            mine = sorted(port for port, v in expected.items() if v == index)

            def complete(a=agg, n=len(mine)):
                flows = [f for f in a.flows(limit=1000) if "packetTotalCountFromDestinationNode" in f]
                return flows if len(flows) == n else None
            flows = agg.wait_for(complete, what="complete flows on aggregator %d" % index)
            assert sorted(f["sourceTransportPort"] for f in flows) == mine
            for flow in flows:
                i = flow["sourceTransportPort"] - 30000
                assert flow["packetTotalCountFromSourceNode"] == i + 1
                assert flow["packetTotalCountFromDestinationNode"] == i + 2
                assert flow["destinationPodName"] == "s%d" % i
        for exporter in list(node1.values()) + list(node2.values()):
            exporter.close()
    finally:
        for agg in aggs:
            agg.stop()

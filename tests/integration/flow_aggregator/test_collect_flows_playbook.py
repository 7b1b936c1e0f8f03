"""End to end: playbooks/collect_flows.yml runs conntrack_export on two "nodes" (network namespaces routing
between two "pods") toward a real aggregator; the inter-node pod-to-pod TCP flow comes back as one record with
both nodes' counters and both pods' names.

Needs root (namespaces). The lab (tests/support/flow_lab.py) uses the prefix tkfa- and is removed at the end.
"""

import json

import pytest

from conftest import need_root, run_playbook
from flow_aggregator_proc import Aggregator
from flow_lab import FlowLab


@pytest.fixture
def lab():
    need_root()
    with FlowLab("tkfa", 251) as built:
        yield built


def test_collect_flows_inter_node_flow_is_one_record(tmp_path, lab):
    agg = Aggregator(tmp_path / "agg", collect=("udp",)).start()
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(lab.inventory())

    # The connection first; then a snapshot of both nodes' tables (in TIME_WAIT, with its counters: the kernel
    # sends counters in a dump or a DESTROY event, not in NEW/UPDATE events).
    lab.exchange()
    flows_file = str(tmp_path / "flows.json")
    try:
        rc, out, err = run_playbook("playbooks/collect_flows.yml", {
            "aggregator_api": "http://127.0.0.1:%d" % agg.api_port, "start_aggregator": False,
            "collectors": [agg.address("udp")], "mode": "snapshot", "collect_flows_become": False,
            "flows_file": flows_file, "flow_port": 8080}, inventory=str(inventory), timeout=180)
        assert rc == 0, out[-4000:] + err[-2000:]
        with open(flows_file, encoding="utf-8") as handle:
            flows = json.load(handle)["flows"]
        mine = [f for f in flows if f.get("sourceIPv4Address") == lab.pod1_ip
                and f.get("destinationIPv4Address") == lab.pod2_ip and f.get("destinationTransportPort") == 8080]
        assert len(mine) == 1, flows
        flow = mine[0]
        assert flow["packetTotalCountFromSourceNode"] > 0 and flow["packetTotalCountFromDestinationNode"] > 0
        assert flow["octetTotalCountFromSourceNode"] >= 3000 and flow["octetTotalCountFromDestinationNode"] >= 3000
        assert (flow["sourcePodName"], flow["destinationPodName"]) == ("pod1", "pod2")
        assert (flow["sourceNodeName"], flow["destinationNodeName"]) == ("node1", "node2")
    finally:
        agg.stop()

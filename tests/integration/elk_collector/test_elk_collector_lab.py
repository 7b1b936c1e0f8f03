"""A real lab run into the ELK collector's Elasticsearch side: conntrack_export on two "nodes" (network
namespaces routing between two "pods", prefix tkel-, removed at the end) sends IPFIX through
playbooks/collect_flows.yml to a real flow aggregator, whose Elasticsearch sink bulk-indexes the correlated flow
into osmem-server (an OpenSearch-compatible in-memory server, a real process on loopback, standing in for
Elasticsearch, which cannot run here) after the elk_collector role's setup installed the index template. The
pod-to-pod dashboard's query (taken from the saved object) then finds the flow with the byte count the
aggregator's API reports, and the node-to-node one puts it from node1 to node2.

Needs root (namespaces); the lab is tests/support/flow_lab.py.
"""

import json
import sys

import pytest

from conftest import need_root, run_playbook
from flow_aggregator_proc import Aggregator
from flow_lab import FlowLab
from kibana_queries import rows, search_body

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows import kibana_objects


@pytest.fixture
def lab():
    need_root()
    with FlowLab("tkel", 252) as built:
        yield built


@pytest.fixture
def elasticsearch():
    osmem = pytest.importorskip("osmem_server")
    server = osmem.OsmemServer.start(japanese=False)
    yield server
    server.close()


SETUP_PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The role's setup tasks
      ansible.builtin.include_role:
        name: netdiag.tracekit.elk_collector
        tasks_from: setup.yml
"""


def _query(elasticsearch, vis_id):
    obj = next(o for o in kibana_objects.saved_objects("flows") if o["id"] == vis_id)
    body, buckets, metrics = search_body(obj, kibana_objects.TIME_FIELD)
    return rows(elasticsearch.request("POST", "/flows*/_search", body), buckets, metrics)


def test_lab_flow_reaches_the_dashboards(tmp_path, lab, elasticsearch):
    play = tmp_path / "setup.yml"
    play.write_text(SETUP_PLAY)
    rc, out, err = run_playbook(str(play), {"ansible_python_interpreter": sys.executable,
                                            "elk_collector_elasticsearch_url": elasticsearch.url,
                                            "elk_collector_kibana_url": "none", "elk_collector_ilm": False,
                                            "elk_collector_wait_timeout": 10}, inventory="localhost,")
    assert rc == 0, out[-3000:] + err[-2000:]
    agg = Aggregator(tmp_path / "agg", collect=("udp",), active_timeout="1s",
                     export=[{"type": "elasticsearch", "url": elasticsearch.url, "index": "flows",
                              "template": False}]).start()
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(lab.inventory())
    lab.exchange()
    flows_file = str(tmp_path / "flows.json")
    try:
        rc, out, err = run_playbook("playbooks/collect_flows.yml", {
            "aggregator_api": "http://127.0.0.1:%d" % agg.api_port, "start_aggregator": False,
            "collectors": [agg.address("udp")], "mode": "snapshot", "collect_flows_become": False,
            "flows_file": flows_file, "flow_port": 8080}, inventory=str(inventory), timeout=180)
        assert rc == 0, out[-4000:] + err[-2000:]
        with open(flows_file, encoding="utf-8") as handle:
            api_flow = [f for f in json.load(handle)["flows"] if f.get("sourceIPv4Address") == lab.pod1_ip][0]

        def indexed():
            try:
                got = _query(elasticsearch, "flows-pod-to-pod-tx")
            except Exception:  # pylint: disable=broad-except
                return None
            return got if ("pod1", "pod2") in got else None
        tx = agg.wait_for(indexed, timeout=20, what="the lab flow in Elasticsearch")
    finally:
        agg.stop()
    # the client sent 3000 bytes of payload: the flow's bytes are at least that, and exactly what the API says
    assert tx[("pod1", "pod2")]["1"] == api_flow["octetTotalCount"] >= 3000
    nodes = _query(elasticsearch, "flows-node-throughput-tx")
    assert nodes[("node1", "node2")]["1"] == api_flow["octetTotalCount"]
    mapping = elasticsearch.request("GET", "/flows/_mapping")["flows"]["mappings"]["properties"]
    assert mapping["sourceIPv4Address"]["type"] == "ip"

"""The ELK flow collector's Elasticsearch side, against osmem-server.

osmem-server (PyPI) is an in-memory OpenSearch-compatible server, run here as a real process on loopback: it
stands in for Elasticsearch, which cannot run on this machine. OpenSearch has no ILM, so the role runs with
elk_collector_ilm=false here (the policy body is checked in the unit tests).

1. The role's setup tasks install the index template (the flow aggregator's, from the IPFIX registry); a
   second run changes nothing; the setup script of the manifests' Job installs the same template.
2. A real flow aggregator process, fed real IPFIX messages by the collection's encoder, bulk-indexes the flows
   through its Elasticsearch sink; the aggregator installs its template too, and the role still sees the same one.
3. For every visualization of every dashboard, the query Kibana would send (its filters and aggregations taken
   from the saved objects themselves, tests/support/kibana_queries.py) returns the numbers computed by hand
   below from the flows sent.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import run_playbook
from flow_aggregator_proc import Aggregator, Exporter, flow_record
from kibana_queries import rows, search_body

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows import kibana_objects
from ansible_collections.netdiag.tracekit.plugins.module_utils.flows.ilm_policy import flow_index_template

HOUR = 3600
HOUR_A = (int(time.time()) // HOUR - 3) * HOUR  # two whole past hours, so no flow straddles a bucket edge
HOUR_B = HOUR_A + HOUR
CLIENT, DB, SERVER, API, WEB1 = "10.244.1.5", "10.244.1.6", "10.244.2.7", "10.244.2.9", "10.244.2.20"
EXTERNAL = "192.0.2.80"  # a documentation address in a record; no packet is sent anywhere


def _rec(src, dst, sport, dport, start, octets, reverse, **extra):
    return flow_record(src, dst, sport, dport, flowStartSeconds=start, flowEndSeconds=start + 10,
                       octetTotalCount=octets, octetDeltaCount=octets, packetTotalCount=octets // 100 or 1,
                       packetDeltaCount=octets // 100 or 1, reverseOctetTotalCount=reverse,
                       reverseOctetDeltaCount=reverse, reversePacketTotalCount=1, reversePacketDeltaCount=1, **extra)


FLOWS = [
    # F1 pod-to-pod, intra-node, both policies
    _rec(CLIENT, DB, 41001, 5432, HOUR_A + 100, 400, 300, flowType=1, sourcePodName="client",
         sourcePodNamespace="default", sourceNodeName="node1", destinationPodName="db", destinationPodNamespace="data",
         destinationNodeName="node1", egressNetworkPolicyName="allow-egress", ingressNetworkPolicyName="allow-db",
         ingressNetworkPolicyNamespace="data"),
    # F2 pod-to-pod, inter-node
    _rec(CLIENT, SERVER, 41002, 8080, HOUR_A + 200, 1000, 6400, flowType=2, sourcePodName="client",
         sourcePodNamespace="default", sourceNodeName="node1", destinationPodName="server",
         destinationPodNamespace="web", destinationNodeName="node2", egressNetworkPolicyName="allow-egress",
         ingressNetworkPolicyName="allow-web", ingressNetworkPolicyNamespace="web"),
    # F3 pod-to-service
    _rec(CLIENT, API, 41003, 8443, HOUR_A + 300, 600, 5000, flowType=2, sourcePodName="client",
         sourcePodNamespace="default", sourceNodeName="node1", destinationPodName="api", destinationPodNamespace="web",
         destinationNodeName="node2", destinationClusterIPv4="10.96.0.10", destinationServicePort=443,
         destinationServicePortName="web/https"),
    # F4, F5 pod-to-external
    _rec(WEB1, EXTERNAL, 41004, 443, HOUR_B + 100, 250, 4000, flowType=3, sourcePodName="web1",
         sourcePodNamespace="web", sourceNodeName="node2", egressNetworkPolicyName="allow-internet"),
    _rec(CLIENT, EXTERNAL, 41005, 443, HOUR_B + 200, 50, 100, flowType=3, sourcePodName="client",
         sourcePodNamespace="default", sourceNodeName="node1"),
]
MS_A, MS_B = HOUR_A * 1000, HOUR_B * 1000
# By hand from FLOWS: {visualization id: {bucket keys: {metric id: value}}}
EXPECTED = {
    "flows-overview-by-type": {(1,): {"1": 1}, (2,): {"1": 2}, (3,): {"1": 2}},
    "flows-overview-bytes-by-source-pod": {("client",): {"1": 400 + 1000 + 600 + 50}, ("web1",): {"1": 250}},
    "flows-overview-bytes-over-time": {(MS_A,): {"1": 400 + 1000 + 600}, (MS_B,): {"1": 250 + 50}},
    "flows-pod-to-pod-tx": {("client", "db"): {"1": 400}, ("client", "server"): {"1": 1000},
                            ("client", "api"): {"1": 600}},
    "flows-pod-to-pod-rx": {("client", "db"): {"1": 300}, ("client", "server"): {"1": 6400},
                            ("client", "api"): {"1": 5000}},
    "flows-pod-to-pod-throughput": {(MS_A, "client"): {"1": 2000}},
    "flows-pod-to-service-tx": {("client", "web/https"): {"1": 600}},
    "flows-pod-to-service-by-service": {("web/https",): {"1": 600, "4": 5000}},
    "flows-pod-to-external-tx": {("web1", EXTERNAL): {"1": 250}, ("client", EXTERNAL): {"1": 50}},
    "flows-pod-to-external-rx": {("web1", EXTERNAL): {"1": 4000}, ("client", EXTERNAL): {"1": 100}},
    "flows-node-throughput-tx": {("node1", "node1"): {"1": 400}, ("node1", "node2"): {"1": 1000 + 600}},
    "flows-node-throughput-over-time": {(MS_A, "node1"): {"1": 2000}, (MS_B, "node1"): {"1": 50},
                                        (MS_B, "node2"): {"1": 250}},
    "flows-network-policy": {("allow-egress", "allow-db"): {"1": 400}, ("allow-egress", "allow-web"): {"1": 1000}},
    "flows-network-policy-ingress-namespace": {("data", "allow-db"): {"1": 1}, ("web", "allow-web"): {"1": 1}},
}

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


@pytest.fixture(scope="module")
def elasticsearch():
    osmem = pytest.importorskip("osmem_server")
    server = osmem.OsmemServer.start(japanese=False)
    yield server
    server.close()


def _setup(tmp_path, url):
    play = tmp_path / "setup.yml"
    play.write_text(SETUP_PLAY)
    rc, out, err = run_playbook(str(play), {"ansible_python_interpreter": sys.executable,
                                            "elk_collector_elasticsearch_url": url, "elk_collector_kibana_url": "none",
                                            "elk_collector_ilm": False, "elk_collector_wait_timeout": 10},
                                inventory="localhost,", extra_env={"ANSIBLE_STDOUT_CALLBACK": "json"})
    assert rc == 0, out[-3000:] + err[-2000:]
    return json.loads(out)["stats"]["localhost"]


@pytest.fixture(scope="module")
def indexed(elasticsearch, tmp_path_factory):
    folder = tmp_path_factory.mktemp("elk")
    first = _setup(folder, elasticsearch.url)
    second = _setup(folder, elasticsearch.url)
    aggregator = Aggregator(str(folder / "agg"), collect=("udp",), active_timeout="1s", idle_timeout="60s",
                            export=[{"type": "elasticsearch", "url": elasticsearch.url, "index": "flows"}])
    aggregator.start()
    try:
        exporter = Exporter(aggregator.ports["udp"], "udp", domain=7)
        exporter.send(FLOWS)
        exporter.close()

        def complete():
            try:
                answer = elasticsearch.request("POST", "/flows*/_search", {"size": 100, "query": {"match_all": {}}})
            except Exception:  # pylint: disable=broad-except
                return None
            hits = answer["hits"]["hits"]
            return hits if len(hits) == len(FLOWS) else None
        hits = aggregator.wait_for(complete, timeout=20, what="the five flows in Elasticsearch")
    finally:
        aggregator.stop()
    after = _setup(folder, elasticsearch.url)
    return {"first": first, "second": second, "after_aggregator": after, "hits": hits}


def test_role_installs_the_index_template_idempotently(indexed, elasticsearch):
    assert indexed["first"]["changed"] == 1 and indexed["first"]["failures"] == 0
    assert indexed["second"]["changed"] == 0
    # the aggregator's sink installed its template on start; the role finds it the same: one template for both
    assert indexed["after_aggregator"]["changed"] == 0
    got = elasticsearch.request("GET", "/_index_template/flows-flows")["index_templates"][0]["index_template"]
    want = flow_index_template("flows")
    assert sorted(got["index_patterns"]) == ["flows", "flows-*"]
    assert got["template"]["mappings"]["properties"] == want["template"]["mappings"]["properties"]


def test_flows_indexed_with_template_types(indexed, elasticsearch):
    docs = {hit["_source"]["sourceTransportPort"]: hit["_source"] for hit in indexed["hits"]}
    assert docs[41003]["destinationServicePortName"] == "web/https"
    assert docs[41002]["octetTotalCount"] == 1000
    mapping = elasticsearch.request("GET", "/flows/_mapping")["flows"]["mappings"]["properties"]
    assert mapping["destinationIPv4Address"]["type"] == "ip"
    assert mapping["flowEndSeconds"]["type"] == "date"
    cidr = elasticsearch.request("POST", "/flows*/_search",
                                 {"query": {"term": {"destinationIPv4Address": "192.0.2.0/24"}}})
    assert len(cidr["hits"]["hits"]) == 2


@pytest.mark.parametrize("vis_id", sorted(EXPECTED))
def test_dashboard_queries_return_hand_computed_numbers(indexed, elasticsearch, vis_id):
    del indexed
    obj = next(o for o in kibana_objects.saved_objects("flows") if o["id"] == vis_id)
    body, buckets, metrics = search_body(obj, kibana_objects.TIME_FIELD, since=HOUR_A - HOUR)
    answer = elasticsearch.request("POST", "/flows*/_search", body)
    got = rows(answer, buckets, metrics)
    assert got == EXPECTED[vis_id]


def test_every_visualization_on_a_dashboard_is_checked():
    panels = set()
    for obj in kibana_objects.saved_objects("flows"):
        if obj["type"] == "dashboard":
            panels |= {ref["id"] for ref in obj["references"] if ref["type"] == "visualization"}
    assert panels == set(EXPECTED)


def test_setup_script_of_the_manifests_installs_the_template(elasticsearch, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    play = tmp_path / "render.yml"
    play.write_text("- hosts: localhost\n  connection: local\n  gather_facts: false\n  roles:\n"
                    "    - role: netdiag.tracekit.elk_collector\n")
    out_dir = str(tmp_path / "m")
    rc, out, err = run_playbook(str(play), {"ansible_python_interpreter": sys.executable,
                                            "elk_collector_manifest_dir": out_dir, "elk_collector_ilm": False,
                                            "elk_collector_index": "elkscript"}, inventory="localhost,")
    assert rc == 0, out[-2000:] + err[-2000:]
    proc = subprocess.run(["/bin/sh", os.path.join(out_dir, "setup.sh")], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, ES=elasticsearch.url, KB="none", SETUP_DIR=out_dir, TRIES="3"),
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = elasticsearch.request("GET", "/_index_template/elkscript-flows")["index_templates"][0]["index_template"]
    assert sorted(got["index_patterns"]) == ["elkscript", "elkscript-*"]
    assert got["template"]["mappings"]["properties"]["sourcePodName"]["type"] == "keyword"

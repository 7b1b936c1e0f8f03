"""The flow aggregator as a real process fed real IPFIX over UDP, TCP and TLS by several exporters.

Expected values are computed by hand from the records the test sends (Antrea's semantics in
../shared/seeds/001_*: the source node's counters go to ...FromSourceNode, the destination node's to
...FromDestinationNode; pod, node and policy elements come from whichever side has them).
The Elasticsearch sink writes to osmem-server, an in-memory OpenSearch-compatible server running as a real
process on loopback: it stands in for Elasticsearch, which cannot run here.
"""

import json
import os
import socket
import ssl
import struct
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from flow_aggregator_proc import TOKEN, Aggregator, Exporter, flow_record, free_port, make_pki

T0 = int(time.time()) - 30
CLIENT, SERVER, OTHER, BACKEND = "10.244.1.5", "10.244.2.7", "10.244.1.6", "10.244.2.9"

SRC_NODE = flow_record(CLIENT, SERVER, 40000, 8080, flowType=2, sourcePodName="client", sourcePodNamespace="default",
                       sourceNodeName="node1", egressNetworkPolicyName="allow-egress",
                       flowStartSeconds=T0, flowEndSeconds=T0 + 5,
                       packetTotalCount=10, octetTotalCount=1000, packetDeltaCount=10, octetDeltaCount=1000,
                       reversePacketTotalCount=8, reverseOctetTotalCount=6400, reversePacketDeltaCount=8,
                       reverseOctetDeltaCount=6400)
DST_NODE = flow_record(CLIENT, SERVER, 40000, 8080, flowType=2, destinationPodName="server",
                       destinationPodNamespace="web", destinationNodeName="node2",
                       ingressNetworkPolicyName="allow-web", flowStartSeconds=T0 + 1, flowEndSeconds=T0 + 6,
                       packetTotalCount=9, octetTotalCount=900, packetDeltaCount=9, octetDeltaCount=900,
                       reversePacketTotalCount=8, reverseOctetTotalCount=6400, reversePacketDeltaCount=8,
                       reverseOctetDeltaCount=6400)
INTRA = flow_record(CLIENT, OTHER, 40001, 5432, flowType=1, sourcePodName="client", sourcePodNamespace="default",
                    destinationPodName="db", destinationPodNamespace="data", sourceNodeName="node1",
                    destinationNodeName="node1", packetTotalCount=4, octetTotalCount=400,
                    reversePacketTotalCount=3, reverseOctetTotalCount=300, flowStartSeconds=T0,
                    flowEndSeconds=T0 + 2)
SVC_SRC = flow_record(CLIENT, BACKEND, 40002, 8443, flowType=2, sourcePodName="client",
                      sourcePodNamespace="default", sourceNodeName="node1", destinationClusterIPv4="10.96.0.10",
                      destinationServicePort=443, destinationServicePortName="web/https", packetTotalCount=6,
                      octetTotalCount=600, flowStartSeconds=T0, flowEndSeconds=T0 + 3)
# The destination node reports this connection from the other end: its forward counters are the flow's reverse.
SVC_DST_REVERSED = flow_record(BACKEND, CLIENT, 8443, 40002, flowType=2, sourcePodName="api",
                               sourcePodNamespace="web", sourceNodeName="node2", packetTotalCount=5,
                               octetTotalCount=5000, reversePacketTotalCount=6, reverseOctetTotalCount=600,
                               flowStartSeconds=T0, flowEndSeconds=T0 + 3)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def elasticsearch():
    osmem = pytest.importorskip("osmem_server")
    server = osmem.OsmemServer.start(japanese=False)
    yield server
    server.close()


@pytest.fixture(scope="module")
def nfcapd(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("nfcapd"))
    port = free_port(socket.SOCK_DGRAM)
    proc = subprocess.Popen(["nfcapd", "-w", folder, "-b", "127.0.0.1", "-p", str(port), "-t", "3600"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    yield {"port": port, "folder": folder, "proc": proc}
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def agg(tmp_path_factory, pki, elasticsearch, nfcapd):
    folder = tmp_path_factory.mktemp("agg")
    export = [{"type": "jsonl", "path": os.path.join(str(folder), "flows.jsonl")},
              {"type": "elasticsearch", "url": elasticsearch.url, "index": "flows"},
              {"type": "ipfix", "address": "127.0.0.1:%d" % nfcapd["port"], "transport": "udp"}]
    aggregator = Aggregator(folder, collect=("udp", "tcp", "tls"), pki=pki, token=TOKEN, active_timeout="1s",
                            idle_timeout="60s", export=export)
    aggregator.start()
    try:
        src = Exporter(aggregator.ports["udp"], "udp", domain=1)
        dst = Exporter(aggregator.ports["tcp"], "tcp", domain=2)
        tls = Exporter(aggregator.ports["tls"], "tls", domain=3, pki=pki)
        src.send([SRC_NODE, SVC_SRC])
        # the source node's records first, so the flows take their direction from it
        aggregator.wait_for(lambda: len(aggregator.flows()) >= 2, what="the source node's two flows")
        dst.send([DST_NODE, SVC_DST_REVERSED])
        tls.send([INTRA])
        aggregator.wait_for(lambda: len(aggregator.flows()) >= 3, what="three flows in the API")
    except BaseException:
        aggregator.stop()
        raise
    aggregator.exporters = (src, dst, tls)
    yield aggregator
    for exporter in (src, dst, tls):
        exporter.close()
    aggregator.stop()


def _one(agg, **params):
    flows = agg.flows(**params)
    assert len(flows) == 1, flows
    return flows[0]


def test_inter_node_flow_is_one_record_with_both_nodes_counters(agg):
    flow = _one(agg, src_ip=CLIENT, src_port=40000)
    assert (flow["sourceIPv4Address"], flow["destinationIPv4Address"]) == (CLIENT, SERVER)
    assert (flow["sourceTransportPort"], flow["destinationTransportPort"], flow["protocolIdentifier"]) == (40000, 8080, 6)
    assert flow["packetTotalCountFromSourceNode"] == 10 and flow["octetTotalCountFromSourceNode"] == 1000
    assert flow["packetTotalCountFromDestinationNode"] == 9 and flow["octetTotalCountFromDestinationNode"] == 900
    assert flow["reverseOctetTotalCountFromSourceNode"] == 6400
    assert flow["reversePacketDeltaCountFromDestinationNode"] == 8
    assert (flow["sourcePodName"], flow["sourcePodNamespace"], flow["sourceNodeName"]) == ("client", "default", "node1")
    assert (flow["destinationPodName"], flow["destinationPodNamespace"], flow["destinationNodeName"]) == \
        ("server", "web", "node2")
    assert flow["egressNetworkPolicyName"] == "allow-egress" and flow["ingressNetworkPolicyName"] == "allow-web"
    assert flow["originalExporterIPv4Address"] == "127.0.0.1"
    assert flow["originalObservationDomainId"] == 1  # the source node's exporter
    assert flow["flowStartSeconds"] == T0 and flow["flowEndSeconds"] == T0 + 6


def test_intra_node_flow_counts_for_both_sides(agg):
    flow = _one(agg, dst_ip=OTHER)
    assert flow["flowType"] == 1
    assert flow["packetTotalCountFromSourceNode"] == flow["packetTotalCountFromDestinationNode"] == 4
    assert flow["reverseOctetTotalCountFromDestinationNode"] == 300
    assert flow["originalObservationDomainId"] == 3


def test_service_flow_keeps_cluster_ip_and_takes_the_reversed_view(agg):
    flow = _one(agg, dst_port=8443)
    assert (flow["sourceIPv4Address"], flow["destinationIPv4Address"]) == (CLIENT, BACKEND)
    assert flow["destinationClusterIPv4"] == "10.96.0.10" and flow["destinationServicePort"] == 443
    assert flow["destinationServicePortName"] == "web/https"
    assert flow["packetTotalCountFromSourceNode"] == 6
    # the destination node counted 5 packets backend -> client (its forward), 6 client -> backend
    assert flow["packetTotalCountFromDestinationNode"] == 6
    assert flow["reversePacketTotalCountFromDestinationNode"] == 5
    assert flow["reverseOctetTotalCountFromDestinationNode"] == 5000
    assert flow["destinationPodName"] == "api" and flow["destinationNodeName"] == "node2"


def test_api_filters(agg):
    assert {f["destinationTransportPort"] for f in agg.flows(node="node2")} == {8080, 8443}
    assert {f["destinationTransportPort"] for f in agg.flows(pod="db")} == {5432}
    assert {f["destinationTransportPort"] for f in agg.flows(namespace="web")} == {8080, 8443}
    assert {f["destinationTransportPort"] for f in agg.flows(policy="allow-web")} == {8080}
    assert {f["destinationTransportPort"] for f in agg.flows(endpoint=OTHER)} == {5432}
    assert len(agg.flows(protocol="tcp")) >= 3 and agg.flows(protocol="udp") == []
    assert agg.flows(src_ip=SERVER) == []
    assert len(agg.flows(limit=1)) == 1
    assert len(agg.flows(since="10m")) >= 3 and agg.flows(until=str(time.time() - 3600)) == []
    assert agg.flows(since="2001-01-01T00:00:00Z", dst_port=8080)


def test_api_refuses_bad_parameters_and_missing_token(agg):
    for query, word in (("src_ip=10.1", "src_ip"), ("dst_port=70000", "dst_port"), ("colour=red", "colour"),
                        ("since=yesterday", "since"), ("limit=0", "limit")):
        with pytest.raises(urllib.error.HTTPError) as err:
            agg.get("/api/v1/flows?" + query)
        assert err.value.code == 400
        assert word in json.loads(err.value.read())["error"]
    with pytest.raises(urllib.error.HTTPError) as err:
        agg.get("/api/v1/flows", token=False)
    assert err.value.code == 401
    assert agg.get("/healthz", token=False)["status"] == "ok"


def test_sequence_gap_is_counted_as_loss_per_exporter(agg):
    exporter = Exporter(agg.ports["udp"], "udp", domain=7)
    first = exporter.encoder.encode([flow_record("10.9.0.1", "10.9.0.2", 1000 + i, 53, 17) for i in range(5)])
    lost = exporter.encoder.encode([flow_record("10.9.0.1", "10.9.0.2", 2000 + i, 53, 17) for i in range(3)])
    last = exporter.encoder.encode([flow_record("10.9.0.1", "10.9.0.2", 3000 + i, 53, 17) for i in range(2)])
    assert len(first) == len(lost) == len(last) == 1
    exporter.send_raw(first[0])
    exporter.send_raw(last[0])
    label = "udp:127.0.0.1:%d" % exporter.sock.getsockname()[1]
    metrics = agg.wait_value(agg.metrics, lambda m: m.get(("flow_aggregator_decoded_total", label)) == 7,
                             what="7 records decoded from the gap exporter")
    assert metrics[("flow_aggregator_lost_total", label)] == 3
    assert metrics[("flow_aggregator_received_total", label)] == 2
    exporter.close()


def test_malformed_input_is_counted_and_others_carry_on(agg):
    bad = Exporter(agg.ports["udp"], "udp", domain=8)
    label = "udp:127.0.0.1:%d" % bad.sock.getsockname()[1]
    for junk in (b"", b"\x00\x0a", b"\x00\x0a\x00\x14" + b"\xff" * 16, os.urandom(300),
                 struct.pack("!HHIII", 10, 24, 0, 0, 0) + struct.pack("!HH", 2, 0) + b"\x00" * 4):
        bad.send_raw(junk)
    # a TCP exporter whose stream is garbage gets closed; the others are not disturbed
    raw = socket.create_connection(("127.0.0.1", agg.ports["tcp"]), timeout=5)
    raw.sendall(b"\x00\x05\x00\x10" + b"\x00" * 12)
    bad.send([flow_record("10.8.0.1", "10.8.0.2", 999, 80)])
    agg.exporters[1].send([flow_record("10.8.0.3", "10.8.0.4", 998, 80)])
    agg.wait_for(lambda: agg.flows(src_ip="10.8.0.1") and agg.flows(src_ip="10.8.0.3"), what="records after junk")
    assert agg.metrics()[("flow_aggregator_rejected_total", label)] >= 3
    raw.settimeout(5)
    assert raw.recv(10) == b""  # closed by the aggregator
    raw.close()
    bad.close()


def test_tls_without_a_valid_client_certificate_is_refused(agg, pki):
    before = agg.metrics()[("flow_aggregator_tls_refused_total", None)]
    for client in (None, "rogue"):
        try:
            exporter = Exporter(agg.ports["tls"], "tls", domain=9, pki=pki, client=client)
            exporter.send([flow_record("10.7.0.1", "10.7.0.2", 1, 80)])
            exporter.sock.settimeout(3)
            exporter.sock.recv(10)
            exporter.close()
        except (ssl.SSLError, OSError):
            pass
    agg.wait_for(lambda: agg.metrics()[("flow_aggregator_tls_refused_total", None)] >= before + 2,
                 what="two refused handshakes")
    time.sleep(0.5)
    assert agg.flows(src_ip="10.7.0.1") == []


def test_metrics_count_per_exporter(agg):
    metrics = agg.metrics()
    assert metrics[("flow_aggregator_correlated_total", None)] >= 3
    assert metrics[("flow_aggregator_stored_total", None)] >= 3
    assert metrics[("flow_aggregator_evicted_total", None)] == 0
    tls_labels = [label for (name, label) in metrics if name == "flow_aggregator_decoded_total"
                  and label and label.startswith("tls:")]
    assert tls_labels and metrics[("flow_aggregator_decoded_total", tls_labels[0])] == 1


def _jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_jsonl_sink_gets_the_correlated_flow(agg):
    path = os.path.join(agg.folder, "flows.jsonl")
    records = agg.wait_for(lambda: [r for r in _jsonl(path) if r.get("sourceTransportPort") == 40000
                                    and "packetTotalCountFromDestinationNode" in r], what="the flow in jsonl")
    assert records[-1]["packetTotalCountFromSourceNode"] == 10
    assert records[-1]["packetTotalCountFromDestinationNode"] == 9


def test_elasticsearch_sink_bulk_and_index_template(agg, elasticsearch):
    def search():
        try:
            answer = elasticsearch.request("POST", "/flows/_search",
                                           {"query": {"term": {"destinationPodName": "server"}}})
        except Exception:  # pylint: disable=broad-except
            return None
        return answer["hits"]["hits"]
    hits = agg.wait_for(search, what="the flow in Elasticsearch")
    doc = hits[0]["_source"]
    assert doc["packetTotalCountFromDestinationNode"] == 9 and doc["sourcePodName"] == "client"
    mapping = elasticsearch.request("GET", "/flows/_mapping")["flows"]["mappings"]["properties"]
    assert mapping["sourceIPv4Address"]["type"] == "ip"
    assert mapping["sourcePodName"]["type"] == "keyword"
    assert mapping["octetTotalCount"]["type"] == "long"
    assert mapping["flowStartSeconds"]["type"] == "date"
    # the ip mapping is live: a CIDR term query finds the flow
    cidr = elasticsearch.request("POST", "/flows/_search", {"query": {"term": {"destinationIPv4Address": "10.244.2.0/24"}}})
    assert cidr["hits"]["hits"]


def test_ipfix_sink_reaches_nfcapd(agg, nfcapd):
    agg.wait_for(lambda: agg.metrics().get(("flow_aggregator_exported_total", "ipfix2"), 0) >= 3,
                 what="three records sent to nfcapd")
    time.sleep(0.5)
    nfcapd["proc"].terminate()
    nfcapd["proc"].wait(10)
    out = subprocess.run(["nfdump", "-R", nfcapd["folder"], "-o", "csv", "-q"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    assert "10.244.2.7" in out and "8080" in out, out

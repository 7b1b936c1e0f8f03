"""A real lab run into the ELK collector's Elasticsearch side: conntrack_export on two "nodes" (network
namespaces routing between two "pods", prefix tkel-, removed at the end) sends IPFIX through
playbooks/collect_flows.yml to a real flow aggregator, whose Elasticsearch sink bulk-indexes the correlated flow
into osmem-server (an OpenSearch-compatible in-memory server, a real process on loopback, standing in for
Elasticsearch, which cannot run here) after the elk_collector role's setup installed the index template. The
pod-to-pod dashboard's query (taken from the saved object) then finds the flow with the byte count the
aggregator's API reports, and the node-to-node one puts it from node1 to node2.

Needs root (namespaces) and the conntrack_export module.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, need_root, run_playbook
from flow_aggregator_proc import Aggregator
from kibana_queries import rows, search_body

from ansible_collections.netdiag.tracekit.plugins.module_utils.flows import kibana_objects

NS = ("tkel-p1", "tkel-n1", "tkel-n2", "tkel-p2")
SETUP = """
ip link add tkel-a type veth peer name tkel-b
ip link set tkel-a netns tkel-p1; ip link set tkel-b netns tkel-n1
ip link add tkel-c type veth peer name tkel-d
ip link set tkel-c netns tkel-n1; ip link set tkel-d netns tkel-n2
ip link add tkel-e type veth peer name tkel-f
ip link set tkel-e netns tkel-n2; ip link set tkel-f netns tkel-p2
ip -n tkel-p1 addr add 10.252.1.2/24 dev tkel-a; ip -n tkel-n1 addr add 10.252.1.1/24 dev tkel-b
ip -n tkel-n1 addr add 10.252.0.1/30 dev tkel-c; ip -n tkel-n2 addr add 10.252.0.2/30 dev tkel-d
ip -n tkel-n2 addr add 10.252.2.1/24 dev tkel-e; ip -n tkel-p2 addr add 10.252.2.2/24 dev tkel-f
for ns in tkel-p1 tkel-n1 tkel-n2 tkel-p2; do ip -n $ns link set lo up; done
ip -n tkel-p1 link set tkel-a up; ip -n tkel-n1 link set tkel-b up; ip -n tkel-n1 link set tkel-c up
ip -n tkel-n2 link set tkel-d up; ip -n tkel-n2 link set tkel-e up; ip -n tkel-p2 link set tkel-f up
ip -n tkel-p1 route add default via 10.252.1.1; ip -n tkel-p2 route add default via 10.252.2.1
ip -n tkel-n1 route add 10.252.2.0/24 via 10.252.0.2; ip -n tkel-n2 route add 10.252.1.0/24 via 10.252.0.1
for ns in tkel-n1 tkel-n2; do
  ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_acct=1
  ip netns exec $ns nft add table inet tkel
  ip netns exec $ns nft add chain inet tkel tkel_fwd '{ type filter hook forward priority 0; policy accept; }'
  ip netns exec $ns nft add rule inet tkel tkel_fwd ct state new,established counter accept
done
"""
SERVER = ("import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
          "s.bind(('10.252.2.2', 8080)); s.listen(); s.settimeout(20); c, _ = s.accept(); "
          "n = 0\nwhile n < 3000:\n d = c.recv(65536)\n if not d: break\n n += len(d)\nc.sendall(b'y' * 500); c.close()")
CLIENT = ("import socket, time; c=socket.create_connection(('10.252.2.2', 8080), timeout=10); "
          "c.sendall(b'x' * 3000); c.recv(1000); time.sleep(0.2); c.close()")


def _cleanup():
    for ns in NS:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def topology():
    need_root()
    if not os.path.exists(os.path.join(REPO, "plugins", "modules", "conntrack_export.py")):
        pytest.skip("needs the conntrack_export module")
    _cleanup()
    for ns in NS:
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["bash", "-ec", SETUP], check=True, capture_output=True, timeout=60)
        yield
    finally:
        _cleanup()


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


def test_lab_flow_reaches_the_dashboards(tmp_path, topology, elasticsearch):
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
    inventory.write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "tracekit_endpoints": {"pod1": {"node": "node1", "netns": "tkel-p1", "ip": "10.252.1.2"},
                                        "pod2": {"node": "node2", "netns": "tkel-p2", "ip": "10.252.2.2"}}},
        "children": {"tracekit_nodes": {"hosts": {"node1": {"tracekit_netns": "tkel-n1"},
                                                  "node2": {"tracekit_netns": "tkel-n2"}}}}}}))
    server = subprocess.Popen(["ip", "netns", "exec", "tkel-p2", sys.executable, "-c", SERVER])
    time.sleep(0.5)
    subprocess.run(["ip", "netns", "exec", "tkel-p1", sys.executable, "-c", CLIENT], timeout=20, check=True)
    server.wait(20)
    flows_file = str(tmp_path / "flows.json")
    try:
        rc, out, err = run_playbook("playbooks/collect_flows.yml", {
            "aggregator_api": "http://127.0.0.1:%d" % agg.api_port, "start_aggregator": False,
            "collectors": [agg.address("udp")], "mode": "snapshot", "collect_flows_become": False,
            "flows_file": flows_file, "flow_port": 8080}, inventory=str(inventory), timeout=180)
        assert rc == 0, out[-4000:] + err[-2000:]
        with open(flows_file, encoding="utf-8") as handle:
            api_flow = [f for f in json.load(handle)["flows"] if f.get("sourceIPv4Address") == "10.252.1.2"][0]

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

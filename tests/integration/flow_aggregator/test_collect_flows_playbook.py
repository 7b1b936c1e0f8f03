"""End to end: playbooks/collect_flows.yml runs conntrack_export on two "nodes" (network namespaces routing
between two "pods") toward a real aggregator; the inter-node pod-to-pod TCP flow comes back as one record with
both nodes' counters and both pods' names.

NEEDS the conntrack helper's module (plugins/modules/conntrack_export.py, options netns, mode, duration,
endpoints, output, collector, transport, observation_domain_id): skipped until that branch is merged.
Namespaces use the prefix tkfa- and are removed at the end.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, need_root, run_playbook
from flow_aggregator_proc import Aggregator

NS = ("tkfa-p1", "tkfa-n1", "tkfa-n2", "tkfa-p2")
SETUP = """
ip link add tkfa-a type veth peer name tkfa-b
ip link set tkfa-a netns tkfa-p1; ip link set tkfa-b netns tkfa-n1
ip link add tkfa-c type veth peer name tkfa-d
ip link set tkfa-c netns tkfa-n1; ip link set tkfa-d netns tkfa-n2
ip link add tkfa-e type veth peer name tkfa-f
ip link set tkfa-e netns tkfa-n2; ip link set tkfa-f netns tkfa-p2
ip -n tkfa-p1 addr add 10.251.1.2/24 dev tkfa-a; ip -n tkfa-n1 addr add 10.251.1.1/24 dev tkfa-b
ip -n tkfa-n1 addr add 10.251.0.1/30 dev tkfa-c; ip -n tkfa-n2 addr add 10.251.0.2/30 dev tkfa-d
ip -n tkfa-n2 addr add 10.251.2.1/24 dev tkfa-e; ip -n tkfa-p2 addr add 10.251.2.2/24 dev tkfa-f
for ns in tkfa-p1 tkfa-n1 tkfa-n2 tkfa-p2; do ip -n $ns link set lo up; done
ip -n tkfa-p1 link set tkfa-a up; ip -n tkfa-n1 link set tkfa-b up; ip -n tkfa-n1 link set tkfa-c up
ip -n tkfa-n2 link set tkfa-d up; ip -n tkfa-n2 link set tkfa-e up; ip -n tkfa-p2 link set tkfa-f up
ip -n tkfa-p1 route add default via 10.251.1.1; ip -n tkfa-p2 route add default via 10.251.2.1
ip -n tkfa-n1 route add 10.251.2.0/24 via 10.251.0.2; ip -n tkfa-n2 route add 10.251.1.0/24 via 10.251.0.1
for ns in tkfa-n1 tkfa-n2; do
  ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1 net.netfilter.nf_conntrack_acct=1
  ip netns exec $ns nft add table inet tkfa
  ip netns exec $ns nft add chain inet tkfa tkfa_fwd '{ type filter hook forward priority 0; policy accept; }'
  ip netns exec $ns nft add rule inet tkfa tkfa_fwd ct state new,established counter accept
done
"""
SERVER = ("import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
          "s.bind(('10.251.2.2', 8080)); s.listen(); s.settimeout(20); c, _ = s.accept(); "
          "n = 0\nwhile n < 3000:\n d = c.recv(65536)\n if not d: break\n n += len(d)\nc.sendall(b'y' * 500); c.close()")
CLIENT = ("import socket, time; c=socket.create_connection(('10.251.2.2', 8080), timeout=10); "
          "c.sendall(b'x' * 3000); c.recv(1000); time.sleep(0.2); c.close()")


def _cleanup():
    for ns in NS:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


@pytest.fixture
def topology():
    need_root()
    if not os.path.exists(os.path.join(REPO, "plugins", "modules", "conntrack_export.py")):
        pytest.skip("needs the conntrack_export module (conntrack helper's branch) merged")
    _cleanup()
    for ns in NS:
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["bash", "-ec", SETUP], check=True, capture_output=True, timeout=60)
        yield
    finally:
        _cleanup()


def test_collect_flows_inter_node_flow_is_one_record(tmp_path, topology):
    agg = Aggregator(tmp_path / "agg", collect=("udp",)).start()
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "tracekit_endpoints": {"pod1": {"node": "node1", "netns": "tkfa-p1", "ip": "10.251.1.2"},
                                        "pod2": {"node": "node2", "netns": "tkfa-p2", "ip": "10.251.2.2"}}},
        "children": {"tracekit_nodes": {"hosts": {"node1": {"tracekit_netns": "tkfa-n1"},
                                                  "node2": {"tracekit_netns": "tkfa-n2"}}}}}}))

    # The connection first; then a snapshot of both nodes' tables (in TIME_WAIT, with its counters: the kernel
    # sends counters in a dump or a DESTROY event, not in NEW/UPDATE events).
    server = subprocess.Popen(["ip", "netns", "exec", "tkfa-p2", sys.executable, "-c", SERVER])
    time.sleep(0.5)
    subprocess.run(["ip", "netns", "exec", "tkfa-p1", sys.executable, "-c", CLIENT], timeout=20, check=True)
    server.wait(20)
    flows_file = str(tmp_path / "flows.json")
    try:
        rc, out, err = run_playbook("playbooks/collect_flows.yml", {
            "aggregator_api": "http://127.0.0.1:%d" % agg.api_port, "start_aggregator": False,
            "collectors": [agg.address("udp")], "mode": "snapshot", "collect_flows_become": False,
            "flows_file": flows_file, "flow_port": 8080}, inventory=str(inventory), timeout=180)
        assert rc == 0, out[-4000:] + err[-2000:]
        with open(flows_file, encoding="utf-8") as handle:
            flows = json.load(handle)["flows"]
        mine = [f for f in flows if f.get("sourceIPv4Address") == "10.251.1.2"
                and f.get("destinationIPv4Address") == "10.251.2.2" and f.get("destinationTransportPort") == 8080]
        assert len(mine) == 1, flows
        flow = mine[0]
        assert flow["packetTotalCountFromSourceNode"] > 0 and flow["packetTotalCountFromDestinationNode"] > 0
        assert flow["octetTotalCountFromSourceNode"] >= 3000 and flow["octetTotalCountFromDestinationNode"] >= 3000
        assert (flow["sourcePodName"], flow["destinationPodName"]) == ("pod1", "pod2")
        assert (flow["sourceNodeName"], flow["destinationNodeName"]) == ("node1", "node2")
    finally:
        agg.stop()

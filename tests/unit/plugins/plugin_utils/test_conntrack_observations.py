"""conntrack entries of a probe -> runbook observations, and the backend in the diagnosis.

Entries are conntrack -L lines of the form the lab's nodes print (node1 DNATs the service 10.96.0.10:80 to
n2-pod1 10.244.2.10:8080); expected texts are written by hand.
"""

from ansible_collections.netdiag.tracekit.plugins.module_utils.conntrack.text_parser import parse_conntrack
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.conntrack_observations import conntrack_observations
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.diagnosis import diagnose

PROBE = {"src": "10.244.1.10", "dst": "10.96.0.10", "src_port": 40001, "dst_port": 80, "protocol": "tcp"}
SRC = {"name": "n1-pod1", "node": "node1", "netns": "lab-n1-pod1", "ip": "10.244.1.10"}
SVC = {"name": "web", "kind": "service", "node": None, "netns": None, "ip": "10.96.0.10"}
ENDPOINTS = {"n1-pod1": {"node": "node1", "netns": "lab-n1-pod1", "ips": ["10.244.1.10"]},
             "n2-pod1": {"node": "node2", "netns": "lab-n2-pod1", "ips": ["10.244.2.10"]}}
NODE1 = parse_conntrack(
    "tcp 6 119 SYN_SENT src=10.244.1.10 dst=10.96.0.10 sport=40001 dport=80 [UNREPLIED] "
    "src=10.244.2.10 dst=10.244.1.10 sport=8080 dport=40001 mark=0 use=1\n"
    "tcp 6 119 SYN_SENT src=10.244.1.10 dst=10.96.0.10 sport=40002 dport=80 [UNREPLIED] "   # another probe
    "src=10.244.2.11 dst=10.244.1.10 sport=8080 dport=40002 mark=0 use=1\n")
NODE2 = parse_conntrack(
    "tcp 6 60 SYN_RECV src=10.244.1.10 dst=10.244.2.10 sport=40001 dport=8080 packets=1 bytes=60 "
    "src=10.244.2.10 dst=10.244.1.10 sport=8080 dport=40001 packets=1 bytes=60 mark=0 zone=3 use=1\n")


def test_state_and_dnat_become_observations_with_the_backend():
    results = [{"item": "lab-node1", "flows": NODE1}, {"item": "lab-n1-pod1", "flows": []},
               {"item": "lab-x", "failed": True, "msg": "no such namespace"}]
    obs, untracked = conntrack_observations(results, "node1", PROBE, SRC, SVC, node_netns="lab-node1",
                                            aliases=["10.244.2.10"], endpoints=ENDPOINTS)
    assert untracked == ["lab-n1-pod1"]
    assert [(o["action"], o["reason"]) for o in obs] == [
        ("Received", "TCP SYN_SENT [UNREPLIED], no reply seen"),
        ("Forwarded", "DNAT 10.96.0.10:80 -> 10.244.2.10:8080 (backend n2-pod1)")]
    assert all(o["node"] == "node1" and o["netns"] == "lab-node1" and o["endpoint"] == "node1" for o in obs)
    assert obs[1]["backend"] == "n2-pod1" and obs[0]["component"] == "conntrack"


def test_destination_node_shows_the_reply_zone_and_counters():
    dst = {"name": "n2-pod1", "node": "node2", "netns": "lab-n2-pod1", "ip": "10.244.2.10"}
    probe = dict(PROBE, dst="10.244.2.10", dst_port=8080)
    (obs,), _untracked = conntrack_observations(
        [{"item": "lab-node2", "flows": NODE2}], "node2", probe, SRC, dst,
        netns_endpoints={"lab-n2-pod1": "n2-pod1"}, node_netns="lab-node2")
    assert obs["reason"] == "TCP SYN_RECV, reply seen (zone 3, 1 packets sent, 1 back)"


def test_source_namespace_entry_is_sent_and_snat_is_named():
    flows = parse_conntrack("udp 17 29 src=10.244.1.10 dst=10.96.0.10 sport=40001 dport=53 [UNREPLIED] "
                            "src=10.96.0.10 dst=192.0.2.1 sport=53 dport=40001 mark=42 use=1\n")
    probe = dict(PROBE, dst_port=53, protocol="udp")
    obs, _untracked = conntrack_observations(
        [{"item": "lab-n1-pod1", "flows": flows}], "node1", probe, SRC, SVC,
        netns_endpoints={"lab-n1-pod1": "n1-pod1"})
    assert [(o["action"], o["reason"], o["endpoint"]) for o in obs] == [
        ("Sent", "UDP [UNREPLIED], no reply seen (mark 0x2a)", "n1-pod1"),
        ("Forwarded", "SNAT 10.244.1.10:40001 -> 192.0.2.1:40001", "n1-pod1")]


def test_diagnosis_names_the_backend_conntrack_chose():
    obs, _untracked = conntrack_observations(
        [{"item": "lab-node1", "flows": NODE1}], "node1", PROBE, SRC, SVC,
        node_netns="lab-node1", aliases=["10.244.2.10"], endpoints=ENDPOINTS)
    injection = {"outcome": "reply", "probe": PROBE, "replies": [{"kind": "syn-ack", "from": "10.96.0.10", "rtt_ms": 1}]}
    result = diagnose(injection, SRC, SVC, captures=obs, endpoints=ENDPOINTS)
    assert result["verdict"] == "delivered" and result["backend"] == "n2-pod1"
    assert result["summary"].endswith("Conntrack sent it to backend n2-pod1.")
    assert diagnose(injection, SRC, SVC, captures=[], endpoints=ENDPOINTS)["backend"] is None

"""The diagnosis contract: verdict, drop point and summary from a probe result and capture observations."""

import pytest

from ansible_collections.netdiag.tracekit.plugins.plugin_utils import diagnosis as dg

ENDPOINTS = {
    "web": {"node": "node1", "netns": "lab-web", "ip": "10.244.1.11", "ips": ["10.244.1.11", "fd00:1::11"]},
    "db": {"node": "node2", "netns": "lab-db", "ip": "10.244.2.11", "ips": ["10.244.2.11"]},
}
NODES = {"node1": {"netns": "lab-node1", "ips": ["192.168.77.1", "10.244.1.1"]},
         "node2": {"netns": "lab-node2", "ips": ["192.168.77.2", "10.244.2.1"]}}
SRC = dg.resolve_endpoint("web", ENDPOINTS, NODES)
DST = dg.resolve_endpoint("db", ENDPOINTS, NODES)


def injection(outcome, replies=()):
    return {"outcome": outcome, "sent": 1, "sent_at": 100.0, "replies": list(replies),
            "probe": {"protocol": "tcp", "dst_port": 5432, "summary": "TCP ...", "timeout": 2.0, "hex": "00"}}


def kernel_drop(time, node="node2", netns="lab-node2", reason="NETFILTER_DROP"):
    return dg.observation("Dropped", "kernel", "nettrace", node=node, netns=netns, reason=reason, time=time,
                          detail="nft_do_chain")


def test_reply_means_delivered():
    result = dg.diagnose(injection("reply", [{"kind": "syn-ack", "from": "10.244.2.11", "time": 100.001,
                                              "rtt_ms": 1.0}]), SRC, DST, endpoints=ENDPOINTS, nodes=NODES)
    assert result["verdict"] == "delivered"
    assert result["drop_point"] is None
    assert [o["action"] for o in result["observations"]] == ["Sent", "Delivered"]
    assert result["observations"][1]["endpoint"] == "db"
    assert "delivered" in result["summary"]


def test_rst_without_capture_blames_who_sent_it():
    result = dg.diagnose(injection("reset", [{"kind": "rst", "from": "10.244.2.11", "time": 100.001}]),
                         SRC, DST, endpoints=ENDPOINTS, nodes=NODES)
    assert result["verdict"] == "rejected"
    assert result["drop_point"]["endpoint"] == "db"
    assert result["drop_point"]["reason"] == "TCP RST from 10.244.2.11"


def test_icmp_error_from_a_gateway_names_the_node():
    reply = {"kind": "dest-unreachable", "code_name": "net-unreachable", "from": "10.244.1.1", "time": 100.001}
    result = dg.diagnose(injection("icmp_error", [reply]), SRC, DST, endpoints=ENDPOINTS, nodes=NODES)
    assert result["verdict"] == "rejected"
    assert result["drop_point"]["node"] == "node1"
    assert result["drop_point"]["netns"] == "lab-node1"
    assert "net-unreachable" in result["drop_point"]["reason"]


def test_reject_with_kernel_drop_names_the_kernel_drop_point():
    """An nftables reject drops the probe and forges the RST with the pod's address: trust the capture."""
    result = dg.diagnose(injection("reset", [{"kind": "rst", "from": "10.244.2.11", "time": 100.002}]),
                         SRC, DST, captures=[kernel_drop(100.001)], endpoints=ENDPOINTS, nodes=NODES)
    assert result["verdict"] == "rejected"
    assert result["drop_point"]["node"] == "node2"
    assert result["drop_point"]["component"] == "kernel"
    assert "TCP RST" in result["drop_point"]["detail"]


def test_silence_with_a_drop_is_dropped_at_the_earliest_drop():
    captures = [kernel_drop(100.5, node="node1", netns="lab-node1", reason="LATER"), kernel_drop(100.1)]
    result = dg.diagnose(injection("no_reply"), SRC, DST, captures=captures, endpoints=ENDPOINTS, nodes=NODES,
                         captures_ran=["nettrace"])
    assert result["verdict"] == "dropped"
    assert result["drop_point"]["reason"] == "NETFILTER_DROP"
    assert result["drop_point"]["node"] == "node2"
    assert [o["time"] for o in result["observations"]] == sorted(o["time"] for o in result["observations"])


def test_silence_without_a_drop_is_no_reply():
    result = dg.diagnose(injection("no_reply"), SRC, DST, captures_ran=["nettrace"])
    assert result["verdict"] == "no_reply"
    assert result["drop_point"] is None
    assert "captures: nettrace" in result["summary"]


def test_contract_keys():
    result = dg.diagnose(injection("no_reply"), SRC, DST)
    assert set(["verdict", "probe", "drop_point", "observations", "summary"]) <= set(result)
    for obs in result["observations"]:
        assert set(dg.OBSERVATION_KEYS) <= set(obs)
        assert obs["action"] in dg.ACTIONS
    assert result["probe"]["node"] == "node1" and result["probe"]["netns"] == "lab-web"
    assert "hex" not in result["probe"]


def test_bad_capture_and_missing_outcome_are_clear_errors():
    with pytest.raises(dg.DiagnosisError, match="action 'Lost'"):
        dg.diagnose(injection("no_reply"), SRC, DST, captures=[{"action": "Lost"}])
    with pytest.raises(dg.DiagnosisError, match="no outcome"):
        dg.diagnose({"skipped": True}, SRC, DST)


def test_resolve_endpoint_by_name_ip_family_and_unknown():
    assert dg.resolve_endpoint("web", ENDPOINTS, family=6)["ip"] == "fd00:1::11"
    assert dg.resolve_endpoint("10.244.2.11", ENDPOINTS)["name"] == "db"
    assert dg.resolve_endpoint("192.168.77.2", ENDPOINTS, NODES)["kind"] == "node"
    ext = dg.resolve_endpoint("203.0.113.9", ENDPOINTS, NODES)
    assert ext["kind"] == "external" and ext["node"] is None
    with pytest.raises(dg.DiagnosisError, match="neither an IP address nor an endpoint"):
        dg.resolve_endpoint("nosuchpod", ENDPOINTS)
    with pytest.raises(dg.DiagnosisError, match="has no IPv6 address"):
        dg.resolve_endpoint("db", ENDPOINTS, family=6)


def ovn_drop(pipeline="egress", datapath="node2"):
    return dg.observation("Dropped", "ovn", "ovn-trace", node="node1", reason="ACL default_deny-postgres",
                          datapath=datapath, pipeline=pipeline, stage="ls_out_acl")


def test_ovn_drop_is_the_drop_point_only_without_a_kernel_drop():
    result = dg.diagnose(injection("no_reply"), SRC, DST, captures=[ovn_drop()], endpoints=ENDPOINTS, nodes=NODES)
    point = result["drop_point"]
    assert result["verdict"] == "dropped"
    # Placed on the node whose switch the datapath is, for the pod whose egress ACL it is; not on node1,
    # the host that ran ovn-trace.
    assert (point["node"], point["endpoint"], point["component"]) == ("node2", "db", "ovn")
    result = dg.diagnose(injection("no_reply"), SRC, DST, captures=[ovn_drop(), kernel_drop(100.1)],
                         endpoints=ENDPOINTS, nodes=NODES)
    assert result["drop_point"]["component"] == "kernel"
    assert any(o["component"] == "ovn" and o["action"] == "Dropped" for o in result["observations"])


def test_ovn_observation_of_an_unknown_datapath_stays_where_it_was_traced():
    obs = dg.locate_logical(ovn_drop(datapath="ovn_cluster_router", pipeline="ingress"), NODES, DST)
    assert obs["node"] == "node1" and obs["endpoint"] is None


# Two entries share pod-b's namespace, one per address family (docs/inventory.md allows it). A capture that
# maps namespaces to names keeps one name per namespace, here the last one seen: pod-b-v6.
SHARED = {
    "pod-a": {"node": "node1", "netns": "lab-a", "ip": "10.244.1.11"},
    "pod-b": {"node": "node2", "netns": "lab-b", "ip": "10.244.2.11"},
    "pod-b-v6": {"node": "node2", "netns": "lab-b", "ip": "fd00:2::11"},
    "pod-c": {"node": "node2", "netns": "lab-c", "ip": "10.244.2.12"},
    "pod-c-v6": {"node": "node2", "netns": "lab-c", "ip": "fd00:2::12"},
}


def shared_drop(netns="lab-b", endpoint="pod-b-v6"):
    return dg.observation("Dropped", "kernel", "nettrace", node="node2", netns=netns, endpoint=endpoint,
                          reason="NETFILTER_DROP", time=100.1)


def test_shared_namespace_names_the_endpoint_the_probe_was_sent_to():
    src = dg.resolve_endpoint("pod-a", SHARED, NODES)
    for dst_name, family in (("pod-b", 4), ("10.244.2.11", 4), ("pod-b-v6", 6), ("fd00:2::11", 6)):
        dst = dg.resolve_endpoint(dst_name, SHARED, NODES)
        want = "pod-b" if family == 4 else "pod-b-v6"
        for seen_as in ("pod-b", "pod-b-v6"):
            result = dg.diagnose(injection("no_reply"), src, dst, captures=[shared_drop(endpoint=seen_as)],
                                 endpoints=SHARED, nodes=NODES)
            assert result["drop_point"]["endpoint"] == want, (dst_name, seen_as)
            assert "dropped at %s, node node2" % want in result["summary"]


def test_shared_namespace_of_neither_end_names_the_entry_of_the_probes_family():
    """A service backend's namespace: neither source nor destination lives there; the family decides."""
    src = dg.resolve_endpoint("pod-a", SHARED, NODES)
    dst = dg.resolve_endpoint("web", SHARED, NODES, {"web": {"ip": "10.96.0.10", "backends": ["pod-c"]}})
    result = dg.diagnose(injection("no_reply"), src, dst, captures=[shared_drop("lab-c", "pod-c-v6")],
                         endpoints=SHARED, nodes=NODES)
    assert result["drop_point"]["endpoint"] == "pod-c"


def test_names_outside_shared_namespaces_are_left_as_the_capture_gave_them():
    src = dg.resolve_endpoint("pod-a", SHARED, NODES)
    dst = dg.resolve_endpoint("pod-b", SHARED, NODES)
    # The node's own namespace, named after the pod its policy protects: not a pod entry of that namespace.
    result = dg.diagnose(injection("no_reply"), src, dst, captures=[shared_drop("lab-node2", "pod-b")],
                         endpoints=SHARED, nodes=NODES)
    assert result["drop_point"]["endpoint"] == "pod-b"
    result = dg.diagnose(injection("no_reply"), src, dst, captures=[shared_drop("lab-node2", "node2")],
                         endpoints=SHARED, nodes=NODES)
    assert result["drop_point"]["endpoint"] == "node2"


def nft_forwarded(time, node, netns, direction="forward"):
    return dg.observation("Forwarded", "nftables", "nft-trace", node=node, netns=netns, time=time,
                          reason="accepted by nftables (inet filter forward)", direction=direction)


def test_nftables_traces_read_after_the_reply_are_placed_before_it():
    """The times of the lab's allowed probe (make demo): the syn-ack came back 0.4 ms after the probe left,
    the nftables traces of node1 and node2 were read 3.7 ms and 27 ms after it (nftables traces carry no time
    of their own). The probe met node1's then node2's hook before the reply came back."""
    reply = {"kind": "syn-ack", "from": "10.244.2.11", "time": 100.0004, "rtt_ms": 0.4}
    captures = [nft_forwarded(100.0270, "node2", "lab-node2"), nft_forwarded(100.0037, "node1", "lab-node1"),
                nft_forwarded(100.0300, "node2", "lab-node2", direction="reverse")]
    result = dg.diagnose(injection("reply", [reply]), SRC, DST, captures=captures, endpoints=ENDPOINTS,
                         nodes=NODES)
    assert [(o["action"], o["node"], o.get("direction")) for o in result["observations"]] == [
        ("Sent", "node1", None), ("Forwarded", "node1", "forward"), ("Forwarded", "node2", "forward"),
        ("Forwarded", "node2", "reverse"), ("Delivered", "node2", None)]
    # their times stay what they were (when they were read)
    assert [o["time"] for o in result["observations"]][1:4] == [100.0037, 100.0270, 100.0300]


def test_without_a_reply_nftables_traces_keep_their_read_time_order():
    captures = [nft_forwarded(100.0270, "node2", "lab-node2"), nft_forwarded(100.0037, "node1", "lab-node1"),
                kernel_drop(100.0100)]
    result = dg.diagnose(injection("timeout"), SRC, DST, captures=captures, endpoints=ENDPOINTS, nodes=NODES)
    assert [(o["component"], o["node"]) for o in result["observations"]] == [
        ("probe", "node1"), ("nftables", "node1"), ("kernel", "node2"), ("nftables", "node2")]


def test_the_kernel_drop_and_the_nftables_trace_of_one_place_are_one_drop_point():
    """Read promptly, the trace of the rule that dropped the probe can carry a time a few microseconds before
    the kernel's own record of the drop (two clocks): the drop point is the kernel's, with the trace's rule."""
    rule = {"family": "inet", "table": "tracekit_lab", "chain": "pod_policy", "handle": 7}
    nft_drop = dg.observation("Dropped", "nftables", "nft-trace", node="node2", netns="lab-node2", time=100.00029,
                              reason="dropped by nftables rule", rule=rule, policy={"kind": "NetworkPolicy",
                                                                                    "name": "deny"})
    for captures in ([nft_drop, kernel_drop(100.00031)], [kernel_drop(100.00031), nft_drop]):
        result = dg.diagnose(injection("timeout"), SRC, DST, captures=captures, endpoints=ENDPOINTS, nodes=NODES)
        point = result["drop_point"]
        assert (point["node"], point["netns"], point["component"]) == ("node2", "lab-node2", "kernel")
        assert point["rule"] == rule and point["policy"]["name"] == "deny"

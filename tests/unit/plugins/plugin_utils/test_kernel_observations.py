"""Which nettrace events belong to the probe, and which are artifacts of probing.

Events follow nettrace's documented shape (docs/nettrace.md); the values are those seen on the lab:
an nftables drop on node2, a closed port in n2-pod1, the source pod's own reset of a SYN-ACK.
"""

from ansible_collections.netdiag.tracekit.plugins.plugin_utils.kernel_observations import kernel_observations

PROBE = {"src": "10.244.1.11", "dst": "10.244.2.11", "src_port": 40000, "dst_port": 5432, "protocol": "tcp",
         "count": 1, "tag": {"id": "abcd0123", "dscp": 23, "ip_id": 4660, "flow_label": None}}
SRC = {"name": "n1-pod1", "node": "node1", "netns": "lab-n1-pod1", "ip": "10.244.1.11"}
DST = {"name": "n2-pod1", "node": "node2", "netns": "lab-n2-pod1", "ip": "10.244.2.11"}
NETNS_ENDPOINTS = {"lab-n1-pod1": "n1-pod1", "lab-n2-pod1": "n2-pod1"}


def event(**kw):
    base = {"type": "DROP", "reason": "NETFILTER_DROP", "reason_code": 12, "timestamp": 100.0,
            "src_ip": "10.244.1.11", "src_port": 40000, "dst_ip": "10.244.2.11", "dst_port": 5432,
            "protocol": "tcp", "netns": 4026532816, "netns_name": "lab-node2", "location": "nft_do_chain+0x46f",
            "ip_id": 4660, "dscp": 23, "flow_label": None, "state": None, "errno": None}
    base.update(kw)
    return base


def observe(events, node="node2", node_netns="lab-node2", probe=None, aliases=()):
    return kernel_observations(events, node, probe or PROBE, SRC, DST, NETNS_ENDPOINTS, node_netns, aliases)


def test_policy_drop_on_the_node_is_the_destination_pods_drop():
    obs, ignored = observe([event()])
    assert ignored == 0
    assert obs[0]["action"] == "Dropped"
    assert (obs[0]["node"], obs[0]["netns"], obs[0]["endpoint"]) == ("node2", "lab-node2", "n2-pod1")
    assert obs[0]["reason"] == "NETFILTER_DROP in nft_do_chain+0x46f"
    assert obs[0]["time"] == 100.0


def test_other_traffic_between_the_same_pods_is_not_the_probe():
    other_port = event(src_port=41000, ip_id=999, dscp=0)
    other_tag = event(ip_id=777)            # same 5-tuple is impossible to tell apart... but the tag differs
    obs, ignored = observe([other_port, other_tag])
    assert obs == [] and ignored == 2


def test_icmp_probe_is_matched_by_its_tag():
    probe = dict(PROBE, protocol="icmp", src_port=None, dst_port=None)
    mine = event(src_port=None, dst_port=None, protocol="icmp")
    theirs = event(src_port=None, dst_port=None, protocol="icmp", ip_id=1, dscp=0)
    obs, ignored = observe([mine, theirs], probe=probe)
    assert len(obs) == 1 and ignored == 1


def test_closed_port_reset_and_drop_in_the_destination_pod():
    drop = event(reason="NO_SOCKET", netns_name="lab-n2-pod1", location="tcp_v4_rcv+0x99")
    rst = event(type="RST_SENT", reason="NO_SOCKET", netns_name="lab-n2-pod1", location=None,
                src_ip="10.244.2.11", src_port=5432, dst_ip="10.244.1.11", dst_port=40000)
    obs, _ignored = observe([drop, rst])
    assert [o["action"] for o in obs] == ["Dropped", "Rejected"]
    assert all(o["endpoint"] == "n2-pod1" for o in obs)
    assert obs[1]["direction"] == "reverse"


def test_artifacts_in_the_source_are_left_out():
    """The source has no socket for the raw probe: its kernel resets a SYN-ACK and drops UDP answers."""
    own_reset = event(type="RST_SENT", netns_name="lab-n1-pod1", reason="NO_SOCKET")
    answer_dropped = event(netns_name="lab-n1-pod1", reason="NO_SOCKET", src_ip="10.244.2.11", src_port=5432,
                           dst_ip="10.244.1.11", dst_port=40000, ip_id=None, dscp=0)
    obs, ignored = observe([own_reset, answer_dropped], node="node1", node_netns="lab-node1")
    assert obs == [] and ignored == 2


def test_a_reply_dropped_on_its_way_back_is_still_a_drop():
    back = event(netns_name="lab-node1", src_ip="10.244.2.11", src_port=5432, dst_ip="10.244.1.11",
                 dst_port=40000, ip_id=None, dscp=0, reason="IP_INNOROUTES")
    obs, _ignored = observe([back], node="node1", node_netns="lab-node1")
    assert obs[0]["action"] == "Dropped"
    assert obs[0]["reason"].startswith("reply dropped: IP_INNOROUTES")
    assert obs[0]["endpoint"] == "node1"     # a node's own namespace, destination not on this node


def test_service_backend_address_counts_as_the_destination():
    probe = dict(PROBE, dst="10.96.0.10", dst_port=80)
    dnat = event(dst_ip="10.244.2.12", dst_port=8080)
    obs, _ignored = observe([dnat], probe=probe, aliases=["10.244.2.12"])
    assert len(obs) == 1
    obs, ignored = observe([dnat], probe=probe)
    assert obs == [] and ignored == 1


def test_other_event_types_become_observations():
    events = [event(type="RST_RECV", reason=None, netns_name="lab-n2-pod1", ip_id=None, dscp=None),
              event(type="SOCK_ERR", reason="ECONNREFUSED", errno="ECONNREFUSED", netns_name="lab-n2-pod1",
                    ip_id=None, dscp=None),
              event(type="RETRANS", reason="TCP_SYN_SENT", state="TCP_SYN_SENT", netns_name="lab-n2-pod1",
                    ip_id=None, dscp=None)]
    obs, _ignored = observe(events)
    assert [o["action"] for o in obs] == ["Received", "Rejected", "Sent"]
    assert obs[1]["reason"] == "socket error ECONNREFUSED"
    assert obs[2]["reason"] == "TCP retransmission (TCP_SYN_SENT)"


def test_shared_namespace_names_the_endpoint_whose_address_the_probe_used():
    """n2-pod1 written as two entries sharing its namespace, one per family; the namespace map the runbook
    builds keeps the last name seen (n2-pod1-v6). The probe went to the IPv4 address: n2-pod1 is named."""
    netns_endpoints = dict(NETNS_ENDPOINTS, **{"lab-n2-pod1": "n2-pod1-v6"})
    drop = event(reason="NO_SOCKET", netns_name="lab-n2-pod1", location="tcp_v4_rcv+0x99")
    obs, _ignored = kernel_observations([drop], "node2", PROBE, SRC, DST, netns_endpoints, "lab-node2")
    assert obs[0]["endpoint"] == "n2-pod1"
    # And the IPv6 entry when the probe went to the IPv6 address.
    probe6 = dict(PROBE, src="fd00:10:244:1::11", dst="fd00:10:244:2::11", tag={"dscp": 23, "flow_label": 77})
    src6 = dict(SRC, ip="fd00:10:244:1::11")
    dst6 = {"name": "n2-pod1-v6", "node": "node2", "netns": "lab-n2-pod1", "ip": "fd00:10:244:2::11"}
    drop6 = event(reason="NO_SOCKET", netns_name="lab-n2-pod1", src_ip="fd00:10:244:1::11",
                  dst_ip="fd00:10:244:2::11", ip_id=None, flow_label=77)
    obs, _ignored = kernel_observations([drop6], "node2", probe6, src6, dst6,
                                        dict(NETNS_ENDPOINTS, **{"lab-n2-pod1": "n2-pod1"}), "lab-node2")
    assert obs[0]["endpoint"] == "n2-pod1-v6"

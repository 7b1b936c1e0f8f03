"""The controller filters check their arguments against their own DOCUMENTATION (plugin_utils/filter_args):
a wrong type, a missing required argument or an unknown one is a clear AnsibleFilterError naming the filter."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netdiag.tracekit.plugins.filter.diagnose import FilterModule as Diagnose
from ansible_collections.netdiag.tracekit.plugins.filter.conntrack_observations import DOCUMENTATION as ConntrackObservationsDoc
from ansible_collections.netdiag.tracekit.plugins.filter.conntrack_observations import FilterModule as ConntrackObservations
from ansible_collections.netdiag.tracekit.plugins.filter.kernel_observations import FilterModule as KernelObservations
from ansible_collections.netdiag.tracekit.plugins.filter.nftrace_observations import FilterModule as NftraceObservations
from ansible_collections.netdiag.tracekit.plugins.filter.resolve_endpoint import FilterModule as ResolveEndpoint
from ansible_collections.netdiag.tracekit.plugins.plugin_utils.filter_args import argument_spec, fragment_options

diagnose = Diagnose().filters()["diagnose"]
kernel_observations = KernelObservations().filters()["kernel_observations"]
conntrack_observations = ConntrackObservations().filters()["conntrack_observations"]
nftrace_observations = NftraceObservations().filters()["nftrace_observations"]
resolve_endpoint = ResolveEndpoint().filters()["resolve_endpoint"]

ENDPOINTS = {"a": {"node": "node1", "netns": "lab-a", "ip": "10.0.0.1"},
             "b": {"node": "node2", "netns": "lab-b", "ip": "10.0.0.2"}}
SRC = resolve_endpoint("a", endpoints=ENDPOINTS)
DST = resolve_endpoint("b", endpoints=ENDPOINTS)
INJECTION = {"outcome": "no_reply", "sent": 1, "sent_at": 1.0, "replies": [],
             "probe": {"protocol": "tcp", "dst_port": 5432, "src": "10.0.0.1", "dst": "10.0.0.2", "src_port": 40000,
                       "tag": {"ip_id": 7, "dscp": 9}, "timeout": 1.0}}
EVENT = {"type": "DROP", "reason": "NETFILTER_DROP", "timestamp": 1.5, "src_ip": "10.0.0.1", "src_port": 40000,
         "dst_ip": "10.0.0.2", "dst_port": 5432, "netns_name": "lab-b", "ip_id": 7, "dscp": 9}


def test_good_arguments_work():
    out = kernel_observations([EVENT], node="node2", probe=INJECTION["probe"], src=SRC, dst=DST,
                              netns_endpoints={"lab-b": "b"})
    assert out["ignored"] == 0 and out["observations"][0]["endpoint"] == "b"
    result = diagnose(INJECTION, src=SRC, dst=DST, captures=out["observations"], endpoints=ENDPOINTS)
    assert result["verdict"] == "dropped" and result["drop_point"]["endpoint"] == "b"


@pytest.mark.parametrize("call, message", [
    (lambda: diagnose("not a result", src=SRC, dst=DST), r"^diagnose: .*_input"),
    (lambda: diagnose(INJECTION, dst=DST), r"^diagnose: .*missing required arguments: src"),
    (lambda: diagnose(INJECTION, src=SRC, dst=DST, captures="x"), r"^diagnose: .*captures"),
    (lambda: diagnose(INJECTION, src=SRC, dst=DST, colour="red"), r"^diagnose: .*colour"),
    (lambda: diagnose({"failed": True, "msg": "no such namespace"}, src=SRC, dst=DST),
     r"^diagnose: packet_inject failed: no such namespace"),
    (lambda: diagnose({"skipped": True}, src=SRC, dst=DST), r"^diagnose: the injection result has no outcome"),
    (lambda: kernel_observations("events", node="n", probe={}, src=SRC, dst=DST), r"^kernel_observations: .*_input"),
    (lambda: kernel_observations([EVENT], probe={}, src=SRC, dst=DST),
     r"^kernel_observations: .*missing required arguments: node"),
    (lambda: kernel_observations([EVENT], node="n", probe=[], src=SRC, dst=DST), r"^kernel_observations: .*probe"),
    (lambda: kernel_observations([EVENT], node="n", probe={}, src=SRC, dst=DST, alias=["x"]),
     r"^kernel_observations: .*alias"),
    (lambda: resolve_endpoint("a", endpoints=ENDPOINTS, family="six"), r"^resolve_endpoint: .*family"),
    # options documented once in the observations doc fragment are checked like the filter's own
    (lambda: nftrace_observations([], src=SRC, dst=DST), r"^nftrace_observations: .*missing required arguments: node"),
    (lambda: nftrace_observations([], node="n", src=SRC, dst="b"), r"^nftrace_observations: .*dst"),
    (lambda: nftrace_observations([], node="n", src=SRC, dst=DST, probe={}), r"^nftrace_observations: .*probe"),
    (lambda: conntrack_observations([], node="n", src=SRC, dst=DST), r"^conntrack_observations: .*probe"),
])
def test_bad_arguments_are_clear_errors(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


def test_options_of_the_doc_fragment_are_accepted_and_converted():
    out = conntrack_observations([], node="n", probe=INJECTION["probe"], src=SRC, dst=DST, aliases="10.0.0.9",
                                 netns_endpoints={"lab-b": "b"}, node_netns="lab-n")
    assert out["observations"] == []
    spec = argument_spec(ConntrackObservationsDoc)
    assert spec["aliases"] == {"type": "list", "elements": "str"}  # from the fragment's probe section
    assert spec["node"]["required"] is True and spec["endpoints"] == {"type": "dict"}  # the fragment's, its own


@pytest.mark.parametrize("name, message", [
    ("ansible.builtin.files", "not one of this collection's"),
    ("netdiag.tracekit.observations.nothing", "has no section nothing"),
    ("netdiag.tracekit.observations.probe.extra", "is not <collection>.<fragment>"),
])
def test_a_doc_fragment_that_cannot_be_merged_is_named(name, message):
    with pytest.raises(ValueError, match=message):
        fragment_options(name)

"""Fuzzed records into the flow table and the store, as the service feeds them (``add_records`` then
``store.write``): whatever the elements and their types, a record is merged or counted as rejected with a
reason, nothing else escapes, a merged flow can always be stored and read back, and a good record still merges
afterwards."""

import json
import os
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.netdiag.tracekit.services.flow_aggregator.store import FlowStore, jsonable
from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import FlowTable

NAMES = ["sourceIPv4Address", "destinationIPv4Address", "sourceIPv6Address", "destinationIPv6Address",
         "sourceTransportPort", "destinationTransportPort", "protocolIdentifier", "flowType", "sourcePodName",
         "destinationPodName", "sourceNodeName", "destinationNodeName", "packetTotalCount",
         "reversePacketTotalCount", "octetDeltaCount", "flowStartSeconds", "flowEndSeconds",
         "flowStartMilliseconds", "packetTotalCountFromSourceNode", "originalExporterIPv4Address",
         "originalObservationDomainId", "ingressNetworkPolicyName", "unknownElement"]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2, 2 ** 64), st.floats(allow_nan=True),
                   st.text(max_size=12), st.binary(max_size=6),
                   st.sampled_from(["10.0.0.1", "10.0.0.2", "fd00::1", "fd00::2", "", "0.0.0.0", "::"]))
# Most records carry a 5-tuple (either direction, or IPv6) so they reach the merge; the fuzzed elements may
# then overwrite any part of it with any type.
BASES = st.sampled_from([
    {},
    {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "sourceTransportPort": 1000,
     "destinationTransportPort": 80, "protocolIdentifier": 6},
    {"sourceIPv4Address": "10.0.0.2", "destinationIPv4Address": "10.0.0.1", "sourceTransportPort": 80,
     "destinationTransportPort": 1000, "protocolIdentifier": 6},
    {"sourceIPv6Address": "fd00::1", "destinationIPv6Address": "fd00::2", "protocolIdentifier": 17}])
RECORDS = st.lists(st.builds(lambda base, extra: dict(base, **extra), BASES,
                             st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=10)), min_size=1, max_size=6)
GOOD = {"sourceIPv4Address": "10.9.9.1", "destinationIPv4Address": "10.9.9.2", "sourceTransportPort": 1,
        "destinationTransportPort": 2, "protocolIdentifier": 6, "packetTotalCount": 5}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RECORDS, min_size=1, max_size=4), st.sampled_from(["192.0.2.1", "2001:db8::1"]),
       st.integers(1, 3))
def test_any_records_merge_or_are_rejected_and_the_store_takes_what_merged(messages, exporter, hot_limit):
    table = FlowTable(8, 60, 15, hot_limit=hot_limit)
    for index, records in enumerate(messages):
        evicted, rejected, error = table.add_records([dict(r) for r in records], exporter, index, 1.0 + index)
        assert 0 <= rejected <= len(records)
        assert (error is None) == (rejected == 0)
        assert isinstance(evicted, list)
    evicted, rejected, _error = table.add_records([dict(GOOD)], "192.0.2.9", 0, 10.0)
    assert rejected == 0
    folder = tempfile.mkdtemp(prefix="fuzz-store-")
    store = FlowStore(os.path.join(folder, "flows.db"))
    try:
        pending = table.take_to_store()
        assert store.write(pending) == len(pending)
        by_id = {flow.flow_id: flow.record for flow in pending}
        for record in store.query(limit=1000):
            json.dumps(record, default=jsonable)  # what the API does with it
        assert {"sourceIPv4Address": "10.9.9.1", "packetTotalCountFromSourceNode": 5}.items() <= \
            [r for r in by_id.values() if r.get("sourceIPv4Address") == "10.9.9.1"][0].items()
    finally:
        store.close()
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)

"""The in-memory flow table: one entry per connection, both nodes' records merged into it.

Correlation follows Antrea's Flow Aggregator (docs/flow_aggregator.md): the key is the normalised 5-tuple
(``ipfix.flow_key.normalised_five_tuple``), so the source node's and the destination node's records of a
connection meet in one entry. Each side's counters go to the ``...FromSourceNode`` / ``...FromDestinationNode``
elements; pod, namespace, node, policy and service elements are kept from whichever side has them. The table is
capped (``max_flows``): the least recently updated entry is evicted first and counted. Entries are ordered by
last update, so the idle scan and the eviction only look at the oldest ones.
"""

import collections
import marshal

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import normalised_five_tuple

COUNTERS = ("packetTotalCount", "octetTotalCount", "packetDeltaCount", "octetDeltaCount",
            "reversePacketTotalCount", "reverseOctetTotalCount", "reversePacketDeltaCount",
            "reverseOctetDeltaCount")
_REVERSE = {name: ("reverse" + name[0].upper() + name[1:]) for name in COUNTERS[:4]}
_REVERSE.update({value: key for key, value in _REVERSE.items()})
SOURCE_COUNTERS = {name: name + "FromSourceNode" for name in COUNTERS}
DESTINATION_COUNTERS = {name: name + "FromDestinationNode" for name in COUNTERS}
# Elements that describe one end of the connection: swapped when a node reports the connection reversed.
_ENDS = (("sourceIPv4Address", "destinationIPv4Address"), ("sourceIPv6Address", "destinationIPv6Address"),
         ("sourceTransportPort", "destinationTransportPort"), ("sourcePodName", "destinationPodName"),
         ("sourcePodNamespace", "destinationPodNamespace"), ("sourceNodeName", "destinationNodeName"))
_SWAP = {}
for _a, _b in _ENDS:
    _SWAP[_a], _SWAP[_b] = _b, _a
_START = ("flowStartSeconds", "flowStartMilliseconds")
_END = ("flowEndSeconds", "flowEndMilliseconds")
# Elements the aggregator itself sets: an exporter's value for them is not taken over.
_OWN = frozenset(["originalExporterIPv4Address", "originalExporterIPv6Address", "originalObservationDomainId"]
                 + list(SOURCE_COUNTERS.values()) + list(DESTINATION_COUNTERS.values()))
_COUNTER, _FIRST, _LAST, _SKIP, _TOTAL = 1, 2, 3, 4, 5
_TOTALS = frozenset(name for name in COUNTERS if "Total" in name)
_KINDS = dict([(name, _TOTAL if name in _TOTALS else _COUNTER) for name in COUNTERS]
              + [(name, _FIRST) for name in _START] + [(name, _LAST) for name in _END]
              + [(name, _SKIP) for name in _OWN])
FLOW_TYPE_INTRA_NODE = 1
FLOW_TYPE_INTER_NODE = 2
FLOW_TYPE_TO_EXTERNAL = 3
FLOW_TYPE_FROM_EXTERNAL = 4


def flow_key(record):
    """The table's key of a record's connection: its normalised 5-tuple as one short string.

    One string (about 90 bytes) instead of the tuple, its two address strings and its two port integers
    (about 250 bytes) for each active flow. Raises ``IpfixError`` when the record has no address pair.
    """
    return "%s %s %s %s %s" % normalised_five_tuple(record)


def _empty(value):
    return value is None or value == "" or value == "0.0.0.0" or value == "::"


_SHAPES = {}
_MAX_SHAPES = 4096


class Flow:
    """One connection. ``record`` holds the merged IPFIX elements that the API, the store and the sinks see.

    To stay well under a kilobyte per active flow, the record is kept packed: its element names as a tuple
    shared by every flow with the same elements (``_shape``) and its values marshalled into one bytes object
    (``_packed``); ``record`` unpacks a fresh dict, and assigning a dict packs it again.
    """

    __slots__ = ("key", "flow_id", "_shape", "_packed", "first_seen", "last_seen", "last_export", "src_exporter",
                 "dst_exporter", "stored", "exported", "correlated")

    def __init__(self, key, flow_id, now):
        self.key = key
        self.flow_id = flow_id
        self._shape = ()
        self._packed = None
        self.first_seen = now
        self.last_seen = now
        self.last_export = now
        self.src_exporter = None
        self.dst_exporter = None
        self.stored = False       # the store has this version
        self.exported = True      # the sinks have this version (nothing new to send)
        self.correlated = False

    @property
    def record(self):
        if self._packed is None:
            return {}
        return dict(zip(self._shape, marshal.loads(self._packed)))

    @record.setter
    def record(self, record):
        shape = tuple(record)
        known = _SHAPES.get(shape)
        if known is None:
            if len(_SHAPES) < _MAX_SHAPES:
                _SHAPES[shape] = shape
            known = shape
        self._shape = known
        self._packed = marshal.dumps(tuple(record.values()))


class FlowTable:
    """Merge records into flows; report which flows must be stored, exported, expired or were evicted."""

    def __init__(self, max_flows, active_timeout, idle_timeout, next_id=1):
        self.max_flows = max_flows
        self.active_timeout = active_timeout
        self.idle_timeout = idle_timeout
        self.flows = collections.OrderedDict()
        self.next_id = next_id
        self.to_store = {}
        self.counters = collections.Counter()
        self._exporters = {}
        self.export_queue = collections.deque()

    def __len__(self):
        return len(self.flows)

    def _side(self, record, flow, exporter):
        flow_type = record.get("flowType")
        src_pod = not _empty(record.get("sourcePodName"))
        dst_pod = not _empty(record.get("destinationPodName"))
        if flow_type == FLOW_TYPE_INTRA_NODE or (src_pod and dst_pod and flow_type != FLOW_TYPE_INTER_NODE):
            return "both"
        if src_pod and not dst_pod:
            return "src"
        if dst_pod and not src_pod:
            return "dst"
        # Nothing says which node this is (a plain NetFlow exporter, or an inter-node record naming both pods):
        # the first exporter of the connection is the source node, another one the destination node.
        if flow.src_exporter in (None, exporter):
            return "src"
        if flow.dst_exporter in (None, exporter):
            return "dst"
        return "src"

    def add(self, record, exporter_ip, domain_id, now):
        """Merge one decoded record from exporter ``exporter_ip`` (observation domain ``domain_id``).

        Returns the evicted flows (at most one per call) so the caller can export them; raises ValueError
        when the record has no 5-tuple.
        """
        try:
            key = flow_key(record)
        except IpfixError as exc:
            raise ValueError(str(exc))
        flow = self.flows.get(key)
        evicted = []
        if flow is None:
            while len(self.flows) >= self.max_flows:
                _key, old = self.flows.popitem(last=False)
                self.counters["evicted"] += 1
                evicted.append(old)
            flow = Flow(key, self.next_id, now)
            self.next_id += 1
            self.flows[key] = flow
            self.export_queue.append((now, flow))
        else:
            self.flows.move_to_end(key)
        exporter = self._exporters.get((exporter_ip, domain_id))
        if exporter is None:  # one shared tuple per exporter, not one per flow
            if len(self._exporters) > 65536:
                self._exporters.clear()
            exporter = self._exporters[(exporter_ip, domain_id)] = (exporter_ip, domain_id)
        self._merge(flow, record, exporter, now)
        self.to_store[flow.flow_id] = flow
        return evicted

    def _merge(self, flow, record, exporter, now):
        merged = flow.record
        if merged:
            # A node may see the connection from the other end: put its view in the flow's direction.
            for field in ("sourceIPv4Address", "sourceIPv6Address"):
                if field in merged and field in record and record[field] != merged[field] \
                        and record.get(_SWAP[field]) == merged[field]:
                    record = self._reversed(record)
                    break
        side = self._side(record, flow, exporter)
        to_src = side != "dst"
        to_dst = side != "src"
        # (the merged record is packed right after, so its strings are not worth interning)
        kinds = _KINDS
        get = merged.get
        for name, value in record.items():
            kind = kinds.get(name)
            if kind is None:
                if value.__class__ is not str or (value and value != "0.0.0.0" and value != "::") \
                        or name not in merged:
                    merged[name] = value
            elif kind == _TOTAL or kind == _COUNTER:
                if to_src:
                    merged[SOURCE_COUNTERS[name]] = value
                if to_dst:
                    merged[DESTINATION_COUNTERS[name]] = value
                if kind == _TOTAL:
                    old = get(name)
                    if old is None or value > old:
                        merged[name] = value
                else:
                    merged[name] = value
            elif kind == _FIRST:
                old = merged.get(name)
                if old is None or value < old:
                    merged[name] = value
            elif kind == _LAST:
                old = merged.get(name)
                if old is None or value > old:
                    merged[name] = value
        if side in ("src", "both"):
            flow.src_exporter = exporter
        if side in ("dst", "both"):
            flow.dst_exporter = exporter
        origin = flow.src_exporter or flow.dst_exporter
        if ":" in origin[0]:
            merged["originalExporterIPv6Address"] = origin[0]
        else:
            merged["originalExporterIPv4Address"] = origin[0]
        merged["originalObservationDomainId"] = origin[1]
        if "flowStartSeconds" not in merged and "flowStartMilliseconds" not in merged:
            merged["flowStartSeconds"] = int(flow.first_seen)
        if "flowEndSeconds" not in record and "flowEndMilliseconds" not in record:
            merged["flowEndSeconds"] = max(int(now), merged.get("flowEndSeconds", 0))
        if merged.get("flowType") in (FLOW_TYPE_TO_EXTERNAL, FLOW_TYPE_FROM_EXTERNAL) \
                and merged.get("sourcePodName") and merged.get("destinationPodName"):
            # each node named only its own pod (as Antrea's agents do): together they are a pod-to-pod flow
            merged["flowType"] = FLOW_TYPE_INTRA_NODE if merged.get("sourceNodeName") == \
                merged.get("destinationNodeName") else FLOW_TYPE_INTER_NODE
        if not flow.correlated and (side == "both" or (flow.src_exporter and flow.dst_exporter)):
            flow.correlated = True
            self.counters["correlated"] += 1
        flow.record = merged
        flow.last_seen = now
        flow.stored = False
        flow.exported = False

    @staticmethod
    def _reversed(record):
        out = {}
        for name, value in record.items():
            out[_SWAP.get(name) or _REVERSE.get(name) or name] = value
        return out

    def due(self, now):
        """Flows to export now: (active ones past active_timeout, idle ones past idle_timeout, removed)."""
        active, idle = [], []
        horizon = now - self.idle_timeout
        while self.flows:
            key, flow = next(iter(self.flows.items()))
            if flow.last_seen > horizon:
                break
            del self.flows[key]
            self.counters["expired"] += 1
            idle.append(flow)
        # Active timeout: flows in order of their last export (or creation); stale entries are skipped, so the
        # scan only looks at flows that are due, not at the whole table.
        limit = now - self.active_timeout
        queue = self.export_queue
        while queue and queue[0][0] <= limit:
            stamp, flow = queue.popleft()
            if flow.last_export != stamp or self.flows.get(flow.key) is not flow:
                continue
            if flow.exported:  # nothing new since: look again one active timeout from now
                flow.last_export = now
                queue.append((now, flow))
            else:
                active.append(flow)
        return active, idle

    def mark_exported(self, flows, now):
        """Record that ``flows`` went to the sinks now; those still in the table are due again later."""
        for flow in flows:
            flow.exported = True
            flow.last_export = now
            if self.flows.get(flow.key) is flow:
                self.export_queue.append((now, flow))

    def take_to_store(self):
        flows = list(self.to_store.values())
        self.to_store = {}
        return flows

    def restore(self, flow_id, record, first_seen, last_seen):
        """Put back a flow read from the store after a restart, so its later records update the same row."""
        try:
            key = flow_key(record)
        except IpfixError:
            return
        if key in self.flows or len(self.flows) >= self.max_flows:
            return
        flow = Flow(key, flow_id, first_seen)
        flow.record = record
        flow.last_seen = last_seen
        flow.last_export = last_seen
        flow.stored = True
        has_src = any(name in record for name in SOURCE_COUNTERS.values())
        has_dst = any(name in record for name in DESTINATION_COUNTERS.values())
        exporter = (record.get("originalExporterIPv4Address") or record.get("originalExporterIPv6Address"),
                    record.get("originalObservationDomainId", 0))
        flow.src_exporter = exporter if has_src else None
        flow.dst_exporter = ("restored", 0) if has_dst else None
        flow.correlated = has_src and has_dst
        self.flows[key] = flow
        self.export_queue.append((last_seen, flow))
        self.next_id = max(self.next_id, flow_id + 1)

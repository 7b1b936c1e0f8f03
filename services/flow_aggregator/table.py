"""The in-memory flow table: one entry per connection, both nodes' records merged into it.

Correlation follows Antrea's Flow Aggregator (docs/flow_aggregator.md): the key is the normalised 5-tuple, so
the source node's and the destination node's records of a connection meet in one entry, merged by the rules
of ``merge.py``. The table is capped (``max_flows``): the least recently updated entries are evicted first (a
small batch at a time, so the scan is paid once per batch) and counted. Entries are ordered by last update, so
the idle scan and the eviction only look at the oldest ones.

Memory: a flow's merged values are a tuple while it is hot (changed recently), then marshalled into one bytes
object, which is also what the store writes; its element names are a ``Shape`` shared with every flow with the
same names. At most ``hot_limit`` flows are hot; the store takes the changed ones (``pending``) in batches.
"""

import collections
import itertools
import marshal
import socket
import struct

from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.errors import IpfixError
from ansible_collections.netdiag.tracekit.plugins.module_utils.ipfix.flow_key import packed_address
from ansible_collections.netdiag.tracekit.services.flow_aggregator.merge import (
    DESTINATION_COUNTERS, DST, EMPTY_SHAPE, SOURCE_COUNTERS, SRC, in_flow_direction, plan, shared_shape, side_of)

MARSHAL_VERSION = 4  # fixed, so a store written by one Python reads the same on another
_pton = socket.inet_pton
_INET = socket.AF_INET
_MAPPED = b"\0" * 10 + b"\xff\xff"  # IPv4-mapped IPv6, for a key mixing both families
_KEY4 = struct.Struct("!B4sH4sH").pack
_KEY6 = struct.Struct("!B16sH16sH").pack


def _packed_address(value, family):
    if value.__class__ is str:
        try:
            return _pton(family, value)
        except OSError:
            pass
    return packed_address(value)  # an integer, an address in the other family... (raises IpfixError)


def flow_key(record):
    """The table's key of a record's connection: the normalised 5-tuple packed into 13 (IPv4) or 37 bytes.

    The protocol, then the lower (address, port) endpoint, then the other: the same for both directions of a
    connection, so both nodes' records meet. Raises ``ValueError`` naming what is missing or out of range.
    """
    try:  # the common case: an IPv4 record as the decoder gives it
        first = (_pton(_INET, record["sourceIPv4Address"]), record.get("sourceTransportPort") or 0)
        second = (_pton(_INET, record["destinationIPv4Address"]), record.get("destinationTransportPort") or 0)
        if second < first:
            first, second = second, first
        return _KEY4(record.get("protocolIdentifier") or 0, first[0], first[1], second[0], second[1])
    except (KeyError, OSError, TypeError, struct.error):
        return _any_flow_key(record)


def _any_flow_key(record):
    get = record.get
    src = get("sourceIPv4Address")
    dst = get("destinationIPv4Address")
    family = _INET
    if src is None or dst is None:
        src = get("sourceIPv6Address")
        dst = get("destinationIPv6Address")
        family = socket.AF_INET6
        if src is None or dst is None:
            raise ValueError("flow record has no source and destination address (IPv4 or IPv6) to key it by")
    try:
        first = (_packed_address(src, family), get("sourceTransportPort") or 0)
        second = (_packed_address(dst, family), get("destinationTransportPort") or 0)
        if second < first:
            first, second = second, first
        pack = _KEY4 if len(first[0]) == 4 and len(second[0]) == 4 else _KEY6
        if pack is _KEY6 and len(first[0]) == 4:
            first = (_MAPPED + first[0], first[1])
        if pack is _KEY6 and len(second[0]) == 4:
            second = (_MAPPED + second[0], second[1])
        return pack(get("protocolIdentifier") or 0, first[0], first[1], second[0], second[1])
    except (struct.error, TypeError) as exc:
        raise ValueError("flow record's protocol or ports cannot key a flow (%s): protocol %r, ports %r, %r"
                         % (exc, get("protocolIdentifier"), get("sourceTransportPort"),
                            get("destinationTransportPort")))
    except IpfixError as exc:  # not an address
        raise ValueError(str(exc))


# ---- flows and their shapes

_SHAPES = {}
_MAX_SHAPES = 4096
_MAX_PLANS = 256  # per shape
_STORED, _EXPORTED, _CORRELATED, _PENDING = 1, 2, 4, 8


class Flow:
    """One connection. ``record`` gives the merged IPFIX elements that the API, the store and the sinks see.

    ``data`` holds the merged record's values in the order of ``shape.names`` (a ``Shape`` shared by every
    flow with the same elements): a tuple while the flow is hot (recently changed), else marshalled into bytes.
    ``record`` returns a fresh dict either way; assigning a dict packs it.
    """

    __slots__ = ("key", "flow_id", "shape", "data", "first_seen", "last_seen", "last_export", "src_exporter",
                 "dst_exporter", "state")

    def __init__(self, key, flow_id, now):
        self.key = key
        self.flow_id = flow_id
        self.shape = EMPTY_SHAPE
        self.data = ()
        self.first_seen = now
        self.last_seen = now
        self.last_export = now
        self.src_exporter = None
        self.dst_exporter = None
        self.state = _EXPORTED  # nothing to send yet, not stored, not correlated

    def _set(self, bit, value):
        self.state = (self.state | bit) if value else (self.state & ~bit)

    @property
    def stored(self):
        """The store has this version."""
        return bool(self.state & _STORED)

    @stored.setter
    def stored(self, value):
        self._set(_STORED, value)

    @property
    def exported(self):
        """The sinks have this version (nothing new to send)."""
        return bool(self.state & _EXPORTED)

    @exported.setter
    def exported(self, value):
        self._set(_EXPORTED, value)

    @property
    def correlated(self):
        """Both nodes' records are merged in."""
        return bool(self.state & _CORRELATED)

    @property
    def hot(self):
        """Its values are an unpacked tuple (changed recently), not yet marshalled."""
        return self.data.__class__ is tuple

    def values(self):
        """The merged record's values, in the order of ``shape.names``."""
        data = self.data
        return data if data.__class__ is tuple else marshal.loads(data)

    @property
    def record(self):
        return dict(zip(self.shape.names, self.values()))

    @record.setter
    def record(self, record):
        self.shape = shared_shape(tuple(record))
        self.data = marshal.dumps(tuple(record.values()), MARSHAL_VERSION)

    def freeze(self):
        """Pack a hot flow; returns ``(shape, values, packed)`` of its record, the row the store writes."""
        data = self.data
        if data.__class__ is tuple:
            self.data = marshal.dumps(data, MARSHAL_VERSION)
            return self.shape, data, self.data
        return self.shape, marshal.loads(data), data


class FlowTable:
    """Merge records into flows; report which flows must be stored, exported, expired or were evicted."""

    BUCKET = 0.25  # seconds of export stamps per active-timeout queue entry

    def __init__(self, max_flows, active_timeout, idle_timeout, next_id=1, hot_limit=2048):
        self.max_flows = max_flows
        self.hot_limit = hot_limit
        self.active_timeout = active_timeout
        self.idle_timeout = idle_timeout
        self.flows = {}  # key -> Flow, least recently updated first (an update moves a flow to the end)
        self.next_id = next_id
        self.pending = []  # what the store has not seen since it changed, in the order it changed
        self.hot = []  # flows whose values are an unpacked tuple (about hot_limit at most)
        self.counters = collections.Counter()
        self._exporters = {}
        self._evict_batch = max(1, min(1024, max_flows // 100))
        # Active timeout: buckets [first stamp, [flows]] in stamp order; a flow whose stamp (last export)
        # changed since it was queued is stale in the older bucket and skipped there.
        self.export_queue = collections.deque()

    def __len__(self):
        return len(self.flows)

    def _exporter(self, exporter_ip, domain_id):
        """One shared (address, domain, element name) tuple per exporter, not one per flow."""
        exporter = self._exporters.get((exporter_ip, domain_id))
        if exporter is None:
            if len(self._exporters) > 65536:
                self._exporters.clear()
            field = "originalExporterIPv6Address" if ":" in str(exporter_ip) else "originalExporterIPv4Address"
            exporter = self._exporters[(exporter_ip, domain_id)] = (exporter_ip, domain_id, field)
        return exporter

    def _queue(self, flow, stamp):
        queue = self.export_queue
        if queue:
            bucket = queue[-1]
            if bucket[0] <= stamp < bucket[0] + self.BUCKET:
                bucket[1].append(flow)
                return
        queue.append((stamp, [flow]))

    def _evict(self):
        flows = self.flows
        count = len(flows) - self.max_flows + self._evict_batch
        evicted = [flows.pop(key) for key in list(itertools.islice(flows, count))]
        self.counters["evicted"] += len(evicted)
        return evicted

    def add(self, record, exporter_ip, domain_id, now):
        """Merge one decoded record from exporter ``exporter_ip`` (observation domain ``domain_id``).

        Returns the evicted flows so the caller can export them; raises ValueError when the record has no
        5-tuple or its values cannot be merged.
        """
        evicted, rejected, error = self.add_records((record,), exporter_ip, domain_id, now)
        if rejected:
            raise ValueError(error)
        return evicted

    def add_records(self, records, exporter_ip, domain_id, now):
        """Merge the decoded records of one message; returns (evicted flows, records rejected, first error)."""
        exporter = self._exporter(exporter_ip, domain_id)
        flows = self.flows
        pending = self.pending
        hot = self.hot
        queue = self.export_queue
        bucket_span = self.BUCKET
        evicted = []
        rejected = 0
        error = None
        for record in records:
            try:
                key = flow_key(record)
                flow = flows.get(key)
                if flow is None:
                    if len(flows) >= self.max_flows:
                        evicted.extend(self._evict())
                    side = side_of(record, None, exporter)
                    shape, merge = plan(EMPTY_SHAPE, tuple(record), side, exporter[2])
                    values = merge((), record, now, now, exporter[0], exporter[1])
                    flow = Flow(key, self.next_id, now)
                    self.next_id += 1
                    flows[key] = flow
                    if queue and queue[-1][0] <= now < queue[-1][0] + bucket_span:
                        queue[-1][1].append(flow)
                    else:
                        self._queue(flow, now)
                    src = exporter if side != DST else None
                    dst = exporter if side != SRC else None
                else:
                    old = flow.data
                    if old.__class__ is not tuple:
                        old = marshal.loads(old)
                    record = in_flow_direction(record, flow.shape, old)
                    side = side_of(record, flow, exporter)
                    src = exporter if side != DST else flow.src_exporter
                    dst = exporter if side != SRC else flow.dst_exporter
                    origin = src or dst
                    shape, merge = plan(flow.shape, tuple(record), side, origin[2])
                    values = merge(old, record, flow.first_seen, now, origin[0], origin[1])
                    del flows[key]  # to the end: the most recently updated
                    flows[key] = flow
            except (ValueError, TypeError) as exc:
                rejected += 1
                if error is None:
                    error = str(exc)
                continue
            flow.src_exporter = src
            flow.dst_exporter = dst
            flow.last_seen = now
            state = flow.state
            if not state & _CORRELATED and src and dst:
                state |= _CORRELATED
                self.counters["correlated"] += 1
            if not state & _PENDING:
                pending.append(flow)
            data = flow.data
            if data.__class__ is not tuple or not data:  # packed, or new: it becomes hot
                hot.append(flow)
            flow.shape = shape
            flow.data = values
            flow.state = (state | _PENDING) & ~(_STORED | _EXPORTED)
        if len(hot) >= self.hot_limit:
            self.freeze_hot()
        return evicted, rejected, error

    def freeze_hot(self):
        """Pack the hot flows (they stay pending for the store): bounds the memory of unpacked records."""
        for flow in self.hot:
            if flow.data.__class__ is tuple:
                flow.freeze()
        self.hot = []

    def due(self, now):
        """Flows to export now: (active ones past active_timeout, idle ones past idle_timeout, removed)."""
        flows = self.flows
        horizon = now - self.idle_timeout
        expired = []
        for key, flow in flows.items():  # least recently updated first
            if flow.last_seen > horizon:
                break
            expired.append(key)
        idle = [flows.pop(key) for key in expired]
        self.counters["expired"] += len(idle)
        # Active timeout: buckets of flows in the order of their last export (or creation); stale entries are
        # skipped, so the scan only looks at flows that are due, not at the whole table.
        active = []
        seen = set()
        limit = now - self.active_timeout
        queue = self.export_queue
        bucket_span = self.BUCKET
        while queue and queue[0][0] + bucket_span <= limit:
            start, members = queue.popleft()
            for flow in members:
                if not start <= flow.last_export < start + bucket_span or flows.get(flow.key) is not flow \
                        or flow.flow_id in seen:
                    continue
                seen.add(flow.flow_id)
                if flow.state & _EXPORTED:  # nothing new since: look again one active timeout from now
                    flow.last_export = now
                    self._queue(flow, now)
                else:
                    active.append(flow)
        return active, idle

    def mark_exported(self, flows, now):
        """Record that ``flows`` went to the sinks now; those still in the table are due again later."""
        table = self.flows
        for flow in flows:
            flow.state |= _EXPORTED
            flow.last_export = now
            if table.get(flow.key) is flow:
                self._queue(flow, now)

    def take_to_store(self):
        """The flows the store has not seen since they changed, oldest change first."""
        flows, self.pending = self.pending, []
        for flow in flows:
            flow.state &= ~_PENDING
        return flows

    def give_back(self, flows):
        """Flows the store failed to write: they go first at the next attempt. While the store keeps failing,
        at most ``max_flows`` wait; the oldest beyond that are counted in ``store_dropped``."""
        back = []
        for flow in flows:
            if not flow.state & (_STORED | _PENDING):
                flow.state |= _PENDING
                back.append(flow)
        pending = back + self.pending
        excess = len(pending) - self.max_flows
        if excess > 0:
            for flow in pending[:excess]:
                flow.state &= ~_PENDING
            self.counters["store_dropped"] += excess
            pending = pending[excess:]
        self.pending = pending

    def restore(self, flow_id, record, first_seen, last_seen):
        """Put back a flow read from the store after a restart, so its later records update the same row."""
        try:
            key = flow_key(record)
        except ValueError:
            return
        if key in self.flows or len(self.flows) >= self.max_flows:
            return
        flow = Flow(key, flow_id, first_seen)
        flow.record = record
        flow.last_seen = last_seen
        flow.last_export = last_seen
        flow.state = _STORED | _EXPORTED
        has_src = any(name in record for name in SOURCE_COUNTERS.values())
        has_dst = any(name in record for name in DESTINATION_COUNTERS.values())
        ip = record.get("originalExporterIPv4Address") or record.get("originalExporterIPv6Address")
        exporter = self._exporter(ip, record.get("originalObservationDomainId", 0))
        flow.src_exporter = exporter if has_src else None
        if has_dst:  # the original exporter is the source node's when both are known: the other one is unknown
            flow.dst_exporter = ("restored", 0, exporter[2]) if has_src else exporter
        if has_src and has_dst:
            flow.state |= _CORRELATED
        self.flows[key] = flow
        self._queue(flow, last_seen)
        self.next_id = max(self.next_id, flow_id + 1)

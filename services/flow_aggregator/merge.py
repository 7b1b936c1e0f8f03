"""How records merge into flows: Antrea's aggregation rules, compiled into straight-line code.

A flow's merged record is a tuple of values in the order of its ``Shape`` (its element names, one object
shared by every flow with the same names). ``plan(shape, names, side, origin_field)`` gives, once per
(flow shape, record element names, side, exporter family), the new shape and a generated function computing
the new values from the old ones and the record: each element's rule is resolved when the code is generated,
so merging a record costs no per-element lookups and no dict (bench/bench_flow_aggregator.py).

The rules (docs/flow_aggregator.md): each side's counters go to the ``...FromSourceNode`` /
``...FromDestinationNode`` elements; totals keep the highest value seen, deltas the latest; the start is the
earliest, the end the latest; other elements take the latest value unless it is empty and another node gave
one; the aggregator sets ``originalExporter...Address`` and ``originalObservationDomainId``; a record without
times takes them from its arrival; two external flows naming each other's pods are one pod-to-pod flow.
"""

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
AGGREGATOR_ELEMENTS = frozenset(["originalExporterIPv4Address", "originalExporterIPv6Address",
                                 "originalObservationDomainId"]
                                + list(SOURCE_COUNTERS.values()) + list(DESTINATION_COUNTERS.values()))
_COUNTER, _FIRST, _LAST, _SKIP, _TOTAL = 1, 2, 3, 4, 5
_TOTALS = frozenset(name for name in COUNTERS if "Total" in name)
_KINDS = dict([(name, _TOTAL if name in _TOTALS else _COUNTER) for name in COUNTERS]
              + [(name, _FIRST) for name in _START] + [(name, _LAST) for name in _END]
              + [(name, _SKIP) for name in AGGREGATOR_ELEMENTS])
# What does not overwrite another node's value: an empty name, an unspecified address.
_EMPTY = frozenset(["", "0.0.0.0", "::"])
FLOW_TYPE_INTRA_NODE = 1
FLOW_TYPE_INTER_NODE = 2
FLOW_TYPE_TO_EXTERNAL = 3
FLOW_TYPE_FROM_EXTERNAL = 4
SRC, DST, BOTH = 0, 1, 2  # which node a record speaks for

_SHAPES = {}
_MAX_SHAPES = 4096
_MAX_PLANS = 256  # per shape


class Shape:
    """The element names of merged records, one object shared by every flow with the same names (up to
    ``_MAX_SHAPES`` of them). It hashes by identity, so finding what is cached on it costs no hashing of the
    names: the merge plans leading from it (``plans``), the store's id for it (``stored_as``: (store, id)) and
    the store's row builder (``row``)."""

    __slots__ = ("names", "index", "plans", "stored_as", "row")

    def __init__(self, names):
        self.names = names
        self.index = {name: position for position, name in enumerate(names)}
        self.plans = {}
        self.stored_as = None
        self.row = None


EMPTY_SHAPE = Shape(())


def shared_shape(names):
    known = _SHAPES.get(names)
    if known is None:
        known = Shape(names)
        if len(_SHAPES) < _MAX_SHAPES:
            _SHAPES[names] = known
    return known


def _compile_plan(old, names, side, origin_field):
    """The merge of a record with element ``names`` (in order) from ``side`` into a flow of shape ``old``.

    Returns ``(new shape, merge)`` where ``merge(o, r, first_seen, now, origin_ip, origin_domain)`` computes
    the new values tuple from the old values ``o`` and the record dict ``r``, as straight-line code. The rules
    are those of Antrea's aggregation: each side's counters into the per-node elements, totals the highest
    seen, deltas the latest, start the earliest, end the latest, other elements the latest value unless it is
    empty and another node gave one; a record without times takes them from its arrival.
    """
    to_src, to_dst = side != DST, side != SRC
    out = list(old.names)
    expr = {name: "o%d" % index for index, name in enumerate(old.names)}
    record = {name: "v%d" % index for index, name in enumerate(names)}

    def put(name, value):
        if name not in expr:
            out.append(name)
        expr[name] = value

    for name, value in record.items():
        kind = _KINDS.get(name)
        mine = expr.get(name)
        if kind == _SKIP:
            continue
        if kind is None:
            put(name, value if mine is None else
                "(%s if %s.__class__ is not str or %s not in EMPTY else %s)" % (value, value, value, mine))
            continue
        if kind in (_TOTAL, _COUNTER):
            if to_src:
                put(SOURCE_COUNTERS[name], value)
            if to_dst:
                put(DESTINATION_COUNTERS[name], value)
        if kind == _COUNTER or mine is None:
            put(name, value)
        else:
            compare = "<" if kind == _FIRST else ">"
            put(name, "(%s if %s is None or %s %s %s else %s)" % (value, mine, value, compare, mine, mine))
    put(origin_field, "origin_ip")
    put("originalObservationDomainId", "origin_domain")
    if not any(name in expr for name in _START):
        put("flowStartSeconds", "int(first_seen)")
    if not any(name in record for name in _END):
        mine = expr.get("flowEndSeconds")
        put("flowEndSeconds", "int(now)" if mine is None else "(int(now) if int(now) > %s else %s)" % (mine, mine))
    lines = ["def merge(o, r, first_seen, now, origin_ip, origin_domain):"]
    if old.names:
        lines.append("    (%s,) = o" % ", ".join("o%d" % index for index in range(len(old.names))))
    lines.append("    (%s,) = r.values()" % ", ".join(record.values()))
    lines.extend("    x%d = %s" % (index, expr[name]) for index, name in enumerate(out))
    position = {name: "x%d" % index for index, name in enumerate(out)}
    if "flowType" in position:
        # each node named only its own pod (as Antrea's agents do): together they are a pod-to-pod flow
        pods = [position.get(name, "None") for name in ("sourcePodName", "destinationPodName")]
        nodes = [position.get(name, "None") for name in ("sourceNodeName", "destinationNodeName")]
        flow_type = position["flowType"]
        lines.append("    if (%s == %d or %s == %d) and %s and %s:"
                     % (flow_type, FLOW_TYPE_TO_EXTERNAL, flow_type, FLOW_TYPE_FROM_EXTERNAL, pods[0], pods[1]))
        lines.append("        %s = %d if %s == %s else %d"
                     % (flow_type, FLOW_TYPE_INTRA_NODE, nodes[0], nodes[1], FLOW_TYPE_INTER_NODE))
    lines.append("    return (%s,)" % ", ".join("x%d" % index for index in range(len(out))))
    namespace = {"EMPTY": _EMPTY}
    exec(compile("\n".join(lines) + "\n", "<flow merge plan>", "exec"), namespace)  # pylint: disable=exec-used
    return shared_shape(tuple(out)), namespace["merge"]


def plan(old, names, side, origin_field):
    """``(new shape, merge)`` for a record with element ``names`` from ``side`` into a flow of shape ``old``
    whose original exporter is named by ``origin_field``; compiled once, then cached on ``old``."""
    plans = old.plans
    key = (names, side, origin_field)
    found = plans.get(key)
    if found is None:
        if len(plans) >= _MAX_PLANS:
            plans.clear()
        found = plans[key] = _compile_plan(old, names, side, origin_field)
    return found


def in_flow_direction(record, shape, values):
    """A node may see the connection from the other end: its record in the flow's direction (``record``
    itself when it already is)."""
    index = shape.index
    for field, other in (("sourceIPv4Address", "destinationIPv4Address"),
                         ("sourceIPv6Address", "destinationIPv6Address")):
        position = index.get(field)
        if position is None:
            continue
        mine = values[position]
        theirs = record.get(field)
        if theirs is not None and theirs != mine and record.get(other) == mine:
            out = {}
            for name, value in record.items():
                out[_SWAP.get(name) or _REVERSE.get(name) or name] = value
            return out
        return record
    return record


def side_of(record, flow, exporter):
    """Which node ``record`` speaks for: SRC, DST or BOTH (an intra-node flow, or a record naming both pods).
    ``flow`` is the flow it merges into (None for a new one), ``exporter`` the one that sent it."""
    get = record.get
    flow_type = get("flowType")
    src_pod = get("sourcePodName")
    src_pod = src_pod is not None and src_pod not in _EMPTY
    dst_pod = get("destinationPodName")
    dst_pod = dst_pod is not None and dst_pod not in _EMPTY
    if flow_type == FLOW_TYPE_INTRA_NODE or (src_pod and dst_pod and flow_type != FLOW_TYPE_INTER_NODE):
        return BOTH
    if src_pod and not dst_pod:
        return SRC
    if dst_pod and not src_pod:
        return DST
    # Nothing says which node this is (a plain NetFlow exporter, or an inter-node record naming both pods):
    # the first exporter of the connection is the source node, another one the destination node.
    if flow is None or flow.src_exporter in (None, exporter):
        return SRC
    if flow.dst_exporter in (None, exporter):
        return DST
    return SRC

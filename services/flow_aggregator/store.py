"""SQLite store of the correlated flows (WAL mode): one row per flow, queryable by 5-tuple, endpoint, node,
pod, namespace, policy and time range, rows older than the retention deleted.

Rows are written in batches by the service's loop and committed before the API can see them, so what the API
has returned survives ``kill -9`` (WAL + synchronous=NORMAL is durable against a process crash).

A row's ``record`` is the tuple of the flow's element values in Python's ``marshal`` format, version 4 (the
bytes the flow table packs its flows into, so storing a flow costs no encoding), and ``shape`` the id of its
element names in the ``shapes`` table (JSON, written in the same transaction as the first row that uses it).
Rows without a shape (once ``MAX_SHAPES`` distinct name lists are known) hold the record as a marshalled dict.
Rows written by earlier versions hold JSON text (an array with a shape, an object without) and read the same.
The searchable elements are plain columns too, for ``sqlite3`` users. marshal is only ever read from this
file, which the service alone writes; a row that does not unpack to what its shape says is an error.
"""

import base64
import json
import marshal
import sqlite3
import threading

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError
from ansible_collections.netdiag.tracekit.services.flow_aggregator.table import MARSHAL_VERSION

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flows (
    id INTEGER PRIMARY KEY,
    src_ip TEXT, dst_ip TEXT, src_port INTEGER, dst_port INTEGER, protocol INTEGER,
    src_node TEXT, dst_node TEXT, src_pod TEXT, dst_pod TEXT, src_ns TEXT, dst_ns TEXT,
    policies TEXT, first_seen REAL, last_seen REAL, record BLOB NOT NULL, shape INTEGER
);
CREATE TABLE IF NOT EXISTS shapes (id INTEGER PRIMARY KEY, names TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS flows_last_seen ON flows (last_seen);
CREATE INDEX IF NOT EXISTS flows_src_ip ON flows (src_ip);
CREATE INDEX IF NOT EXISTS flows_dst_ip ON flows (dst_ip);
"""
_POLICIES = ("ingressNetworkPolicyName", "egressNetworkPolicyName",
             "ingressNetworkPolicyNamespace", "egressNetworkPolicyNamespace")
MAX_LIMIT = 100000
MAX_SHAPES = 65536
WAL_CHECKPOINT_PAGES = 10000
WRITE_CHUNK = 2048
PAGE_SIZE = 8192  # a new store only: fewer page writes per row than 4096 (bench_flow_aggregator)
# An update in place (the 5-tuple and first_seen of a row never change) costs less than INSERT OR REPLACE.
_UPSERT = ("INSERT INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
           + ", ".join("%s=excluded.%s" % (c, c) for c in ("src_node", "dst_node", "src_pod", "dst_pod", "src_ns",
                                                           "dst_ns", "policies", "last_seen", "record", "shape")))


class StoreError(TracekitError):
    """The flow store cannot be opened or written."""


class QueryError(TracekitError):
    """A query parameter is wrong; the message names it."""


def jsonable(value):
    """JSON for what json cannot encode itself: raw bytes (elements the registry does not know) as hex."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b16encode(bytes(value)).decode("ascii").lower()
    raise TypeError("%s is not JSON serialisable" % type(value).__name__)


_ENCODE = json.JSONEncoder(separators=(",", ":"), default=jsonable).encode


def record_json(record):
    """One record as compact JSON; raw bytes (elements the registry does not know) as lowercase hex."""
    return _ENCODE(record)


_COLUMNS = (("sourceIPv4Address", "sourceIPv6Address"), ("destinationIPv4Address", "destinationIPv6Address"),
            ("sourceTransportPort",), ("destinationTransportPort",), ("protocolIdentifier",),
            ("sourceNodeName",), ("destinationNodeName",), ("sourcePodName",), ("destinationPodName",),
            ("sourcePodNamespace",), ("destinationPodNamespace",))
_ROW_BUILDERS = {}


def _policies(*names):
    text = "|".join(str(name) for name in names if name)
    return "|%s|" % text if text else None


def _row_builder(shape):
    """``row(flow_id, values, first_seen, last_seen, packed, shape id)``: the flows row of a record of this
    ``Shape`` (generated once per element names: each column is a value at a known index, or None)."""
    names = shape.names
    builder = _ROW_BUILDERS.get(names)
    if builder is not None:
        shape.row = builder
        return builder
    index = shape.index
    columns = []
    for elements in _COLUMNS:
        present = ["v[%d]" % index[name] for name in elements if name in index]
        columns.append(" or ".join(present) if present else "None")
    policies = ["v[%d]" % index[name] for name in _POLICIES if name in index]
    columns.append("POLICIES(%s)" % ", ".join(policies) if policies else "None")
    source = "def row(i, v, first, last, packed, shape):\n    return (i, %s, first, last, packed, shape)\n" \
        % ", ".join(columns)
    namespace = {"POLICIES": _policies}
    exec(compile(source, "<flows row>", "exec"), namespace)  # pylint: disable=exec-used
    if len(_ROW_BUILDERS) >= MAX_SHAPES:
        _ROW_BUILDERS.clear()
    builder = shape.row = _ROW_BUILDERS[names] = namespace["row"]
    return builder


def _plain_row(row):
    """A row whose searchable columns are what SQLite can hold: anything else as its text."""
    out = list(row)
    for position in range(1, len(out) - 2):  # not the id, nor the packed record and its shape
        value = out[position]
        if value is not None and not isinstance(value, (str, float, bytes)) \
                and not (isinstance(value, int) and -(1 << 63) <= value < (1 << 63)):
            out[position] = str(value)
    return tuple(out)


def _unpacked(packed, names):
    """The record of a row written by this version: the values of ``names`` (or the whole record as a dict
    when the row has no shape), marshalled."""
    try:
        values = marshal.loads(packed)
    except (EOFError, ValueError, TypeError, MemoryError, OverflowError) as exc:
        raise StoreError("a flow row cannot be read (%s: %s): the store file was damaged or written by "
                         "something else" % (type(exc).__name__, exc))
    if names is None:
        if values.__class__ is not dict:
            raise StoreError("a flow row without a shape does not hold a record")
        return values
    if values.__class__ is not tuple or len(values) != len(names):
        raise StoreError("a flow row does not match its shape (%d element names)" % len(names))
    return dict(zip(names, values))


class FlowStore:
    """One writer connection (the service loop) and one reader connection per API thread."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()
        try:
            self.db = sqlite3.connect(path, check_same_thread=False)
            self.db.execute("PRAGMA page_size=%d" % PAGE_SIZE)  # takes effect for a new store only
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint (copy the WAL into the database and sync it) every 40 MB of WAL rather than every
            # 4 MB: fewer checkpoints on the ingest path, each cheaper per row.
            self.db.execute("PRAGMA wal_autocheckpoint=%d" % WAL_CHECKPOINT_PAGES)
            columns = [row[1] for row in self.db.execute("PRAGMA table_info(flows)")]
            if columns and "shape" not in columns:  # a store written by an earlier version
                self.db.execute("ALTER TABLE flows ADD COLUMN shape INTEGER")
            self.db.executescript(_SCHEMA)
            self.db.commit()
            self._names = {}  # shape id -> element names (shapes are never changed nor deleted)
            self._shape_ids = {}
            for shape_id, names in self.db.execute("SELECT id, names FROM shapes"):
                names = tuple(json.loads(names))
                self._names[shape_id] = names
                self._shape_ids[names] = shape_id
        except (sqlite3.Error, ValueError) as exc:
            raise StoreError("cannot open the flow store %s: %s" % (path, exc))

    def _reader(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA query_only=1")
            self._local.conn = conn
        return conn

    def write(self, flows):
        """Insert or update the rows of ``flows`` (packing the hot ones); committed when this returns."""
        if not flows:
            return 0
        shape_ids = self._shape_ids
        added = []  # shapes first written in this transaction
        rows = []
        written = 0
        try:
            for flow in flows:
                shape, values, packed = flow.freeze()
                known = shape.stored_as
                if known is not None and known[0] is self:
                    shape_id = known[1]
                else:
                    shape_id = self._shape_id(shape, added)
                if shape_id is None:  # too many distinct element lists: the row keeps its names
                    packed = marshal.dumps(dict(zip(shape.names, values)), MARSHAL_VERSION)
                row = shape.row or _row_builder(shape)
                rows.append(row(flow.flow_id, values, flow.first_seen, flow.last_seen, packed, shape_id))
                if len(rows) >= WRITE_CHUNK:  # bounded memory for a large batch; still one transaction
                    written += self._upsert(rows)
                    rows = []
            written += self._upsert(rows)
            self.db.commit()
        except BaseException:
            for shape in added:  # not committed: the next batch writes them again
                shape.stored_as = None
                self._names.pop(shape_ids.pop(shape.names), None)
            try:
                self.db.rollback()
            except sqlite3.Error:
                pass
            raise
        return written

    def _upsert(self, rows):
        """Write rows; one whose searchable columns SQLite cannot hold (an integer past 64 bits from an odd
        exporter) is written with those columns as text rather than failing the whole batch again and again."""
        try:
            self.db.executemany(_UPSERT, rows)
        except (OverflowError, sqlite3.InterfaceError, sqlite3.ProgrammingError):
            for row in rows:  # the rows before the bad one are written again: an upsert, the same result
                try:
                    self.db.execute(_UPSERT, row)
                except (OverflowError, sqlite3.InterfaceError, sqlite3.ProgrammingError):
                    self.db.execute(_UPSERT, _plain_row(row))
        return len(rows)

    def _shape_id(self, shape, added):
        """The id of ``shape``'s element names in the shapes table (added to it if new); None once
        ``MAX_SHAPES`` are known."""
        shape_id = self._shape_ids.get(shape.names)
        if shape_id is None:
            if len(self._shape_ids) >= MAX_SHAPES:
                return None
            shape_id = self.db.execute("INSERT INTO shapes (names) VALUES (?)",
                                       (json.dumps(list(shape.names)),)).lastrowid
            self._shape_ids[shape.names] = shape_id
            self._names[shape_id] = shape.names
            added.append(shape)
        shape.stored_as = (self, shape_id)
        return shape_id

    def _record(self, conn, data, shape):
        """The record of a row as a dict, whichever way the row holds it (marshalled values, or JSON as
        written by earlier versions)."""
        if shape is None:
            return _unpacked(data, None) if data.__class__ is bytes else json.loads(data)
        names = self._names.get(shape)
        if names is None:
            row = conn.execute("SELECT names FROM shapes WHERE id = ?", (shape,)).fetchone()
            if row is None:
                raise StoreError("the flow store %s has a row whose shape %d is missing" % (self.path, shape))
            names = self._names[shape] = tuple(json.loads(row[0]))
        if data.__class__ is bytes:
            return _unpacked(data, names)
        return dict(zip(names, json.loads(data)))

    def max_id(self):
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM flows").fetchone()[0]

    def recent(self, since, limit):
        """(id, record, first_seen, last_seen) of the flows seen after ``since``, for a restart."""
        cur = self.db.execute("SELECT id, record, first_seen, last_seen, shape FROM flows WHERE last_seen >= ? "
                              "ORDER BY last_seen DESC LIMIT ?", (since, limit))
        return [(row[0], self._record(self.db, row[1], row[4]), row[2], row[3]) for row in cur]

    def purge(self, before):
        """Delete the flows last seen before ``before`` (epoch seconds); returns how many."""
        cur = self.db.execute("DELETE FROM flows WHERE last_seen < ?", (before,))
        self.db.commit()
        return cur.rowcount

    def count(self):
        return self._reader().execute("SELECT COUNT(*) FROM flows").fetchone()[0]

    def query(self, src_ip=None, dst_ip=None, src_port=None, dst_port=None, protocol=None, node=None, pod=None,
              namespace=None, policy=None, endpoint=None, since=None, until=None, limit=1000):
        """Flows matching every given filter, most recently seen first."""
        where, args = [], []
        for column, value in (("src_ip", src_ip), ("dst_ip", dst_ip), ("src_port", src_port),
                              ("dst_port", dst_port), ("protocol", protocol)):
            if value is not None:
                where.append("%s = ?" % column)
                args.append(value)
        for columns, value in ((("src_node", "dst_node"), node), (("src_pod", "dst_pod"), pod),
                               (("src_ns", "dst_ns"), namespace),
                               (("src_ip", "dst_ip", "src_pod", "dst_pod"), endpoint)):
            if value is not None:
                where.append("(%s)" % " OR ".join("%s = ?" % column for column in columns))
                args.extend([value] * len(columns))
        if policy is not None:
            where.append("policies LIKE ? ESCAPE '\\'")
            args.append("%%|%s|%%" % policy.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
        if since is not None:
            where.append("last_seen >= ?")
            args.append(since)
        if until is not None:
            where.append("first_seen <= ?")
            args.append(until)
        sql = "SELECT record, shape FROM flows"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY last_seen DESC LIMIT ?"
        args.append(max(1, min(int(limit), MAX_LIMIT)))
        conn = self._reader()
        return [self._record(conn, row[0], row[1]) for row in conn.execute(sql, args)]

    def close(self):
        self.db.close()

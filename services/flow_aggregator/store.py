"""SQLite store of the correlated flows (WAL mode): one row per flow, queryable by 5-tuple, endpoint, node,
pod, namespace, policy and time range, rows older than the retention deleted.

Rows are written in batches by the service's loop and committed before the API can see them, so what the API
has returned survives ``kill -9`` (WAL + synchronous=NORMAL is durable against a process crash).

A row's ``record`` is the JSON array of the flow's element values and ``shape`` the id of its element names in
the ``shapes`` table (written in the same transaction as the first row that uses it): most of a flow record's
JSON would be its long element names, the same for every flow. Rows without a shape (written by an earlier
version, or once ``MAX_SHAPES`` distinct name lists are known) hold the record as a JSON object.
"""

import base64
import json
import marshal
import sqlite3
import threading

from ansible_collections.netdiag.tracekit.plugins.module_utils.common.errors import TracekitError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS flows (
    id INTEGER PRIMARY KEY,
    src_ip TEXT, dst_ip TEXT, src_port INTEGER, dst_port INTEGER, protocol INTEGER,
    src_node TEXT, dst_node TEXT, src_pod TEXT, dst_pod TEXT, src_ns TEXT, dst_ns TEXT,
    policies TEXT, first_seen REAL, last_seen REAL, record TEXT NOT NULL, shape INTEGER
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
WRITE_CHUNK = 2048
# An update in place (the 5-tuple and first_seen of a row never change) costs less than INSERT OR REPLACE.
_UPSERT = ("INSERT INTO flows VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
           + ", ".join("%s=excluded.%s" % (c, c) for c in ("src_node", "dst_node", "src_pod", "dst_pod", "src_ns",
                                                           "dst_ns", "policies", "last_seen", "record", "shape")))


class StoreError(TracekitError):
    """The flow store cannot be opened or written."""


class QueryError(TracekitError):
    """A query parameter is wrong; the message names it."""


def _jsonable(value):
    if isinstance(value, (bytes, bytearray)):
        return base64.b16encode(bytes(value)).decode("ascii").lower()
    raise TypeError("%s is not JSON serialisable" % type(value).__name__)


_ENCODE = json.JSONEncoder(separators=(",", ":"), default=_jsonable).encode


def record_json(record):
    """One record as compact JSON; raw bytes (elements the registry does not know) as lowercase hex."""
    return _ENCODE(record)


def _row(flow, rec, record, shape):
    policies = "|".join(rec[name] for name in _POLICIES if rec.get(name))
    return (flow.flow_id,
            rec.get("sourceIPv4Address") or rec.get("sourceIPv6Address"),
            rec.get("destinationIPv4Address") or rec.get("destinationIPv6Address"),
            rec.get("sourceTransportPort"), rec.get("destinationTransportPort"), rec.get("protocolIdentifier"),
            rec.get("sourceNodeName"), rec.get("destinationNodeName"),
            rec.get("sourcePodName"), rec.get("destinationPodName"),
            rec.get("sourcePodNamespace"), rec.get("destinationPodNamespace"),
            "|%s|" % policies if policies else None,
            flow.first_seen, flow.last_seen, record, shape)


class FlowStore:
    """One writer connection (the service loop) and one reader connection per API thread."""

    def __init__(self, path):
        self.path = path
        self._local = threading.local()
        try:
            self.db = sqlite3.connect(path, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
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
        """Insert or update the rows of ``flows``; committed when this returns."""
        if not flows:
            return 0
        shape_ids = self._shape_ids
        added = []
        rows = []
        written = 0
        try:
            for flow in flows:
                names = flow._shape  # pylint: disable=protected-access
                packed = flow._packed  # pylint: disable=protected-access
                values = marshal.loads(packed) if packed is not None else ()
                rec = dict(zip(names, values))
                shape = shape_ids.get(names)
                if shape is None and len(shape_ids) < MAX_SHAPES:
                    shape = self.db.execute("INSERT INTO shapes (names) VALUES (?)",
                                            (json.dumps(list(names)),)).lastrowid
                    shape_ids[names] = shape
                    added.append(names)
                if shape is None:
                    rows.append(_row(flow, rec, _ENCODE(rec), None))
                else:
                    rows.append(_row(flow, rec, _ENCODE(values), shape))
                if len(rows) >= WRITE_CHUNK:  # bounded memory for a large batch; still one transaction
                    self.db.executemany(_UPSERT, rows)
                    written += len(rows)
                    rows = []
            self.db.executemany(_UPSERT, rows)
            written += len(rows)
            self.db.commit()
        except BaseException:
            for names in added:  # not committed: the next batch writes them again
                del shape_ids[names]
            try:
                self.db.rollback()
            except sqlite3.Error:
                pass
            raise
        return written

    def _record(self, conn, text, shape):
        """The record of a row as a dict (the same for both ways a row can hold it)."""
        if shape is None:
            return json.loads(text)
        names = self._names.get(shape)
        if names is None:
            row = conn.execute("SELECT names FROM shapes WHERE id = ?", (shape,)).fetchone()
            if row is None:
                raise StoreError("the flow store %s has a row whose shape %d is missing" % (self.path, shape))
            names = self._names[shape] = tuple(json.loads(row[0]))
        return dict(zip(names, json.loads(text)))

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

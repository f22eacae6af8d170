"""The hash-chained audit trail (CJIS AU-3 fields), kept in the journal database.

Why in the journal database: each record is written in the SAME transaction as the journal
state change it describes, so after any crash there is no accepted, forwarded or delivered
message without its record and no record of something that did not happen.

Why a hash chain: each record carries ``prev`` (the hash of the record before it) and its own
``hash`` over every field, and the table ``audit_head`` holds the last sequence number and hash.
``verify`` recomputes the chain and names the first record where it breaks, which catches an
edited, deleted, inserted or reordered record (and a truncated tail, through the head).  It is
tamper-EVIDENT against anyone who edits rows without recomputing the chain; someone who can
rewrite the whole database can rewrite the chain too -- export and ship the records (``clets
audit tail -f`` / JSON lines) to a separate store for that.

The payload itself is never stored here: only its size and SHA-256 (CJIS AU-3(3): keep personal
data in audit records minimal).
"""

from __future__ import annotations

import builtins
import datetime as _dt
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _quote  # C, as json.dumps
from typing import Any

import msgspec

from .logformat import audit_rows, is_log_db, read_blocks

__all__ = [
    "AUDIT_FIELDS",
    "GENESIS",
    "AuditEvent",
    "VerifyResult",
    "append",
    "export_jsonl",
    "format_ts",
    "records",
    "verify",
    "verify_rows",
]

GENESIS = "0" * 64
#: longest string stored in an audit field (log-injection and size bound)
MAX_FIELD = 200

AUDIT_FIELDS = ("seq", "ts", "event", "msn", "link", "peer", "operator", "origin",
                "destination", "mke", "outcome", "error_code", "reason", "bytes", "sha256",
                "prev")

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    ts TEXT NOT NULL,
    event TEXT NOT NULL,
    msn INTEGER,
    link TEXT,
    peer TEXT,
    operator TEXT,
    origin TEXT,
    destination TEXT,
    mke TEXT,
    outcome TEXT,
    error_code INTEGER,
    reason TEXT,
    bytes INTEGER,
    sha256 TEXT,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
"""


@dataclass(slots=True)
class AuditEvent:
    """What one audit record says (``seq``, ``ts``, ``prev``, ``hash`` are added on append)."""

    event: str
    msn: int | None = None
    link: str | None = None
    peer: str | None = None
    operator: str | None = None
    origin: str | None = None
    destination: str | None = None
    mke: str | None = None
    outcome: str | None = None
    error_code: int | None = None
    reason: str | None = None
    bytes: int | None = None
    sha256: str | None = None

    @classmethod
    def for_payload(cls, event: str, payload: builtins.bytes | None, **kw: Any) -> AuditEvent:
        if payload is None:
            return cls(event, **kw)
        return cls(event, bytes=len(payload), sha256=hashlib.sha256(payload).hexdigest(), **kw)


_TS_CACHE: dict[int, str] = {}


#: the last time formatted and its text (the records of one step share their time)
_last_ts: tuple[float | None, str] = (None, "")


def format_ts(t: float) -> str:
    """UTC with hundredths of a second (CJIS AU-8): ``2025-06-01T12:34:56.78Z``."""
    global _last_ts
    if t != _last_ts[0]:
        _last_ts = (t, _format_ts(t))
    return _last_ts[1]


def _format_ts(t: float) -> str:
    d = _dt.datetime.fromtimestamp(t, tz=_dt.UTC)
    micro = d.microsecond
    second = round(t - micro / 1e6)
    base = _TS_CACHE.get(second)
    if base is None:  # one strftime per second, not per record (a hot path of the switch)
        if len(_TS_CACHE) > 64:
            _TS_CACHE.clear()
        base = _TS_CACHE[second] = d.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{base}{micro // 10000:02d}Z"


def _clean(value: Any) -> Any:
    if type(value) is str:
        if value.isprintable() and len(value) <= MAX_FIELD:
            return value
        # one record stays one line: control characters escaped, length capped
        text = value.encode("unicode_escape").decode("ascii") if not value.isprintable() \
            else value
        return text[:MAX_FIELD]
    if isinstance(value, str):
        return _clean(str(value))
    return value


#: the record's canonical JSON -- ``json.dumps(body, sort_keys=True, separators=(",", ":"),
#: ensure_ascii=True)`` -- written as one format string over the fields in sorted order, each
#: value encoded by the same C function ``json`` uses (``_json_value``): a third of the time
#: of building a sorted dict and encoding it, for the switch's 11 records per inquiry
_SORTED_FIELDS = tuple(sorted(AUDIT_FIELDS))
_HASH_FORMAT = "{" + ",".join(f'"{k}":%s' for k in _SORTED_FIELDS) + "}"
_HASH_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, check_circular=False)


def _json_value(v: Any) -> str:
    """``v`` as ``json.dumps(v, ensure_ascii=True)`` writes it."""
    t = type(v)
    if t is str:
        return _quote(v)
    if v is None:
        return "null"
    if t is int:
        return int.__repr__(v)
    return _HASH_JSON.encode(v)  # bool, float, str subclasses: json's own answer


#: The same canonical JSON written by msgspec, in C: a Struct whose fields are the record's
#: keys in sorted order encodes to ``{"bytes":...,"destination":...,...}`` with no spaces --
#: the very text above whenever every value is a str, an int or None (the encoders agree on
#: those) and the text is ASCII (``ensure_ascii`` only changes non-ASCII characters, which
#: msgspec writes as UTF-8).  Anything else (a float, a bool, non-ASCII text) takes the
#: format-string path, so the hash never depends on which path made it.
_HashedRecord: Any = msgspec.defstruct(
    "_HashedRecord", [(k, Any) for k in _SORTED_FIELDS], gc=False)
_encode_record = msgspec.json.Encoder().encode
_PLAIN_TYPES = frozenset({str, int, type(None)})


def _hash_json(values: tuple[Any, ...]) -> str:
    """The record hash over its values in sorted key order."""
    if _PLAIN_TYPES.issuperset(map(type, values)):
        text = _encode_record(_HashedRecord(*values))
        if text.isascii():
            return hashlib.sha256(text).hexdigest()
    return hashlib.sha256((_HASH_FORMAT % tuple(map(_json_value, values))).encode("ascii")
                          ).hexdigest()


def record_hash(rec: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of every field except ``hash``."""
    return _hash_json(tuple(map(rec.get, _SORTED_FIELDS)))


_EVENT_FIELDS = ("event", "msn", "link", "peer", "operator", "origin", "destination", "mke",
                 "outcome", "error_code", "reason", "bytes", "sha256")
_COLS = (*AUDIT_FIELDS, "hash")
_INSERT = f"INSERT INTO audit ({', '.join(_COLS)}) VALUES ({', '.join('?' * len(_COLS))})"
_SET_HEAD = ("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
             "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash")


def make_row(ev: AuditEvent, seq: int, ts: str, prev: str) -> list[Any]:
    """The record that follows ``(seq - 1, prev)``, as an ``audit`` row (``_COLS`` order,
    ``hash`` last): the switch's hot path, 11 times per inquiry.

    Written out over the fields (no dict, no loop): each event field cleaned once, then the row
    and its hash from the same values, through msgspec when the values allow (see
    ``_HashedRecord``).  Plain source rather than code generated at import, so that a compiled
    build (``make compiled``, mypyc) compiles it too; the interpreter runs it as fast as the
    generated function it replaces."""
    # as make_record always did: None and int kept, the rest cleaned
    event: Any = ev.event
    if event is not None and type(event) is not int:
        event = _clean(event)
    msn: Any = ev.msn
    if msn is not None and type(msn) is not int:
        msn = _clean(msn)
    link: Any = ev.link
    if link is not None and type(link) is not int:
        link = _clean(link)
    peer: Any = ev.peer
    if peer is not None and type(peer) is not int:
        peer = _clean(peer)
    operator: Any = ev.operator
    if operator is not None and type(operator) is not int:
        operator = _clean(operator)
    origin: Any = ev.origin
    if origin is not None and type(origin) is not int:
        origin = _clean(origin)
    destination: Any = ev.destination
    if destination is not None and type(destination) is not int:
        destination = _clean(destination)
    mke: Any = ev.mke
    if mke is not None and type(mke) is not int:
        mke = _clean(mke)
    outcome: Any = ev.outcome
    if outcome is not None and type(outcome) is not int:
        outcome = _clean(outcome)
    error_code: Any = ev.error_code
    if error_code is not None and type(error_code) is not int:
        error_code = _clean(error_code)
    reason: Any = ev.reason
    if reason is not None and type(reason) is not int:
        reason = _clean(reason)
    size: Any = ev.bytes
    if size is not None and type(size) is not int:
        size = _clean(size)
    sha256: Any = ev.sha256
    if sha256 is not None and type(sha256) is not int:
        sha256 = _clean(sha256)
    # _SORTED_FIELDS order: bytes, destination, error_code, event, link, mke, msn, operator,
    # origin, outcome, peer, prev, reason, seq, sha256, ts
    values = (size, destination, error_code, event, link, mke, msn, operator, origin, outcome,
              peer, prev, reason, seq, sha256, ts)
    if _PLAIN_TYPES.issuperset(map(type, values)):
        text: bytes = _encode_record(_HashedRecord(*values))
        if text.isascii():
            return [seq, ts, event, msn, link, peer, operator, origin, destination, mke,
                    outcome, error_code, reason, size, sha256, prev,
                    hashlib.sha256(text).hexdigest()]
    return [seq, ts, event, msn, link, peer, operator, origin, destination, mke, outcome,
            error_code, reason, size, sha256, prev, _hash_json(values)]


assert _SORTED_FIELDS == ("bytes", "destination", "error_code", "event", "link", "mke", "msn",
                          "operator", "origin", "outcome", "peer", "prev", "reason", "seq",
                          "sha256", "ts")
assert set(_EVENT_FIELDS) | {"seq", "ts", "prev"} == set(AUDIT_FIELDS)


def read_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """``(seq, hash)`` of the last record (``(0, GENESIS)`` for an empty trail)."""
    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(head[0]), str(head[1])) if head else (0, GENESIS)


def write_head(conn: sqlite3.Connection, head: tuple[int, str]) -> None:
    conn.execute(_SET_HEAD, head)


def make_record(ev: AuditEvent, now: float, head: tuple[int, str]) -> dict[str, Any]:
    """The record that follows ``head`` (its ``seq``, ``ts``, ``prev`` and ``hash`` set)."""
    return dict(zip(_COLS, make_row(ev, head[0] + 1, format_ts(now), head[1]), strict=True))


def row_of(rec: dict[str, Any]) -> list[Any]:
    """The values of a record in ``audit`` column order (for ``insert_rows``)."""
    return [rec[c] for c in _COLS]


def insert_rows(conn: sqlite3.Connection, rows: list[list[Any]]) -> None:
    """Write made records in one statement (a switch transaction holds tens of them)."""
    conn.executemany(_INSERT, rows)


def insert(conn: sqlite3.Connection, ev: AuditEvent, now: float,
           head: tuple[int, str]) -> dict[str, Any]:
    """Insert one record after ``head`` WITHOUT moving ``audit_head``: the caller holds the
    write transaction and writes the head once before it commits (``write_head``)."""
    rec = make_record(ev, now, head)
    conn.execute(_INSERT, row_of(rec))
    return rec


def append(conn: sqlite3.Connection, ev: AuditEvent, now: float) -> dict[str, Any]:
    """Append one record; the caller holds the write transaction (BEGIN IMMEDIATE)."""
    rec = insert(conn, ev, now, read_head(conn))
    write_head(conn, (rec["seq"], rec["hash"]))
    return rec


def records(conn: sqlite3.Connection, *, after: int = 0,
            last: int | None = None) -> list[dict[str, Any]]:
    """Records in chain order (``after`` a sequence number, or the ``last`` N)."""
    cols = (*AUDIT_FIELDS, "hash")
    if is_log_db(conn):  # the log journal: the records are in its blocks
        out = [dict(zip(cols, r, strict=True)) for r in audit_rows(read_blocks(conn))
               if r[0] > after]
        return (out[-last:] if last else []) if last is not None else out
    sql = f"SELECT {', '.join(cols)} FROM audit"
    if last is not None:
        rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (last,)).fetchall()[::-1]
    else:
        rows = conn.execute(sql + " WHERE seq > ? ORDER BY seq", (after,)).fetchall()
    return [dict(zip(cols, r, strict=True)) for r in rows]


def export_jsonl(conn: sqlite3.Connection) -> Iterator[str]:
    for rec in records(conn):
        yield json.dumps(rec, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    count: int
    broken_seq: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.count} records, chain intact"
        return f"BROKEN at record seq {self.broken_seq}: {self.reason}"


def verify_rows(rows: Iterable[dict[str, Any]],
                head: tuple[int, str] | None = None) -> VerifyResult:
    """Recompute the chain over records in stored order; name the first broken one."""
    prev_hash, prev_seq, count = GENESIS, 0, 0
    for rec in rows:
        count += 1
        seq = rec.get("seq")
        if record_hash(rec) != rec.get("hash"):
            return VerifyResult(False, count, seq, "content does not match its hash "
                                "(record edited, or moved to another position)")
        if rec.get("prev") != prev_hash:
            why = ("the record before it is missing" if isinstance(seq, int)
                   and seq > prev_seq + 1 else
                   "prev does not match the record before it (record inserted, deleted "
                   "or reordered)")
            return VerifyResult(False, count, seq, why)
        if seq != prev_seq + 1:
            return VerifyResult(False, count, seq,
                                f"sequence number {seq} follows {prev_seq}")
        prev_hash, prev_seq = str(rec["hash"]), int(seq)
    if head is not None:
        hseq, hhash = head
        if hseq > prev_seq:
            return VerifyResult(False, count, prev_seq + 1,
                                f"records {prev_seq + 1}..{hseq} missing (head is {hseq})")
        if hseq < prev_seq:
            return VerifyResult(False, count, hseq + 1,
                                f"records after the head ({hseq}) were added outside the "
                                "switch")
        if hhash != prev_hash:
            return VerifyResult(False, count, hseq, "last record does not match the head hash")
    return VerifyResult(True, count)


def verify(conn: sqlite3.Connection) -> VerifyResult:
    """Verify the audit table of a journal database, including its head (a log journal:
    its records in log order; its last record is its head)."""
    cols = (*AUDIT_FIELDS, "hash")
    if is_log_db(conn):
        return verify_rows(dict(zip(cols, r, strict=True))
                           for r in audit_rows(read_blocks(conn)))
    cur = conn.execute(f"SELECT {', '.join(cols)} FROM audit ORDER BY rowid")
    rows = (dict(zip(cols, r, strict=True)) for r in cur)
    head_row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    head = (int(head_row[0]), str(head_row[1])) if head_row else (0, GENESIS)
    return verify_rows(rows, head)

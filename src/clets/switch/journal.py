"""The durable journal: accepted messages, per-target outbound queues, dead letters, dedup keys.

SQLite in WAL mode with ``synchronous=FULL`` and ONE writer connection that opens every write
with ``BEGIN IMMEDIATE`` (tech.md §6, reliability.md §2): a message is committed -- with its
audit records, in the same transaction -- before it is acknowledged or forwarded, so a kill -9
or a power loss after the acknowledgement cannot lose it.

Outbound rows (``outbound``) are the queues.  ``kind`` is ``forward`` (to a destination; encoded
once at intake with its switch control and kept in memory by the engine, re-encoded from the
journaled canonical message after a restart) or ``deliver``
(to an origin-role link: responses, status messages, administrative messages; the frame is
encoded when the row is written).  States:

``queued`` -> ``in_flight`` (claimed, handed to the link; for a forward: awaiting its answer)
-> ``done`` (delivered / answered) or ``dead`` (retries or time-to-live exhausted; a copy of the
reason goes to ``dead_letter``).  On open, ``in_flight`` rows go back to ``queued`` before any
worker starts: at-least-once, and a destination sees the same switch control again so it can
drop the repeat.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from clets.errors import ConfigError, StorageError, storage_error

from . import audit

__all__ = ["Delivery", "Journal", "OutRow", "StoredMessage"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    msn INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    kind TEXT NOT NULL,
    link TEXT,
    peer TEXT,
    origin TEXT,
    control TEXT,
    sequence INTEGER,
    mke TEXT,
    operator TEXT,
    codec TEXT,
    sha256 TEXT NOT NULL,
    payload BLOB NOT NULL,
    canonical TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msn INTEGER NOT NULL REFERENCES messages(msn),
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    peer TEXT,
    -- a forward's switch control is its id in 10 digits (control_of): computed, not stored
    control TEXT GENERATED ALWAYS AS (
        CASE WHEN kind = 'forward' THEN printf('%010d', id % 10000000000) END) VIRTUAL,
    mke TEXT,
    address TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    deadline_at REAL,
    expires_at REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status_sent TEXT NOT NULL DEFAULT '',
    responses INTEGER NOT NULL DEFAULT 0,
    frame BLOB,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbound_due ON outbound (target, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbound_open ON outbound (state, deadline_at);
-- a client's feed (deliveries_after): its deliveries in id order, whatever their state
CREATE INDEX IF NOT EXISTS outbound_feed ON outbound (target, peer, id) WHERE kind = 'deliver';
CREATE INDEX IF NOT EXISTS outbound_msn ON outbound (msn);
CREATE TABLE IF NOT EXISTS dead_letter (
    outbound_id INTEGER PRIMARY KEY REFERENCES outbound(id),
    msn INTEGER NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    dead_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dedup (
    key TEXT PRIMARY KEY,
    msn INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dedup_at ON dedup (at);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

OPEN_STATES = ("queued", "in_flight")
#: meta keys of the open hit confirmation clocks (``hit_clock_set``)
HIT_CLOCK_PREFIX = "hit_clock:"
#: delivered rows one retention pass deletes at most (a short transaction)
PURGE_BATCH = 5000


class OutRow(msgspec.Struct, frozen=True, array_like=True):
    """A queue row.  A msgspec Struct encoded as an array: the log journal writes its images
    with no per-field Python work, and copies with ``msgspec.structs.replace``."""

    id: int
    msn: int
    kind: str
    target: str
    peer: str | None
    control: str | None
    mke: str | None
    address: tuple[str, ...]
    state: str
    attempts: int
    next_attempt_at: float
    deadline_at: float | None
    expires_at: float
    created_at: float
    updated_at: float
    status_sent: str
    responses: int
    frame: bytes | None
    last_error: str | None

    @classmethod
    def of(cls, row: sqlite3.Row) -> OutRow:
        """From a ``SELECT *`` row (its columns are in field order: read by position, the
        workers' hot path)."""
        v = tuple(row)
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6],
                   tuple(json.loads(v[7])) if v[7] else (), v[8], v[9], v[10], v[11], v[12],
                   v[13], v[14], v[15], v[16], v[17], v[18])

    def claimed(self, now: float) -> OutRow:
        """This row as a worker's claim makes it: ``in_flight``, one more attempt."""
        return OutRow(self.id, self.msn, self.kind, self.target, self.peer, self.control,
                      self.mke, self.address, "in_flight", self.attempts + 1,
                      self.next_attempt_at, self.deadline_at, self.expires_at,
                      self.created_at, now, self.status_sent, self.responses, self.frame,
                      self.last_error)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__struct_fields__}
        d["address"] = list(self.address)
        d["frame"] = None if self.frame is None else len(self.frame)
        return d


class Delivery(msgspec.Struct, frozen=True):
    """One row of a client's delivery feed (``Journal.deliveries_after``): what the switch
    queued for a peer of a link, in the order it was queued.

    Why a feed: a client of the HTTP API that was away (disconnected, or the daemon
    restarted) asks for what it missed by the last id it saw; the journal is the record of
    it, so nothing is kept twice and the feed reaches back as far as the retention does."""

    id: int
    msn: int
    frame: bytes
    created_at: float
    state: str
    mke: str | None = None


#: deliveries one feed read returns at most
FEED_LIMIT = 500


class StoredMessage(msgspec.Struct, frozen=True, gc=False):
    """A journaled message.  ``gc=False``: the log journal keeps tens of thousands of them
    in memory (the late horizon's) and they hold only scalars, so the cyclic garbage
    collector need not track them -- each one tracked made every full collection longer,
    and those were the event loop's longest stalls (docs/performance.md)."""

    msn: int
    received_at: float
    kind: str
    link: str | None
    peer: str | None
    origin: str | None
    control: str | None
    sequence: int | None
    mke: str | None
    operator: str | None
    codec: str | None
    sha256: str
    payload: bytes
    canonical: str

    @classmethod
    def of(cls, row: sqlite3.Row) -> StoredMessage:
        return cls(**dict(row))


def connect(path: str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection to the journal database: the stdlib ``sqlite3`` module's.

    Why a function: it is the one seam through which the journal reaches SQLite.  The power-cut
    test (tests/test_powercut.py) replaces it in the switch process with a connection through
    APSW and a VFS that loses unsynced writes; the stdlib module cannot load such a VFS (APSW
    bundles its own SQLite library)."""
    return sqlite3.connect(path, isolation_level=None, timeout=10.0,
                           check_same_thread=check_same_thread)


#: WAL pages after which the writer checkpoints by itself when a background checkpointer runs
#: (a safety net: normally the checkpointer has copied them long before)
_FALLBACK_CHECKPOINT_PAGES = 10000


class Checkpointer:
    """Copies the WAL back into the database from a thread with its own connection.

    Why: SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages, on
    the writer -- the switch's event loop -- and stalls it for milliseconds (fsync of the
    database file), which is most of the switch's p99.  A PASSIVE checkpoint on another
    connection runs beside the writer (WAL allows that) and releases the GIL while it does
    its I/O.  Durability is the commits' business (``synchronous=FULL`` on the writer); a
    checkpoint only moves committed pages, so stopping or killing it loses nothing.
    """

    def __init__(self, path: Path, synchronous: str, every: float) -> None:
        self._conn = connect(str(path), check_same_thread=False)
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._every = every
        self._stop = threading.Event()
        #: checkpoints run and those that failed (busy, I/O error): figures for tests/docs
        self.runs = 0
        self.errors = 0
        self._worker = threading.Thread(target=self._run, name="journal-checkpoint",
                                        daemon=True)
        self._worker.start()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
            except sqlite3.Error:  # busy or failing disk: the writer's fallback still works
                self.errors += 1

    def close(self) -> None:
        self._stop.set()
        self._worker.join()
        self._conn.close()


class Journal:
    """One writer connection to the journal database (not thread-safe: one event loop).

    ``checkpoint_every`` (seconds): checkpoint the WAL from a background thread instead of in
    the writer's commits (see :class:`Checkpointer`); the switch uses it."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL",
                 checkpoint_every: float | None = None) -> None:
        self.path = Path(path)
        self._checkpointer: Checkpointer | None = None
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = connect(str(path))
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open journal: {exc}", source=str(path)) from exc
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(SCHEMA + audit.SCHEMA)
        except sqlite3.Error as exc:
            # opening a WAL database creates its -shm index: a full disk refuses even that
            err = storage_error(exc, store="journal", path=str(path))
            self.conn.close()
            if err is None:
                raise
            raise StorageError(f"cannot open the journal: {err.reason}", store="journal",
                               path=str(path), kind=err.kind) from exc
        # journals made before the control became a computed column store it: keep filling it
        self._stored_control = any(
            r[1] == "control" and r[6] == 0
            for r in self.conn.execute("PRAGMA table_xinfo(outbound)"))
        #: the highest queue row id handed out (to place a wrapped 10-digit control)
        self._max_oid = int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM outbound")
                            .fetchone()[0])
        if checkpoint_every and str(path) != ":memory:":
            try:
                self._checkpointer = Checkpointer(self.path, synchronous, checkpoint_every)
            except sqlite3.Error:  # no second connection: SQLite checkpoints in the commits
                self._checkpointer = None
            else:
                self.conn.execute(f"PRAGMA wal_autocheckpoint={_FALLBACK_CHECKPOINT_PAGES}")
        #: the audit head while inside ``tx()`` (``None`` outside)
        self._head: tuple[int, str] | None = None
        self._head0: tuple[int, str] | None = None
        #: audit rows made inside ``tx()``, written in one statement before its commit
        self._audit_rows: list[list[Any]] = []

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self.conn.close()

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rollback (guarded) on any exception.

        The audit head is read once when the write lock is taken and written once before the
        commit (not per record): a transaction with many audit records costs one head row."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._head = self._head0 = audit.read_head(self.conn)
            yield self.conn
            if self._audit_rows:
                audit.insert_rows(self.conn, self._audit_rows)
            if self._head != self._head0:
                audit.write_head(self.conn, self._head)
        except BaseException:
            self._head = self._head0 = None
            self._audit_rows = []
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self._head = self._head0 = None
        self._audit_rows = []
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested step inside ``tx()`` that can fail alone: on an exception its writes (and
        audit records) are undone and the exception propagates; the transaction goes on."""
        head, made = self._head, len(self._audit_rows)
        self.conn.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK TO step")
            self.conn.execute("RELEASE step")
            self._head = head
            del self._audit_rows[made:]
            raise
        self.conn.execute("RELEASE step")

    def audit(self, ev: audit.AuditEvent, now: float) -> None:
        """Append an audit record inside the caller's transaction."""
        head = self._head
        if head is None:  # not inside tx(): the caller holds a transaction of its own
            audit.append(self.conn, ev, now)
            return
        row = audit.make_row(ev, head[0] + 1, audit.format_ts(now), head[1])
        self._audit_rows.append(row)  # written just before the commit
        self._head = (row[0], row[-1])

    # ------------------------------------------------------------------ messages, dedup

    def check_duplicate(self, key: str, sha: str, now: float, window: float) -> tuple[str, int]:
        """``("new", 0)``, ``("retransmission", msn)`` (same key, same bytes) or
        ``("conflict", msn)`` (same key, other bytes) within ``window`` seconds."""
        row = self.conn.execute("SELECT msn, sha256, at FROM dedup WHERE key = ?",
                                (key,)).fetchone()
        if row is None or row["at"] < now - window:
            return "new", 0
        return ("retransmission" if row["sha256"] == sha else "conflict"), int(row["msn"])

    def remember(self, key: str, msn: int, sha: str, now: float) -> None:
        self.conn.execute("INSERT INTO dedup (key, msn, sha256, at) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET msn = excluded.msn, "
                          "sha256 = excluded.sha256, at = excluded.at", (key, msn, sha, now))

    def forget_before(self, before: float) -> int:
        return self.conn.execute("DELETE FROM dedup WHERE at < ?", (before,)).rowcount

    def insert_message(self, *, now: float, kind: str, link: str | None, peer: str | None,
                       origin: str | None, control: str | None, sequence: int | None,
                       mke: str | None, operator: str | None, codec: str | None, sha256: str,
                       payload: bytes, canonical: str) -> int:
        cur = self.conn.execute(
            "INSERT INTO messages (received_at, kind, link, peer, origin, control, sequence, "
            "mke, operator, codec, sha256, payload, canonical) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, kind, link, peer, origin, control, sequence, mke, operator, codec, sha256,
             payload, canonical))
        return int(cur.lastrowid or 0)

    def message(self, msn: int) -> StoredMessage | None:
        row = self.conn.execute("SELECT * FROM messages WHERE msn = ?", (msn,)).fetchone()
        return None if row is None else StoredMessage.of(row)

    # ------------------------------------------------------------------ queues

    def enqueue_forward(self, *, msn: int, destination: str, mke: str, address: tuple[str, ...],
                        now: float, deadline_at: float, expires_at: float) -> OutRow:
        """A forward row; its switch control is its id, 10 digits (fits every format)."""
        return self.row(self.add_forward(msn, destination, mke, address, now, deadline_at,
                                         expires_at))

    def add_forward(self, msn: int, destination: str, mke: str | None,
                    address: tuple[str, ...], now: float, deadline_at: float,
                    expires_at: float) -> int:
        """``enqueue_forward`` returning only the row id (the intake's hot path)."""
        cur = self.conn.execute(
            "INSERT INTO outbound (msn, kind, target, mke, address, state, next_attempt_at, "
            "deadline_at, expires_at, created_at, updated_at) "
            "VALUES (?, 'forward', ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
            (msn, destination, mke, json.dumps(list(address)) if address else None, now,
             deadline_at, expires_at, now, now))
        return self._forward_added(int(cur.lastrowid or 0))

    def _forward_added(self, oid: int) -> int:
        if self._stored_control:
            self.conn.execute("UPDATE outbound SET control = ? WHERE id = ?",
                              (control_of(oid), oid))
        self._max_oid = max(self._max_oid, oid)
        return oid

    def add_delivery(self, msn: int, link: str, peer: str | None, mke: str | None,
                     frame: bytes, now: float, expires_at: float) -> int:
        """``enqueue_delivery`` returning only the row id."""
        cur = self.conn.execute(
            "INSERT INTO outbound (msn, kind, target, peer, mke, state, next_attempt_at, "
            "expires_at, created_at, updated_at, frame) "
            "VALUES (?, 'deliver', ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
            (msn, link, peer, mke, now, expires_at, now, now, frame))
        return int(cur.lastrowid or 0)

    def due_rows(self, target: str, now: float, limit: int) -> list[OutRow]:
        """Up to ``limit`` committed, due, queued rows of ``target``, oldest first (a read:
        the worker claims them with ``mark_claimed`` in the next group commit)."""
        rows = self.conn.execute(
            "SELECT * FROM outbound WHERE target = ? AND state = 'queued' AND "
            "next_attempt_at <= ? ORDER BY id LIMIT ?", (target, now, limit)).fetchall()
        return [OutRow.of(r) for r in rows]

    def mark_claimed(self, ids: list[int], now: float) -> None:
        """``queued`` -> ``in_flight``, one more attempt (rows a timer made dead meanwhile
        stay dead)."""
        self.conn.executemany(
            "UPDATE outbound SET state = 'in_flight', attempts = attempts + 1, updated_at = ? "
            "WHERE id = ? AND state = 'queued'", [(now, i) for i in ids])

    def enqueue_delivery(self, *, msn: int, link: str, peer: str | None, mke: str, frame: bytes,
                         now: float, expires_at: float) -> OutRow:
        return self.row(self.add_delivery(msn, link, peer, mke, frame, now, expires_at))

    def row(self, oid: int) -> OutRow:
        r = self.conn.execute("SELECT * FROM outbound WHERE id = ?", (oid,)).fetchone()
        if r is None:
            raise ConfigError(f"no queue entry {oid}", source=str(self.path))
        return OutRow.of(r)

    def claim_next(self, target: str, now: float) -> OutRow | None:
        """The oldest due queued row of ``target``, now ``in_flight`` (caller holds tx)."""
        r = self.conn.execute(
            "SELECT * FROM outbound WHERE target = ? AND state = 'queued' AND "
            "next_attempt_at <= ? ORDER BY id LIMIT 1", (target, now)).fetchone()
        if r is None:
            return None
        self.conn.execute("UPDATE outbound SET state = 'in_flight', attempts = attempts + 1, "
                          "updated_at = ? WHERE id = ?", (now, r["id"]))
        return self.row(int(r["id"]))

    def has_queued(self, target: str) -> bool:
        """A row of ``target`` waits in the queue (a new one would come after it)."""
        return self.conn.execute("SELECT 1 FROM outbound WHERE target = ? AND state = 'queued' "
                                 "LIMIT 1", (target,)).fetchone() is not None

    def next_due(self, target: str) -> float | None:
        r = self.conn.execute("SELECT MIN(next_attempt_at) FROM outbound WHERE target = ? AND "
                              "state = 'queued'", (target,)).fetchone()
        return None if r is None or r[0] is None else float(r[0])

    def set_state(self, oid: int, state: str, now: float, *, error: str | None = None,
                  next_attempt_at: float | None = None, attempts: int | None = None) -> None:
        self.conn.execute(
            "UPDATE outbound SET state = ?, updated_at = ?, last_error = COALESCE(?, last_error),"
            " next_attempt_at = COALESCE(?, next_attempt_at), attempts = COALESCE(?, attempts)"
            " WHERE id = ?", (state, now, error, next_attempt_at, attempts, oid))

    def mark_delivered(self, oid: int, attempts: int, now: float) -> None:
        """A delivery handed to its link: ``done``.  Deliveries are not claimed first, so
        this also counts the attempt.  A row a timer dead-lettered meanwhile (its time to live
        ran out while it was being sent) WAS delivered: it becomes ``done`` and leaves the
        dead letters (the audit trail keeps both records, in the order they happened)."""
        if self.conn.execute("UPDATE outbound SET state = 'done', attempts = ?, updated_at = ? "
                             "WHERE id = ? AND state != 'dead'",
                             (attempts, now, oid)).rowcount:
            return
        self.conn.execute("UPDATE outbound SET state = 'done', attempts = ?, updated_at = ? "
                          "WHERE id = ?", (attempts, now, oid))
        self.conn.execute("DELETE FROM dead_letter WHERE outbound_id = ?", (oid,))

    def mark_failed(self, oid: int, now: float, *, error: str, next_attempt_at: float,
                    attempts: int) -> None:
        """A send that failed: ``queued`` again for its next attempt (a row dead-lettered
        meanwhile stays dead)."""
        self.conn.execute(
            "UPDATE outbound SET state = 'queued', updated_at = ?, last_error = ?, "
            "next_attempt_at = ?, attempts = ? WHERE id = ? AND state != 'dead'",
            (now, error, next_attempt_at, attempts, oid))

    def mark_dead(self, oid: int, reason: str, now: float, attempts: int | None = None
                  ) -> OutRow | None:
        """Dead-letter a row: the row as it was, or None when it was dead already (its time to
        live ran out while a send hung, and then the send failed too: one dead letter)."""
        row = self.row(oid)
        if row.state == "dead":
            return None
        self.set_state(oid, "dead", now, error=reason, attempts=attempts)
        self.conn.execute("INSERT OR REPLACE INTO dead_letter (outbound_id, msn, target, reason,"
                          " dead_at) VALUES (?, ?, ?, ?, ?)",
                          (oid, row.msn, row.target, reason, now))
        return row

    def mark_status(self, oid: int, status: str) -> None:
        self.conn.execute("UPDATE outbound SET status_sent = ? WHERE id = ?", (status, oid))

    def find_forward(self, control: str) -> OutRow | None:
        """The forward whose switch control a destination echoed.  The control is the row id
        modulo 10**10 (``control_of``), so it is looked up by primary key; past the wrap the
        newest row with that control wins."""
        if len(control) != 10 or not (control.isascii() and control.isdigit()):
            return None
        low = int(control)
        oid = low + max(0, self._max_oid - low) // CONTROL_WRAP * CONTROL_WRAP
        while oid >= low:
            r = self.conn.execute("SELECT * FROM outbound WHERE id = ? AND kind = 'forward'",
                                  (oid,)).fetchone()
            if r is not None:
                return OutRow.of(r)
            oid -= CONTROL_WRAP
        return None

    def oldest_unanswered(self, targets: list[str], response_mke: str) -> OutRow | None:
        """FIFO correlation for answers without a control (``ncic`` inquiries carry none)."""
        if not targets:
            return None
        marks = ", ".join("?" * len(targets))
        rows = [OutRow.of(r) for r in self.conn.execute(
            f"SELECT * FROM outbound WHERE kind = 'forward' AND target IN ({marks}) AND "
            "state = 'in_flight' AND responses = 0 ORDER BY id LIMIT 50",
            targets).fetchall()]
        for row in rows:
            if row.mke and response_mke in (f"{row.mke}R", row.mke):
                return row
        return rows[0] if rows else None

    def mark_response(self, oid: int, now: float) -> int:
        """Count an answer (the row is ``done`` unless dead); the answers counted so far."""
        r = self.conn.execute(
            "UPDATE outbound SET responses = responses + 1, updated_at = ?, state = CASE WHEN "
            "state IN ('queued', 'in_flight') THEN 'done' ELSE state END WHERE id = ? "
            "RETURNING responses", (now, oid)).fetchone()
        return 0 if r is None else int(r[0])

    def due_timeouts(self, now: float) -> list[OutRow]:
        """Open forward rows past their answer deadline that have had no status yet."""
        rows = self.conn.execute(
            "SELECT * FROM outbound WHERE kind = 'forward' AND state IN ('queued', 'in_flight')"
            " AND status_sent = '' AND responses = 0 AND deadline_at <= ? ORDER BY id",
            (now,)).fetchall()
        return [OutRow.of(r) for r in rows]

    def expired(self, now: float) -> list[OutRow]:
        rows = self.conn.execute(
            "SELECT * FROM outbound WHERE state IN ('queued', 'in_flight') AND expires_at <= ? "
            "ORDER BY id", (now,)).fetchall()
        return [OutRow.of(r) for r in rows]

    def start_controls_after(self, now: float) -> None:
        """Let queue row ids, hence switch controls, start no lower than ``now`` in hundredths
        of a second (caller holds the tx).

        A destination drops a control it saw inside its dedup window as a duplicate.  A new
        journal (the old one lost) or a restored backup would hand out controls from 1 (or
        from the backup's last one) again; starting past the clock keeps them new as long as
        the journal issued fewer than 100 forwards a second on average.  Ids only grow: the
        control is the id modulo 10**10, and ``find_forward`` knows the wrap."""
        floor = int(now * 100)
        row = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'outbound'").fetchone()
        if row is None:
            self.conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbound', ?)",
                              (floor,))
        elif int(row[0]) < floor:
            self.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbound'",
                              (floor,))
        else:
            return
        self._max_oid = max(self._max_oid, floor)

    def recover(self, now: float) -> int:
        """``in_flight`` -> ``queued`` (restart); the caller holds the transaction."""
        return self.conn.execute(
            "UPDATE outbound SET state = 'queued', next_attempt_at = ?, updated_at = ? "
            "WHERE state = 'in_flight' AND NOT (kind = 'forward' AND responses > 0)",
            (now, now)).rowcount

    def requeue_in_flight(self, target: str, now: float) -> int:
        """A link that came back: its unanswered forwards may never have left; send again."""
        return self.conn.execute(
            "UPDATE outbound SET state = 'queued', next_attempt_at = ?, updated_at = ? "
            "WHERE target = ? AND state = 'in_flight'", (now, now, target)).rowcount

    # ------------------------------------------------------------------ operator commands

    def list_rows(self, *, state: str | None = None, target: str | None = None,
                  limit: int = 1000) -> list[OutRow]:
        sql, args = "SELECT * FROM outbound WHERE 1 = 1", []
        if state:
            sql += " AND state = ?"
            args.append(state)
        if target:
            sql += " AND target = ?"
            args.append(target)
        rows = self.conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [OutRow.of(r) for r in rows]

    def message_rows(self, msn: int) -> list[OutRow]:
        """The queue rows of one message (its forwards and the deliveries of its answers and
        statuses), in order: what the HTTP API's ``GET /v1/messages/{msn}`` shows."""
        rows = self.conn.execute("SELECT * FROM outbound WHERE msn = ? ORDER BY id",
                                 (msn,)).fetchall()
        return [OutRow.of(r) for r in rows]

    def dead_reason(self, oid: int) -> str | None:
        r = self.conn.execute("SELECT reason FROM dead_letter WHERE outbound_id = ?",
                              (oid,)).fetchone()
        return None if r is None else str(r[0])

    def retry(self, oid: int, now: float, ttl: float) -> OutRow:
        """Put a dead (or queued) row back in its queue now, attempts reset (caller holds tx).

        A forward's answer deadline starts again too, as long as it was first: a retried
        inquiry is not reported ``.02.`` the moment it is queued."""
        row = self.row(oid)
        if row.state not in ("dead", "queued"):
            raise ConfigError(f"queue entry {oid} is {row.state}; only dead or queued entries "
                              "can be retried", source=str(self.path))
        self.conn.execute(
            "UPDATE outbound SET state = 'queued', attempts = 0, next_attempt_at = ?, "
            "updated_at = ?, expires_at = MAX(expires_at, ?), status_sent = '', "
            "deadline_at = CASE WHEN deadline_at IS NULL THEN NULL "
            "ELSE ? + MAX(deadline_at - created_at, 0) END WHERE id = ?",
            (now, now, now + ttl, now, oid))
        self.conn.execute("DELETE FROM dead_letter WHERE outbound_id = ?", (oid,))
        return self.row(oid)

    def purge_dead(self) -> list[int]:
        ids = [int(r[0]) for r in self.conn.execute(
            "SELECT id FROM outbound WHERE state = 'dead' ORDER BY id")]
        self.conn.execute("DELETE FROM dead_letter")
        self.conn.execute("DELETE FROM outbound WHERE state = 'dead'")
        return ids

    def depths(self) -> dict[str, dict[str, int]]:
        """Rows per target and state, for the states that need attention (open and dead).

        Delivered (``done``) rows are left out: there are millions of them after a while and
        the metrics endpoint must not scan them (they are counted as ``messages`` outcomes).
        """
        out: dict[str, dict[str, int]] = {}
        for r in self.conn.execute("SELECT target, state, COUNT(*) FROM outbound "
                                   "WHERE state IN ('queued', 'in_flight', 'dead') "
                                   "GROUP BY target, state"):
            out.setdefault(str(r[0]), {})[str(r[1])] = int(r[2])
        return out

    def purge_delivered(self, before: float, limit: int = PURGE_BATCH) -> tuple[int, int]:
        """Delete up to ``limit`` delivered queue rows last changed before ``before``, then
        the messages older than ``before`` that no queue row, dead letter or dedup key still
        refers to.  Returns (rows, messages).  Open and dead rows are never touched.
        """
        ids = [int(r[0]) for r in self.conn.execute(
            "SELECT id FROM outbound WHERE state = 'done' AND updated_at < ? LIMIT ?",
            (before, limit))]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for target, peer, top in self.conn.execute(
                    "SELECT target, peer, MAX(id) FROM outbound WHERE kind = 'deliver' AND "
                    f"id IN ({','.join('?' * len(chunk))}) GROUP BY target, peer", chunk):
                key = feed_dropped_key(str(target), peer)
                if int(top) > int(self.meta_get(key) or 0):
                    self.meta_set(key, str(int(top)))
            self.conn.execute(f"DELETE FROM outbound WHERE id IN ({','.join('?' * len(chunk))})",
                              chunk)
        messages = self.conn.execute(
            "DELETE FROM messages WHERE received_at < ? "
            "AND msn NOT IN (SELECT msn FROM outbound) "
            "AND msn NOT IN (SELECT msn FROM dead_letter) "
            "AND msn NOT IN (SELECT msn FROM dedup)", (before,)).rowcount
        return len(ids), messages

    def deliveries_after(self, link: str, peer: str | None, after: int,
                         limit: int = FEED_LIMIT) -> list[Delivery]:
        """The deliveries queued for ``peer`` of ``link`` with ids above ``after``, oldest
        first, whatever their state (``queued``, ``in_flight``, ``done``, ``dead``): a
        client's feed.  Committed rows only (the writer holds no transaction between loop
        turns); done rows go after ``retain_days`` (``purge_delivered``), so the feed reaches
        back that far.

        Read through the partial index ``outbound_feed`` (deliveries only, by link, peer and
        id): the cost is that of the rows returned, however far back ``after`` is."""
        rows = self.conn.execute(
            "SELECT id, msn, frame, created_at, state, mke FROM outbound WHERE "
            "kind = 'deliver' AND target = ? AND peer IS ? AND id > ? ORDER BY id LIMIT ?",
            (link, peer, after, max(0, limit))).fetchall()
        return [Delivery(int(r[0]), int(r[1]), bytes(r[2] or b""), float(r[3]), str(r[4]),
                         r[5]) for r in rows]

    def feed_dropped(self, link: str, peer: str | None) -> int:
        """The highest id of a delivery to ``peer`` on ``link`` that retention removed (0:
        none): a feed read from below it has lost something (``GET /v1/events`` says so)."""
        return int(self.meta_get(feed_dropped_key(link, peer)) or 0)

    def meta_get(self, key: str) -> str | None:
        r = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if r is None else str(r[0])

    def meta_set(self, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO "
                          "UPDATE SET value = excluded.value", (key, value))

    # ------------------------------------------------------------------ hit confirmation

    def hit_clock_set(self, key: str, value: str | None) -> None:
        """Journal one hit confirmation clock (hitconfirm.py): its JSON text, or ``None``
        when it is closed.  Rows of ``meta`` under ``HIT_CLOCK_PREFIX``: no schema change,
        and a migration to the log journal carries them (migrate.py copies meta)."""
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (HIT_CLOCK_PREFIX + key,))
        else:
            self.meta_set(HIT_CLOCK_PREFIX + key, value)

    def hit_clocks(self) -> dict[str, str]:
        """The open hit confirmation clocks journaled: key -> JSON text (read at start)."""
        lo = HIT_CLOCK_PREFIX
        hi = lo[:-1] + chr(ord(lo[-1]) + 1)
        return {str(k)[len(lo):]: str(v) for k, v in self.conn.execute(
            "SELECT key, value FROM meta WHERE key >= ? AND key < ?", (lo, hi))}


#: switch controls have 10 digits: row ids wrap around this
CONTROL_WRAP = 10**10


def control_of(oid: int) -> str:
    """The switch control of outbound row ``oid``: 10 digits (<= 10 chars in every format).
    The journal computes the same value in its ``control`` column."""
    return f"{oid % CONTROL_WRAP:010d}"


def feed_dropped_key(link: str, peer: str | None) -> str:
    """The meta key (SQLite journal) or log mark (log journal) of ``feed_dropped``."""
    return f"feed_dropped:{link}:{peer or ''}"


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """A plain connection for the CLI's read-only commands (no schema changes)."""
    p = Path(path)
    if not p.exists():
        raise ConfigError("journal does not exist", source=str(p))
    conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn

"""The durable ledger of a file drop: which file is where, and how far its messages got.

Every step of handling a dropped file is written here (SQLite, WAL, ``synchronous=FULL``, one
commit per step) *before* the step's effect is relied upon, so that after a ``kill -9`` between
any two steps ``reconcile()`` (in :mod:`clets.adapters.drop`) can look at the ledger and at the
directories and finish or undo exactly the step that was interrupted.

Inbound states (one row per claimed file)::

    claiming --rename--> claimed --read+hash--> downloaded --split--> split (count, acked)
        --all acked--> archiving --rename--> archived
    any of claimed..split --failure--> erroring --reason file + rename--> errored
    claiming --file back in inbox / gone--> released / vanished

``claiming``, ``archiving`` and ``erroring`` are *intents*: the row names the target before the
rename happens, so a crash leaves either the source or the target on disk and the ledger says
which of the two to expect.  ``acked`` counts the messages the consumer has accepted; a restart
re-delivers from ``acked`` on (the in-flight message at most once more, with the same id).

Outbound states (one row per file written): ``writing`` (intent; temp name recorded) -> ``renamed``,
or ``abandoned`` when a crash left only the temp file (the send never returned, so the caller
still owns the frame and resends it).

Files are keyed by (name, size, sha256): a file already archived under the same key is a
duplicate and its messages are not handed over again.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from clets.errors import storage_error

__all__ = [
    "ACTIVE",
    "TERMINAL",
    "FileRow",
    "Ledger",
    "OutRow",
]

CLAIMING = "claiming"
CLAIMED = "claimed"
DOWNLOADED = "downloaded"
SPLIT = "split"
ARCHIVING = "archiving"
ARCHIVED = "archived"
ERRORING = "erroring"
ERRORED = "errored"
RELEASED = "released"
VANISHED = "vanished"

TERMINAL = frozenset({ARCHIVED, ERRORED, RELEASED, VANISHED})
ACTIVE = frozenset({CLAIMING, CLAIMED, DOWNLOADED, SPLIT, ARCHIVING, ERRORING})

WRITING = "writing"
RENAMED = "renamed"
ABANDONED = "abandoned"

# Allowed transitions: a bug that skips a step fails loudly instead of corrupting the record.
_NEXT: dict[str, frozenset[str]] = {
    CLAIMING: frozenset({CLAIMED, RELEASED, VANISHED}),
    CLAIMED: frozenset({DOWNLOADED, ARCHIVING, ERRORING}),
    DOWNLOADED: frozenset({SPLIT, ARCHIVING, ERRORING}),
    SPLIT: frozenset({SPLIT, ARCHIVING, ERRORING}),
    ARCHIVING: frozenset({ARCHIVED}),
    ERRORING: frozenset({ERRORED}),
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    drop_id TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    claimed_name TEXT,
    sha256 TEXT,
    state TEXT NOT NULL,
    count INTEGER,
    acked INTEGER NOT NULL DEFAULT 0,
    duplicate_of INTEGER,
    reason TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_state ON files (drop_id, state);
CREATE INDEX IF NOT EXISTS files_key ON files (drop_id, name, size, sha256);
CREATE TABLE IF NOT EXISTS outbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    drop_id TEXT NOT NULL,
    name TEXT NOT NULL,
    tmp_name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbound_state ON outbound (drop_id, state);
"""


@dataclass(frozen=True, slots=True)
class FileRow:
    """One inbound file as the ledger knows it."""

    id: int
    drop_id: str
    name: str
    size: int
    mtime: float
    claimed_name: str
    sha256: str | None
    state: str
    count: int | None
    acked: int
    duplicate_of: int | None
    reason: str | None

    @property
    def file_id(self) -> str:
        """The stable id handed to the consumer: the content hash (message id = file_id/index)."""
        return self.sha256 or ""


@dataclass(frozen=True, slots=True)
class OutRow:
    """One outbound file as the ledger knows it."""

    id: int
    drop_id: str
    name: str
    tmp_name: str
    size: int
    sha256: str
    state: str


_FILE_COLS = (
    "id, drop_id, name, size, mtime, claimed_name, sha256, state, count, acked, duplicate_of,"
    " reason"
)
_OUT_COLS = "id, drop_id, name, tmp_name, size, sha256, state"


def claimed_name_for(row_id: int, name: str) -> str:
    """Unique name of a claimed file in the processing directory (and later archive/error)."""
    return f"{row_id:08d}.{name}"


def connect(path: str) -> sqlite3.Connection:
    """A connection to the ledger database: the stdlib ``sqlite3`` module's.

    The one seam through which the ledger reaches SQLite: the power-cut test of the SFTP drop
    (tests/test_sftp_crash.py) replaces it in its worker with a connection through APSW and a
    VFS that loses unsynced writes."""
    return sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)


class Ledger:
    """SQLite ledger; one instance per process, used from one thread at a time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One step, committed or not at all.  A full or failing disk is a StorageError
        (``store`` ``ledger``): the step did not happen, the drop retries it later, and a
        COMMIT that failed is rolled back so the next step can begin."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            err = storage_error(exc, store="ledger", path=str(self.path))
            if err is None:
                raise
            raise err from exc

    # ---- inbound -------------------------------------------------------------------------

    def begin_claim(self, drop_id: str, name: str, size: int, mtime: float) -> FileRow:
        """Record the intent to claim ``name``; the returned row names the claimed file."""
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO files (drop_id, name, size, mtime, state, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (drop_id, name, size, mtime, CLAIMING, now, now),
            )
            row_id = int(cur.lastrowid or 0)
            db.execute(
                "UPDATE files SET claimed_name = ? WHERE id = ?",
                (claimed_name_for(row_id, name), row_id),
            )
        return self.get(row_id)

    def get(self, row_id: int) -> FileRow:
        row = self._db.execute(f"SELECT {_FILE_COLS} FROM files WHERE id = ?", (row_id,)).fetchone()
        if row is None:
            raise KeyError(row_id)
        return FileRow(*row)

    def set_state(self, row_id: int, state: str, *, reason: str | None = None) -> FileRow:
        with self._tx() as db:
            self._move(db, row_id, state, reason=reason)
        return self.get(row_id)

    def record_download(self, row_id: int, sha256: str, size: int) -> FileRow:
        """Record the content hash; a file already handled under the same key becomes a duplicate.

        A duplicate goes straight to ``archiving`` with ``duplicate_of`` set: its messages were
        handed over when the first copy was processed.
        """
        with self._tx() as db:
            row = self._row(db, row_id)
            dup = db.execute(
                "SELECT id FROM files WHERE drop_id = ? AND name = ? AND size = ? AND sha256 = ?"
                " AND id != ? AND state IN (?, ?, ?, ?) ORDER BY id LIMIT 1",
                (row.drop_id, row.name, size, sha256, row_id, DOWNLOADED, SPLIT, ARCHIVING,
                 ARCHIVED),
            ).fetchone()
            db.execute(
                "UPDATE files SET sha256 = ?, size = ? WHERE id = ?", (sha256, size, row_id)
            )
            if dup is not None:
                db.execute("UPDATE files SET duplicate_of = ? WHERE id = ?", (dup[0], row_id))
                self._move(db, row_id, ARCHIVING, reason=f"duplicate of ledger file {dup[0]}")
            else:
                self._move(db, row_id, DOWNLOADED)
        return self.get(row_id)

    def record_split(self, row_id: int, count: int) -> FileRow:
        with self._tx() as db:
            db.execute("UPDATE files SET count = ? WHERE id = ?", (count, row_id))
            self._move(db, row_id, SPLIT)
        return self.get(row_id)

    def record_ack(self, row_id: int, acked: int) -> None:
        """``acked`` messages (indexes 0..acked-1) are with the consumer; never moves backwards."""
        with self._tx() as db:
            db.execute(
                "UPDATE files SET acked = MAX(acked, ?), updated = ? WHERE id = ? AND state = ?",
                (acked, time.time(), row_id, SPLIT),
            )

    def active(self, drop_id: str) -> list[FileRow]:
        rows = self._db.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE drop_id = ? AND state IN"
            f" ({','.join('?' * len(ACTIVE))}) ORDER BY id",
            (drop_id, *sorted(ACTIVE)),
        ).fetchall()
        return [FileRow(*r) for r in rows]

    def files(self, drop_id: str) -> list[FileRow]:
        rows = self._db.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE drop_id = ? ORDER BY id", (drop_id,)
        ).fetchall()
        return [FileRow(*r) for r in rows]

    def by_claimed_name(self, drop_id: str, claimed_name: str) -> FileRow | None:
        row = self._db.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE drop_id = ? AND claimed_name = ?",
            (drop_id, claimed_name),
        ).fetchone()
        return FileRow(*row) if row else None

    def _row(self, db: sqlite3.Connection, row_id: int) -> FileRow:
        row = db.execute(f"SELECT {_FILE_COLS} FROM files WHERE id = ?", (row_id,)).fetchone()
        if row is None:
            raise KeyError(row_id)
        return FileRow(*row)

    def _move(
        self, db: sqlite3.Connection, row_id: int, state: str, *, reason: str | None = None
    ) -> None:
        current = self._row(db, row_id).state
        if state not in _NEXT.get(current, frozenset()):
            raise ValueError(f"ledger file {row_id}: {current} -> {state} is not a valid step")
        if reason is None:
            db.execute(
                "UPDATE files SET state = ?, updated = ? WHERE id = ?", (state, time.time(), row_id)
            )
        else:
            db.execute(
                "UPDATE files SET state = ?, reason = ?, updated = ? WHERE id = ?",
                (state, reason, time.time(), row_id),
            )

    # ---- outbound ------------------------------------------------------------------------

    def begin_out(
        self, drop_id: str, make_names: Callable[[int], tuple[str, str]], size: int, sha256: str
    ) -> OutRow:
        """Record the intent to write a file; ``make_names(seq)`` gives (final, temp) names."""
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO outbound (drop_id, name, tmp_name, size, sha256, state, created,"
                " updated) VALUES (?, '', '', ?, ?, ?, ?, ?)",
                (drop_id, size, sha256, WRITING, now, now),
            )
            row_id = int(cur.lastrowid or 0)
            name, tmp_name = make_names(row_id)
            db.execute(
                "UPDATE outbound SET name = ?, tmp_name = ? WHERE id = ?", (name, tmp_name, row_id)
            )
        return self.get_out(row_id)

    def finish_out(self, row_id: int, state: str = RENAMED) -> None:
        if state not in (RENAMED, ABANDONED):
            raise ValueError(state)
        with self._tx() as db:
            db.execute(
                "UPDATE outbound SET state = ?, updated = ? WHERE id = ? AND state = ?",
                (state, time.time(), row_id, WRITING),
            )

    def get_out(self, row_id: int) -> OutRow:
        row = self._db.execute(
            f"SELECT {_OUT_COLS} FROM outbound WHERE id = ?", (row_id,)
        ).fetchone()
        if row is None:
            raise KeyError(row_id)
        return OutRow(*row)

    def pending_out(self, drop_id: str) -> list[OutRow]:
        rows = self._db.execute(
            f"SELECT {_OUT_COLS} FROM outbound WHERE drop_id = ? AND state = ? ORDER BY id",
            (drop_id, WRITING),
        ).fetchall()
        return [OutRow(*r) for r in rows]

    def outbound(self, drop_id: str) -> list[OutRow]:
        rows = self._db.execute(
            f"SELECT {_OUT_COLS} FROM outbound WHERE drop_id = ? ORDER BY id", (drop_id,)
        ).fetchall()
        return [OutRow(*r) for r in rows]

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

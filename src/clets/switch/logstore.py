"""Where the journal's blocks are kept: the narrow interface, and its SQLite backend.

The journal (``logjournal.LogJournal``) needs five things from a store, and nothing else:
``append(block)`` -> its position (durable when it returns), ``read(after)`` in order, a
persisted low-water mark (the position of the newest snapshot: a restart reads from there),
``rewrite`` of a block below the mark (compaction keeps its audit records, drops payloads) and
``close``.  Positions only grow.  No SQL leaves this module, so a second backend (NATS
JetStream: a stream per journal, ``append`` = publish with an ack, positions = stream sequence
numbers, the mark in a KV bucket) can implement the same protocol.

SQLite here: one table of blocks, WAL with ``synchronous=FULL`` (one fsync per append), one
INSERT per block, a background thread that checkpoints the WAL (``journal.Checkpointer``).
The connection comes from ``journal.connect``, the seam the power-cut test replaces.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from clets.errors import ConfigError, StorageError, storage_error

from . import journal as _journal
from .logformat import read_blocks

__all__ = ["LogStore", "SqliteLogStore", "torn_tail"]

log = logging.getLogger("clets.switch")

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (pos INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class LogStore(Protocol):
    """An append-only sequence of blocks with a low-water mark."""

    def append(self, block: bytes, *, mark: bool = False) -> int:
        """Write ``block`` durably; its position.  ``mark``: it becomes the low-water mark in
        the same atomic write (a snapshot block)."""

    def read(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        """Blocks after position ``after``, in order."""

    def low_water(self) -> int:
        """The position a restart reads from (0: the start of the log)."""

    def rewrite(self, pos: int, block: bytes) -> None:
        """Replace a block below the low-water mark (compaction)."""

    def get_mark(self, name: str) -> int: ...

    def set_mark(self, name: str, value: int) -> None: ...

    def close(self) -> None: ...


class SqliteLogStore:
    """The blocks in a SQLite table (one writer: the switch's event loop)."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL",
                 checkpoint_every: float | None = None, check_tail: bool = True) -> None:
        self.path = Path(path)
        self._checkpointer: _journal.Checkpointer | None = None
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # the log journal's writer thread appends on it (one user at a time: the loop
            # waits for a pending append before it touches the store)
            self.conn = _journal.connect(str(path), check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open journal: {exc}", source=str(path)) from exc
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={synchronous}")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.executescript(SCHEMA)
        except sqlite3.Error as exc:
            err = storage_error(exc, store="journal", path=str(path))
            self.conn.close()
            if err is None:
                raise
            raise StorageError(f"cannot open the journal: {err.reason}", store="journal",
                               path=str(path), kind=err.kind) from exc
        #: bytes of a torn write found after the last whole commit at open (dropped)
        self.torn = 0
        #: the -wal and -shm files ``torn_tail`` read, open until the connections close
        self._tail_files: list[BinaryIO] = []
        if check_tail and str(path) != ":memory:":
            self.torn = torn_tail(self.path, self._tail_files)
            if self.torn:
                log.warning("journal %s: a torn write at the end of the log was dropped "
                            "(%d bytes after the last whole block; never read as data)",
                            self.path, self.torn)
        if checkpoint_every and str(path) != ":memory:":
            try:
                self._checkpointer = _journal.Checkpointer(self.path, synchronous,
                                                           checkpoint_every)
            except sqlite3.Error:
                self._checkpointer = None
            else:
                self.conn.execute(
                    f"PRAGMA wal_autocheckpoint={_journal._FALLBACK_CHECKPOINT_PAGES}")
        #: appends (each one commit, one fsync with synchronous=FULL): /metrics reads it
        self.appends = 0

    def append(self, block: bytes, *, mark: bool = False) -> int:
        if not mark:
            cur = self.conn.execute("INSERT INTO log (data) VALUES (?)", (block,))
            self.appends += 1
            return int(cur.lastrowid or 0)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            cur = self.conn.execute("INSERT INTO log (data) VALUES (?)", (block,))
            pos = int(cur.lastrowid or 0)
            self._set(("low_water", pos))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.appends += 1
        return pos

    def read(self, after: int = 0) -> Iterator[tuple[int, bytes]]:
        return read_blocks(self.conn, after)

    def low_water(self) -> int:
        return self.get_mark("low_water")

    def get_mark(self, name: str) -> int:
        r = self.conn.execute("SELECT value FROM log_meta WHERE key = ?", (name,)).fetchone()
        return 0 if r is None else int(r[0])

    def set_mark(self, name: str, value: int) -> None:
        self._set((name, value))

    def _set(self, kv: tuple[str, int]) -> None:
        self.conn.execute("INSERT INTO log_meta (key, value) VALUES (?, ?) ON CONFLICT(key) "
                          "DO UPDATE SET value = excluded.value", kv)

    def rewrite(self, pos: int, block: bytes) -> None:
        if pos >= self.low_water():
            raise ValueError(f"block {pos} is not below the low-water mark")
        self.conn.execute("UPDATE log SET data = ? WHERE pos = ?", (block, pos))

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self.conn.close()
        for f in self._tail_files:  # after the connections (see ``torn_tail``)
            f.close()
        self._tail_files = []


def torn_tail(path: Path, keep: list[BinaryIO] | None = None) -> int:
    """Bytes of a torn write at the end of ``path``'s WAL, once SQLite has opened it (0: none).

    SQLite itself never reads them: at open it replays the WAL's frames up to the last whole
    commit (salts and checksums), and drops the rest silently.  This only says so: the
    wal-index (``-shm``) holds the page size (offset 14) and the number of frames kept
    (``mxFrame``, offset 16); bytes after the kept frames are a torn write if they are not a
    whole number of frames, or if the next frame carries the WAL header's salts (frames of a
    commit cut before its last frame).  Whole frames with other salts are an older WAL
    generation's, left there when the WAL restarted: not torn.

    ``keep``: the process has the journal open (a writer's SQLite connection): the files read
    here are left open in it, for the caller to close after its connections.  Why: closing a
    file descriptor drops every POSIX lock the process holds on that file, SQLite's own
    included -- on the -shm, the lock that tells other processes the wal-index is in use.
    Without it the next process to connect (an operator's read, a test's check) believed it
    was the first, rebuilt the -shm under the writer's mapping, and the writer died of SIGBUS
    at its next commit (``tests/test_hit_confirmation_restart.py`` caught it, 2 runs in 3)."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    try:
        size = wal.stat().st_size
        f = open(shm, "rb")  # noqa: SIM115 -- closed by the caller when ``keep`` is given
    except OSError:
        return 0
    try:
        hdr = f.read(48)
    finally:
        _done_with(f, keep)
    if size == 0 or len(hdr) < 48:
        return 0
    page = int(struct.unpack_from("=H", hdr, 14)[0])
    page = 65536 if page == 1 else page
    frames = int(struct.unpack_from("=I", hdr, 16)[0])
    if page == 0:
        return 0
    if size < 32:
        return size  # a WAL header cut short: the whole first commit after it is gone
    end = 32 + frames * (24 + page)
    if size <= end:
        return 0
    if (size - end) % (24 + page):
        return size - end
    w = open(wal, "rb")  # noqa: SIM115 -- as the -shm above
    try:
        salts = struct.unpack(">II", w.read(32)[16:24])  # the WAL header's: this generation
        w.seek(end)
        head = w.read(24)
    finally:
        _done_with(w, keep)
    return size - end if struct.unpack(">II", head[8:16]) == salts else 0


def _done_with(f: BinaryIO, keep: list[BinaryIO] | None) -> None:
    """Close ``f``, or leave it open in ``keep`` (``torn_tail``: why a file of an open
    journal must not be closed before its connections)."""
    if keep is None:
        f.close()
    else:
        keep.append(f)

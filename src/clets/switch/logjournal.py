"""The journal as an append-only log of blocks, with the switch's state folded from it.

Why: the SQLite journal (``journal.Journal``) did ~22 statements and wrote 11 audit rows per
inquiry, each an index update; the contract needs only that a change is durable before its
effect is released.  Here each group commit (``batch.GroupCommit``) is ONE block -- the images
of the queue rows it changed, the messages it journaled, the dedup keys, and its audit records,
chained at commit -- written with ONE append (one INSERT, one fsync).  The queues, awaited
answers, deliveries and dedup keys live in memory and are rebuilt from the log at start: from
the newest snapshot block (the persisted low-water mark), then every block after it.

The class offers the same methods as ``journal.Journal`` (the engine, the group commit and the
operator commands use either), so the promises of switch.md hold unchanged: the engine releases
an ACK, a forward or a delivery only after the commit holding it, a restart requeues what was
``in_flight``, controls come from queue row ids, dedup keys live ``dedup_window`` seconds.

Memory is bounded: delivered rows leave memory when they are done (deliveries) or
``late_horizon`` seconds after (forwards: a late or second answer still finds its request);
messages go with their last row; dedup keys at the end of their window.  A snapshot (every
``snapshot_every`` seconds or blocks) writes what is still open and moves the low-water mark;
blocks below it are compacted after ``retain_days`` (payloads and row images dropped, audit
records kept: the chain stays whole).
"""

from __future__ import annotations

import concurrent.futures
import fcntl
import gc
import os
import sqlite3
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from msgspec.structs import replace as _struct_replace

from clets.errors import ConfigError, StorageError, storage_error

from . import audit, logformat
from . import journal as _journal
from .dedupkeys import DedupKeys
from .journal import (
    CONTROL_WRAP,
    FEED_LIMIT,
    PURGE_BATCH,
    Delivery,
    Journal,
    OutRow,
    StoredMessage,
    control_of,
)
from .logstore import LogStore, SqliteLogStore

__all__ = ["LATE_HORIZON", "SNAPSHOT_CHUNK", "SNAPSHOT_ROWS", "AnyJournal", "LogJournal",
           "file_format", "open_journal"]

#: seconds a done forward (and its message) stays in memory for second answers (an answer
#: that is merely late finds its row open: rows are done at their first answer)
LATE_HORIZON = 30.0
#: dedup keys per snapshot block, and queue rows (with their messages) per snapshot block:
#: a snapshot is written a block per call (the engine's snapshot task, a step every 50 ms),
#: each step a few milliseconds
SNAPSHOT_CHUNK = 10000
SNAPSHOT_ROWS = 2000
#: a snapshot is written after this many seconds or blocks since the last one
SNAPSHOT_EVERY = 60.0
SNAPSHOT_BLOCKS = 20000

_OPEN = ("queued", "in_flight")
#: the fields of a row image that hold names a fold meets again and again (interned)
_ROW_NAMES = (2, 3, 4, 6, 8, 15, 18)
_intern = sys.intern


def _row_rec(r: OutRow, with_frame: bool) -> list[Any]:
    """``["o", row]``: the row as an array (its frame only in its first image)."""
    return ["o", r if with_frame or r.frame is None else _struct_replace(r, frame=None)]


def _replace(r: OutRow, **kw: Any) -> OutRow:
    """A changed copy of a row (``msgspec.structs.replace``: C, the hot path)."""
    return _struct_replace(r, **kw)


def _msg_rec(m: StoredMessage) -> list[Any]:
    return ["m", m.msn, m.received_at, m.kind, m.link, m.peer, m.origin, m.control,
            m.sequence, m.mke, m.operator, m.codec, m.sha256, m.payload, m.canonical]


class LogJournal:
    """The switch's state in memory over a log store (one event loop; not thread-safe)."""

    format = "log"
    #: done rows past the late horizon that leave memory after each block is written, when
    #: no other block is pending (the timer's pass takes the rest): at 1,000 inquiries/s
    #: ~3,000 forwards a second pass the horizon, and evicting them all in the timer's pass,
    #: every half second, was a stall of its own (docs/performance.md, "Session 9")
    evict_per_block = 32

    def __init__(self, path: str | Path, *, synchronous: str = "FULL",
                 checkpoint_every: float | None = None, store: LogStore | None = None,
                 late_horizon: float = LATE_HORIZON, readonly: bool = False,
                 dedup_window: float | None = None) -> None:
        self.path = Path(path)
        #: the writer's lock: one writer per journal (the running switch, or a command on a
        #: stopped one); a reader (``readonly``) folds the log without it and writes nothing
        self._lock: int | None = None
        if not readonly and str(path) != ":memory:":
            self._lock = _take_lock(self.path)
        # a writer says when SQLite dropped a torn write at the end of the log (a reader
        # could see a commit in progress as one)
        self.store: LogStore = store if store is not None else SqliteLogStore(
            path, synchronous=synchronous, checkpoint_every=checkpoint_every,
            check_tail=not readonly)
        #: the SQLite store's connection (the group commit counts its changes; the audit
        #: functions read the log through it)
        self.conn: sqlite3.Connection = getattr(self.store, "conn", None)  # type: ignore[assignment]
        self.late_horizon = late_horizon
        #: the switch's dedup window, when known: the fold drops keys past it as it goes
        self.dedup_window = dedup_window
        self._rows: dict[int, OutRow] = {}
        self._msgs: dict[int, StoredMessage] = {}
        self._refs: dict[int, int] = {}
        #: msn -> its rows' ids (``message_rows``: the HTTP API reads one message's rows)
        self._by_msn: dict[int, dict[int, None]] = {}
        self._dead: dict[int, tuple[str, float]] = {}
        self._dedup = DedupKeys()
        self._meta: dict[str, str] = {}
        self._queued: dict[str, dict[int, None]] = {}
        self._qmax: dict[str, int] = {}
        self._qdirty: set[str] = set()
        self._inflight: dict[int, None] = {}
        self._open: dict[int, None] = {}
        self._done: OrderedDict[int, float] = OrderedDict()
        self._last_msn = 0
        self._max_oid = 0
        #: the newest row change seen (the switch's clock): the late horizon counts from it
        self._latest = 0.0
        self._head: tuple[int, str] = (0, audit.GENESIS)
        # transaction state
        self._in_tx = False
        #: the writer thread (``start_writer``) and the blocks not yet durable: the one it is
        #: appending, then at most one being built from the transactions run meanwhile
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._blocks: list[_Block] = []
        #: between the loop and the writer thread: whether the writer is appending, and the
        #: block built meanwhile, which it takes as soon as its append is durable (the loop
        #: is not in that hand-over: a busy loop does not leave the disk idle)
        self._wlock = threading.Lock()
        self._writing = False
        self._next_block: _Block | None = None
        #: set by the group commit for its next tx(): append on the writer thread
        self.defer = False
        #: rows with ids up to this one are in durable blocks: workers send no others
        self._durable_oid = 0
        self._undo: list[tuple[Any, ...]] = []
        self._recs: list[list[Any]] = []
        self._touched: dict[int, None] = {}
        self._new: set[int] = set()
        self._counters_changed = False
        # snapshot bookkeeping: blocks since the low-water mark and the switch's clock when
        # its snapshot was taken -- read back by the fold, so the schedule spans restarts
        self._blocks_since = 0
        self._snapshot_at: float | None = None
        #: a snapshot being written (its rows and keys go one block per timer tick)
        self._snap: _Snap | None = None
        self.snapshots = 0
        #: blocks read at open (the fold), and the seconds it took
        self.replayed = 0
        self.replay_seconds = 0.0
        self._replay()

    @property
    def _checkpointer(self) -> _journal.Checkpointer | None:
        """The SQLite store's background checkpointer (the disk-fault tests stop it)."""
        return getattr(self.store, "_checkpointer", None)

    @_checkpointer.setter
    def _checkpointer(self, value: _journal.Checkpointer | None) -> None:
        self.store._checkpointer = value  # type: ignore[attr-defined]

    def start_writer(self) -> None:
        """Append the group commits' blocks on a thread of their own: the event loop goes on
        (reads, encodes, the next batch's steps wait) while a block is written and synced."""
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="journal-writer")

    @property
    def pending(self) -> concurrent.futures.Future[int] | None:
        """The future of the newest block not yet durable: what the last deferred
        transaction's changes (or the state it read) wait for."""
        return self._blocks[-1].future if self._blocks else None

    def _submit(self, b: _Block) -> None:
        """Hand ``b`` to the writer thread (``_wlock`` held, the writer idle)."""
        assert self._writer is not None
        b.submitted = True
        self._writing = True
        self._writer.submit(_write_chain, self, b)

    def _chain_next(self) -> _Block | None:
        """On the writer thread, its append durable: the block built meanwhile, which it
        appends next (None: nothing built, the writer is idle)."""
        with self._wlock:
            b, self._next_block = self._next_block, None
            if b is None:
                self._writing = False
            else:
                b.submitted = True
            return b

    def _chain_failed(self) -> None:
        """On the writer thread, its append failed: it stops; the block built meanwhile is
        not written (the loop's ``settle`` undoes it with the failed one)."""
        with self._wlock:
            self._writing = False

    def settle(self, wait: bool = True) -> BaseException | None:
        """Finish the blocks whose append ended (``wait``: all of them, waiting): durable,
        or -- a failed append -- its batch and every one built on it undone in memory,
        newest first.  The next block is handed to the writer when the one before it is
        durable.  The first error, if one failed."""
        err: BaseException | None = None
        while self._blocks:
            b = self._blocks[0]
            if not b.submitted:
                with self._wlock:
                    if not b.submitted and not self._writing:
                        if self._next_block is b:
                            self._next_block = None
                        self._submit(b)
            if not wait and not b.future.done():
                break
            exc = b.future.exception()
            self._blocks.pop(0)
            if exc is None:
                self._durable_oid = max(self._durable_oid, b.max_oid)
                self._blocks_since += 1
                if not self._blocks and not self._in_tx:
                    self._evict(self.evict_per_block)
                continue
            later, self._blocks = self._blocks, []
            with self._wlock:  # the writer stopped at the failure: nothing of these written
                self._next_block = None
            for lb in reversed(later):
                self._undo_block(lb)
                lb.future.set_exception(exc)
            self._undo_block(b)
            self._head = b.head0
            err = err or exc
        return err

    def _undo_block(self, b: _Block) -> None:
        """As a failed transaction: nothing of the block's batches happened."""
        undo = b.undo
        while undo:
            self._undo = [undo.pop()]
            self._undo_to(0)
        self._undo = []

    def close(self) -> None:
        self.settle()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None
        self.store.close()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # ------------------------------------------------------------------ the fold

    def _replay(self) -> None:
        """The fold, with the cyclic garbage collector paused: the fold makes no cycles, only
        objects that live (rows, messages, keys) or die by reference counting (the decoded
        records), and the collector's passes over the growing state were a third to two
        thirds of a restart's CPU (docs/performance.md)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            self._fold()
        finally:
            if paused:
                gc.enable()

    def _fold(self) -> None:
        t0 = time.monotonic()
        lw = self.store.low_water()
        after = lw - 1 if lw else 0
        n = work = 0
        #: the mark's snapshot time (-inf: no mark, or one written without its time, while
        #: blocks were replayed -- a snapshot is due at once)
        marked: float | None = None
        for pos, data in self.store.read(after):
            recs = logformat.decode(data)[1]
            tag = recs[0][0] if recs else ""
            if tag == "S":
                if pos == lw:
                    marked = float(recs[0][1]) if len(recs[0]) > 1 else float("-inf")
            elif tag != "P":  # a snapshot's own blocks are not work since it
                work += 1
            self._apply_block(recs)
            n += 1
            if n % 256 == 0:
                self._fold_expire()  # a long fold does not hold every done row at once
        self.replayed = n
        self.replay_seconds = time.monotonic() - t0
        self._durable_oid = self._max_oid
        # the blocks since the mark count towards the next snapshot, and its age from the
        # mark's time: a run killed before its own snapshot (a crash loop, a SIGKILL every
        # minute) does not start the count again, so the mark moves and the next fold reads
        # one snapshot period of log, not every block since the last snapshot that finished
        self._blocks_since = work
        if marked is not None:
            self._snapshot_at = marked
        elif work:
            self._snapshot_at = float("-inf")
        # the dedup keys in the order of their times (a snapshot's packed keys were folded
        # after the keys set while they were written); done rows past the late horizon leave
        # memory, and messages left with no row (a snapshot holds only its rows' messages)
        self._dedup.reorder()
        # the done rows too (a snapshot's blocks of rows came after newer changes): eviction
        # stops at the first row not due
        self._done = OrderedDict(sorted(self._done.items(), key=lambda kv: kv[1]))
        self._fold_expire()
        refs = self._refs
        for msn in [m for m in self._msgs if m not in refs]:
            del self._msgs[msn]

    def _fold_expire(self) -> None:
        """During the fold: done rows past the late horizon go, and (the window known)
        dedup keys past the window, both counted from the newest row change read -- what
        the switch's first timer tick would drop anyway, not held in the meantime."""
        self._evict()
        if self.dedup_window is not None and self._latest:
            self._dedup.expire(self._latest - self.dedup_window)

    def _apply_block(self, recs: list[list[Any]]) -> None:
        for rec in recs:
            tag = rec[0]
            if tag == "o":
                v = rec[1]
                oid = v[0]
                if oid > self._max_oid:
                    self._max_oid = oid
                if v[8] == "done" and v[2] == "deliver":
                    # a done delivery is not folded (a snapshot does not hold it either):
                    # only a connection of the run that delivered it could queue it again,
                    # and an image that queues it again carries its frame
                    if oid in self._rows:
                        self._set_row(oid, None)
                    continue
                if v[17] is None:  # only a row's first image holds its frame
                    old = self._rows.get(oid)
                    v[17] = None if old is None else old.frame
                v[7] = tuple(v[7])
                # the names rows repeat (kind, target, peer, mke, state, status, error):
                # one string each, not one per image decoded (the fold's memory)
                for i in _ROW_NAMES:
                    if v[i].__class__ is str:
                        v[i] = _intern(v[i])
                self._set_row(oid, OutRow(*v))
            elif tag == "a":
                self._head = (rec[1], rec[-1])
            elif tag == "m":
                self._msgs[rec[1]] = StoredMessage(*rec[1:])
                self._last_msn = max(self._last_msn, rec[1])
            elif tag == "d":
                self._dedup.set(rec[1], rec[2], rec[3], rec[4])
            elif tag == "P":
                self._dedup.load_packed(rec[1], rec[2])
            elif tag == "l":
                self._dead[rec[1]] = (rec[2], rec[3])
            elif tag == "L":
                self._dead.pop(rec[1], None)
            elif tag == "x":
                self._set_row(rec[1], None)
            elif tag == "X":
                self._msgs.pop(rec[1], None)
            elif tag == "D":
                self._dedup.pop(rec[1])
            elif tag == "k":
                if rec[2] is None:  # a deleted key (``hit_clock_set``)
                    self._meta.pop(rec[1], None)
                else:
                    self._meta[rec[1]] = rec[2]
            elif tag == "c":
                self._last_msn = max(self._last_msn, rec[1])
                self._max_oid = max(self._max_oid, rec[2])
            elif tag == "h":
                self._head = (rec[1], rec[2])
            elif tag == "S":
                pass
            else:
                raise ValueError(f"unknown journal record {tag!r}")

    # ------------------------------------------------------------------ indexes

    def _set_row(self, oid: int, new: OutRow | None) -> None:
        old = self._rows.get(oid)
        if old is not None:
            st = old.state
            if st == "queued":
                q = self._queued.get(old.target)
                if q is not None:
                    q.pop(oid, None)
                self._open.pop(oid, None)
            elif st == "in_flight":
                self._inflight.pop(oid, None)
                self._open.pop(oid, None)
            elif st == "done":
                self._done.pop(oid, None)
            refs = self._refs.get(old.msn, 1) - 1
            if refs > 0:
                self._refs[old.msn] = refs
            else:
                self._refs.pop(old.msn, None)
        if new is None:
            if old is not None:
                ids = self._by_msn.get(old.msn)
                if ids is not None:
                    ids.pop(oid, None)
                    if not ids:
                        del self._by_msn[old.msn]
            self._rows.pop(oid, None)
            return
        if old is None:
            self._by_msn.setdefault(new.msn, {})[oid] = None
        self._rows[oid] = new
        st = new.state
        if st == "queued":
            t = new.target
            q = self._queued.setdefault(t, {})
            if oid < self._qmax.get(t, 0):
                self._qdirty.add(t)
            else:
                self._qmax[t] = oid
            q[oid] = None
            self._open[oid] = None
        elif st == "in_flight":
            self._inflight[oid] = None
            self._open[oid] = None
        elif st == "done":
            self._done[oid] = new.updated_at
        if new.updated_at > self._latest:
            self._latest = new.updated_at
        self._refs[new.msn] = self._refs.get(new.msn, 0) + 1

    @staticmethod
    def _frame(r: OutRow) -> OutRow:
        return r

    # ------------------------------------------------------------------ mutations (undoable)

    def _need_tx(self) -> None:
        if self._lock is None and str(self.path) != ":memory:":
            raise ConfigError("journal opened read-only", source=str(self.path))
        if not self._in_tx:
            raise ConfigError("journal write outside a transaction", source=str(self.path))

    def _put(self, new: OutRow) -> None:
        self._need_tx()
        oid = new.id
        old = self._rows.get(oid)
        self._undo.append(("row", oid, old))
        if old is not None and old.state == "done" and new.state != "done" \
                and new.frame is not None:
            # a done delivery queued again: its image carries its frame (a snapshot since it
            # was done does not hold it, so a fold from the mark would find no frame)
            self._new.add(oid)
        self._set_row(oid, new)
        self._touched[oid] = None

    def _drop(self, oid: int) -> None:
        self._need_tx()
        self._undo.append(("row", oid, self._rows.get(oid)))
        self._set_row(oid, None)
        self._touched[oid] = None

    def _undo_to(self, mark: int) -> None:
        while len(self._undo) > mark:
            u = self._undo.pop()
            kind = u[0]
            if kind == "row":
                self._set_row(u[1], u[2])
            elif kind == "msg":
                if u[2] is None:
                    self._msgs.pop(u[1], None)
                else:
                    self._msgs[u[1]] = u[2]
            elif kind == "dedup":
                if u[2] is None:
                    self._dedup.pop(u[1])
                else:
                    self._dedup.set(u[1], *u[2])
            elif kind == "dead":
                if u[2] is None:
                    self._dead.pop(u[1], None)
                else:
                    self._dead[u[1]] = u[2]
            elif kind == "meta":
                if u[2] is None:
                    self._meta.pop(u[1], None)
                else:
                    self._meta[u[1]] = u[2]
            elif kind == "ctr":
                self._last_msn, self._max_oid = u[1], u[2]

    def _bump(self) -> None:
        self._undo.append(("ctr", self._last_msn, self._max_oid))
        self._counters_changed = True

    # ------------------------------------------------------------------ transactions

    @contextmanager
    def tx(self) -> Iterator[Any]:
        """A group of changes written as ONE block at the end (all or nothing: any exception
        undoes the changes in memory and writes nothing)."""
        if self._in_tx:
            raise ConfigError("nested journal transaction", source=str(self.path))
        deferring, self.defer = self.defer and self._writer is not None, False
        if not deferring:
            self.settle()  # written in order, after the blocks not yet durable
        self._in_tx = True
        head0 = self._head
        recs: list[list[Any]] = []
        try:
            yield self.conn
            recs = self._records()
            if recs:
                if deferring:
                    self._defer_block(recs, head0)
                else:
                    self.store.append(logformat.encode(time.time(), recs))
                    self._blocks_since += 1
                    self._durable_oid = max(self._durable_oid, self._max_oid)
        except BaseException:
            self._undo_to(0)
            self._head = head0
            raise
        finally:
            self._in_tx = False
            self._undo = []
            self._recs = []
            self._touched = {}
            self._new = set()
            self._counters_changed = False
        if recs and not self._blocks:
            self._evict(self.evict_per_block)

    def _defer_block(self, recs: list[list[Any]], head0: tuple[int, str]) -> None:
        """A deferred transaction's records: appended now if nothing is being written, else
        added to the block built while the one before it is written (one fsync for all the
        transactions run meanwhile; their changes are in memory at once)."""
        undo, self._undo = self._undo, []
        with self._wlock:  # the writer thread takes the built block under it
            if self._blocks and not self._blocks[-1].submitted:
                b = self._blocks[-1]
                b.recs.extend(recs)
                b.undo.extend(undo)
                b.max_oid = self._max_oid
                return
            b = _Block(recs, undo, head0, self._max_oid)
            if not self._writing and all(
                    x.future.done() and x.future.exception() is None for x in self._blocks):
                # nothing being written, nothing failed (not yet settled): write it now
                self._blocks.append(b)
                self._submit(b)
                return
            # written by the writer right after the block in flight -- or, if that one
            # failed, undone with it by ``settle``
            self._blocks.append(b)
            self._next_block = b

    def _records(self) -> list[list[Any]]:
        recs = self._recs
        if self._touched:
            rows: list[list[Any]] = []
            for oid in self._touched:
                r = self._rows.get(oid)
                if r is None:
                    rows.append(["x", oid])
                else:
                    rows.append(_row_rec(r, oid in self._new))
            # rows before the audit records that describe them (any order folds the same)
            recs = rows + recs
        if self._counters_changed:
            recs.append(["c", self._last_msn, self._max_oid])
        return recs

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A step inside ``tx()`` that can fail alone (its changes and records undone)."""
        mark, made, head = len(self._undo), len(self._recs), self._head
        try:
            yield
        except BaseException:
            self._undo_to(mark)
            del self._recs[made:]
            self._head = head
            raise

    def audit(self, ev: audit.AuditEvent, now: float) -> None:
        if not self._in_tx:
            with self.tx():
                self.audit(ev, now)
            return
        head = self._head
        row = audit.make_row(ev, head[0] + 1, audit.format_ts(now), head[1])
        self._recs.append(["a", *row])
        self._head = (row[0], row[-1])

    def audit_head(self) -> tuple[int, str]:
        return self._head

    # ------------------------------------------------------------------ messages, dedup

    def check_duplicate(self, key: str, sha: str, now: float, window: float) -> tuple[str, int]:
        d = self._dedup.get(key)
        if d is None or d[2] < now - window:
            return "new", 0
        return ("retransmission" if d[1] == sha else "conflict"), d[0]

    def remember(self, key: str, msn: int, sha: str, now: float) -> None:
        self._need_tx()
        self._undo.append(("dedup", key, self._dedup.get(key)))
        self._dedup.set(key, msn, sha, now)
        self._recs.append(["d", key, msn, sha, now])

    def forget_before(self, before: float) -> int:
        """Dedup keys older than ``before`` leave memory (nothing to log: past their window
        they mean nothing, and a fold drops them the same way); done forwards past the late
        horizon go too, with their messages."""
        n = self._dedup.expire(before)
        self._evict()
        return n

    def _evict(self, most: int | None = None) -> None:
        """Done rows whose last change is ``late_horizon`` older than the newest change
        leave memory (the switch's clock, as the rows hold it: not the wall clock); at most
        ``most`` of them (None: all)."""
        limit = self._latest - self.late_horizon
        done, rows = self._done, self._rows
        while done:  # oldest change first (a row changed again moves to the end)
            if most is not None:
                if most <= 0:
                    break
                most -= 1
            oid, at = done.popitem(last=False)
            if at >= limit:
                done[oid] = at
                done.move_to_end(oid, last=False)
                break
            r = rows.get(oid)
            self._set_row(oid, None)
            if r is not None and r.msn not in self._refs:
                self._msgs.pop(r.msn, None)

    def insert_message(self, *, now: float, kind: str, link: str | None, peer: str | None,
                       origin: str | None, control: str | None, sequence: int | None,
                       mke: str | None, operator: str | None, codec: str | None, sha256: str,
                       payload: bytes, canonical: str) -> int:
        self._need_tx()
        self._bump()
        self._last_msn += 1
        msn = self._last_msn
        m = StoredMessage(msn, now, kind, link, peer, origin, control, sequence, mke, operator,
                          codec, sha256, payload, canonical)
        self._undo.append(("msg", msn, None))
        self._msgs[msn] = m
        self._recs.append(_msg_rec(m))
        return msn

    def message(self, msn: int) -> StoredMessage | None:
        return self._msgs.get(msn)

    # ------------------------------------------------------------------ queues

    def _new_id(self) -> int:
        self._bump()
        self._max_oid += 1
        return self._max_oid

    def enqueue_forward(self, *, msn: int, destination: str, mke: str, address: tuple[str, ...],
                        now: float, deadline_at: float, expires_at: float) -> OutRow:
        return self.row(self.add_forward(msn, destination, mke, address, now, deadline_at,
                                         expires_at))

    def add_forward(self, msn: int, destination: str, mke: str | None,
                    address: tuple[str, ...], now: float, deadline_at: float,
                    expires_at: float) -> int:
        self._need_tx()
        oid = self._new_id()
        self._put(OutRow(oid, msn, "forward", destination, None, control_of(oid), mke,
                         tuple(address), "queued", 0, now, deadline_at, expires_at, now, now,
                         "", 0, None, None))
        self._new.add(oid)
        return oid

    def add_delivery(self, msn: int, link: str, peer: str | None, mke: str | None,
                     frame: bytes, now: float, expires_at: float) -> int:
        self._need_tx()
        oid = self._new_id()
        self._undo.append(("row", oid, None))
        self._set_row(oid, OutRow(oid, msn, "deliver", link, peer, None, mke, (), "queued",
                                  0, now, None, expires_at, now, now, "", 0, frame, None))
        self._touched[oid] = None
        self._new.add(oid)
        return oid

    def enqueue_delivery(self, *, msn: int, link: str, peer: str | None, mke: str, frame: bytes,
                         now: float, expires_at: float) -> OutRow:
        return self.row(self.add_delivery(msn, link, peer, mke, frame, now, expires_at))

    def _sorted_queue(self, target: str) -> dict[int, None]:
        q = self._queued.get(target)
        if q is None:
            return {}
        if target in self._qdirty:
            q = dict.fromkeys(sorted(q))
            self._queued[target] = q
            self._qdirty.discard(target)
        return q

    def due_rows(self, target: str, now: float, limit: int) -> list[OutRow]:
        out: list[OutRow] = []
        rows = self._rows
        durable = self._durable_oid
        for oid in self._sorted_queue(target):
            if oid > durable:  # in the block being written: not before it is durable
                break
            r = rows[oid]
            if r.next_attempt_at <= now:
                out.append(self._frame(r))
                if len(out) >= limit:
                    break
        return out

    def mark_claimed(self, ids: list[int], now: float) -> None:
        for oid in ids:
            r = self._rows.get(oid)
            if r is not None and r.state == "queued":
                self._put(r.claimed(now))

    def row(self, oid: int) -> OutRow:
        r = self._rows.get(oid)
        if r is None:
            raise ConfigError(f"no queue entry {oid}", source=str(self.path))
        return self._frame(r)

    def claim_next(self, target: str, now: float) -> OutRow | None:
        rows = self.due_rows(target, now, 1)
        if not rows:
            return None
        self._put(self._rows[rows[0].id].claimed(now))
        return self.row(rows[0].id)

    def has_queued(self, target: str) -> bool:
        """A row of ``target`` waits in the queue (a new one would come after it)."""
        return bool(self._queued.get(target))

    def next_due(self, target: str) -> float | None:
        q = self._queued.get(target)
        if not q:
            return None
        return min(self._rows[oid].next_attempt_at for oid in q)

    def _change(self, oid: int, **kw: Any) -> OutRow | None:
        r = self._rows.get(oid)
        if r is None:
            return None
        new = _replace(r, **kw)
        self._put(new)
        return new

    def set_state(self, oid: int, state: str, now: float, *, error: str | None = None,
                  next_attempt_at: float | None = None, attempts: int | None = None) -> None:
        r = self._rows.get(oid)
        if r is None:
            return
        self._change(oid, state=state, updated_at=now,
                     last_error=r.last_error if error is None else error,
                     next_attempt_at=r.next_attempt_at if next_attempt_at is None
                     else next_attempt_at,
                     attempts=r.attempts if attempts is None else attempts)

    def mark_delivered(self, oid: int, attempts: int, now: float) -> None:
        r = self._rows.get(oid)
        if r is None:
            return
        if r.state == "dead":
            self._undo.append(("dead", oid, self._dead.pop(oid, None)))
            self._recs.append(["L", oid])
        self._change(oid, state="done", attempts=attempts, updated_at=now)

    def mark_failed(self, oid: int, now: float, *, error: str, next_attempt_at: float,
                    attempts: int) -> None:
        r = self._rows.get(oid)
        if r is None or r.state == "dead":
            return
        self._change(oid, state="queued", updated_at=now, last_error=error,
                     next_attempt_at=next_attempt_at, attempts=attempts)

    def mark_dead(self, oid: int, reason: str, now: float, attempts: int | None = None
                  ) -> OutRow | None:
        row = self.row(oid)
        if row.state == "dead":
            return None
        self.set_state(oid, "dead", now, error=reason, attempts=attempts)
        self._undo.append(("dead", oid, self._dead.get(oid)))
        self._dead[oid] = (reason, now)
        self._recs.append(["l", oid, reason, now])
        return row

    def mark_status(self, oid: int, status: str) -> None:
        self._change(oid, status_sent=status)

    def find_forward(self, control: str) -> OutRow | None:
        if len(control) != 10 or not (control.isascii() and control.isdigit()):
            return None
        low = int(control)
        oid = low + max(0, self._max_oid - low) // CONTROL_WRAP * CONTROL_WRAP
        while oid >= low:
            r = self._rows.get(oid)
            if r is not None and r.kind == "forward":
                return r
            oid -= CONTROL_WRAP
        return None

    def oldest_unanswered(self, targets: list[str], response_mke: str) -> OutRow | None:
        if not targets:
            return None
        want = set(targets)
        rows: list[OutRow] = []
        for oid in sorted(self._inflight):
            r = self._rows[oid]
            if r.kind == "forward" and r.target in want and r.responses == 0:
                rows.append(r)
                if len(rows) >= 50:
                    break
        for row in rows:
            if row.mke and response_mke in (f"{row.mke}R", row.mke):
                return row
        return rows[0] if rows else None

    def mark_response(self, oid: int, now: float) -> int:
        r = self._rows.get(oid)
        if r is None:
            return 0
        self._change(oid, responses=r.responses + 1, updated_at=now,
                     state="done" if r.state in _OPEN else r.state)
        return r.responses + 1

    def due_timeouts(self, now: float) -> list[OutRow]:
        rows = self._rows
        return [rows[o] for o in sorted(self._open)
                if rows[o].kind == "forward" and rows[o].status_sent == ""
                and rows[o].responses == 0 and rows[o].deadline_at is not None
                and rows[o].deadline_at <= now]  # type: ignore[operator]

    def expired(self, now: float) -> list[OutRow]:
        rows = self._rows
        return [self._frame(rows[o]) for o in sorted(self._open) if rows[o].expires_at <= now]

    def start_controls_after(self, now: float) -> None:
        floor = int(now * 100)
        if self._max_oid < floor:
            self._bump()
            self._max_oid = floor

    def recover(self, now: float) -> int:
        n = 0
        for oid in list(self._inflight):
            r = self._rows[oid]
            if r.kind == "forward" and r.responses > 0:
                continue
            self._change(oid, state="queued", next_attempt_at=now, updated_at=now)
            n += 1
        return n

    def requeue_in_flight(self, target: str, now: float) -> int:
        n = 0
        for oid in list(self._inflight):
            if self._rows[oid].target == target:
                self._change(oid, state="queued", next_attempt_at=now, updated_at=now)
                n += 1
        return n

    # ------------------------------------------------------------------ operator commands

    def list_rows(self, *, state: str | None = None, target: str | None = None,
                  limit: int = 1000) -> list[OutRow]:
        out = []
        for oid in sorted(self._rows):
            r = self._rows[oid]
            if (state and r.state != state) or (target and r.target != target):
                continue
            out.append(self._frame(r))
            if len(out) >= limit:
                break
        return out

    def message_rows(self, msn: int) -> list[OutRow]:
        """The queue rows of one message, in order (``Journal.message_rows``)."""
        return [self._frame(self._rows[oid]) for oid in sorted(self._by_msn.get(msn, ()))]

    def dead_reason(self, oid: int) -> str | None:
        d = self._dead.get(oid)
        return None if d is None else d[0]

    def retry(self, oid: int, now: float, ttl: float) -> OutRow:
        row = self.row(oid)
        if row.state not in ("dead", "queued"):
            raise ConfigError(f"queue entry {oid} is {row.state}; only dead or queued entries "
                              "can be retried", source=str(self.path))
        deadline = None if row.deadline_at is None else \
            now + max(row.deadline_at - row.created_at, 0)
        self._change(oid, state="queued", attempts=0, next_attempt_at=now, updated_at=now,
                     expires_at=max(row.expires_at, now + ttl), status_sent="",
                     deadline_at=deadline)
        if oid in self._dead:
            self._undo.append(("dead", oid, self._dead.pop(oid)))
            self._recs.append(["L", oid])
        return self.row(oid)

    def purge_dead(self) -> list[int]:
        ids = sorted(o for o, r in self._rows.items() if r.state == "dead")
        for oid in ids:
            self._drop(oid)
            if oid in self._dead:
                self._undo.append(("dead", oid, self._dead.pop(oid)))
                self._recs.append(["L", oid])
        return ids

    def depths(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for oid in self._open:
            r = self._rows[oid]
            d = out.setdefault(r.target, {})
            d[r.state] = d.get(r.state, 0) + 1
        for oid in self._dead:
            dr = self._rows.get(oid)
            if dr is not None:
                d = out.setdefault(dr.target, {})
                d["dead"] = d.get("dead", 0) + 1
        return out

    def purge_delivered(self, before: float, limit: int = PURGE_BATCH) -> tuple[int, int]:
        """Compaction: blocks below the low-water mark written before ``before`` keep only
        their audit records (payloads and row images dropped).  Each block is rewritten in
        one atomic write, so a kill at any point leaves every block whole.  Returns (row
        images, messages) dropped; at most ``limit`` row images per call."""
        lw = self.store.low_water()
        start = self.store.get_mark("compacted")
        rows = messages = 0
        last = start
        for pos, data in self.store.read(start):
            if pos >= lw:
                break
            when, recs = logformat.decode(data)
            if when >= before:
                break
            kept = [r for r in recs if r[0] in ("a", "c", "h")]
            if len(kept) != len(recs):
                rows += sum(1 for r in recs if r[0] == "o")
                messages += sum(1 for r in recs if r[0] == "m")
                self._note_dropped(recs)  # before the rewrite: a kill between over-says
                self.store.rewrite(pos, logformat.encode(when, kept))
            last = pos
            if rows >= limit:
                break
        if last != start:
            self.store.set_mark("compacted", last)
        return rows, messages

    def _note_dropped(self, recs: list[list[Any]]) -> None:
        """Raise ``feed_dropped``'s marks to the done deliveries of ``recs`` (their last
        image: what the feed would have read)."""
        top: dict[str, int] = {}
        for r in recs:
            if r[0] == "o" and r[1][2] == "deliver" and r[1][8] == "done":
                key = _journal.feed_dropped_key(r[1][3], r[1][4])
                top[key] = max(top.get(key, 0), int(r[1][0]))
        for key, oid in top.items():
            if oid > self.store.get_mark(key):
                self.store.set_mark(key, oid)

    def feed_dropped(self, link: str, peer: str | None) -> int:
        """The highest id of a delivery to ``peer`` on ``link`` that compaction removed (0:
        none): a feed read from below it has lost something (``GET /v1/events`` says so).
        Read on a connection of its own when the store is a file (the writer thread may be
        appending on the store's), else after the pending append."""
        key = _journal.feed_dropped_key(link, peer)
        if str(self.path) == ":memory:" or not isinstance(self.store, SqliteLogStore):
            self.settle()
            return self.store.get_mark(key)
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        try:
            r = conn.execute("SELECT value FROM log_meta WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
        return 0 if r is None else int(r[0])

    def meta_get(self, key: str) -> str | None:
        return self._meta.get(key)

    def meta_set(self, key: str, value: str) -> None:
        self._need_tx()
        self._undo.append(("meta", key, self._meta.get(key)))
        self._meta[key] = value
        self._recs.append(["k", key, value])

    # ------------------------------------------------------------------ hit confirmation

    def hit_clock_set(self, key: str, value: str | None) -> None:
        """Journal one hit confirmation clock (hitconfirm.py): its JSON text, or ``None``
        when it is closed.  Meta values under ``HIT_CLOCK_PREFIX`` (as the SQLite journal
        keeps them); a closed clock is a ``k`` record with no value, which the fold deletes,
        so snapshots carry only the open ones."""
        self._need_tx()
        full = _journal.HIT_CLOCK_PREFIX + key
        old = self._meta.get(full)
        if value is None and old is None:
            return
        self._undo.append(("meta", full, old))
        if value is None:
            del self._meta[full]
        else:
            self._meta[full] = value
        self._recs.append(["k", full, value])

    def hit_clocks(self) -> dict[str, str]:
        """The open hit confirmation clocks journaled: key -> JSON text (read at start)."""
        lo = _journal.HIT_CLOCK_PREFIX
        return {k[len(lo):]: v for k, v in self._meta.items() if k.startswith(lo)}

    # ------------------------------------------------------------------ snapshots

    def snapshot_due(self, now: float | None = None) -> bool:
        """Is a snapshot due (or one under way) at ``now`` (the switch's clock; the wall
        clock if not given)?  After ``SNAPSHOT_BLOCKS`` blocks or ``SNAPSHOT_EVERY`` seconds
        since the mark, counted across restarts (``_replay``)."""
        if self._snap is not None or self._blocks_since >= SNAPSHOT_BLOCKS:
            return True
        if self._blocks_since <= 0:
            return False
        now = time.time() if now is None else now
        if self._snapshot_at is None:  # a new journal: the period starts with its first tick
            self._snapshot_at = now
            return False
        # abs: a clock set back by more than a period does not put the snapshot off
        return abs(now - self._snapshot_at) >= SNAPSHOT_EVERY

    def snapshot(self, *, whole: bool = False, now: float | None = None) -> int:
        """Start or continue a snapshot (outside a tx); the new low-water mark once it is
        complete, else 0 (``whole``: all of it now).

        Its first block holds the dead letters, meta, counters, the audit head and the first
        ``SNAPSHOT_ROWS`` open and dead rows with their messages; the other rows follow in
        blocks of as many, then the dedup keys in blocks of ``SNAPSHOT_CHUNK``, one block per
        call (the timer's ticks: 1.2 M keys do not stall the loop at once, and no block of
        15 MB -- 27,000 rows and their messages at 330 inquiries/s -- is built and written
        at once: its copies raised the heap's high-water mark), each row and key as it is
        when its block is written (a row changed or gone meanwhile is in a block after the
        mark too, or no longer in memory).  ``now`` (the switch's
        clock; the newest row change if not given) is the snapshot's time, in its ``S``
        record: the next is due ``SNAPSHOT_EVERY`` after it, also after a restart.  The mark
        moves to the first block only when the last is written, so a restart folds the first
        block and everything after it; a crash in between leaves the previous mark.  Done
        forwards still in memory (within the late horizon) are in it: a second answer after
        a restart still finds its request.  Done deliveries are not: one is kept in memory
        only in case its connection is cut before the peer took it (it is queued again), and
        a restart has no such connection."""
        if self._in_tx:
            raise ConfigError("snapshot inside a transaction", source=str(self.path))
        self.settle()
        if self._snap is None:
            at = self._latest if now is None else now
            recs: list[list[Any]] = [["S", at], ["c", self._last_msn, self._max_oid],
                                     ["h", self._head[0], self._head[1]]]
            for oid, (reason, dead_at) in self._dead.items():
                recs.append(["l", oid, reason, dead_at])
            for k, v in self._meta.items():
                recs.append(["k", k, v])
            keep = sorted(o for o, r in self._rows.items()  # done forwards too: bounded by
                          if r.state != "done" or r.kind != "deliver")  # the horizon
            recs.extend(self._rows_recs(keep[:SNAPSHOT_ROWS]))
            first = self.store.append(logformat.encode(time.time(), recs))
            self._snap = _Snap(first, at, keep, SNAPSHOT_ROWS, self._dedup.keys())
        snap = self._snap
        while True:
            if snap.row_at < len(snap.rows):
                ids = snap.rows[snap.row_at:snap.row_at + SNAPSHOT_ROWS]
                snap.row_at += len(ids)
                # ``S`` first: a fold counts the snapshot's blocks apart from work since it
                recs = [["S", snap.at], *self._rows_recs(ids)]
            else:
                chunk = snap.keys[snap.key_at:snap.key_at + SNAPSHOT_CHUNK]
                snap.key_at += len(chunk)
                kept, blob = self._dedup.packed(chunk)
                recs = [["P", kept, blob]] if kept else []
            if recs:
                self.store.append(logformat.encode(time.time(), recs))
            if snap.row_at >= len(snap.rows) and snap.key_at >= len(snap.keys):
                break
            if not whole:
                return 0
        first, at = snap.first, snap.at
        self.store.set_mark("low_water", first)
        self._snap = None
        self._blocks_since = 0
        self._snapshot_at = at
        self.snapshots += 1
        return snap.first

    @property
    def snapshotting(self) -> bool:
        """A snapshot is being written (``snapshot`` has steps left)."""
        return self._snap is not None

    def _rows_recs(self, ids: list[int]) -> list[list[Any]]:
        """The records of those of ``ids`` still in memory, their messages first."""
        rows = [r for r in map(self._rows.get, ids) if r is not None]
        recs: list[list[Any]] = []
        for msn in sorted({r.msn for r in rows}):
            m = self._msgs.get(msn)
            if m is not None:
                recs.append(_msg_rec(m))
        recs.extend(_row_rec(r, True) for r in rows)
        return recs

    # ------------------------------------------------------------------ figures

    def memory_counts(self) -> dict[str, int]:
        return {"rows": len(self._rows), "messages": len(self._msgs),
                "dedup": len(self._dedup), "open": len(self._open), "dead": len(self._dead)}

    # ------------------------------------------------------------------ a client's feed

    def deliveries_after(self, link: str, peer: str | None, after: int,
                         limit: int = FEED_LIMIT) -> list[Delivery]:
        """The deliveries queued for ``peer`` of ``link`` with ids above ``after``, oldest
        first, in any state: a client's feed (as ``Journal.deliveries_after``).

        Open rows (and done ones within the late horizon) are in memory; delivered ones that
        left it are read back from the log, from their first image (the one holding the
        frame).  Only durable rows are returned (ids up to the last block written), so an id
        a client saw is never undone by a crash.  The log is read from the first block that
        can hold a row above ``after`` (a binary search on the counters record ``c`` each
        block that made a row carries) to its end, or until ``limit`` rows are found: the
        cost grows with the blocks written since ``after`` -- ``feed_scan`` can do that part
        on another thread.  Compaction (``retain_days``) drops row images, so the feed
        reaches back as far as the retention does."""
        scan = self.feed_scan((link,), peer, after, limit, self._durable_oid)
        return self.feed_merge((link,), peer, after, limit, scan)

    @property
    def feed_durable(self) -> int:
        """The highest row id in a written block (``feed_scan``'s bound)."""
        return self._durable_oid

    def feed_threadable(self) -> bool:
        """Can ``feed_scan`` run on another thread?  Yes when the log is a SQLite file: it
        reads it on a connection of its own and touches nothing else of the journal."""
        return str(self.path) != ":memory:" and isinstance(self.store, SqliteLogStore)

    def feed_scan(self, links: Collection[str], peer: str | None, after: int, limit: int,
                  durable: int) -> tuple[dict[int, Delivery], set[int], int]:
        """The log part of ``deliveries_after`` (for the peer on any of ``links``): the
        deliveries found in the log above ``after`` and up to ``durable`` (with the state of
        their last image read), the rows removed, and the id up to which the log was read
        whole."""
        found: dict[int, Delivery] = {}
        gone: set[int] = set()
        cut = durable
        if limit <= 0:
            return found, gone, after
        blocks = self._feed_blocks(after)
        try:
            for recs in blocks:
                for rec in recs:
                    tag = rec[0]
                    if tag == "x":
                        gone.add(rec[1])
                        continue
                    if tag != "o":
                        continue
                    v = rec[1]
                    oid = v[0]
                    if oid <= after or oid > durable or v[2] != "deliver" \
                            or v[3] not in links or v[4] != peer:
                        continue
                    if oid in found:
                        found[oid] = _struct_replace(found[oid], state=v[8])
                    elif v[17] is not None:
                        found[oid] = Delivery(oid, v[1], bytes(v[17]), v[13], v[8], v[6])
                        gone.discard(oid)
                if len(found) >= limit:
                    # later blocks make rows with higher ids only (a snapshot re-images rows
                    # that are in memory, read by feed_merge): the first ``limit`` are known
                    cut = sorted(found)[limit - 1]
                    break
        finally:
            blocks.close()  # its reader connection with it
        return found, gone, cut

    def feed_merge(self, links: Collection[str], peer: str | None, after: int, limit: int,
                   scan: tuple[dict[int, Delivery], set[int], int]) -> list[Delivery]:
        """``deliveries_after`` from a ``feed_scan``: the rows in memory (their current
        state) over the rows of the log, up to the id the scan read whole (on the loop)."""
        if limit <= 0:
            return []
        found, gone, cut = dict(scan[0]), scan[1], scan[2]
        rows = self._rows
        for oid, r in rows.items():
            if after < oid <= cut and r.kind == "deliver" and r.target in links \
                    and r.peer == peer and r.frame is not None:
                found[oid] = Delivery(oid, r.msn, r.frame, r.created_at, r.state, r.mke)
        out: list[Delivery] = []
        for oid in sorted(found):
            if oid > cut or oid in gone:
                continue
            d = found[oid]
            if oid not in rows and d.state != "done":
                # a row leaves memory when it is done (``_evict``): its last image in the
                # part of the log read may be older than that
                d = _struct_replace(d, state="done")
            out.append(d)
            if len(out) >= limit:
                break
        return out

    def may_have_left_memory(self, msn: int) -> bool:
        """Can rows of message ``msn`` have left memory?  When the message has, or is older
        than ``late_horizon`` (a done answer leaves before a forward still retrying):
        ``message_from_log`` then has what memory lacks."""
        m = self._msgs.get(msn)
        return m is None or m.received_at < self._latest - self.late_horizon

    def merge_rows(self, msn: int, logged: list[OutRow]) -> list[OutRow]:
        """The rows of ``msn`` in memory (their current state) over those read from the log
        (``message_from_log``), in id order; on the loop."""
        out = {r.id: r for r in logged}
        for oid in self._by_msn.get(msn, ()):
            out[oid] = self._frame(self._rows[oid])
        return [out[oid] for oid in sorted(out)]

    def message_from_log(self, msn: int, max_blocks: int = 100_000
                         ) -> tuple[StoredMessage | None, list[OutRow]]:
        """A message that left memory and its queue rows (each as its last image), read
        back from the log (``GET /v1/messages/{msn}`` for as long as the log holds it:
        compaction, ``retain_days``, is what removes it).  (None, []) when the log does not
        hold it.

        Read from the block that made the message (a binary search on the counters records,
        as the feed does) forward, until every row of the message is done or dead and the
        log's clock (the rows' own times, the switch's clock) is ``late_horizon`` past the
        last of them -- no later row can come for it then: a message leaves memory only
        after that -- or ``max_blocks`` positions were passed.  Like ``feed_scan``, safe on
        another thread when ``feed_threadable``.

        Why it does not decode every block of that span (at 100 inquiries a second, 30 s of
        log is ~12,000 blocks: ~110 ms of Python): the blocks are searched for the message's
        number as MessagePack writes it (a byte search, ``_holds``: a block without it
        cannot hold a record of the message), only those that have it are decoded,
        and the block where the clock passes the horizon is found by a binary search on the
        rows' times of the blocks (they grow with the position; where they do not, the
        search lands on a later block: more read, never less)."""
        msg: StoredMessage | None = None
        images: dict[int, list[Any]] = {}
        frames: dict[int, bytes] = {}
        with self._log_reader() as conn:
            if conn is None:
                return None, []
            first, end = self._first_block(conn, msn - 1, counter=1)
            cap = first + max_blocks
            pos = first - 1
            while msg is None:  # the block that made it (or none: compacted)
                row = conn.execute("SELECT pos, data FROM log WHERE pos > ? ORDER BY pos "
                                   "LIMIT 1", (pos,)).fetchone()
                if row is None:
                    return None, []
                pos = int(row[0])
                recs = logformat.decode(bytes(row[1]))[1]
                msg = self._log_images(recs, msn, images, frames)[0]
                if msg is None and (pos >= cap or any(r[0] == "c" and r[1] >= msn
                                                      for r in recs)):
                    return None, []  # the block that made it has no message: compacted
            # the block where the clock passes the horizon of the rows as they are (None:
            # none up to the end), found again whenever a block changes them
            def horizon() -> float | None:
                """The time past which no row of the message can change: ``late_horizon``
                after the last change, once every row is done or dead (else None)."""
                if not images or any(v[8] not in ("done", "dead") for v in images.values()):
                    return None
                return float(max(v[14] for v in images.values())) + self.late_horizon

            until: int | None = None
            known = False
            limit = end
            holds = _holds(msn)
            for at, data in logformat.read_blocks(conn, pos):
                if not known:
                    passed = horizon()
                    until = (None if passed is None
                             else self._block_past(conn, at - 1, end, passed))
                    limit, known = min(cap, end if until is None else until), True
                if at > limit:
                    break  # past the horizon (or the end as it was, or the cap)
                if not holds(data):
                    continue  # nothing of it in this block
                before = {k: (v[8], v[14]) for k, v in images.items()}
                clock = self._log_images(logformat.decode(data)[1], msn, images, frames)[1]
                if {k: (v[8], v[14]) for k, v in images.items()} != before:
                    known = False
                passed = horizon() if clock is not None else None
                if clock is not None and passed is not None and clock > passed:
                    break
        rows = []
        for oid in sorted(images):
            v = list(images[oid])
            v[7] = tuple(v[7])
            v[17] = frames.get(oid)
            rows.append(OutRow(*v))
        return msg, rows

    @staticmethod
    def _log_images(recs: list[list[Any]], msn: int, images: dict[int, list[Any]],
                    frames: dict[int, bytes]) -> tuple[StoredMessage | None, float | None]:
        """Fold one block's records of message ``msn`` into ``images`` (row id -> its last
        image) and ``frames``; the message if the block has it, and the block's clock (the
        latest time of a row image in it, None without one)."""
        msg: StoredMessage | None = None
        clock = None
        for rec in recs:
            tag = rec[0]
            if tag == "o":
                v = rec[1]
                if clock is None or v[14] > clock:
                    clock = v[14]
                if v[1] == msn:
                    images[v[0]] = v
                    if v[17] is not None:
                        frames[v[0]] = bytes(v[17])
            elif tag == "m" and rec[1] == msn:
                msg = StoredMessage(*rec[1:])
            elif tag == "x":
                images.pop(rec[1], None)
        return msg, clock

    @staticmethod
    def _block_past(conn: sqlite3.Connection, after: int, end: int, horizon: float
                    ) -> int | None:
        """The position of the first block after ``after`` whose rows' latest time passes
        ``horizon`` (a binary search: each probe decodes the first block at or after it that
        holds row images), or None when none does up to ``end``."""

        def clock(recs: list[list[Any]]) -> float | None:
            return max((r[1][14] for r in recs if r[0] == "o"), default=None)

        lo, hi = after + 1, end + 1
        found: int | None = None
        while lo < hi:
            mid = (lo + hi) // 2
            got = _first_found(conn, mid, clock)
            if got is None:  # no row image from there on
                hi = mid
            elif got[1] > horizon:
                found, hi = got[0], mid
            else:  # passed at ``got[0]`` at the earliest (before it: no row image)
                lo = got[0] + 1
        return found

    @contextmanager
    def _log_reader(self) -> Iterator[sqlite3.Connection | None]:
        """A connection to read the log on: one of its own when the store is SQLite on
        disk (the writer thread may be appending on the store's), else the store's own,
        with no block in flight."""
        own = str(self.path) != ":memory:" and isinstance(self.store, SqliteLogStore)
        if own:
            conn: sqlite3.Connection | None = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        else:
            self.settle()
            conn = self.conn
        try:
            yield conn
        finally:
            if own and conn is not None:
                conn.close()

    @staticmethod
    def _first_block(conn: sqlite3.Connection, after: int, counter: int = 2
                     ) -> tuple[int, int]:
        """The position of the first block that can hold a row with an id above ``after``
        (``counter`` 1: a message with a number above it), by a binary search on the
        counters records; and the log's last position."""
        lo, hi = conn.execute("SELECT COALESCE(MIN(pos), 0), COALESCE(MAX(pos), 0) "
                              "FROM log").fetchone()
        lo, end = int(lo), int(hi)
        hi = end + 1

        def top(recs: list[list[Any]]) -> int | None:
            """The highest row id after the block (None: it made no row)."""
            return next((int(r[counter]) for r in recs if r[0] == "c"), None)

        while lo < hi:  # the first position whose counters pass ``after``
            mid = (lo + hi) // 2
            got = _first_found(conn, mid, top)
            if got is None or got[1] > after:
                hi = mid
            else:
                lo = mid + 1
        return lo, end

    def _feed_blocks(self, after: int, counter: int = 2
                     ) -> Generator[list[list[Any]], None, None]:
        """The records of the log's blocks from the first that can hold a row with an id
        above ``after``, in order (read on a connection of its own when the store is SQLite
        on disk: the writer thread may be appending on the store's).  ``counter`` 1: a
        message with a number above ``after`` instead."""
        with self._log_reader() as conn:
            if conn is None:
                return
            lo, _end = self._first_block(conn, after, counter)
            for _p, data in logformat.read_blocks(conn, lo - 1):
                yield logformat.decode(data)[1]


_T = TypeVar("_T")


def _first_found(conn: sqlite3.Connection, pos: int,
                    pick: Callable[[list[list[Any]]], _T | None]) -> tuple[int, _T] | None:
    """The first block at or after ``pos`` whose records ``pick`` finds a value in, with
    its position (None: none up to the end).  A binary search probes with it and mostly
    stops at the first block, so blocks are read a few at a time."""
    for at, data in logformat.read_blocks(conn, pos - 1, page=16):
        got = pick(logformat.decode(data)[1])
        if got is not None:
            return at, got
    return None


def _holds(msn: int) -> Callable[[bytes], bool]:
    """Can a block hold a record of message ``msn``?  Its bytes have the number as
    MessagePack writes it (every ``m`` and ``o`` record of the message has it), or the
    start of an ``x`` record (a row removed: it names the row, not the message).  Two byte
    searches: a block without either is not decoded."""
    number, removed = _packed(msn), _REMOVED

    def holds(data: bytes) -> bool:
        return number in data or removed in data

    return holds


#: how an ``x`` record (``["x", row id]``) begins in a block
_REMOVED = b"\x92\xa1x"


def _packed(n: int) -> bytes:
    """An integer as MessagePack writes it in a block (what ``instr`` looks for)."""
    return _PACK.encode(n)


_PACK = msgspec.msgpack.Encoder()


class _Snap:
    """A snapshot being written: its first block (the mark to be), its time, the rows to
    write and how many are, the dedup keys to write and how many are."""

    __slots__ = ("at", "first", "key_at", "keys", "row_at", "rows")

    def __init__(self, first: int, at: float, rows: list[int], row_at: int,
                 keys: list[str]) -> None:
        self.first, self.at, self.rows, self.row_at = first, at, rows, row_at
        self.keys, self.key_at = keys, 0


class _Block:
    """A block not yet durable: its records, the undo log of its transactions, the audit
    head before it, the highest row id in it, and the future its append resolves."""

    __slots__ = ("future", "head0", "max_oid", "recs", "submitted", "undo")

    def __init__(self, recs: list[list[Any]], undo: list[tuple[Any, ...]],
                 head0: tuple[int, str], max_oid: int) -> None:
        self.recs, self.undo, self.head0, self.max_oid = recs, undo, head0, max_oid
        self.future: concurrent.futures.Future[int] = concurrent.futures.Future()
        self.submitted = False


def _write_chain(j: LogJournal, b: _Block) -> None:
    """On the writer thread: append ``b``, then the block built while it was written, and
    so on until none is waiting (adaptive group commit: a block is written at once when
    none is in flight, else right after the one in flight, with everything built
    meanwhile).  Each block's future is resolved after the next one is taken, so the loop,
    woken by it, finds the writer already at work.  A failed append stops the chain."""
    nxt: _Block | None = b
    while nxt is not None:
        b = nxt
        try:
            pos = j.store.append(logformat.encode(time.time(), b.recs))
        except BaseException as exc:
            j._chain_failed()
            b.future.set_exception(exc)
            return
        nxt = j._chain_next()
        b.future.set_result(pos)


def _take_lock(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise ConfigError("the journal is in use (a running switch holds it): ask the switch, "
                          "or stop it first", source=str(path)) from exc
    return fd


#: either journal: the engine, the group commit and the operator commands use both alike
AnyJournal = Journal | LogJournal


def file_format(path: str | Path) -> str | None:
    """``log`` or ``sqlite`` for an existing journal file, None for none (or an empty one)."""
    p = Path(path)
    if str(path) == ":memory:" or not p.exists() or p.stat().st_size == 0:
        return None
    conn = _journal.connect(str(p))
    try:
        return "log" if logformat.is_log_db(conn) else "sqlite"
    finally:
        conn.close()


def open_journal(path: str | Path, fmt: str = "sqlite", *, synchronous: str = "FULL",
                 checkpoint_every: float | None = None, readonly: bool = False,
                 dedup_window: float | None = None) -> AnyJournal:
    """The journal at ``path`` in the format it has (``fmt`` for a new one); ``readonly``:
    a log journal is folded without taking the writer's lock; ``dedup_window``: a log
    journal's fold drops dedup keys past it."""
    try:
        have = file_format(path) or fmt
    except sqlite3.Error as exc:  # a full or failing disk cannot even read the file
        err = storage_error(exc, store="journal", path=str(path))
        if err is None:
            raise
        raise StorageError(f"cannot open the journal: {err.reason}", store="journal",
                           path=str(path), kind=err.kind) from exc
    if have == "log":
        return LogJournal(path, synchronous=synchronous, checkpoint_every=checkpoint_every,
                          readonly=readonly, dedup_window=dedup_window)
    return Journal(path, synchronous=synchronous, checkpoint_every=checkpoint_every)

"""The message switch engine: receive, check, journal, route, forward, correlate, time out, audit.

One asyncio task reads each link; one worker per queue target (a destination, or an origin link
for answers) sends due rows; one timer task raises ``.02.`` / ``.04.`` status messages and
expires rows.  Every state change is a journal transaction that also holds its audit records.
The journal is the only shared state, so a restart is: open the journal, requeue ``in_flight``
rows, then start the workers (never before recovery ends).

Time comes from an injected clock and randomness (retry jitter) from an injected RNG, so tests
move time forward instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as _dt
import functools
import hashlib
import inspect
import logging
import os
import random
import re
import sqlite3
import sys
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from clets.adapters.base import Link, flush_deferred_writes
from clets.codecs.base import Codec, get_codec
from clets.errors import (
    DUPLICATE_MESSAGE,
    INVALID_FIELD,
    INVALID_FORMAT,
    INVALID_ORIGIN_ORI,
    MESSAGE_TOO_LONG,
    STORE_UNAVAILABLE,
    CletsError,
    ConfigError,
    DecodeError,
    EncodeError,
    LinkBusy,
    LinkError,
    StorageError,
    ValidationError,
    storage_error,
)
from clets.model import Message, dumps, loads
from clets.model import replace as model_replace
from clets.model.edits import prepare as prepare_edits
from clets.model.transactions import default_transactions
from clets.quality.gate import QualityGate

from . import hold as quality_hold
from . import sniff
from .admin import AdminServer, socket_path
from .audit import AuditEvent
from .authz import Rejected, authorize, origin_field
from .batch import GroupCommit
from .capture import CaptureSink, close_captures, unwrap, wrap_captured_links
from .clock import Clock, SystemClock
from .config import DestinationConfig, LinkConfig, SwitchConfig
from .hitconfirm import HitConfirmations, reminder_message
from .journal import PURGE_BATCH, OutRow, StoredMessage, control_of
from .links import Received, open_link, received_frames
from .logjournal import AnyJournal, LogJournal, open_journal
from .messages import (
    NOT_AVAILABLE,
    NOT_RESPONDING,
    REASONS,
    ack_message,
    echo_of,
    error_message,
    reason_for,
    status_message,
)
from .metrics import Metrics
from .routing import Target
from .storage import StoreHealth

log = logging.getLogger("clets.switch")

__all__ = ["Rng", "Switch"]


class Rng(Protocol):
    def random(self) -> float: ...


_DECODE_CODES = {20, 21, 23, 10}
#: frames a reader takes in one loop turn before it lets the commit and the sends run
_READ_BATCH = 64
#: queue rows a worker claims (and marks sent) per transaction
_SEND_BATCH = 64
#: bounds of the in-memory caches (requests by msn, forward frames by row id)
_REQUEST_CACHE = 8192
_FRAME_CACHE = 16384
#: seconds between two WAL checkpoints of the journal's background checkpointer
CHECKPOINT_EVERY = 0.2
#: environment switch that must accompany ``[switch] unsafe_test_mode`` (negative controls)
UNSAFE_ENV = "CLETS_ALLOW_UNSAFE_TEST_MODE"
#: the window between the early ACK and the commit in ``ack-before-commit`` mode, seconds
UNSAFE_ACK_DELAY = 0.05
#: the journal's name in the storage health (``StoreHealth``)
JOURNAL = "journal"
#: work that could not be journaled for a full or failing disk and is kept in memory to be
#: done when the journal writes again (answers of destinations, unsolicited messages): bound
_HELD_MAX = 10000
#: what a sender reads when its message is refused because the journal cannot store it
STORE_REASONS = {"full": "SWITCH STORE FULL, NOT ACCEPTED, SEND AGAIN LATER",
                 "io": "SWITCH STORE ERROR, NOT ACCEPTED, SEND AGAIN LATER"}
#: seconds a delivery waits before its next try when its peer's connection is full or gone
_DEFER_DELAY = 0.5
#: transport events (clets.adapters.tcp on_event names) that become audit records
_AUDITED_LINK_EVENTS = frozenset({
    "auth_failed", "connection_refused", "connected", "disconnected", "connection_lost",
    "bad_frame", "truncated_frame", "framing_error", "write_timeout", "idle_timeout",
    "frame_timeout", "first_frame_timeout", "unauthenticated_cut",
})


class Switch:
    """The switch.  ``links`` maps config link names to Link objects (tests pass memory
    links); configured links not given are opened from their URLs and closed on stop."""

    def __init__(self, config: SwitchConfig, links: Mapping[str, Link] | None = None, *,
                 clock: Clock | None = None, rng: Rng | None = None,
                 synchronous: str = "FULL", poll: float = 0.5,
                 send_timeout: float = 30.0) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.rng: Rng = rng or random.Random()
        self.metrics_data = Metrics()
        self._given = dict(links or {})
        self._links: dict[str, Link] = {}
        self._owned: set[str] = set()
        self._unsafe = config.switch.unsafe_test_mode
        # the negative controls of the crash tests: durability deliberately weakened
        self._synchronous = {"ack-before-commit": "OFF", "synchronous-off": "OFF",
                             "synchronous-normal": "NORMAL"}.get(self._unsafe or "", synchronous)
        self._ack_early = self._unsafe == "ack-before-commit"
        self._poll = poll
        self._send_timeout = send_timeout
        self._journal: AnyJournal | None = None
        #: the data-quality step (``[quality]``), opened with the journal
        self._quality: QualityGate | None = None
        self._codecs: dict[tuple[str, str | None], Codec] = {}
        self._replies: dict[tuple[str, str], Any] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._timer_wake = asyncio.Event()
        #: set by the timer when a snapshot is due (the snapshot task starts it at once)
        self._snap_wake = asyncio.Event()
        #: the local admin socket (``admin.py``) while running
        self._admin: AdminServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._receivers: list[asyncio.Task[None]] = []
        self._captures: list[CaptureSink] = []
        self._busy: dict[str, int] = {}
        #: rows claimed in the commit that journaled them, waiting for their target's direct
        #: sender (``_send_direct``), and the targets where a direct send failed or waited:
        #: their rows go through the queue (the worker) until it is empty again (order kept)
        self._direct: dict[str, list[OutRow]] = {}
        self._direct_off: set[str] = set()
        self._gc: GroupCommit  # made with the journal, at start
        self._spawned: set[asyncio.Task[None]] = set()
        #: accepted requests by msn, and each forward's frame by row id (encoded once at
        #: intake); both only spare journal reads and encodes, both bounded
        self._requests: dict[int, StoredMessage] = {}
        self._frames: dict[int, bytes] = {}
        self._stopping = False
        self._running = False
        #: when the journal retention purge runs next (clock time; first run at the first tick)
        self._next_retention = 0.0
        self._ori_owner = {ori: mn for ori, mn in config.ori_owner().items()
                           if config.links_of_peer(mn)}
        #: stores that cannot be written now (journal, drops, captures): /healthz reads it
        self.storage = StoreHealth()
        #: set while the journal writes; cleared by a storage failure (workers wait on it)
        self._journal_ok = asyncio.Event()
        self._journal_ok.set()
        #: work kept in memory while the journal cannot write (see ``_hold``)
        self._held: list[Any] = []
        #: the start's own journal step when the journal could not take it (``start``)
        self._pending_start: Any = None
        #: hit confirmation clocks (switch/hitconfirm.py): started by hits, run by YQ,
        #: closed by YR, reminders from the timer
        self.hits = HitConfirmations(windows={"U": config.switch.hit_confirm_urgent,
                                              "R": config.switch.hit_confirm_routine})
        #: NCIC's mandatory fields per transaction, enforced in step 2 unless the config says
        #: ``ncic_transactions = false``
        self._transactions = dataclasses.replace(
            default_transactions(), enforce=config.switch.ncic_transactions)

    # ------------------------------------------------------------------ lifecycle

    @property
    def journal(self) -> AnyJournal:
        if self._journal is None:
            raise ConfigError("switch not started", source=self.config.source)
        return self._journal

    @property
    def running(self) -> bool:
        """True between a completed ``start()`` and ``stop()`` (journal open, links started)."""
        return self._running and self._journal is not None

    @property
    def links(self) -> Mapping[str, Link]:
        """The links by config name while running (a daemon reports their state/addresses);
        the transports themselves, also for captured links."""
        return {name: unwrap(link) for name, link in self._links.items()}

    async def start(self) -> None:
        """Open the journal, recover, open links, then start readers, workers and the timer."""
        if self._running:
            return
        cfg = self.config
        if self._unsafe and os.environ.get(UNSAFE_ENV) != "1":
            raise ConfigError(f"unsafe_test_mode {self._unsafe!r} loses acknowledged messages; "
                              f"it runs only in tests with {UNSAFE_ENV}=1",
                              source=cfg.source)
        for lk in cfg.links.values():
            self._codec(lk.codec, lk.encoding)  # fail fast on a missing codec
        prepare_edits()  # the field edits' tables and code, before the first message
        self._journal = open_journal(cfg.switch.journal, cfg.switch.journal_format,
                                     synchronous=self._synchronous,
                                     checkpoint_every=CHECKPOINT_EVERY,
                                     dedup_window=cfg.switch.dedup_window)
        self._gc = GroupCommit(self._journal, self._commit_outcome,
                               delay=cfg.switch.commit_delay,
                               threaded=cfg.switch.commit_thread,
                               gather=cfg.switch.commit_gather)
        if self._gc.threaded:
            # the writer thread takes the GIL back after each fsync: by default it may wait
            # up to 5 ms for the loop to let go of it (docs/performance.md, "Session 9")
            sys.setswitchinterval(cfg.switch.switch_interval)
        if cfg.quality is not None and self._quality is None:
            self._quality = QualityGate(cfg.quality)
        self._requests.clear()
        self._frames.clear()
        now = self.clock.time()

        def opening() -> None:
            with self.journal.tx():
                recovered = self.journal.recover(now)
                self.journal.start_controls_after(now)
                previous = self.journal.meta_get("config_sha256")
                self.journal.audit(AuditEvent("started", outcome="ok",
                                              sha256=cfg.sha256 or None,
                                              reason=f"{cfg.switch.name}"), now)
                if previous is not None and previous != cfg.sha256:
                    self.journal.audit(AuditEvent("config_changed", outcome="ok",
                                                  sha256=cfg.sha256 or None,
                                                  reason=f"previous {previous[:16]}"), now)
                self.journal.meta_set("config_sha256", cfg.sha256)
                if recovered:
                    self.journal.audit(AuditEvent(
                        "recovered", outcome="requeued",
                        reason=f"{recovered} in_flight rows requeued"), now)
                # the hit confirmation clocks open when the switch stopped (or was killed)
                for ev in self.hits.restore(self.journal.hit_clocks(), now):
                    self.journal.audit(ev, now)
                self._save_hits_in_tx()

        self._journal_ok.set()
        self._held.clear()
        self._pending_start = None
        try:
            opening()
        except sqlite3.Error as exc:
            # a start on a full disk (a reboot, a restart by systemd) does not fail: the
            # switch runs, refuses new messages .05. and writes this step first, as soon as
            # the journal can (the workers wait for it: in_flight rows are requeued then)
            fault = self._storage_fault(exc)
            if fault is None:
                self.journal.close()
                self._journal = None
                raise
            self._pending_start = opening
            log.error("started with a journal that cannot be written: new messages are "
                      "refused until it can", extra={"error": str(fault)})
        try:
            for name, lk in cfg.links.items():
                link = self._given.get(name)
                if link is None:
                    link = open_link(lk, cfg.peers, self._link_event)
                    self._owned.add(name)
                self._links[name] = link
                starter = getattr(link, "start", None)
                if callable(starter) and name in self._owned:
                    result = starter()
                    if inspect.isawaitable(result):
                        await result
        except BaseException as exc:
            # a start that did not happen is not left as "started" in the trail
            for name in self._owned:
                with contextlib.suppress(CletsError, OSError):
                    await self._links[name].close()
            self._owned.clear()
            self._links.clear()
            with contextlib.suppress(CletsError, sqlite3.Error), self.journal.tx():
                self.journal.audit(AuditEvent(
                    "stopped", outcome="failed",
                    reason=f"start failed: {exc}"[:200]), self.clock.time())
            self.journal.close()
            self._journal = None
            raise
        # captured links (``capture =``) are wrapped once started: the engine sees no difference
        self._captures = wrap_captured_links(cfg, self._links, self._capture_failed,
                                             on_storage=self._capture_storage)
        self._running, self._stopping = True, False
        loop = asyncio.get_running_loop()
        targets = list(cfg.destinations) + [n for n, lk in cfg.links.items()
                                            if lk.role == "origin"]
        for target in targets:
            self._wake[target] = asyncio.Event()
            self._tasks.append(loop.create_task(self._worker(target), name=f"worker {target}"))
        self._tasks.append(loop.create_task(self._timer(), name="timer"))
        if isinstance(self.journal, LogJournal):
            self._tasks.append(loop.create_task(self._snapshots(), name="snapshots"))
        for name, lk in cfg.links.items():
            self._receivers.append(loop.create_task(self._reader(lk), name=f"reader {name}"))
        if str(cfg.switch.journal) != ":memory:":
            self._admin = AdminServer(socket_path(cfg.switch.journal), self.admin)
            try:
                await self._admin.start()
            except OSError as exc:  # the switch runs; writes need it stopped
                log.warning("no admin socket: %s", exc)
                self._admin = None

    async def stop(self, drain: bool = True, timeout: float = 5.0) -> None:
        """Stop reading; with ``drain`` let workers finish what is due now (bounded by
        ``timeout``), then stop them, close the links we opened and the journal."""
        if not self._running:
            return
        if self._admin is not None:
            await self._admin.close()
            self._admin = None
        for t in self._receivers:
            t.cancel()
        await asyncio.gather(*self._receivers, return_exceptions=True)
        self._receivers.clear()
        if drain:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    # (nothing drains into a journal that cannot write)
                    while self._journal_ok.is_set() and self._has_due_work():
                        self.poke()
                        await asyncio.sleep(0.01)
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # steps still pending (rows marked sent) are committed; the ACKs and rejects they
        # release are sent (a reject writes its own audit record: commit that too)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while len(self._gc) or self._spawned:
                    self._gc.flush()
                    if self._spawned:
                        await asyncio.gather(*self._spawned, return_exceptions=True)
        self._gc.flush()
        for name in self._owned:
            with contextlib.suppress(CletsError, OSError):
                await self._links[name].close()
        close_captures(self._captures)
        self._captures = []
        if self._held:
            log.error("stopping with %d steps the journal could not take (answers, records): "
                      "lost; their inquiries are sent again after the restart", len(self._held))
        try:
            with self.journal.tx():
                self.journal.audit(AuditEvent("stopped", outcome="ok"), self.clock.time())
        except sqlite3.Error as exc:
            # a failing disk must not keep the switch from closing (and exiting): the
            # trail then ends without its "stopped" record, as after a crash
            if self._storage_fault(exc) is None:
                raise
            log.error("stopped without the audit record: %s", exc)
        self.journal.close()
        self._journal = None
        if self._quality is not None:
            self._quality.close()
            self._quality = None
        self._running = False

    async def admin(self, req: dict[str, Any]) -> dict[str, Any]:
        """An operator command asked on the admin socket: done in a group commit, with the
        same audit record the command writes on a stopped journal."""
        if not self.running:
            raise ConfigError("the switch is stopping", source=self.config.source)
        cmd, operator = req.get("cmd"), req.get("operator")
        j = self.journal
        if cmd == "retry":
            oid = int(req["id"])
            ttl = self.config.switch.ttl

            def retry() -> OutRow:
                now = self.clock.time()
                row = j.retry(oid, now, ttl)
                j.audit(AuditEvent("replayed", msn=row.msn, destination=row.target,
                                   mke=row.mke, outcome="queued", operator=operator,
                                   reason=f"queue retry {oid}"), now)
                return row

            row = await self._gc.call(retry)
            self.poke()
            return {"ok": True, "target": row.target}
        if cmd == "purge_dead":
            def purge() -> list[int]:
                now = self.clock.time()
                ids = j.purge_dead()
                j.audit(AuditEvent("purged", outcome="ok", operator=operator,
                                   reason=f"{len(ids)} dead entries"
                                   + (f": {ids[0]}..{ids[-1]}" if ids else "")), now)
                return ids

            return {"ok": True, "ids": await self._gc.call(purge)}
        if cmd in ("quality_release", "quality_reject"):
            return await self._admin_held(cmd, int(req["msn"]), operator)
        raise ConfigError(f"unknown admin command {cmd!r}", source=self.config.source)

    async def _admin_held(self, cmd: str, msn: int, operator: str | None) -> dict[str, Any]:
        """``clets quality release|reject MSN`` on the running switch (clets.switch.hold):
        one group commit with the supervisor's audit record; a released entry is indexed."""
        j = self.journal
        act = quality_hold.release if cmd == "quality_release" else quality_hold.reject
        source = str(self.config.switch.journal)

        def step() -> list[OutRow]:
            return act(j, msn, self.clock.time(), operator, source=source)

        rows = await self._gc.call(step)
        if cmd == "quality_release" and self._quality is not None:
            stored = self._request(msn)
            if stored is not None:
                with contextlib.suppress(DecodeError):
                    self._quality.remember(msn, loads(stored.canonical))
        for r in rows:
            self._wake_target(r.target)
        self.poke()
        return {"ok": True, "targets": [r.target for r in rows]}

    def poke(self) -> None:
        """Wake every worker and the timer (after a test moved the clock)."""
        for ev in self._wake.values():
            ev.set()
        self._timer_wake.set()

    async def tick(self) -> None:
        """Run the timers once now (tests), then wake the workers."""
        self._run_timers()
        self.poke()
        await asyncio.sleep(0)

    def metrics(self) -> dict[str, Any]:
        depths = self._journal.depths() if self._journal is not None else {}
        for target in self._wake:  # every queue, also the empty ones (a gauge at 0)
            depths.setdefault(target, {})
        links = {n: lk.state.value for n, lk in self._links.items()}
        snap = self.metrics_data.snapshot(depths=depths, links=links)
        if self._journal is not None:
            gc = self._gc
            snap["journal"] = {"format": getattr(self._journal, "format", "sqlite"),
                               "commits": gc.commits, "fsyncs": gc.fsyncs, "steps": gc.steps}
        return snap

    def _has_due_work(self) -> bool:
        now = self.clock.time()
        if any(self._busy.values()) or len(self._gc) or self._spawned:
            return True
        for target in self._wake:
            due = self.journal.next_due(target)
            if due is not None and due <= now and self._target_up(target):
                return True
        return False

    def _target_up(self, target: str) -> bool:
        dest = self.config.destinations.get(target)
        link = self._links.get(dest.link if dest else target)
        return link is not None and link.state.value == "up"

    def _link_event(self, name: str, details: dict[str, Any]) -> None:
        """Transport events worth an audit record (authentication failures, cut-offs), and
        the storage state of drop links (``storage-failed`` / ``storage-recovered``)."""
        if self._journal is None:
            return
        if name in ("storage-failed", "storage-recovered"):
            link = str(details.get("link") or details.get("drop"))
            self._store_event(f"link {link}", link, name == "storage-failed",
                              str(details.get("error") or ""), str(details.get("kind") or "io"))
            return
        if name not in _AUDITED_LINK_EVENTS:
            return
        event = AuditEvent(
            "auth_failed" if name == "auth_failed" else "link_event",
            link=str(details.get("link")), peer=str(details.get("peer") or "") or None,
            outcome=name, reason=str(details.get("reason") or "")[:100] or None)
        if self._running and not self._stopping:
            # in the group commit: a flood of connections is one commit per loop turn, not
            # one fsync per connection (which held up every peer's traffic)
            self._audit_soon(event, self.clock.time())
            return
        self._audit_now(event, self.clock.time())

    def _capture_failed(self, link: str, reason: str) -> None:
        """A capture that cannot be written is audited once; the traffic goes on."""
        if self._journal is None:
            return
        with contextlib.suppress(CletsError, OSError, sqlite3.Error):
            self._audit_now(AuditEvent("error", link=link, outcome="capture_failed",
                                       reason=reason[:200]), self.clock.time())

    def _capture_storage(self, link: str, err: StorageError | None) -> None:
        """A capture file that cannot be written (``err``) or writes again (None)."""
        if self._journal is None:
            return
        self._store_event(f"capture {link}", link, err is not None,
                          str(err) if err else "", err.kind if err else "io")

    def _store_event(self, store: str, link: str, failed: bool, reason: str,
                     kind: str) -> None:
        """A store other than the journal failed or writes again: health and one audit
        record per change (held while the journal itself cannot write)."""
        now = self.clock.time()
        if failed:
            err = StorageError(reason or "cannot write", store=store, kind=kind)
            if not self.storage.failed(store, err, now):
                return
            ev = AuditEvent("storage", link=link, outcome="failed",
                            reason=f"{store}: {'disk full' if kind == 'full' else 'I/O error'}"
                                   f": {reason}"[:200])
        else:
            problem = self.storage.recovered(store, now)
            if problem is None:
                return
            lost = (f"{problem.errors} events not recorded" if store.startswith("capture ")
                    else f"{problem.errors} failed attempts")
            ev = AuditEvent("storage", link=link, outcome="recovered",
                            reason=f"{store} writes again after {now - problem.since:.1f}s; "
                                   f"{lost} ({problem.kind})"[:200])
        self._audit_now(ev, now)

    # ------------------------------------------------------------------ storage faults

    def _storage_fault(self, exc: BaseException) -> StorageError | None:
        """``exc`` as a journal StorageError when it is a full or failing disk -- recorded in
        the health and the workers paused until a write succeeds -- else None."""
        err = storage_error(exc, store=JOURNAL, path=str(self.config.switch.journal))
        if err is None:
            return None
        self.storage.failed(JOURNAL, err, self.clock.time())
        self._journal_ok.clear()
        return err

    def _commit_outcome(self, failures: list[BaseException], wrote: bool) -> None:
        """Each group commit tells whether the journal could write (GroupCommit hook)."""
        for exc in failures:
            if self._storage_fault(exc) is not None:
                return
        if wrote:
            self._journal_wrote()

    def _journal_wrote(self) -> None:
        """A journal write committed: if the journal was failing it is healthy again; the
        work held meanwhile is done now, in the order it came, and the workers go on."""
        if self._journal_ok.is_set():
            return
        if self._pending_start is not None:
            # the start's step (requeue in_flight rows, move controls past the clock,
            # "started") comes before anything else the journal takes
            try:
                self._pending_start()
            except sqlite3.Error as exc:
                if self._storage_fault(exc) is None:
                    raise
                return
            self._pending_start = None
        now = self.clock.time()
        self._journal_ok.set()
        problem = self.storage.recovered(JOURNAL, now)
        if problem is not None:
            what = "disk full" if problem.kind == "full" else "I/O error"
            self._audit_soon(AuditEvent(
                "storage", outcome="recovered",
                reason=f"journal writes again: {what}"
                       f" for {now - problem.since:.1f}s, {problem.errors} failed writes; "
                       f"{len(self._held)} held steps written now"[:200]), now)
        held, self._held = self._held, []
        for redo in held:
            redo()
        self.poke()

    def _hold(self, redo: Any) -> None:
        """Keep ``redo`` (a callable) to run once the journal writes again: an answer of a
        destination or a record that must not be lost for a full disk.  Bounded: past
        ``_HELD_MAX`` the item is dropped, logged and counted (``storage_dropped``)."""
        if len(self._held) >= _HELD_MAX:
            self.metrics_data.count("storage_dropped")
            log.error("journal unavailable and %d steps held already: one dropped",
                      len(self._held))
            return
        self._held.append(redo)
        self.metrics_data.count("storage_held")

    def _audit_soon(self, ev: AuditEvent, now: float) -> None:
        """Write an audit record in the next group commit; held while the journal fails."""
        def after(ok: bool, value: Any) -> None:
            if not ok and storage_error(value, store=JOURNAL) is not None:
                self._hold(functools.partial(self._audit_soon, ev, now))

        self._gc.submit(functools.partial(self.journal.audit, ev, now), after)

    def _audit_now(self, ev: AuditEvent, now: float) -> None:
        """Write an audit record in a transaction of its own now; held when the journal
        cannot write (the record keeps its time)."""
        try:
            with self.journal.tx():
                self.journal.audit(ev, now)
        except sqlite3.Error as exc:
            if self._storage_fault(exc) is None:
                raise
            self._hold(functools.partial(self._audit_soon, ev, now))
        else:
            self._journal_wrote()

    def _probe_journal(self) -> None:
        """While the journal fails, the timer tries one small write per tick: the switch
        notices by itself when space is back (no restart, no operator command)."""
        now = self.clock.time()
        try:
            with self.journal.tx():
                self.journal.meta_set("storage_probe", f"{now:.3f}")
        except sqlite3.Error as exc:
            if self._storage_fault(exc) is None:
                raise
            return
        self._journal_wrote()

    def health(self) -> dict[str, Any]:
        """The stores' state for ``/healthz``: ``ok`` False while a store the traffic needs
        (the journal, a drop) cannot be written, with the reason."""
        return self.storage.status()

    # ------------------------------------------------------------------ helpers

    def _codec(self, name: str, encoding: str | None) -> Codec:
        key = (name, encoding)
        codec = self._codecs.get(key)
        if codec is None:
            try:
                codec = get_codec(name, encoding=encoding) if encoding else get_codec(name)
            except (DecodeError, ImportError, TypeError) as exc:
                raise ConfigError(f"codec {name!r}: {exc}", source=self.config.source) from exc
            self._codecs[key] = codec
        return codec

    def _link_codec(self, link_name: str) -> tuple[Codec, LinkConfig]:
        lk = self.config.links[link_name]
        return self._codec(lk.codec, lk.encoding), lk

    def _today(self) -> _dt.date:
        return _dt.datetime.fromtimestamp(self.clock.time(), tz=_dt.UTC).date()

    def _wake_target(self, target: str) -> None:
        ev = self._wake.get(target)
        if ev is not None:
            ev.set()

    # ------------------------------------------------------------------ receive

    async def _reader(self, lk: LinkConfig) -> None:
        link = self._links[lk.name]
        n = 0
        async for item in received_frames(link):
            n += 1
            if n % _READ_BATCH == 0:
                # frames that arrived together are read in one turn (one group commit);
                # let the commit, the ACKs and the workers run after a batch
                await asyncio.sleep(0)
            try:
                if lk.role == "origin":
                    await self._on_request(lk, item)
                else:
                    await self._on_destination_frame(lk, item)
            except asyncio.CancelledError:
                raise
            except CletsError as exc:  # a storage error must not kill the reader
                self._internal_error(lk, item.frame, exc)
            except Exception as exc:  # nor a bug: audited, logged with its traceback
                log.exception("internal error on link %s", lk.name)
                self._internal_error(lk, item.frame, exc)

    def _internal_error(self, lk: LinkConfig, frame: bytes, exc: BaseException) -> None:
        self.metrics_data.count("internal_error")
        with contextlib.suppress(Exception), self.journal.tx():
            self.journal.audit(AuditEvent.for_payload(
                "error", frame, link=lk.name, outcome="internal_error",
                reason=str(exc)[:100]), self.clock.time())

    def _spawn(self, coro: Any) -> None:
        """A continuation that must send (ACK, reject) after a commit: its own task, kept
        referenced until it ends."""
        task = asyncio.get_running_loop().create_task(coro)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    def _remember_request(self, req: StoredMessage) -> None:
        """Accepted requests stay in memory for their forwards and answers (bounded; the
        journal is read after a restart or when a request has been evicted)."""
        if len(self._requests) >= _REQUEST_CACHE:
            for msn in list(self._requests)[: _REQUEST_CACHE // 4]:
                del self._requests[msn]
        self._requests[req.msn] = req

    def _request(self, msn: int) -> StoredMessage | None:
        req = self._requests.get(msn)
        if req is None:
            req = self.journal.message(msn)
        return req

    async def _on_request(self, lk: LinkConfig, rx: Received) -> None:
        cfg = self.config
        now = self.clock.time()
        payload = rx.frame
        sha = hashlib.sha256(payload).hexdigest()
        mnemonic = rx.peer.mnemonic or lk.peer
        peer_cfg = cfg.peers.get(mnemonic) if mnemonic else None
        codec = self._codec(lk.codec, lk.encoding)
        if mnemonic:
            self._replies[(lk.name, mnemonic)] = rx.answers or rx.reply
        self.metrics_data.count("received")
        msg: Message | None = None
        try:
            if len(payload) > cfg.switch.max_message_bytes:
                raise Rejected(MESSAGE_TOO_LONG, REASONS[MESSAGE_TOO_LONG])
            try:
                msg = codec.decode(payload)
            except DecodeError as exc:
                code = exc.code if exc.code in _DECODE_CODES else INVALID_FORMAT
                if code == INVALID_FIELD and origin_field(exc.field):
                    code = INVALID_ORIGIN_ORI
                raise Rejected(code, reason_for(code, exc)) from exc
            authorize(msg, peer=peer_cfg, transport_oris=rx.peer.allowed_oris,
                      routes=cfg.routes, today=self._today(), transactions=self._transactions)
            try:
                targets = cfg.routes.route(msg, home_state=cfg.switch.home_state,
                                           configured=cfg.destinations,
                                           ori_owner=self._ori_owner)
            except ValidationError as exc:
                raise Rejected(exc.code, reason_for(exc.code, exc)) from exc
            deliveries = self._peer_deliveries(msg, targets)
            held: str | None = None
            if self._quality is not None:
                msg, held = self._quality_step(msg)
        except Rejected as rej:
            await self._reject(lk, rx, mnemonic, msg, rej, sha)
            return
        assert msg is not None
        if self._pending_start is not None and not (rx.message_id is not None and rx.pulled):
            problem = self.storage.problems.get(JOURNAL)
            self.metrics_data.count("refused_storage")
            await self._reject(lk, rx, mnemonic, msg, Rejected(
                STORE_UNAVAILABLE, STORE_REASONS[problem.kind if problem else "io"],
                detail="the journal has not been written since the start"), sha)
            return
        if self._ack_early and lk.ack:
            # TEST ONLY (ack-before-commit): acknowledge, then commit after a window in which
            # a crash loses an acknowledged message -- the crash checker must catch this
            await self._send_ack(rx, codec, msg, 0)
            await asyncio.sleep(UNSAFE_ACK_DELAY)
        key = self._dedup_key(msg, sha, rx.message_id)
        canonical = dumps(msg)
        step = self._accept_step(lk, mnemonic, msg, codec, payload, sha, key, targets,
                                 deliveries, canonical, now, held)
        after = self._accepted_after(lk, rx, mnemonic, msg, codec, targets, deliveries,
                                     payload, sha, canonical, now, held)
        if rx.message_id is not None and rx.pulled:
            await self._accept_from_drop(step, after)
            return
        if self._ack_early:
            # the negative control commits this message alone, after its early ACK
            try:
                value, ok = await self._gc.call(step), True
            except Exception as exc:  # handed to after() like a batch failure
                value, ok = exc, False
            after(ok, value)
            return
        # group commit: the ACK and the forwards are released by ``after`` once the
        # transaction holding this message has committed; the reader goes on meanwhile
        self._gc.submit(step, after)

    async def _accept_from_drop(self, step: Any, after: Any) -> None:
        """A message from a file drop is committed before the next one is read.

        Why: the drop counts a message as taken when the next one is read (pull-based), and
        its file is the sender's only copy.  While the journal cannot write the reader waits
        and tries again, so the message stays in its file instead of being refused into an
        outbox that sits on the same full disk."""
        while True:
            while self._pending_start is not None:
                await self._journal_ok.wait()
            try:
                value, ok = await self._gc.call(step), True
            except Exception as exc:  # handed to after() like a batch failure
                value, ok = exc, False
            if ok or storage_error(value, store=JOURNAL) is None:
                break
            await self._journal_ok.wait()
        after(ok, value)

    def _accept_step(self, lk: LinkConfig, mnemonic: str | None, msg: Message, codec: Codec,
                     payload: bytes, sha: str, key: str, targets: list[Target],
                     deliveries: list[tuple[str, str, bytes]], canonical: str,
                     now: float, held: str | None = None) -> Any:
        """The journal writes of one accepted message (run inside the group transaction):
        dedup check, message, dedup key, ``received``, one queue row per destination,
        ``journaled``; then each forward is encoded once, with its switch control (an
        EncodeError undoes the step: the message is refused ``.22.``)."""
        cfg = self.config
        audit_kw: dict[str, Any] = dict(link=lk.name, peer=mnemonic, operator=msg.operator,
                                        origin=msg.origin, mke=msg.mke,
                                        bytes=len(payload), sha256=sha)

        def step() -> tuple[str, int, list[tuple[int, bytes]], list[OutRow]]:
            j = self.journal
            status, prev = j.check_duplicate(key, sha, now, cfg.switch.dedup_window)
            if status == "retransmission" and "|h|" in key:
                # no control or sequence: a repeat may be deliberate, so say so (.30.)
                status = "conflict"
            if status == "retransmission":
                j.audit(AuditEvent("duplicate", msn=prev, outcome="ignored",
                                   error_code=DUPLICATE_MESSAGE,
                                   reason="retransmission of an accepted message",
                                   **audit_kw), now)
                return status, prev, [], []
            if status != "new":
                return status, 0, [], []
            msn = j.insert_message(
                now=now, kind="request", link=lk.name, peer=mnemonic, origin=msg.origin,
                control=msg.control, sequence=msg.sequence, mke=msg.mke,
                operator=msg.operator, codec=codec.name, sha256=sha, payload=payload,
                canonical=canonical)
            j.remember(key, msn, sha, now)
            j.audit(AuditEvent("received", msn=msn, outcome="ok", **audit_kw), now)
            flagged = [w for w in msg.warnings if w.startswith("QUALITY ")]
            if flagged:
                j.audit(AuditEvent("quality", msn=msn,
                                   outcome="warn" if held is None else "held",
                                   reason="; ".join(flagged)[:200], **audit_kw), now)
            names = []
            forwards: list[tuple[int, DestinationConfig, tuple[str, ...]]] = []
            direct: list[int] = []
            oids: list[int] = []
            for t in targets:
                if t.kind == "destination":
                    dest = cfg.destinations[t.name]
                    first = self._direct_ok(t.name)
                    oid = j.add_forward(msn, t.name, msg.mke, t.address, now,
                                        now + dest.deadline, now + dest.ttl)
                    forwards.append((oid, dest, t.address))
                    oids.append(oid)
                    names.append(t.name)
                    if first:
                        direct.append(oid)
            for link_name, peer_name, frame in deliveries:
                oids.append(j.add_delivery(msn, link_name, peer_name, msg.mke, frame, now,
                                           now + cfg.switch.ttl))
                names.append(peer_name)
            j.audit(AuditEvent("journaled", msn=msn, outcome="accepted",
                               destination=",".join(names), **audit_kw), now)
            if held is not None:  # a quality check's policy is hold: not forwarded yet
                reply = self._hold_reply(lk, mnemonic, codec, msg, held)
                quality_hold.hold(j, msn, oids, held, reply, now, cfg.switch.ttl)
                return status, msn, [], []
            for ev in self.hits.on_request(msg, now):  # a YQ runs its hit's clock
                ev.operator = ev.operator or msg.operator
                j.audit(ev, now)
            self._save_hits_in_tx()
            frames = [(oid, self._encode_forward(dest, msg, control_of(oid), address))
                      for oid, dest, address in forwards]
            # the forwards are claimed (in_flight, attempt 1) in the block that journals
            # them and sent as soon as it is durable: no worker turn, no commit of their own
            # before they leave (a crash after the commit requeues them: at least once)
            j.mark_claimed(direct, now)
            return status, msn, frames, [j.row(oid) for oid in direct]

        return step

    def _direct_ok(self, target: str) -> bool:
        """A new row of ``target`` may be claimed in its own commit and sent directly: no
        row of the target waits in the queue before it, and no worker batch is being sent
        (so it cannot overtake them)."""
        return not (self._busy.get(target) or target in self._direct_off
                    or self.journal.has_queued(target))

    def _send_direct(self, target: str, rows: list[OutRow]) -> None:
        """Send rows claimed in the commit that journaled them (called once it is durable),
        in order, by one task per target; their ``sent``/``done`` step goes into a later
        group commit that nothing waits for."""
        if not rows:
            return
        pending = self._direct.get(target)
        if pending is not None:
            pending.extend(rows)
            return
        self._direct[target] = list(rows)
        self._spawn(self._drain_direct(target))

    async def _drain_direct(self, target: str) -> None:
        try:
            while True:
                rows = self._direct.get(target)
                if not rows:
                    return
                self._direct[target] = []
                if await self._send_rows(rows) < len(rows):
                    # one failed or waits: later rows queue behind it (the worker's order)
                    self._direct_off.add(target)
        finally:
            self._direct.pop(target, None)

    def _accepted_after(self, lk: LinkConfig, rx: Received, mnemonic: str | None,
                        msg: Message, codec: Codec, targets: list[Target],
                        deliveries: list[tuple[str, str, bytes]], payload: bytes, sha: str,
                        canonical: str, now: float, held: str | None = None) -> Any:
        """What happens once the message's transaction has committed (or failed)."""

        def after(ok: bool, value: Any) -> None:
            if not ok:
                fault = storage_error(value, store=JOURNAL,
                                      path=str(self.config.switch.journal))
                if fault is not None:
                    # nothing was stored: the sender is told so at once and sends it again
                    self.metrics_data.count("refused_storage")
                    self._spawn(self._reject(lk, rx, mnemonic, msg, Rejected(
                        STORE_UNAVAILABLE, STORE_REASONS[fault.kind], detail=str(fault)),
                        sha))
                elif isinstance(value, EncodeError):
                    # the message is fine but a destination's format cannot carry it: the
                    # sender gets .22., the operator the why (a config matter, usually)
                    detail = f"cannot encode for a destination: {value}"
                    log.warning("rejected: %s", detail, extra={"link": lk.name,
                                                               "origin": msg.origin})
                    self._spawn(self._reject(lk, rx, mnemonic, msg, Rejected(
                        INVALID_FORMAT, reason_for(INVALID_FORMAT, value),
                        detail=detail), sha))
                else:
                    self._internal_error(lk, payload, value)
                return
            status, msn, frames, claimed = value
            if held is not None and status == "new":
                self.metrics_data.count("quality_held")
                self._remember_request(StoredMessage(
                    msn=msn, received_at=now, kind="request", link=lk.name, peer=mnemonic,
                    origin=msg.origin, control=msg.control, sequence=msg.sequence,
                    mke=msg.mke, operator=msg.operator, codec=codec.name, sha256=sha,
                    payload=payload, canonical=canonical))
                if lk.ack and not self._ack_early:
                    self._spawn(self._send_ack(rx, codec, msg, msn))
                return
            if status == "conflict":
                self._spawn(self._reject(lk, rx, mnemonic, msg, Rejected(
                    DUPLICATE_MESSAGE, REASONS[DUPLICATE_MESSAGE]), sha))
                return
            if status == "retransmission":
                self.metrics_data.count("duplicate_ignored")
            else:
                self.metrics_data.count("accepted")
                self._remember_request(StoredMessage(
                    msn=msn, received_at=now, kind="request", link=lk.name, peer=mnemonic,
                    origin=msg.origin, control=msg.control, sequence=msg.sequence,
                    mke=msg.mke, operator=msg.operator, codec=codec.name, sha256=sha,
                    payload=payload, canonical=canonical))
                if len(self._frames) < _FRAME_CACHE:
                    self._frames.update(frames)
                elif claimed:
                    self._frames.update(f for f in frames if f[0] in {r.id for r in claimed})
                if self._quality is not None:
                    self._quality.remember(msn, msg)
                for r in claimed:
                    self._send_direct(r.target, [r])
                direct = {r.target for r in claimed}
                for t in targets:
                    if t.name not in direct:
                        self._wake_target(t.name)
                for link_name, _peer, _frame in deliveries:
                    self._wake_target(link_name)
            if lk.ack and not self._ack_early:
                self._spawn(self._send_ack(rx, codec, msg, msn))

        return after

    async def _send_ack(self, rx: Received, codec: Codec, msg: Message,
                        msn: int) -> None:
        ack = ack_message(fmt=codec.name, switch_ori=self.config.switch.ori, origin=msg.origin,
                          control=msg.control, sequence=msg.sequence, msn=msn)
        flagged = [w for w in msg.warnings if w.startswith("QUALITY ")]
        if flagged:  # text formats carry no warnings field: the flags follow the ACK's text
            ack.warnings, ack.text = flagged, "\n".join([ack.text or "", *flagged])
        with contextlib.suppress(EncodeError, LinkError, TimeoutError):
            frame = encode_for_origin(codec, ack, None, "ack")
            async with asyncio.timeout(self._send_timeout):
                await rx.reply(frame)
            self.metrics_data.count("acked")

    def _quality_step(self, msg: Message) -> tuple[Message, str | None]:
        """The quality checks with their policies (docs/quality.md): a ``reject`` flag is
        error 21 with the check's text; ``warn`` flags go into ``warnings`` (journal, audit,
        ACK); a ``hold`` flag adds that the message is held, and its reason is returned (the
        message is journaled, not forwarded: ``clets.switch.hold``).  The operator's text and
        fields are not touched."""
        assert self._quality is not None
        verdict = self._quality.inspect(msg, self._today())
        if not verdict.flags:
            return msg, None
        self.metrics_data.count("quality_flagged")
        if verdict.action == "reject":
            raise Rejected(INVALID_FIELD, verdict.reject_reason,
                           detail="; ".join(verdict.warnings)[:200])
        if verdict.action != "hold":
            return _with(msg, warnings=[*msg.warnings, *verdict.warnings]), None
        reason = verdict.reject_reason
        held = f"QUALITY HELD for a supervisor's review, not forwarded: {reason}"
        return _with(msg, warnings=[*msg.warnings, held, *verdict.warnings]), reason

    def _hold_reply(self, lk: LinkConfig, mnemonic: str | None, codec: Codec, msg: Message,
                    reason: str) -> tuple[str, str | None, bytes] | None:
        """The error answer a held message's origin gets if a supervisor rejects it, encoded
        now in the origin link's format (a stopped journal's command has no codecs)."""
        er = error_message(fmt=codec.name, switch_ori=self.config.switch.ori,
                           code=INVALID_FIELD, reason=reason, echo=None, origin=msg.origin,
                           control=msg.control)
        try:
            frame = encode_for_origin(codec, er, msg.mke, "switch")
        except EncodeError:
            log.error("no error answer writable in %s for a held message", codec.name,
                      extra={"link": lk.name})
            return None
        return lk.name, mnemonic, frame

    def _dedup_key(self, msg: Message, sha: str, message_id: str | None) -> str:
        # switch.md's order: what the sender says identifies the message (its control or
        # sequence) comes first, so a control repeated in another drop file is caught too;
        # the drop's own id (file hash + line) covers lines that carry neither
        if msg.control:
            return f"{msg.origin}|c|{msg.control}"
        if msg.sequence is not None:
            return f"{msg.origin}|s|{msg.sequence}"
        if message_id:
            return f"{msg.origin}|id|{message_id}"
        return f"{msg.origin}|h|{sha}"

    def _peer_deliveries(self, msg: Message, targets: list[Target]) -> list[tuple[str, str,
                                                                                   bytes]]:
        """AM to local peers: encode now, in each receiving link's codec."""
        out = []
        for t in targets:
            if t.kind != "peer":
                continue
            for lk in self.config.links_of_peer(t.name):
                codec = self._codec(lk.codec, lk.encoding)
                try:
                    frame = codec.encode(_with(msg, format=codec.name))
                except EncodeError as exc:
                    raise Rejected(INVALID_FORMAT, REASONS[INVALID_FORMAT]) from exc
                out.append((lk.name, t.name, frame))
        return out

    def _encode_forward(self, dest: DestinationConfig, msg: Message, control: str,
                        address: tuple[str, ...]) -> bytes:
        codec_name = dest.encode.get(msg.mke, dest.codec)
        codec = self._codec(codec_name, dest.encoding)
        out = _with(msg, format=codec.name, control=control,
                    mke=dest.mke_out.get(msg.mke, msg.mke))
        if address:
            out.destinations = list(address)
        return codec.encode(out)

    async def _reject(self, lk: LinkConfig, rx: Received, mnemonic: str | None,
                      msg: Message | None, rej: Rejected, sha: str) -> None:
        now = self.clock.time()
        # a full journal cannot take this record now: it is held and written when it can
        # (the refusal itself must not wait for the disk)
        self._audit_now(AuditEvent(
            rej.event, link=lk.name, peer=mnemonic or rx.peer.detail,
            operator=msg.operator if msg else None, origin=msg.origin if msg else None,
            mke=msg.mke if msg else None, outcome="rejected", error_code=rej.code,
            reason=(f"{rej.reason}: {rej.detail}" if rej.detail else rej.reason)[:200],
            bytes=len(rx.frame), sha256=sha), now)
        self.metrics_data.count("rejected")
        self.metrics_data.rejects[rej.code] += 1
        codec = self._codec(lk.codec, lk.encoding)
        encoding = _codec_encoding(codec, lk)
        lead_key, lead_ori, lead_control = ((None, None, None) if msg
                                            else _raw_header(rx.frame, codec, encoding))
        peer_ori = self._peer_ori(mnemonic, rx)
        origin = (msg.origin if msg else lead_ori) or peer_ori
        control = msg.control if msg else lead_control
        request_mke = msg.mke if msg else lead_key
        frame = self._reject_frame(codec, rej, rx.frame, encoding, origin, control,
                                   request_mke, peer_ori)
        if frame is None:  # no shape of an ER fits the codec: a bug to see, not a silence
            self.metrics_data.count("internal_error")
            log.error("reject .%02d. not writable in %s", rej.code, codec.name,
                      extra={"link": lk.name})
            return
        try:
            async with asyncio.timeout(self._send_timeout):
                await rx.reply(frame)
        except (LinkError, TimeoutError):
            pass  # the sender hung up or stopped reading: nobody is left to answer
        except EncodeError as exc:  # the link's framing cannot carry it (a multi-line ER
            # on ``line`` framing): a configuration matter the operator must see
            self.metrics_data.count("internal_error")
            log.error("reject .%02d. not sendable on link %s: %s", rej.code, lk.name, exc,
                      extra={"link": lk.name})

    def _peer_ori(self, mnemonic: str | None, rx: Received) -> str | None:
        """The ORI an answer goes to when the frame names none that can be read: one of the
        link's configured peer (config), else of the transport's identity (certificate)."""
        peer = self.config.peers.get(mnemonic) if mnemonic else None
        oris = (peer.oris if peer is not None else frozenset()) or rx.peer.allowed_oris
        return min(oris) if oris else None

    def _reject_frame(self, codec: Codec, rej: Rejected, raw: bytes, encoding: str | None,
                      origin: str | None, control: str | None, request_mke: str | None,
                      peer_ori: str | None) -> bytes | None:
        """The ``ER`` for a refused frame, in the first shape the sender's codec can write.

        The echo is the input as read, then (text formats and XML cannot carry a NUL, a
        control character or non-ASCII text) the printable echo, escaped byte for byte; then
        addressed to the peer's own ORI without the control (a header read from the raw bytes
        may be one the codec cannot write back); then without the echo; last, addressed to
        the switch itself (a link with no ORI of its peer, in a format that needs one).
        Every refused frame gets its answer: the sender is never left waiting for it.
        """
        cfg = self.config
        as_read = echo_of(raw, encoding)
        printable = echo_of(raw, encoding, printable=True)
        shapes: list[tuple[str | None, str | None, str | None]] = [(as_read, origin, control)]
        if printable != as_read:
            shapes.append((printable, origin, control))
        shapes += [(printable, peer_ori, None), (None, peer_ori, None),
                   (None, peer_ori or cfg.switch.ori, None)]
        for echo, to, ctl in shapes:
            er = error_message(fmt=codec.name, switch_ori=cfg.switch.ori, code=rej.code,
                               reason=rej.reason, echo=echo, origin=to, control=ctl)
            with contextlib.suppress(EncodeError):
                return encode_for_origin(codec, er, request_mke, "switch")
        return None

    # ------------------------------------------------------------------ answers

    async def _on_destination_frame(self, lk: LinkConfig, rx: Received) -> None:
        cfg = self.config
        now = self.clock.time()
        dests = [d for d in cfg.destinations.values() if d.link == lk.name]
        names: list[str] = []
        for d in dests:
            names += [n for n in d.decode if n not in names]
        if not names:
            names = [lk.codec]
        msg: Message | None = None
        error: DecodeError | None = None
        for name in names:
            try:
                msg = self._codec(name, lk.encoding if not dests else dests[0].encoding) \
                    .decode(rx.frame)
                break
            except DecodeError as exc:
                error = exc
        if msg is None:
            self.metrics_data.count("bad_response")
            self._audit_now(AuditEvent.for_payload(
                "rejected", rx.frame, link=lk.name, outcome="bad_response",
                error_code=INVALID_FORMAT, reason=str(error)[:100] if error else None), now)
            return
        if msg.control:
            row = self.journal.find_forward(msg.control)
        elif msg.mke.startswith("$.") or msg.mke == "AM":
            row = None
        else:
            # formats without a control on inquiries (ncic text): the oldest unanswered
            # forward on this link whose response key matches, else the oldest one
            # (answers of this turn not yet committed must count: commit them first)
            self._gc.flush()
            row = self.journal.oldest_unanswered([d.name for d in dests], msg.mke)
        if row is None or cfg.destinations.get(row.target) is None or \
                cfg.destinations[row.target].link != lk.name:
            self._until_stored(functools.partial(self._unsolicited, lk, rx, msg, now))
            return
        dest = cfg.destinations[row.target]
        req = self._request(row.msn)
        if req is None or req.link is None or req.link not in cfg.links:
            return
        late = row.status_sent != "" or row.state == "dead" or \
            (row.deadline_at is not None and now > row.deadline_at)
        codec, _olk = self._link_codec(req.link)
        resp = _with(msg, format=codec.name, control=req.control,
                     mke=dest.mke_in.get(msg.mke, msg.mke))
        if req.origin:
            resp.destinations = [req.origin]
        if late and "late" not in resp.warnings:
            resp.warnings = [*resp.warnings, "late"]
        cut: list[str] = []
        if self._quality is not None and resp.records:
            kept, cut = self._quality.screen_answer(resp, row.msn)
            if cut:  # sealed records never reach the requester; the notice says so
                resp.records, resp.warnings = kept, [*resp.warnings, *cut]
                resp.text = "\n".join([t for t in (resp.text,) if t] + cut)
        j = self.journal
        lost: EncodeError | None = None
        frame: bytes | None
        try:
            frame = encode_for_origin(codec, resp, req.mke, "answer")
        except EncodeError as exc:
            frame, lost = self._untranslatable_answer(codec, resp, req, rx.frame,
                                                      dest.encoding or lk.encoding, exc)
        origin_link, ttl = req.link, cfg.switch.ttl

        def step() -> tuple[int, OutRow | None]:
            responses = j.mark_response(row.id, now)
            if lost is not None:
                # the answer itself cannot reach the origin: it is a dead letter, and the
                # origin gets a .22. instead of waiting for a .02. that would mislead it
                j.audit(AuditEvent.for_payload(
                    "dead_letter", rx.frame, msn=row.msn, link=lk.name, peer=dest.name,
                    origin=req.origin, destination=row.target, mke=msg.mke,
                    outcome="undeliverable", error_code=INVALID_FORMAT,
                    reason=f"answer not convertible to {codec.name}: {lost}"[:100]), now)
            j.audit(AuditEvent.for_payload(
                "responded", rx.frame, msn=row.msn, link=lk.name, peer=dest.name,
                operator=req.operator, origin=req.origin, destination=row.target, mke=msg.mke,
                outcome=(msg.status or "answer") + (" late" if late else "")), now)
            if cut:
                j.audit(AuditEvent("quality", msn=row.msn, link=lk.name, peer=dest.name,
                                   operator=req.operator, origin=req.origin, mke=msg.mke,
                                   outcome="sealed_cut", reason="; ".join(cut)[:200]), now)
            claimed: OutRow | None = None
            if frame is not None:
                first = self._direct_ok(origin_link)
                oid = j.add_delivery(row.msn, origin_link, req.peer, resp.mke if lost is None
                                     else "ER", frame, now, now + ttl)
                if first:  # claimed in this block, sent once it is durable (as a forward)
                    j.mark_claimed([oid], now)
                    claimed = j.row(oid)
            for ev in self.hits.on_answer(msn=row.msn, link=origin_link, peer=req.peer,
                                          requester=req.origin, control=req.control,
                                          request_mke=req.mke, answer=msg, now=now):
                ev.operator = ev.operator or req.operator
                j.audit(ev, now)  # a hit starts a confirmation clock, a YR closes it
            self._save_hits_in_tx()
            return responses, claimed

        def after(ok: bool, value: Any) -> None:
            if not ok:
                self._internal_error(lk, rx.frame, value)
                return
            self.metrics_data.count("responded")
            if lost is not None:
                self.metrics_data.count("dead_letter")
            if late:
                self.metrics_data.count("late")
            responses, claimed = value
            if responses == 1:  # the first answer to this forward
                self.metrics_data.observe_latency(max(0.0, now - req.received_at))
            if claimed is not None:
                self._send_direct(origin_link, [claimed])
            else:
                self._wake_target(origin_link)

        # the answer to an accepted inquiry is kept until the journal has it
        self._submit_kept(step, after)

    def _submit_kept(self, step: Any, after: Any) -> None:
        """Submit ``step``; when the journal cannot write it (a storage error), hold it and
        submit it again once it can, else ``after(ok, value)``.

        Why a method and not ``after`` resubmitting itself: a closure that names itself is a
        reference cycle, freed only by the cyclic garbage collector -- one per answer was
        most of what the collector's full passes reclaimed, and those passes were the
        longest stalls of the event loop (docs/performance.md, "The tail at 1,000/s")."""
        def kept(ok: bool, value: Any) -> None:
            if not ok and storage_error(value, store=JOURNAL) is not None:
                self._hold(functools.partial(self._submit_kept, step, after))
                return
            after(ok, value)

        self._gc.submit(step, kept)

    def _until_stored(self, fn: Any) -> None:
        """Run ``fn`` (journal writes in a transaction of its own); when the journal cannot
        write, hold it and run it again once it can."""
        try:
            fn()
        except sqlite3.Error as exc:
            if self._storage_fault(exc) is None:
                raise
            self._hold(functools.partial(self._until_stored, fn))

    def _untranslatable_answer(self, codec: Codec, resp: Message, req: StoredMessage,
                               raw: bytes, encoding: str | None, exc: EncodeError
                               ) -> tuple[bytes | None, EncodeError | None]:
        """An answer the origin's codec refused: (frame to deliver, why it was not the answer).

        A wire without a sender field (ncic response text) gives an answer with no origin,
        which Nlets output must name: the switch, which relays it, is then the sender.  If the
        answer still cannot be written, the origin gets ``.22.`` with the answer's first 100
        characters, so the inquiry is not left to time out."""
        if resp.origin is None:
            with contextlib.suppress(EncodeError):
                return encode_for_origin(codec, _with(resp, origin=self.config.switch.ori),
                                         req.mke, "answer"), None
        for printable in (False, True):  # as read, then escaped to what any format carries
            er = error_message(fmt=codec.name, switch_ori=self.config.switch.ori,
                               code=INVALID_FORMAT, reason=REASONS[INVALID_FORMAT],
                               echo=echo_of(raw, encoding, printable=printable),
                               origin=req.origin, control=req.control)
            with contextlib.suppress(EncodeError):
                return encode_for_origin(codec, er, req.mke, "switch"), exc
        return None, exc

    def _unsolicited(self, lk: LinkConfig, rx: Received, msg: Message, now: float) -> None:
        """``$.`` notifications, AM and anything uncorrelated: to the peer owning the ORI."""
        cfg = self.config
        owners: list[str] = []
        for d in msg.destinations:
            owner = self._ori_owner.get(d) or (d if d in cfg.peers else None)
            if owner is not None and owner not in owners:
                owners.append(owner)
        sha = hashlib.sha256(rx.frame).hexdigest()
        deliveries: list[tuple[str, str, bytes]] = []
        for owner in owners:
            for olk in cfg.links_of_peer(owner):
                codec = self._codec(olk.codec, olk.encoding)
                with contextlib.suppress(EncodeError):
                    deliveries.append((olk.name, owner,
                                       codec.encode(_with(msg, format=codec.name))))
        with self.journal.tx():
            if not deliveries:
                self.journal.audit(AuditEvent.for_payload(
                    "dead_letter", rx.frame, link=lk.name, origin=msg.origin, mke=msg.mke,
                    destination=",".join(msg.destinations)[:100], outcome="undeliverable",
                    error_code=12, reason="unsolicited message for no local peer"), now)
                self.metrics_data.count("dead_letter")
                return
            msn = self.journal.insert_message(
                now=now, kind="unsolicited", link=lk.name, peer=None, origin=msg.origin,
                control=msg.control, sequence=msg.sequence, mke=msg.mke, operator=msg.operator,
                codec=msg.format, sha256=sha, payload=rx.frame, canonical=dumps(msg))
            self.journal.audit(AuditEvent.for_payload(
                "received", rx.frame, msn=msn, link=lk.name, origin=msg.origin, mke=msg.mke,
                outcome="unsolicited"), now)
            for link_name, owner, frame in deliveries:
                self.journal.enqueue_delivery(msn=msn, link=link_name, peer=owner, mke=msg.mke,
                                              frame=frame, now=now,
                                              expires_at=now + cfg.switch.ttl)
            self.journal.audit(AuditEvent.for_payload(
                "journaled", rx.frame, msn=msn, link=lk.name, origin=msg.origin, mke=msg.mke,
                destination=",".join(owners), outcome="accepted"), now)
        self.metrics_data.count("unsolicited")
        for link_name, _o, _f in deliveries:
            self._wake_target(link_name)

    # ------------------------------------------------------------------ workers

    async def _worker(self, target: str) -> None:
        """Send the due rows of one target.  A row is read only once committed (so nothing is
        forwarded before the commit that journaled it).  A forward's claim (``in_flight``,
        one more attempt) and its ``sent`` record go into the group commit; a delivery is
        marked ``done`` (with its attempt) in one step after the send.  Neither needs to be
        durable before the send: a crash before the commit leaves the row ``queued``, sent
        again on restart (a forward with the same control) -- exactly what recovery does with
        ``in_flight`` rows.  The worker reads its next batch only after that commit, so a row
        is never sent twice by one run."""
        ev = self._wake[target]
        j = self.journal
        while not self._stopping:
            if not self._journal_ok.is_set():
                # nothing sent now could be recorded as sent: wait for the journal
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await self._journal_ok.wait()
                continue
            ev.clear()
            now = self.clock.time()
            try:
                rows = j.due_rows(target, now, _SEND_BATCH)
            except (CletsError, sqlite3.Error):
                self.metrics_data.count("internal_error")
                rows = []
            if not rows:
                due = j.next_due(target)
                if due is None:  # nothing queued: new rows may go directly again
                    self._direct_off.discard(target)
                wait = self._poll if due is None else max(0.0, min(self._poll, due - now))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait if wait > 0 else 0.001):
                        await ev.wait()
                continue
            forwards = [r.id for r in rows if r.kind == "forward"]
            if forwards:  # deliveries count their attempt when marked done (or failed)
                self._gc.submit(functools.partial(j.mark_claimed, forwards, now))
            claimed = [r.claimed(now) for r in rows]
            self._busy[target] = self._busy.get(target, 0) + 1
            try:
                await self._send_rows(claimed)
                # the claims and outcomes of this batch are in the journal (run; with the
                # writer thread not necessarily durable yet) before the next read, so a row
                # is never read as queued again while its claim is pending
                await self._gc.applied()
            except (CletsError, sqlite3.Error) as exc:
                # a full journal: the loop waits for it (rows not marked are sent again)
                if storage_error(exc, store=JOURNAL) is None:
                    self.metrics_data.count("internal_error")
            finally:
                self._busy[target] -= 1

    async def _send_rows(self, rows: list[OutRow]) -> int:
        """Send claimed rows in order, then record them sent: one step (one audit record
        each, ``done`` for deliveries) in the next group commit, after the frames reached the
        transport.  The number of rows sent (the others failed, wait or were dropped)."""
        sent: list[tuple[OutRow, StoredMessage, bytes, str]] = []
        waiting: set[str | None] = set()  # peers whose connection took no more (LinkBusy)
        for row in rows:
            if row.kind == "deliver" and row.peer in waiting:
                # after an answer that waits, the later ones wait too (they stay in order)
                self._defer(row, "an earlier answer to this peer is waiting")
                continue
            item = await self._send_row(row, waiting)
            if item is not None:
                sent.append(item)
        if not sent:
            return 0
        # links batch the writes of a loop turn: write this batch now, so the frames are on
        # their sockets before their rows are marked done (a crash would otherwise lose
        # answers marked delivered) and leave without waiting for the end of the turn
        flush_deferred_writes()
        now = self.clock.time()
        j = self.journal

        def step() -> None:
            for row, req, frame, link_name in sent:
                if row.kind == "deliver":
                    j.mark_delivered(row.id, row.attempts, now)
                j.audit(AuditEvent.for_payload(
                    "forwarded" if row.kind == "forward" else "delivered", frame, msn=row.msn,
                    link=link_name, peer=row.peer, operator=req.operator, origin=req.origin,
                    destination=row.target, mke=row.mke, outcome="sent",
                    reason=f"attempt {row.attempts}" + (f" control {row.control}"
                                                        if row.control else "")), now)

        def after(ok: bool, value: Any) -> None:
            if not ok:
                if storage_error(value, store=JOURNAL) is None:
                    self.metrics_data.count("internal_error")
                return
            for row, req, _frame, _link in sent:
                if row.kind == "forward":
                    self.metrics_data.count("forwarded")
                    if row.attempts == 1:
                        self.metrics_data.observe("forward", max(0.0, now - req.received_at))
                else:
                    self.metrics_data.count("delivered")
                    self.metrics_data.observe("deliver", max(0.0, now - row.created_at))

        # lazy: these records release nothing (the rows were claimed in durable blocks), so
        # they ride in the next commit another step needs, not in one of their own
        self._gc.submit(step, after, lazy=True)
        return len(sent)

    async def _send_row(self, row: OutRow, waiting: set[str | None] | None = None
                        ) -> tuple[OutRow, StoredMessage, bytes, str] | None:
        """Hand one claimed row to its link; failures are retried or dead-lettered here."""
        cfg = self.config
        req = self._request(row.msn)
        if req is None:  # purged underneath us
            return None
        if row.kind == "forward":
            dest = cfg.destinations.get(row.target)
            if dest is None:
                self._dead(row, req, "destination no longer configured")
                return None
            link = self._links[dest.link]
            frame = self._frames.pop(row.id, None)
            if frame is None:  # after a restart, or evicted: from the journaled message
                stored = req if req.canonical else self.journal.message(row.msn)
                try:
                    if stored is None:
                        raise DecodeError("message not in the journal")
                    frame = self._encode_forward(dest, loads(stored.canonical),
                                                 row.control or "", row.address)
                except (EncodeError, DecodeError) as exc:
                    self._dead(row, req, f"cannot encode: {exc}"[:100])
                    return None
            send = link.send
            link_name = dest.link
        else:
            frame = row.frame or b""
            link_name = row.target
            link = self._links[link_name]
            send = self._replies.get((link_name, row.peer or "")) or link.send
        # ``==``: a bound method is a new object at each attribute access (``is`` never holds)
        on_link = send == link.send
        extra: dict[str, Any] = {}
        if row.kind == "deliver" and _takes(send, "on_lost"):
            # a connection cut before its peer took this answer queues it again
            extra["on_lost"] = functools.partial(self._requeue_lost, row)
        if row.kind == "deliver" and on_link and _takes(send, "peer"):
            extra["peer"] = row.peer  # a link of many peers: only that peer's connections
        if row.kind == "deliver" and _takes(send, "row_id"):
            extra["row_id"] = row.id  # the journal's id: an event id a client resumes from
        try:
            async with asyncio.timeout(self._send_timeout):
                await send(frame, **extra)
        except LinkBusy as exc:
            if row.kind != "deliver":
                self._failed(row, req, str(exc))
                return None
            # the peer's connection is full (not reading) or it has none: the answer waits
            # in the journal, its attempt not counted (its time to live still runs)
            if waiting is not None:
                waiting.add(row.peer)
            self._defer(row, str(exc))
            return None
        except (LinkError, StorageError, OSError, TimeoutError) as exc:
            if row.kind == "deliver" and not on_link:
                # the connection the request came on is gone: forget it, retry on the link
                self._replies.pop((link_name, row.peer or ""), None)
                if isinstance(exc, LinkError):  # not the peer's answer's fault: no attempt
                    if waiting is not None:
                        waiting.add(row.peer)
                    self._defer(row, str(exc))
                    return None
            self._failed(row, req, str(exc) or type(exc).__name__,
                         storage=isinstance(exc, StorageError))
            return None
        return row, req, frame, link_name

    def _defer(self, row: OutRow, why: str) -> None:
        """A delivery that waits in the journal for its peer's connection (full, or none):
        ``queued`` again shortly, the attempt not counted."""
        now = self.clock.time()
        j = self.journal
        self._gc.submit(functools.partial(
            j.mark_failed, row.id, now, error=why[:200], next_attempt_at=now + _DEFER_DELAY,
            attempts=max(0, row.attempts - 1)))

    def _requeue_lost(self, row: OutRow) -> None:
        """The link cut a connection before its peer's TCP acknowledged this answer (a reader
        that stopped reading, cut after its write deadline): the delivery is queued again.
        At least once: the peer may have read part of it, or all of it."""
        if self._journal is None:
            return
        now = self.clock.time()
        j = self.journal

        def step() -> None:
            j.mark_failed(row.id, now, error="connection cut before the peer took the answer",
                          next_attempt_at=now, attempts=row.attempts)
            req = self._requests.get(row.msn)
            j.audit(AuditEvent("delivery_failed", msn=row.msn, link=row.target,
                               operator=req.operator if req is not None else None,
                               destination=row.target, mke=row.mke, outcome="requeued",
                               reason="connection cut before the peer took the answer"), now)

        def after(ok: bool, _value: Any) -> None:
            self.metrics_data.count("delivery_failed" if ok else "internal_error")
            self._wake_target(row.target)

        if self._stopping:  # links close after the last group commit: write it now
            with contextlib.suppress(CletsError, sqlite3.Error), j.tx():
                step()
            return
        self._gc.submit(step, after)

    def _policy(self, row: OutRow) -> Any:
        dest = self.config.destinations.get(row.target) if row.kind == "forward" else None
        return dest.retry if dest else self.config.switch.retry

    def _failed(self, row: OutRow, req: StoredMessage, error: str, *,
                storage: bool = False) -> None:
        """A send that failed: retried after a backoff, or dead-lettered.  A ``storage``
        failure (the drop's disk is full) does not use up the retries -- it passes when the
        disk has room -- only the row's time to live."""
        now = self.clock.time()
        policy = self._policy(row)
        if (row.attempts >= policy.retries + 1 and not storage) or now >= row.expires_at:
            self._dead(row, req, f"{error} after {row.attempts} attempts")
            return
        delay = policy.delay(row.attempts, self.rng.random())
        j = self.journal

        def step() -> None:
            j.mark_failed(row.id, now, error=error[:200], next_attempt_at=now + delay,
                          attempts=row.attempts)
            j.audit(AuditEvent(
                "forward_failed" if row.kind == "forward" else "delivery_failed",
                msn=row.msn, link=self._link_name(row), origin=req.origin,
                operator=req.operator, destination=row.target, mke=row.mke, outcome="retry",
                reason=f"attempt {row.attempts}: {error}; next in {delay:.2f}s"[:200]), now)

        def after(ok: bool, _value: Any) -> None:
            self.metrics_data.count(("forward_failed" if row.kind == "forward"
                                     else "delivery_failed") if ok else "internal_error")

        # after the row's claim, in the same group commit
        self._gc.submit(step, after)

    def _link_name(self, row: OutRow) -> str:
        dest = self.config.destinations.get(row.target)
        return dest.link if (row.kind == "forward" and dest) else row.target

    def _dead(self, row: OutRow, req: StoredMessage, reason: str) -> None:
        now = self.clock.time()
        def after(ok: bool, value: Any) -> None:
            if not ok:
                self.metrics_data.count("internal_error")
            elif value:
                self.metrics_data.count("dead_letter")

        self._gc.submit(lambda: self._dead_in_tx(row, req, reason, now), after)

    def _dead_in_tx(self, row: OutRow, req: StoredMessage, reason: str, now: float) -> bool:
        """Dead-letter a row (caller holds the tx; journal writes only: a group-commit step
        may run twice, see batch.py -- the caller counts the metric once it committed).
        False when the row was dead already: no second record, no second ``.04.``."""
        fresh = self.journal.mark_dead(row.id, reason[:200], now, attempts=row.attempts)
        if fresh is None:
            return False
        self.journal.audit(AuditEvent(
            "dead_letter", msn=row.msn, link=self._link_name(row), origin=req.origin,
            operator=req.operator, destination=row.target, mke=row.mke, outcome="dead",
            error_code=NOT_AVAILABLE if row.kind == "forward" else None,
            reason=reason[:200]), now)
        if row.kind == "forward" and fresh.status_sent != "04":
            self._status_in_tx(row, req, NOT_AVAILABLE, now)
        return True

    def _status_in_tx(self, row: OutRow, req: StoredMessage, code: int, now: float) -> None:
        """Queue a ``.02.``/``.04.`` to the origin of ``req`` (caller holds the tx)."""
        self.journal.mark_status(row.id, f"{code:02d}")
        if req.link is None or req.link not in self.config.links:
            return
        codec, _lk = self._link_codec(req.link)
        sm = status_message(fmt=codec.name, switch_ori=self.config.switch.ori, code=code,
                            destination=row.target, origin=req.origin, control=req.control)
        try:
            frame = encode_for_origin(codec, sm, req.mke, "switch")
        except EncodeError:
            return
        self.journal.enqueue_delivery(msn=row.msn, link=req.link, peer=req.peer, mke="SM",
                                      frame=frame, now=now,
                                      expires_at=now + self.config.switch.ttl)
        self._wake_target(req.link)

    # ------------------------------------------------------------------ timers

    async def _timer(self) -> None:
        while not self._stopping:
            self._timer_wake.clear()
            try:
                if not self._journal_ok.is_set():
                    self._probe_journal()
                if self._journal_ok.is_set():
                    self._run_timers()
                    j = self.journal
                    if isinstance(j, LogJournal) and j.snapshot_due(self.clock.time()):
                        self._snap_wake.set()
            except CletsError:
                self.metrics_data.count("internal_error")
            except sqlite3.Error as exc:  # a full journal: probed at the next tick
                if self._storage_fault(exc) is None:
                    log.exception("timer failed")
                    self.metrics_data.count("internal_error")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._timer_wake.wait()

    #: seconds between two steps of a snapshot being written
    SNAPSHOT_STEP = 0.05

    async def _snapshots(self) -> None:
        """Write the log journal's snapshots (they move the low-water mark: a restart reads
        from there) a step at a time, ``SNAPSHOT_STEP`` apart while one is being written.

        Why steps: a snapshot holds every row and dedup key in memory; written at once it
        stalled the event loop for a third of a second at 1,000 inquiries/s.  A step is a
        few milliseconds, between two loop turns (docs/performance.md)."""
        j = self.journal
        assert isinstance(j, LogJournal)
        while not self._stopping:
            if j.snapshotting:
                await asyncio.sleep(self.SNAPSHOT_STEP)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await self._snap_wake.wait()
            self._snap_wake.clear()
            now = self.clock.time()
            if not self._journal_ok.is_set() or not j.snapshot_due(now):
                continue
            try:
                j.snapshot(now=now)
            except CletsError:
                self.metrics_data.count("internal_error")
            except sqlite3.Error as exc:  # a full journal: the timer probes it
                if self._storage_fault(exc) is None:
                    log.exception("snapshot failed")
                    self.metrics_data.count("internal_error")

    def _run_timers(self) -> None:
        now = self.clock.time()
        j = self.journal
        expired = 0
        with j.tx():
            for row in j.due_timeouts(now):
                req = j.message(row.msn)
                if req is None:
                    continue
                self._status_in_tx(row, req, NOT_RESPONDING, now)
                j.audit(AuditEvent("timeout", msn=row.msn, link=self._link_name(row),
                                   origin=req.origin, operator=req.operator,
                                   destination=row.target, mke=row.mke, outcome="pending",
                                   error_code=NOT_RESPONDING,
                                   reason=f"no answer within the deadline, {row.state}"), now)
                self.metrics_data.count("timeout")
            for row in j.expired(now):
                req = j.message(row.msn)
                if req is None:
                    continue
                expired += self._dead_in_tx(row, req, "time-to-live expired", now)
            j.forget_before(now - self.config.switch.dedup_window)
            self._retention_in_tx(now)
            reminded = self._hit_reminders_in_tx(now)
        if expired:
            self.metrics_data.count("dead_letter", expired)
        for link_name in reminded:
            self._wake_target(link_name)

    def _hit_reminders_in_tx(self, now: float) -> set[str]:
        """Deliver the reminders of hit confirmation clocks that ran out (hitconfirm.py)."""
        links: set[str] = set()
        for reminder, ev in self.hits.due(now):
            clock = reminder.clock
            if clock.link in self.config.links:
                codec, _lk = self._link_codec(clock.link)
                note = reminder_message(self.config.switch.ori, reminder, codec.name)
                try:
                    frame = encode_for_origin(codec, note, None, "switch")
                except EncodeError:
                    frame = None
                if frame is not None:
                    self.journal.add_delivery(clock.msn, clock.link, clock.peer, note.mke,
                                              frame, now, now + self.config.switch.ttl)
                    links.add(clock.link)
            self.journal.audit(ev, now)
        self._save_hits_in_tx()
        return links

    def _save_hits_in_tx(self) -> None:
        """Journal the hit confirmation clocks the last calls looked at (hitconfirm.py), in
        the transaction of their audit records: a restart rebuilds them (``start``)."""
        if self.hits.touched:
            for key, text in self.hits.take_touched():
                self.journal.hit_clock_set(key, text)

    #: seconds between two journal retention passes
    RETENTION_EVERY = 600.0

    def _retention_in_tx(self, now: float) -> None:
        """Delete delivered rows and their messages older than ``retain_days`` (batched).

        A small adapter box runs for years on a small disk: without this the journal only
        grows.  Open and dead rows are never purged; the audit trail is untouched and records
        each purge.
        """
        days = self.config.switch.retain_days
        if days <= 0 or now < self._next_retention:
            return
        rows, messages = self.journal.purge_delivered(now - days * 86400.0)
        # a full batch means more are due: come back at the next tick, not in ten minutes
        self._next_retention = now if rows >= PURGE_BATCH else now + self.RETENTION_EVERY
        if rows or messages:
            self.journal.audit(AuditEvent(
                "purged", outcome="ok",
                reason=f"retention: {rows} delivered queue rows and {messages} messages older "
                       f"than {days:g} days"), now)


def _takes(send: Any, name: str) -> bool:
    """Does this link's send take keyword ``name`` (``on_lost``: it reports a frame lost
    with its connection; ``peer``: a link of many peers, sent to one of them; ``row_id``:
    the delivery's journal row id, which the API link gives its clients as an event id)?"""
    key = (getattr(send, "__func__", send), name)
    known = _TAKES.get(key)
    if known is None:
        try:
            known = name in inspect.signature(send).parameters
        except (TypeError, ValueError):
            known = False
        with contextlib.suppress(TypeError):
            _TAKES[key] = known
    return known


_TAKES: dict[tuple[Any, str], bool] = {}


def encode_for_origin(codec: Codec, msg: Message, request_mke: str | None, kind: str) -> bytes:
    """Encode an answer, status, reject or ACK in the origin's codec, adapting its shape.

    Formats differ in what a switch message may look like: ``json`` and ``niem`` carry any
    canonical message; ``nlets`` carries ``SM``/``ACK`` as free text only; ``ncic`` text writes
    ``ER``/``SM``/``ACK`` under their own keys while its response profile lists them as
    ``switch_keys``, and otherwise in the response layout of the request's key (``QWR`` +
    ``.21. INVALID FIELD DOB``).  ``kind`` is ``answer`` (a destination's
    response), ``switch`` (ER/SM) or ``ack`` (never rewritten into a response key, where it
    would read as an answer).
    """
    try:
        return codec.encode(msg)  # the message as it is: what nearly every answer takes
    except EncodeError as exc:
        error = exc
    for candidate in _reshaped(msg, request_mke, kind):
        try:
            return codec.encode(candidate)
        except EncodeError:
            pass
    raise error


def _reshaped(msg: Message, request_mke: str | None, kind: str) -> Iterator[Message]:
    """The other shapes ``encode_for_origin`` tries, in order (made only when needed)."""
    if msg.error is not None and msg.text is not None:
        # ncic and niem carry a status as its error line alone (``.02. ... WILL FORWARD``)
        yield _with(msg, text=None)
    if kind in ("switch", "ack"):
        text = msg.text
        if text is None and msg.error is not None:
            text = f".{msg.error.code or 0:02d}. {msg.error.reason or ''}"
            if msg.error.echo:
                text += "\n" + msg.error.echo
        yield _with(msg, status=None, error=None, text=text)
    resp_key = f"{request_mke}R"
    if request_mke and kind != "ack" and msg.mke != resp_key:
        if kind == "switch":
            yield _with(msg, mke=resp_key, origin=None, text=None,
                        status=msg.status if msg.error else "error")
        else:
            yield _with(msg, mke=resp_key)


def _codec_encoding(codec: Codec, lk: LinkConfig) -> str | None:
    """The encoding a link's frames are read in: the codec's own (text and copybook codecs
    hold one), else the link's ``encoding``, else None (UTF-8: json, niem)."""
    enc = getattr(codec, "encoding", None)
    return enc if isinstance(enc, str) else lk.encoding


def _raw_header(frame: bytes, codec: Codec, encoding: str | None
                ) -> tuple[str | None, str | None, str | None]:
    """Key, ORI and control of a frame that did not decode: a JSON object's or NIEM
    document's own header fields when the link speaks one of those, else (or for what those
    lack) a text header at the start of the frame."""
    sniffed = {"json": sniff.json_header, "niem": sniff.niem_header}.get(codec.name)
    head = _leading_header(frame, encoding)
    if sniffed is None:
        return head
    own = sniffed(frame)
    if own[1] is None:  # no ORI of its own form: the text header, if there is one
        return head
    return own


#: the printable start of a frame, where a header can be read
_PRINTABLE_HEAD = re.compile(r"[\x20-\x7e\r\n]*")


def _leading_header(frame: bytes, encoding: str | None = None
                    ) -> tuple[str | None, str | None, str | None]:
    """Message key, ORI and control at the start of an undecodable text frame
    (``QW.CA0194200.*C1.``, Nlets ``QW.CA0194200.NV.*C1.``), so even a reject of unreadable
    input can be addressed, and correlated, in a text format's response layout.  Read in the
    link's encoding (EBCDIC links too) up to the first character that is not printable: a
    NUL or a UTF-8 name later in the frame does not hide the header before it."""
    try:
        text = frame[:80].decode(encoding or "ascii", "surrogateescape")
    except LookupError:
        text = frame[:80].decode("latin-1")
    m = _PRINTABLE_HEAD.match(text)
    head = m.group() if m else ""
    parts = head.split(".", 2)
    key = parts[0] if 1 <= len(parts[0]) <= 4 and parts[0].isalnum() and \
        parts[0].isupper() else None
    # the sender's own ORI as written, even malformed (.10. is about it): letters and digits
    ori = parts[1] if key and len(parts) > 1 and 1 <= len(parts[1]) <= 9 and \
        parts[1].isalnum() and parts[1].isascii() and parts[1].upper() == parts[1] else None
    ctl = _LEADING_CONTROL.match(head) if key else None
    return key, ori, (ctl.group(1) if ctl else None)


#: the control after the ORI (ncic) or after the destinations (Nlets input form)
_LEADING_CONTROL = re.compile(
    r"[A-Z0-9$\-]{1,4}\.[^.\n/]{1,9}\.(?:[A-Z0-9,]{2,}\.)?\*([A-Z0-9]{1,10})\.")


def _nothing() -> None:
    """A step that writes nothing: awaiting it waits for the steps submitted before it."""


def _with(msg: Message, **changes: Any) -> Message:
    """A SHALLOW copy of ``msg`` with some top-level fields replaced: nested values are
    shared, so callers replace fields (``out.warnings = [...]``), never mutate them in place.
    (It was a deep copy through canonical JSON: the biggest cost of a fan-out; then
    ``dataclasses.replace``, whose reflection still cost 3% of the switch.)"""
    return model_replace(msg, **changes)

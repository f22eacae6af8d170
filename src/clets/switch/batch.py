"""Group commit: every journal write of one event-loop turn in ONE transaction.

Why: with ``synchronous=FULL`` every commit is an fsync, and the switch used to make ~16
transactions per inquiry (accept; claim and audit per forward; answer; claim and done per
delivery).  Steps submitted while the loop runs one turn (a reader draining the frames that
arrived together, workers claiming and marking rows) are written together at the end of the
turn: one ``BEGIN IMMEDIATE`` ... ``COMMIT``.  Nothing waits longer than one loop turn, so a
lone message is committed as soon as before; under load a commit carries tens of messages.

A step that releases nothing may be submitted ``lazy`` (the record that a frame was sent, a
delivery marked done): it does not ask for a commit of its own but rides in the next one that
another step asks for, or after ``lazy_delay`` seconds at the latest.  Why: such a commit sat
between an inquiry's accept and its answers (the answers' commit waited for it), so each
inquiry paid for four sequential commits where two release anything.  A crash before a lazy
step is written leaves its row ``in_flight`` (claimed in an earlier block): the restart sends
it again, as it does any claim whose outcome was not written -- at least once, per hop.

The guarantee is unchanged: a step's continuation (``after``: the ACK, waking the worker that
forwards, the metrics) runs only once the transaction holding that step has COMMITTED.  One
step that fails (an answer that cannot be encoded, a storage error) is undone alone and
reported to its own continuation; if the commit itself fails every continuation of the batch
sees the error and nothing is released.

Steps run optimistically first, without savepoints (they cost two statements per step);
if one raises, that transaction is rolled back and the batch is run again
with one savepoint per step.  So a step may run twice: steps only write to the journal (and
compute), and leave metrics and wake-ups to their continuation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .logjournal import AnyJournal

__all__ = ["GroupCommit"]

log = logging.getLogger("clets.switch")

Op = Callable[[], Any]
Steps = list[tuple[Op, "After | None", "asyncio.Future[Any] | None"]]
#: ``after(ok, value)``: ``value`` is the step's result, or its exception when ``ok`` is False
After = Callable[[bool, Any], None]
#: ``on_outcome(failures, wrote)`` after each flush, before the continuations: the exceptions
#: of the steps that failed (all of them when the commit failed) and whether a transaction
#: that changed rows committed -- the switch's storage health reads the disk from these
Outcome = Callable[[list[BaseException], bool], None]


class _StepFailed(Exception):
    """A step raised during the optimistic run: the batch is run again, step by step."""


class GroupCommit:
    """Collects steps during a loop turn and commits them together (one event loop)."""

    def __init__(self, journal: AnyJournal, on_outcome: Outcome | None = None, *,
                 delay: float = 0.0, max_steps: int = 4096, threaded: bool = False,
                 lazy_delay: float = 0.05, gather: int = 0) -> None:
        self.journal = journal
        #: the log journal appends on its writer thread: a batch runs at once (its changes
        #: in memory), its records go in the block being built while the one before it is
        #: written, and its continuations run when that block is durable
        self.threaded = threaded and hasattr(journal, "start_writer")
        if self.threaded:
            journal.start_writer()  # type: ignore[union-attr]
        #: batches run, waiting for their block: (steps, results, the block's future)
        self._batches: list[tuple[Steps, list[tuple[bool, Any]], Any]] = []
        #: ``applied()`` futures, resolved when the next flush has run its steps
        self._applied: list[asyncio.Future[Any]] = []
        self._counted: Any = None
        #: the block future whose completion wakes the loop (``_run_threaded``)
        self._watched: Any = None
        #: seconds a batch waits for more steps (0: the end of this loop turn); a batch of
        #: ``max_steps`` is written at once
        self.delay = delay
        self.max_steps = max_steps
        #: with no ``delay``: event-loop turns a batch waits before it is written, each one
        #: a poll of the sockets (no timeout): frames that had already arrived when the batch
        #: began (a fan-out's other answers, a fraction of a millisecond behind the first)
        #: are read and join it, instead of queueing behind its fsync for one of their own
        self.gather = gather
        #: the gathering in progress (its token: a flush meanwhile ends it)
        self._gathering = 0
        #: seconds a batch of lazy steps only waits for a commit that another step asks for
        self.lazy_delay = lazy_delay
        self._lazy_timer: asyncio.TimerHandle | None = None
        #: steps pending that ask for a commit (not lazy)
        self._urgent = 0
        self._timer: asyncio.TimerHandle | None = None
        self.on_outcome = on_outcome
        self._steps: list[tuple[Op, After | None, asyncio.Future[Any] | None]] = []
        self._scheduled = False
        #: figures for the benchmark / docs: transactions and steps committed, and batches
        #: run a second time because a step failed
        self.commits = 0
        self.steps = 0
        self.retried = 0
        #: commits that wrote (each one fsync of the journal with synchronous=FULL)
        self.fsyncs = 0

    def __len__(self) -> int:
        """Steps not yet released: pending, or run and waiting for their block."""
        return len(self._steps) + sum(len(b[0]) for b in self._batches)

    def submit(self, op: Op, after: After | None = None, *, lazy: bool = False) -> None:
        """Run ``op`` in this turn's transaction; ``after`` once it committed (or failed).
        ``lazy``: in the next commit another step asks for (``lazy_delay`` at the latest)."""
        self._steps.append((op, after, None))
        if not lazy:
            self._urgent += 1
            self._schedule()
        elif len(self._steps) >= self.max_steps:
            self._urgent += 1  # a full batch is written now
            self._schedule()
        elif self._lazy_timer is None and not self._scheduled:
            self._lazy_timer = asyncio.get_running_loop().call_later(
                self.lazy_delay, self._lazy_due)

    def _lazy_due(self) -> None:
        self._lazy_timer = None
        if self._steps:
            self._urgent += 1
            if not self._scheduled:
                self._schedule()

    def call(self, op: Op) -> asyncio.Future[Any]:
        """Like ``submit``; the future resolves with ``op``'s result after the commit."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._steps.append((op, None, fut))
        self._urgent += 1
        self._schedule()
        return fut

    def applied(self) -> asyncio.Future[Any]:
        """A future resolved once the steps submitted so far have RUN (their changes in the
        journal's memory), committed or not: what a reader of the queues needs before it
        reads again.  Without a writer thread a step runs in its commit: as ``call``."""
        if not self.threaded:
            return self.call(_nothing)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._applied.append(fut)
        self._urgent += 1
        self._schedule()
        return fut

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            loop = asyncio.get_running_loop()
            if self.delay > 0:
                self._timer = loop.call_later(self.delay, self._flush_soon)
            elif self.gather > 0 and not (self.threaded
                                          and getattr(self.journal, "pending", None)):
                # (with a block in flight the steps run now, into the block built meanwhile)
                self._gathering += 1
                loop.call_soon(self._gather_turn, self._gathering, self.gather)
            else:
                loop.call_soon(self._flush_soon)
        elif self._timer is not None and len(self._steps) >= self.max_steps:
            self._timer.cancel()
            self._timer = None
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _gather_turn(self, token: int, left: int) -> None:
        """One of the turns a batch waits (``gather``): the loop polls its sockets between
        two of them, and the readers of what arrived run before the batch is written."""
        if token != self._gathering or not self._scheduled:
            return  # flushed meanwhile (a full batch, a synchronous flush)
        if left > 1 and len(self._steps) < self.max_steps:
            asyncio.get_running_loop().call_soon(self._gather_turn, token, left - 1)
        else:
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        """The scheduled flush (with a writer thread: the steps run now, their records go in
        the block built while the one before it is written)."""
        self.flush(wait=False)

    def _written(self, _fut: Any) -> None:
        """The writer thread finished a block: release the batches it holds, hand the next
        block to the writer."""
        if not _fut.cancelled():
            _fut.exception()  # retrieved here; the batch reads it from the block's future
        self._finish_done(wait=False)
        if self._urgent and not self._scheduled:
            self._schedule()
        elif self._steps and self._lazy_timer is None and not self._scheduled:
            self._lazy_timer = asyncio.get_running_loop().call_later(
                self.lazy_delay, self._lazy_due)

    def _finish_done(self, wait: bool) -> None:
        """Release the batches whose blocks are durable (or failed: undone, every
        continuation told), in order; ``wait``: all of them, after writing their blocks."""
        if not self._batches:
            return
        self.journal.settle(wait)  # type: ignore[union-attr]
        while self._batches and self._batches[0][2].done():
            steps, results, cf = self._batches.pop(0)
            exc = cf.exception()
            if exc is not None:
                log.error("journal commit failed: %s", exc)
                results = [(False, exc)] * len(steps)
            else:
                self.commits += 1
                self.steps += len(steps)
                if cf is not self._counted:  # one fsync per block, however many batches
                    self._counted = cf
                    self.fsyncs += 1
            self._outcome(results, exc is None)
            self._release(steps, results)

    def _outcome(self, results: list[tuple[bool, Any]], wrote: bool) -> None:
        if self.on_outcome is not None:
            try:
                self.on_outcome([v for ok, v in results if not ok], wrote)
            except Exception:
                log.exception("commit outcome hook failed")

    def flush(self, wait: bool = True) -> None:
        """Commit what is pending now (also called at stop, before the journal closes);
        ``wait``: a block in flight is finished first, and this batch is written here."""
        self._scheduled = False
        self._gathering += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if wait:
            self._finish_done(wait=True)
        steps, self._steps = self._steps, []
        self._urgent = 0
        if not steps and self._applied:
            applied, self._applied = self._applied, []
            for fut in applied:
                if not fut.done():
                    fut.set_result(None)
        if self._lazy_timer is not None:
            self._lazy_timer.cancel()
            self._lazy_timer = None
        if not steps:
            return
        if self.threaded and not wait:
            self._flush_threaded(steps)
            return
        changes = self.journal.conn.total_changes
        wrote = False
        try:
            try:
                results = self._run(steps, isolated=False)
            except _StepFailed:  # rolled back: again, each step in its own savepoint
                self.retried += 1
                results = self._run(steps, isolated=True)
        except Exception as exc:  # the commit failed: nothing is durable
            log.error("journal commit failed: %s", exc)
            results = [(False, exc)] * len(steps)
        else:
            self.commits += 1
            self.steps += len(steps)
            wrote = self.journal.conn.total_changes > changes
            if wrote:
                self.fsyncs += 1
        if self.on_outcome is not None:
            try:
                self.on_outcome([v for ok, v in results if not ok], wrote)
            except Exception:
                log.exception("commit outcome hook failed")
        self._release(steps, results)

    def _flush_threaded(self, steps: Steps) -> None:
        try:
            self._run_threaded(steps)
        finally:
            applied, self._applied = self._applied, []
            for fut in applied:
                if not fut.done():
                    fut.set_result(None)

    def _run_threaded(self, steps: Steps) -> None:
        j = self.journal
        try:
            try:
                j.defer = True  # type: ignore[union-attr]
                results = self._run(steps, isolated=False)
            except _StepFailed:
                self.retried += 1
                j.defer = True  # type: ignore[union-attr]
                results = self._run(steps, isolated=True)
        except Exception as exc:  # nothing written
            log.error("journal commit failed: %s", exc)
            self._outcome([(False, exc)] * len(steps), False)
            self._release(steps, [(False, exc)] * len(steps))
            return
        finally:
            j.defer = False  # type: ignore[union-attr]
        cf = j.pending  # type: ignore[union-attr]
        if cf is None:  # nothing written nor pending (reads of durable state): released now
            self.commits += 1
            self.steps += len(steps)
            self._outcome(results, False)
            self._release(steps, results)
            return
        # also a batch that wrote nothing waits: it may have read what is not yet durable
        self._batches.append((steps, results, cf))
        if cf is not self._watched:
            # one wake-up per block, however many batches it holds (each wake-up is a
            # hand-over from the writer thread: its GIL, a write to the loop's self-pipe)
            self._watched = cf
            cf.add_done_callback(functools.partial(_wake, asyncio.get_running_loop(),
                                                   self._written))

    def _run(self, steps: list[tuple[Op, After | None, asyncio.Future[Any] | None]], *,
             isolated: bool) -> list[tuple[bool, Any]]:
        """One transaction over ``steps``.  Not ``isolated``: the first failing step aborts
        the whole transaction (``_StepFailed``).  ``isolated``: each step in a savepoint, its
        failure kept as its result."""
        results: list[tuple[bool, Any]] = []
        j = self.journal
        with j.tx():
            for op, _after, _fut in steps:
                if not isolated:
                    try:
                        results.append((True, op()))
                    except Exception as exc:
                        raise _StepFailed from exc
                    continue
                try:
                    with j.savepoint():
                        results.append((True, op()))
                except Exception as exc:  # reported to the step's owner
                    results.append((False, exc))
        return results

    @staticmethod
    def _release(steps: list[tuple[Op, After | None, asyncio.Future[Any] | None]],
                 results: list[tuple[bool, Any]]) -> None:
        for (_op, after, fut), (ok, value) in zip(steps, results, strict=True):
            if after is not None:
                try:
                    after(ok, value)
                except Exception:  # one continuation must not stop the others
                    log.exception("continuation after commit failed")
            if fut is not None and not fut.done():
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)


def _wake(loop: asyncio.AbstractEventLoop, written: Callable[[Any], None], fut: Any) -> None:
    """On the writer thread: the block is written, the loop calls ``written`` in its next
    turn (directly: ``asyncio.wrap_future`` took two turns, its own future's callback one
    more); nothing if the loop is gone (a block finished after the switch stopped)."""
    if not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # closed in between
            loop.call_soon_threadsafe(written, fut)


def _nothing() -> None:
    """A step that writes nothing (``applied`` without a writer thread)."""

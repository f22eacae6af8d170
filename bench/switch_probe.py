"""Where the switch's tail latency goes: stalls of its event loop, timed from inside it.

``bench/switch.py --probe FILE`` starts ``clets run`` through this module, which installs,
before the switch starts:

* ``gc.callbacks``: every collection of Python's cyclic garbage collector, its generation,
  start and duration (a full collection walks every tracked object: a large in-memory state
  makes it long, and it runs in whatever callback allocated the object that triggered it);
* a timer around every event-loop callback (``asyncio.Handle._run``): the ones over
  ``--probe-min`` ms (default 1) with what they ran;
* timers around the journal's periodic work (snapshot, dedup expiry and eviction, the
  timer's pass, one block's append).

At exit (the bench stops the switch with SIGTERM) it writes one JSON object to FILE: every
event as ``[kind, start, seconds, what]``, ``start`` in ``time.monotonic()`` seconds (one
clock for every process on the machine: the bench's client stamps its inquiries with it, so
a slow inquiry can be matched to the stall it waited behind).  Not used by the switch itself:
a diagnostic for the benchmark only (it costs about a microsecond per callback).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

_now = time.monotonic
EVENTS: list[tuple[str, float, float, str]] = []
MIN = float(os.environ.get("CLETS_PROBE_MIN_MS", "1")) / 1000.0


def _gc_callback(phase: str, info: dict[str, Any],
                 _start: list[float] = [0.0, 0.0]) -> None:  # noqa: B006
    if phase == "start":
        _start[0], _start[1] = _now(), time.thread_time()
    else:
        t0 = _start[0]
        dt = _now() - t0
        cpu = time.thread_time() - _start[1]
        what = f"gen{info['generation']} collected {info['collected']} |cpu {cpu * 1e3:.1f}"
        if info["generation"] == 2:  # how many objects it walked (counted after it)
            what += f" tracked {len(gc.get_objects())}"
        EVENTS.append(("gc", t0, dt, what))


def _describe(handle: Any) -> str:
    cb = getattr(handle, "_callback", None)
    if cb is None:
        return "?"
    if isinstance(cb, functools.partial):
        cb = cb.func
    owner = getattr(cb, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}" \
            if frame is not None else ""
        return f"task {getattr(coro, '__qualname__', coro)} {where}"
    return str(getattr(cb, "__qualname__", cb))


def _timed_handle() -> None:
    orig = asyncio.events.Handle._run

    def _run(self: Any) -> None:
        t0, c0 = _now(), time.thread_time()
        orig(self)
        dt = _now() - t0
        if dt >= MIN:
            cpu = time.thread_time() - c0
            EVENTS.append(("callback", t0, dt, f"{_describe(self)} |cpu {cpu * 1e3:.1f}"))

    asyncio.events.Handle._run = _run  # type: ignore[method-assign]


def _wrap(owner: Any, name: str, label: str) -> None:
    fn: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*a: Any, **kw: Any) -> Any:
        t0, c0 = _now(), time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            dt = _now() - t0
            if dt >= MIN / 4:
                cpu = time.thread_time() - c0
                EVENTS.append((label, t0, dt, f"{name} |cpu {cpu * 1e3:.1f}"))

    setattr(owner, name, timed)


#: every block append: [start, seconds]; every step that asked for a commit: [submitted,
#: released] (the time it waited for the commit that holds it: its turn, the steps before
#: it, the block in flight, its own fsync)
APPENDS: list[tuple[float, float]] = []
WAITS: list[tuple[float, float]] = []


def _timed_commits() -> None:
    from clets.switch import batch, logstore

    append = logstore.SqliteLogStore.append

    def timed_append(self: Any, block: bytes, *, mark: bool = False) -> int:
        t0 = _now()
        try:
            return append(self, block, mark=mark)
        finally:
            APPENDS.append((t0, _now() - t0))

    logstore.SqliteLogStore.append = timed_append  # type: ignore[method-assign]
    submit = batch.GroupCommit.submit

    def timed_submit(self: Any, op: Any, after: Any = None, *, lazy: bool = False) -> None:
        if lazy:
            return submit(self, op, after, lazy=lazy)
        t0 = _now()

        def released(ok: bool, value: Any) -> None:
            WAITS.append((t0, _now()))
            if after is not None:
                after(ok, value)

        return submit(self, op, released, lazy=lazy)

    batch.GroupCommit.submit = timed_submit  # type: ignore[method-assign]


def _dump(path: str) -> None:
    with open(path, "w") as f:
        json.dump({"pid": os.getpid(), "gc_threshold": gc.get_threshold(),
                   "gc_stats": gc.get_stats(), "events": EVENTS, "appends": APPENDS,
                   "waits": WAITS, "switch_interval": sys.getswitchinterval()}, f)


def _census(path: str) -> None:
    """SIGUSR1: the objects the collector tracks, by type, into ``path``.census."""
    objs = gc.get_objects()
    census = Counter(type(o).__qualname__ for o in objs)
    sized = []
    for o in objs:
        if isinstance(o, (dict, list, set)) and len(o) > 1000:
            sized.append((len(o), type(o).__qualname__, repr(o)[:80]))
    del objs
    # what is cyclic garbage now (freed only by the collector): its types
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    garbage = Counter(type(o).__qualname__ for o in gc.garbage)
    fns = Counter(getattr(o, "__qualname__", "?") for o in gc.garbage
                  if type(o).__name__ == "function")
    gc.garbage.clear()
    gc.set_debug(0)
    with open(path + ".census", "a") as f:
        f.write(json.dumps({"at": _now(), "tracked": sum(census.values()),
                            "largest": sorted(sized, reverse=True)[:12],
                            "garbage": garbage.most_common(20),
                            "garbage_functions": fns.most_common(20),
                            "by_generation": [len(gc.get_objects(g)) for g in range(3)],
                            "frozen": gc.get_freeze_count(),
                            "types": census.most_common(30)}) + "\n")


def install(path: str) -> None:
    if os.environ.get("CLETS_PROBE_SWITCH_INTERVAL"):  # an experiment: the GIL's hand-over
        sys.setswitchinterval(float(os.environ["CLETS_PROBE_SWITCH_INTERVAL"]))
    if os.environ.get("CLETS_PROBE_GC_THRESHOLD"):  # an experiment: other thresholds
        gc.set_threshold(*map(int, os.environ["CLETS_PROBE_GC_THRESHOLD"].split(",")))
    signal.signal(signal.SIGUSR1, lambda *_: _census(path))
    gc.callbacks.append(_gc_callback)
    _timed_handle()
    from clets.switch import engine, journal, logjournal, logstore

    # experiments: the eviction per block, the checkpointer's period
    if os.environ.get("CLETS_PROBE_EVICT_PER_BLOCK"):
        logjournal.LogJournal.evict_per_block = int(os.environ["CLETS_PROBE_EVICT_PER_BLOCK"])
    if os.environ.get("CLETS_PROBE_CHECKPOINT_EVERY"):
        engine.CHECKPOINT_EVERY = float(os.environ["CLETS_PROBE_CHECKPOINT_EVERY"])

    def _run(self: Any) -> None:  # the checkpointer's loop, each checkpoint timed
        while not self._stop.wait(self._every):
            t0 = _now()
            res: Any = None
            try:
                res = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
            except Exception:
                self.errors += 1
            # its result: busy, frames in the WAL, frames checkpointed (the WAL restarts from
            # its start only when a checkpoint caught up with no commit in between)
            EVENTS.append(("checkpoint", t0, _now() - t0, f"wal_checkpoint |cpu 0 {res}"))

    journal.Checkpointer._run = _run  # type: ignore[method-assign]

    for name in ("snapshot", "forget_before", "_evict", "settle"):
        _wrap(logjournal.LogJournal, name, "journal")
    _wrap(logstore.SqliteLogStore, "append", "append")
    _timed_commits()
    _wrap(engine.Switch, "_run_timers", "timers")
    atexit.register(_dump, path)


if __name__ == "__main__":
    out, *rest = sys.argv[1:]
    install(out)
    sys.argv = ["clets", *rest]
    from clets.cli import main

    main()

"""A log journal's snapshot written a step at a time, with the switch's changes between its
steps (logjournal.py ``snapshot``): the fold from its mark is still the state in memory.

Why it must hold: each step writes the images of its rows, messages and dedup keys as they
are then, and every change after the snapshot's first block is also in the blocks after it,
where the fold's "last image wins".  Here random changes (new inquiries, claims, answers,
deliveries, a delivery queued again, dead letters and their purge, meta values, eviction past
the late horizon) run between random steps, with the steps made tiny so that a snapshot has
many; then the journal is reopened -- after the snapshot, or in the middle of one (as after a
crash: the previous mark stands) -- and its fold compared with the state it had."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clets.switch import Switch, audit, logjournal
from clets.switch.logjournal import LogJournal
from tests._switch_kit import Harness, eventually, qw, run_async
from tests.test_journal_log import _accept

OPS = ("accept", "answer", "deliver", "requeue", "dead", "purge", "meta", "evict", "step")


def _folded(j: LogJournal) -> dict[str, Any]:
    """What a fold must give back: every row but the done deliveries (a snapshot leaves them
    out; a restart has no connection to queue them again on), their messages, the dedup keys,
    dead letters, meta, counters and the audit head."""
    j.forget_before(0.0)  # done rows past the late horizon leave memory, as at a fold's end
    rows = {r.id: r for r in j.list_rows(limit=10**6)
            if not (r.kind == "deliver" and r.state == "done")}
    return {"rows": rows, "messages": {r.msn: j.message(r.msn) for r in rows.values()},
            "dedup": dict(j._dedup.items()), "dead": dict(j._dead), "meta": dict(j._meta),
            "counters": (j._last_msn, j._max_oid), "head": j.audit_head()}


def _apply(j: LogJournal, op: str, k: int, t: float, n: int) -> int:
    """One change (``k`` picks the row); returns the inquiries made so far."""
    rows = j.list_rows(limit=10**6)
    pick = rows[k % len(rows)] if rows else None
    if op == "step":
        j.snapshot()
        return n
    if op == "evict":
        j.forget_before(0.0)
        return n
    with j.tx():
        if op == "accept" or pick is None:
            n += 1
            _accept(j, n, t)
        elif op == "answer" and pick.kind == "forward" and pick.state in ("queued", "in_flight"):
            j.mark_claimed([pick.id], t)
            j.mark_response(pick.id, t)
        elif op == "deliver" and pick.kind == "deliver" and pick.state != "done":
            j.mark_delivered(pick.id, 1, t)
        elif op == "requeue" and pick.kind == "deliver" and pick.state == "done":
            j.mark_failed(pick.id, t, error="cut", next_attempt_at=t, attempts=1)
        elif op == "dead" and pick.state in ("queued", "in_flight"):
            j.mark_dead(pick.id, "ttl", t)
        elif op == "purge":
            j.purge_dead()
        elif op == "meta":
            j.meta_set(f"m{k % 3}", str(t))
    return n


@pytest.fixture
def tiny_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logjournal, "SNAPSHOT_ROWS", 2)
    monkeypatch.setattr(logjournal, "SNAPSHOT_CHUNK", 3)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=st.integers(3, 12),
       ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 1000)), max_size=40),
       finish=st.booleans())
def test_fold_from_a_snapshot_written_in_steps_is_the_state(
        tiny_steps: None, before: int, ops: list[tuple[str, int]], finish: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.db"
        j = LogJournal(path, late_horizon=5.0)
        n, t = 0, 100.0
        for _ in range(before):
            t += 1
            n = _apply(j, "accept", 0, t, n)
        j.snapshot()  # the first step: the first block, a row or two
        assert j.snapshotting
        for op, k in ops:
            t += 1
            n = _apply(j, op, k, t, n)
        if finish:
            while j.snapshotting:
                j.snapshot()
            assert j.store.low_water() > 0
        want = _folded(j)
        j.close()
        j2 = LogJournal(path, late_horizon=5.0)
        assert _folded(j2) == want
        assert audit.verify(j2.conn).ok
        j2.close()


def test_a_large_state_is_written_in_many_short_steps(tmp_path: Path,
                                                       tiny_steps: None) -> None:
    j = LogJournal(tmp_path / "j.db")
    with j.tx():
        for i in range(1, 21):
            _accept(j, i, 100.0)
    steps = 1
    while not j.snapshot():
        steps += 1
    # 40 rows at 2 a block (with their messages), then 20 keys at 3 a block
    assert steps >= 20
    want = _folded(j)
    j.close()
    j2 = LogJournal(tmp_path / "j.db")
    assert _folded(j2) == want
    j2.close()


@run_async
async def test_the_switch_snapshots_in_steps_and_restarts_from_the_mark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The running switch writes its snapshots in steps (its own task), the mark moves, and
    a restart from it still knows what it must: the dedup keys (a retransmission is only
    re-acknowledged) and the forwards still in flight (sent again, same control)."""
    monkeypatch.setattr(logjournal, "SNAPSHOT_EVERY", 0.0)  # due after any block
    monkeypatch.setattr(logjournal, "SNAPSHOT_ROWS", 2)
    monkeypatch.setattr(logjournal, "SNAPSHOT_CHUNK", 3)
    monkeypatch.setattr(Switch, "SNAPSHOT_STEP", 0.001)
    journal = tmp_path / "j.db"
    h1 = Harness(tmp_path, journal=journal, dests=("WPS",))
    await h1.switch.start()
    j = h1.switch.journal
    if not isinstance(j, LogJournal):
        await h1.switch.stop(drain=False)
        pytest.skip("the SQLite journal has no snapshots")
    frames = [qw(control=f"S{i}") for i in range(6)]
    for f in frames:
        await h1.send("lapd", f)
    acks = [await h1.recv_until("lapd", "ACK") for _ in frames]
    forwards = [await h1.recv("wps") for _ in frames]
    for fwd in forwards[:3]:  # half answered, half left in flight
        await h1.answer("WPS", fwd)
    for _ in range(3):
        await h1.recv("lapd")
    blocks = j.store.appends
    await eventually(lambda: j.snapshots >= 1 and j.store.appends > blocks + 3)
    mark = j.store.low_water()
    assert mark > 0
    await h1.switch.stop(drain=False)

    h2 = Harness(tmp_path, journal=journal, dests=("WPS",))
    await h2.switch.start()
    try:
        again = {m.control for m in [await h2.recv("wps") for _ in range(3)]}
        assert again == {f.control for f in forwards[3:]}  # same switch controls
        await h2.send("lapd", frames[0])  # a retransmission: re-acknowledged only
        assert (await h2.recv("lapd")).text == acks[0].text
        await h2.switch.tick()
        assert h2.pending("wps") is None
        assert audit.verify(h2.switch.journal.conn).ok
    finally:
        await h2.switch.stop(drain=False)

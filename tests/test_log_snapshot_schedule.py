"""The log journal's snapshot schedule spans restarts, so what a restart folds is bounded by
open work, one snapshot period and the dedup window -- not by all the traffic since the last
snapshot that happened to finish.

Why: the soak (docs/performance.md, "Soak") SIGKILLs ``clets run`` every minute.  The
schedule counted 60 s and 20,000 blocks from each process's start, so a run was killed before
its own snapshot was due or finished: the low-water mark stayed where the first life left it,
every restart folded every block since (dedup keys of the whole time among them) and each
life's peak RSS rose with the total traffic.  Now the blocks since the mark and the mark's
time (the switch's clock, in its ``S`` record) are read back by the fold.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from clets.switch import logjournal
from clets.switch.engine import Switch
from clets.switch.logjournal import LogJournal
from tests._crash_kit import read_only_value
from tests._switch_kit import Harness, qw, run_async
from tests.test_journal_log import _accept

pytestmark = pytest.mark.timeout(120)

LIVES, PER_LIFE = 4, 45


def _mark(path: Path) -> int:
    v = read_only_value(path, "SELECT value FROM log_meta WHERE key = 'low_water'")
    return 0 if v is None else int(v)


def _blocks(path: Path) -> int:
    return int(read_only_value(path, "SELECT COUNT(*) FROM log"))


async def _inquiry(h: Harness, tag: str) -> None:
    """One QW answered by NCIC: its ACK and its answer reach the origin; a second of the
    switch's clock passes (a timer tick: timeouts, dedup expiry, the snapshot check)."""
    await h.send("lapd", qw(control=tag))
    await h.recv_until("lapd", "ACK")
    fwd = await h.recv("ncic")
    await h.answer("NCIC", fwd)
    await h.recv_until("lapd", "QWR")
    await h.advance(1.0)


@run_async
async def test_lives_shorter_than_the_snapshot_period_still_move_the_mark(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the snapshot task steps in real time (50 ms apart); a life here is a fraction of a
    # second of real time, so its steps are made to fit in one
    monkeypatch.setattr(Switch, "SNAPSHOT_STEP", 0.001)
    journal = tmp_path / "j.db"
    now = 0.0  # the switch's clock goes on across lives (a ManualClock per life)
    marks: list[int] = []
    replayed: list[int] = []
    for life in range(LIVES):
        h = Harness(tmp_path, dests=("NCIC",), journal=journal)
        h.clock.advance(now)
        await h.switch.start()
        j = h.switch.journal
        assert isinstance(j, LogJournal)
        replayed.append(j.replayed)
        for i in range(PER_LIFE):  # 45 s of the switch's clock: less than a snapshot period
            await _inquiry(h, f"L{life}N{i}")
        now = h.clock.time() - 1_750_000_000.0
        await h.switch.stop(drain=False)  # a kill: nothing more is written
        marks.append(_mark(journal))
    # each life after the first found a mark older than the period (or none) and moved it
    assert marks[0] == 0  # a new journal, 45 s: no snapshot due yet
    assert all(b > a for a, b in itertools.pairwise(marks[1:])), marks
    assert marks[-1] > 0, marks
    # a restart folds about one period of log (two lives here), not every block so far
    total = _blocks(journal)
    assert max(replayed[2:]) < total // 2, (replayed, total)

    # the dedup window passes; one more inquiry and a tick: keys and done rows of the K
    # inquiries leave memory and the snapshot, and the fold holds only the last one's
    h = Harness(tmp_path, dests=("NCIC",), journal=journal)
    h.clock.advance(now + 700.0)
    await h.switch.start()
    await _inquiry(h, "LAST")
    await h.advance(40.0)  # past the late horizon of the last answer
    await h.advance(61.0)
    for _ in range(5):  # the snapshot's key blocks, one per tick
        await h.advance(1.0)
    await h.switch.stop(drain=False)
    j2 = LogJournal(journal, readonly=True, dedup_window=600.0)
    try:
        counts = j2.memory_counts()
        assert counts["dedup"] <= 1 and counts["open"] == 0, counts
        assert counts["rows"] <= 2 and counts["messages"] <= 1, counts
        assert j2.replayed <= 10, (j2.replayed, _blocks(journal))
    finally:
        j2.close()


def test_blocks_since_the_mark_count_across_reopens(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The block count of the schedule is the log's since the mark, not the process's."""
    monkeypatch.setattr(logjournal, "SNAPSHOT_BLOCKS", 25)
    path = tmp_path / "j.db"
    j = LogJournal(path)
    assert not j.snapshot_due(100.0)  # a new journal: its period starts now
    for i in range(10):
        with j.tx():
            _accept(j, i, 100.0)
    assert j.snapshot(whole=True, now=100.0) > 0
    due: list[bool] = []
    for life in range(4):  # 10 blocks a life, the clock stopped: only the count can say
        j.close()
        j = LogJournal(path)
        for i in range(10):
            with j.tx():
                _accept(j, 100 + life * 10 + i, 100.0)
        due.append(j.snapshot_due(100.0))
        if due[-1]:
            j.snapshot(whole=True, now=100.0)
    j.snapshot(whole=True, now=100.0)
    j.close()
    assert due == [False, False, True, False], due
    j = LogJournal(path)  # nothing since the mark: no snapshot of the same state again
    assert j.replayed == 2 and not j.snapshot_due(10_000.0)
    j.close()


def test_the_fold_drops_dedup_keys_past_the_window(tmp_path: Path) -> None:
    """Blocks after the mark hold keys set long ago: a fold that knows the window does not
    load them (the first timer tick would drop them; the fold's peak would hold them)."""
    path = tmp_path / "j.db"
    j = LogJournal(path)
    for i in range(50):
        with j.tx():
            _accept(j, i, 1000.0 + i)
    with j.tx():
        _accept(j, 99, 2000.0)  # 950 s after the last of them
    j.close()
    old = LogJournal(path, readonly=True)
    assert len(old._dedup) == 51
    old.close()
    j2 = LogJournal(path, readonly=True, dedup_window=600.0)
    try:
        assert len(j2._dedup) == 1
        status, _msn = j2.check_duplicate(next(iter(j2._dedup.keys())), "0" * 64, 2000.0,
                                          600.0)
        assert status == "conflict"  # the kept key still counts
    finally:
        j2.close()


def test_the_fold_keeps_no_done_delivery_and_shares_the_rows_names(tmp_path: Path) -> None:
    """Within the late horizon the fold keeps the done forwards (a second answer finds its
    request) but not the done deliveries (no connection of this run can queue them again,
    and a snapshot does not hold them either); the names the rows repeat are one string each.
    """
    path = tmp_path / "j.db"
    j = LogJournal(path)
    ids: list[tuple[int, int, int]] = []
    for i in range(40):
        with j.tx():
            ids.append(_accept(j, i, 100.0))
    with j.tx():
        for _msn, f, d in ids[:30]:
            j.mark_claimed([f], 101.0)
            j.mark_response(f, 101.0)
            j.mark_delivered(d, 1, 101.0)
    with j.tx():  # a delivery done, then queued again (its connection was cut)
        j.mark_failed(ids[0][2], 102.0, error="connection cut", next_attempt_at=102.0,
                      attempts=1)
    j.close()
    j2 = LogJournal(path, readonly=True)
    try:
        rows = {r.id: r for r in j2.list_rows(limit=1000)}
        delivered = {d for _m, _f, d in ids[1:30]}
        assert not delivered & rows.keys()
        assert rows[ids[0][2]].state == "queued" and rows[ids[0][2]].frame == b"ack0"
        assert all(rows[f].state == "done" for _m, f, _d in ids[:30])
        assert len(rows) == 40 + 1 + 10  # the forwards, the one queued again, 10 open
        assert j2.memory_counts()["messages"] == 40
        a, b = rows[ids[1][1]], rows[ids[2][1]]
        assert a.target is b.target and a.state is b.state and a.kind is b.kind
    finally:
        j2.close()


def test_keys_of_a_snapshot_written_after_newer_ones_still_expire(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A snapshot's keys go one block per tick, and keys set meanwhile are in blocks between
    them: the fold must still expire the snapshot's (older) keys first.  They stayed behind
    the newer ones in the expiry order, so each restart kept keys past their window for good
    (the soak: 220,000 keys in memory 700 s in, where 600 s hold 187,000)."""
    monkeypatch.setattr(logjournal, "SNAPSHOT_CHUNK", 10)
    path = tmp_path / "j.db"
    j = LogJournal(path)
    for i in range(50):
        with j.tx():
            _accept(j, i, 100.0)
    assert j.snapshot(now=100.0) == 0  # its first block and 10 of the 50 keys
    with j.tx():
        _accept(j, 99, 650.0)  # set while the snapshot's other keys wait for their ticks
    while j.snapshot(now=650.0) == 0:
        pass
    j.close()
    j2 = LogJournal(path)
    try:
        assert len(j2._dedup) == 51
        assert j2.forget_before(200.0) == 50 and len(j2._dedup) == 1
    finally:
        j2.close()
    j3 = LogJournal(path, readonly=True, dedup_window=500.0)  # the fold expires them itself
    try:
        assert len(j3._dedup) == 1
    finally:
        j3.close()

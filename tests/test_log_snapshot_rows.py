"""What a log journal's snapshot holds of the done rows: the forwards within the late horizon
(a second answer after a restart finds its request), not the done deliveries (only a
connection of the run that delivered them could queue them again) -- and a done delivery that
IS queued again after the snapshot keeps its frame through a restart from the mark."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.switch import audit, logjournal
from clets.switch.logjournal import LogJournal
from tests.test_journal_log import _accept, _state


def test_snapshot_keeps_done_forwards_not_done_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = LogJournal(path)
    with j.tx():
        _msn, f, d = _accept(j, 1, 100.0)
        _msn2, f2, d2 = _accept(j, 2, 100.0)
        j.mark_claimed([f, f2], 101.0)
        j.mark_response(f, 102.0)  # the forward done: within the late horizon
        j.mark_delivered(d, 1, 102.0)
        j.mark_delivered(d2, 1, 102.0)
    assert j.snapshot(whole=True) > 0
    with j.tx():  # the connection of d2 was cut before its peer took it: queued again
        j.mark_failed(d2, 103.0, error="connection cut", next_attempt_at=103.0, attempts=1)
    j.close()
    j2 = LogJournal(path)
    assert j2.replayed == 3  # the snapshot (rows, keys) and the block after it
    states = {r.id: (r.state, r.frame) for r in j2.list_rows(limit=100)}
    assert states[f] == ("done", None) and states[f2][0] == "in_flight"
    assert d not in states  # a done delivery: not in the snapshot
    assert states[d2] == ("queued", b"ack2")  # queued again after it: with its frame
    assert j2.message(_msn) is not None and audit.verify(j2.conn).ok
    j2.close()


def test_a_snapshot_of_many_rows_goes_in_blocks_and_folds_to_the_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows go ``SNAPSHOT_ROWS`` a block, one block per call, as the keys do (no block of
    15 MB at once); rows changed or created between the calls, and a kill before the last
    block (the previous mark stays), fold to the same state."""
    monkeypatch.setattr(logjournal, "SNAPSHOT_ROWS", 4)
    path = tmp_path / "j.db"
    j = LogJournal(path)
    ids = []
    for i in range(10):
        with j.tx():
            ids.append(_accept(j, i, 100.0))
    assert j.snapshot(whole=True, now=100.0) > 0  # the mark a kill falls back to
    mark0 = j.store.low_water()
    assert j.snapshot(now=101.0) == 0  # the first block: counters, head, 4 of 20 rows
    with j.tx():  # between two blocks of the snapshot: a row it has yet to write changes
        j.mark_claimed([ids[9][1]], 101.5)
        _accept(j, 10, 101.5)
    assert j.snapshot(now=101.0) == 0 and j.store.low_water() == mark0
    before = _state(j)
    j.close()  # killed in the middle: the previous mark, and every block after it
    j1 = LogJournal(path)
    assert j1.store.low_water() == mark0 and _state(j1) == before
    calls = 0
    while j1.snapshot(now=102.0) == 0:
        calls += 1
    assert calls >= 20 // 4
    before = _state(j1)
    assert j1.row(ids[9][1]).state == "in_flight"
    j1.close()
    j2 = LogJournal(path)
    assert j2.store.low_water() > mark0 and _state(j2) == before
    assert audit.verify(j2.conn).ok
    j2.close()

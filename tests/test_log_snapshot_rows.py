"""What a log journal's snapshot holds of the done rows: the forwards within the late horizon
(a second answer after a restart finds its request), not the done deliveries (only a
connection of the run that delivered them could queue them again) -- and a done delivery that
IS queued again after the snapshot keeps its frame through a restart from the mark."""

from __future__ import annotations

from pathlib import Path

from clets.switch import audit
from clets.switch.logjournal import LogJournal
from tests.test_journal_log import _accept


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

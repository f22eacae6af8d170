"""Queue row transitions that race with the timers."""

from __future__ import annotations

from pathlib import Path

from clets.switch.journal import Journal


def test_a_row_dead_lettered_while_being_sent_ends_as_what_happened(tmp_path: Path) -> None:
    """The timer may expire a delivery the worker has in hand.  Sent after all: delivered
    (and out of the dead letters).  Failed: dead, not queued again."""
    j = Journal(tmp_path / "j.db")
    with j.tx():
        msn = j.insert_message(now=1.0, kind="request", link="l", peer="P", origin="CA0194200",
                               control="C", sequence=None, mke="QW", operator=None,
                               codec="json", sha256="0" * 64, payload=b"x", canonical="{}")
        sent = j.add_delivery(msn, "lapd", "LAPD", "QWR", b"a", 1.0, 5.0)
        failed = j.add_delivery(msn, "lapd", "LAPD", "QWR", b"b", 1.0, 5.0)
        live = j.add_delivery(msn, "lapd", "LAPD", "QWR", b"c", 1.0, 5.0)
        # the timer expires two of them while the worker has them in hand ...
        j.mark_dead(sent, "time-to-live expired", 6.0)
        j.mark_dead(failed, "time-to-live expired", 6.0)
        # ... then the worker's outcomes arrive
        j.mark_delivered(sent, 1, 6.1)
        j.mark_failed(failed, 6.1, error="refused", next_attempt_at=7.0, attempts=1)
        j.mark_delivered(live, 1, 6.1)
    assert j.row(sent).state == "done" and j.dead_reason(sent) is None
    assert j.row(failed).state == "dead" and j.dead_reason(failed) == "time-to-live expired"
    assert j.row(live).state == "done" and j.row(live).attempts == 1
    # so a retention purge of delivered rows never meets a dead letter pointing at one
    assert j.purge_delivered(100.0) == (2, 0)
    j.close()

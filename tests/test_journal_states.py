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


def test_a_forward_whose_ttl_ran_out_during_a_hung_send_is_dead_lettered_once(
        tmp_path: Path) -> None:
    """The timer dead-letters the row (and queues the ``.04.``) while its send hangs; when the
    send then times out, nothing more happens: one dead letter, one ``.04.``."""
    import asyncio

    from clets.switch.audit import records
    from tests._switch_kit import Harness, qw, run_async

    @run_async
    async def scenario() -> None:
        async with Harness(tmp_path, dests=("NCIC",)) as h:
            h.switch._send_timeout = 0.5
            released = asyncio.Event()

            async def hangs(frame: bytes) -> None:
                await released.wait()

            h.switch._links["ncic"].send = hangs  # type: ignore[method-assign]
            await h.send("lapd", qw(control="H1"))
            assert (await h.recv("lapd")).mke == "ACK"
            await asyncio.sleep(0.1)  # the worker has claimed the forward and is sending
            await h.advance(601)  # past the deadline (.02.) and the ttl (dead letter, .04.)
            codes = [(await h.recv_until("lapd", "SM")).error for _ in range(2)]
            assert [e.code if e else None for e in codes] == [2, 4]
            await asyncio.sleep(0.8)  # the hung send times out
            await h.advance(1)
            await asyncio.sleep(0.2)
            assert h.pending("lapd") is None, "a second .04. for the same forward"
            recs = records(h.switch.journal.conn)
            assert sum(r["event"] == "dead_letter" for r in recs) == 1
            assert h.switch.metrics_data.messages["dead_letter"] == 1
            released.set()

    scenario()


def test_retry_restarts_a_forwards_answer_deadline(tmp_path: Path) -> None:
    """``clets queue retry`` on a dead forward: its deadline counts from the retry, so the
    origin is not sent a ``.02.`` the moment the row is queued again."""
    j = Journal(tmp_path / "j.db")
    with j.tx():
        msn = j.insert_message(now=1.0, kind="request", link="l", peer="P", origin="CA0194200",
                               control="C", sequence=None, mke="QW", operator=None,
                               codec="json", sha256="0" * 64, payload=b"x", canonical="{}")
        fwd = j.add_forward(msn, "NCIC", "QW", (), 1.0, 31.0, 601.0)
        delivery = j.add_delivery(msn, "lapd", "LAPD", "QWR", b"a", 1.0, 5.0)
        j.mark_dead(fwd, "time-to-live expired", 700.0)
        j.mark_dead(delivery, "time-to-live expired", 700.0)
    with j.tx():
        again = j.retry(fwd, 1000.0, 600.0)
        back = j.retry(delivery, 1000.0, 600.0)
    assert again.state == "queued" and again.deadline_at == 1030.0
    assert again.expires_at == 1600.0 and again.status_sent == ""
    assert back.deadline_at is None
    assert j.due_timeouts(1029.0) == []
    j.close()

"""Hit confirmation in the switch (switch/hitconfirm.py): a hit on a wanted person, stolen
vehicle or protection order starts NCIC's clock (10 minutes urgent, one hour routine), a YQ
runs it with its priority, the YR closes it, a clock that runs out sends the origin a
reminder, and every step is audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.model import Case, Message, Name, Person, Record, dumps
from clets.switch.audit import records
from clets.switch.hitconfirm import HitConfirmations
from tests._switch_kit import Harness, qw, run_async

pytestmark = pytest.mark.timeout(30)

NIC = "W123456789"


def _hit(nic: str = NIC, file: str = "wanted") -> Message:
    rec = Record(file=file, person=Person(name=Name("SMITH", "JOHN", "J")), ori="CA0190000",
                 case=Case(oca="24-1", nic=nic))
    return Message(format="json", mke="QWR", status="hit", records=[rec])


def _yq(priority: str = "U", rno: str = "1", nic: str = NIC) -> Message:
    return Message(format="json", mke="YQ", origin="CA0194200", destinations=["CA0190000"],
                   control="Y" + rno, case=Case(oca="24-1", nic=nic),
                   fields={"RTY": "WP", "RNO": rno, "PRI": priority})


def test_a_hit_starts_the_clock_and_a_yq_sets_its_priority() -> None:
    hc = HitConfirmations()
    ev = hc.on_answer(msn=1, link="lapd", peer="LAPD", requester="CA0194200", control="C1",
                      request_mke="QW", answer=_hit(), now=1000.0)
    assert [e.outcome for e in ev] == ["clock_started"]
    assert ev[0].destination == "CA0190000" and "10 minutes" in (ev[0].reason or "")
    assert hc.next_due() == 1600.0
    ev = hc.on_request(_yq("R"), now=1100.0)
    assert [e.outcome for e in ev] == ["requested"] and hc.next_due() == 1100.0 + 3600
    assert hc.due(1100.0 + 3599) == []
    (reminder, rev), = hc.due(1100.0 + 3600)
    assert rev.outcome == "reminder" and "SEND YQ RNO/2" in reminder.text
    assert "NIC/W123456789" in reminder.text and "1 HOUR" in reminder.text
    ev = hc.on_answer(msn=2, link="lapd", peer="LAPD", requester="CA0194200", control="Y1",
                      request_mke="YQ", answer=Message(mke="YR", status="hit",
                                                       case=Case(nic=NIC)), now=9000.0)
    assert [e.outcome for e in ev] == ["confirmed"] and hc.open == {}


def test_records_that_need_no_confirmation_start_no_clock() -> None:
    hc = HitConfirmations()
    for file in ("registration", "criminal_history", "other"):
        assert hc.on_answer(msn=1, link="lapd", peer=None, requester="CA0194200",
                            control=None, request_mke="QW", answer=_hit(file=file),
                            now=0.0) == []
    # a gun record (NCIC Gun File, RTY SG) is confirmed too, by its record type line
    gun = _hit(nic="G123456789", file="other")
    gun.records[0].fields["MKE"] = "STOLEN GUN"
    assert [e.outcome for e in hc.on_answer(msn=1, link="lapd", peer=None,
                                            requester="CA0194200", control=None,
                                            request_mke="QG", answer=gun, now=0.0)] == [
        "clock_started"]


def test_the_last_reminder_gives_up() -> None:
    hc = HitConfirmations()
    hc.on_answer(msn=1, link="lapd", peer=None, requester="CA0194200", control=None,
                 request_mke="QW", answer=_hit(), now=0.0)
    outcomes = [ev.outcome for t in (600, 1200, 1800, 2400) for _r, ev in hc.due(float(t))]
    assert outcomes == ["reminder", "reminder", "unconfirmed"]
    assert hc.open == {}


@run_async
async def test_the_switch_runs_the_clock_reminds_and_audits(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        await h.send("lapd", qw(control="LAPD0001"))
        await h.recv("lapd")  # ACK
        fwd = await h.recv("ncic")
        for d in ("WPS", "CARPOS"):
            await h.answer(d, await h.recv(d.lower()), status="no_hit")
        answer = _hit()
        answer.control = fwd.control
        answer.origin = "DCFBIWA00"
        answer.destinations = ["CA0194200"]
        await h.far["ncic"].send(dumps(answer).encode())
        got = await h.recv_until("lapd", "QWR")
        while got.status != "hit":
            got = await h.recv_until("lapd", "QWR")
        assert got.records[0].case.nic == NIC  # type: ignore[union-attr]

        def hits() -> list[dict[str, object]]:
            return [r for r in records(h.switch.journal.conn) if r["event"] == "hit_confirmation"]

        from tests._switch_kit import eventually

        await eventually(lambda: len(hits()) == 1)
        assert hits()[0]["outcome"] == "clock_started"
        # the origin asks the entering agency (YQ, urgent): the clock runs from the YQ
        await h.send("lapd", _yq("U"))
        await h.recv("lapd")  # ACK
        yq = await h.recv("nlets")
        assert yq.mke == "YQ"
        await eventually(lambda: len(hits()) == 2)
        assert hits()[1]["outcome"] == "requested"
        # ten minutes without a YR: the origin is reminded
        await h.advance(601)
        note = await h.recv_until("lapd", "SM")
        while not (note.text or "").startswith("HIT CONFIRMATION"):  # not a .02. status
            note = await h.recv_until("lapd", "SM")
        assert "HIT CONFIRMATION OVERDUE NIC/W123456789" in (note.text or "")
        assert note.destinations == ["CA0194200"]
        await eventually(lambda: len(hits()) == 3)
        assert hits()[2]["outcome"] == "reminder"
        # the entering agency answers: the clock stops
        yr = Message(format="json", mke="YR", origin="CA0190000", destinations=["CA0194200"],
                     control=yq.control, status="hit", case=Case(oca="24-1", nic=NIC),
                     text="CONFIRMED - WARRANT ACTIVE")
        await h.far["nlets"].send(dumps(yr).encode())
        assert (await h.recv_until("lapd", "YR")).text == "CONFIRMED - WARRANT ACTIVE"
        await eventually(lambda: len(hits()) == 4)
        assert hits()[3]["outcome"] == "confirmed"
        await h.advance(3600)
        while (m := h.pending("lapd")) is not None:
            assert not (m.text or "").startswith("HIT CONFIRMATION")  # no more reminders
        assert h.switch.hits.open == {}


def test_clocks_go_to_the_journal_as_text_and_come_back() -> None:
    """``take_touched`` gives each clock a call looked at (JSON, or None once closed);
    ``restore`` rebuilds the same open clocks from that text."""
    hc = HitConfirmations()
    hc.on_answer(msn=7, link="lapd", peer="LAPD", requester="CA0194200", control="C1",
                 request_mke="QW", answer=_hit(), now=1000.0)
    hc.on_request(_yq("R", rno="2"), now=1100.0)
    saved = dict(hc.take_touched())
    assert list(saved) == [f"{NIC}|CA0194200"] and hc.touched == set()
    again = HitConfirmations()
    ev = again.restore(saved, now=1200.0)
    assert [e.outcome for e in ev] == ["restored"] and ev[0].msn == 7
    assert again.open == hc.open
    assert again.open[(NIC, "CA0194200")].priority == "R"
    assert again.next_due() == 1100.0 + 3600
    # a second answer for a clock already open changes nothing but is looked at (a step the
    # group commit runs twice writes its clock again)
    assert hc.on_answer(msn=7, link="lapd", peer="LAPD", requester="CA0194200", control="C1",
                        request_mke="QW", answer=_hit(), now=1000.0) == []
    assert dict(hc.take_touched()) == saved
    hc.on_answer(msn=8, link="lapd", peer="LAPD", requester="CA0194200", control="Y2",
                 request_mke="YQ", answer=Message(mke="YR", status="hit", case=Case(nic=NIC)),
                 now=1300.0)
    assert hc.take_touched() == [(f"{NIC}|CA0194200", None)]
    # reminders are journaled too (the count, the next due time)
    again.due(1100.0 + 3600)
    (_key, text), = again.take_touched()
    assert text is not None and '"reminders": 1' in text


def test_a_journaled_clock_that_is_not_one_is_audited_and_dropped() -> None:
    hc = HitConfirmations()
    ev = hc.restore({"W1|CA0194200": "{not json", "W2|": '{"nic": "W2"}'}, now=0.0)
    assert [e.outcome for e in ev] == ["unreadable", "unreadable"]
    assert hc.open == {}
    assert hc.take_touched() == [("W1|CA0194200", None), ("W2|", None)]


@pytest.mark.parametrize("fmt", ["sqlite", "log"])
def test_both_journals_keep_the_open_clocks(tmp_path: Path, fmt: str) -> None:
    """``hit_clock_set`` / ``hit_clocks`` on either journal: set, replace, delete, a rolled
    back transaction, a reopen and (log) a snapshot hold the open clocks only."""
    from clets.switch.logjournal import open_journal

    path = tmp_path / "j.db"
    j = open_journal(path, fmt)
    with j.tx():
        j.hit_clock_set("W1|CA0194200", '{"a": 1}')
        j.hit_clock_set("W2|CA0194200", '{"b": 1}')
        j.hit_clock_set("W3|", '{"c": 1}')
        j.meta_set("config_sha256", "x")  # other meta is not a clock
    with j.tx():
        j.hit_clock_set("W1|CA0194200", '{"a": 2}')
        j.hit_clock_set("W2|CA0194200", None)
        j.hit_clock_set("W9|", None)  # closing one never journaled: nothing
    with pytest.raises(RuntimeError), j.tx():
        j.hit_clock_set("W3|", None)
        raise RuntimeError("rolled back")
    want = {"W1|CA0194200": '{"a": 2}', "W3|": '{"c": 1}'}
    assert j.hit_clocks() == want
    snapshot = getattr(j, "snapshot", None)
    if snapshot is not None:
        snapshot(whole=True)
        with j.tx():
            j.hit_clock_set("W3|", None)
        want = {"W1|CA0194200": '{"a": 2}'}
    j.close()
    j = open_journal(path, fmt)
    try:
        assert j.hit_clocks() == want
        assert j.meta_get("config_sha256") == "x"
    finally:
        j.close()


def test_a_step_run_twice_audits_the_same() -> None:
    """The group commit runs a batch's steps again after a rollback (batch.py): the second
    call with the same answer returns the same records and looks at the same clocks."""
    hc = HitConfirmations()
    hit = _hit()
    kw = dict(msn=7, link="lapd", peer="LAPD", requester="CA0194200", control="C1",
              request_mke="QW")
    first = hc.on_answer(answer=hit, now=1000.0, **kw)  # type: ignore[arg-type]
    hc.take_touched()  # written, then rolled back with its batch
    again = hc.on_answer(answer=hit, now=1000.0, **kw)  # type: ignore[arg-type]
    assert [e.outcome for e in again] == ["clock_started"] and again == first
    assert [k for k, v in hc.take_touched() if v is not None] == [f"{NIC}|CA0194200"]
    yr = Message(mke="YR", status="hit", case=Case(nic=NIC))
    closed = hc.on_answer(answer=yr, now=1100.0, msn=8, link="lapd", peer="LAPD",
                          requester="CA0194200", control="Y1", request_mke="YQ")
    assert hc.on_answer(answer=yr, now=1100.0, msn=8, link="lapd", peer="LAPD",
                        requester="CA0194200", control="Y1", request_mke="YQ") == closed
    assert [e.outcome for e in closed] == ["confirmed"]
    assert hc.take_touched() == [(f"{NIC}|CA0194200", None)]

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

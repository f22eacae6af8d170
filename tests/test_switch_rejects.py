"""Every reject code of spec/switch.md is answered at once in the sender's codec, and audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.model import Message, Name, Person, dumps
from clets.switch.audit import records
from tests._switch_kit import Harness, qv, qw, run_async

pytestmark = pytest.mark.timeout(30)


def _person(**kw: object) -> Person:
    base: dict[str, object] = dict(name=Name("SMITH", "JOHN"), dob="1975-10-12", sex="M",
                                   race="W")
    base.update(kw)
    return Person(**base)  # type: ignore[arg-type]


CASES = [
    # (link, message or raw bytes, expected code, expected reason, audit event)
    ("lapd", Message(format="json", mke="ZZ", origin="CA0194200", control="R1",
                     person=_person()), 1, "UNKNOWN MESSAGE KEY", "rejected"),
    ("lapd", qw(origin="CA01"), 10, "INVALID ORIGIN ORI", "rejected"),
    ("lapd", qw(origin="CA0190000"), 10, "INVALID ORIGIN ORI", "auth_failed"),
    ("sheriff", Message(format="json", mke="EW", origin="CA0190000", control="E1",
                        person=_person()), 11, "ORI NOT AUTHORIZED FOR THIS MESSAGE KEY",
     "auth_failed"),
    ("lapd", Message(format="json", mke="QW", origin="CA0194200", control="R2",
                     person=Person(dob="1975-10-12")), 20, "MISSING MANDATORY FIELD NAM",
     "rejected"),
    ("lapd", Message(format="json", mke="EW", origin="CA0194200", control="R3",
                     person=_person()), 20, "MISSING MANDATORY FIELD OCA", "rejected"),
    ("lapd", Message(format="json", mke="QW", origin="CA0194200", control="R4",
                     person=_person(sex="Q")), 21, "INVALID FIELD SEX", "rejected"),
    ("lapd", Message(format="json", mke="QW", origin="CA0194200", control="R5",
                     person=_person(dob="2999-01-01")), 21, "INVALID FIELD DOB", "rejected"),
    ("lapd", b"QW.CA0194200.NAM/SMITH, JOHN -- not JSON at all", 22, "INVALID MESSAGE FORMAT",
     "rejected"),
    ("lapd", dumps(qw(remarks="X" * 5000)).encode(), 23, "MESSAGE TOO LONG", "rejected"),
    ("lapd", Message(format="json", mke="AM", origin="CA0194200", control="A1",
                     destinations=["CA0999999"], text="HELLO"), 12, "INVALID DESTINATION",
     "rejected"),
]


@pytest.mark.parametrize(("link", "msg", "code", "reason", "event"), CASES,
                         ids=[f"{c[2]:02d}-{i}" for i, c in enumerate(CASES)])
@run_async
async def test_reject_is_answered_and_audited(tmp_path: Path, link: str, msg: Message | bytes,
                                              code: int, reason: str, event: str) -> None:
    async with Harness(tmp_path) as h:
        raw = msg if isinstance(msg, bytes) else dumps(msg).encode()
        await h.send(link, raw)
        er = await h.recv(link)
        assert er.mke == "ER" and er.status == "error"
        assert er.origin == "CA0000000"
        assert er.error is not None
        assert (er.error.code, er.error.reason) == (code, reason)
        assert er.error.echo == raw[:100].decode()
        if not isinstance(msg, bytes) and msg.control:
            assert er.control == msg.control
        recs = records(h.switch.journal.conn)
        rej = [r for r in recs if r["error_code"] == code]
        assert len(rej) == 1 and rej[0]["event"] == event and rej[0]["outcome"] == "rejected"
        assert rej[0]["bytes"] == len(raw) and len(rej[0]["sha256"]) == 64
        # nothing was journaled or forwarded
        assert not any(r["event"] in ("journaled", "forwarded") for r in recs)
        for d in ("wps", "ncic", "nlets"):
            assert h.pending(d) is None
        assert h.switch.metrics()["rejects"] == {f"{code:02d}": 1}


@run_async
async def test_duplicate_control_with_other_content_is_rejected_30(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        await h.send("lapd", qw(control="D1"))
        assert (await h.recv("lapd")).mke == "ACK"
        await h.send("lapd", qw(control="D1", dob="1980-01-01"))
        er = await h.recv("lapd")
        assert er.mke == "ER" and er.error is not None and er.error.code == 30
        assert er.error.reason == "DUPLICATE MESSAGE"
        events = [(r["event"], r["error_code"]) for r in records(h.switch.journal.conn)]
        assert ("rejected", 30) in events


@run_async
async def test_keyless_repeat_is_rejected_30(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        await h.send("sheriff", qv(origin="CA0190000", control=None))
        await h.recv("ncic")
        await h.send("sheriff", qv(origin="CA0190000", control=None))
        er = await h.recv("sheriff")
        assert er.error is not None and er.error.code == 30


@run_async
async def test_identical_retransmission_is_ignored_and_reacked(tmp_path: Path) -> None:
    """Effectively-once: a re-sent identical frame is not forwarded a second time."""
    async with Harness(tmp_path) as h:
        frame = dumps(qw(control="RT1")).encode()
        await h.send("lapd", frame)
        first = await h.recv("lapd")
        for d in ("wps", "ncic", "carpos"):
            await h.recv(d)
        await h.send("lapd", frame)
        second = await h.recv("lapd")
        assert first.mke == second.mke == "ACK" and first.text == second.text
        await h.switch.tick()
        for d in ("wps", "ncic", "carpos"):
            assert h.pending(d) is None
        recs = records(h.switch.journal.conn)
        assert [r["outcome"] for r in recs if r["event"] == "duplicate"] == ["ignored"]
        assert sum(r["event"] == "journaled" for r in recs) == 1

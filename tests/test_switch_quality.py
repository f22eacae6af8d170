"""The switch's quality step: warn flags reach the journal, audit and ACK and the message is
forwarded unaltered; reject flags are error 21; sealed records are cut from answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.model import Message, dumps
from clets.model.types import Name, Person, Record
from clets.switch import parse_config
from clets.switch.audit import records
from clets.switch.config import ConfigProblems
from tests._switch_kit import Harness, eventually, qw, run_async

pytestmark = pytest.mark.timeout(30)

QUALITY = """
[quality]
policy = { ssn_invalid = "reject" }
"""


def events(h: Harness, event: str) -> list[dict[str, object]]:
    return [r for r in records(h.switch.journal.conn) if r["event"] == event]


@run_async
async def test_warn_flags_go_to_warnings_audit_and_ack(tmp_path: Path) -> None:
    async with Harness(tmp_path, extra=QUALITY) as h:
        sent = qw(control="Q1", dob="1890-01-01", remarks="CHECK HIM  twice")
        await h.send("lapd", sent)
        ack = await h.recv("lapd")
        assert ack.mke == "ACK"
        assert any(w.startswith("QUALITY dob_too_old") for w in ack.warnings)
        assert "QUALITY dob_too_old" in (ack.text or "")  # for formats without warnings
        fwd = await h.recv("ncic")
        assert fwd.remarks == "CHECK HIM  twice" and fwd.person == sent.person
        await eventually(lambda: events(h, "quality"))
        assert "dob_too_old" in str(events(h, "quality")[0]["reason"])


@run_async
async def test_reject_policy_is_error_21_with_the_checks_text(tmp_path: Path) -> None:
    async with Harness(tmp_path, extra=QUALITY) as h:
        msg = qw(control="Q2")
        assert msg.person is not None
        msg.person.ssn = "666123456"
        await h.send("lapd", msg)
        er = await h.recv("lapd")
        assert er.mke == "ER" and er.error is not None and er.error.code == 21
        assert "ssn_invalid" in (er.error.reason or "")
        assert h.pending("ncic") is None


@run_async
async def test_sealed_records_are_cut_from_answers(tmp_path: Path) -> None:
    async with Harness(tmp_path, extra=QUALITY) as h:
        gate = h.switch._quality
        assert gate is not None
        gate.index.load_sealed([("CII", "A22222222")], "test")
        await h.send("lapd", qw(control="Q3"))
        await h.recv("lapd")  # ACK
        fwd = await h.recv("ncic")
        keep = Record(file="criminal_history", person=Person(name=Name("SMITH", "JOHN"),
                                                            cii="A11111111"))
        sealed = Record(file="criminal_history", person=Person(name=Name("SMITH", "JON"),
                                                              cii="A22222222"))
        resp = Message(format="json", mke="QWR", origin="CA0000001",
                       destinations=[fwd.origin or ""], control=fwd.control, status="hit",
                       records=[keep, sealed])
        await h.far["ncic"].send(dumps(resp).encode())
        got = await h.recv("lapd")
        assert [r.person.cii for r in got.records if r.person] == ["A11111111"]
        assert any("sealed_record" in w for w in got.warnings)
        assert "A22222222" not in dumps(got)
        assert "record withheld" in (got.text or "")  # text formats carry no warnings
        await eventually(lambda: any(e["outcome"] == "sealed_cut"
                                     for e in events(h, "quality")))


def test_config_refuses_unknown_checks_and_policies(tmp_path: Path) -> None:
    from tests._switch_kit import config_text

    for bad in ('policy = { nope = "warn" }', 'policy = { ssn_invalid = "later" }'):
        with pytest.raises(ConfigProblems):
            parse_config(config_text(tmp_path / "j.db", extra=f"\n[quality]\n{bad}\n"))
    cfg = parse_config(config_text(tmp_path / "j.db", extra=QUALITY))
    assert cfg.quality is not None and cfg.quality.index == tmp_path / "quality.db"

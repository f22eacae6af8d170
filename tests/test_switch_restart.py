"""Restart recovery: close the Switch, reopen it on the same journal, nothing lost or doubled."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.switch.audit import records, verify
from tests._switch_kit import Harness, eventually, qv, run_async

pytestmark = pytest.mark.timeout(30)


@run_async
async def test_in_flight_and_queued_rows_survive_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "j.db"
    h1 = Harness(tmp_path, journal=journal)
    await h1.switch.start()
    h1.near["dmv"].set_down()
    await h1.send("sheriff", qv(origin="CA0190000", control="RS1"))
    first = {d: await h1.recv(d) for d in ("svs", "ncic")}
    j = h1.switch.journal
    await eventually(lambda: any(r.state == "queued" and r.attempts == 1
                                 for r in j.list_rows(target="DMV")))
    await h1.answer("SVS", first["svs"])
    await h1.recv("sheriff")
    states = {r.target: r.state for r in j.list_rows() if r.kind == "forward"}
    assert states == {"SVS": "done", "NCIC": "in_flight", "DMV": "queued"}
    await h1.switch.stop(drain=False)

    h2 = Harness(tmp_path, journal=journal)
    await h2.switch.start()
    try:
        again = await h2.recv("ncic")
        assert again.control == first["ncic"].control  # same switch control: dedupable
        assert h2.pending("dmv") is None  # its retry time is kept across the restart
        await h2.advance(10)
        dmv = await h2.recv("dmv")
        assert dmv.mke == "QV"
        await h2.switch.tick()
        for d in ("svs", "ncic", "dmv"):
            assert h2.pending(d) is None  # delivered once
        await h2.answer("NCIC", again, status="hit")
        answer = await h2.recv("sheriff")
        assert answer.status == "hit" and answer.control == "RS1"
        recs = records(h2.switch.journal.conn)
        assert any(r["event"] == "recovered" for r in recs)
        assert verify(h2.switch.journal.conn).ok
    finally:
        await h2.switch.stop(drain=False)


@run_async
async def test_retransmission_after_restart_is_not_forwarded_again(tmp_path: Path) -> None:
    journal = tmp_path / "j.db"
    h1 = Harness(tmp_path, journal=journal)
    await h1.switch.start()
    frame = qv(origin="CA0194200", control="RS2")
    await h1.send("lapd", frame)
    ack = await h1.recv("lapd")
    for d in ("svs", "ncic", "dmv"):
        await h1.recv(d)
    await h1.switch.stop(drain=False)

    h2 = Harness(tmp_path, journal=journal)
    await h2.switch.start()
    try:
        # in_flight forwards are resent once (at-least-once) ...
        resent = {d: await h2.recv(d) for d in ("svs", "ncic", "dmv")}
        # ... but the origin's retransmission of the same frame is only re-acknowledged
        await h2.send("lapd", frame)
        assert (await h2.recv("lapd")).text == ack.text
        await h2.switch.tick()
        for d in ("svs", "ncic", "dmv"):
            assert h2.pending(d) is None
        assert len({m.control for m in resent.values()}) == 3
    finally:
        await h2.switch.stop(drain=False)


@run_async
async def test_stop_with_drain_sends_what_is_due(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    await h.switch.start()
    await h.send("sheriff", qv(origin="CA0190000", control="RS3"))
    await eventually(lambda: h.switch.journal.list_rows(target="NCIC"))
    await h.switch.stop(drain=True)
    for d in ("svs", "ncic", "dmv"):
        assert h.far[d].receive_nowait() is not None


def test_a_start_that_fails_to_open_a_link_is_audited_stopped_failed(tmp_path: Path) -> None:
    """No ``started`` left dangling: the trail says the start failed, and why."""
    import asyncio

    from clets.errors import CletsError
    from clets.switch.config import parse_config
    from clets.switch.engine import Switch
    from tests._switch_kit import config_text

    text = config_text(tmp_path / "j.db", dests=("NCIC",)).replace(
        'url = "memory://ncic"', f'url = "serial://{tmp_path}/ttyNONE?baud=9600"')
    cfg = parse_config(text, "t.toml", tmp_path)
    switch = Switch(cfg, {})

    with pytest.raises((CletsError, OSError)):
        asyncio.run(switch.start())
    import sqlite3
    conn = sqlite3.connect(tmp_path / "j.db")
    conn.row_factory = sqlite3.Row
    recs = records(conn)
    assert [r["event"] for r in recs][-2:] == ["started", "stopped"]
    assert recs[-1]["outcome"] == "failed" and "start failed" in recs[-1]["reason"]
    assert verify(conn).ok
    conn.close()

"""Answer deadlines (.02), time-to-live and dead letters (.04), late answers, retries."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.switch.audit import records
from tests._switch_kit import Harness, eventually, qv, run_async

pytestmark = pytest.mark.timeout(30)


@run_async
async def test_deadline_sends_02_then_late_answer_is_marked(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        await h.send("sheriff", qv(origin="CA0190000", control="T1"))
        fwd = {d: await h.recv(d) for d in ("svs", "ncic", "dmv")}
        await h.answer("SVS", fwd["svs"])
        assert (await h.recv("sheriff")).status == "no_hit"
        await h.advance(29)
        assert h.pending("sheriff") is None
        await h.advance(2)
        statuses = [await h.recv("sheriff"), await h.recv("sheriff")]
        assert {m.mke for m in statuses} == {"SM"}
        assert all(m.status == "pending" and m.control == "T1" for m in statuses)
        assert {m.text for m in statuses} == {".02. NCIC NOT RESPONDING, WILL FORWARD",
                                              ".02. DMV NOT RESPONDING, WILL FORWARD"}
        assert all(m.error is not None and m.error.code == 2 for m in statuses)
        await h.advance(30)
        assert h.pending("sheriff") is None  # one .02 per destination, not one per tick
        await h.answer("NCIC", fwd["ncic"], status="hit")
        late = await h.recv("sheriff")
        assert late.status == "hit" and late.warnings == ["late"] and late.control == "T1"
        recs = records(h.switch.journal.conn)
        assert sum(r["event"] == "timeout" for r in recs) == 2
        assert any(r["event"] == "responded" and r["outcome"] == "hit late" for r in recs)


@run_async
async def test_ttl_expiry_sends_04_and_dead_letters(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        await h.send("sheriff", qv(origin="CA0190000", control="T2"))
        fwd = {d: await h.recv(d) for d in ("svs", "ncic", "dmv")}
        for d in ("svs", "dmv"):
            await h.answer(d.upper(), fwd[d])
        await h.recv("sheriff")
        await h.recv("sheriff")
        await h.advance(31)
        assert (await h.recv("sheriff")).text == ".02. NCIC NOT RESPONDING, WILL FORWARD"
        await h.advance(600)
        sm = await h.recv("sheriff")
        assert sm.mke == "SM" and sm.status == "unavailable"
        assert sm.text == ".04. NCIC NOT AVAILABLE, WILL NOT FORWARD"
        assert sm.error is not None and sm.error.code == 4
        dead = h.switch.journal.list_rows(state="dead")
        assert [(r.target, r.kind) for r in dead] == [("NCIC", "forward")]
        assert h.switch.journal.dead_reason(dead[0].id) == "time-to-live expired"
        # a late answer is still delivered, marked late
        await h.answer("NCIC", fwd["ncic"], status="no_hit")
        late = await h.recv("sheriff")
        assert late.warnings == ["late"]


@run_async
async def test_down_destination_retries_with_backoff_then_dead_letter(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.near["dmv"].set_down()
        await h.send("sheriff", qv(origin="CA0190000", control="T3"))
        # the other destinations are not blocked
        await h.recv("svs")
        await h.recv("ncic")
        j = h.switch.journal
        delays = []
        for attempt in range(1, 4):
            row = await eventually(lambda a=attempt: next(
                (r for r in j.list_rows(target="DMV") if r.attempts == a
                 and r.state == "queued"), None))
            delays.append(row.next_attempt_at - row.updated_at)
            policy = h.config.switch.retry
            base = min(policy.backoff_max, policy.backoff_initial * 2 ** (attempt - 1))
            assert base * (1 - policy.jitter) <= delays[-1] <= base
            await h.advance(delays[-1] + 0.001)
        await eventually(lambda: j.list_rows(target="DMV", state="dead"))
        await h.switch.tick()
        msgs = [await h.recv("sheriff")]
        while msgs[-1].mke != "SM":
            msgs.append(await h.recv("sheriff"))
        assert msgs[-1].text == ".04. DMV NOT AVAILABLE, WILL NOT FORWARD"
        recs = records(j.conn)
        assert sum(r["event"] == "forward_failed" for r in recs) == 3
        dead = [r for r in recs if r["event"] == "dead_letter"]
        assert len(dead) == 1 and dead[0]["destination"] == "DMV"
        assert "after 4 attempts" in dead[0]["reason"]
        assert h.far["dmv"].receive_nowait() is None


@run_async
async def test_destination_back_up_gets_the_message_once(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.near["dmv"].set_down()
        await h.send("sheriff", qv(origin="CA0190000", control="T4"))
        j = h.switch.journal
        await eventually(lambda: any(r.attempts == 1 and r.state == "queued"
                                     for r in j.list_rows(target="DMV")))
        h.near["dmv"].set_down(False)
        await h.advance(5)
        got = await h.recv("dmv")
        assert got.mke == "QV"
        await h.switch.tick()
        assert h.pending("dmv") is None
        metrics = h.switch.metrics()
        assert metrics["messages"]["forward_failed"] == 1
        assert metrics["links"]["dmv"] == "up"

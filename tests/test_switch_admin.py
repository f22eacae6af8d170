"""Administrative messages, unsolicited notifications, queue CLI commands and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clets.cli import cli
from clets.model import Message, dumps
from clets.switch.audit import records
from tests._switch_kit import Harness, eventually, qv, run_async

pytestmark = pytest.mark.timeout(30)


@run_async
async def test_am_to_a_local_ori_and_another_state(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        am = Message(format="json", mke="AM", origin="CA0194200", control="AM1",
                     destinations=["CA0190000", "NV0020000"], text="BOLO WHITE VAN")
        await h.send("lapd", am)
        assert (await h.recv("lapd")).mke == "ACK"
        local = await h.recv("sheriff")
        assert local.mke == "AM" and local.text == "BOLO WHITE VAN"
        assert local.origin == "CA0194200" and local.control == "AM1"
        remote = await h.recv("nlets")
        assert remote.destinations == ["NV0020000"] and remote.control != "AM1"


@run_async
async def test_unsolicited_notification_goes_to_the_peer_owning_the_ori(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        note = Message(format="json", mke="$.L", origin="WA0170000",
                       destinations=["CA0380100"], text="LOCATED: W123456789")
        await h.far["ncic"].send(dumps(note).encode())
        got = await h.recv("sfpd")
        assert got.mke == "$.L" and got.text == "LOCATED: W123456789"
        nobody = Message(format="json", mke="$.L", destinations=["CA0999999"], text="X")
        await h.far["ncic"].send(dumps(nobody).encode())
        recs = await eventually(lambda: [r for r in records(h.switch.journal.conn)
                                         if r["event"] == "dead_letter"])
        assert recs[0]["outcome"] == "undeliverable"


@run_async
async def test_unparseable_answer_is_audited_not_fatal(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        await h.far["ncic"].send(b"\x00\x01 garbage")
        await eventually(lambda: any(r["outcome"] == "bad_response"
                                     for r in records(h.switch.journal.conn)))
        await h.send("sheriff", qv(origin="CA0190000"))
        assert (await h.recv("ncic")).mke == "QV"  # the reader is still alive


@run_async
async def test_metrics(tmp_path: Path) -> None:
    async with Harness(tmp_path) as h:
        h.near["dmv"].set_down()
        await h.send("sheriff", qv(origin="CA0190000"))
        fwd = await h.recv("ncic")
        await h.answer("NCIC", fwd)
        await h.recv("sheriff")
        await eventually(lambda: h.switch.metrics()["messages"].get("forward_failed"))
        m = h.switch.metrics()
        assert m["messages"]["accepted"] == 1 and m["messages"]["responded"] == 1
        # delivered rows are not counted per state (the metrics must not scan them)
        assert m["queue_depth"]["DMV"] == 1 and m["queue_states"]["DMV"] == {"queued": 1}
        assert m["queue_depth"]["NCIC"] == 0 and m["queue_states"]["NCIC"] == {}
        assert m["links"]["dmv"] == "down" and m["links"]["ncic"] == "up"
        assert m["latency"]["count"] == 1 and m["latency"]["buckets"]["0.05"] == 1
        json.dumps(m)  # plain data


def test_queue_cli_list_show_retry_purge(tmp_path: Path) -> None:
    import asyncio

    async def make_dead() -> Path:
        h = Harness(tmp_path, extra="")
        await h.switch.start()
        h.near["svs"].set_down()
        await h.send("sheriff", qv(origin="CA0190000", control="Q1"))
        j = h.switch.journal
        for tried in range(4):
            # each attempt's outcome before the clock moves on (the row queued again with
            # one more attempt): moved twice before the worker's claim, one retry was lost
            await eventually(lambda n=tried: any(
                r.state in ("queued", "dead") and r.attempts > n
                for r in j.list_rows(target="SVS")))
            await h.advance(10)
        await eventually(lambda: j.list_rows(target="SVS", state="dead"))
        await h.switch.stop(drain=False)
        return h.journal_path

    journal = asyncio.run(make_dead())
    runner = CliRunner()
    listed = runner.invoke(cli, ["queue", "list", "--journal", str(journal), "--state", "dead"])
    assert listed.exit_code == 0, listed.output
    rows = [ln for ln in listed.output.splitlines() if " SVS " in ln]
    assert len(rows) == 1 and "dead" in rows[0] and "link down" in rows[0]
    entry = int(rows[0].split()[0])
    shown = json.loads(runner.invoke(cli, ["queue", "show", "--journal", str(journal),
                                           str(entry)]).output)
    assert shown["state"] == "dead" and shown["attempts"] == 4
    assert shown["message"]["control"] == "Q1" and shown["message"]["canonical"]["mke"] == "QV"
    assert "after 4 attempts" in shown["dead_reason"]
    res = runner.invoke(cli, ["queue", "retry", "--journal", str(journal), str(entry)])
    assert res.exit_code == 0 and "queued for SVS" in res.output
    as_json = runner.invoke(cli, ["queue", "list", "--journal", str(journal), "--json",
                                  "--dest", "SVS"])
    row = json.loads(as_json.output.splitlines()[0])
    assert row["state"] == "queued" and row["attempts"] == 0
    again = runner.invoke(cli, ["queue", "retry", "--journal", str(journal), str(entry)])
    assert again.exit_code == 0
    bad = runner.invoke(cli, ["queue", "retry", "--journal", str(journal), "999"])
    assert bad.exit_code != 0
    purge = runner.invoke(cli, ["queue", "purge", "--dead", "--journal", str(journal)])
    assert purge.exit_code == 0 and purge.output.startswith("purged 0")
    ok = runner.invoke(cli, ["audit", "verify", "--journal", str(journal)])
    assert ok.exit_code == 0, ok.output
    tail = runner.invoke(cli, ["audit", "tail", "--journal", str(journal), "-n", "3"])
    events = [json.loads(x)["event"] for x in tail.output.splitlines()]
    assert events[-1] == "purged" and "replayed" in events


@run_async
async def test_retention_purges_old_delivered_rows_and_messages_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After ``retain_days`` (30 by default) delivered rows and the messages nothing refers
    to any more are deleted; open and dead rows, their messages and the audit trail stay.
    (The SQLite journal's tables, read here: that format, whatever the default.)"""
    monkeypatch.setenv("CLETS_JOURNAL_FORMAT", "sqlite")
    from clets.switch.audit import verify

    async with Harness(tmp_path) as h:
        h.near["dmv"].set_down()
        await h.send("sheriff", qv(origin="CA0190000"))
        await h.answer("NCIC", await h.recv("ncic"))
        await h.recv("sheriff")
        await eventually(lambda: h.switch.metrics()["messages"].get("forward_failed"))
        conn = h.switch.journal.conn

        def states() -> dict[str, int]:
            return dict(conn.execute("SELECT state, COUNT(*) FROM outbound GROUP BY state"))

        def done_ids() -> set[int]:
            return {r[0] for r in conn.execute("SELECT id FROM outbound WHERE state = 'done'")}

        delivered = done_ids()  # the answer's delivery to the sheriff, at least
        assert delivered
        await h.advance(29 * 86400)  # not yet old enough (the DMV row expires: dead)
        assert delivered <= done_ids()
        kept = {r[0] for r in conn.execute("SELECT id FROM outbound WHERE state != 'done'")}
        assert "dead" in states()
        await h.advance(2 * 86400 + 601)
        assert not delivered & done_ids()  # older than 30 days: gone
        # open and dead rows stay (dead ones wait for `clets queue purge --dead`), with their
        # messages
        assert kept <= {r[0] for r in conn.execute("SELECT id FROM outbound")}
        assert conn.execute("SELECT COUNT(*) FROM dead_letter d WHERE NOT EXISTS "
                            "(SELECT 1 FROM messages m WHERE m.msn = d.msn)").fetchone()[0] == 0
        purges = [r for r in records(conn) if r["event"] == "purged"]
        assert purges and purges[-1]["reason"].startswith("retention: ")
        assert verify(conn).ok


def test_purge_delivered_keeps_what_is_open_dead_recent_or_still_referenced(tmp_path: Path
                                                                          ) -> None:
    from clets.switch.journal import Journal

    j = Journal(tmp_path / "j.db")
    try:
        c = j.conn
        old, new = 1000.0, 9000.0

        def message(msn: int, at: float) -> None:
            c.execute("INSERT INTO messages (msn, received_at, kind, sha256, payload, canonical)"
                      " VALUES (?, ?, 'request', 'x', x'00', '{}')", (msn, at))

        def row(msn: int, state: str, at: float) -> None:
            c.execute("INSERT INTO outbound (msn, kind, target, state, next_attempt_at, "
                      "expires_at, created_at, updated_at) VALUES (?, 'forward', 'NCIC', ?, "
                      "?, ?, ?, ?)", (msn, state, at, at, at, at))

        message(1, old)
        row(1, "done", old)
        row(1, "done", old)      # 1: every row delivered long ago -> message and rows go
        message(2, old)
        row(2, "done", old)
        row(2, "queued", old)    # 2: still open -> its message stays (the done row goes)
        message(3, old)
        row(3, "dead", old)      # 3: dead -> stays for `clets queue purge --dead`
        c.execute("INSERT INTO dead_letter (outbound_id, msn, target, reason, dead_at) "
                  "SELECT id, 3, 'NCIC', 'ttl', ? FROM outbound WHERE msn = 3", (old,))
        message(4, old)
        row(4, "done", new)      # 4: delivered recently -> stays
        message(5, old)          # 5: no rows, but a live dedup key -> stays
        c.execute("INSERT INTO dedup (key, msn, sha256, at) VALUES ('k', 5, 'x', ?)", (new,))
        rows, messages = j.purge_delivered(before=5000.0)
        assert (rows, messages) == (3, 1)
        assert [r[0] for r in c.execute("SELECT msn FROM messages ORDER BY msn")] == [2, 3, 4, 5]
        assert sorted(tuple(r) for r in c.execute("SELECT msn, state FROM outbound")) == \
            [(2, "queued"), (3, "dead"), (4, "done")]
        # batched: a limit leaves the rest for the next pass
        row(4, "done", old)
        row(4, "done", old)
        assert j.purge_delivered(before=5000.0, limit=1)[0] == 1
        assert j.purge_delivered(before=5000.0, limit=1)[0] == 1
        assert j.purge_delivered(before=5000.0, limit=1)[0] == 0
    finally:
        j.close()


@run_async
async def test_a_bug_while_handling_a_frame_does_not_stop_the_link(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception (a bug, not a CletsError) is audited as an internal error and
    logged; the link's reader goes on with the next frame."""
    import clets.switch.engine as engine
    from clets.switch.authz import authorize as real

    calls = {"n": 0}

    def flaky(*args: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise TypeError("a bug")
        real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "authorize", flaky)
    async with Harness(tmp_path) as h:
        await h.send("sheriff", qv(origin="CA0190000", control="B1"))
        await h.send("sheriff", qv(origin="CA0190000", control="B2"))
        assert (await h.recv("ncic")).mke == "QV"  # the second one went through
        recs = records(h.switch.journal.conn)
        errors = [r for r in recs if r["event"] == "error"]
        assert len(errors) == 1 and errors[0]["outcome"] == "internal_error"
        assert "a bug" in errors[0]["reason"]
        assert h.switch.metrics()["messages"]["internal_error"] == 1


def test_admin_commands_never_create_a_journal(tmp_path: Path) -> None:
    """A mistyped journal path is an error (exit 2, one line), not a new empty journal."""
    missing = tmp_path / "no-such.db"
    for args in (["queue", "list"], ["audit", "verify"], ["audit", "tail"]):
        out = CliRunner().invoke(cli, [*args, "--journal", str(missing)])
        assert out.exit_code == 2, (args, out.output)
        assert f"no journal at {missing}" in out.output
        assert not missing.exists()

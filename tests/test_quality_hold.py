"""The ``hold`` policy (clets.switch.hold): a held message is journaled, ACKed as held and not
forwarded; ``clets quality release`` forwards it as any other, ``clets quality reject``
answers its origin with the check's error; both are audited with who decided; held messages
survive a restart and a SIGKILL; the commands work on a running switch (admin socket) and on a
stopped journal, with either journal format."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from clets.cli import cli
from clets.switch.audit import records, verify
from tests._switch_kit import Harness, qw

pytestmark = pytest.mark.timeout(60)

HOLD = """
[quality]
policy = { ssn_invalid = "hold", dob_too_old = "warn" }
"""


@pytest.fixture(params=["sqlite", "log"])
def fmt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CLETS_JOURNAL_FORMAT", request.param)
    return str(request.param)


def bad_ssn(control: str) -> object:
    msg = qw(control=control)
    assert msg.person is not None
    msg.person.ssn = "666123456"
    return msg


def quality_events(conn: object) -> list[dict[str, object]]:
    return [r for r in records(conn) if r["event"] == "quality"]  # type: ignore[arg-type]


async def cli_run(*args: str) -> tuple[int, str]:
    """The CLI from a thread (a running switch in this loop answers its admin socket)."""
    res = await asyncio.to_thread(CliRunner().invoke, cli, list(args))
    return res.exit_code, res.output


def test_config_accepts_hold(tmp_path: Path) -> None:
    from clets.switch import parse_config
    from tests._switch_kit import config_text

    cfg = parse_config(config_text(tmp_path / "j.db", extra=HOLD))
    assert cfg.quality is not None and cfg.quality.policy["ssn_invalid"] == "hold"


def test_held_message_is_released_by_a_supervisor_on_the_running_switch(
        tmp_path: Path, fmt: str) -> None:
    async def main() -> None:
        async with Harness(tmp_path, extra=HOLD) as h:
            await h.send("lapd", bad_ssn("H1"))
            ack = await h.recv("lapd")
            assert ack.mke == "ACK"
            assert any(w.startswith("QUALITY ssn_invalid") for w in ack.warnings)
            assert any(w.startswith("QUALITY HELD") for w in ack.warnings)
            assert "QUALITY HELD" in (ack.text or "")
            msn = int((ack.text or "").split("MSN ")[1].split()[0])
            await h.advance(120)  # held: no forward, no .02. timeout, no expiry
            assert h.pending("ncic") is None and h.pending("lapd") is None
            code, out = await cli_run("quality", "held", "--journal", str(h.journal_path),
                                      "--json")
            assert code == 0, out
            (held,) = [json.loads(x) for x in out.splitlines()]
            assert held["msn"] == msn and held["control"] == "H1"
            assert "ssn_invalid" in held["reason"] and "NCIC" in held["targets"]
            assert held["reply_to"] == "lapd"
            code, out = await cli_run("quality", "release", "--journal", str(h.journal_path),
                                      "--by", "SGT PEPPER", str(msn))
            assert code == 0 and "released" in out, out
            fwd = await h.recv("ncic")
            assert fwd.mke == "QW" and fwd.person is not None and fwd.person.ssn == "666123456"
            # timeouts count from the release: no .02. before the deadline (30 s) passes
            await h.advance(20)
            assert h.pending("lapd") is None
            await h.answer("NCIC", fwd)
            got = await h.recv("lapd")
            assert got.mke == "QWR"
            code, out = await cli_run("quality", "held", "--journal", str(h.journal_path))
            assert code == 0 and "-- 0 held" in out
            again = await cli_run("quality", "release", "--journal", str(h.journal_path),
                                  str(msn))
            assert again[0] != 0 and "not held" in again[1]
            ev = quality_events(h.switch.journal.conn)
            assert [e["outcome"] for e in ev] == ["held", "released"]
            assert ev[1]["operator"] == "SGT PEPPER" and ev[1]["msn"] == msn

    asyncio.run(main())


def test_held_message_rejected_answers_the_origin_with_the_checks_error(
        tmp_path: Path, fmt: str) -> None:
    async def main() -> None:
        async with Harness(tmp_path, extra=HOLD) as h:
            await h.send("lapd", bad_ssn("H2"))
            ack = await h.recv("lapd")
            msn = int((ack.text or "").split("MSN ")[1].split()[0])
            code, out = await cli_run("quality", "reject", "--journal", str(h.journal_path),
                                      str(msn))
            assert code == 0 and "rejected" in out, out
            er = await h.recv("lapd")
            assert er.mke == "ER" and er.error is not None and er.error.code == 21
            assert "ssn_invalid" in (er.error.reason or "") and er.control == "H2"
            await h.advance(60)
            assert h.pending("ncic") is None
            ev = quality_events(h.switch.journal.conn)
            assert [e["outcome"] for e in ev] == ["held", "rejected"]
            assert str(ev[1]["operator"]).startswith("cli")
            # a clean message on the same switch is forwarded at once
            await h.send("lapd", qw(control="H3"))
            assert (await h.recv("lapd")).mke == "ACK"
            assert (await h.recv("ncic")).control != "H3"  # the switch's own control

    asyncio.run(main())


def test_a_warn_only_message_is_not_held(tmp_path: Path, fmt: str) -> None:
    async def main() -> None:
        async with Harness(tmp_path, extra=HOLD) as h:
            await h.send("lapd", qw(control="H4", dob="1890-01-01"))
            ack = await h.recv("lapd")
            assert not any(w.startswith("QUALITY HELD") for w in ack.warnings)
            assert (await h.recv("ncic")).mke == "QW"

    asyncio.run(main())


_WORKER = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from tests._switch_kit import Harness, qw

    async def main():
        h = Harness(Path(sys.argv[1]), extra=sys.argv[2])
        await h.switch.start()
        for c in ("K1", "K2"):
            m = qw(control=c)
            m.person.ssn = "666123456"
            await h.send("lapd", m)
            print((await h.recv("lapd")).text.split("MSN ")[1].split()[0], flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
""")


def test_held_messages_survive_sigkill_and_are_decided_on_the_stopped_journal(
        tmp_path: Path, fmt: str) -> None:
    env = {**os.environ, "CLETS_JOURNAL_FORMAT": fmt}
    p = subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), HOLD],
                         stdout=subprocess.PIPE, text=True, env=env,
                         cwd=Path(__file__).resolve().parent.parent)
    try:
        assert p.stdout is not None
        msns = [int(p.stdout.readline()), int(p.stdout.readline())]
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    journal = tmp_path / "journal.db"
    runner = CliRunner()
    listed = runner.invoke(cli, ["quality", "held", "--journal", str(journal), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [json.loads(x)["msn"] for x in listed.output.splitlines()] == msns
    # decided while the switch is down: written to the journal, audited with who
    Path(f"{journal}.sock").unlink(missing_ok=True)
    ok = runner.invoke(cli, ["quality", "release", "--journal", str(journal), "--by", "LT DAN",
                             str(msns[0])])
    assert ok.exit_code == 0, ok.output
    no = runner.invoke(cli, ["quality", "reject", "--journal", str(journal), str(msns[1])])
    assert no.exit_code == 0, no.output

    async def restart() -> None:
        async with Harness(tmp_path, extra=HOLD) as h:
            # the commands ran on the wall clock; the harness's clock starts behind it
            await h.advance(time.time() - h.clock.time() + 1)
            fwd = await h.recv("ncic")
            assert fwd.mke == "QW"
            er = await h.recv_until("lapd", "ER")
            assert er.control == "K2" and er.error is not None and er.error.code == 21
            assert h.pending("ncic") is None
            ev = quality_events(h.switch.journal.conn)
            assert [(e["outcome"], e["msn"]) for e in ev] == [
                ("held", msns[0]), ("held", msns[1]), ("released", msns[0]),
                ("rejected", msns[1])]
            assert ev[2]["operator"] == "LT DAN"
            assert verify(h.switch.journal.conn).ok

    asyncio.run(restart())
    listed = runner.invoke(cli, ["quality", "held", "--journal", str(journal)])
    assert "-- 0 held" in listed.output


def test_a_held_message_survives_the_migration_to_the_log_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLETS_JOURNAL_FORMAT", "sqlite")

    async def hold_one() -> int:
        async with Harness(tmp_path, extra=HOLD) as h:
            await h.send("lapd", bad_ssn("M1"))
            return int(((await h.recv("lapd")).text or "").split("MSN ")[1].split()[0])

    msn = asyncio.run(hold_one())
    Path(tmp_path / "journal.db.sock").unlink(missing_ok=True)
    runner = CliRunner()
    res = runner.invoke(cli, ["journal", "migrate", str(tmp_path / "journal.db"),
                              str(tmp_path / "log.db")])
    assert res.exit_code == 0, res.output
    listed = runner.invoke(cli, ["quality", "held", "--journal", str(tmp_path / "log.db"),
                                 "--json"])
    assert [json.loads(x)["msn"] for x in listed.output.splitlines()] == [msn]

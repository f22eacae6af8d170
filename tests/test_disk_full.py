"""A full disk under the switch's journal (a real, small tmpfs): new messages are refused at
once with ``.05.`` in the sender's codec, accepted ones are kept and delivered, ``/healthz``
says why, and the switch goes on by itself when space comes back."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from clets.errors import STORE_UNAVAILABLE, StorageError, storage_error
from clets.model import Message
from clets.switch import Switch
from clets.switch.audit import records, verify
from tests._crash_kit import CLETS
from tests._prom import prom_lines
from tests._smallfs import loop_ext4, small_fs
from tests._switch_kit import Harness, eventually, qw, run_async

pytestmark = [pytest.mark.realpeer, pytest.mark.timeout(120)]

DESTS = ("WPS", "NCIC")


def _dob(i: int) -> str:
    return f"19{50 + i // 300:02d}-{1 + i // 28 % 12:02d}-{1 + i % 28:02d}"


async def _send_until_refused(h: Harness, first: int, limit: int,
                              others: list[Message] | None = None
                              ) -> tuple[list[str], Message | None, int]:
    """Inquiries C<first>.. until one is refused: (acknowledged controls, the refusal, next).
    Each gets its ACK or ER at once; answers that come in between go to ``others``."""
    acked: list[str] = []
    for i in range(first, first + limit):
        await h.send("lapd", qw(control=f"C{i}", dob=_dob(i)))
        while True:
            answer = await h.recv("lapd", timeout=5)
            if answer.mke in ("ACK", "ER") and answer.control == f"C{i}":
                break
            assert others is not None, answer
            others.append(answer)
        if answer.mke == "ER":
            return acked, answer, i + 1
        acked.append(f"C{i}")
    return acked, None, first + limit


def _no_checkpoints(sw: Switch) -> None:
    """Stop the journal's background checkpoints, so the test is deterministic: a checkpoint
    that completes lets SQLite start the WAL over, and a write that fits in the WAL's own
    pages then succeeds on a full disk between two refusals (the daemon test allows that)."""
    cp = sw.journal._checkpointer
    if cp is not None:
        cp.close()
        sw.journal._checkpointer = None


def test_storage_error_classifies_real_errors(tmp_path: Path) -> None:
    """Real errors of the kernel and of SQLite, told apart from the rest."""
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x")
    err = storage_error(full, store="spool")
    assert isinstance(err, StorageError) and err.kind == "full" and err.path == "/x"
    assert err.code == STORE_UNAVAILABLE and "spool /x" in str(err)
    assert storage_error(OSError(errno.EIO, "Input/output error"), store="s").kind == "io"
    assert storage_error(OSError(errno.EROFS, "Read-only file system"), store="s").kind == "io"
    assert storage_error(OSError(errno.ENOENT, "No such file"), store="s") is None
    assert storage_error(ValueError("x"), store="s") is None
    # SQLite's own: a locked database is not a disk fault
    db = tmp_path / "x.db"
    a = sqlite3.connect(db, isolation_level=None, timeout=0)
    b = sqlite3.connect(db, isolation_level=None, timeout=0)
    a.execute("CREATE TABLE t (x)")
    a.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        b.execute("BEGIN IMMEDIATE")
    assert storage_error(locked.value, store="journal") is None
    a.execute("ROLLBACK")


@run_async
async def test_journal_full_refuses_keeps_accepted_and_recovers(tmp_path: Path) -> None:
    with small_fs(1 << 20) as fs:
        async with Harness(tmp_path, dests=DESTS, journal=fs.root / "journal.db") as h:
            sw = h.switch
            _no_checkpoints(sw)
            acked, refused, nxt = await _send_until_refused(h, 0, 5)
            assert refused is None and len(acked) == 5
            # forwards of the first inquiries reach WPS; one is answered during the outage
            first = await h.recv("wps")
            fs.fill()
            more, refused, nxt = await _send_until_refused(h, nxt, 400)
            acked += more
            assert refused is not None, "the full journal never refused a message"
            # the refusal: an ER in the sender's codec, code 05, a reason that says why,
            # the sender's control, at once
            assert refused.error is not None and refused.error.code == STORE_UNAVAILABLE
            assert refused.error.reason == "SWITCH STORE FULL, NOT ACCEPTED, SEND AGAIN LATER"
            assert refused.control == f"C{nxt - 1}"
            health = sw.health()
            assert not health["ok"]
            assert "journal" in health["failing"] and health["failing"]["journal"]["kind"] == \
                "full"
            assert "journal full since" in health["reason"]
            assert sw.metrics_data.rejects[STORE_UNAVAILABLE] >= 1
            assert sw.metrics_data.messages["refused_storage"] >= 1
            assert sw.storage.errors[("journal", "full")] >= 1
            # more inquiries while full: each refused, none silent
            for i in range(nxt, nxt + 3):
                await h.send("lapd", qw(control=f"C{i}", dob=_dob(i)))
                er = await h.recv("lapd", timeout=5)
                assert er.mke == "ER" and er.error is not None and \
                    er.error.code == STORE_UNAVAILABLE
            resend_from = nxt
            # an answer that arrives while the journal is full is kept, not lost (larger
            # than the refused inquiries: SQLite reuses the WAL space a failed transaction
            # took, and a smaller one could still fit)
            held_answer = "HELD ANSWER " + "X" * 40000
            held = sw.metrics_data.messages["storage_held"]
            await h.answer("WPS", first, status="hit", text=held_answer)
            await eventually(lambda: sw.metrics_data.messages["storage_held"] > held)

            fs.free()
            await h.advance(0.1)
            await eventually(lambda: sw.health()["ok"], timeout=10)
            assert sw.storage.recoveries["journal"] == 1
            # the refused inquiries are accepted when sent again
            early: list[Message] = []
            again, refused, _ = await _send_until_refused(h, resend_from, 3, early)
            assert refused is None
            acked += again
            # every accepted inquiry reaches WPS (at least once) and its answer its origin
            answered = {m.control: m for m in early if m.mke == "QWR" and m.control}
            seen: set[str] = set()

            async def pump() -> bool:
                while (fwd := h.pending("wps")) is not None:
                    key = fwd.person.dob if fwd.person else ""
                    if key not in seen:
                        seen.add(key)
                        await h.answer("WPS", fwd, status="no_hit")
                while (msg := h.pending("lapd")) is not None:
                    if msg.mke == "QWR" and msg.control:
                        answered.setdefault(msg.control, msg)
                return set(acked) <= set(answered)

            for _ in range(400):
                if await pump():
                    break
                await h.advance(0.05)
            missing = sorted(set(acked) - set(answered), key=lambda c: int(c[1:]))
            assert not missing, f"accepted but never answered: {missing}"
            assert [m.text for m in answered.values()].count(held_answer) == 1
        conn = sqlite3.connect(fs.root / "journal.db")
        try:
            assert verify(conn).ok
            events = list(records(conn))
        finally:
            conn.close()
    storage = [r for r in events if r["event"] == "storage"]
    assert [r["outcome"] for r in storage] == ["recovered"]
    assert "disk full" in storage[0]["reason"]
    refusals = [r for r in events if r["event"] == "rejected"
                and r["error_code"] == STORE_UNAVAILABLE]
    assert len(refusals) >= 4  # the records held during the outage were written after it


def test_daemon_full_journal_healthz_metrics_and_recovery(tmp_path: Path) -> None:
    """``clets run`` with its journal on a small tmpfs, the simulators behind it and a len2
    client: refusals over TCP, /healthz 503 with the reason, metrics, recovery, answers."""
    from clets.sim import SimNetwork
    from tests._crash_kit import SwitchProcess, switch_config
    from tests.test_daemon import Client, http_get
    from tests.test_daemon import qw as qw_bytes

    dests = ("WPS", "NCIC", "CARPOS")

    async def main() -> None:
        with small_fs(1 << 20) as fs:
            async with SimNetwork(backends=list(dests), base_port=0) as net:
                cfg = tmp_path / "switch.toml"
                cfg.write_text(switch_config(fs.root / "journal.db", 0,
                                             {d: net.url(d) for d in dests},
                                             metrics="127.0.0.1:0"), "utf-8")
                proc = SwitchProcess(cfg, tmp_path / "switch.log")
                await proc.start()
                try:
                    base = f"http://{proc.ready['metrics']}"
                    client = await Client.open(proc.ready["listen"]["lapd"])
                    answers: dict[str, int] = {}
                    acked: list[str] = []

                    async def ask(control: str) -> dict[str, object]:
                        await client.send(qw_bytes(control))
                        while True:
                            msg = await client.recv(timeout=10)
                            if msg["mke"] in ("ACK", "ER") and msg["control"] == control:
                                if msg["mke"] == "ACK":
                                    acked.append(control)
                                return msg
                            answers[str(msg["control"])] = answers.get(
                                str(msg["control"]), 0) + 1

                    for i in range(3):
                        assert (await ask(f"D{i}"))["mke"] == "ACK"
                    fs.fill()
                    refused = None
                    for i in range(3, 400):
                        msg = await ask(f"D{i}")
                        if msg["mke"] == "ER":
                            refused = msg
                            break
                    assert refused is not None, "the full journal never refused a message"
                    assert refused["error"]["code"] == STORE_UNAVAILABLE  # type: ignore[index]
                    n = 400
                    for _ in range(20):
                        status, body = await asyncio.to_thread(http_get, base + "/healthz")
                        if status == 503:
                            break
                        # a write fitted in the WAL's free pages meanwhile (a checkpoint had
                        # let it start over): send until the journal is full again
                        while (await ask(f"D{n}"))["mke"] == "ACK":
                            n += 1
                        n += 1
                    health = json.loads(body)
                    assert status == 503 and not health["ok"], body
                    assert health["reason"].startswith("journal full since"), body
                    assert health["storage"]["failing"]["journal"]["kind"] == "full"
                    _s, text = await asyncio.to_thread(http_get, base + "/metrics")
                    lines = prom_lines(text)
                    assert 'clets_storage_ok{store="journal"} 0' in lines
                    assert any(line.startswith('clets_rejects_total{code="05"}')
                               for line in lines)
                    assert any(line.startswith(
                        'clets_storage_errors_total{kind="full",store="journal"}')
                        for line in lines)

                    fs.free()
                    for _ in range(400):
                        status, body = await asyncio.to_thread(http_get, base + "/healthz")
                        if status == 200:
                            break
                        await asyncio.sleep(0.05)
                    assert status == 200 and json.loads(body)["reason"] is None, body
                    _s, text = await asyncio.to_thread(http_get, base + "/metrics")
                    lines = prom_lines(text)
                    assert 'clets_storage_ok{store="journal"} 1' in lines
                    # >= 1: while full, a write that fits in the WAL's own free pages can
                    # succeed between two refusals (the switch takes what fits)
                    (rec,) = [line for line in lines if line.startswith(
                        'clets_storage_recoveries_total{store="journal"} ')]
                    assert int(rec.rsplit(" ", 1)[1]) >= 1
                    assert (await ask("R1"))["mke"] == "ACK"
                    # every accepted inquiry is answered by the three destinations
                    async with asyncio.timeout(30):
                        while not all(answers.get(c, 0) >= len(dests) for c in acked):
                            msg = await client.recv(timeout=30)
                            answers[str(msg["control"])] = answers.get(
                                str(msg["control"]), 0) + 1
                    await client.close()
                    code = await proc.terminate(timeout=30)
                finally:
                    proc.cleanup()
            assert code == 0
            verify = subprocess.run([*CLETS, "audit", "verify", "--journal",
                                     str(fs.root / "journal.db")], capture_output=True,
                                    text=True)
            assert verify.returncode == 0, verify.stdout + verify.stderr
        logs = [json.loads(line) for line in
                (tmp_path / "switch.log").read_text().splitlines()]
        msgs = [r["msg"] for r in logs]
        assert "storage failed" in msgs and "storage recovered" in msgs

    asyncio.run(main())


@run_async
async def test_journal_io_error_refuses_and_a_restart_after_repair_delivers(
        tmp_path: Path) -> None:
    """A disk that fails (ext4 turned read-only after an error: SQLITE_IOERR_WRITE): refused
    with the I/O reason, health says so, the switch still stops; after the operator's repair
    a restart forwards every inquiry it had acknowledged."""
    with loop_ext4() as fs:
        journal = fs.root / "journal.db"
        h = Harness(tmp_path, dests=DESTS, journal=journal)
        async with h:
            acked, refused, nxt = await _send_until_refused(h, 0, 5)
            assert refused is None
            fs.fail()
            more, refused, nxt = await _send_until_refused(h, nxt, 50, [])
            acked += more
            assert refused is not None and refused.error is not None
            assert refused.error.code == STORE_UNAVAILABLE
            assert refused.error.reason == "SWITCH STORE ERROR, NOT ACCEPTED, SEND AGAIN LATER"
            health = h.switch.health()
            assert health["failing"]["journal"]["kind"] == "io"
            assert "journal I/O error since" in health["reason"]
            assert "SQLITE_IOERR" in health["reason"]
        # stopped (the stop did not hang or raise on the failed disk)
        assert not h.switch.running
        fs.repair()
        again = tmp_path / "again"
        again.mkdir()
        h2 = Harness(again, dests=DESTS, journal=journal)
        async with h2:
            dobs: set[str] = set()
            want = {_dob(int(c[1:])) for c in acked}
            async with asyncio.timeout(20):
                while not want <= dobs:
                    fwd = await h2.recv("wps", timeout=20)
                    dobs.add(fwd.person.dob if fwd.person and fwd.person.dob else "")
            assert verify(h2.switch.journal.conn).ok


@pytest.mark.parametrize("fmt", ["ncic", "nlets", "niem", "json"])
def test_store_refusal_reads_back_in_every_origin_codec(fmt: str) -> None:
    """The .05. refusal is an ER every origin format carries: code, reason and control."""
    from clets.codecs import get_codec
    from clets.switch.engine import STORE_REASONS, encode_for_origin
    from clets.switch.messages import error_message

    codec = get_codec(fmt)
    for kind, reason in STORE_REASONS.items():
        er = error_message(fmt=fmt, switch_ori="CA0000000", code=STORE_UNAVAILABLE,
                           reason=reason, echo="QW.CA0194200.NAM/SMITH, JOHN",
                           origin="CA0194200", control="C1")
        back = codec.decode(encode_for_origin(codec, er, "QW", "switch"))
        assert back.mke == "ER" and back.control == "C1", kind
        assert back.error is not None
        assert (back.error.code, back.error.reason) == (STORE_UNAVAILABLE, reason)


@run_async
async def test_start_on_a_full_disk_runs_refuses_and_recovers(tmp_path: Path) -> None:
    """A restart (or a reboot) while the disk is still full: the switch starts, refuses new
    messages .05., and once space is back requeues what was in flight and goes on."""
    with small_fs(1 << 20) as fs:
        journal = fs.root / "journal.db"
        async with Harness(tmp_path, dests=DESTS, journal=journal) as h:
            acked, refused, _ = await _send_until_refused(h, 0, 2)
            assert acked == ["C0", "C1"]
            assert refused is None
            await h.recv("wps")  # in flight, unanswered, when the switch stops
            await h.recv("wps")
            # the journal's -wal and -shm files stay (as after a crash, or while a reader
            # such as `clets queue list` has it open): a WAL database opens only with them
            keeper = sqlite3.connect(journal)
            keeper.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        fs.fill()
        again = tmp_path / "again"
        again.mkdir()
        h2 = Harness(again, dests=DESTS, journal=journal)
        async with h2:
            keeper.close()
            health = h2.switch.health()
            assert not health["ok"] and "journal full since" in health["reason"]
            await h2.send("lapd", qw(control="N1", dob=_dob(50)))
            er = await h2.recv("lapd")
            assert er.mke == "ER" and er.error is not None
            assert er.error.code == STORE_UNAVAILABLE and er.control == "N1"
            assert h2.pending("wps") is None  # nothing sent before the start is written
            fs.free()
            await eventually(lambda: h2.switch.health()["ok"], timeout=10)
            dobs = set()
            async with asyncio.timeout(10):
                while len(dobs) < 2:
                    fwd = await h2.recv("wps")
                    dobs.add(fwd.person.dob if fwd.person else None)
            assert dobs == {_dob(0), _dob(1)}  # requeued by the start, once it was written
            again_acked, refused, _ = await _send_until_refused(h2, 50, 1)
            assert refused is None and again_acked == ["C50"]
            events = [r["event"] for r in records(h2.switch.journal.conn)]
    starts = [i for i, e in enumerate(events) if e == "started"]
    assert len(starts) == 2 and "recovered" in events[starts[1]:]


def test_clets_run_that_cannot_open_its_journal_exits_1_in_one_line(tmp_path: Path) -> None:
    """A clean close removes the -shm index, which a full disk will not let SQLite make
    again: the start fails, in one line, with exit 1 (systemd starts it again; 2 means the
    config and stops the restarts)."""
    from tests._crash_kit import switch_config

    with small_fs(1 << 20) as fs:
        journal = fs.root / "journal.db"
        cfg = tmp_path / "switch.toml"
        cfg.write_text(switch_config(journal, 0, {}), "utf-8")
        from clets.switch.journal import Journal
        Journal(journal).close()
        fs.fill()
        with pytest.raises(StorageError) as opened:
            Journal(journal)
        assert opened.value.store == "journal" and "cannot open the journal" in str(opened.value)
        run = subprocess.run([*CLETS, "run", str(cfg)], capture_output=True, text=True,
                             timeout=60)
    assert run.returncode == 1, run.stderr
    assert "clets run: journal " in run.stderr and "Traceback" not in run.stderr


@run_async
async def test_unsolicited_message_during_a_full_journal_is_delivered_after(
        tmp_path: Path) -> None:
    """An administrative message a destination sends while the journal is full is kept and
    delivered once the journal writes again (it was lost with an internal error)."""
    from clets.model import dumps

    with small_fs(1 << 20) as fs:
        async with Harness(tmp_path, dests=DESTS, journal=fs.root / "journal.db") as h:
            _no_checkpoints(h.switch)
            fs.fill()
            _acked, refused, _ = await _send_until_refused(h, 0, 400, [])
            assert refused is not None
            # larger than any refused inquiry: SQLite reuses the WAL space a failed
            # transaction took, so a smaller one could still fit
            text = "ALL UNITS: TEST " + "X" * 40000
            am = Message(format="json", mke="AM", origin="CA0000001",
                         destinations=["CA0194200"], text=text)
            held = h.switch.metrics_data.messages["storage_held"]
            await h.far["wps"].send(dumps(am).encode())
            await eventually(lambda: h.switch.metrics_data.messages["storage_held"] > held)
            assert h.pending("lapd") is None
            fs.free()
            got = await h.recv_until("lapd", "AM", timeout=10)
            assert got.text == text
            assert h.switch.metrics_data.messages["internal_error"] == 0

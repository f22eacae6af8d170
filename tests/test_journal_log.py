"""The log journal (logjournal.py): the fold, transactions, snapshots, compaction, the writer's
lock, the migration from the SQLite journal, and SIGKILLs during compaction and a rebuild.

The switch's own tests run on it too: ``make test-log`` (CLETS_JOURNAL_FORMAT=log)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clets.errors import ConfigError
from clets.switch import audit, logformat
from clets.switch.audit import AuditEvent
from clets.switch.journal import Journal
from clets.switch.logjournal import LogJournal, file_format, open_journal
from clets.switch.migrate import migrate


def _accept(j: LogJournal | Journal, i: int, now: float) -> tuple[int, int, int]:
    msn = j.insert_message(now=now, kind="request", link="sheriff", peer="SHERIFF",
                           origin="CA0190000", control=f"Q{i}", sequence=None, mke="QW",
                           operator=None, codec="json", sha256=f"{i:064x}",
                           payload=b"p%d" % i, canonical=f'{{"x":{i}}}')
    j.remember(f"CA0190000|Q{i}", msn, f"{i:064x}", now)
    j.audit(AuditEvent("received", msn=msn, outcome="ok"), now)
    f = j.add_forward(msn, "WPS", "QW", (), now, now + 30, now + 3600)
    d = j.add_delivery(msn, "sheriff", "SHERIFF", "ACK", b"ack%d" % i, now, now + 3600)
    j.audit(AuditEvent("journaled", msn=msn, outcome="accepted"), now)
    return msn, f, d


def _state(j: LogJournal) -> tuple[object, ...]:
    """What a fold must rebuild of a journal: its rows, keys, messages, audit head and meta.
    Done deliveries are left out: a running switch keeps one a while in case its connection
    is cut before the peer took it, a fold (as a snapshot) does not keep it."""
    rows = {r.id: (r.state, r.attempts, r.responses, r.frame) for r in j.list_rows(limit=10**6)
            if not (r.kind == "deliver" and r.state == "done")}
    return rows, dict(j._dedup.items()), {m: j.message(m) for m in j._msgs}, j.audit_head(), \
        j.meta_get("k")


def test_fold_after_reopen_is_the_state_and_the_chain_verifies(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = LogJournal(path)
    now = 1000.0
    with j.tx():
        msn, f, d = _accept(j, 1, now)
        j.meta_set("k", "v")
    with j.tx():
        j.mark_claimed([f], now + 1)
        j.mark_delivered(d, 1, now + 1)
    with j.tx():
        _accept(j, 2, now + 2)
    assert j.check_duplicate("CA0190000|Q1", f"{1:064x}", now + 3, 600) == ("retransmission", msn)
    before = _state(j)
    j.close()
    j2 = LogJournal(path)
    assert _state(j2) == before
    # the done delivery is not folded (within the late horizon or not): only a connection of
    # the run that delivered it could queue it again; its message stays with its forward
    assert d not in {r.id for r in j2.list_rows(limit=100)} and j2.message(msn) is not None
    assert j2.row(f).state == "in_flight" and j2.row(f).attempts == 1
    assert audit.verify(j2.conn).ok and file_format(path) == "log"
    j2.close()


def test_failed_transaction_and_savepoint_leave_no_trace(tmp_path: Path) -> None:
    j = LogJournal(tmp_path / "j.db")
    with j.tx():
        _accept(j, 1, 1.0)
    snap = _state(j)
    blocks = len(list(j.store.read()))
    with pytest.raises(RuntimeError), j.tx():
        _accept(j, 2, 2.0)
        raise RuntimeError("step failed")
    assert _state(j) == snap and len(list(j.store.read())) == blocks
    with j.tx():
        with pytest.raises(RuntimeError), j.savepoint():
            _accept(j, 3, 3.0)
            raise RuntimeError("one step")
        _accept(j, 4, 4.0)
    j.close()
    j2 = LogJournal(tmp_path / "j.db")
    assert sorted(m.control for m in j2._msgs.values()) == ["Q1", "Q4"]
    assert [r["seq"] for r in audit.records(j2.conn)] == [1, 2, 3, 4]
    assert audit.verify(j2.conn).ok
    j2.close()


def test_snapshot_moves_the_low_water_mark_and_compaction_keeps_the_chain(
        tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = LogJournal(path, late_horizon=10.0)
    for i in range(50):
        with j.tx():
            _, f, d = _accept(j, i, 100.0 + i)
            j.mark_claimed([f], 100.0 + i)
            j.mark_response(f, 100.5 + i)
            j.mark_delivered(d, 1, 100.5 + i)
    with j.tx():
        _, open_f, _ = _accept(j, 99, 200.0)
    j.forget_before(0.0)  # done forwards 10 s older than the newest change leave memory
    assert j.memory_counts()["rows"] == 2
    assert j.snapshot(whole=True) > 0
    with j.tx():
        _accept(j, 100, 201.0)
    state = _state(j)
    j.close()
    j2 = LogJournal(path)
    assert j2.replayed == 3  # the snapshot (rows, then dedup keys) and the block after it
    assert _state(j2)[1:] == state[1:] and j2.row(open_f).state == "queued"
    with j2.tx():
        rows, messages = j2.purge_delivered(time.time() + 1)
    assert rows == 102 and messages == 51  # two row images per block, below the mark
    payloads = [r for _p, b in j2.store.read() for r in logformat.decode(b)[1] if r[0] == "m"]
    assert {r[1] for r in payloads} == {51, 52}  # the open one in the snapshot, the newest
    assert audit.verify(j2.conn).ok and len(audit.records(j2.conn)) == 52 * 2
    j2.close()
    j3 = LogJournal(path)
    assert j3.row(open_f).state == "queued" and j3.audit_head() == j2.audit_head()
    j3.close()


@pytest.mark.parametrize("per_block", [32, 0])
def test_done_rows_leave_memory_a_few_per_block_written(tmp_path: Path,
                                                        per_block: int) -> None:
    """Done forwards past the late horizon leave memory a few at a time as blocks are
    written (``evict_per_block``), not all at once in the timer's pass (a stall of its own
    at 1,000 inquiries/s); ``per_block`` 0 (the negative control): only the pass evicts."""
    j = LogJournal(tmp_path / "j.db", late_horizon=10.0)
    j.evict_per_block = per_block
    for i in range(100):
        with j.tx():
            _, f, d = _accept(j, i, 100.0)
            j.mark_claimed([f], 100.0)
            j.mark_response(f, 100.0)
            j.mark_delivered(d, 1, 100.0)
    # the done forwards and deliveries, within the horizon
    assert j.memory_counts()["rows"] == 200
    counts = []
    for i in range(5):  # later changes: the horizon passes the 100 done forwards
        with j.tx():
            _accept(j, 1000 + i, 200.0)
        counts.append(j.memory_counts()["rows"])
    if per_block:
        # each block: the new message's two rows in, 32 done rows out, until none left
        assert counts == [170, 140, 110, 80, 50]
    else:
        assert counts == [202, 204, 206, 208, 210]
    j.forget_before(0.0)  # the timer's pass: whatever is left
    assert j.memory_counts()["rows"] == 10 and j.memory_counts()["open"] == 10
    j.close()
    j2 = LogJournal(tmp_path / "j.db", late_horizon=10.0)
    assert j2.memory_counts()["rows"] == 10  # the fold evicts the same rows
    j2.close()


def test_one_writer_at_a_time_readers_fold_without_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = LogJournal(path)
    with j.tx():
        _accept(j, 1, 1.0)
    with pytest.raises(ConfigError, match="in use"):
        LogJournal(path)
    r = open_journal(path, readonly=True)
    assert [row.kind for row in r.list_rows()] == ["forward", "deliver"]
    with pytest.raises(ConfigError, match="read-only"), r.tx():
        r.meta_set("x", "y")
    r.close()
    j.close()
    LogJournal(path).close()


def _old_journal(path: Path) -> Journal:
    j = Journal(path)
    with j.tx():
        for i in range(5):
            _, f, _d = _accept(j, i, 10.0 + i)
        j.mark_dead(f, "link down", 20.0)
        j.meta_set("config_sha256", "abc")
    return j


def test_migrate_converts_and_verifies(tmp_path: Path) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    _old_journal(old).close()
    out = migrate(old, new)
    assert "5 messages, 10 queue rows, 10 audit records; verified" in out
    j = LogJournal(new)
    assert j.replayed == 1 and j.dead_reason(9) == "link down"
    assert j.check_duplicate("CA0190000|Q3", f"{3:064x}", 15.0, 600)[0] == "retransmission"
    with j.tx():  # the chain goes on from the old head
        j.audit(AuditEvent("started", outcome="ok"), 30.0)
    assert audit.verify(j.conn).ok and audit.records(j.conn, last=1)[0]["seq"] == 11
    j.close()


def test_migrate_refuses_with_the_reason(tmp_path: Path) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    with pytest.raises(ConfigError, match="does not exist"):
        migrate(old, new)
    _old_journal(old).close()
    new.write_bytes(b"")
    with pytest.raises(ConfigError, match="exists already"):
        migrate(old, new)
    new.unlink()
    c = sqlite3.connect(old)
    c.execute("UPDATE audit SET outcome = 'edited' WHERE seq = 3")
    c.commit()
    c.close()
    with pytest.raises(ConfigError, match="audit chain does not verify: BROKEN at record seq 3"):
        migrate(old, new)
    assert not new.exists()
    log = tmp_path / "log.db"
    LogJournal(log).close()
    with pytest.raises(ConfigError, match="log journal already"):
        migrate(log, tmp_path / "other.db")


_WORKER = r"""
import sys, time
from clets.switch.logjournal import LogJournal
from clets.switch.audit import AuditEvent
path, mode = sys.argv[1], sys.argv[2]
j = LogJournal(path)
print("ready", j.replayed, flush=True)
if mode == "compact":
    while True:
        with j.tx():
            j.purge_delivered(time.time() + 10, limit=50)
else:
    time.sleep(60)
"""


def _fill(path: Path, n: int) -> None:
    j = LogJournal(path)
    for i in range(n):
        with j.tx():
            _, f, d = _accept(j, i, 100.0 + i)
            if i % 3:
                j.mark_claimed([f], 100.0 + i)
                j.mark_response(f, 100.0 + i)
                j.mark_delivered(d, 1, 100.0 + i)
        if i % 100 == 99:
            j.snapshot(whole=True)
    j.close()


@pytest.mark.parametrize("mode", ["compact", "rebuild"])
def test_sigkill_during_compaction_or_rebuild_loses_nothing(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "j.db"
    _fill(path, 600)
    ref = LogJournal(path, readonly=True)
    want_open = {r.id for r in ref.list_rows(limit=10**6) if r.state != "done"}
    ref.close()
    for delay in (0.0, 0.05, 0.15, 0.3):
        p = subprocess.Popen([sys.executable, "-c", _WORKER, str(path), mode],
                             stdout=subprocess.PIPE, text=True)
        if mode == "compact":
            assert p.stdout is not None and p.stdout.readline().startswith("ready")
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        if p.stdout is not None:
            p.stdout.close()
        j = LogJournal(path)
        assert {r.id for r in j.list_rows(limit=10**6) if r.state != "done"} == want_open
        assert audit.verify(j.conn).ok and len(audit.records(j.conn)) == 600 * 2
        j.close()


def test_a_running_switch_is_asked_on_its_admin_socket_never_written_under(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import json
    import stat

    from click.testing import CliRunner

    from clets.cli import cli
    from tests._switch_kit import Harness, eventually, qv

    monkeypatch.setenv("CLETS_JOURNAL_FORMAT", "log")
    runner = CliRunner()

    async def main() -> None:
        h = Harness(tmp_path, extra="")
        await h.switch.start()
        try:
            assert isinstance(h.switch.journal, LogJournal)
            sock = Path(f"{h.journal_path}.sock")
            assert stat.S_IMODE(sock.stat().st_mode) == 0o600
            h.near["svs"].set_down()
            await h.send("sheriff", qv(origin="CA0190000", control="Q1"))
            j = h.switch.journal
            for tried in range(4):
                # each attempt's outcome before the clock moves on (test_switch_admin.py)
                await eventually(lambda n=tried: any(
                    r.state in ("queued", "dead") and r.attempts > n
                    for r in j.list_rows(target="SVS")))
                await h.advance(10)
            await eventually(lambda: j.list_rows(target="SVS", state="dead"))
            (dead,) = j.list_rows(target="SVS", state="dead")
            # reads fold the committed log, while the switch runs
            listed = await asyncio.to_thread(runner.invoke, cli, [
                "queue", "list", "--journal", str(h.journal_path), "--json", "--state", "dead"])
            assert [json.loads(x)["id"] for x in listed.output.splitlines()] == [dead.id]
            res = await asyncio.to_thread(runner.invoke, cli, [
                "queue", "retry", "--journal", str(h.journal_path), str(dead.id)])
            assert res.exit_code == 0 and "queued for SVS" in res.output, res.output
            assert j.row(dead.id).state in ("queued", "in_flight")
            assert j.row(dead.id).attempts <= 1
            bad = await asyncio.to_thread(runner.invoke, cli, [
                "queue", "retry", "--journal", str(h.journal_path), "999999999"])
            assert bad.exit_code != 0 and "no queue entry" in bad.output
            # without its socket the file is still the switch's: the command is refused
            sock.unlink()
            refused = await asyncio.to_thread(runner.invoke, cli, [
                "queue", "purge", "--dead", "--journal", str(h.journal_path)])
            assert refused.exit_code != 0 and "in use" in refused.output + str(refused.exception)
            events = [r["event"] for r in audit.records(j.conn)]
            assert events.count("replayed") == 1 and "purged" not in events
        finally:
            await h.switch.stop(drain=False)

    asyncio.run(main())


def test_dedup_keys_expire_in_order_and_a_key_set_again_lives_on() -> None:
    from clets.switch.dedupkeys import DedupKeys

    d = DedupKeys()
    for i in range(10):
        d.set(f"k{i}", i, f"{i:064x}", float(i))
    d.set("k2", 20, f"{20:064x}", 20.0)  # set again: its window starts again
    assert d.expire(2.0) == 2 and d.get("k0") is None and d.get("k2") == (20, f"{20:064x}", 20.0)
    assert d.expire(5.0) == 2  # k3, k4 (k2's old place is skipped)
    assert sorted(k for k, _v in d.items()) == ["k2", "k5", "k6", "k7", "k8", "k9"]
    assert d.expire(100.0) == 6 and len(d) == 0

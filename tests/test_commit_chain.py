"""The commits one inquiry waits on: its accept (ACK and forwards released by it) and its
answer (the delivery released by it) -- two, on either journal.

Before, the forwards waited for a worker's turn after the accept, and the records that they
and the deliveries were sent had commits of their own that the answers' commit queued behind:
four sequential commits per inquiry (docs/performance.md).  The lazy steps' window is set
long here, so the count does not depend on how fast the test runs."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from clets.switch.audit import AuditEvent, records, verify
from clets.switch.batch import GroupCommit
from clets.switch.logjournal import LogJournal, open_journal
from clets.switch.logstore import SqliteLogStore
from tests._switch_kit import Harness, eventually, qw, run_async

pytestmark = pytest.mark.timeout(30)

FANOUT = ("WPS", "NCIC", "CARPOS")


@pytest.mark.parametrize("fmt", ["log", "sqlite"])
@run_async
async def test_an_inquiry_waits_on_two_commits(tmp_path: Path, fmt: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLETS_JOURNAL_FORMAT", fmt)
    h = Harness(tmp_path)
    async with h:
        gc = h.switch._gc
        gc.lazy_delay = 60.0
        f0 = gc.fsyncs
        await h.send("lapd", qw(control="CHAIN1"))
        ack = await h.recv("lapd")
        fwd = {d: await h.recv(d.lower()) for d in FANOUT}
        # the ACK and all three forwards left after ONE commit, which also claimed them
        assert ack.mke == "ACK" and gc.fsyncs - f0 == 1
        rows = {r.target: r for r in h.switch.journal.list_rows()}
        assert all(rows[d].state == "in_flight" and rows[d].attempts == 1 for d in FANOUT)
        # their "forwarded" records wait for the next commit: the answer's
        assert "forwarded" not in [r["event"] for r in records(h.switch.journal.conn)]
        await h.answer("NCIC", fwd["NCIC"], status="hit", text="WANTED")
        got = await h.recv("lapd")
        assert got.status == "hit" and got.control == "CHAIN1"
        # the answer's delivery left after ONE more commit (the forwarded records in it)
        assert gc.fsyncs - f0 == 2
        events = [r["event"] for r in records(h.switch.journal.conn)]
        assert events.count("forwarded") == 3 and events.count("responded") == 1
        assert "delivered" not in events  # lazy: in the next commit
        gc.flush()
        events = [r["event"] for r in records(h.switch.journal.conn)]
        assert events[-7:] == ["received", "journaled", "forwarded", "forwarded", "forwarded",
                               "responded", "delivered"]
        delivery = [r for r in h.switch.journal.list_rows() if r.kind == "deliver"]
        assert [(r.state, r.attempts) for r in delivery] == [("done", 1)]


@pytest.mark.parametrize("fmt", ["log", "sqlite"])
@run_async
async def test_a_failed_direct_forward_queues_the_next_ones_behind_it(
        tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forward sent directly that fails is queued for its retry; the forwards accepted
    after it to the same destination go through the queue behind it (in order) until the
    queue is empty."""
    monkeypatch.setenv("CLETS_JOURNAL_FORMAT", fmt)
    h = Harness(tmp_path)
    async with h:
        await h.far["wps"].close()  # the destination's end is gone: sends fail
        await h.send("lapd", qw(control="FAIL1"))
        await h.recv("lapd")
        await eventually(lambda: h.switch.journal.has_queued("WPS"))
        assert "WPS" in h.switch._direct_off
        await h.send("lapd", qw(control="FAIL2"))
        await h.recv("lapd")
        await eventually(lambda: [r.state for r in h.switch.journal.list_rows(target="WPS")]
                         == ["queued", "queued"])
        # the other destinations were not held up
        assert (await h.recv("ncic")).mke == "QW"


@run_async
async def test_a_lazy_step_rides_in_the_next_commit_or_waits_its_delay(tmp_path: Path) -> None:
    j = open_journal(tmp_path / "j.db", "log")
    gc = GroupCommit(j, lazy_delay=0.2)
    seen: list[str] = []

    def rec(tag: str) -> Any:
        return lambda: j.audit(AuditEvent("received", outcome=tag), 1.0)

    async def main() -> None:
        gc.submit(rec("lazy1"), lambda ok, v: seen.append("lazy1"), lazy=True)
        await asyncio.sleep(0.05)
        assert gc.commits == 0 and len(gc) == 1  # not committed at the end of the turn
        await gc.call(rec("urgent"))  # one commit carries both
        assert gc.commits == 1 and seen == ["lazy1"]
        gc.submit(rec("lazy2"), lambda ok, v: seen.append("lazy2"), lazy=True)
        await eventually(lambda: seen == ["lazy1", "lazy2"], timeout=5.0)
        assert gc.commits == 2

    await main()
    assert [r["outcome"] for r in records(j.conn)] == ["lazy1", "urgent", "lazy2"]
    j.close()


class _GatedStore(SqliteLogStore):
    """The real SQLite store whose appends wait for the test's go, and fail when told to
    (as a full disk's would: ``sqlite3.OperationalError``)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.fail = False

    def append(self, block: bytes, *, mark: bool = False) -> int:
        self.gate.wait(10)
        if self.fail:
            raise sqlite3.OperationalError("database or disk is full")
        return super().append(block, mark=mark)


def _accept_step(j: LogJournal, tag: str) -> Any:
    def step() -> int:
        msn = j.insert_message(now=1.0, kind="request", link="l", peer="P", origin="CA0194200",
                               control=tag, sequence=None, mke="QW", operator=None,
                               codec="json", sha256="0" * 64, payload=tag.encode(),
                               canonical="{}")
        j.add_forward(msn, "WPS", "QW", (), 1.0, 31.0, 601.0)
        j.audit(AuditEvent("received", msn=msn, outcome=tag), 1.0)
        return msn
    return step


@run_async
async def test_writer_thread_builds_the_next_block_and_a_failed_append_undoes_both(
        tmp_path: Path) -> None:
    """With the writer thread, steps run while a block is being written (their changes in
    memory at once, released only when their own block is durable); when the block in
    flight fails, it and the block built on it are undone, newest first, and every
    continuation of both sees the error; the next block is written on the state before."""
    path = tmp_path / "j.db"
    store = _GatedStore(path)
    j = LogJournal(path, store=store)
    gc = GroupCommit(j, threaded=True)
    await gc.call(_accept_step(j, "A"))  # durable
    head, rows = j.audit_head(), j.list_rows()
    store.gate.clear()
    first = gc.call(_accept_step(j, "B"))
    await asyncio.sleep(0.05)  # B's block is in flight (its append waits at the gate)
    second = gc.call(_accept_step(j, "C"))
    await asyncio.sleep(0.05)
    # C ran at once, on B's state, in the block built meanwhile; neither is released
    assert [r.id for r in j.list_rows()] == [rows[0].id, rows[0].id + 1, rows[0].id + 2]
    assert not first.done() and not second.done()
    assert [r.id for r in j.due_rows("WPS", 2.0, 10)] == [rows[0].id]  # only durable rows
    store.fail = True
    store.gate.set()
    for fut in (first, second):
        with pytest.raises(sqlite3.OperationalError):
            await fut
    assert j.list_rows() == rows and j.audit_head() == head
    store.fail = False
    assert await gc.call(_accept_step(j, "D")) == 2  # B's and C's msns were undone too
    gc.flush()
    j.close()
    j2 = LogJournal(path)
    assert [m.control for m in j2._msgs.values()] == ["A", "D"]
    assert [r["outcome"] for r in records(j2.conn)] == ["A", "D"]
    assert verify(j2.conn).ok
    j2.close()


@pytest.mark.parametrize("threaded", [False, True])
@run_async
async def test_gather_takes_the_steps_of_the_next_turns_into_the_same_commit(
        tmp_path: Path, threaded: bool) -> None:
    """``commit_gather``: a batch waits that many loop turns, so steps submitted in them (the
    readers of frames that arrived meanwhile: a fan-out's other answers) are written in its
    block, one fsync, not queued behind it for one of their own.  Without it, a step one
    turn later is a commit of its own (the negative control)."""
    loop = asyncio.get_running_loop()

    async def commits(gather: int) -> tuple[int, list[str]]:
        j = open_journal(tmp_path / f"j{gather}{threaded}.db", "log")
        gc = GroupCommit(j, gather=gather, threaded=threaded)
        seen: list[str] = []

        def rec(tag: str) -> Any:
            return lambda: j.audit(AuditEvent("received", outcome=tag), 1.0)

        def later(tag: str, turns: int) -> None:  # a step ``turns`` loop turns from now
            if turns:
                loop.call_soon(later, tag, turns - 1)
            else:
                gc.submit(rec(tag), lambda ok, v: seen.append(tag))

        gc.submit(rec("first"), lambda ok, v: seen.append("first"))
        later("second", 0)  # queued after the batch's first turn
        later("third", 1)   # one turn later
        await eventually(lambda: len(seen) == 3, timeout=5.0)
        n = gc.fsyncs
        gc.flush()
        assert [r["outcome"] for r in records(j.conn)] == ["first", "second", "third"]
        j.close()
        return n, seen

    assert await commits(2) == (1, ["first", "second", "third"])
    assert (await commits(0))[0] >= 2


@run_async
async def test_writer_thread_appends_the_built_block_without_the_loop(tmp_path: Path) -> None:
    """Adaptive group commit: the block built while one is written is appended by the
    writer thread as soon as the one in flight is durable -- the event loop, busy with
    something else (here: held), is not in that hand-over, so the disk does not wait for it.
    Its continuations still run on the loop, once it is free again."""
    import time as _time

    path = tmp_path / "j.db"
    store = _GatedStore(path)
    j = LogJournal(path, store=store)
    gc = GroupCommit(j, threaded=True)
    await gc.call(_accept_step(j, "A"))
    store.gate.clear()
    first = gc.call(_accept_step(j, "B"))
    await asyncio.sleep(0.05)  # B's block is in flight (waiting at the gate)
    second = gc.call(_accept_step(j, "C"))
    await asyncio.sleep(0.05)  # C is in the block built meanwhile
    before = store.appends
    store.gate.set()
    deadline = _time.monotonic() + 5.0
    while store.appends < before + 2 and _time.monotonic() < deadline:
        _time.sleep(0.01)  # the loop held: no callback of it runs
    assert store.appends == before + 2  # B's block, then C's, both written meanwhile
    assert not first.done() and not second.done()  # released by the loop, not the writer
    assert await first == 2 and await second == 3
    gc.flush()
    j.close()
    j2 = LogJournal(path)
    assert [m.control for m in j2._msgs.values()] == ["A", "B", "C"]
    assert verify(j2.conn).ok
    j2.close()

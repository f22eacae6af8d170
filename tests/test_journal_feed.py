"""A client's delivery feed (``deliveries_after``) on both journals: the rows queued for one
peer of one link after a given id, in order, with their frames, across eviction from memory,
snapshots, restarts and retention (the HTTP API's event stream resumes from it)."""

from __future__ import annotations

import itertools
import random
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clets.adapters.memory import MemoryLink
from clets.switch import Switch
from clets.switch.journal import Delivery, Journal
from clets.switch.logjournal import AnyJournal, LogJournal
from tests._switch_kit import Harness, eventually, qw, run_async

FORMATS = ("sqlite", "log")


def _open(path: Path, fmt: str) -> AnyJournal:
    return LogJournal(path, late_horizon=5.0) if fmt == "log" else Journal(path)


def _message(j: AnyJournal, i: int, now: float) -> int:
    return j.insert_message(now=now, kind="request", link="api", peer="CAD", origin="CA0190000",
                            control=f"Q{i}", sequence=None, mke="QW", operator=None,
                            codec="json", sha256=f"{i:064x}", payload=b"p%d" % i,
                            canonical=f'{{"x":{i}}}')


def _deliver(j: AnyJournal, msn: int, peer: str | None, frame: bytes, now: float,
             link: str = "api") -> int:
    return j.add_delivery(msn, link, peer, "QWR", frame, now, now + 3600)


@pytest.mark.parametrize("fmt", FORMATS)
def test_feed_is_the_peers_deliveries_in_order_after_an_id(tmp_path: Path, fmt: str) -> None:
    j = _open(tmp_path / "j.db", fmt)
    now = 1000.0
    with j.tx():
        msn = _message(j, 1, now)
        a = _deliver(j, msn, "CAD", b"one", now)
        _deliver(j, msn, "RMS", b"other peer", now)
        _deliver(j, msn, "CAD", b"other link", now, link="tcp")
        _deliver(j, msn, None, b"no peer", now)
        b = _deliver(j, msn, "CAD", b"two", now + 1)
    with j.tx():
        j.mark_delivered(a, 1, now + 2)
    feed = j.deliveries_after("api", "CAD", 0)
    assert feed == [Delivery(a, msn, b"one", now, "done", "QWR"),
                    Delivery(b, msn, b"two", now + 1, "queued", "QWR")]
    assert j.deliveries_after("api", "CAD", a) == feed[1:]
    assert j.deliveries_after("api", "CAD", b) == []
    assert j.deliveries_after("api", "CAD", 0, limit=1) == feed[:1]
    assert [d.frame for d in j.deliveries_after("api", None, 0)] == [b"no peer"]
    j.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_feed_outlives_eviction_snapshots_and_restarts(tmp_path: Path, fmt: str) -> None:
    """Delivered rows leave the log journal's memory after the late horizon and are not in
    its snapshots: the feed reads them back from the log, after a restart too."""
    path = tmp_path / "j.db"
    j = _open(path, fmt)
    now = 1000.0
    ids: list[int] = []
    for i in range(40):
        with j.tx():
            msn = _message(j, i, now + i)
            ids.append(_deliver(j, msn, "CAD", b"answer %d" % i, now + i))
            _deliver(j, msn, "RMS", b"x", now + i)
        with j.tx():
            j.mark_delivered(ids[-1], 1, now + i)
    j.forget_before(now)  # evicts the done rows older than the late horizon
    if isinstance(j, LogJournal):
        assert j.memory_counts()["rows"] < 80
        j.snapshot(whole=True)
    want = [(d, b"answer %d" % i) for i, d in enumerate(ids)]
    got = [(d.id, d.frame) for d in j.deliveries_after("api", "CAD", 0)]
    assert got == want
    j.close()
    j = _open(path, fmt)
    assert [(d.id, d.frame, d.state) for d in j.deliveries_after("api", "CAD", ids[9])] == \
        [(d, f, "done") for d, f in want[10:]]
    # paging by the last id seen gives the same feed
    paged, after = [], 0
    while page := j.deliveries_after("api", "CAD", after, limit=7):
        paged.extend(d.id for d in page)
        after = page[-1].id
    assert paged == ids
    j.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_feed_reaches_back_as_far_as_the_retention(tmp_path: Path, fmt: str) -> None:
    j = _open(tmp_path / "j.db", fmt)
    old, new = 1000.0, 1000.0 + 40 * 86400
    with j.tx():
        msn = _message(j, 1, old)
        gone = _deliver(j, msn, "CAD", b"old", old)
        waiting = _deliver(j, msn, "CAD", b"old, never delivered", old)
    with j.tx():
        j.mark_delivered(gone, 1, old)
    with j.tx():
        msn2 = _message(j, 2, new)
        kept = _deliver(j, msn2, "CAD", b"new", new)
    j.forget_before(new)
    if isinstance(j, LogJournal):
        # compaction works below the low-water mark, by the blocks' write time (the wall
        # clock): every block written so far is older than a second from now
        j.snapshot(whole=True)
        j.purge_delivered(time.time() + 1)
    else:
        j.purge_delivered(new - 30 * 86400)
    assert [d.id for d in j.deliveries_after("api", "CAD", 0)] == [waiting, kept]
    j.close()


def test_log_feed_holds_back_a_block_not_yet_durable(tmp_path: Path) -> None:
    """An id a client saw must survive a crash: a row of the block the writer thread is
    still appending is not in the feed until that block is written."""
    j = LogJournal(tmp_path / "j.db")
    j.start_writer()
    with j.tx():
        msn = _message(j, 1, 1.0)
        first = _deliver(j, msn, "CAD", b"durable", 1.0)
    gate = threading.Event()
    assert j._writer is not None
    j._writer.submit(gate.wait)  # the writer thread appends the next block after this
    j.defer = True
    with j.tx():
        second = _deliver(j, msn, "CAD", b"in flight", 2.0)
    assert j.pending is not None and not j.pending.done()
    assert [d.id for d in j.deliveries_after("api", "CAD", 0)] == [first]
    gate.set()
    assert j.settle() is None
    assert [d.id for d in j.deliveries_after("api", "CAD", 0)] == [first, second]
    j.close()


_counter = itertools.count()
#: one operation on the journal: deliver to a peer, mark a row delivered, evict, snapshot
_ops = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["CAD", "RMS"])),
    st.tuples(st.just("done"), st.integers(0, 50)),
    st.tuples(st.just("evict"), st.just(0)),
    st.tuples(st.just("snap"), st.just(0))), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, after_pick=st.integers(0, 60), limit=st.integers(1, 12),
       fmt=st.sampled_from(FORMATS), reopen=st.booleans())
def test_feed_matches_a_model(ops: list[tuple[str, object]], after_pick: int, limit: int,
                              fmt: str, reopen: bool) -> None:
    """Whatever happened to the rows, the feed after any id is the model's: the peer's
    deliveries above it, oldest first, at most ``limit``, with each one's frame."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"j{next(_counter)}.db"
        j = _open(path, fmt)
        model: list[tuple[int, str, bytes]] = []
        now = 1000.0
        with j.tx():
            msn = _message(j, 0, now)
        for op, arg in ops:
            now += 3.0
            if op == "add":
                frame = b"f%d" % len(model)
                with j.tx():
                    oid = _deliver(j, msn, str(arg), frame, now)
                model.append((oid, str(arg), frame))
            elif op == "done" and model:
                with j.tx():
                    j.mark_delivered(model[int(str(arg)) % len(model)][0], 1, now)
            elif op == "evict":
                j.forget_before(now)
            elif op == "snap" and isinstance(j, LogJournal):
                j.snapshot(whole=True)
        if reopen:
            j.close()
            j = _open(path, fmt)
        mine = [(oid, frame) for oid, peer, frame in model if peer == "CAD"]
        ids = [oid for oid, _p, _f in model]
        after = ids[after_pick % len(ids)] if ids and after_pick < 50 else 0
        want = [(oid, frame) for oid, frame in mine if oid > after][:limit]
        assert [(d.id, d.frame) for d in j.deliveries_after("api", "CAD", after, limit)] == want
        j.close()


class _RowIdLink(MemoryLink):
    """A memory link whose ``send`` takes ``row_id``, as the API link's does."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.row_ids: list[int | None] = []

    async def send(self, frame: bytes, *, row_id: int | None = None) -> None:
        self.row_ids.append(row_id)
        await super().send(frame)


@run_async
async def test_engine_hands_a_link_the_row_id_of_each_delivery(tmp_path: Path) -> None:
    """The id a link is given is the feed's id of the same frame: what a client saw live and
    what it reads back after a reconnect are one sequence."""
    h = Harness(tmp_path)
    near = _RowIdLink("lapd")
    near._other, h.far["lapd"]._other = h.far["lapd"], near
    h.near["lapd"] = near
    h.switch = Switch(h.config, dict(h.near), clock=h.clock, rng=random.Random(7), poll=0.02,
                      send_timeout=2.0)
    async with h:
        await h.send("lapd", qw(control="LAPD0001"))
        await h.recv("lapd")  # ACK
        fwd = await h.recv("ncic")
        await h.answer("NCIC", fwd, status="hit", text="WANTED")
        await h.recv("lapd")
        await eventually(lambda: len(near.row_ids) == 2)
        feed = h.switch.journal.deliveries_after("lapd", "LAPD", 0)
        # the ACK is sent at intake, not queued: no row, no id
        assert near.row_ids[0] is None and len(feed) == 1
        sent = list(zip(near.row_ids, near.sent, strict=True))
        assert [(d.id, d.frame) for d in feed] == sent[1:]


@pytest.mark.parametrize("fmt", FORMATS)
@run_async
async def test_the_streams_replay_merges_the_api_links_in_id_order(tmp_path: Path,
                                                                   fmt: str) -> None:
    """A client's deliveries are on each API link of its codecs: the stream's replay reads
    them all in one id order, a page at a time (the log journal on a thread)."""
    from clets.api.stream import replay

    j = _open(tmp_path / "j.db", fmt)
    now = 1000.0
    ids = []
    for i in range(30):
        link = ("api", "api-ncic", "api-niem")[i % 3]
        with j.tx():
            msn = _message(j, i, now + i)
            ids.append(_deliver(j, msn, "CAD", b"%d" % i, now + i, link=link))
            _deliver(j, msn, "RMS", b"x", now + i, link=link)
        if i % 2:
            with j.tx():
                j.mark_delivered(ids[-1], 1, now + i)
    j.forget_before(now)
    if isinstance(j, LogJournal):
        j.snapshot(whole=True)
    links = ["api", "api-ncic", "api-niem"]
    paged, after = [], 0
    while page := await replay(j, links, "CAD", after, limit=4):
        paged.extend((d.id, d.frame) for d in page)
        after = page[-1].id
    assert paged == [(oid, b"%d" % i) for i, oid in enumerate(ids)]
    j.close()

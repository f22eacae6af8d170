"""``GET /v1/events`` on a real uvicorn socket (the daemon in this process, the simulator
behind it): answers arrive live with the journal's ids, a reconnect with ``Last-Event-ID``
replays what was missed from the journal, and a client that hangs up again and again while
inquiries keep coming gets every answer exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from clets.api.events import EventHub
from clets.api.stream import event_stream
from clets.switch.journal import Journal
from tests._events_kit import Reader, qw, running_daemon
from tests._switch_kit import eventually, run_async

pytestmark = pytest.mark.timeout(120)

#: answering ORI of each simulated destination
ORIS = {"CADOJWPS0", "DCFBIWA00", "CADOJPO00"}


@run_async
async def test_answers_live_then_replayed_after_a_reconnect(tmp_path: Path) -> None:
    async with running_daemon(tmp_path) as (daemon, base), \
            httpx.AsyncClient(base_url=base, timeout=20) as http:
        live = Reader()
        reading = asyncio.create_task(live.read(
            http, until=lambda r: len(r.answers()) >= 3, headers={"Last-Event-ID": "0"}))
        await asyncio.sleep(0.2)  # the stream is open (it starts with the replay: empty)
        r = await http.post("/v1/messages", json=qw("E1"))
        assert r.status_code == 202, r.text
        msn = r.json()["msn"]
        await reading
        assert sorted(o for _c, o in live.answers()) == sorted(ORIS)
        assert all(e["msn"] == msn and e["mke"] for e in live.events)
        ids = [e["id"] for e in live.events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        # the ids are the journal's delivery rows, and the frames its frames
        journal = daemon.switch.journal
        rows = {d.id: d for d in journal.deliveries_after("api", "LAPD", 0)}
        assert set(ids) <= set(rows)

        # a client that read only the first answer resumes from its id: the two others
        again = Reader()
        again.last = ids[0]
        await again.read(http, until=lambda r: len(r.events) >= 2)
        assert [e["id"] for e in again.events] == ids[1:]
        assert again.events == live.events[1:]

        # ?after= is the same as the header; a bad Last-Event-ID is a 400 problem
        async with http.stream("GET", f"/v1/events?after={ids[0]}") as resp:
            buf = b""
            async for chunk in resp.aiter_raw():
                buf += chunk
                if buf.count(b"\nid: ") + buf.startswith(b"id: ") >= 2:
                    break
            assert f"id: {ids[1]}".encode() in buf and f"id: {ids[0]}\n".encode() not in buf
        # a client that hung up leaves no subscription behind
        assert daemon.api is not None
        await eventually(lambda: daemon.api.hub.streams() == 0)
        bad = await http.get("/v1/events", headers={"Last-Event-ID": "-5"})
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert "Last-Event-ID" in bad.json()["detail"]


@run_async
async def test_hanging_up_again_and_again_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """Inquiries keep coming while the client reads two events at a time and reconnects
    with its last id: the seam between replay and live neither drops nor repeats one."""
    n = 12
    async with running_daemon(tmp_path) as (_daemon, base), \
            httpx.AsyncClient(base_url=base, timeout=20) as http:
        reader = Reader()
        reader.last = 0

        async def post_all() -> None:
            for i in range(n):
                r = await http.post("/v1/messages", json=qw(f"S{i}"))
                assert r.status_code == 202, r.text
                await asyncio.sleep(0.02)

        posting = asyncio.create_task(post_all())
        async with asyncio.timeout(60):
            while len(reader.answers()) < 3 * n:
                if posting.done():
                    posting.result()  # a refused post fails here, not as a timeout
                have = len(reader.events)
                await reader.read(http, until=lambda r, h=have: len(r.events) >= h + 2)
        await posting
        counts = Counter(reader.answers())
        assert len(counts) == 3 * n and set(counts.values()) == {1}
        assert {c for c, _o in counts} == {f"S{i}" for i in range(n)}
        ids = [e["id"] for e in reader.events]
        assert len(set(ids)) == len(ids)


@run_async
async def test_stream_seam_with_a_journal_and_a_hub(tmp_path: Path) -> None:
    """The seam on its own: a delivery committed before the stream reads the journal and
    published after it subscribed comes once; one published while the replay runs, once."""
    j = Journal(tmp_path / "j.db")
    with j.tx():
        msn = j.insert_message(now=1.0, kind="request", link="api", peer="CAD", origin="X",
                               control="C", sequence=None, mke="QW", operator=None,
                               codec="json", sha256="0" * 64, payload=b"", canonical="{}")
        ids = [j.add_delivery(msn, "api", "CAD", "QWR", b'{"n":%d}' % i, 1.0, 99.0)
               for i in range(3)]
    hub = EventHub()
    gen = event_stream(hub, lambda: j, ["api"], "CAD", 0, keepalive=0.05)
    out = [await gen.__anext__()]  # retry: subscribed, the journal not read yet
    await hub.publish("CAD", ids[2], b'{"n":2}')  # sent live while the replay is due
    out.append(await gen.__anext__())  # the replay: all three
    with j.tx():
        late = j.add_delivery(msn, "api", "CAD", "QWR", b'{"n":3}', 2.0, 99.0)
    await hub.publish("CAD", ids[1], b'{"n":1}')  # a repeat (a restart sends it again)
    await hub.publish("CAD", late, b'{"n":3}')
    out.append(await gen.__anext__())  # ": live"
    out.append(await gen.__anext__())
    await gen.aclose()
    text = b"".join(out).decode()
    assert [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")] == \
        [*ids, late]
    assert hub.streams() == 0
    j.close()



@pytest.mark.parametrize("fmt", ["sqlite", "log"])
@run_async
async def test_a_resume_from_before_the_retention_is_told_gone(tmp_path: Path, fmt: str
                                                               ) -> None:
    """Deliveries to the client removed by retention (purged, or compacted out of the log)
    above its ``Last-Event-ID``: the stream says so with an ``event: gone`` (no id), then
    replays what is left; a resume from at or above what was removed gets no such event."""
    import time

    import msgspec

    from clets.api import sse
    from clets.switch.logjournal import open_journal

    j = open_journal(tmp_path / "j.db", fmt)
    old = 100.0 if fmt == "sqlite" else time.time()

    def deliver(i: int, now: float) -> int:
        with j.tx():
            msn = j.insert_message(now=now, kind="request", link="api", peer="CAD",
                                   origin="X", control=f"C{i}", sequence=None, mke="QW",
                                   operator=None, codec="json", sha256=f"{i:064x}",
                                   payload=b"", canonical="{}")
            oid = j.add_delivery(msn, "api", "CAD", "QWR", b'{"n":%d}' % i, now, now + 1e9)
            j.add_delivery(msn, "api", "OTHER", "QWR", b"{}", now, now + 1e9)
            j.mark_delivered(oid, 1, now)
        return oid

    dropped = [deliver(i, old) for i in range(3)]
    if fmt == "log":
        assert j.snapshot(whole=True) > 0  # the three below the low-water mark
    kept = deliver(3, old + 100)
    j.forget_before(0.0)  # log: the done rows 30 s older than the newest leave memory
    with j.tx():
        j.purge_delivered(time.time() + 1 if fmt == "log" else old + 50)
    assert j.feed_dropped("api", "CAD") == dropped[-1]
    assert j.feed_dropped("api", "OTHER") == 0  # its rows are open: nothing removed

    async def read(after: int) -> list[sse.Event]:
        hub = EventHub()
        gen = event_stream(hub, lambda: j, ["api"], "CAD", after, keepalive=0.05)
        text = b""
        while b": live" not in text:
            text += await gen.__anext__()
        await gen.aclose()
        assert hub.resumes_too_old == (1 if after < dropped[-1] else 0)
        return sse.parse(text)[0]

    for after in (0, dropped[0]):
        gone, *rest = await read(after)
        assert gone.event == "gone" and gone.id in ("", None)
        info = msgspec.json.decode(gone.data)
        assert info["last_event_id"] == after and info["dropped_through"] == dropped[-1]
        assert [int(e.id) for e in rest] == [kept]
    assert [(e.event, int(e.id)) for e in await read(dropped[-1])] == [("message", kept)]
    j.close()


@run_async
async def test_unsolicited_notifications_reach_every_peers_stream(tmp_path: Path) -> None:
    """A ``$.`` notification a destination sends for an ORI goes to the peer owning it: to
    its own link if it has one, and to its event stream (the API's json link serves every
    peer); a peer that is only an API client gets it on its stream alone."""
    import random

    import msgspec

    from clets.adapters.memory import memory_pair
    from clets.api import sse
    from clets.api.config import api_config
    from clets.api.server import ApiServer
    from clets.model import Message, dumps, loads
    from clets.switch import ManualClock, Switch, parse_config
    from tests._switch_kit import config_text

    extra = ('\n[[peer]]\nmnemonic = "BWC"\noris = ["CA0194299"]\naccess = "inquiry"\n\n'
             '[api]\nlisten = "127.0.0.1:0"\nplain = true\npeer = "BWC"\n')
    text = config_text(tmp_path / "journal.db", dests=("NCIC",), extra=extra)
    cfg = parse_config(text, str(tmp_path / "switch.toml"), tmp_path)
    acfg = api_config(cfg, text)
    assert acfg is not None
    server = ApiServer(acfg, cfg)
    near, far = {}, {}
    for name in cfg.links:
        near[name], far[name] = memory_pair(f"{tmp_path.name}-{name}")
    switch = Switch(server.with_links(cfg), {**near, **server.given_links()},
                    clock=ManualClock(), rng=random.Random(7), poll=0.02)
    await switch.start()
    await server.start(switch)
    try:
        async with httpx.AsyncClient(base_url=f"http://{server.address()}", timeout=10) as http:
            for ori in ("CA0194299", "CA0380100"):  # BWC (API only), SFPD (its own link too)
                note = Message(format="json", mke="$.L", origin="WA0170000",
                               destinations=[ori], text=f"LOCATED: {ori}")
                await far["ncic"].send(dumps(note).encode())
            got = []
            async with asyncio.timeout(10), \
                    http.stream("GET", "/v1/events", headers={"Last-Event-ID": "0"}) as r:
                buf = b""
                async for chunk in r.aiter_raw():
                    events, buf = sse.parse(buf + chunk)
                    got += [msgspec.json.decode(e.data) for e in events]
                    if got:
                        break
            assert [(e["mke"], e["message"]["text"]) for e in got] == \
                [("$.L", "LOCATED: CA0194299")]
            assert loads(await far["sfpd"].receive()).text == "LOCATED: CA0380100"
            sfpd_rows = switch.journal.deliveries_after("api", "SFPD", 0)
            assert [msgspec.json.decode(d.frame)["text"] for d in sfpd_rows] == \
                ["LOCATED: CA0380100"]
    finally:
        await server.stop()
        await switch.stop(drain=False)


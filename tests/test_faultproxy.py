"""Stream links through the fault proxy: whole frames only, recovery, nothing acknowledged lost.

"Acknowledged" here is a *test-level application ack*: the server answers ``A<seq>`` after it
has recorded frame ``<seq>``; the client counts a frame as delivered only when that answer
arrives, and resends anything unanswered after a reconnect.  The link itself is at-most-once per
connection; this resend loop plays the role of the switch journal (at-least-once), and the
server's set of recorded frames plays the duplicate suppression.
"""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

from clets.adapters.faultproxy import FaultProxy, Faults
from clets.adapters.tcp import Backoff, StreamOptions, TcpClient, TcpServer
from clets.errors import LinkError
from tests._tlscerts import Events, Pki, arun

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def make_frame(seq: int, rng: random.Random) -> bytes:
    """A self-checking frame: a torn or spliced frame cannot pass ``check_frame``."""
    body = f"{seq:06d}:".encode() + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 900)))
    return hashlib.sha256(body).digest()[:8] + body


def check_frame(frame: bytes) -> int:
    digest, body = frame[:8], frame[8:]
    assert hashlib.sha256(body).digest()[:8] == digest, "torn or corrupted frame delivered"
    return int(body[:6])


async def _servers(pki: Pki, tls: bool, opts: StreamOptions, ev: Events) -> TcpServer:
    if tls:
        return await TcpServer(tls=pki.server_ctx(), peers=pki.peers, options=opts,
                               on_event=ev).start()
    return await TcpServer(plain=True, options=opts, on_event=ev).start()


def _client(pki: Pki, tls: bool, port: int, **kw: object) -> TcpClient:
    fast = Backoff(initial=0.02, max=0.2, jitter=0.5)
    if tls:
        return TcpClient("127.0.0.1", port, tls=pki.client_ctx(), backoff=fast, **kw)  # type: ignore[arg-type]
    return TcpClient("127.0.0.1", port, plain=True, backoff=fast, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_one_byte_slices_with_latency_deliver_whole_frames(pki: Pki, tls: bool) -> None:
    async def main() -> None:
        ev = Events()
        rng = random.Random(7)
        srv = await _servers(pki, tls, StreamOptions(), ev)
        async with FaultProxy("127.0.0.1", srv.port,
                              Faults(slice_size=1, latency=0.002, jitter=0.002), seed=1) as proxy:
            cli = await _client(pki, tls, proxy.port).connect()
            frames = [make_frame(i, rng) for i in range(40)]
            for f in frames:
                await cli.send(f)
            got = [(await srv.receive()).payload for _ in frames]
            assert got == frames
            assert [check_frame(g) for g in got] == list(range(40))
            await cli.close()
        await srv.close()
    arun(main())


async def _acked_transfer(pki: Pki, tls: bool, faults: Faults, count: int) -> None:
    ev = Events()
    rng = random.Random(11)
    srv = await _servers(pki, tls, StreamOptions(), ev)
    recorded: dict[int, bytes] = {}
    deliveries = 0

    async def server_app() -> None:
        nonlocal deliveries
        while True:
            inbound = await srv.receive()
            seq = check_frame(inbound.payload)
            deliveries += 1
            recorded.setdefault(seq, inbound.payload)
            try:
                await inbound.reply(f"A{seq:06d}".encode())
            except LinkError:
                pass  # connection cut: the client will resend

    app = asyncio.create_task(server_app())
    async with FaultProxy("127.0.0.1", srv.port, faults, seed=3) as proxy:
        cevents = Events()
        cli = _client(pki, tls, proxy.port, on_event=cevents).start()
        frames = [make_frame(i, rng) for i in range(count)]
        acked: set[int] = set()
        window = 8  # pipelined: several frames outstanding
        while len(acked) < count:
            todo = [i for i in range(count) if i not in acked][:window]
            try:
                for i in todo:
                    await cli.send(frames[i])
                async with asyncio.timeout(0.5):
                    while not set(todo) <= acked:
                        reply = await cli.receive()
                        acked.add(int(reply[1:]))
            except (LinkError, TimeoutError):
                await cli.wait_up(10)
        await cli.close()
        assert proxy.connections >= 3, "the faults never struck"
        assert cevents.of("connected") and len(cevents.of("connected")) >= 3
    app.cancel()
    await srv.close()
    # nothing acknowledged is lost, every recorded frame is exactly what was sent
    assert acked == set(range(count)) and acked <= set(recorded)
    assert all(recorded[i] == frames[i] for i in range(count))
    assert deliveries >= count  # duplicates are possible (resends), losses are not


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("fault", ["cut", "reset"])
def test_cut_or_reset_streams_recover_and_lose_nothing_acknowledged(
    pki: Pki, tls: bool, fault: str
) -> None:
    after = 3000 if fault == "cut" else 5000
    faults = (Faults(cut_after=after, faulty_connections=3) if fault == "cut"
              else Faults(reset_after=after, faulty_connections=3))
    arun(_acked_transfer(pki, tls, faults, count=60), timeout=60)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_black_hole_is_detected_by_heartbeat_deadline_and_client_recovers(
    pki: Pki, tls: bool
) -> None:
    async def main() -> None:
        ev = Events()
        srv = await _servers(pki, tls, StreamOptions(heartbeat=b"", heartbeat_interval=0.05), ev)
        async with FaultProxy("127.0.0.1", srv.port, Faults(blackhole=True, faulty_connections=1),
                              seed=2) as proxy:
            cev = Events()
            opts = StreamOptions(heartbeat=b"", heartbeat_interval=0.05, idle_timeout=0.5)
            cli = _client(pki, tls, proxy.port, options=opts, on_event=cev,
                          connect_timeout=0.5).start()
            # TLS through a black hole never finishes its handshake: connect times out instead
            first = "connect_failed" if tls else "idle_timeout"
            await cev.wait_for(first, timeout=10)
            await cli.wait_up(10)
            while proxy.connections < 2 or cli.link is None:
                await asyncio.sleep(0.01)
            await cli.send(b"through at last")
            assert (await srv.receive()).payload == b"through at last"
            await cli.close()
        await srv.close()
    arun(main())


def test_kill_all_resets_and_client_reconnects(pki: Pki) -> None:
    async def main() -> None:
        ev = Events()
        srv = await _servers(pki, True, StreamOptions(), ev)
        async with FaultProxy("127.0.0.1", srv.port) as proxy:
            cev = Events()
            cli = await _client(pki, True, proxy.port, on_event=cev).connect()
            await cli.send(b"one")
            assert (await srv.receive()).payload == b"one"
            assert proxy.kill_all(reset=True) == 1
            await cev.wait_for("connection_lost", timeout=5)
            while cli.connects < 2:
                await asyncio.sleep(0.01)
            await cli.send(b"two")
            assert (await srv.receive()).payload == b"two"
            await cli.close()
        await srv.close()
    arun(main())

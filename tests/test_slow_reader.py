"""A client that stops reading its answers (issue 12, item 3), on real TLS sockets.

The slow reader's socket has a tiny receive buffer and is never read while the switch keeps
answering it.  The switch holds at most ``write_buffer`` bytes for it (measured: the bytes its
connection holds in this process), answers another peer on the same link meanwhile, cuts the
slow connection after ``write_timeout``, and, when the peer connects again, delivers every
answer (at least once: none lost; one the peer had partly or wholly received before the cut
may come again).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from pathlib import Path

import pytest

from clets.adapters.tcp import StreamLink, StreamOptions, TcpClient, TcpServer
from clets.errors import LinkBusy
from clets.model import Message, Name, Person, dumps, loads
from clets.switch import Switch, parse_config
from clets.switch.audit import records
from clets.switch.links import ServerLink
from tests._switch_kit import eventually, run_async
from tests._tlscerts import Pki, arun

pytestmark = pytest.mark.timeout(120)

#: answers to the slow reader: more than the kernel's own buffers take (about 3 MB on
#: loopback here) plus the switch's bound, so the bound is really reached
ANSWERS = 480
ANSWER_TEXT = 8000
WRITE_BUFFER = 65536
WRITE_TIMEOUT = 6.0

CONFIG = """\
[switch]
name = "BOX"
home_state = "CA"
journal = "{journal}"
max_message_bytes = 65536

[[peer]]
mnemonic = "RTR1"
oris = ["CA0010000"]
access = "full"
cert_subject = "client-router-01"

[[peer]]
mnemonic = "RTR2"
oris = ["CA0020000"]
access = "full"
cert_subject = "client-router-02"

[[link]]
name = "agencies"
url = "tcp+tls://127.0.0.1:0?framing=len2&cert={cert}&key={cert}&ca={ca}&write_buffer={wb}&write_timeout={wt}"
codec = "json"
role = "origin"
ack = false

[[link]]
name = "ncic"
url = "tcp://127.0.0.1:{port}?framing=len2&plain=1"
codec = "json"
role = "destination"

[[destination]]
name = "NCIC"
link = "ncic"
"""


def _qw(origin: str, control: str) -> bytes:
    return dumps(Message(format="json", mke="QW", origin=origin, control=control,
                         person=Person(name=Name("SMITH", "JOHN"), dob="1975-10-12"))).encode()


def _frame(payload: bytes) -> bytes:
    return struct.pack(">H", len(payload)) + payload


class BlockingPeer:
    """A TLS peer on a plain blocking socket (in threads): its receive buffer is tiny, and
    bytes that reached it before a reset can still be read (asyncio's reader would drop
    them when the reset arrives)."""

    def __init__(self, ctx: ssl.SSLContext, port: int, rcvbuf: int | None = None) -> None:
        raw = socket.socket()
        if rcvbuf is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.connect(("127.0.0.1", port))
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.buf = b""

    def send(self, payload: bytes) -> None:
        self.sock.sendall(_frame(payload))

    def read_all(self, timeout: float) -> tuple[list[bytes], bool]:
        """Every whole frame readable now, and whether the connection ended (EOF or reset)."""
        self.sock.settimeout(timeout)
        frames: list[bytes] = []
        ended = False
        while True:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            except (OSError, ssl.SSLError):
                ended = True
                break
            if not data:
                ended = True
                break
            self.buf += data
            while len(self.buf) >= 2:
                n = struct.unpack(">H", self.buf[:2])[0]
                if len(self.buf) < 2 + n:
                    break
                frames.append(self.buf[2:2 + n])
                self.buf = self.buf[2 + n:]
        return frames, ended

    def close(self) -> None:
        self.sock.close()


@run_async
async def test_a_reader_that_stops_reading_is_bounded_cut_and_served_again(tmp_path: Path
                                                                           ) -> None:
    pki = Pki()
    cert, ca = tmp_path / "server.pem", tmp_path / "ca.pem"
    pki.server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    pki.ca.cert_pem.write_to_path(str(ca))
    ncic = await TcpServer("127.0.0.1", 0, plain=True).start()
    cfg = parse_config(CONFIG.format(journal=tmp_path / "j.db", port=ncic.port, cert=cert,
                                     ca=ca, wb=WRITE_BUFFER, wt=WRITE_TIMEOUT),
                       "box.toml", tmp_path)
    sw = Switch(cfg, poll=0.05)
    await sw.start()

    def audited(outcome: str) -> list[tuple[str, str]]:
        return [(str(r["link"]), str(r["reason"])) for r in records(sw.journal.conn)
                if r["event"] == "link_event" and r["outcome"] == outcome]

    server = sw._links["agencies"]
    assert isinstance(server, ServerLink)
    port = server.server.port
    stop = asyncio.Event()

    async def destination() -> None:
        """The state switch: answers every inquiry with a large record."""
        while not stop.is_set():
            try:
                async with asyncio.timeout(0.2):
                    req = await ncic.receive()
            except TimeoutError:
                continue
            fwd = loads(req.payload)
            answer = Message(format="json", mke="QWR", destinations=[fwd.origin or ""],
                             control=fwd.control, status="hit", text="R" * ANSWER_TEXT)
            await req.reply(dumps(answer).encode())

    dest_task = asyncio.create_task(destination())
    samples: list[int] = []

    async def sample() -> None:
        while not stop.is_set():
            samples.append(max((lk.buffered for lk in server.server.links), default=0))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    slow = await asyncio.to_thread(BlockingPeer, pki.client_ctx("client-router-01"), port,
                                   4096)
    other = None
    try:
        controls = [f"S{i:04d}" for i in range(ANSWERS)]
        for c in controls:
            await asyncio.to_thread(slow.send, _qw("CA0010000", c))
        slow_link: StreamLink = await eventually(
            lambda: next((lk for lk in server.server.links if lk.peer.mnemonic == "RTR1"
                          and lk.buffered > WRITE_BUFFER // 2), None), timeout=30)
        # the slow connection is full: another peer on the same link is answered meanwhile
        other = TcpClient("127.0.0.1", port, tls=pki.client_ctx("client-router-02"),
                          reconnect=False)
        await other.connect()
        await other.send(_qw("CA0020000", "OTHER1"))
        async with asyncio.timeout(WRITE_TIMEOUT):
            got = loads(await other.receive())
        assert got.control == "OTHER1" and got.status == "hit"
        assert slow_link.state.value == "up", "the other peer was answered only after the cut"
        # the slow one is cut after its write deadline
        await eventually(lambda: any("RTR1" in link for link, _why in
                                     audited("write_timeout")), timeout=WRITE_TIMEOUT + 10)
        cut_at = time.monotonic()
        # memory: never more than the bound plus the one frame that crossed it
        one_answer = ANSWER_TEXT + 400
        assert max(samples) <= WRITE_BUFFER + one_answer, max(samples)
        # what reached the slow peer before the cut is still readable there
        before, ended = await asyncio.to_thread(slow.read_all, 2.0)
        assert ended
        slow.close()
        # it comes back: every answer arrives (none lost; a few may come twice)
        again = await asyncio.to_thread(BlockingPeer, pki.client_ctx("client-router-01"),
                                        port)
        seen = {loads(f).control for f in before}
        deadline = time.monotonic() + 30
        while not set(controls) <= seen and time.monotonic() < deadline:
            frames, ended = await asyncio.to_thread(again.read_all, 0.5)
            assert not ended
            seen |= {loads(f).control for f in frames}
        again.close()
        missing = sorted(set(controls) - seen)
        assert not missing, f"{len(missing)} answers lost, e.g. {missing[:5]}"
        assert "OTHER1" not in seen
        # none of RTR1's answers went to RTR2's connection meanwhile
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                leaked = await other.receive()
                raise AssertionError(f"RTR2 got {leaked[:80]!r}")
        assert time.monotonic() - cut_at < 60
        # and the journal agrees: every delivery to RTR1 is done, none dead
        rows = sw.journal.list_rows(target="agencies")
        assert {r.state for r in rows if r.peer == "RTR1"} == {"done"}
    finally:
        stop.set()
        await asyncio.gather(dest_task, sampler, return_exceptions=True)
        if other is not None:
            await other.close()
        await sw.stop()
        await ncic.close()


def test_a_full_connection_refuses_at_once_and_is_cut_after_the_deadline() -> None:
    """The link level: ``send`` on a full server connection raises LinkBusy without waiting
    (so one slow reader never holds up the sender), the bytes held stay at the bound, and
    frames the peer's TCP had not acknowledged at the cut are reported lost."""
    async def main() -> None:
        async with TcpServer(plain=True, write_buffer=32768, aggregate=False,
                             options=StreamOptions(write_timeout=1.0)) as srv:
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.setblocking(False)
            await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", srv.port))
            link = await srv.accept()
            lost: list[int] = []
            sent = 0
            busy = 0
            held = []
            for i in range(2000):
                try:
                    await link.send(b"A" * 4000, on_lost=lambda i=i: lost.append(i))
                    sent += 1
                except LinkBusy:
                    busy += 1
                    if busy > 50:
                        break
                    await asyncio.sleep(0.01)
                held.append(link.buffered)
            assert busy > 0 and max(held) <= 32768 + 4002
            await link.wait_closed()
            assert "write deadline" in (link.error or "")
            # the peer's TCP acknowledged at most what is in its receive buffer: the rest
            # of what was sent is reported lost (a superset of what really was)
            assert lost and lost == sorted(lost) and lost[-1] == sent - 1
            # every frame not reported lost reached the peer (readable there after the reset)
            raw.setblocking(True)
            raw.settimeout(2.0)
            got = 0
            with contextlib.suppress(OSError):
                while chunk := raw.recv(65536):
                    got += len(chunk)
            assert got // 4002 >= sent - len(lost)
            raw.close()
    arun(main())


@run_async
async def test_answers_wait_for_a_peer_away_longer_than_its_retries(tmp_path: Path) -> None:
    """With no connection of the peer, its answer waits in the journal (attempts not
    counted: ``retries = 0`` would otherwise dead-letter it at once) and is delivered on its
    next connection; never to another peer connected meanwhile."""
    pki = Pki()
    cert, ca = tmp_path / "server.pem", tmp_path / "ca.pem"
    pki.server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    pki.ca.cert_pem.write_to_path(str(ca))
    ncic = await TcpServer("127.0.0.1", 0, plain=True).start()
    text = CONFIG.format(journal=tmp_path / "j.db", port=ncic.port, cert=cert, ca=ca,
                         wb=WRITE_BUFFER, wt=WRITE_TIMEOUT)
    text = text.replace("max_message_bytes = 65536\n",
                        "max_message_bytes = 65536\n\n[switch.retry]\nretries = 0\n")
    sw = Switch(parse_config(text, "box.toml", tmp_path), poll=0.05)
    await sw.start()
    server = sw._links["agencies"]
    assert isinstance(server, ServerLink)
    port = server.server.port
    clients: list[TcpClient] = []

    async def connect(name: str) -> TcpClient:
        cli = TcpClient("127.0.0.1", port, tls=pki.client_ctx(name), reconnect=False)
        await cli.connect()
        clients.append(cli)
        return cli

    try:
        first = await connect("client-router-01")
        await first.send(_qw("CA0010000", "AWAY1"))
        req = await ncic.receive()
        await first.close()
        await eventually(lambda: not any(lk.peer.mnemonic == "RTR1"
                                         for lk in server.server.links))
        other = await connect("client-router-02")
        fwd = loads(req.payload)
        await req.reply(dumps(Message(format="json", mke="QWR", destinations=["CA0010000"],
                                      control=fwd.control, status="no_hit")).encode())
        await asyncio.sleep(2.0)  # four tries at least, none counted
        rows = [r for r in sw.journal.list_rows(target="agencies") if r.peer == "RTR1"]
        assert [(r.state, r.attempts) for r in rows] == [("queued", 0)]
        assert "no connected peer" in (rows[0].last_error or "")
        back = await connect("client-router-01")
        async with asyncio.timeout(5):
            got = loads(await back.receive())
        assert got.control == "AWAY1" and got.status == "no_hit"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await other.receive()
    finally:
        for cli in clients:
            await cli.close()
        await sw.stop()
        await ncic.close()


@run_async
async def test_answers_held_for_a_slow_reader_at_stop_are_delivered_after_restart(
        tmp_path: Path) -> None:
    """A stop while a peer is not reading: what its connection could not hand over is queued
    again before the journal closes, and delivered when it connects to the restarted switch."""
    pki = Pki()
    cert, ca = tmp_path / "server.pem", tmp_path / "ca.pem"
    pki.server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert))
    pki.ca.cert_pem.write_to_path(str(ca))
    ncic = await TcpServer("127.0.0.1", 0, plain=True).start()
    # a write deadline longer than the test: only the stop ends the slow connection
    cfg = parse_config(CONFIG.format(journal=tmp_path / "j.db", port=ncic.port, cert=cert,
                                     ca=ca, wb=WRITE_BUFFER, wt=300), "box.toml", tmp_path)
    sw = Switch(cfg, poll=0.05)
    await sw.start()
    server = sw._links["agencies"]
    assert isinstance(server, ServerLink)
    slow = await asyncio.to_thread(BlockingPeer, pki.client_ctx("client-router-01"),
                                   server.server.port, 4096)
    controls = [f"T{i:04d}" for i in range(ANSWERS)]
    try:
        for c in controls:
            await asyncio.to_thread(slow.send, _qw("CA0010000", c))
        for _ in controls:
            req = await ncic.receive()
            fwd = loads(req.payload)
            await req.reply(dumps(Message(format="json", mke="QWR", destinations=["CA0010000"],
                                          control=fwd.control, status="hit",
                                          text="R" * ANSWER_TEXT)).encode())
        await eventually(lambda: next((lk for lk in server.server.links
                                       if lk.buffered > WRITE_BUFFER // 2), None), timeout=30)
        await sw.stop(timeout=1.0)
        before, _ended = await asyncio.to_thread(slow.read_all, 2.0)
        slow.close()
        sw2 = Switch(cfg, poll=0.05)
        await sw2.start()
        try:
            server2 = sw2._links["agencies"]
            assert isinstance(server2, ServerLink)
            again = await asyncio.to_thread(BlockingPeer, pki.client_ctx("client-router-01"),
                                            server2.server.port)
            seen = {loads(f).control for f in before}
            deadline = time.monotonic() + 30
            while not set(controls) <= seen and time.monotonic() < deadline:
                frames, _ended = await asyncio.to_thread(again.read_all, 0.5)
                seen |= {loads(f).control for f in frames}
            again.close()
            missing = sorted(set(controls) - seen)
            assert not missing, f"{len(missing)} answers lost, e.g. {missing[:5]}"
        finally:
            await sw2.stop()
    finally:
        await ncic.close()

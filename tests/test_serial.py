"""Serial links over real pseudo-terminal pairs (socat), with and without a faulty line."""

from __future__ import annotations

import asyncio
import os
import random
import select
import time
from collections.abc import Iterator

import pytest

from clets.adapters.base import Link
from clets.adapters.serial import AckNakLink, SerialConfig, open_serial
from clets.adapters.url import parse_link_url
from clets.errors import ConfigError, EncodeError, LinkError
from clets.framing import lrc
from tests._socat import Direction, FaultyRelay, SocatPair, open_raw
from tests._tlscerts import Events, arun

pytestmark = [pytest.mark.timeout(90), pytest.mark.realpeer]


@pytest.fixture
def pair() -> Iterator[SocatPair]:
    p = SocatPair().start()
    try:
        yield p
    finally:
        p.stop()


def read_fd(fd: int, want: int, timeout: float = 3.0) -> bytes:
    """Read from a raw pty fd until ``want`` bytes or the deadline."""
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            out += os.read(fd, 4096)
    return out


def cfg(port: str, **kw: object) -> SerialConfig:
    base: dict[str, object] = {"ack_timeout": 0.3, "retries": 3, "inter_byte_timeout": 0.5,
                               "mnemonic": "TTY1"}
    base.update(kw)
    return SerialConfig(port, **base)  # type: ignore[arg-type]


def test_ack_nak_link_both_directions_on_a_clean_line(pair: SocatPair) -> None:
    async def main() -> None:
        a = await open_serial(cfg(pair.a))
        b = await open_serial(cfg(pair.b))
        assert isinstance(a, Link) and isinstance(b, AckNakLink)
        assert b.peer.method == "serial-line" and b.peer.detail == pair.b
        there = [f"A->B {i} ".encode() + bytes(range(4, 200)) for i in range(15)]
        back = [f"B->A {i}".encode() for i in range(15)]

        async def pump(link: Link, frames: list[bytes]) -> None:
            for f in frames:
                await link.send(f)

        await asyncio.gather(pump(a, there), pump(b, back))
        assert [await b.receive() for _ in there] == there
        assert [await a.receive() for _ in back] == back
        await a.close()
        await b.close()
    arun(main())


def test_garbled_frame_is_naked_and_never_delivered(pair: SocatPair) -> None:
    async def main() -> None:
        ev = Events()
        link = await open_serial(cfg(pair.a), on_event=ev)
        raw = open_raw(pair.b)
        try:
            good = b"\x02HELLO\x03" + bytes((lrc(b"HELLO"),))
            bad = b"\x02HELLO\x03" + bytes((lrc(b"HELLO") ^ 0x01,))
            os.write(raw, bad)
            assert await asyncio.to_thread(read_fd, raw, 1) == b"\x15"  # NAK
            os.write(raw, good)
            assert await asyncio.to_thread(read_fd, raw, 1) == b"\x06"  # ACK
            assert await link.receive() == b"HELLO"
            assert [d["kind"] for d in ev.of("bad_frame")] == ["lrc"]
            assert isinstance(link, AckNakLink) and link.stats["delivered"] == 1
            with pytest.raises(EncodeError):
                await link.send(b"has \x03 inside")
        finally:
            os.close(raw)
            await link.close()
    arun(main())


def test_sender_retransmits_on_nak_and_silence_then_gives_up(pair: SocatPair) -> None:
    async def main() -> None:
        ev = Events()
        link = await open_serial(cfg(pair.a, retries=2, ack_timeout=0.2), on_event=ev)
        raw = open_raw(pair.b)
        try:
            frame = b"\x02MSG\x03" + bytes((lrc(b"MSG"),))
            task = asyncio.create_task(link.send(b"MSG"))
            got = await asyncio.to_thread(read_fd, raw, len(frame))
            assert got == frame
            os.write(raw, b"\x15")  # NAK the first copy
            got = await asyncio.to_thread(read_fd, raw, len(frame))
            assert got == frame  # resent
            os.write(raw, b"\x06")
            await task
            # a silent peer: 1 + 2 retries, then a typed error
            with pytest.raises(LinkError, match="3 transmissions"):
                await link.send(b"NOBODY")
            copies = await asyncio.to_thread(read_fd, raw, 3 * 9, 1.0)
            assert copies.count(b"\x02NOBODY\x03") == 3
            assert len(ev.of("ack_timeout")) == 3 and ev.of("send_failed")
        finally:
            os.close(raw)
            await link.close()
    arun(main())


def test_faulty_line_frames_arrive_exactly_as_sent() -> None:
    """Drops, duplicates and bit flips on the data direction, lost ACKs on the way back."""
    outer, inner = SocatPair().start(), SocatPair().start()
    # payloads avoid 'B' and 'C': one bit away from STX/ETX, where a single flip would make a
    # frame boundary the LRC cannot see (see _socat.py)
    forward = Direction(drop=0.02, dup=0.02, flip=0.02, gap=60)
    backward = Direction(drop=0.15, gap=3)
    relay = FaultyRelay(outer.b, inner.a, forward, backward, seed=20240611).start()

    async def main() -> None:
        sev, rev = Events(), Events()
        sender = await open_serial(cfg(outer.a, retries=12, ack_timeout=0.25), on_event=sev)
        receiver = await open_serial(cfg(inner.b), on_event=rev)
        rng = random.Random(5)
        alphabet = b"ADEFGHIJKLMNOPQRSTUVWXYZ0123456789 -/"
        sent = [
            f"{i:04d} ".encode() + bytes(rng.choice(alphabet) for _ in range(rng.randrange(5, 40)))
            for i in range(60)
        ]
        for f in sent:
            await sender.send(f)
        await asyncio.sleep(0.5)
        got: list[bytes] = []
        while True:
            try:
                async with asyncio.timeout(0.3):
                    got.append(await receiver.receive())
            except TimeoutError:
                break
        # every delivered frame is byte-for-byte one that was sent, in order; duplicates only
        # right after the original (a resend after a lost ACK), never a gap
        assert all(g in sent for g in got)
        collapsed = [g for i, g in enumerate(got) if i == 0 or g != got[i - 1]]
        assert collapsed == sent
        assert forward.faults > 5 and backward.faults > 0
        assert rev.of("bad_frame") and any(d["nak"] for d in rev.of("bad_frame"))
        assert isinstance(sender, AckNakLink) and sender.stats["retransmits"] > 0
        print(f"faults fwd={forward.faults} back={backward.faults} sender={sender.stats} "
              f"delivered={len(got)} duplicates={len(got) - len(collapsed)}")
        await sender.close()
        await receiver.close()

    try:
        arun(main(), timeout=80)
    finally:
        relay.stop()
        outer.stop()
        inner.stop()


def test_line_mode_for_teletypes(pair: SocatPair) -> None:
    async def main() -> None:
        link = await open_serial(cfg(pair.a, framing="line"))
        raw = open_raw(pair.b)
        try:
            os.write(raw, b"QW.CA0010000.NAM/SMITH, JOHN\r\nSECOND LINE\n")
            assert await link.receive() == b"QW.CA0010000.NAM/SMITH, JOHN"
            assert await link.receive() == b"SECOND LINE"
            await link.send(b"1L01 ACK")
            assert await asyncio.to_thread(read_fd, raw, 10) == b"1L01 ACK\r\n"
        finally:
            os.close(raw)
            await link.close()
    arun(main())


def test_from_url_gives_a_link_opened_by_start(pair: SocatPair) -> None:
    from clets.adapters.serial import SerialLink, from_url

    async def main() -> None:
        a = from_url(parse_link_url(f"serial://{pair.a}?framing=line&mnemonic=TTY2"), name="tty2")
        b = from_url(parse_link_url(f"serial://{pair.b}?framing=line"))
        assert isinstance(a, SerialLink) and isinstance(a, Link)
        assert a.state.value == "down" and a.peer.mnemonic == "TTY2"
        await a.start()
        await b.send(b"HELLO TTY")  # opened on first use
        assert await a.receive() == b"HELLO TTY"
        await a.close()
        await b.close()
        with pytest.raises(LinkError):
            await a.receive()
    arun(main())


def test_missing_port_is_a_link_error() -> None:
    with pytest.raises(LinkError, match="cannot open serial port"):
        arun(open_serial(cfg("/dev/does-not-exist-clets")))


def test_serial_url_options() -> None:
    c = SerialConfig.from_url(parse_link_url(
        "serial:///dev/ttyS0?baud=19200&parity=E&bytesize=7&stopbits=2&rtscts=1"
        "&framing=line&mnemonic=TTY9&oris=CA001,CA002"))
    got = (c.port, c.baudrate, c.parity, c.bytesize, c.stopbits)
    assert got == ("/dev/ttyS0", 19200, "E", 7, 2)
    assert c.rtscts and not c.xonxoff and c.framing == "line"
    assert c.peer().allowed_oris == frozenset({"CA001", "CA002"})
    for bad in ("serial:///dev/ttyS0?parity=X", "serial:///dev/ttyS0?baud=fast",
                "serial:///dev/ttyS0?framing=nope", "serial:///dev/ttyS0?bogus=1"):
        with pytest.raises(ConfigError):
            SerialConfig.from_url(parse_link_url(bad))


def test_a_line_setting_the_device_refuses_is_a_link_error() -> None:
    """A pseudo-terminal takes no parity or 7-bit bytes: the kernel refuses with a termios
    error, which must reach the caller as a LinkError (and the CLI as one line), not a
    traceback."""
    import subprocess
    import sys

    master, slave = os.openpty()
    try:
        url = f"serial://{os.ttyname(slave)}?baud=9600&parity=E&bytesize=7&framing=line"

        async def go() -> None:
            await open_serial(SerialConfig.from_url(parse_link_url(url)))

        with pytest.raises(LinkError, match="cannot open serial port"):
            arun(go())
        out = subprocess.run([sys.executable, "-m", "clets.cli", "link", "test", url],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "Traceback" not in out.stderr + out.stdout
        assert "cannot open serial port" in out.stdout + out.stderr
    finally:
        os.close(master)
        os.close(slave)

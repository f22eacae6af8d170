"""The demo's legacy teletype: the far end of a pseudo-terminal pair, speaking ``stx-etx+lrc``.

The switch opens the slave side (``/dev/pts/N``) as an ordinary serial port; this class plays
the terminal on the master side with the same block protocol a real one uses: every frame is
``STX payload ETX LRC``, answered by ACK (good) or NAK (bad LRC), and a frame we send is repeated
until the switch ACKs it.  No socat needed: ``os.openpty`` gives the pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty

from clets.errors import LinkError
from clets.framing import ACK, NAK, BadFrame, Control, Frame, make_framer

__all__ = ["PtyTerminal"]


class PtyTerminal:
    """Master side of a pty pair; :attr:`port` is the path the switch opens."""

    def __init__(self, *, ack_timeout: float = 2.0, retries: int = 3) -> None:
        self.master, self._slave = os.openpty()
        # raw before anyone writes: no echo, no CR/LF translation on the slave side
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        os.set_blocking(self.master, False)
        self.ack_timeout, self.retries = ack_timeout, retries
        self._framer = make_framer("stx-etx+lrc", 64 * 1024)
        self._inbox: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self._acks: asyncio.Queue[int] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = {"sent": 0, "received": 0, "retransmits": 0, "naks_sent": 0}

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.master, self._readable)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LinkError("pty write blocked", link="terminal") from None
                time.sleep(0.001)
                continue
            view = view[n:]

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # the slave side is gone
            data = b""
        if not data:
            return
        now = time.monotonic()
        for ev in self._framer.feed(data):
            if isinstance(ev, Frame):
                self._write(bytes([ACK]))
                self.stats["received"] += 1
                self._inbox.put_nowait((ev.payload, now))
            elif isinstance(ev, Control):
                self._acks.put_nowait(ev.byte)
            elif isinstance(ev, BadFrame) and ev.wants_nak:
                self.stats["naks_sent"] += 1
                self._write(bytes([NAK]))

    async def send(self, payload: bytes) -> float:
        """Send one block and wait for the ACK; returns the monotonic time it was first sent."""
        frame = self._framer.encode(payload)
        sent_at = time.monotonic()
        for attempt in range(self.retries + 1):
            while not self._acks.empty():  # a stale answer must not ACK this block
                self._acks.get_nowait()
            if attempt:
                self.stats["retransmits"] += 1
            self._write(frame)
            try:
                async with asyncio.timeout(self.ack_timeout):
                    if await self._acks.get() == ACK:
                        self.stats["sent"] += 1
                        return sent_at
            except TimeoutError:
                continue
        raise LinkError("the switch did not ACK the block", link="terminal")

    async def receive(self, timeout: float) -> tuple[bytes, float]:
        """The next block from the switch and the monotonic time it arrived."""
        async with asyncio.timeout(timeout):
            return await self._inbox.get()

    def pending(self) -> int:
        return self._inbox.qsize()

    def close(self) -> None:
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.master)
            self._loop = None
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self._slave = -1

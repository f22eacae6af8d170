"""Real pseudo-terminal pairs from socat, and a fault-injecting relay between two pairs.

``SocatPair`` starts ``socat -d -d pty,raw,echo=0 pty,raw,echo=0``, reads the two
``PTY is /dev/pts/N`` lines, waits for ``starting data transfer loop`` and is stopped by pid.

``FaultyRelay`` copies bytes between the inner ends of two pairs (A <-> pair1 <-relay-> pair2 <->
B) and, per direction, drops, duplicates or flips (one bit of) bytes with a seeded RNG.  A
minimum gap between faults keeps it to at most one fault per frame, which an 8-bit LRC always
detects -- the relay tests the protocol's recovery, not the LRC's collision rate.
"""

from __future__ import annotations

import os
import queue
import random
import re
import select
import signal
import subprocess
import threading
import time
import tty
from dataclasses import dataclass, field

from tests.conftest import require_peer

_PTY_RE = re.compile(r"PTY is (\S+)")


class SocatPair:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.a = ""
        self.b = ""
        self._lines: queue.Queue[str | None] = queue.Queue()

    def start(self, timeout: float = 5.0) -> SocatPair:
        exe = require_peer("socat")
        self.proc = subprocess.Popen(
            [exe, "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._drain, daemon=True).start()
        ptys: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError(f"socat not ready in {timeout} s (ptys {ptys})")
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.stop()
                raise RuntimeError("socat exited before it was ready")
            m = _PTY_RE.search(line)
            if m:
                ptys.append(m.group(1))
            if "starting data transfer loop" in line and len(ptys) == 2:
                self.a, self.b = ptys
                return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.put(line)
        self._lines.put(None)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def open_raw(path: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)
    return fd


@dataclass
class Direction:
    drop: float = 0.0
    dup: float = 0.0
    flip: float = 0.0
    #: at least this many clean bytes between two faults
    gap: int = 0
    #: never change these byte values (e.g. to keep the test about framing, not LRC collisions)
    spare: frozenset[int] = frozenset()
    faults: int = 0
    since: int = 0
    log: list[str] = field(default_factory=list)

    def apply(self, data: bytes, rng: random.Random) -> bytes:
        out = bytearray()
        for b in data:
            self.since += 1
            if self.since > self.gap and b not in self.spare:
                r = rng.random()
                if r < self.drop:
                    self._hit(f"drop {b:02x}")
                    continue
                if r < self.drop + self.dup:
                    self._hit(f"dup {b:02x}")
                    out += bytes((b, b))
                    continue
                if r < self.drop + self.dup + self.flip:
                    nb = b ^ (1 << rng.randrange(8))
                    self._hit(f"flip {b:02x}->{nb:02x}")
                    out.append(nb)
                    continue
            out.append(b)
        return bytes(out)

    def _hit(self, what: str) -> None:
        self.faults += 1
        self.since = 0
        self.log.append(what)


class FaultyRelay:
    """Relay between ``left`` and ``right`` pty paths, with faults per direction, in a thread."""

    def __init__(self, left: str, right: str, forward: Direction, backward: Direction,
                 seed: int = 0) -> None:
        self.left, self.right = open_raw(left), open_raw(right)
        self.forward, self.backward = forward, backward
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FaultyRelay:
        self._thread.start()
        return self

    def _run(self) -> None:
        fds = {self.left: (self.right, self.forward), self.right: (self.left, self.backward)}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(fds), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    return
                out_fd, direction = fds[fd]
                out = direction.apply(data, self.rng)
                while out:
                    try:
                        n = os.write(out_fd, out)
                        out = out[n:]
                    except BlockingIOError:
                        select.select([], [out_fd], [], 0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self.left, self.right):
            os.close(fd)

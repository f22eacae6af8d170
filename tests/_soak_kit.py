"""Soak kit: the crash test's load, for a long time, with hostile traffic mixed in.

``clets run`` carries the crash kit's agency load (json over TCP, ACKs, resends after every
reconnect) while it is SIGKILLed every ``kill_every`` seconds, and while a second origin link --
an ncic terminal line, as ``examples/adapter-box.toml`` has -- takes the hostile cases of
issue 12 all the time:

* well-framed bad frames (NULs, UTF-16, ``FF FE FD``, control bytes inside a name, UTF-8
  letters, an unknown key, a bad ORI, a missing field, a frame over the size limit): each must
  get **exactly one** answer on its connection.  A frame whose connection died with the switch
  before its answer is *interrupted* (a terminal sends it again); a frame on a live connection
  with no answer after ``answer_wait`` (60 s) is *silent* (one answered after 5 s is *late*,
  counted, not a failure), and a second answer is *doubled*;
* idle connections that never send a frame, and slowloris connections that stop in the middle
  of one (both are the server's to cut; they must not lock the agency out);
* random bytes (the connection may be cut for the framing fault, nothing more);
* a client that sends valid inquiries and never reads its answers.

The switch's resident memory is sampled every ``sample_every`` seconds; each life (the time
between two kills) contributes its samples, so growth within a life and across lives both show.
The crash kit's checker then says whether anything acknowledged was lost or duplicated and
whether the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests._crash_kit import (
    BACKENDS,
    LoadGen,
    Report,
    SwitchProcess,
    check,
    drain,
    free_port,
    len2,
    switch_config,
)

TERMINAL_ORI = "CA0349999"
#: the plate the deaf client asks about (its inquiries are not the checker's business)
DEAF_PLATE = "0DEAF00"

#: the hostile frames, each well framed (len2); what the switch must answer once
BAD_FRAMES: dict[str, bytes] = {
    "nuls": b"\x00" * 40,
    "utf16": "QW.CA0349999.NAM/SMITH, JOHN".encode("utf-16"),
    "fffefd": b"\xff\xfe\xfd" * 20,
    "control_bytes": b"QW.CA0349999.NAM/SMITH, JOHN J\x00\x01\x02.DOB/19751012",
    "utf8_letters": "QW.CA0349999.NAM/MÜLLER, JOHN".encode(),
    "unknown_key": b"ZZ.CA0349999.NAM/SMITH, JOHN",
    "bad_ori": b"QW.CA03499.NAM/SMITH, JOHN.DOB/19751012",
    "missing_field": b"QW.CA0349999",
    "not_text": bytes(range(256)),
    "too_long": b"QW.CA0349999.NAM/SMITH, JOHN.MIS/" + b"A" * 60000,
}


def terminal_link(port: int) -> str:
    """The ncic terminal line and its peer, appended to the crash kit's config."""
    return "\n".join([
        "",
        "[[peer]]",
        'mnemonic = "TERM"',
        f'oris = ["{TERMINAL_ORI}"]',
        'access = "inquiry"',
        "",
        "[[link]]",
        'name = "terminal"',
        f'url = "tcp://127.0.0.1:{port}?framing=len2&plain=1"',
        'codec = "ncic"',
        'role = "origin"',
        'peer = "TERM"',
        "",
    ])


#: an answer to a hostile frame later than this is counted ``late`` (not a failure)
LATE = 5.0


@dataclass
class Hostile:
    """Counts of what the hostile clients saw."""

    sent: int = 0
    answered: int = 0
    silent: int = 0
    doubled: int = 0
    interrupted: int = 0
    silent_kinds: list[str] = field(default_factory=list)
    #: each doubled frame's kind and the answers it got (what to look at when one is)
    doubled_kinds: list[str] = field(default_factory=list)
    #: answered, but after more than ``LATE`` seconds (a switch restarting on a loaded machine)
    late: int = 0
    #: the longest wait for an answer (seconds)
    slowest: float = 0.0
    idle_opened: int = 0
    idle_cut: int = 0
    slowloris_opened: int = 0
    slowloris_cut: int = 0
    garbage_sent: int = 0
    deaf_sent: int = 0
    #: answers to the deaf terminal's inquiries that reached the bad-frame connection
    rerouted: int = 0

    def summary(self) -> str:
        keys = ("sent", "answered", "silent", "doubled", "interrupted", "late", "slowest",
                "idle_opened", "idle_cut", "slowloris_opened", "slowloris_cut", "garbage_sent",
                "deaf_sent", "rerouted")
        return " ".join(f"{k}={getattr(self, k)}" for k in keys)


async def _read_frames(reader: asyncio.StreamReader, out: list[bytes],
                       stats: Hostile | None = None) -> None:
    """Frames into ``out``; with ``stats``, answers to the deaf terminal's inquiries are
    counted ``rerouted`` instead: every connection of a plain link is the same configured
    peer, so an answer whose own connection was cut goes to the peer's newest connection
    (switch/links.py ``ServerLink.send``), which may be this one."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, OSError):
        while True:
            (n,) = struct.unpack(">H", await reader.readexactly(2))
            frame = await reader.readexactly(n)
            if stats is not None and DEAF_PLATE.encode() in frame:
                stats.rerouted += 1
            else:
                out.append(frame)


class HostileTraffic:
    """Every hostile client of the soak, each a task that runs until ``stop``."""

    def __init__(self, port: int, *, seed: int, answer_wait: float = 60.0,
                 idle: int = 20, slowloris: int = 10, pace: float = 0.5) -> None:
        self.port = port
        self.rng = random.Random(seed)
        self.answer_wait = answer_wait
        self.idle, self.slowloris, self.pace = idle, slowloris, pace
        self.stats = Hostile()
        self._running = True
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._bad_frames()),
                       loop.create_task(self._idlers()),
                       loop.create_task(self._garbage()),
                       loop.create_task(self._deaf())]

    async def stop(self) -> None:
        self._running = False
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _connect(self, source: str | None = None) -> tuple[
            asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the terminal port, from ``source`` (another loopback address)
        when given, as 300 other machines would be."""
        local = (source, 0) if source else None
        try:
            return await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.port, local_addr=local), 1.0)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.1)
            return None

    async def _bad_frames(self) -> None:
        """One bad frame at a time on one connection: exactly one answer each."""
        kinds = sorted(BAD_FRAMES)
        while self._running:
            conn = await self._connect()
            if conn is None:
                continue
            reader, writer = conn
            got: list[bytes] = []
            rtask = asyncio.get_running_loop().create_task(_read_frames(reader, got, self.stats))
            try:
                while self._running and not rtask.done():
                    kind = self.rng.choice(kinds)
                    payload = BAD_FRAMES[kind]
                    before = len(got)
                    frame = (struct.pack(">H", len(payload)) + payload
                             if len(payload) < 65536 else b"")
                    if not frame:
                        continue
                    writer.write(frame)
                    await writer.drain()
                    self.stats.sent += 1
                    # frames go one at a time and each gets one answer, so the next answer
                    # on the connection is this frame's, however late (a restart under load
                    # takes seconds): silent only when none comes within ``answer_wait``
                    sent_at = time.monotonic()
                    deadline = sent_at + self.answer_wait
                    while len(got) == before and not rtask.done() \
                            and time.monotonic() < deadline:
                        await asyncio.sleep(0.01)
                    if len(got) > before:
                        waited = time.monotonic() - sent_at
                        self.stats.slowest = round(max(self.stats.slowest, waited), 2)
                        self.stats.late += waited > LATE
                        await asyncio.sleep(0.2)  # a second answer would have come by now
                        self.stats.answered += 1
                        if len(got) > before + 1:
                            self.stats.doubled += 1
                            if len(self.stats.doubled_kinds) < 20:
                                self.stats.doubled_kinds.append(
                                    f"{kind}: {[a[:120] for a in got[before:]]!r}")
                    elif rtask.done():
                        self.stats.interrupted += 1
                    else:
                        self.stats.silent += 1
                        if len(self.stats.silent_kinds) < 20:
                            self.stats.silent_kinds.append(kind)
                    await asyncio.sleep(self.pace * self.rng.random())
            except (ConnectionError, OSError):
                self.stats.interrupted += 1
            finally:
                rtask.cancel()
                await asyncio.gather(rtask, return_exceptions=True)
                writer.close()

    async def _hold(self, source: str, partial: bool) -> None:
        conn = await self._connect(source)
        if conn is None:
            return
        reader, writer = conn
        if partial:
            self.stats.slowloris_opened += 1
            writer.write(b"\x00\x40QW.CA03")  # a 64-byte frame that never finishes
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
        else:
            self.stats.idle_opened += 1
        try:
            data = await reader.read(1)
            if data == b"":
                if partial:
                    self.stats.slowloris_cut += 1
                else:
                    self.stats.idle_cut += 1
        except (ConnectionError, OSError):
            if partial:
                self.stats.slowloris_cut += 1
            else:
                self.stats.idle_cut += 1
        finally:
            writer.close()

    async def _idlers(self) -> None:
        """Idle and slowloris connections from other loopback addresses, renewed as cut."""
        n = 0
        holders: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        try:
            while self._running:
                while len(holders) < self.idle + self.slowloris:
                    n += 1
                    host = f"127.0.{(n // 250) % 250 + 1}.{n % 250 + 2}"
                    t = loop.create_task(self._hold(host, partial=len(holders) % 3 == 0))
                    holders.add(t)
                    t.add_done_callback(holders.discard)
                await asyncio.sleep(0.5)
        finally:
            for t in list(holders):
                t.cancel()
            await asyncio.gather(*holders, return_exceptions=True)

    async def _garbage(self) -> None:
        """Random bytes, unframed: the server may cut the connection; nothing else."""
        while self._running:
            conn = await self._connect()
            if conn is None:
                continue
            reader, writer = conn
            with contextlib.suppress(ConnectionError, OSError):
                writer.write(self.rng.randbytes(self.rng.randint(1, 4096)))
                await writer.drain()
                self.stats.garbage_sent += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(65536), 2.0)
            writer.close()
            await asyncio.sleep(1.0)

    async def _deaf(self) -> None:
        """Valid inquiries from a client that never reads a byte of its answers."""
        inquiry = len2(b"QV.CA0349999.LIC/" + DEAF_PLATE.encode() + b".LIS/CA")
        while self._running:
            conn = await self._connect()
            if conn is None:
                continue
            _, writer = conn
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            try:
                while self._running:
                    writer.write(inquiry)
                    self.stats.deaf_sent += 1
                    await asyncio.wait_for(writer.drain(), 5.0)
                    await asyncio.sleep(0.2)
            except (ConnectionError, OSError, TimeoutError):
                pass
            finally:
                writer.close()


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


@dataclass
class SoakReport:
    crash: Report
    hostile: Hostile
    lives: list[list[int]]  # RSS samples (KiB) of each life of the switch
    seconds: float = 0.0
    #: seconds from each spawn of ``clets run`` to its ready line
    starts: list[float] = field(default_factory=list)

    def starts_summary(self) -> str:
        if not self.starts:
            return "starts=0"
        ordered = sorted(self.starts)
        return (f"starts={len(ordered)} start_s_p50={ordered[len(ordered) // 2]:.2f} "
                f"start_s_max={ordered[-1]:.2f}")

    @property
    def life_peaks(self) -> list[int]:
        return [max(life) for life in self.lives if life]

    @property
    def memory_flat(self) -> bool:
        """The peak of the last third of the lives is within 25 % (and 16 MiB) of the
        first third's: a leak across the hour shows as a rising peak."""
        peaks = self.life_peaks
        if len(peaks) < 3:
            return True
        third = max(1, len(peaks) // 3)
        first, last = sorted(peaks[:third]), sorted(peaks[-third:])
        a, b = first[len(first) // 2], last[len(last) // 2]
        return b <= a * 1.25 + 16 * 1024

    @property
    def ok(self) -> bool:
        h = self.hostile
        return (self.crash.ok and h.silent == 0 and h.doubled == 0 and self.memory_flat
                and h.answered > 0)

    def summary(self) -> str:
        return (f"seconds={self.seconds:.0f} lives={len(self.lives)} "
                f"rss_peaks_mib={[round(p / 1024, 1) for p in self.life_peaks]} "
                f"memory_flat={self.memory_flat} {self.starts_summary()}\n"
                f"  load: {self.crash.summary()}\n"
                f"  hostile: {self.hostile.summary()} silent_kinds={self.hostile.silent_kinds}"
                f" doubled_kinds={self.hostile.doubled_kinds}")


async def soak_run(tmp: Path, *, seconds: float, kill_every: float, rate: float,
                   seed: int = 7, sample_every: float = 2.0,
                   settle_timeout: float = 120.0) -> SoakReport:
    """Load + hostile traffic in ``round(seconds / kill_every)`` lives of ``kill_every``
    seconds each (counted from the moment the switch is ready, so restarts add to the
    length), a SIGKILL between lives; check."""
    from clets.sim import SimNetwork

    journal = tmp / "journal.db"
    lives: list[list[int]] = []
    async with SimNetwork(backends=list(BACKENDS), base_port=0) as net:
        for server in net.servers.values():
            server.log = type(server.log)(maxlen=50_000_000)
        port, tport = free_port(), free_port()
        cfg = tmp / "switch.toml"
        cfg.write_text(switch_config(journal, port, {n: net.url(n) for n in BACKENDS})
                       + terminal_link(tport), "utf-8")
        proc = SwitchProcess(cfg, tmp / "switch.log")
        gen = LoadGen("127.0.0.1", port, rate=rate, seed=seed, conns=4, window=16)
        hostile = HostileTraffic(tport, seed=seed)
        started = time.monotonic()
        kills = 0
        try:
            await proc.start()
            gen.start()
            hostile.start()
            # each life runs ``kill_every`` from the moment it is ready, so a slow restart
            # on a loaded machine does not eat the next life: the run always makes its kills
            wanted = max(0, round(seconds / kill_every) - 1)
            while True:
                life: list[int] = []
                lives.append(life)
                life_end = time.monotonic() + min(kill_every, seconds)
                while time.monotonic() < life_end:
                    assert proc.proc is not None
                    kib = rss_kib(proc.proc.pid)
                    if kib is not None:
                        life.append(kib)
                    await asyncio.sleep(min(sample_every, max(0.0,
                                                              life_end - time.monotonic())))
                if kills >= wanted:
                    break
                await proc.kill()
                kills += 1
                # a restart's time is a figure of the soak (reported), not its verdict:
                # on a loaded machine it has taken more than the crash test's 20 s
                await proc.start(timeout=START_TIMEOUT)
                if seconds >= 600:  # the long soak shows its progress (pytest -s)
                    print(f"soak: {time.monotonic() - started:.0f} s, kill {kills}, "
                          f"restart {proc.start_seconds[-1]:.2f} s, last life's peak "
                          f"RSS {max(life, default=0) / 1024:.1f} MiB", flush=True)
            await hostile.stop()
            code = await drain(gen, proc, journal, settle_timeout)
        finally:
            await hostile.stop()
            await gen.close()
            proc.cleanup()
        logs = {n: net.log(n) for n in BACKENDS}
    # the deaf terminal's inquiries are not the checker's business
    logs = {n: [r for r in log if r.vehicle is None or r.vehicle.plate != DEAF_PLATE]
            for n, log in logs.items()}
    report = check(gen, logs, journal, kills=kills, exit_code=code)
    return SoakReport(report, hostile.stats, lives, time.monotonic() - started,
                      list(proc.start_seconds))


#: how long one restart may take before the soak gives up (seconds)
START_TIMEOUT = float(os.environ.get("CLETS_SOAK_START_TIMEOUT", "120"))


def soak_minutes() -> float:
    return float(os.environ.get("CLETS_SOAK_MINUTES", "0") or 0)

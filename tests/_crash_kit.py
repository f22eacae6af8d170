"""Crash-test kit: the switch as a subprocess (``clets run``), a load generator that behaves
like a real agency client, and a Jepsen ``total-queue``-style checker.

The switch is SIGKILLed and restarted at random instants while the generator keeps sending
inquiries over plain TCP (json, ``ack = true``), each with a unique control.  The generator
counts a message as acknowledged when its ACK arrives; it re-sends anything not acknowledged
(same bytes, same control) after every reconnect, as a terminal would.  The simulated back-ends
run in the test's own event loop (another process than the switch) and log every request they
execute, with the switch control; the request's content (the name or plate carries the load
generator's sequence number) maps it back to the origin message, so the checker reads nothing
of the journal's schema (``PRAGMA integrity_check`` and ``clets audit verify`` only).  The
checker then counts, per acknowledged message:

* **lost**: a destination its route names never executed it (or its answers never reached the
  origin: counted separately as ``answers_missing``);
* **duplicate effects**: one origin message executed at one destination under two different
  switch controls (the switch accepted it twice: a dedup failure).  The same switch control
  executed twice is a *raw redelivery* (a destination that drops repeated controls absorbs
  it), reported separately and allowed by the at-least-once contract;
* **unexpected**: a request at a destination that no attempted message explains.

A negative control (``unsafe_test_mode = "ack-before-commit"``) must be reported as lossy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clets.model import Message, Name, Person, Vehicle, dumps

CLETS = [sys.executable, "-c", "from clets.cli import main; main()"]
ORIGIN_ORI = "CA0194200"
#: the built-in routing profile (spec/switch.md) restricted to the configured destinations
EXPECTED = {"QW": ("WPS", "NCIC", "CARPOS"), "QV": ("SVS", "NCIC")}
#: answering ORI of each simulated back-end (docs/sim.md)
DEST_ORI = {"CADOJWPS0": "WPS", "DCFBIWA00": "NCIC", "CADOJPO00": "CARPOS",
            "CADOJSVS0": "SVS"}
BACKENDS = ("WPS", "NCIC", "CARPOS", "SVS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def switch_config(journal: Path, origin_port: int, dest_urls: dict[str, str], *,
                  unsafe: bool = False, metrics: str | None = None,
                  codec: str = "json", extra_switch: str = "") -> str:
    """A small box: one json origin over plain TCP with ACKs, the simulated destinations."""
    lines = [
        "[switch]",
        'name = "CRASH"',
        'home_state = "CA"',
        f'journal = "{journal}"',
        "deadline = 60",
        "ttl = 3600",
    ]
    if metrics:
        lines.append(f'metrics_listen = "{metrics}"')
    if unsafe:
        lines.append('unsafe_test_mode = "ack-before-commit"')
    lines.append(extra_switch)
    lines += [
        "",
        "[switch.retry]",  # restarts every second: keep retrying, briefly, for a long time
        "retries = 1000",
        "backoff_initial = 0.1",
        "backoff_max = 0.5",
        "jitter = 0.2",
        "",
        "[[peer]]",
        'mnemonic = "LAPD"',
        f'oris = ["{ORIGIN_ORI}"]',
        'access = "full"',
        "",
        "[[link]]",
        'name = "lapd"',
        f'url = "tcp://127.0.0.1:{origin_port}?framing=len2&plain=1"',
        'codec = "json"',
        'role = "origin"',
        'peer = "LAPD"',
        "ack = true",
    ]
    for name, url in dest_urls.items():
        lines += ["", "[[link]]", f'name = "{name.lower()}"', f'url = "{url}"',
                  f'codec = "{codec}"', 'role = "destination"', "",
                  "[[destination]]", f'name = "{name}"', f'link = "{name.lower()}"']
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the subprocess


class SwitchProcess:
    """``clets run CONFIG`` as a child process; stderr (JSON logs) appended to ``log``."""

    def __init__(self, config: Path, log: Path, *, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        self.config, self.log = config, log
        self.env = {**os.environ, **(env or {})}
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.ready: dict[str, Any] = {}
        #: seconds from spawn to the ``ready`` line, one per start
        self.start_seconds: list[float] = []
        self._scanned = 0  # bytes of ``log`` already searched for ready lines

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen([*CLETS, "run", str(self.config), *self.args],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, env=self.env)
        self.starts += 1
        return self.proc

    async def start(self, timeout: float = 20.0) -> dict[str, Any]:
        """Spawn and wait for this pid's ``ready`` log line (returned, parsed)."""
        with contextlib.suppress(FileNotFoundError):
            self._scanned = self.log.stat().st_size
        began = time.monotonic()
        proc = self.spawn()
        async with asyncio.timeout(timeout):
            while True:
                line = self._ready_line(proc.pid)
                if line is not None:
                    self.ready = line
                    self.start_seconds.append(time.monotonic() - began)
                    return line
                if proc.poll() is not None:
                    raise RuntimeError(f"clets run exited {proc.returncode} before ready:\n"
                                       + self.log.read_text("utf-8", "replace")[-2000:])
                await asyncio.sleep(0.01)

    def _ready_line(self, pid: int) -> dict[str, Any] | None:
        # only the bytes written since this start (a soak's log grows to many MB: reading it
        # all every 10 ms took the CPU the starting switch needed)
        with contextlib.suppress(FileNotFoundError), self.log.open("rb") as f:
            f.seek(self._scanned)
            for raw in f.read().decode("utf-8", "replace").splitlines():
                if '"ready"' in raw:
                    with contextlib.suppress(json.JSONDecodeError):
                        rec = json.loads(raw)
                        if rec.get("msg") == "ready" and rec.get("pid") == pid:
                            return dict(rec)
        return None

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            while self.proc.poll() is None:
                await asyncio.sleep(0.01)
        return int(self.proc.returncode)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.wait(10.0)

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM; the exit status (a stuck process is SIGKILLed and reported as -9)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await self.wait(timeout)
        except TimeoutError:
            await self.kill()
            return -9

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# --------------------------------------------------------------------------- load generator


@dataclass
class Sent:
    control: str
    mke: str
    data: bytes
    first_sent: float
    last_sent: float
    sends: int = 1
    acked_at: float | None = None


def name_tag(seq: int) -> str:
    """``seq`` in six letters (a first name the field edits accept), unique below 26**6."""
    return "".join(chr(65 + seq // 26**i % 26) for i in range(5, -1, -1))


def origin_control(req: Message) -> str:
    """The load generator's control of the message a destination executed, read from its
    content (the name's or plate's sequence number), not from the switch's journal: the
    checker then does not depend on the journal's schema."""
    if req.person is not None and req.person.name is not None and req.person.name.first:
        seq = 0
        for ch in req.person.name.first:
            seq = seq * 26 + ord(ch) - 65
        return f"K{seq:07d}"
    if req.vehicle is not None and req.vehicle.plate:
        return req.vehicle.plate
    return ""


def len2(payload: bytes) -> bytes:
    return struct.pack(">H", len(payload)) + payload


class LoadGen:
    """Agency clients on ``conns`` connections, at most ``window`` unacknowledged messages each,
    ``rate`` new messages per second in total.  Everything it observes is in its tables."""

    def __init__(self, host: str, port: int, *, rate: float = 150.0, window: int = 8,
                 conns: int = 3, seed: int = 0, resend_after: float = 5.0) -> None:
        self.host, self.port = host, port
        self.rate, self.window, self.conns = rate, window, conns
        self.rng = random.Random(seed)
        self.resend_after = resend_after
        self.sent: dict[str, Sent] = {}
        self.answers: dict[str, Counter[str]] = defaultdict(Counter)
        self.rejects: dict[str, list[str]] = defaultdict(list)
        self.statuses: dict[str, list[str]] = defaultdict(list)
        self.acks = 0
        self.frames_in: Counter[str] = Counter()
        self.bad_frames: list[str] = []
        self.connects = 0
        self.resends = 0
        self.producing = True
        self._running = True
        self._seq = 0
        self._owner: dict[str, int] = {}
        #: the unacknowledged messages of each worker (a scan of ``sent`` per loop turn would
        #: cost O(messages) and slow long runs down)
        self._open: dict[int, dict[str, Sent]] = defaultdict(dict)
        self._tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Event()

    # -- messages
    def _new(self, worker: int) -> Sent:
        self._seq += 1
        control = f"K{self._seq:07d}"
        # the name or plate carries the sequence number too: a destination's log maps each
        # request it executed back to its origin message without reading the journal
        if self.rng.random() < 0.6:
            msg = Message(format="json", mke="QW", origin=ORIGIN_ORI, control=control,
                          person=Person(name=Name("ZZYZX", name_tag(self._seq)),
                                        dob="1980-01-01", sex="M", race="W"))
        else:
            msg = Message(format="json", mke="QV", origin=ORIGIN_ORI, control=control,
                          vehicle=Vehicle(plate=control, plate_state="CA"))
        now = time.monotonic()
        s = Sent(control, msg.mke, dumps(msg).encode(), now, now)
        self.sent[control] = s
        self._owner[control] = worker
        self._open[worker][control] = s
        return s

    def unacked(self, worker: int | None = None) -> list[Sent]:
        if worker is None:
            return [s for w in list(self._open) for s in self._open[w].values()]
        return list(self._open[worker].values())

    # -- run
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._worker(i)) for i in range(self.conns)]

    async def close(self) -> None:
        self._running = False
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _worker(self, wid: int) -> None:
        interval = self.conns / self.rate
        while self._running:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port), 1.0)
            except (OSError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
            self.connects += 1
            rtask = asyncio.get_running_loop().create_task(self._reader(reader))
            try:
                for s in self.unacked(wid):  # what the dead connection may have lost
                    writer.write(len2(s.data))
                    s.sends += 1
                    s.last_sent = time.monotonic()
                    self.resends += 1
                if not self.producing and not self.unacked(wid):
                    # a plain connection gets the answers waiting for its peer only once it
                    # has sent a whole frame (docs/links.md): after the drain's last restart a
                    # terminal with nothing to resend still says something -- one inquiry more
                    writer.write(len2(self._new(wid).data))
                await writer.drain()
                next_new = time.monotonic()
                while self._running and not rtask.done():
                    now = time.monotonic()
                    mine = self.unacked(wid)
                    for s in mine:
                        if now - s.last_sent > self.resend_after:
                            writer.write(len2(s.data))
                            s.sends += 1
                            s.last_sent = now
                            self.resends += 1
                    if self.producing and len(mine) < self.window and now >= next_new:
                        writer.write(len2(self._new(wid).data))
                        next_new = max(now, next_new + interval)
                    await writer.drain()
                    await asyncio.sleep(min(0.01, max(0.0, next_new - time.monotonic())))
            except (ConnectionError, OSError):
                pass
            finally:
                # read what already arrived before giving the connection up: answers written
                # just before the switch died are in our receive buffer, not lost
                if self._running:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(rtask), 1.0)
                rtask.cancel()
                await asyncio.gather(rtask, return_exceptions=True)
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()

    async def _reader(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, OSError):
            while True:
                (n,) = struct.unpack(">H", await reader.readexactly(2))
                payload = await reader.readexactly(n)
                try:
                    self._on_frame(payload)
                except (ValueError, TypeError, AttributeError) as exc:
                    self.bad_frames.append(f"{exc}: {payload[:200]!r}")

    def _on_frame(self, payload: bytes) -> None:
        msg = json.loads(payload)
        control = msg.get("control") or ""
        mke = msg.get("mke")
        self.frames_in[str(mke)] += 1
        if mke == "ACK":
            s = self.sent.get(control)
            if s is not None and s.acked_at is None:
                s.acked_at = time.monotonic()
                self._open[self._owner[control]].pop(control, None)
            self.acks += 1
        elif mke == "ER":
            self.rejects[control].append(str((msg.get("error") or {}).get("code")))
        elif mke == "SM":
            self.statuses[control].append(str(msg.get("text")))
        else:
            self.answers[control][DEST_ORI.get(msg.get("origin") or "", "?")] += 1
        self._progress.set()

    def answers_complete(self) -> bool:
        return all(all(self.answers[c][d] for d in EXPECTED[s.mke])
                   for c, s in self.sent.items() if s.acked_at is not None)

    async def settle(self, *, ack_timeout: float, quiet: float, timeout: float,
                     outstanding: Callable[[], int] = lambda: 0) -> None:
        """Stop producing; wait until every message is acknowledged, then until every
        acknowledged message has all its answers -- or the switch's journal holds nothing
        queued or in flight (``outstanding``) and nothing arrived for ``quiet`` seconds.

        The journal check keeps a slow, loaded machine (a destination in reconnect backoff, a
        long backlog) from ending the wait early and reporting delivered-later as lost."""
        self.producing = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ack_timeout):
                while self.unacked():
                    await asyncio.sleep(0.02)
        # ends only after ``quiet`` seconds with nothing arriving, even when the answers look
        # complete: a worker reconnecting to the drain's switch sends one inquiry more (see
        # ``_worker``), which may not be sent yet when the ACK wait above ends -- returning at
        # once let it be acknowledged and then closed before its answers came (a power-cut
        # run counted its three answers missing, the switch given 30 ms to send them)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    self._progress.clear()
                    try:
                        async with asyncio.timeout(quiet):
                            await self._progress.wait()
                    except TimeoutError:
                        if self.answers_complete() or outstanding() == 0:
                            return


# --------------------------------------------------------------------------- checker


@dataclass
class Report:
    attempted: int = 0
    acknowledged: int = 0
    never_acknowledged: int = 0
    lost: int = 0
    lost_controls: list[str] = field(default_factory=list)
    missing_answers: list[tuple[str, str]] = field(default_factory=list)
    effects: int = 0
    duplicate_effects: int = 0
    raw_redeliveries: int = 0
    unexpected: int = 0
    recovered: int = 0
    answers_expected: int = 0
    answers_missing: int = 0
    answers_duplicated: int = 0
    rejects: int = 0
    statuses: int = 0
    resends: int = 0
    connects: int = 0
    kills: int = 0
    exit_code: int | None = None
    audit_ok: bool | None = None
    audit_output: str = ""
    integrity: str = ""

    @property
    def ok(self) -> bool:
        return (self.lost == 0 and self.duplicate_effects == 0 and self.unexpected == 0
                and self.answers_missing == 0 and self.rejects == 0 and self.exit_code == 0
                and bool(self.audit_ok) and self.integrity == "ok")

    def summary(self) -> str:
        keys = ("kills", "attempted", "acknowledged", "never_acknowledged", "lost", "effects",
                "duplicate_effects", "raw_redeliveries", "unexpected", "recovered",
                "answers_expected", "answers_missing", "answers_duplicated", "rejects",
                "statuses", "resends", "connects", "exit_code", "audit_ok", "integrity")
        return " ".join(f"{k}={getattr(self, k)}" for k in keys)


def journal_controls(journal: Path) -> dict[str, tuple[str, str]]:
    """switch control -> (destination, origin control), read from the journal."""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT o.control, o.target, m.control FROM outbound o JOIN "
                            "messages m ON o.msn = m.msn WHERE o.kind = 'forward'").fetchall()
    finally:
        conn.close()
    return {str(sc): (str(t), str(oc)) for sc, t, oc in rows}


def explain(journal: Path, control: str) -> list[dict[str, Any]]:
    """The journal's queue rows of one origin message (to say why something is missing)."""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT o.id, o.kind, o.target, o.control, o.state, o.attempts, o.responses, "
            "o.mke, o.last_error FROM outbound o JOIN messages m ON o.msn = m.msn "
            "WHERE m.control = ? ORDER BY o.id", (control,)).fetchall()
        return [dict(r) for r in rows]
    finally:
        conn.close()


def read_only_value(journal: Path, sql: str) -> Any:
    """The first column of ``sql``'s first row (None: no row), read on a read-only
    connection that is closed again (the switch may still have the journal open)."""
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        row = conn.execute(sql).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


def integrity(journal: Path) -> str:
    return str(read_only_value(journal, "PRAGMA integrity_check"))


def check(gen: LoadGen, sim_logs: dict[str, list[Message]], journal: Path, *, kills: int = 0,
          exit_code: int | None = None) -> Report:
    r = Report(attempted=len(gen.sent), resends=gen.resends, connects=gen.connects,
               kills=kills, exit_code=exit_code)
    effects: dict[tuple[str, str], set[str]] = defaultdict(set)
    raw: Counter[tuple[str, str]] = Counter()
    for dest, log in sim_logs.items():
        for req in log:
            sc = req.control or ""
            oc = origin_control(req)
            sent = gen.sent.get(oc)
            if sent is None or dest not in EXPECTED[sent.mke] or req.mke != sent.mke:
                r.unexpected += 1
                continue
            effects[(dest, oc)].add(sc)
            raw[(dest, sc)] += 1
    r.effects = len(effects)
    r.duplicate_effects = sum(1 for scs in effects.values() if len(scs) > 1)
    r.raw_redeliveries = sum(n - 1 for n in raw.values())
    for c, s in gen.sent.items():
        expected = EXPECTED[s.mke]
        reached = [d for d in expected if (d, c) in effects]
        if s.acked_at is None:
            r.never_acknowledged += 1
            if reached:
                r.recovered += 1
            continue
        r.acknowledged += 1
        if len(reached) < len(expected):
            r.lost += 1
            if len(r.lost_controls) < 20:
                r.lost_controls.append(c)
        for d in expected:
            r.answers_expected += 1
            n = gen.answers[c][d]
            if n == 0:
                r.answers_missing += 1
                if len(r.missing_answers) < 20:
                    r.missing_answers.append((c, d))
            r.answers_duplicated += max(0, n - 1)
    r.rejects = sum(len(v) for v in gen.rejects.values())
    r.statuses = sum(len(v) for v in gen.statuses.values())
    r.integrity = integrity(journal)
    out = subprocess.run([*CLETS, "audit", "verify", "--journal", str(journal)],
                         capture_output=True, text=True, timeout=120)
    r.audit_ok = out.returncode == 0
    r.audit_output = (out.stdout + out.stderr).strip()[-500:]
    return r


# --------------------------------------------------------------------------- one run


def outstanding_rows(journal: Path) -> int:
    """Rows the switch still has to send (queued or in flight), read without locking it out
    (a log journal: its committed blocks folded read-only)."""
    from clets.switch.logjournal import LogJournal, file_format

    try:
        if file_format(journal) == "log":
            j = LogJournal(journal, readonly=True)
            try:
                return j.memory_counts()["open"]
            finally:
                j.close()
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True,
                                                timeout=5)) as db:
            (n,) = db.execute("SELECT count(*) FROM outbound "
                              "WHERE state IN ('queued', 'in_flight')").fetchone()
            return int(n)
    except sqlite3.Error:
        return 1  # cannot tell (file busy or not there yet): keep waiting


async def drain(gen: LoadGen, proc: Any, journal: Path, settle_timeout: float) -> int:
    """The end of every run: stop producing, wait until everything acknowledged is answered
    (or the journal holds nothing more to send), stop the load, SIGTERM the switch; its exit
    status.  ``proc``: a :class:`SwitchProcess` or the power-cut kit's forked switch."""
    await gen.settle(ack_timeout=settle_timeout, quiet=3.0, timeout=2 * settle_timeout,
                     outstanding=lambda: outstanding_rows(journal))
    await gen.close()
    return int(await proc.terminate())


async def crash_run(tmp: Path, *, rounds: int, unsafe: bool = False, seed: int = 1,
                    rate: float = 150.0, kill_min: float = 0.2, kill_max: float = 1.5,
                    settle_timeout: float = 60.0) -> Report:
    """Kill the switch ``rounds`` times under load, settle, SIGTERM, check."""
    from clets.sim import SimNetwork

    rng = random.Random(seed)
    journal = tmp / "journal.db"
    async with SimNetwork(backends=list(BACKENDS), base_port=0) as net:
        for server in net.servers.values():  # keep every request for the checker
            server.log = type(server.log)(maxlen=1_000_000)
        port = free_port()
        cfg = tmp / "switch.toml"
        cfg.write_text(switch_config(journal, port, {n: net.url(n) for n in BACKENDS},
                                     unsafe=unsafe), "utf-8")
        env = {"CLETS_ALLOW_UNSAFE_TEST_MODE": "1"} if unsafe else {}
        proc = SwitchProcess(cfg, tmp / "switch.log", env=env)
        gen = LoadGen("127.0.0.1", port, rate=rate, seed=seed)
        try:
            await proc.start()
            gen.start()
            for _ in range(rounds):
                await asyncio.sleep(rng.uniform(kill_min, kill_max))
                await proc.kill()
                await asyncio.sleep(rng.uniform(0.0, 0.1))
                await proc.start()
            code = await drain(gen, proc, journal, settle_timeout)
        finally:
            await gen.close()
            proc.cleanup()
        logs = {n: net.log(n) for n in BACKENDS}
    return check(gen, logs, journal, kills=rounds, exit_code=code)

"""Power-cut test kit: the switch (``clets run``) with its journal on the power-cut VFS, cut
hundreds of times under load, then drained on the ordinary VFS and checked.

What it reuses from the crash kit (tests/_crash_kit.py): the box's config, the load generator
(agency clients that count a message as acknowledged when its ACK arrives and re-send what is
not), the simulated back-ends that log every request they execute, and the checker (lost,
duplicate effects, unexpected, answers, ``PRAGMA integrity_check``, ``clets audit verify``).
What it adds:

* **The journal on the power-cut VFS.**  Each switch process is started through
  :func:`boot`, which registers tests/_powercut_vfs.py in APSW and points the journal's one
  seam (``clets.switch.journal.connect``) at an APSW connection on it (tests/_apsw_conn.py).
  The VFS keeps every write in the process's memory until it is synced, so the SIGKILL that
  ends the process is the power cut; :func:`after_cut` then undoes the directory changes that
  were not synced, and the next process starts on what the disk holds.
* **Where the cuts fall.**  A third of the cuts are placed by the VFS at a random I/O call
  (``kill_at``: any write, truncate or fsync of the database, its WAL or a rollback journal,
  startup and recovery included), a third at a random fsync (``kill_at_sync``: a random subset
  of the dirty blocks reaches the disk first), a third by a timer, anywhere.  Each process
  also has the timer: a cut the VFS did not make by then, the timer makes.  The VFS also
  writes random dirty blocks (whole or torn) back early, as the kernel does, so the disk after
  a cut holds the synced data plus some later writes, in any order.
* **Warm restarts.**  Every switch process is forked from a warm parent that imported
  everything once (:func:`fork_server`); a cut and restart cost a few hundred milliseconds
  of which little is CPU, so ``make test`` runs hundreds of cuts in about a minute.
* **The drain.**  After the last cut the switch runs on the ordinary VFS (the stdlib
  ``sqlite3`` module's SQLite) until every acknowledged message is answered or nothing is left
  to send, and stops cleanly; then the checker runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests._crash_kit import (
    BACKENDS,
    LoadGen,
    Report,
    SwitchProcess,
    check,
    drain,
    free_port,
    switch_config,
)
from tests._powercut_vfs import after_cut

ROOT = Path(__file__).resolve().parents[1]

#: the fork server: imports everything once, then forks one switch process per start
PRELUDE = "import sys; sys.path.insert(0, {root!r}); import tests._powercut as p; p.fork_server()"


def fork_server() -> None:
    """A warm parent of switch processes (its stdin/stdout are the harness's pipes).

    Why: a fresh ``clets run`` costs about 0.6 s of CPU before it is ready (imports, the field
    edits' generated code); hundreds of cuts would spend minutes on that.  This process pays it
    once and forks a child per start: ``{"vfs": ..., "argv": [...], "log": PATH}`` on stdin
    starts one (``vfs``: :class:`PowerCutVFS` settings, or null for the ordinary stdlib
    SQLite) and answers ``pid N``; ``exit N CODE`` follows when it ends (``-9``: killed)."""
    import select

    import clets.cli
    import clets.daemon
    import clets.switch.engine
    import tests._apsw_conn
    import tests._powercut_vfs
    from clets.model.edits import prepare

    assert clets.cli and clets.daemon and clets.switch.engine  # imported once, here
    assert tests._apsw_conn and tests._powercut_vfs
    prepare()  # the field edits' generated code (0.3 s of a start), once
    out = sys.stdout
    buf = ""
    while True:
        ready, _, _ = select.select([sys.stdin], [], [], 0.005)
        if ready:
            chunk = os.read(sys.stdin.fileno(), 65536).decode()
            if not chunk:
                return  # the harness is gone
            buf += chunk
            while "\n" in buf:
                line, buf = buf.split("\n", 1)
                pid = os.fork()
                if pid == 0:
                    _child(json.loads(line))  # never returns
                out.write(f"pid {pid}\n")
                out.flush()
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            out.write(f"exit {pid} {os.waitstatus_to_exitcode(status)}\n")
            out.flush()


def _child(spec: dict[str, Any]) -> None:
    """The forked switch process: its own stdio, the VFS if asked, ``clets run``."""
    import logging

    import clets.cli
    import clets.switch.journal as journal

    code = 1
    try:
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        vfs = None
        if spec.get("vfs") is not None:
            from tests._apsw_conn import connect
            from tests._powercut_vfs import NAME, register

            vfs = register(**spec["vfs"])
            journal.connect = functools.partial(connect, vfs=NAME)  # type: ignore[assignment]
        sys.argv = ["clets", *spec["argv"]]
        try:
            clets.cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if vfs is not None:
            vfs.flush_all()  # a clean exit: atexit does not run after os._exit
        logging.shutdown()
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


class _Child:
    """A forked switch process as much of ``subprocess.Popen`` as SwitchProcess uses."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self._server, self.pid = server, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exits.get(self.pid)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() > end:
                raise subprocess.TimeoutExpired("clets run", timeout or 0)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """The harness's end of :func:`fork_server`."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", PRELUDE.format(root=str(ROOT))],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     cwd=ROOT)
        self.exits: dict[int, int] = {}
        self._pids: queue.Queue[int] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            kind, *rest = raw.decode().split()
            if kind == "pid":
                self._pids.put(int(rest[0]))
            elif kind == "exit":
                self.exits[int(rest[0])] = int(rest[1])

    def start(self, spec: dict[str, Any]) -> _Child:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(spec).encode() + b"\n")
        self.proc.stdin.flush()
        return _Child(self, self._pids.get(timeout=60))

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class WarmSwitch(SwitchProcess):
    """``clets run CONFIG`` forked from a warm :class:`ForkServer`."""

    def __init__(self, config: Path, log: Path, *, env: dict[str, str] | None = None) -> None:
        super().__init__(config, log, env=env)
        self.server = ForkServer(self.env)
        self._offset = 0

    def go(self, vfs: dict[str, Any] | None) -> _Child:
        """Start a switch process with these VFS settings (``None``: the ordinary VFS)."""
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        child = self.server.start({"vfs": vfs, "argv": ["run", str(self.config)],
                                   "log": str(self.log)})
        self.proc = child  # type: ignore[assignment]
        self.starts += 1
        return child

    def _ready_line(self, pid: int) -> dict[str, Any] | None:
        with contextlib.suppress(FileNotFoundError), self.log.open("rb") as f:
            f.seek(self._offset)
            for raw in f.read().decode("utf-8", "replace").splitlines():
                if '"ready"' in raw:
                    with contextlib.suppress(json.JSONDecodeError):
                        rec = json.loads(raw)
                        if rec.get("msg") == "ready" and rec.get("pid") == pid:
                            return dict(rec)
        return None

    async def start_ready(self, vfs: dict[str, Any] | None, timeout: float = 30.0
                          ) -> dict[str, Any]:
        proc = self.go(vfs)
        async with asyncio.timeout(timeout):
            while True:
                line = self._ready_line(proc.pid)
                if line is not None:
                    self.ready = line
                    return line
                if proc.poll() is not None:
                    raise RuntimeError(f"clets run exited {proc.returncode} before ready:\n"
                                       + self.log.read_text("utf-8", "replace")[-3000:])
                await asyncio.sleep(0.01)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.server.close()


@dataclass
class CutFigures:
    cuts: int = 0
    #: cuts the VFS made at an I/O call / the harness made by its timer
    at_io: int = 0
    by_timer: int = 0
    #: cuts that fell before the process was ready (open, recovery, start)
    before_ready: int = 0
    #: directory changes undone after the cuts (files created / deleted, not yet durable)
    undone_created: int = 0
    undone_deleted: int = 0
    seconds: float = 0.0
    cut_seconds: float = 0.0
    #: go -> ready of the processes that got there, seconds (sum)
    ready_seconds: float = 0.0
    #: inquiries acknowledged before the drain (while the journal ran on the cutting VFS)
    acked_during_cuts: int = 0
    #: tracebacks in the switch's log (an exception nothing handled)
    tracebacks: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"cuts={self.cuts} at_io={self.at_io} by_timer={self.by_timer} "
                f"before_ready={self.before_ready} undone_created={self.undone_created} "
                f"undone_deleted={self.undone_deleted} seconds={self.seconds:.1f} "
                f"cut_seconds={self.cut_seconds:.1f} ready_seconds={self.ready_seconds:.1f} "
                f"acked_during_cuts={self.acked_during_cuts} tracebacks={self.tracebacks}")


async def powercut_run(tmp: Path, *, cuts: int, seed: int = 1, unsafe: str | None = None,
                       rate: float = 150.0, io_max: int = 1000, sync_max: int = 25,
                       writeback: float = 0.05, timer: tuple[float, float] = (0.0, 0.5),
                       startup_share: float = 0.15,
                       settle_timeout: float = 60.0) -> tuple[Report, CutFigures]:
    """Cut the switch ``cuts`` times under load, drain on the ordinary VFS, check.

    ``unsafe``: a negative control (``[switch] unsafe_test_mode``), e.g.
    ``"synchronous-normal"``: commits not synced before their ACK."""
    from clets.sim import SimNetwork

    rng = random.Random(seed)
    dbdir = tmp / "db"  # the journal alone in its directory (the model syncs directories)
    dbdir.mkdir(parents=True, exist_ok=True)
    journal = dbdir / "journal.db"
    fig = CutFigures()
    t0 = time.monotonic()
    async with SimNetwork(backends=list(BACKENDS), base_port=0) as net:
        for server in net.servers.values():  # keep every request for the checker
            server.log = type(server.log)(maxlen=1_000_000)
        port = free_port()
        cfg = tmp / "switch.toml"
        extra = f'unsafe_test_mode = "{unsafe}"' if unsafe else ""
        cfg.write_text(switch_config(journal, port, {n: net.url(n) for n in BACKENDS},
                                     extra_switch=extra), "utf-8")
        env = {"CLETS_ALLOW_UNSAFE_TEST_MODE": "1"} if unsafe else {}
        proc = WarmSwitch(cfg, tmp / "switch.log", env=env)
        gen = LoadGen("127.0.0.1", port, rate=rate, seed=seed)
        try:
            gen.start()
            for i in range(cuts):
                where = rng.randrange(3)  # 0: any I/O call, 1: an fsync, 2: the timer alone
                vfs = {"writeback": writeback, "seed": rng.randrange(2**32),
                       "kill_at": rng.randint(1, io_max) if where == 0 else 0,
                       "kill_at_sync": rng.randint(1, sync_max) if where == 1 else 0}
                p = proc.go(vfs)
                started = time.monotonic()
                # the timer: mostly some time after ready (the switch under load), sometimes
                # during the start (journal open, recovery)
                early = rng.random() < startup_share
                window = rng.uniform(0.0, 0.3) if early else rng.uniform(*timer)
                # (not early: no cut by the timer before ready, 30 s at most)
                deadline = time.monotonic() + (window if early else 30.0)
                ready = False
                while p.poll() is None and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                    if not ready and proc._ready_line(p.pid) is not None:
                        ready = True
                        fig.ready_seconds += time.monotonic() - started
                        if not early:
                            deadline = time.monotonic() + window
                if p.poll() is None:
                    fig.by_timer += 1
                    await proc.kill()
                else:
                    if p.returncode != -9:
                        raise RuntimeError(f"cut {i}: clets run exited {p.returncode}:\n"
                                           + proc.log.read_text("utf-8", "replace")[-3000:])
                    fig.at_io += 1
                ready = ready or proc._ready_line(p.pid) is not None
                fig.before_ready += not ready
                fig.cuts += 1
                undone = after_cut(dbdir)
                fig.undone_created += undone["created"]
                fig.undone_deleted += undone["deleted"]
            fig.cut_seconds = time.monotonic() - t0
            # acknowledged while the journal ran on the cutting VFS (not in the drain): a
            # switch that cannot commit there acknowledges nothing and would pass vacuously
            fig.acked_during_cuts = sum(1 for s in gen.sent.values() if s.acked_at is not None)
            await proc.start_ready(None)  # the drain, on the ordinary VFS
            code = await drain(gen, proc, journal, settle_timeout)
        finally:
            await gen.close()
            proc.cleanup()
        logs = {n: net.log(n) for n in BACKENDS}
    report = check(gen, logs, journal, kills=cuts, exit_code=code)
    fig.seconds = time.monotonic() - t0
    fig.tracebacks = proc.log.read_text("utf-8", "replace").count("Traceback (most recent")
    return report, fig


def run_cli() -> None:  # pragma: no cover - a manual entry point
    """``python -m tests._powercut CUTS [MODE]``: one run, figures on stdout."""
    import tempfile

    cuts = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    mode = sys.argv[2] if len(sys.argv) > 2 else None
    with tempfile.TemporaryDirectory() as d:
        report, fig = asyncio.run(powercut_run(Path(d), cuts=cuts, unsafe=mode,
                                               seed=int(os.environ.get("SEED", "1"))))
    print(fig.summary())
    print(report.summary())


if __name__ == "__main__":
    run_cli()

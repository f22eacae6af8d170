"""``clets demo``: an embedded CLETS-like network and a scripted, self-checking scenario.

One process, one event loop, one temporary directory: the simulated back-ends, the switch
(journal on, ``synchronous=FULL``), a teletype on a pseudo-terminal, a CAD client over mutual
TLS and an RMS spool drop.  :func:`run_demo` prints a transcript and returns 0 only when every
step got exactly the answers it expected, the audit chain verifies and the queues are empty.
See docs/demo.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from clets.errors import CletsError
from clets.sim import DEFAULT_SEED
from clets.switch import audit as audit_mod

from .network import CAD_CERT_NAME, DMV_DEADLINE, ORIS, TEXT_DESTS, DemoNetwork
from .scenario import Scenario, Transcript

__all__ = ["run_demo"]

#: the whole demo must finish within this many seconds (then it fails, it never hangs)
DEFAULT_TIMEOUT = 50.0


def _setup_lines(net: DemoNetwork, tr: Transcript) -> None:
    sw = net.switch
    assert sw is not None and net.terminal is not None
    tr.line(f"clets demo: an embedded CLETS-like network in one process (data set seed "
            f"{net.seed})")
    tr.line(f"  work dir   {net.root}")
    tr.line(f"  switch     {sw.config.switch.name}: config switch.toml, journal journal.db "
            "(SQLite WAL, synchronous=FULL), audit hash chain on")
    tr.line(f"  DMV        {net.sim.url('DMV')}  EBCDIC copybook records (cp037); answer "
            f"deadline {DMV_DEADLINE:g} s")
    for name in TEXT_DESTS:
        tr.detail(f"  {name:<10} {net.sim.url(name)}  NCIC text (switch control as *CONTROL)")
    tr.detail(f"  NLETS      {net.sim.url('NLETS')}  NIEM XML")
    tr.line(f"  TERM1      teletype on {net.terminal.port} (pty pair; switch link serial://, "
            f"stx-etx+lrc ACK/NAK, NCIC text), ORI {ORIS['TERM']}")
    tr.line(f"  LAPD       CAD on tcp+tls://127.0.0.1:{net.cad_port} (mutual TLS, client cert "
            f"CN={CAD_CERT_NAME}, canonical JSON), ORI {ORIS['CAD']}")
    tr.detail(f"             TLS: {net.tls_summary()}")
    tr.line(f"  SFPD       RMS batch drop spool://{net.spool} (inbox/ -> outbox/, one NCIC "
            f"inquiry per line), ORI {ORIS['RMS']}")


async def _queues_empty(net: DemoNetwork, timeout: float = 3.0) -> dict[str, dict[str, int]]:
    """Open rows left (queued / in_flight / dead), after waiting a bounded time for them."""
    assert net.switch is not None
    end = time.monotonic() + timeout
    while True:
        depths = net.switch.journal.depths()
        left = {t: {s: n for s, n in states.items() if s in ("queued", "in_flight", "dead")}
                for t, states in depths.items()}
        left = {t: s for t, s in left.items() if s}
        if not left or time.monotonic() > end:
            return left
        await asyncio.sleep(0.05)


def _summary(net: DemoNetwork, sc: Scenario, tr: Transcript,
             left: dict[str, dict[str, int]]) -> bool:
    assert net.switch is not None
    m = net.switch.metrics()["messages"]
    verify = audit_mod.verify(net.switch.journal.conn)
    tr.line("")
    tr.line("== summary")
    tr.line(f"   messages   {m.get('received', 0)} received, {m.get('accepted', 0)} accepted, "
            f"{m.get('rejected', 0)} rejected; {m.get('forwarded', 0)} forwarded to back-ends")
    tr.line(f"   answers    {m.get('responded', 0)} from back-ends ({m.get('late', 0)} late), "
            f"{m.get('timeout', 0)} .02. status, {m.get('rejected', 0)} ER, "
            f"{m.get('acked', 0)} ACK: {sc.answers_seen} frames reached the terminal, the CAD "
            "and the RMS outbox, each one checked")
    tr.line(f"   audit      {verify} (clets.switch.audit.verify)")
    tr.line("   queues     " + ("empty (nothing queued, in flight or dead)" if not left
                               else f"NOT EMPTY: {left}"))
    passed = sum(r.ok for r in sc.results)
    tr.line(f"   steps      {passed} of {len(sc.results)} passed")
    return verify.ok and not left


def _verify_file(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return str(audit_mod.verify(conn))
    finally:
        conn.close()


async def _run(tr: Transcript, *, seed: int, keep: bool, timeout: float,
               capture: Path | None = None) -> int:
    root = Path(tempfile.mkdtemp(prefix="clets-demo-"))
    net = DemoNetwork(root, seed=seed, capture=capture)
    ok = False
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the finally below runs
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            if task is not None:
                loop.add_signal_handler(sig, task.cancel)
    try:
        async with asyncio.timeout(timeout):
            await net.start()
            _setup_lines(net, tr)
            sc = Scenario(net, tr)
            steps_ok = await sc.run()
            left = await _queues_empty(net)
            ok = _summary(net, sc, tr, left) and steps_ok
    except TimeoutError:
        tr.line(f"DEMO FAILED: did not finish within {timeout:g} s")
    except (CletsError, OSError) as exc:
        tr.line(f"DEMO FAILED: {type(exc).__name__}: {exc}")
    except asyncio.CancelledError:
        tr.line("DEMO INTERRUPTED")
    finally:
        await net.stop()
        journal = root / "journal.db"
        if journal.exists():
            with contextlib.suppress(sqlite3.Error):
                tr.line(f"   after shutdown, journal.db audit: {_verify_file(journal)}")
        if capture is not None:
            tr.line(f"   captures of the tty, cad and rms links in {capture}/")
        if keep:
            tr.line(f"   kept {root} (switch.toml, journal.db, pki/, rms-drop/)")
        else:
            shutil.rmtree(root, ignore_errors=True)
    tr.line("demo: OK" if ok else "demo: FAILED")
    return 0 if ok else 1


def run_demo(*, quiet: bool = False, keep: bool = False, seed: int = DEFAULT_SEED,
             timeout: float = DEFAULT_TIMEOUT,
             echo: Callable[[str], None] | None = None, capture: Path | None = None) -> int:
    """Run the embedded network and the scripted scenario; the exit status (0 = all held).

    A watchdog ends the process with a traceback if the event loop itself were ever blocked
    past ``timeout`` + 20 s (the asyncio timeout covers everything else).
    """
    out = echo or (lambda s: print(s, flush=True))
    tr = Transcript(out, quiet=quiet)
    watchdog = sys.__stderr__ is not None
    if sys.__stderr__ is not None:
        try:
            faulthandler.dump_traceback_later(timeout + 20, exit=True, file=sys.__stderr__)
        except (AttributeError, ValueError, OSError):  # no real stderr: no watchdog
            watchdog = False
    try:
        return asyncio.run(_run(tr, seed=seed, keep=keep, timeout=timeout, capture=capture))
    finally:
        if watchdog:
            faulthandler.cancel_dump_traceback_later()

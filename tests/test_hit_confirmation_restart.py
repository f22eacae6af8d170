"""Hit confirmation clocks survive a SIGKILL (switch/hitconfirm.py, issue 17).

The switch runs as a child process (``clets run``) in front of a destination written here (a
real TCP server in the test's loop, json over ``len2``) that answers a QW on ``HITME`` with a
wanted-person hit.  The hit starts NCIC's confirmation clock; the switch is SIGKILLed while the
clock still runs (no reminder in the audit trail yet), restarted, and must still remind the
origin once the window has passed: the clock comes back from the journal, not from memory.
Both journal formats.  The window is shortened by config (``hit_confirm_urgent``) so the test
waits seconds, not ten minutes; the assertions are on what arrives and on the audit trail,
never on how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from pathlib import Path

import pytest

from clets.model import Case, Message, Name, Person, Record, dumps, loads
from clets.switch.audit import records
from clets.switch.journal import open_readonly
from tests._crash_kit import ORIGIN_ORI, SwitchProcess, free_port, len2, switch_config

pytestmark = pytest.mark.timeout(180)

NIC = "W123456789"
#: seconds of the urgent window: long enough that the kill lands inside it on a loaded machine
WINDOW = 6


async def _frames(reader: asyncio.StreamReader, out: asyncio.Queue[Message]) -> None:
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, OSError):
        while True:
            (n,) = struct.unpack(">H", await reader.readexactly(2))
            await out.put(loads(await reader.readexactly(n)))


async def _ncic(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The destination: a hit for ``HITME``, no hit for anything else."""
    got: asyncio.Queue[Message] = asyncio.Queue()
    task = asyncio.get_running_loop().create_task(_frames(reader, got))
    try:
        while not task.done():
            try:
                fwd = await asyncio.wait_for(got.get(), 0.5)
            except TimeoutError:
                continue
            name = fwd.person.name if fwd.person is not None else None
            answer = Message(format="json", mke=f"{fwd.mke}R", origin="DCFBIWA00",
                             destinations=[fwd.origin or ORIGIN_ORI], control=fwd.control,
                             status="no_hit")
            if name is not None and name.last == "HITME":
                answer.status = "hit"
                answer.records = [Record(file="wanted", ori="CA0190000",
                                         person=Person(name=Name("HITME", "JOHN")),
                                         case=Case(oca="24-1", nic=NIC))]
            writer.write(len2(dumps(answer).encode()))
            await writer.drain()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        writer.close()


def _qw(last: str, control: str) -> bytes:
    return len2(dumps(Message(format="json", mke="QW", origin=ORIGIN_ORI, control=control,
                              person=Person(name=Name(last, "JOHN"), dob="1975-10-12",
                                            sex="M", race="W"))).encode())


def _hits(journal: Path) -> list[dict[str, object]]:
    conn = open_readonly(journal)
    try:
        return [r for r in records(conn) if r["event"] in ("hit_confirmation", "started")]
    finally:
        conn.close()


async def _until(cond: object, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("fmt", ["sqlite", "log"])
def test_a_clock_open_at_a_sigkill_still_reminds_after_the_restart(tmp_path: Path,
                                                                  fmt: str) -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(_ncic, "127.0.0.1", 0)
        ncic_port = server.sockets[0].getsockname()[1]
        port = free_port()
        journal = tmp_path / "journal.db"
        cfg = tmp_path / "switch.toml"
        cfg.write_text(switch_config(
            journal, port, {"NCIC": f"tcp://127.0.0.1:{ncic_port}?framing=len2&plain=1"},
            extra_switch=f'journal_format = "{fmt}"\nhit_confirm_urgent = {WINDOW}\n'))
        proc = SwitchProcess(cfg, tmp_path / "switch.log")
        try:
            await proc.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            got: asyncio.Queue[Message] = asyncio.Queue()
            rtask = asyncio.get_running_loop().create_task(_frames(reader, got))
            writer.write(_qw("HITME", "H1"))
            await writer.drain()
            async with asyncio.timeout(30):
                while True:
                    m = await got.get()
                    if m.mke == "QWR" and m.status == "hit":
                        break
            await _until(lambda: any(r["outcome"] == "clock_started"
                                     for r in _hits(journal)), 30)
            await proc.kill()  # SIGKILL, inside the window
            before = _hits(journal)
            assert [r["outcome"] for r in before if r["event"] == "hit_confirmation"] == [
                "clock_started"], "the kill came after the window: no restart was tested"
            rtask.cancel()
            await asyncio.gather(rtask, return_exceptions=True)
            writer.close()

            await proc.start()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            got = asyncio.Queue()
            rtask = asyncio.get_running_loop().create_task(_frames(reader, got))
            # a plain connection gets what waits for its peer after it sent a frame
            writer.write(_qw("NOHIT", "H2"))
            await writer.drain()
            async with asyncio.timeout(60):
                while True:
                    m = await got.get()
                    if m.mke == "SM" and (m.text or "").startswith("HIT CONFIRMATION"):
                        break
            assert f"NIC/{NIC}" in (m.text or "") and m.destinations == [ORIGIN_ORI]
            assert m.control == "H1"  # the inquiry that got the hit
            trail = _hits(journal)
            outcomes = [(r["event"], r["outcome"]) for r in trail]
            assert outcomes[:5] == [("started", "ok"), ("hit_confirmation", "clock_started"),
                                    ("started", "ok"), ("hit_confirmation", "restored"),
                                    ("hit_confirmation", "reminder")], outcomes
            rtask.cancel()
            await asyncio.gather(rtask, return_exceptions=True)
            writer.close()
            assert await proc.terminate() == 0
        finally:
            proc.cleanup()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())

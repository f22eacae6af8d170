"""The event stream across a disconnect and a SIGKILL of ``clets run`` (issue 15): a client
reads part of its stream, is cut off, the daemon is killed -9 and started again, and the
client resumes with its last id: every answer arrives exactly once (counted by message
number and answering destination), on both journals."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from clets.sim import SimNetwork
from tests._api_kit import DESTS, api_config_text
from tests._crash_kit import SwitchProcess
from tests._events_kit import Reader, qw, settle
from tests._switch_kit import run_async

pytestmark = pytest.mark.timeout(300)

ORIS = {"CADOJWPS0", "DCFBIWA00", "CADOJPO00"}


@pytest.mark.parametrize("fmt", ["sqlite", "log"])
@run_async
async def test_resume_after_a_cut_and_a_sigkill(tmp_path: Path, fmt: str) -> None:
    before, after = 8, 4  # inquiries before the kill, and after the restart
    async with SimNetwork(backends=list(DESTS), base_port=0) as net:
        cfg = tmp_path / "switch.toml"
        cfg.write_text(api_config_text(tmp_path / "journal.db",
                                       {d: net.url(d) for d in DESTS}), "utf-8")
        proc = SwitchProcess(cfg, tmp_path / "switch.log",
                             env={"CLETS_JOURNAL_FORMAT": fmt})
        ready = await proc.start(timeout=60)
        reader = Reader()
        msns: list[int] = []
        try:
            async with httpx.AsyncClient(base_url=f"http://{ready['api']}", timeout=30) as http:
                # the client reads seven events and is cut off, while the answers go on
                cut = asyncio.create_task(reader.read(
                    http, until=lambda r: len(r.events) >= 7, headers={"Last-Event-ID": "0"}))
                await asyncio.sleep(0.2)
                posted = await asyncio.gather(*(
                    http.post("/v1/messages?wait=20", json=qw(f"K{i}"))
                    for i in range(before)))
                assert all(r.status_code == 202 for r in posted)
                msns += [r.json()["msn"] for r in posted]
                for msn in msns:
                    await settle(http, msn)
                await cut
                assert len(reader.events) == 7
            await proc.kill()  # SIGKILL: answers journaled, some maybe not marked delivered
            ready = await proc.start(timeout=60)
            async with httpx.AsyncClient(base_url=f"http://{ready['api']}", timeout=30) as http:
                resumed = asyncio.create_task(reader.read(
                    http, until=lambda r: len(r.answers()) >= 3 * (before + after)))
                for i in range(after):
                    r = await http.post("/v1/messages", json=qw(f"L{i}"))
                    assert r.status_code == 202, r.text
                    msns.append(r.json()["msn"])
                await resumed
                # nothing more: a moment later the stream still has only these
                extra = Reader()
                extra.last = reader.last
                with pytest.raises(TimeoutError):
                    await extra.read(http, until=lambda r: bool(r.events), timeout=1.5)
        finally:
            assert await proc.terminate() == 0
            proc.cleanup()
    by_dest = Counter((e["msn"], e["message"]["origin"]) for e in reader.events
                      if "message" in e)
    assert set(by_dest.values()) == {1}, [k for k, v in by_dest.items() if v > 1]
    assert set(by_dest) == {(m, o) for m in msns for o in ORIS}
    ids = [e["id"] for e in reader.events]
    assert len(ids) == len(set(ids)) == 3 * (before + after)
    assert ids == sorted(ids)

"""Test kit for the event stream and webhooks: the daemon in this process (its API on a real
uvicorn socket) in front of the simulator, and an SSE reader that keeps the last id."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from clets.api import sse
from clets.daemon import Daemon
from clets.sim import SimNetwork
from clets.switch import parse_config
from tests._api_kit import DESTS, api_config_text


def qw(control: str, last: str = "SMITH") -> dict[str, object]:
    return {"format": "json", "mke": "QW", "origin": "CA0194200", "control": control,
            "person": {"name": {"last": last, "first": "JOHN", "middle": "J"},
                       "dob": "1975-10-12", "sex": "M", "race": "W"}}


@contextlib.asynccontextmanager
async def running_daemon(tmp: Path, *, api: str = "", extra: str = "",
                         retries: int | None = None) -> AsyncIterator[tuple[Daemon, str]]:
    """A daemon with ``[api]`` (plain HTTP on loopback, peer LAPD) in this loop, the
    simulated WPS, NCIC and CARPOS behind it; yields it and the API's base URL.
    ``retries``: attempts of a failing send before its dead letter (the kit's: 1000)."""
    async with SimNetwork(backends=list(DESTS), base_port=0) as net:
        path = tmp / "switch.toml"
        text = api_config_text(tmp / "journal.db", {d: net.url(d) for d in DESTS}, api=api,
                               extra=extra)
        if retries is not None:
            assert "retries = 1000" in text
            text = text.replace("retries = 1000", f"retries = {retries}")
        path.write_text(text, "utf-8")
        config = parse_config(path.read_text("utf-8"), str(path), tmp)
        daemon = Daemon(config)
        await daemon.start()
        try:
            assert daemon.api is not None
            yield daemon, f"http://{daemon.api.address()}"
        finally:
            await daemon.stop()


class Reader:
    """Reads ``GET /v1/events``: the events in order, and the last id (where it resumes)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.last: int | None = None

    async def read(self, http: httpx.AsyncClient, *, until: Any, resume: bool = True,
                   headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        """One connection: read events until ``until(self)`` is true, then hang up."""
        hdr = dict(headers or {})
        if resume and self.last is not None:
            hdr["Last-Event-ID"] = str(self.last)
        async with asyncio.timeout(timeout), \
                http.stream("GET", "/v1/events", headers=hdr) as r:
            assert r.status_code == 200, await r.aread()
            assert r.headers["content-type"].startswith("text/event-stream")
            buf = b""
            async for chunk in r.aiter_raw():
                got, buf = sse.parse(buf + chunk)
                for ev in got:
                    data = msgspec.json.decode(ev.data)
                    assert int(ev.id) == data["id"]
                    self.events.append(data)
                    self.last = data["id"]
                    if until(self):
                        return
                if until(self):
                    return

    def answers(self) -> list[tuple[str, str]]:
        """(control, answering ORI) of each answer read, in order."""
        return [(e["message"]["control"], e["message"]["origin"]) for e in self.events
                if "message" in e and e["message"].get("mke") != "ACK"]


async def settle(http: httpx.AsyncClient, msn: int, timeout: float = 60.0) -> None:
    """Until every answer of message ``msn`` is journaled (``GET /v1/messages/{msn}``
    complete), bounded: ``?wait=`` alone may end first on a loaded machine."""
    async with asyncio.timeout(timeout):
        while True:
            r = await http.get(f"/v1/messages/{msn}")
            if r.status_code == 200 and r.json()["complete"]:
                return
            await asyncio.sleep(0.05)

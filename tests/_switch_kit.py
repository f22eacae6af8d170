"""Test kit for the switch: a config with every built-in destination on memory links, a
harness that runs a Switch on a manual clock, and helpers to talk to it as peers would."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from clets.adapters.memory import MemoryLink, memory_pair
from clets.model import Message, Name, Person, Vehicle, dumps, loads
from clets.switch import ManualClock, Switch, parse_config

DESTS = ("WPS", "NCIC", "CARPOS", "SVS", "DMV", "CCH", "NLETS")

BASE = """\
[switch]
name = "TEST-SWITCH"
home_state = "CA"
ori = "CA0000000"
journal = "{journal}"
deadline = 30
ttl = 600
dedup_window = 600
max_message_bytes = 4096

[switch.retry]
retries = 3
backoff_initial = 1.0
backoff_max = 8.0
jitter = 0.5

[[peer]]
mnemonic = "LAPD"
oris = ["CA0194200", "CA0194201"]
access = "full"

[[peer]]
mnemonic = "SHERIFF"
oris = ["CA0190000"]
access = "inquiry"

[[peer]]
mnemonic = "SFPD"
oris = ["CA0380100"]
access = "inquiry"

[[link]]
name = "lapd"
url = "memory://lapd"
codec = "json"
role = "origin"
peer = "LAPD"
ack = true

[[link]]
name = "sheriff"
url = "memory://sheriff"
codec = "json"
role = "origin"
peer = "SHERIFF"

[[link]]
name = "sfpd"
url = "memory://sfpd"
codec = "json"
role = "origin"
peer = "SFPD"
"""


def config_text(journal: Path, *, dests: tuple[str, ...] = DESTS, extra: str = "") -> str:
    parts = [BASE.format(journal=journal)]
    for d in dests:
        parts.append(f"""
[[link]]
name = "{d.lower()}"
url = "memory://{d.lower()}"
codec = "json"
role = "destination"

[[destination]]
name = "{d}"
link = "{d.lower()}"
""")
    parts.append(extra)
    return "".join(parts)


def qw(origin: str = "CA0194200", control: str | None = "C1", dob: str | None = "1975-10-12",
       **kw: Any) -> Message:
    return Message(format="json", mke="QW", origin=origin, control=control,
                   person=Person(name=Name("SMITH", "JOHN", "J"), dob=dob, sex="M", race="W"),
                   **kw)


def qv(origin: str = "CA0194200", control: str | None = "V1", plate: str = "7ABC123",
       state: str = "CA", mke: str = "QV") -> Message:
    return Message(format="json", mke=mke, origin=origin, control=control,
                   vehicle=Vehicle(plate=plate, plate_state=state))


def run_async(fn: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an ``async def`` test in a fresh event loop (no pytest plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))  # type: ignore[arg-type]

    return wrapper


async def eventually(cond: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``cond`` until truthy (bounded; the switch runs in the same loop)."""
    async with asyncio.timeout(timeout):
        while True:
            value = cond()
            if value:
                return value
            await asyncio.sleep(0.005)


class Harness:
    """A running switch on a manual clock with memory links; ``far[name]`` is the peer end."""

    def __init__(self, tmp: Path, *, dests: tuple[str, ...] = DESTS, extra: str = "",
                 journal: Path | None = None, text: str | None = None) -> None:
        self.journal_path = journal or tmp / "journal.db"
        self.text = text.format(journal=self.journal_path) if text else \
            config_text(self.journal_path, dests=dests, extra=extra)
        self.config = parse_config(self.text, "test.toml", tmp)
        self.clock = ManualClock()
        self.near: dict[str, MemoryLink] = {}
        self.far: dict[str, MemoryLink] = {}
        for name in self.config.links:
            self.near[name], self.far[name] = memory_pair(f"{tmp.name}-{name}")
        self.switch = Switch(self.config, dict(self.near), clock=self.clock,
                             rng=random.Random(7), poll=0.02, send_timeout=2.0)

    async def __aenter__(self) -> Harness:
        await self.switch.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.switch.stop(drain=False)

    async def send(self, link: str, msg: Message | bytes) -> None:
        await self.far[link].send(msg if isinstance(msg, bytes) else dumps(msg).encode())

    async def recv(self, link: str, timeout: float = 3.0) -> Message:
        async with asyncio.timeout(timeout):
            return loads(await self.far[link].receive())

    async def recv_raw(self, link: str, timeout: float = 3.0) -> bytes:
        async with asyncio.timeout(timeout):
            return await self.far[link].receive()

    def pending(self, link: str) -> Message | None:
        raw = self.far[link].receive_nowait()
        return None if raw is None else loads(raw)

    async def recv_until(self, link: str, mke: str, timeout: float = 3.0) -> Message:
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.recv(link, timeout)
                if msg.mke == mke:
                    return msg

    async def answer(self, dest: str, request: Message, *, status: str = "no_hit",
                     mke: str | None = None, text: str | None = None) -> None:
        """The destination answers a forwarded request (echoing the switch control)."""
        resp = Message(format="json", mke=mke or f"{request.mke}R", origin="CA0000001",
                       destinations=[request.origin] if request.origin else [],
                       control=request.control, status=status, text=text)
        await self.far[dest.lower()].send(dumps(resp).encode())

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.switch.tick()

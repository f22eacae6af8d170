"""The hub answers are published to: what the switch delivers to an API client.

A minimal in-memory hub (api-core's part): ``publish`` keeps each client's recent deliveries
and wakes the requests held by ``?wait=`` that the delivery concerns (they read the journal
again when woken).  The event stream and webhooks (helper api-events) replace or grow it; the
one method the link calls is ``publish(client, event_id, frame)``, and a
``clets.errors.LinkError`` raised by it makes the switch retry the delivery by its policy.

Why a waiter per message: at a thousand inquiries a second a client has many held requests,
and waking all of them at every answer would read the journal for each; a delivery's row id
names its message (``resolve``), and without one the request's control in the frame does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterator

__all__ = ["EventHub", "Waiter"]

#: deliveries kept per client in memory (the journal keeps them all)
RECENT = 256


class Waiter:
    """A held request: woken by deliveries of its message."""

    __slots__ = ("control", "event", "msn")

    def __init__(self, msn: int, control: bytes | None) -> None:
        self.msn = msn
        self.control = control
        self.event = asyncio.Event()

    def wants(self, msn: int | None, frame: bytes) -> bool:
        if msn is not None:
            return msn == self.msn
        return self.control is None or self.control in frame

    async def wait(self, timeout: float) -> bool:
        """Until woken (True) or ``timeout`` (False); re-armed for the next wake."""
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await self.event.wait()
        except TimeoutError:
            return False
        self.event.clear()
        return True


class EventHub:
    """Deliveries by client (the peer mnemonic), and the requests waiting on them.

    ``resolve(event_id)`` gives the message number of a delivery (the journal's row), or
    None."""

    def __init__(self, resolve: Callable[[int], int | None] | None = None) -> None:
        self.resolve = resolve
        self._recent: dict[str, deque[tuple[int, bytes]]] = defaultdict(
            lambda: deque(maxlen=RECENT))
        self._waiters: dict[str, set[Waiter]] = {}

    async def publish(self, client: str, event_id: int, frame: bytes) -> None:
        """Take one delivery for ``client``: ``event_id`` is the journal's row id."""
        self._recent[client].append((event_id, frame))
        waiters = self._waiters.get(client)
        if not waiters:
            return
        msn = None
        if event_id and self.resolve is not None:
            msn = self.resolve(event_id)
        for w in waiters:
            if w.wants(msn, frame):
                w.event.set()

    def recent(self, client: str) -> list[tuple[int, bytes]]:
        return list(self._recent.get(client, ()))

    @contextlib.contextmanager
    def waiting(self, client: str, msn: int, control: str | None) -> Iterator[Waiter]:
        """A waiter for message ``msn`` of ``client`` while the block runs."""
        w = Waiter(msn, control.encode() if control else None)
        self._waiters.setdefault(client, set()).add(w)
        try:
            yield w
        finally:
            ws = self._waiters.get(client)
            if ws is not None:
                ws.discard(w)
                if not ws:
                    del self._waiters[client]

"""The hub answers are published to: what the switch delivers to an API client.

A minimal in-memory hub (api-core's skeleton): ``publish`` keeps each client's recent
deliveries and wakes whoever waits on that client (``?wait=`` and the ``GET`` of a message
read the journal again when woken).  The event stream and webhooks (helper api-events) replace
or grow it; the one method the link calls is ``publish(client, event_id, frame)``, and a
``clets.errors.LinkError`` raised by it makes the switch retry the delivery by its policy.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque

__all__ = ["EventHub"]

#: deliveries kept per client in memory (the journal keeps them all)
RECENT = 256


class EventHub:
    """Deliveries by client (the peer mnemonic), and a wake-up per client."""

    def __init__(self) -> None:
        self._recent: dict[str, deque[tuple[int, bytes]]] = defaultdict(
            lambda: deque(maxlen=RECENT))
        self._changed: dict[str, asyncio.Event] = {}

    async def publish(self, client: str, event_id: int, frame: bytes) -> None:
        """Take one delivery for ``client``: ``event_id`` is the journal's row id."""
        self._recent[client].append((event_id, frame))
        ev = self._changed.pop(client, None)
        if ev is not None:
            ev.set()

    def recent(self, client: str) -> list[tuple[int, bytes]]:
        return list(self._recent.get(client, ()))

    async def changed(self, client: str, timeout: float) -> bool:
        """Wait until something is published for ``client`` (True) or ``timeout`` (False)."""
        ev = self._changed.get(client)
        if ev is None:
            ev = self._changed[client] = asyncio.Event()
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await ev.wait()
        except TimeoutError:
            return False
        return True

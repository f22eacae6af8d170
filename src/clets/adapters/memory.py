"""An in-memory link pair, for tests and for wiring the simulator into one process.

``memory_pair(name)`` returns two connected ends: frames sent on one are received on the other,
in order.  The first end is registered under ``name`` so a config link ``memory://name`` opens
it (:func:`open_memory`); the second end is for the test or simulated peer.  ``set_down()``
makes ``send`` fail with LinkError (a destination that is down) without closing anything.
"""

from __future__ import annotations

import asyncio

from clets.errors import LinkError

from .base import FramesUntilClosed, LinkState, PeerIdentity

__all__ = ["MemoryLink", "memory_pair", "open_memory"]

_CLOSE = object()


class MemoryLink(FramesUntilClosed):
    """One end of an in-memory pair (implements the Link protocol)."""

    def __init__(self, name: str, peer: PeerIdentity | None = None) -> None:
        self.name = name
        self._peer = peer or PeerIdentity()
        self._inbox: asyncio.Queue[object] = asyncio.Queue()
        self._other: MemoryLink | None = None
        self._state = LinkState.UP
        self._down = False
        #: every frame this end sent, in order (tests read it)
        self.sent: list[bytes] = []

    @property
    def state(self) -> LinkState:
        if self._state is LinkState.UP and self._down:
            return LinkState.DOWN
        return self._state

    @property
    def peer(self) -> PeerIdentity:
        return self._peer

    def set_peer(self, peer: PeerIdentity) -> None:
        self._peer = peer

    def set_down(self, down: bool = True) -> None:
        """Simulate an outage: sends on this end fail until ``set_down(False)``."""
        self._down = down

    async def send(self, frame: bytes) -> None:
        if self._state is LinkState.CLOSED or self._other is None:
            raise LinkError("link closed", link=self.name)
        if self._down:
            raise LinkError("link down", link=self.name)
        self.sent.append(bytes(frame))
        self._other._inbox.put_nowait(bytes(frame))

    async def receive(self) -> bytes:
        if self._state is LinkState.CLOSED and self._inbox.empty():
            raise LinkError("link closed", link=self.name)
        item = await self._inbox.get()
        if item is _CLOSE:
            self._inbox.put_nowait(_CLOSE)  # later receivers see the close too
            raise LinkError("link closed", link=self.name)
        assert isinstance(item, bytes)
        return item

    def receive_nowait(self) -> bytes | None:
        """A frame if one is waiting (tests), else None."""
        try:
            item = self._inbox.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is _CLOSE:
            self._inbox.put_nowait(_CLOSE)
            return None
        assert isinstance(item, bytes)
        return item

    async def close(self) -> None:
        if self._state is LinkState.CLOSED:
            return
        self._state = LinkState.CLOSED
        self._inbox.put_nowait(_CLOSE)
        if self._other is not None and self._other._state is not LinkState.CLOSED:
            self._other._inbox.put_nowait(_CLOSE)
            self._other._state = LinkState.CLOSED


_REGISTRY: dict[str, MemoryLink] = {}


def memory_pair(name: str, *, peer: PeerIdentity | None = None,
                far_peer: PeerIdentity | None = None) -> tuple[MemoryLink, MemoryLink]:
    """Two connected ends; the first (whose ``peer`` is ``peer``) is registered under ``name``."""
    a = MemoryLink(name, peer)
    b = MemoryLink(f"{name}.far", far_peer)
    a._other, b._other = b, a
    _REGISTRY[name] = a
    return a, b


def open_memory(name: str) -> MemoryLink:
    """The registered first end of ``memory_pair(name)`` (for ``memory://name`` URLs)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise LinkError("no memory pair of this name (call memory_pair first)",
                        link=name) from None

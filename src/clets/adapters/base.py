"""The one small async interface every link implements, so the switch never knows the transport.

A link moves whole frames (bytes) between clets and one peer.  Framing happens below it
(``clets.framing``), codecs above it (``clets.codecs``).  Adapters are thin: they only move
bytes, report state, and name the peer they authenticated.
"""

from __future__ import annotations

import asyncio
import enum
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from clets.errors import LinkError

__all__ = ["FramesUntilClosed", "Link", "LinkState", "PeerIdentity", "defer_write",
           "flush_deferred_writes"]


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """Who is on the other end, as established by the transport (not by what it claims)."""

    #: mnemonic from config (certificate subject / SSH key / configured serial line)
    mnemonic: str | None = None
    #: ORIs this peer may use as origin
    allowed_oris: frozenset[str] = field(default_factory=frozenset)
    #: how it was identified: "tls-cert", "ssh-key", "serial-line", "spool-dir", "plain"
    method: str = "plain"
    #: certificate subject, SSH key fingerprint, device path, address
    detail: str | None = None


@runtime_checkable
class Link(Protocol):
    """A bidirectional frame channel to one peer (or one drop directory)."""

    name: str

    @property
    def state(self) -> LinkState: ...

    @property
    def peer(self) -> PeerIdentity: ...

    async def send(self, frame: bytes) -> None:
        """Send one whole frame; raises LinkError when it cannot be handed to the transport."""
        ...

    async def receive(self) -> bytes:
        """The next whole frame; raises LinkError when the link is closed or broken."""
        ...

    def frames(self) -> AsyncIterator[bytes]:
        """Iterate received frames until the link closes."""
        ...

    async def close(self) -> None:
        """Stop, draining in-flight frames first where the transport allows."""
        ...


class FramesUntilClosed:
    """``frames()`` for a link whose ``receive()`` raises LinkError once it is closed."""

    async def receive(self) -> bytes:
        raise NotImplementedError

    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            try:
                yield await self.receive()
            except LinkError:
                return


# --------------------------------------------------------------------------- deferred writes
#
# Stream links join the frames queued in one event-loop turn into one write at the end of the
# turn (a ``call_soon``).  A sender that has just queued a batch and knows it is done can write
# them at once instead (``flush_deferred_writes``): the frames leave one turn earlier, which
# under load is a loop turn of latency per hop.  Per event loop: a process may run several.

_DEFERRED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, Callable[[], None]]] \
    = weakref.WeakKeyDictionary()


def defer_write(key: int, flush: Callable[[], None]) -> None:
    """Register ``flush`` (idempotent: writes what is queued, if anything) for this turn."""
    loop = asyncio.get_running_loop()
    pending = _DEFERRED.get(loop)
    if pending is None:
        pending = _DEFERRED[loop] = {}
    pending[key] = flush
    loop.call_soon(_flush_one, pending, key)


def _flush_one(pending: dict[int, Callable[[], None]], key: int) -> None:
    flush = pending.pop(key, None)
    if flush is not None:
        flush()


def flush_deferred_writes() -> None:
    """Write now every frame that links of the running loop deferred to the end of the turn."""
    pending = _DEFERRED.get(asyncio.get_running_loop())
    while pending:
        _key, flush = pending.popitem()
        flush()

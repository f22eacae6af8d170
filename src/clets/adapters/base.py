"""The one small async interface every link implements, so the switch never knows the transport.

A link moves whole frames (bytes) between clets and one peer.  Framing happens below it
(``clets.framing``), codecs above it (``clets.codecs``).  Adapters are thin: they only move
bytes, report state, and name the peer they authenticated.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from clets.errors import LinkError

__all__ = ["FramesUntilClosed", "Link", "LinkState", "PeerIdentity"]


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

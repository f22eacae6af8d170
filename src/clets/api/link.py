"""The API as a switch link: HTTP requests in as :class:`~clets.switch.links.Received`,
answers out through :meth:`ApiLink.send` into the :class:`~clets.api.events.EventHub`.

Why a link: the engine then treats an API client exactly as a TCP origin (step 2's checks, the
journal, routes, dedup, correlation, timeouts, audit).  Each request gets a reply of its own
(the switch's ``ACK`` with the message number, or its ``ER``), which is what the HTTP response
says; every later answer to the client's peer goes to ``send`` with the peer and the journal's
row id (``Received.answers``).

One ApiLink per codec of the API (``api`` json, ``api-ncic`` ...): the engine reads and answers
a link in its codec, so a client that posts NCIC text reads NCIC text answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from clets.adapters.base import LinkState, PeerIdentity
from clets.errors import LinkBusy, LinkError
from clets.switch.links import Received

from .events import EventHub

__all__ = ["ApiLink"]

#: requests waiting for the engine's reader (HTTP clients beyond this get 503)
QUEUE = 1024


def _expire(done: asyncio.Future[bytes]) -> None:
    if not done.done():
        done.set_exception(TimeoutError("no reply from the switch"))


class ApiLink:
    """A switch origin link fed by the HTTP app."""

    def __init__(self, name: str, codec: str, hub: EventHub) -> None:
        self.name = name
        self.codec = codec
        self.hub = hub
        self._queue: asyncio.Queue[Received | None] = asyncio.Queue(QUEUE)
        self._up = False

    @property
    def state(self) -> LinkState:
        return LinkState.UP if self._up else LinkState.DOWN

    @property
    def peer(self) -> PeerIdentity:
        return PeerIdentity(method="api")

    async def start(self) -> None:
        self._up = True

    async def close(self) -> None:
        if self._up:
            self._up = False
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def submit(self, frame: bytes, peer: PeerIdentity, message_id: str | None = None,
                     timeout: float = 30.0) -> bytes:
        """Hand one request to the switch; its reply (``ACK`` or ``ER`` frame in this link's
        codec).  LinkBusy when the switch does not take it (stopped, or too many waiting);
        TimeoutError when no reply came in ``timeout``."""
        if not self._up:
            raise LinkBusy("the switch is not running", link=self.name)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bytes] = loop.create_future()

        async def reply(out: bytes) -> None:
            if not done.done():
                done.set_result(out)

        try:
            self._queue.put_nowait(Received(frame, peer, reply, message_id,
                                            answers=self.send, pulled=False))
        except asyncio.QueueFull:
            raise LinkBusy("too many requests waiting for the switch", link=self.name) from None
        # the deadline fails the future (not ``asyncio.timeout``, which also cancels and
        # un-cancels the task: twice the cost, per request, for a wait on one future)
        expire = loop.call_later(timeout, _expire, done)
        try:
            return await done
        finally:
            expire.cancel()

    async def received(self) -> AsyncIterator[Received]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item

    async def receive(self) -> bytes:  # the Link protocol; the engine reads ``received``
        item = await self._queue.get()
        if item is None:
            raise LinkError("link closed", link=self.name)
        return item.frame

    async def send(self, frame: bytes, *, peer: str | None = None,
                   row_id: int | None = None) -> None:
        """A delivery for ``peer`` (an answer, a ``.02.``/``.04.``, an unsolicited message):
        to the hub, under the journal's row id."""
        if peer is None:
            raise LinkBusy("an API delivery names no client", link=self.name)
        hub = self.hub
        targets = hub.local(peer, row_id or 0, frame)
        if targets:
            await hub.post(peer, row_id or 0, frame, targets)

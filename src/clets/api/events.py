"""The hub the API link publishes deliveries to: event streams, webhooks, and waiters.

``ApiLink.send`` calls ``publish(client, event_id, frame)`` for every delivery the switch makes
to an API client (its peer mnemonic): an answer, a ``.02.``/``.04.`` status, an unsolicited
message or a hit notification, under the journal's id of the delivery row.  ``publish``

1. hands it to each event stream of the client that is open (``subscribe``), without
   waiting: a stream that falls ``QUEUE`` events behind is ended (its client reconnects with
   ``Last-Event-ID`` and reads what it missed from the journal);
2. wakes the requests held by ``?wait=`` that the delivery concerns (``waiting``: a waiter
   per message, so a client with many held requests does not read the journal for each at
   every answer; a delivery's row id names its message, ``resolve``, and without one the
   request's control in the frame does);
3. POSTs it to the client's webhook, signed (``webhook_client``), when the client has one: a
   failure raises :class:`~clets.errors.LinkError`, so the switch keeps the row queued and
   retries it by its policy (backoff, then a dead letter), as it does for any link; streams
   got it already, in order (a retry publishes it again: a stream drops an id it sent).

Why the journal is the event store and the hub keeps nothing: the delivery row is written
(and committed) before it is sent, and stays after (``retain_days``), so a stream that
resumes reads it there (``Journal.deliveries_after``) -- across a disconnect or a restart of
the daemon -- and the hub holds only what is in flight to open streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec

from clets.errors import CletsError, LinkError

__all__ = ["EventHub", "Subscription", "Waiter", "envelope"]

#: events a stream may be behind before it is ended (it resumes from the journal)
QUEUE = 1024
#: seconds a webhook delivery waits for the API's app at start before it is retried later
ATTACH_WAIT = 10.0

_json = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


def envelope(event_id: int, frame: bytes, *, msn: int | None = None,
             mke: str | None = None) -> dict[str, Any]:
    """What a client receives for one delivery (the ``data`` of an event, the ``data`` of a
    webhook): its id, its message number and key, and the message -- as an object when the
    frame is JSON (the ``json`` codec's), else as ``text`` (NCIC, Nlets, NIEM XML)."""
    out: dict[str, Any] = {"id": event_id, "msn": msn, "mke": mke}
    if frame[:1] == b"{":
        try:
            out["message"] = _dec.decode(frame)
            return out
        except msgspec.DecodeError:
            pass
    out["text"] = frame.decode("utf-8", "replace")
    return out


def encode(value: Any) -> bytes:
    return _json.encode(value)


class Subscription:
    """One open event stream of a client: the live deliveries, in the order published."""

    def __init__(self, client: str, size: int = QUEUE) -> None:
        self.client = client
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.size = size
        #: why it was ended (None while it is open)
        self.ended: str | None = None

    def put(self, event_id: int, frame: bytes) -> None:
        if self.ended is not None:
            return
        if self.queue.qsize() >= self.size:
            self.end(f"more than {self.size} events behind")
            return
        self.queue.put_nowait((event_id, frame))

    def end(self, why: str) -> None:
        if self.ended is None:
            self.ended = why
            self.queue.put_nowait(None)

    async def get(self, timeout: float) -> tuple[int, bytes] | None:
        """The next delivery; None when the stream was ended; TimeoutError after
        ``timeout`` seconds of nothing (the stream writes a keep-alive then)."""
        async with asyncio.timeout(timeout):
            item = await self.queue.get()
        if item is None:
            self.queue.put_nowait(None)  # later reads see the end too
        return item


class Waiter:
    """A held request: woken by deliveries of its message -- once ``need`` of them came
    (``wait``), so a request whose three destinations answer in three turns of the loop is
    woken once, not three times to read its rows and find them not yet settled."""

    __slots__ = ("control", "event", "hits", "msn", "need", "timed_out")

    def __init__(self, msn: int, control: bytes | None) -> None:
        self.msn = msn
        self.control = control
        self.event = asyncio.Event()
        self.hits = 0
        self.need = 1
        self.timed_out = False

    def wants(self, msn: int | None, frame: bytes) -> bool:
        if msn is not None:
            return msn == self.msn
        return self.control is None or self.control in frame

    def hit(self) -> None:
        """One delivery of the message came."""
        self.hits += 1
        if self.hits >= self.need:
            self.event.set()

    async def wait(self, timeout: float, need: int = 1) -> bool:
        """Until ``need`` deliveries came since the last wake (True) or ``timeout``
        (False); re-armed for the next wake.  The timeout sets the event (a timer handle:
        ``asyncio.timeout`` would cancel and un-cancel the task, twice the cost, for every
        held request)."""
        self.need = max(1, need)
        if self.hits < self.need:
            self.timed_out = False
            expire = asyncio.get_running_loop().call_later(max(0.0, timeout), self._expire)
            try:
                await self.event.wait()
            finally:
                expire.cancel()
            if self.timed_out and self.hits < self.need:
                self.event.clear()
                return False
        self.event.clear()
        self.hits = 0
        return True

    def _expire(self) -> None:
        self.timed_out = True
        self.event.set()


class EventHub:
    """Deliveries by client (the peer mnemonic): to its webhook, its open streams, its
    waiters.  ``webhooks(client)`` names the client's webhook targets (none by default);
    ``poster`` sends one (``webhook_client.WebhookPoster``)."""

    def __init__(self, resolve: Callable[[int], int | None] | None = None, *,
                 webhooks: Callable[[str], Sequence[Any]] | None = None,
                 poster: Any = None) -> None:
        #: ``resolve(event_id)``: the message number of a delivery (the journal's row), or
        #: None: a held request (``?wait=``) is woken by its own message's deliveries only
        self.resolve = resolve
        self._subs: dict[str, set[Subscription]] = {}
        #: held requests by client, then by message number: a delivery wakes its own
        #: message's waiters by one lookup (a client with 32 requests held made 96 ``wants``
        #: calls per inquiry when every delivery looked at every waiter)
        self._waiters: dict[str, dict[int, set[Waiter]]] = {}
        self.webhooks = webhooks
        self.poster = poster
        #: ``row(event_id)`` -> (msn, mke) of a delivery (the journal's), for the envelope
        self.row_info: Callable[[int], tuple[int | None, str | None]] | None = None
        #: set by ``attach``: the switch's workers start before the API's app, and a webhook
        #: waits for it (its envelope names the message)
        self._attached = asyncio.Event()
        self.closed = False
        #: figures (``/metrics``): deliveries published, events written to streams (from
        #: the journal's replay, live), webhook posts made and failed, streams ended behind,
        #: resumes from before the retention (``Last-Event-ID`` older than the journal)
        self.published = 0
        self.streamed_replay = 0
        self.streamed_live = 0
        self.webhook_posts = 0
        self.webhook_failures = 0
        self.webhook_ok = 0
        self.overflows = 0
        self.resumes_too_old = 0

    def attach(self, journal: Callable[[], Any]) -> None:
        """Read each delivery's message number and key from the journal (``journal()``:
        the switch's journal when it is called, which may change across a restart)."""

        def info(oid: int) -> tuple[int | None, str | None]:
            try:
                row = journal().row(oid)
            except (CletsError, AttributeError):
                return None, None
            return int(row.msn), row.mke

        self.row_info = info
        self._attached.set()

    def info(self, event_id: int) -> tuple[int | None, str | None]:
        return self.row_info(event_id) if self.row_info is not None else (None, None)

    async def publish(self, client: str, event_id: int, frame: bytes) -> None:
        """Take one delivery for ``client``: ``event_id`` is the journal's row id.  Open
        streams and held requests get it first; then the client's webhook, whose failure
        raises LinkError (the switch retries the delivery, and publishes it again: a stream
        drops the id it already sent)."""
        targets = self.local(client, event_id, frame)
        if targets:
            await self.post(client, event_id, frame, targets)

    def local(self, client: str, event_id: int, frame: bytes) -> Sequence[Any]:
        """The part of ``publish`` that does not wait: to the open streams and the held
        requests; the client's webhook targets, which ``post`` then takes it to (the API
        link calls the two: a delivery without webhooks costs no coroutine)."""
        self.published += 1
        subs = self._subs.get(client)
        if subs:
            for sub in list(subs):
                sub.put(event_id, frame)
                if sub.ended is not None:
                    self.overflows += 1
                    self._drop(sub)
        self._wake(client, event_id, frame)
        return self.webhooks(client) if self.webhooks is not None else ()

    async def post(self, client: str, event_id: int, frame: bytes,
                   targets: Sequence[Any]) -> None:
        """POST one delivery to ``client``'s webhook ``targets`` (``publish``)."""
        if self.poster is None:
            raise RuntimeError("webhooks configured without a poster")
        if not self._attached.is_set():
            try:
                async with asyncio.timeout(ATTACH_WAIT):
                    await self._attached.wait()
            except TimeoutError:
                raise LinkError("the API is not started yet", link="webhook",
                                peer=client) from None
        msn, mke = self.info(event_id)
        data = envelope(event_id, frame, msn=msn, mke=mke)
        for target in targets:
            self.webhook_posts += 1
            try:
                await self.poster.post(target, event_id, data, time.time())
            except BaseException:
                self.webhook_failures += 1
                raise
            self.webhook_ok += 1

    def _wake(self, client: str, event_id: int, frame: bytes) -> None:
        """Wake the held requests of ``client`` this delivery concerns."""
        by_msn = self._waiters.get(client)
        if not by_msn:
            return
        msn = None
        if event_id and self.resolve is not None:
            msn = self.resolve(event_id)
        if msn is not None:
            for w in by_msn.get(msn, ()):
                w.hit()
            return
        for waiters in by_msn.values():  # no message number: by the control in the frame
            for w in waiters:
                if w.wants(None, frame):
                    w.hit()

    def subscribe(self, client: str) -> Subscription:
        sub = Subscription(client)
        if self.closed:
            sub.end("the server is stopping")
        else:
            self._subs.setdefault(client, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.end("closed")
        self._drop(sub)

    def _drop(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.client)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.client]

    def streams(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def close(self) -> None:
        """End every open stream (the server is stopping: its clients will resume)."""
        self.closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.end("the server is stopping")
        self._subs.clear()

    @contextlib.contextmanager
    def waiting(self, client: str, msn: int, control: str | None) -> Iterator[Waiter]:
        """A waiter for message ``msn`` of ``client`` while the block runs (``?wait=``)."""
        w = self.hold(client, msn, control)
        try:
            yield w
        finally:
            self.release(client, w)

    def hold(self, client: str, msn: int, control: str | None) -> Waiter:
        """A waiter for message ``msn`` of ``client`` until ``release`` (``waiting``
        without a generator, for the hot path)."""
        w = Waiter(msn, control.encode() if control else None)
        by_msn = self._waiters.get(client)
        if by_msn is None:
            by_msn = self._waiters[client] = {}
        ws = by_msn.get(msn)
        if ws is None:
            ws = by_msn[msn] = set()
        ws.add(w)
        return w

    def release(self, client: str, w: Waiter) -> None:
        by_msn = self._waiters.get(client)
        if by_msn is None:
            return
        ws = by_msn.get(w.msn)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del by_msn[w.msn]
                if not by_msn:
                    del self._waiters[client]

"""``GET /v1/events``: everything the switch delivers to a client, as Server-Sent Events.

Each event is one delivery -- an answer, a ``.02.``/``.04.`` status, an unsolicited message, a
hit notification -- with the journal's id of its delivery row as the event ``id`` and the
``events.envelope`` JSON as its ``data``.  A client that reconnects sends ``Last-Event-ID``
(or ``?after=``): the stream first replays, from the journal, every delivery to it with a
higher id (``Journal.deliveries_after``: committed rows, in id order, whatever their state),
then goes on live.  Without either the stream starts live.

No gap, no repeat at the seam: the stream subscribes to the hub *before* it reads the
journal (no ``await`` in between), so a delivery is either committed before the read (in the
replay) or published after the subscription (live) or both; the live ones the replay already
gave (id at or below the replay's last, or sent already) are dropped.  Deliveries the switch
makes in id order reach a stream in id order; the last id a client read is where it resumes.

What is replayed reaches back ``[switch] retain_days`` (30 by default): older delivered rows
are purged (SQLite journal) or compacted (log journal).  A client that resumes from before
what was removed of its deliveries (``Journal.feed_dropped``) first gets an ``event: gone``
saying so: it missed events that are no longer anywhere.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query, Request
from starlette.responses import Response, StreamingResponse

from clets.errors import CletsError
from clets.switch.journal import FEED_LIMIT, Delivery

from . import sse
from .events import EventHub, encode, envelope
from .problems import ApiProblem

if TYPE_CHECKING:
    from .app import ApiContext

__all__ = ["add_event_routes", "event_stream"]

#: seconds between keep-alive comments on an idle stream (proxies cut idle connections)
KEEPALIVE = 15.0
#: the reconnection delay the stream asks of clients, milliseconds
RETRY_MS = 1000
#: live ids remembered to drop a repeat (a delivery the switch sends again after a restart)
SEEN = 4096


async def replay(journal: Any, links: list[str], peer: str, after: int,
                 limit: int = FEED_LIMIT) -> list[Delivery]:
    """The deliveries to ``peer`` on any of the API's ``links`` with ids above ``after``:
    the smallest ``limit`` of them, in id order.  The log journal reads its log on a thread
    (a client resuming from far back does not stall the switch); the SQLite journal reads
    its feed index, in the loop."""
    if hasattr(journal, "feed_scan") and journal.feed_threadable():
        scan = await asyncio.to_thread(journal.feed_scan, links, peer, after, limit,
                                       journal.feed_durable)
        rows: list[Delivery] = journal.feed_merge(links, peer, after, limit, scan)
        return rows
    rows = []
    for link in links:  # each link's feed is in id order
        rows.extend(journal.deliveries_after(link, peer, after, limit))
    rows.sort(key=lambda d: d.id)
    return rows[:limit]


def _event(event_id: int, frame: bytes, msn: int | None, mke: str | None) -> bytes:
    data = encode(envelope(event_id, frame, msn=msn, mke=mke)).decode("utf-8")
    return sse.format_event(data, id=event_id)


def _gone(journal: Any, links: list[str], peer: str, after: int) -> bytes | None:
    """The ``gone`` event when retention removed deliveries to ``peer`` with ids above
    ``after`` (the client resumes from before what the journal still holds), else None.
    It has no ``id`` (the client's Last-Event-ID stays where it was) and comes before the
    replay of what is left."""
    try:
        dropped = max((journal.feed_dropped(link, peer) for link in links), default=0)
    except (AttributeError, CletsError, sqlite3.Error):  # no such journal, or it stopped
        return None
    if dropped <= after:
        return None
    data = encode({
        "last_event_id": after, "dropped_through": dropped,
        "detail": f"deliveries after event {after}, up to event {dropped}, were removed by "
                  "the journal's retention ([switch] retain_days) before this client read "
                  "them; what the journal still holds follows"}).decode("utf-8")
    return sse.format_event(data, event="gone")


async def event_stream(hub: EventHub, journal: Any, links: list[str], peer: str,
                       after: int | None, *, keepalive: float = KEEPALIVE
                       ) -> AsyncIterator[bytes]:
    """The stream's bytes: the replay from the journal after ``after`` (None: none), then
    the live deliveries, until the hub ends the subscription (the server stops, or the
    client fell too far behind: it resumes with its last id)."""
    sub = hub.subscribe(peer)  # before the journal is read: nothing falls in between
    try:
        yield sse.retry(RETRY_MS)
        cursor = after
        if after is not None:
            gone = _gone(journal(), links, peer, after)
            if gone is not None:
                hub.resumes_too_old += 1
                yield gone
            while True:
                try:
                    batch = await replay(journal(), links, peer, cursor or 0)
                except (CletsError, sqlite3.Error):  # the switch stopped under the replay
                    return
                chunk = [_event(d.id, d.frame, d.msn, d.mke) for d in batch]
                if batch:
                    cursor = batch[-1].id
                    hub.streamed_replay += len(batch)
                    yield b"".join(chunk)
                if len(batch) < FEED_LIMIT:
                    break
        yield sse.comment("live")
        seen: deque[int] = deque(maxlen=SEEN)
        seen_set: set[int] = set()
        while True:
            try:
                item = await sub.get(keepalive)
            except TimeoutError:
                yield sse.comment("keep-alive")
                continue
            if item is None:
                return
            event_id, frame = item
            if (cursor is not None and event_id <= cursor) or event_id in seen_set:
                continue
            if len(seen) == seen.maxlen:
                seen_set.discard(seen[0])
            seen.append(event_id)
            seen_set.add(event_id)
            msn, mke = hub.info(event_id)
            hub.streamed_live += 1
            yield _event(event_id, frame, msn, mke)
    finally:
        hub.unsubscribe(sub)


_EVENT_STREAM = {
    "description": "Server-Sent Events: one event per delivery, ``id`` the journal's "
                   "delivery id, ``data`` a JSON object (id, msn, mke, and message or text); "
                   "first an ``event: gone`` (no id; data: last_event_id, dropped_through, "
                   "detail) when deliveries after Last-Event-ID were removed by retention",
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
}


def add_event_routes(app: FastAPI, ctx: ApiContext | None) -> None:
    """``GET /v1/events`` on the app; the hub reads each delivery's message number from the
    switch's journal.  ``ctx`` None: an app made only for its OpenAPI document."""
    if ctx is not None:
        ctx.hub.attach(lambda: ctx.switch.journal)

    @app.get("/v1/events", summary="The client's deliveries as Server-Sent Events",
             response_class=Response, responses={200: _EVENT_STREAM},
             openapi_extra={"parameters": [{
                 "name": "Last-Event-ID", "in": "header", "required": False,
                 "description": "the id of the last event read: the stream replays every "
                                "later one from the journal first",
                 "schema": {"type": "string", "pattern": "^[0-9]{1,19}$"}}]})
    async def events(request: Request,
                     after: int | None = Query(None, ge=0, le=sse.MAX_ID,
                                               description="as Last-Event-ID (the header "
                                                           "wins)")) -> Response:
        assert ctx is not None  # routes run only in an app that has one
        caller = ctx.auth.identify(request)
        try:
            last = sse.parse_last_event_id(request.headers.get("last-event-id"))
        except sse.LastEventIdError as exc:
            raise ApiProblem(400, "invalid-last-event-id", "Bad Request", str(exc)) from None
        if last is None:
            last = after
        peer = caller.peer.mnemonic or ""
        links = [link.name for link in ctx.links.values()]
        return StreamingResponse(
            event_stream(ctx.hub, lambda: ctx.switch.journal, links, peer, last),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

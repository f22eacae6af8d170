"""``POST /v1/messages`` and ``GET /v1/messages/{msn}``: a message into the switch and what
became of it, read from the journal.

Why from the journal: an answer is journaled before it is delivered, so what a client reads
here is the switch's own record (the same rows ``clets switch queue`` shows), also after a
restart of the daemon, and ``?wait=`` only decides how long the HTTP response is held.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from clets.codecs.base import Codec
from clets.errors import DecodeError
from clets.model import Message
from clets.switch.journal import OutRow, StoredMessage

from .events import Waiter
from .problems import ApiProblem, switch_problem

__all__ = ["MEDIA_CODECS", "Outcome", "codec_of_media", "message_view", "read_reply",
           "settled", "unsettled"]

#: request media types of ``POST /v1/messages`` -> codec (the codec's answers come back in it)
MEDIA_CODECS: dict[str, str] = {
    "application/json": "json",
    "text/x-ncic": "ncic",
    "application/x-nlets": "nlets",
    "application/niem+xml": "niem",
    "application/xml": "niem",
}
#: the media type each codec's frames are shown in
CODEC_MEDIA: dict[str, str] = {"json": "application/json", "ncic": "text/x-ncic",
                               "nlets": "application/x-nlets", "niem": "application/niem+xml"}

_ACCEPTED = re.compile(rb"ACCEPTED MSN (\d{1,12})")
_REFUSED = re.compile(rb"\.(\d\d)\. ([A-Z0-9 ,/\-]+)")
_JSON_ACK = b'"mke": "ACK"'
#: the control of a canonical JSON ACK (a JSON string without escapes: controls are ASCII)
_CONTROL = re.compile(rb'"control": ?"([\x20-\x21\x23-\x5b\x5d-\x7e]*)"')


def codec_of_media(content_type: str | None, allowed: dict[str, str]) -> str:
    """The codec a ``Content-Type`` names (parameters such as charset ignored); 415 when
    none."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    codec = allowed.get(media)
    if codec is None:
        raise ApiProblem(415, "unsupported-media-type", "Unsupported Media Type",
                         f"Content-Type {media or '(none)'!r} is not one of "
                         f"{', '.join(sorted(allowed))}", accepted=sorted(allowed))
    return codec


@dataclass(frozen=True, slots=True)
class Outcome:
    """The switch's reply to one request: accepted with its message number, or refused."""

    msn: int | None
    code: int | None = None
    reason: str = ""
    #: the request's control, as the ACK echoes it (answers carry it too)
    control: str | None = None


def read_reply(frame: bytes, codec: Codec) -> Outcome:
    """Read the switch's ``ACK`` (``ACCEPTED MSN n``) or ``ER`` (``.NN. REASON``) in the
    link's codec.  A canonical JSON ACK is read by its leading key and text without being
    decoded (the hot path); other frames are decoded, and the text forms are searched when
    the codec cannot read them back.  An ER's echo of the input is never read as an ACK."""
    if codec.name == "json" and _JSON_ACK in frame[:64]:
        m = _ACCEPTED.search(frame)
        c = _CONTROL.search(frame)
        if m:
            return Outcome(int(m.group(1)),
                           control=c.group(1).decode("ascii") if c else None)
    try:
        msg: Message | None = codec.decode(frame)
    except DecodeError:
        msg = None
    if msg is not None:
        if msg.mke == "ACK":
            m = _ACCEPTED.search((msg.text or "").encode())
            if m:
                return Outcome(int(m.group(1)), control=msg.control)
        if msg.error is not None and msg.error.code is not None:
            return Outcome(None, int(msg.error.code), msg.error.reason or "")
    elif frame.startswith(b"ACK"):
        m = _ACCEPTED.search(frame)
        if m:
            return Outcome(int(m.group(1)))
    r = _REFUSED.search(frame)
    if r:
        return Outcome(None, int(r.group(1)), r.group(2).decode().strip())
    return Outcome(None, 22, "INVALID MESSAGE FORMAT")


def refusal(outcome: Outcome, body: bytes, codec: Codec) -> ApiProblem:
    """The problem for a refused request.  A ``.22.`` is read again here (the switch's ER
    names no field): the codec's own error says which field and why."""
    problem = switch_problem(outcome.code or 22, outcome.reason)
    if outcome.code == 22:
        try:
            codec.decode(body)
        except DecodeError as exc:
            if exc.field:
                problem.extra["field"] = exc.field
            problem.extra["error"] = exc.reason[:300]
    return problem


def unsettled(rows: list[OutRow]) -> int:
    """The forwards without an answer, a status (``.02.``/``.04.``) and not dead: what a
    ``?wait=`` still holds for (each will make a delivery to the client, or die)."""
    n = 0
    for r in rows:
        if r.kind == "forward" and not (r.responses > 0 or r.status_sent
                                        or r.state in ("dead", "done")):
            n += 1
    return n


def settled(rows: list[OutRow]) -> bool:
    """Every forward has an answer, a status or is dead: the answers a ``?wait=`` holds
    for are in."""
    return unsettled(rows) == 0


def destinations(rows: list[OutRow]) -> list[str]:
    return [r.target for r in rows if r.kind == "forward"]


def message_view(msg: StoredMessage, rows: list[OutRow], origin_codec: Codec | None
                 ) -> dict[str, Any]:
    """The JSON of ``GET /v1/messages/{msn}``: the message, each destination's state, and
    every answer and status delivered (or waiting to be) to its origin, in order."""
    forwards = []
    answers = []
    for r in rows:
        if r.kind == "forward":
            state = r.state
            if r.state != "dead" and r.responses == 0 and r.status_sent:
                state = {"02": "not_responding", "04": "not_available"}.get(r.status_sent,
                                                                          state)
            forwards.append({"destination": r.target, "state": state,
                             "attempts": r.attempts, "answers": r.responses,
                             "status": r.status_sent or None, "error": r.last_error})
        elif r.kind == "deliver" and r.frame is not None:
            answers.append(_answer(r, origin_codec))
    return {"msn": msg.msn, "received_at": _iso(msg.received_at), "mke": msg.mke,
            "origin": msg.origin, "control": msg.control, "operator": msg.operator,
            "codec": msg.codec, "message": _canonical(msg.canonical),
            "destinations": forwards, "answers": answers,
            "complete": settled(rows)}


def _answer(r: OutRow, codec: Codec | None) -> dict[str, Any]:
    frame = r.frame or b""
    out: dict[str, Any] = {"id": r.id, "mke": r.mke, "state": r.state,
                           "delivered": r.state == "done", "at": _iso(r.created_at)}
    if codec is not None and codec.name == "json" and frame[:1] == b"{":
        # the switch wrote it (canonical JSON): passed through as it is, not parsed again
        out["message"] = msgspec.Raw(frame)
        return out
    out["text"] = frame.decode("utf-8", "replace")
    return out


def _canonical(text: str) -> Any:
    return msgspec.Raw(text.encode()) if text[:1] == "{" else None


#: the last whole second ``_iso`` formatted, and its text: a message and its answers are
#: mostly in one second, and ``strftime`` of a ``gmtime`` was most of the cost of a view
_second: tuple[int, str] = (-1, "")


def _iso(t: float) -> str:
    global _second
    second = math.floor(t)  # what gmtime formats of t
    if second != _second[0]:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{_second[1]}.{int(t % 1 * 1000):03d}Z"


class LogReads:
    """Bounds on reading messages back from the log journal (``read_message``): one read
    at a time (each is Python work of tens of milliseconds, which takes the switch's
    interpreter while it runs), and the last ``size`` messages read that had left memory
    whole, for ``ttl`` seconds (such a message no longer changes: a client that polls it
    costs one read)."""

    def __init__(self, size: int = 256, ttl: float = 3600.0) -> None:
        self.size, self.ttl = size, ttl
        self.lock = asyncio.Lock()
        self.cache: dict[int, tuple[float, StoredMessage | None, list[OutRow]]] = {}
        #: reads made (a figure for tests and /metrics-minded readers)
        self.reads = 0

    def get(self, msn: int, now: float) -> tuple[StoredMessage | None, list[OutRow]] | None:
        hit = self.cache.get(msn)
        if hit is None or hit[0] < now:
            return None
        return hit[1], hit[2]

    def put(self, msn: int, now: float, msg: StoredMessage | None, rows: list[OutRow]
            ) -> None:
        if len(self.cache) >= self.size:
            del self.cache[next(iter(self.cache))]
        self.cache[msn] = (now + self.ttl, msg, rows)


async def read_message(journal: Any, msn: int, reads: LogReads | None = None
                       ) -> tuple[StoredMessage | None, list[OutRow]]:
    """A message and its rows for ``GET /v1/messages/{msn}``, for as long as the journal
    retains it.  The SQLite journal has them in its tables.  The log journal keeps done rows
    in memory for ``late_horizon`` (~30 s) only: a message that may have rows out of memory
    is read back from the log (on a thread when it is a file: the switch goes on), its rows
    in memory laid over those."""
    if not hasattr(journal, "message_from_log") or not journal.may_have_left_memory(msn):
        return journal.message(msn), journal.message_rows(msn)
    reads = reads or LogReads(size=0)
    now = time.monotonic()
    whole = journal.message(msn) is None  # left memory with all its rows: it is final
    if whole and (hit := reads.get(msn, now)) is not None:
        return hit
    async with reads.lock:
        reads.reads += 1
        if journal.feed_threadable():
            logged, rows = await asyncio.to_thread(journal.message_from_log, msn)
        else:
            logged, rows = journal.message_from_log(msn)
    stored, merged = journal.message(msn) or logged, journal.merge_rows(msn, rows)
    if whole and logged is not None and reads.size:
        reads.put(msn, now, stored, merged)
    return stored, merged


async def wait_settled(read: Callable[[], list[OutRow]], waiter: Waiter, seconds: float,
                       poll: float = 0.5) -> list[OutRow]:
    """Read the rows (``read()``) until they are settled or ``seconds`` pass: again when as
    many deliveries of the message came as forwards are unsettled (each makes at least
    one: an answer or a status), and at least twice a second (a dead forward makes no
    delivery to this client)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    rows = read()
    while need := unsettled(rows):
        left = end - loop.time()
        if left <= 0:
            break
        await waiter.wait(min(left, poll), need)
        rows = read()
    return rows

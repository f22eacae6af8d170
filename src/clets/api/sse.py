"""Server-Sent Events as the event stream writes them, and as a client reads them.

The stream (``GET /v1/events``) writes one event per delivery: an ``id:`` line (the
journal's delivery row id) and one ``data:`` line (a JSON object: never a line break in it,
so the framing cannot be broken by what a message holds).  ``Last-Event-ID`` (the header a
client sends when it reconnects) is the last id it read: a non-negative integer, anything
else is refused by name.

``parse`` reads a stream as the HTML standard's "event stream interpretation" does (lines
ending in CR, LF or CRLF; ``:`` comments; ``field: value`` with one optional space; events
dispatched at a blank line; an ``id`` containing NUL ignored): the tests read the daemon's
stream with it, and docs/api.md points clients to any EventSource library instead.

Pure: bytes in, values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Event", "LastEventIdError", "comment", "format_event", "parse",
           "parse_last_event_id", "retry"]

#: the largest id ``Last-Event-ID`` may name (a journal row id is a SQLite INTEGER)
MAX_ID = 2**63 - 1
_LINE = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event: its data (``data:`` lines joined by LF), its type (``message``
    when none was given) and the last event id set when it was dispatched."""

    data: str
    event: str = "message"
    id: str = ""


class LastEventIdError(ValueError):
    """A ``Last-Event-ID`` that is not a journal id (the reason names the value)."""


def parse_last_event_id(value: str | None) -> int | None:
    """The id a client last read: None when it sent none, else a non-negative integer
    (1 to 19 ASCII digits, as the stream writes ids); :class:`LastEventIdError` for anything
    else, an empty value too (EventSource sends the header only with an id to resume from)."""
    if value is None:
        return None
    text = value
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        raise LastEventIdError(f"Last-Event-ID must be an event id (digits): {value[:40]!r}")
    n = int(text)
    if n > MAX_ID:
        raise LastEventIdError(f"Last-Event-ID is larger than any event id: {value[:40]!r}")
    return n


def format_event(data: str, *, id: int | None = None, event: str | None = None) -> bytes:
    """One event: ``event:``, ``id:`` and one ``data:`` line per line of ``data``, then a
    blank line.  ``event`` may not hold a line break; ``data`` may (each line its own
    ``data:`` line, read back joined by LF; a CR alone reads back as a line break too)."""
    out: list[bytes] = []
    if event is not None:
        if _LINE.search(event.encode()):
            raise ValueError("an event type cannot hold a line break")
        out.append(b"event: " + event.encode())
    if id is not None:
        out.append(b"id: %d" % id)
    for line in _LINE.split(data.encode("utf-8")):
        out.append(b"data: " + line)
    return b"\n".join(out) + b"\n\n"


def comment(text: str = "") -> bytes:
    """A comment line (keeps an idle connection open through proxies; clients ignore it)."""
    return b": " + text.replace("\r", " ").replace("\n", " ").encode() + b"\n\n"


def retry(ms: int) -> bytes:
    """The reconnection delay a client should use, in milliseconds."""
    return b"retry: %d\n\n" % ms


def parse(stream: bytes) -> tuple[list[Event], bytes]:
    """The events complete in ``stream`` and what is left of it (an event not finished by
    its blank line yet: feed it again with the next bytes).  A ``retry`` field is read and
    dropped; a leading BOM is skipped.  The last event id carries over from event to event
    within one call (the stream's writer gives every event its own)."""
    if stream.startswith(b"\xef\xbb\xbf"):
        stream = stream[3:]
    events: list[Event] = []
    data: list[str] = []
    etype = ""
    last_id = ""
    pos = 0
    consumed = 0
    for m in _LINE.finditer(stream):
        if m.group() == b"\r" and m.end() == len(stream):
            break  # a CR at the very end may be the first half of a CRLF
        line = stream[pos:m.start()].decode("utf-8", "replace")
        pos = m.end()
        if line == "":
            if data:
                events.append(Event("\n".join(data), etype or "message", last_id))
            data, etype = [], ""
            consumed = pos
            continue
        if line.startswith(":"):
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            etype = value
        elif name == "id" and "\0" not in value:
            last_id = value
    return events, stream[consumed:]

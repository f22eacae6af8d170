"""The capture file format (version 1): JSON Lines, one header line then one line per event.

Why JSON Lines: a capture is appended to while traffic flows (a crash keeps every line already
written), a tester can read and ``grep`` it, and each event carries both the raw frame (base64,
byte exact, what replay sends) and its canonical message (what the diff compares), so a reader
needs no codec to diff and a replay needs no codec to send.

Header (first line)::

    {"clets_capture": 1, "created": "2025-01-31T12:00:00.123Z", "links": {"client":
     {"framing": "line", "codec": "ncic", "peer": "127.0.0.1:4000"}}, "notes": "..."}

Event (every further line)::

    {"t": 0.0312, "link": "client", "direction": "in", "kind": "frame", "conn": 1,
     "peer": "127.0.0.1:51234", "framing": "line", "codec": "ncic",
     "raw": "UVYuQ0EwMzQ5OTk5LkxJQy83QUJDMTIz", "message": {...canonical JSON...},
     "decode_error": null}

``direction`` is ``in`` (toward clets / the captured peer: what the client sent) or ``out``
(from it: the answers).  ``raw`` is the frame *payload* without framing bytes; ``framing`` says
how it was framed on the wire.  ``message`` is the canonical JSON object where the payload
decodes, else null with ``decode_error``.  ``kind`` is ``frame`` (default), ``connect``,
``disconnect``, ``control`` (an ACK/NAK byte) or ``bad_frame`` (bytes the framer refused).
``note`` (optional) is free text, e.g. why a scrubbed frame has neither raw nor message.

The pure part (:func:`encode_event`, :func:`parse_capture`) touches no file or clock;
:class:`CaptureWriter` and :func:`read_capture` are the thin file wrappers around it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as _dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from clets.errors import CletsError, DecodeError, storage_error
from clets.model import Message, from_dict, to_dict

__all__ = [
    "CAPTURE_VERSION",
    "DIRECTIONS",
    "KINDS",
    "Capture",
    "CaptureEvent",
    "CaptureFormatError",
    "CaptureHeader",
    "CaptureWriter",
    "encode_event",
    "encode_header",
    "iter_capture",
    "parse_capture",
    "read_capture",
    "write_capture",
]

#: The version this code writes and reads.  A reader refuses a newer major version.
CAPTURE_VERSION = 1
DIRECTIONS = ("in", "out")
KINDS = ("frame", "connect", "disconnect", "control", "bad_frame")

_EVENT_KEYS = ("t", "link", "direction", "kind", "conn", "peer", "framing", "codec", "raw",
               "message", "decode_error", "note")
_REQUIRED = ("t", "link", "direction")


class CaptureFormatError(DecodeError):
    """A capture file that breaks the format; ``line`` is its 1-based line number."""

    def __init__(self, reason: str, *, line: int | None = None, source: str | None = None,
                 field: str | None = None) -> None:
        super().__init__(reason, format="capture", field=field)
        self.line = line
        self.source = source

    def __str__(self) -> str:
        where = self.source or "capture"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.field:
            where = f"{where}: field {self.field}"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class CaptureHeader:
    """First line of a capture.  ``links`` maps a link name to what is known about it
    (``framing``, ``codec``, ``peer``, ``url``); ``extra`` keeps keys this version does not
    know (e.g. ``scrubbed``), so tools pass them on."""

    created: str
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str | None = None
    version: int = CAPTURE_VERSION
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CaptureEvent:
    """One line of a capture after the header."""

    t: float
    link: str
    direction: str
    raw: bytes | None = None
    message: dict[str, Any] | None = None
    decode_error: str | None = None
    kind: str = "frame"
    conn: int | None = None
    peer: str | None = None
    framing: str | None = None
    codec: str | None = None
    note: str | None = None

    def model(self) -> Message | None:
        """The canonical message as a model object (None where the frame did not decode)."""
        return from_dict(self.message) if self.message is not None else None


@dataclass(slots=True)
class Capture:
    header: CaptureHeader
    events: list[CaptureEvent]

    def links(self) -> list[str]:
        """Link names in order of first appearance (header first, then events)."""
        names = list(self.header.links)
        for ev in self.events:
            if ev.link not in names:
                names.append(ev.link)
        return names

    def frames(self, link: str | None = None, direction: str | None = None
               ) -> list[CaptureEvent]:
        return [e for e in self.events if e.kind == "frame"
                and (link is None or e.link == link)
                and (direction is None or e.direction == direction)]


# --------------------------------------------------------------------------- pure encode

def _now_iso() -> str:
    now = _dt.datetime.now(_dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def encode_header(header: CaptureHeader) -> str:
    obj: dict[str, Any] = {"clets_capture": header.version, "created": header.created,
                           "links": header.links, "notes": header.notes}
    for k, v in header.extra.items():
        obj.setdefault(k, v)
    return json.dumps(obj, ensure_ascii=False, sort_keys=False)


def encode_event(ev: CaptureEvent) -> str:
    """One event as its JSON line (no newline)."""
    obj: dict[str, Any] = {
        "t": round(ev.t, 6), "link": ev.link, "direction": ev.direction, "kind": ev.kind,
        "conn": ev.conn, "peer": ev.peer, "framing": ev.framing, "codec": ev.codec,
        "raw": base64.b64encode(ev.raw).decode("ascii") if ev.raw is not None else None,
        "message": ev.message, "decode_error": ev.decode_error,
    }
    if ev.note is not None:
        obj["note"] = ev.note
    return json.dumps(obj, ensure_ascii=False)


# --------------------------------------------------------------------------- pure parse

def _opt_str(obj: Mapping[str, Any], key: str, line: int) -> str | None:
    v = obj.get(key)
    if v is not None and not isinstance(v, str):
        raise CaptureFormatError(f"expected a string or null, got {v!r}", line=line, field=key)
    return v


def _parse_header(text: str, line: int, source: str | None) -> CaptureHeader:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise CaptureFormatError(f"header is not JSON: {exc}", line=line,
                                 source=source) from None
    if not isinstance(obj, dict) or "clets_capture" not in obj:
        raise CaptureFormatError("not a clets capture (first line must be a header object "
                                 "with \"clets_capture\")", line=line, source=source)
    version = obj["clets_capture"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise CaptureFormatError(f"version must be an integer, got {version!r}", line=line,
                                 source=source, field="clets_capture")
    if version > CAPTURE_VERSION or version < 1:
        raise CaptureFormatError(f"capture version {version} is not supported (this clets "
                                 f"reads version {CAPTURE_VERSION})", line=line, source=source,
                                 field="clets_capture")
    created = obj.get("created")
    if not isinstance(created, str):
        raise CaptureFormatError("header needs \"created\" (a string)", line=line,
                                 source=source, field="created")
    links = obj.get("links") or {}
    if not isinstance(links, dict) or not all(isinstance(v, dict) for v in links.values()):
        raise CaptureFormatError("\"links\" must map link names to objects", line=line,
                                 source=source, field="links")
    notes = obj.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise CaptureFormatError("\"notes\" must be a string or null", line=line,
                                 source=source, field="notes")
    extra = {k: v for k, v in obj.items()
             if k not in ("clets_capture", "created", "links", "notes")}
    return CaptureHeader(created=created, links=dict(links), notes=notes, version=version,
                         extra=extra)


def _parse_event(text: str, line: int) -> CaptureEvent:
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise CaptureFormatError(f"not JSON: {exc}", line=line) from None
    if not isinstance(obj, dict):
        raise CaptureFormatError("an event must be a JSON object", line=line)
    for key in obj:
        if key not in _EVENT_KEYS:
            raise CaptureFormatError(f"unknown key {key!r}", line=line, field=key)
    for key in _REQUIRED:
        if key not in obj:
            raise CaptureFormatError(f"missing {key!r}", line=line, field=key)
    t = obj["t"]
    if isinstance(t, bool) or not isinstance(t, (int, float)) or t < 0:
        raise CaptureFormatError(f"\"t\" must be seconds >= 0, got {t!r}", line=line, field="t")
    link = obj["link"]
    if not isinstance(link, str) or not link:
        raise CaptureFormatError("\"link\" must be a non-empty string", line=line, field="link")
    direction = obj["direction"]
    if direction not in DIRECTIONS:
        raise CaptureFormatError(f"\"direction\" must be \"in\" or \"out\", got {direction!r}",
                                 line=line, field="direction")
    kind = obj.get("kind") or "frame"
    if kind not in KINDS:
        raise CaptureFormatError(f"unknown kind {kind!r}", line=line, field="kind")
    conn = obj.get("conn")
    if conn is not None and (isinstance(conn, bool) or not isinstance(conn, int)):
        raise CaptureFormatError("\"conn\" must be an integer or null", line=line, field="conn")
    raw_text = obj.get("raw")
    raw: bytes | None = None
    if raw_text is not None:
        if not isinstance(raw_text, str):
            raise CaptureFormatError("\"raw\" must be base64 text or null", line=line,
                                     field="raw")
        try:
            raw = base64.b64decode(raw_text, validate=True)
        except (binascii.Error, ValueError):
            raise CaptureFormatError("\"raw\" is not valid base64", line=line,
                                     field="raw") from None
    message = obj.get("message")
    if message is not None:
        try:
            message = to_dict(from_dict(message))
        except DecodeError as exc:
            raise CaptureFormatError(f"message is not canonical JSON: {exc}", line=line,
                                     field=f"message.{exc.field}" if exc.field else "message"
                                     ) from None
    if kind == "frame" and raw is None and message is None and not obj.get("note"):
        raise CaptureFormatError("a frame event needs \"raw\", \"message\" or a \"note\" "
                                 "saying why neither is kept", line=line)
    return CaptureEvent(
        t=float(t), link=link, direction=direction, raw=raw, message=message,
        decode_error=_opt_str(obj, "decode_error", line), kind=kind, conn=conn,
        peer=_opt_str(obj, "peer", line), framing=_opt_str(obj, "framing", line),
        codec=_opt_str(obj, "codec", line), note=_opt_str(obj, "note", line))


def iter_capture(lines: Iterable[str], source: str | None = None
                 ) -> Iterator[CaptureHeader | CaptureEvent]:
    """The header, then each event, validating as it goes (blank lines are skipped)."""
    header_seen = False
    n = 0
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        if not header_seen:
            yield _parse_header(text, n, source)
            header_seen = True
            continue
        try:
            yield _parse_event(text, n)
        except CaptureFormatError as exc:
            exc.source = source
            raise
    if not header_seen:
        raise CaptureFormatError("empty file: no header line", line=n or 1, source=source)


def parse_capture(text: str, source: str | None = None) -> Capture:
    """A whole capture from its text."""
    items = iter(iter_capture(text.splitlines(), source))
    header = next(items)
    assert isinstance(header, CaptureHeader)
    events = [e for e in items if isinstance(e, CaptureEvent)]
    return Capture(header, events)


def read_capture(path: str | Path) -> Capture:
    """Read and validate a capture file; errors are :class:`CaptureFormatError` (a
    DecodeError) naming the file and line."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise CaptureFormatError(f"cannot read: {exc.strerror}", source=str(p)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CaptureFormatError("not UTF-8 text", line=line, source=str(p)) from None
    return parse_capture(text, source=str(p))


def write_capture(path: str | Path, capture: Capture) -> None:
    """Write a whole capture (used by ``clets scrub``); replaces the file atomically."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(encode_header(capture.header) + "\n")
        for ev in capture.events:
            fh.write(encode_event(ev) + "\n")
    tmp.replace(p)


# --------------------------------------------------------------------------- writer

class CaptureWriter:
    """Append events to a capture as they happen (used by the proxy, replay and the switch).

    ``CaptureWriter(path, links={...}, notes=...)`` writes the header at once (an empty capture
    is still a valid file), then each :meth:`write_event` writes and flushes one line, so a
    crash loses at most the line being written.  Thread-safe.  Timestamps are seconds since
    the writer was created, from a monotonic clock (injectable for tests).

    The switch calls it like this from its capture config::

        writer = CaptureWriter("/var/lib/clets/capture.jsonl", links={"dmv": {...}})
        writer.write_event(link="dmv", direction="out", raw=payload, framing="rdw",
                           codec="dmv-reg-request", message=msg, peer="DMV")
        writer.close()

    ``message`` may be a :class:`~clets.model.Message`, its JSON dict, or omitted: then, when
    ``codec`` is given, the writer decodes ``raw`` itself and records the decode error if any.
    """

    def __init__(self, path: str | Path | IO[str], *,
                 links: Mapping[str, Mapping[str, Any]] | None = None,
                 notes: str | None = None, created: str | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 extra: Mapping[str, Any] | None = None) -> None:
        self._clock = clock
        self._start = clock()
        self._lock = threading.Lock()
        self._owns = not hasattr(path, "write")
        #: an owned file is written unbuffered, line by line, and cut back to ``_good`` (the
        #: end of the last whole line) when a write fails: a full disk never leaves half a
        #: line that would make the whole capture unreadable
        self._raw: IO[bytes] | None = None
        self._good = 0
        self.path = str(path) if self._owns else None
        if self._owns:
            assert isinstance(path, (str, Path))
            self._raw = open(path, "wb", buffering=0)  # noqa: SIM115
        else:
            self._fh: IO[str] = path  # type: ignore[assignment]
        self.header = CaptureHeader(created=created or _now_iso(),
                                    links={k: dict(v) for k, v in (links or {}).items()},
                                    notes=notes, extra=dict(extra or {}))
        self._put(encode_header(self.header) + "\n")
        self._codecs: dict[str, Any] = {}
        self.count = 0
        self.closed = False

    def elapsed(self) -> float:
        return max(0.0, self._clock() - self._start)

    def _decode(self, codec: str, raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
        from clets.codecs import get_codec

        try:
            c = self._codecs.get(codec)
            if c is None:
                c = self._codecs[codec] = get_codec(codec)
            return to_dict(c.decode(raw)), None
        except CletsError as exc:
            return None, exc.one_line()

    def write_event(self, *, link: str, direction: str, raw: bytes | None = None,
                    message: Message | Mapping[str, Any] | None = None,
                    decode_error: str | None = None, kind: str = "frame",
                    peer: str | None = None, framing: str | None = None,
                    codec: str | None = None, conn: int | None = None,
                    note: str | None = None, t: float | None = None) -> CaptureEvent:
        """Record one event and return it (see the module doc for the fields)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'in' or 'out', not {direction!r}")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        msg_dict: dict[str, Any] | None
        if isinstance(message, Message):
            msg_dict = to_dict(message)
        elif message is not None:
            msg_dict = dict(message)
        else:
            msg_dict = None
        if (kind == "frame" and msg_dict is None and decode_error is None and codec
                and raw is not None):
            msg_dict, decode_error = self._decode(codec, raw)
        ev = CaptureEvent(t=self.elapsed() if t is None else t, link=link, direction=direction,
                          raw=raw, message=msg_dict, decode_error=decode_error, kind=kind,
                          conn=conn, peer=peer, framing=framing, codec=codec, note=note)
        line = encode_event(ev) + "\n"
        with self._lock:
            if self.closed:
                raise ValueError("capture writer is closed")
            self._put(line)
            self.count += 1
        return ev

    def _put(self, line: str) -> None:
        """Write one whole line or nothing: a failed write (disk full, I/O error) is cut
        back off the file and raised as a StorageError; the next line may succeed."""
        if self._raw is None:
            self._fh.write(line)
            self._fh.flush()
            return
        data = memoryview(line.encode("utf-8"))
        try:
            while data:
                n = self._raw.write(data)
                data = data[n or 0:]
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._raw.truncate(self._good)
                self._raw.seek(self._good)
            err = storage_error(exc, store="capture", path=self.path)
            if err is None:
                raise
            raise err from exc
        self._good = self._raw.tell()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self._raw is not None:
                self._raw.close()
            else:
                self._fh.flush()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

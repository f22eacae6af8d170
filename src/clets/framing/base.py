"""The framer interface and the events a framer reports.

A framer is a pure, incremental parser (like h11's receive buffer): bytes go in with
:meth:`Framer.feed` in chunks of any size, whole frames come out.  It never touches a socket or
a clock, so the same object frames TCP, serial lines, files and the fuzz harnesses.

Why events and not exceptions: one ``feed`` may hold three good frames and one with a bad LRC.
Raising on the bad one would lose the good ones after it (and the link must NAK exactly that
frame), so ``feed`` returns a list of :class:`Frame`, :class:`BadFrame` and :class:`Control`
events, in stream order, and raises only when it is misused (fed after a fatal error).

Offsets in events are absolute byte offsets in the stream since the last :meth:`Framer.reset`,
so the events for a stream are identical however it was split into chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

from clets.errors import EncodeError, FrameTooLong, FramingError

__all__ = [
    "DEFAULT_MAX_FRAME",
    "BadFrame",
    "Control",
    "Event",
    "Frame",
    "Framer",
    "payloads",
]

#: Default maximum payload size (1 MiB): larger than any CJIS message with an image, small
#: enough that a hostile length prefix cannot make a listener allocate much.
DEFAULT_MAX_FRAME = 1 << 20


@dataclass(frozen=True, slots=True)
class Frame:
    """One whole frame: its payload and the stream offset of its first framing byte."""

    payload: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame (or stretch of bytes) the framing refused.

    ``kind`` is one of ``garbage`` (bytes outside any frame, skipped), ``truncated`` (a new
    frame started before this one ended), ``lrc`` (check byte wrong), ``too-long`` (frame grew
    or was announced past ``max_frame``), ``bad-length`` (unreadable length prefix),
    ``bad-trailer`` (wrong end bytes).  ``fatal`` means the stream cannot be resynchronised
    (length-prefixed framings): the link must drop the connection.
    """

    kind: str
    reason: str
    offset: int
    fatal: bool = False
    framing: str = ""

    def error(self) -> FramingError:
        """The typed exception for this event (FrameTooLong carries code 23)."""
        cls = FrameTooLong if self.kind == "too-long" else FramingError
        return cls(self.reason, format=self.framing or None, offset=self.offset)

    @property
    def wants_nak(self) -> bool:
        """True when a line with ACK/NAK should answer this event with a NAK.

        Only frames that were *completed* (ETX and check byte seen) or refused while arriving
        get a NAK: a truncated frame is noticed only when the *next* frame starts, and a NAK
        sent then would be taken by the sender as the answer to its next transmission.
        """
        return self.kind in ("lrc", "too-long")


@dataclass(frozen=True, slots=True)
class Control:
    """A line-control byte received between frames (ACK 0x06, NAK 0x15)."""

    byte: int
    offset: int


Event = Frame | BadFrame | Control


def payloads(events: list[Event]) -> list[bytes]:
    """The payloads of the good frames in ``events`` (convenience for tests and tools)."""
    return [e.payload for e in events if isinstance(e, Frame)]


class Framer:
    """Common interface; subclasses implement :meth:`_parse` and :meth:`encode`.

    ``max_frame`` is the largest *payload* accepted, checked before the payload is buffered.
    """

    name: str = "framer"
    #: largest payload the wire format itself can express
    limit: int = DEFAULT_MAX_FRAME

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < 0:
            raise FramingError(f"max_frame must be >= 0, got {max_frame}", format=self.name)
        self.max_frame = min(max_frame, self.limit)
        self.reset()

    def reset(self) -> None:
        """Forget everything buffered (a new connection, or recovery after a fatal error)."""
        self._buf = bytearray()
        self._base = 0  # stream offset of self._buf[0]
        self.broken: BadFrame | None = None
        self._reset_state()

    def _reset_state(self) -> None:  # pragma: no cover - overridden where state exists
        pass

    @property
    def pending(self) -> int:
        """Bytes buffered towards the next frame (a partial frame, never skipped garbage)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Event]:
        """Add bytes; return the events they complete, in stream order.

        After a fatal event every further ``feed`` raises :class:`FramingError` until
        :meth:`reset`: the stream has lost its framing and must not be read on.
        """
        if self.broken is not None:
            raise FramingError(
                f"stream broken at offset {self.broken.offset} ({self.broken.reason}); "
                "reset() before feeding again",
                format=self.name,
                offset=self.broken.offset,
            )
        events: list[Event] = []
        if data:
            self._parse(bytes(data), events)
        for ev in events:
            if isinstance(ev, BadFrame) and ev.fatal:
                self.broken = ev
                self._buf = bytearray()
                break
        return events

    def _parse(self, data: bytes, out: list[Event]) -> None:
        raise NotImplementedError

    def encode(self, payload: bytes) -> bytes:
        """One whole frame for ``payload``; typed errors for payloads the framing cannot carry."""
        raise NotImplementedError

    # helpers for subclasses -------------------------------------------------------------
    def _bad(self, kind: str, reason: str, offset: int, fatal: bool = False) -> BadFrame:
        return BadFrame(kind, reason, offset, fatal, self.name)

    def _check_encode_size(self, payload: bytes) -> None:
        if len(payload) > self.max_frame:
            raise FrameTooLong(
                f"payload of {len(payload)} bytes exceeds max_frame {self.max_frame}",
                format=self.name,
                offset=self.max_frame,
            )

    def _check_no_byte(self, payload: bytes, forbidden: bytes) -> None:
        for b in forbidden:
            pos = payload.find(bytes((b,)))
            if pos >= 0:
                raise EncodeError(
                    f"payload contains the delimiter byte 0x{b:02X} (no escaping in {self.name})",
                    format=self.name,
                    offset=pos,
                )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} max_frame={self.max_frame}>"

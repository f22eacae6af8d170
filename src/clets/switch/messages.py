"""Messages the switch itself writes: ``ER`` rejects, ``SM`` status messages, ``ACK``.

They are canonical messages, encoded by the SENDER's own codec like every other answer, so a
teletype gets ``.21. INVALID FIELD DOB`` in its text format and a CAD client gets JSON.
"""

from __future__ import annotations

import re

from clets.errors import (
    DUPLICATE_MESSAGE,
    INVALID_DESTINATION,
    INVALID_FIELD,
    INVALID_FORMAT,
    INVALID_ORIGIN_ORI,
    MESSAGE_TOO_LONG,
    MISSING_FIELD,
    NOT_AUTHORIZED,
    UNKNOWN_MESSAGE_KEY,
    CharacterError,
    CletsError,
)
from clets.model import ErrorInfo, Message

__all__ = [
    "NOT_AVAILABLE",
    "NOT_RESPONDING",
    "REASONS",
    "ack_message",
    "error_message",
    "reason_for",
    "status_message",
]

NOT_RESPONDING = 2
NOT_AVAILABLE = 4

#: spec/switch.md error table
REASONS: dict[int, str] = {
    UNKNOWN_MESSAGE_KEY: "UNKNOWN MESSAGE KEY",
    NOT_RESPONDING: "DESTINATION NOT RESPONDING, WILL FORWARD",
    NOT_AVAILABLE: "DESTINATION NOT AVAILABLE, WILL NOT FORWARD",
    INVALID_ORIGIN_ORI: "INVALID ORIGIN ORI",
    NOT_AUTHORIZED: "ORI NOT AUTHORIZED FOR THIS MESSAGE KEY",
    INVALID_DESTINATION: "INVALID DESTINATION",
    MISSING_FIELD: "MISSING MANDATORY FIELD",
    INVALID_FIELD: "INVALID FIELD",
    INVALID_FORMAT: "INVALID MESSAGE FORMAT",
    MESSAGE_TOO_LONG: "MESSAGE TOO LONG",
    DUPLICATE_MESSAGE: "DUPLICATE MESSAGE",
}

#: how many characters of the rejected input an ER echoes (Nlets: first 100)
ECHO_CHARS = 100


def reason_for(code: int, exc: CletsError | None = None) -> str:
    """The reason text of a code; 20 and 21 name the field's tag (``INVALID FIELD DOB``); a
    22 for a character outside the format's set names its offset, counted from 0
    (``INVALID MESSAGE FORMAT - INVALID CHARACTER AT OFFSET 30``, in the shape of Nlets'
    ``.22. INVALID MESSAGE FORMAT - REFER TO ...``)."""
    if code == MISSING_FIELD and exc is not None and exc.reason.startswith("MISSING MANDATORY"):
        return exc.reason
    if code == INVALID_FORMAT and isinstance(exc, CharacterError) and exc.offset is not None:
        return f"{REASONS[code]} - INVALID CHARACTER AT OFFSET {exc.offset}"
    field = getattr(exc, "field", None) if exc is not None else None
    if code in (MISSING_FIELD, INVALID_FIELD) and field:
        tag = str(field).split(".")[-1].upper() if "." in str(field) else str(field).upper()
        return f"{REASONS[code]} {tag}"
    return REASONS.get(code, REASONS[INVALID_FORMAT])


def echo_of(payload: bytes, encoding: str | None, *, printable: bool = False) -> str:
    """The first 100 characters of the input, read in the link's ``encoding`` (UTF-8 when
    it has none: json, niem).

    A byte the encoding cannot read is written ``\\xNN`` (it counts as one character): the
    sender sees what it sent, never a silently shortened echo.  ``printable`` makes the echo
    fit any text format (what ``ncic``, ``nlets`` and XML can carry): CR LF becomes LF, and
    every other character outside printable ASCII is written as the bytes it was on the wire
    (``\\x00``, ``M\\xc3\\x9cLLER``), a backslash as ``\\\\``.
    """
    enc = encoding or "utf-8"
    try:
        text = payload[: ECHO_CHARS * 4].decode(enc, "surrogateescape")[:ECHO_CHARS]
    except LookupError:
        enc = "latin-1"
        text = payload[:ECHO_CHARS].decode(enc)
    if printable:
        return _printable(text.replace("\r\n", "\n"), enc)
    if not _UNREADABLE.search(text):
        return text
    return _UNREADABLE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


#: what ``surrogateescape`` makes of a byte the encoding cannot read
_UNREADABLE = re.compile("[\udc80-\udcff]")
#: characters a printable echo writes as themselves
_PLAIN = re.compile(r"[\x20-\x5b\x5d-\x7e\n]*")


def _printable(text: str, encoding: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        m = _PLAIN.match(text, i)
        assert m is not None  # the pattern matches the empty string
        out.append(m.group())
        i = m.end()
        if i < n:
            c = text[i]
            if c == "\\":
                out.append("\\\\")
            elif "\udc80" <= c <= "\udcff":
                out.append(f"\\x{ord(c) - 0xDC00:02x}")
            else:
                try:
                    raw = c.encode(encoding)
                except UnicodeEncodeError:
                    raw = c.encode("utf-8", "surrogatepass")
                out.append("".join(f"\\x{b:02x}" for b in raw))
            i += 1
    return "".join(out)


def error_message(*, fmt: str, switch_ori: str, code: int, reason: str, echo: str | None,
                  origin: str | None, control: str | None) -> Message:
    """An ``ER`` reject: ``.NN. REASON`` plus the echo of the input."""
    return Message(
        format=fmt, mke="ER", origin=switch_ori, destinations=[origin] if origin else [],
        control=control, status="error", error=ErrorInfo(code, reason, echo),
    )


def status_message(*, fmt: str, switch_ori: str, code: int, destination: str,
                   origin: str | None, control: str | None) -> Message:
    """An ``SM`` status: ``.02. WPS NOT RESPONDING, WILL FORWARD`` (status ``pending``) or
    ``.04. WPS NOT AVAILABLE, WILL NOT FORWARD`` (status ``unavailable``)."""
    if code == NOT_RESPONDING:
        reason, status = f"{destination} NOT RESPONDING, WILL FORWARD", "pending"
    else:
        reason, status = f"{destination} NOT AVAILABLE, WILL NOT FORWARD", "unavailable"
    return Message(
        format=fmt, mke="SM", origin=switch_ori, destinations=[origin] if origin else [],
        control=control, status=status, error=ErrorInfo(code, reason, None),
        text=f".{code:02d}. {reason}",
    )


def ack_message(*, fmt: str, switch_ori: str, origin: str | None, control: str | None,
                sequence: int | None, msn: int) -> Message:
    """``ACK``: the message is in the journal (sent only after the commit)."""
    return Message(
        format=fmt, mke="ACK", origin=switch_ori, destinations=[origin] if origin else [],
        control=control, sequence=sequence, status="pending", text=f"ACCEPTED MSN {msn:010d}",
    )

"""Messages the switch itself writes: ``ER`` rejects, ``SM`` status messages, ``ACK``.

They are canonical messages, encoded by the SENDER's own codec like every other answer, so a
teletype gets ``.21. INVALID FIELD DOB`` in its text format and a CAD client gets JSON.
"""

from __future__ import annotations

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
    """The reason text of a code; 20 and 21 name the field's tag (``INVALID FIELD DOB``)."""
    if code == MISSING_FIELD and exc is not None and exc.reason.startswith("MISSING MANDATORY"):
        return exc.reason
    field = getattr(exc, "field", None) if exc is not None else None
    if code in (MISSING_FIELD, INVALID_FIELD) and field:
        tag = str(field).split(".")[-1].upper() if "." in str(field) else str(field).upper()
        return f"{REASONS[code]} {tag}"
    return REASONS.get(code, REASONS[INVALID_FORMAT])


def echo_of(payload: bytes, encoding: str | None) -> str:
    for enc in (encoding, "utf-8", "latin-1"):
        if enc is None:
            continue
        try:
            text = payload[: ECHO_CHARS * 4].decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        return text[:ECHO_CHARS]
    return ""  # latin-1 never fails; kept for the type checker


def error_message(*, fmt: str, switch_ori: str, code: int, reason: str, echo: str,
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

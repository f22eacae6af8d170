"""One exception hierarchy for the whole of clets.

Every error says *what* went wrong, *where* (format, field, byte offset) and carries the
offending input, because the people reading them are operators at 3 a.m. and testers diffing
captures: a message without a location is a support call.  The switch turns these into
``ER``-style answers with the error codes of ``spec/switch.md``, so each carries a ``code``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CletsError",
    "ConfigError",
    "DecodeError",
    "EncodeError",
    "FrameTooLong",
    "FramingError",
    "LayoutError",
    "LinkBusy",
    "LinkError",
    "SecurityError",
    "ValidationError",
    "XMLSecurityError",
]

#: Error codes of our profile (spec/switch.md), used by the switch for ``ER`` answers.
UNKNOWN_MESSAGE_KEY = 1
INVALID_ORIGIN_ORI = 10
NOT_AUTHORIZED = 11
INVALID_DESTINATION = 12
MISSING_FIELD = 20
INVALID_FIELD = 21
INVALID_FORMAT = 22
MESSAGE_TOO_LONG = 23
DUPLICATE_MESSAGE = 30


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CletsError(Exception):
    """Base of every error clets raises on purpose."""

    code: int = INVALID_FORMAT

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def one_line(self) -> str:
        """The single line the CLI prints (never a traceback)."""
        return str(self)


class DecodeError(CletsError):
    """Bytes that a codec or framer cannot turn into a value.

    ``offset`` is a byte (or character, for text formats) offset into ``data``;
    ``field`` is the tag, copybook field or element path where it failed.
    """

    def __init__(
        self,
        reason: str,
        *,
        format: str | None = None,
        field: str | None = None,
        offset: int | None = None,
        data: bytes | str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.format = format
        self.field = field
        self.offset = offset
        self.data = data
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        parts = []
        if self.format:
            parts.append(self.format)
        if self.field:
            parts.append(f"field {self.field}")
        if self.offset is not None:
            parts.append(f"offset {self.offset}")
        where = ": ".join([", ".join(parts)]) if parts else ""
        return f"{where}: {self.reason}" if where else self.reason


class EncodeError(DecodeError):
    """A canonical message that cannot be written in a wire format (value too long, no slot)."""


class ValidationError(DecodeError):
    """A value that parses but breaks a field edit (length, code table, date, ORI pattern).

    ``code`` is 20 (missing mandatory field) or 21 (invalid field) as in spec/switch.md.
    """

    code = INVALID_FIELD

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        value: Any = None,
        format: str | None = None,
        offset: int | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(reason, format=format, field=field, offset=offset, code=code)
        self.value = value

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} (value {_short(self.value)})" if self.value is not None else base


class LayoutError(CletsError):
    """A layout (copybook, field table, XML mapping) that cannot be built: a user's data file."""

    def __init__(self, reason: str, *, source: str | None = None, line: int | None = None) -> None:
        super().__init__(reason)
        self.source = source
        self.line = line

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        return f"{where}: {self.reason}" if where else self.reason


class FramingError(DecodeError):
    """A byte stream that breaks its framing (bad length prefix, bad LRC, missing STX)."""


class FrameTooLong(FramingError):
    """A frame announced or grown past the framer's maximum; refused before it is buffered."""

    code = MESSAGE_TOO_LONG


class SecurityError(CletsError):
    """Input refused because it is hostile or untrusted (unknown host key, bad file name)."""


class XMLSecurityError(SecurityError, DecodeError):
    """XML refused before parsing or mapping: DTD, entities, too large, deep or many elements."""

    def __init__(self, reason: str, *, format: str | None = "niem",
                 offset: int | None = None) -> None:
        DecodeError.__init__(self, reason, format=format, offset=offset)


class LinkError(CletsError):
    """A transport failure: connect refused, peer gone, deadline passed, TLS failure."""

    def __init__(self, reason: str, *, link: str | None = None, peer: str | None = None) -> None:
        super().__init__(reason)
        self.link = link
        self.peer = peer

    def __str__(self) -> str:
        where = " ".join(p for p in (self.link, f"peer {self.peer}" if self.peer else None) if p)
        return f"{where}: {self.reason}" if where else self.reason


class LinkBusy(LinkError):
    """The connection holds as many unsent bytes as it may (its peer is not reading): the frame
    was NOT taken.  Nothing is lost: the caller keeps it (the switch: in the journal) and
    tries again; the connection is cut if it does not drain within its write deadline."""


class ConfigError(LayoutError):
    """A configuration file problem, with its line where known."""

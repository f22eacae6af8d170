"""One exception hierarchy for the whole of clets.

Every error says *what* went wrong, *where* (format, field, byte offset) and carries the
offending input, because the people reading them are operators at 3 a.m. and testers diffing
captures: a message without a location is a support call.  The switch turns these into
``ER``-style answers with the error codes of ``spec/switch.md``, so each carries a ``code``.
"""

from __future__ import annotations

import errno as _errno
from typing import Any

__all__ = [
    "CharacterError",
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
    "StorageError",
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
#: not in spec/switch.md's table: the switch cannot store the message (disk full, I/O error);
#: nothing was accepted and the sender should send it again later (docs/switch.md)
STORE_UNAVAILABLE = 5


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


class CharacterError(DecodeError):
    """A byte or character outside the format's character set (a NUL, a control character,
    UTF-8 on an ASCII link, bytes that are not UTF-8 in JSON or XML).

    Its own type because the switch names ``offset`` in the ``.22.`` it answers: the sender's
    terminal shows what it wrote, not what it sent, so "where" is the whole diagnosis.
    """


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


class StorageError(CletsError):
    """A store that cannot be written: its disk is full (``kind`` ``"full"``) or failing
    (``"io"``: an I/O error, a file system gone read-only).

    Why its own type: unlike a bad message it is nobody's input and it passes -- the switch
    refuses new messages with code 05 while it lasts, keeps what it accepted, reports the store
    on ``/healthz`` and goes on by itself once a write succeeds again.  ``store`` names what
    failed (``journal``, ``ledger``, ``capture``, ``spool``), ``path`` its file.
    """

    code = STORE_UNAVAILABLE

    def __init__(self, reason: str, *, store: str, path: str | None = None,
                 kind: str = "io") -> None:
        super().__init__(reason)
        self.store = store
        self.path = path
        self.kind = kind

    def __str__(self) -> str:
        where = f"{self.store} {self.path}" if self.path else self.store
        return f"{where}: {self.reason}"


#: errno values that mean "no room" and "the device failed" (EROFS: ext4 remounts read-only
#: after an I/O error, so a write that meets it is a failing disk, not a config matter)
_FULL_ERRNOS = frozenset({_errno.ENOSPC, _errno.EDQUOT})
_IO_ERRNOS = frozenset({_errno.EIO, _errno.EROFS})
#: SQLite primary result codes (the low byte of an extended code): SQLITE_FULL, SQLITE_IOERR,
#: SQLITE_READONLY (a database file or directory that turned read-only under the writer)
_SQLITE_FULL, _SQLITE_IOERR, _SQLITE_READONLY = 13, 10, 8


def storage_error(exc: BaseException, *, store: str, path: str | None = None
                  ) -> StorageError | None:
    """``exc`` as a :class:`StorageError` when it is a full or failing disk, else None.

    Understands ``OSError`` (by errno) and ``sqlite3.Error`` (by its result code, read with
    ``getattr`` so this module needs no sqlite3); an existing StorageError is returned as is.
    Anything else (a locked database, a bug) is not a storage fault and stays what it is."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno in _FULL_ERRNOS:
            return StorageError(exc.strerror or "no space left on device", store=store,
                                path=path or exc.filename, kind="full")
        if exc.errno in _IO_ERRNOS:
            return StorageError(exc.strerror or "input/output error", store=store,
                                path=path or exc.filename, kind="io")
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    primary = code & 0xFF
    if primary == _SQLITE_FULL:
        return StorageError(str(exc), store=store, path=path, kind="full")
    if primary in (_SQLITE_IOERR, _SQLITE_READONLY):
        name = getattr(exc, "sqlite_errorname", None) or ""
        return StorageError(f"{exc} ({name})" if name else str(exc), store=store, path=path,
                            kind="io")
    return None

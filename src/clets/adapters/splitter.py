"""Split a whole dropped file into messages: by line, by IBM RDW, by fixed record length, or whole.

Pure (bytes in, list of payloads out) so the drop logic can re-split a file after a crash and get
exactly the same messages at exactly the same indexes -- the message id ``<sha256>/<index>`` is
only stable because splitting is deterministic.  A file that does not split cleanly raises
:class:`DecodeError` with the byte offset, and the drop moves it to the error directory whole:
a half-delivered malformed file is worse than a rejected one.
"""

from __future__ import annotations

from dataclasses import dataclass

from clets.errors import ConfigError, DecodeError

__all__ = ["Splitter", "parse_split", "split"]

#: Largest record accepted by ``fixed:N`` (a configuration sanity bound, not a wire limit).
MAX_FIXED = 1 << 20


@dataclass(frozen=True, slots=True)
class Splitter:
    """A parsed split mode: ``line``, ``rdw``, ``fixed`` (with ``length``) or ``whole``."""

    mode: str
    length: int = 0

    def __str__(self) -> str:
        return f"fixed:{self.length}" if self.mode == "fixed" else self.mode

    def split(self, data: bytes) -> list[bytes]:
        """The messages of one file, in order."""
        if self.mode == "line":
            return _split_lines(data)
        if self.mode == "rdw":
            return _split_rdw(data)
        if self.mode == "fixed":
            return _split_fixed(data, self.length)
        return [data] if data else []


def parse_split(spec: str) -> Splitter:
    """``line`` | ``rdw`` | ``fixed:N`` | ``whole`` -> Splitter; anything else is a ConfigError."""
    text = spec.strip().lower()
    if text in ("line", "rdw", "whole"):
        return Splitter(text)
    if text.startswith("fixed:"):
        digits = text[len("fixed:") :]
        if digits.isdigit() and 0 < int(digits) <= MAX_FIXED:
            return Splitter("fixed", int(digits))
        raise ConfigError(f"split mode {spec!r}: fixed:N needs 1 <= N <= {MAX_FIXED}")
    raise ConfigError(f"unknown split mode {spec!r} (line, rdw, fixed:N, whole)")


def split(data: bytes, spec: str | Splitter) -> list[bytes]:
    """Convenience: split ``data`` by a mode string or a parsed :class:`Splitter`."""
    splitter = spec if isinstance(spec, Splitter) else parse_split(spec)
    return splitter.split(data)


def _split_lines(data: bytes) -> list[bytes]:
    # LF ends a line; a CR before it is part of the terminator (files written on Windows or by
    # teletype-minded mainframe jobs).  Blank lines carry no message and are skipped, so a
    # trailing newline -- or none -- gives the same messages.
    out = []
    for raw in data.split(b"\n"):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if line:
            out.append(line)
    return out


def _split_rdw(data: bytes) -> list[bytes]:
    out = []
    pos = 0
    size = len(data)
    while pos < size:
        if size - pos < 4:
            raise DecodeError(
                f"truncated RDW: {size - pos} bytes left", format="rdw", offset=pos, data=data[pos:]
            )
        length = int.from_bytes(data[pos : pos + 2], "big")
        if data[pos + 2 : pos + 4] != b"\x00\x00":
            raise DecodeError(
                "RDW reserved bytes are not zero", format="rdw", offset=pos + 2,
                data=data[pos : pos + 4],
            )
        if length < 4:
            raise DecodeError(
                f"RDW length {length} is less than 4", format="rdw", offset=pos,
                data=data[pos : pos + 4],
            )
        if pos + length > size:
            raise DecodeError(
                f"record of {length} bytes runs past end of file ({size - pos} left)",
                format="rdw", offset=pos, data=data[pos : pos + 4],
            )
        out.append(data[pos + 4 : pos + length])
        pos += length
    return out


def _split_fixed(data: bytes, length: int) -> list[bytes]:
    if len(data) % length:
        whole = len(data) - len(data) % length
        raise DecodeError(
            f"{len(data)} bytes is not a multiple of the record length {length}",
            format=f"fixed:{length}", offset=whole, data=data[whole:],
        )
    return [data[i : i + length] for i in range(0, len(data), length)]

"""Length-prefixed framings: ``len2``, ``len4``, ``ascii-len:N[:cp037]`` and ``rdw``.

The length is checked against ``max_frame`` as soon as the header is complete, before any
payload byte is buffered.  A bad or oversized length is *fatal*: with nothing but a count to go
on there is no way to find the next frame boundary, so the link drops the connection (the
journal above resends what was not acknowledged).
"""

from __future__ import annotations

from clets.errors import FrameTooLong, FramingError
from clets.framing.base import DEFAULT_MAX_FRAME, Event, Frame, Framer

__all__ = ["AsciiLengthFramer", "BinaryLengthFramer", "RdwFramer"]


class _LengthFramer(Framer):
    header_size: int = 2

    def _reset_state(self) -> None:
        self._need: int | None = None  # payload length once the header is read

    def _header_length(self, header: bytes, offset: int) -> int | str:
        """Payload length, or a reason why the header is unreadable."""
        raise NotImplementedError

    def _header(self, n: int) -> bytes:
        raise NotImplementedError

    #: big-endian binary prefix: decoded inline (the hot path of every TCP link)
    _binary = False

    def _parse(self, data: bytes, out: list[Event]) -> None:
        # parse straight from the new chunk when nothing is buffered (the common case), so
        # whole frames are copied once, into their payload
        if self._buf:
            self._buf += data
            src: bytes | bytearray = self._buf
        else:
            src = data
        view = memoryview(src)
        try:
            pos = self._scan(src, view, out)
        finally:
            view.release()
        rest = len(src) - pos
        if src is data:
            self._buf = bytearray(data[pos:]) if rest else bytearray()
        elif pos:
            del self._buf[:pos]
        self._base += pos

    def _scan(self, buf: bytes | bytearray, view: memoryview, out: list[Event]) -> int:
        pos = 0
        hs = self.header_size
        size = len(buf)
        binary = self._binary
        while True:
            if self._need is None:
                if size - pos < hs:
                    break
                start = self._base + pos
                if binary:
                    got: int | str = int.from_bytes(view[pos : pos + hs], "big")
                else:
                    got = self._header_length(bytes(view[pos : pos + hs]), start)
                if isinstance(got, str):
                    out.append(self._bad("bad-length", got, start, fatal=True))
                    return pos
                if got > self.max_frame:
                    out.append(
                        self._bad(
                            "too-long",
                            f"length prefix announces {got} bytes, max_frame is {self.max_frame}",
                            start,
                            fatal=True,
                        )
                    )
                    return pos
                self._need = got
            need = self._need
            if size - pos - hs < need:
                break
            out.append(Frame(bytes(view[pos + hs : pos + hs + need]), self._base + pos))
            pos += hs + need
            self._need = None
        return pos

    def encode(self, payload: bytes) -> bytes:
        self._check_encode_size(payload)
        return self._header(len(payload)) + payload


class BinaryLengthFramer(_LengthFramer):
    """``len2`` / ``len4``: big-endian unsigned length of the payload, then the payload."""

    def __init__(self, size: int, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if size not in (2, 4):
            raise FramingError(f"binary length prefix must be 2 or 4 bytes, got {size}")
        self.header_size = size
        self._binary = True
        self.name = f"len{size}"
        self.limit = (1 << (8 * size)) - 1
        super().__init__(max_frame)

    def _header_length(self, header: bytes, offset: int) -> int | str:
        return int.from_bytes(header, "big")

    def _header(self, n: int) -> bytes:
        return n.to_bytes(self.header_size, "big")


_EBCDIC_DIGITS = {0xF0 + d: d for d in range(10)}
_ASCII_DIGITS = {0x30 + d: d for d in range(10)}


class AsciiLengthFramer(_LengthFramer):
    """``ascii-len:N``: N decimal digits (ASCII, or EBCDIC F0-F9 with ``:cp037``), then payload."""

    def __init__(self, digits: int, encoding: str = "ascii", max_frame: int = DEFAULT_MAX_FRAME):
        if not 1 <= digits <= 9:
            raise FramingError(f"ascii-len needs 1..9 digits, got {digits}")
        if encoding not in ("ascii", "cp037"):
            raise FramingError(f"ascii-len digits must be ascii or cp037, got {encoding!r}")
        self.header_size = digits
        self.encoding = encoding
        self._digits = _EBCDIC_DIGITS if encoding == "cp037" else _ASCII_DIGITS
        self._zero = 0xF0 if encoding == "cp037" else 0x30
        self.name = f"ascii-len:{digits}" + (":cp037" if encoding == "cp037" else "")
        self.limit = 10**digits - 1
        super().__init__(max_frame)

    def _header_length(self, header: bytes, offset: int) -> int | str:
        n = 0
        for i, b in enumerate(header):
            d = self._digits.get(b)
            if d is None:
                return f"length prefix byte {i} is 0x{b:02X}, not a digit in {self.encoding}"
            n = n * 10 + d
        return n

    def _header(self, n: int) -> bytes:
        return bytes(self._zero + int(c) for c in str(n).rjust(self.header_size, "0"))


class RdwFramer(_LengthFramer):
    """``rdw``: IBM record descriptor word -- 2-byte length *including* the 4 RDW bytes, 0x0000."""

    name = "rdw"
    header_size = 4
    limit = 0xFFFF - 4

    def _header_length(self, header: bytes, offset: int) -> int | str:
        total = int.from_bytes(header[:2], "big")
        if header[2:] != b"\x00\x00":
            return f"RDW reserved bytes are {header[2:].hex()}, not 0000"
        if total < 4:
            return f"RDW length {total} is smaller than the RDW itself"
        return total - 4

    def _header(self, n: int) -> bytes:
        return (n + 4).to_bytes(2, "big") + b"\x00\x00"

    def encode(self, payload: bytes) -> bytes:
        if len(payload) > self.limit:
            raise FrameTooLong(
                f"payload of {len(payload)} bytes does not fit an RDW", format=self.name
            )
        return super().encode(payload)

"""Delimiter framings: ``stx-etx``, ``stx-etx+lrc``, ``mllp`` and ``line``.

These can resynchronise: bytes outside a frame are skipped (reported once as ``garbage`` when
the next frame starts), a frame that grows past ``max_frame`` is refused the moment it does and
the framer skips to the next start byte (``line``: to the next LF).  Payloads cannot contain
the delimiters -- there is no escaping in these line disciplines -- so :meth:`encode` refuses
them with :class:`~clets.errors.EncodeError` instead of sending a frame that would split.
"""

from __future__ import annotations

from clets.framing.base import DEFAULT_MAX_FRAME, Control, Event, Frame, Framer

__all__ = ["ACK", "ETX", "NAK", "STX", "DelimitedFramer", "LineFramer", "lrc", "mllp", "stx_etx"]

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
VT, FS, CR, LF = 0x0B, 0x1C, 0x0D, 0x0A

_HUNT, _IN, _CHECK, _TRAILER, _DISCARD = range(5)


def lrc(payload: bytes, end: int = ETX) -> int:
    """Longitudinal redundancy check: XOR of the payload bytes and the end byte.

    Folds the payload as one big integer so a 1 MiB frame costs a few C-level operations,
    not a million Python ones.
    """
    width = len(payload)
    x = int.from_bytes(payload, "big")
    while width > 1:
        half = (width + 1) // 2
        shift = 8 * half
        x = (x >> shift) ^ (x & ((1 << shift) - 1))
        width = half
    return x ^ end


class DelimitedFramer(Framer):
    """``start`` payload ``end`` [``trailer`` | LRC]; see :func:`stx_etx` and :func:`mllp`."""

    def __init__(
        self,
        name: str,
        start: int,
        end: int,
        *,
        trailer: int | None = None,
        with_lrc: bool = False,
        controls: frozenset[int] = frozenset(),
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.name = name
        self.start, self.end, self.trailer = start, end, trailer
        self.with_lrc = with_lrc
        self.controls = controls
        self._start_b, self._end_b = bytes((start,)), bytes((end,))
        super().__init__(max_frame)

    def _reset_state(self) -> None:
        self._state = _HUNT
        self._seen = 0  # stream offset of the chunk being parsed
        self._frame_start = 0
        self._garbage_start: int | None = None
        self._garbage = 0

    def _flush_garbage(self, out: list[Event]) -> None:
        if self._garbage_start is not None:
            out.append(
                self._bad(
                    "garbage",
                    f"{self._garbage} byte(s) outside a frame skipped",
                    self._garbage_start,
                )
            )
            self._garbage_start = None
            self._garbage = 0

    def _begin(self, abs_pos: int) -> None:
        self._state = _IN
        self._frame_start = abs_pos
        self._buf = bytearray()

    def _parse(self, data: bytes, out: list[Event]) -> None:
        i, n, base = 0, len(data), self._seen
        while i < n:
            st = self._state
            if st == _HUNT:
                b = data[i]
                if b == self.start:
                    self._flush_garbage(out)
                    self._begin(base + i)
                elif b in self.controls:
                    self._flush_garbage(out)
                    out.append(Control(b, base + i))
                else:
                    if self._garbage_start is None:
                        self._garbage_start = base + i
                    self._garbage += 1
                i += 1
            elif st == _IN:
                j_end = data.find(self._end_b, i)
                j_start = data.find(self._start_b, i)
                cands = [j for j in (j_end, j_start) if j >= 0]
                j = min(cands) if cands else n
                if len(self._buf) + (j - i) > self.max_frame:
                    out.append(
                        self._bad(
                            "too-long",
                            f"frame longer than max_frame {self.max_frame}",
                            self._frame_start,
                        )
                    )
                    self._buf = bytearray()
                    self._state = _DISCARD
                    continue
                self._buf += data[i:j]
                if j == n:
                    break
                if data[j] == self.start:
                    out.append(
                        self._bad(
                            "truncated",
                            "frame ended by a new start byte before its end byte",
                            self._frame_start,
                        )
                    )
                    self._begin(base + j)
                elif self.with_lrc:
                    self._state = _CHECK
                elif self.trailer is not None:
                    self._state = _TRAILER
                else:
                    self._deliver(out)
                i = j + 1
            elif st == _CHECK:
                want = lrc(bytes(self._buf), self.end)
                got = data[i]
                if got == want:
                    self._deliver(out)
                else:
                    out.append(
                        self._bad(
                            "lrc",
                            f"LRC is 0x{got:02X}, payload gives 0x{want:02X}",
                            self._frame_start,
                        )
                    )
                    self._buf = bytearray()
                    self._state = _HUNT
                i += 1
            elif st == _TRAILER:
                if data[i] == self.trailer:
                    self._deliver(out)
                    i += 1
                else:
                    out.append(
                        self._bad(
                            "bad-trailer",
                            f"end byte not followed by 0x{self.trailer:02X}",
                            self._frame_start,
                        )
                    )
                    self._buf = bytearray()
                    self._state = _HUNT  # re-read this byte: it may start the next frame
            else:  # _DISCARD: skip the rest of a refused frame, up to the next start byte
                j = data.find(self._start_b, i)
                if j < 0:
                    break
                self._begin(base + j)
                i = j + 1
        self._seen = base + n

    def _deliver(self, out: list[Event]) -> None:
        out.append(Frame(bytes(self._buf), self._frame_start))
        self._buf = bytearray()
        self._state = _HUNT

    def encode(self, payload: bytes) -> bytes:
        self._check_encode_size(payload)
        self._check_no_byte(payload, bytes((self.start, self.end)))
        tail = b""
        if self.with_lrc:
            tail = bytes((lrc(payload, self.end),))
        elif self.trailer is not None:
            tail = bytes((self.trailer,))
        return self._start_b + payload + self._end_b + tail

    @property
    def ack(self) -> bytes:
        return bytes((ACK,))

    @property
    def nak(self) -> bytes:
        return bytes((NAK,))


def stx_etx(with_lrc: bool = False, max_frame: int = DEFAULT_MAX_FRAME) -> DelimitedFramer:
    """0x02 payload 0x03 [LRC]; with the LRC, ACK/NAK bytes between frames become events."""
    return DelimitedFramer(
        "stx-etx+lrc" if with_lrc else "stx-etx",
        STX,
        ETX,
        with_lrc=with_lrc,
        controls=frozenset({ACK, NAK}) if with_lrc else frozenset(),
        max_frame=max_frame,
    )


def mllp(max_frame: int = DEFAULT_MAX_FRAME) -> DelimitedFramer:
    """HL7 minimal lower layer protocol: 0x0B payload 0x1C 0x0D."""
    return DelimitedFramer("mllp", VT, FS, trailer=CR, max_frame=max_frame)


class LineFramer(Framer):
    """``line``: payload then CR LF, as teletypes send it.

    On input a bare LF also ends a line and *one* CR before the LF is removed, so ``abc\\r\\n``
    and ``abc\\n`` both give ``abc``.  Empty lines are empty frames.  Payloads may not contain
    CR or LF (refused by :meth:`encode`).
    """

    name = "line"

    def _reset_state(self) -> None:
        self._discard = False
        self._seen = 0
        self._line_start = 0

    def _too_long(self) -> bool:
        n = len(self._buf)
        return n > self.max_frame + 1 or (n == self.max_frame + 1 and self._buf[-1] != CR)

    def _parse(self, data: bytes, out: list[Event]) -> None:
        i, n, base = 0, len(data), self._seen
        while i < n:
            j = data.find(b"\n", i)
            if self._discard:
                if j < 0:
                    break
                self._discard = False
                self._line_start = base + j + 1
                i = j + 1
                continue
            end = n if j < 0 else j
            # never buffer more than one byte past the maximum
            stop = min(end, i + self.max_frame + 2 - len(self._buf))
            self._buf += data[i:stop]
            if self._too_long():
                out.append(
                    self._bad(
                        "too-long", f"line longer than max_frame {self.max_frame}", self._line_start
                    )
                )
                self._buf = bytearray()
                self._discard = True
                i = stop
                continue
            if j < 0:
                break
            line = bytes(self._buf)
            if line.endswith(b"\r"):
                line = line[:-1]
            out.append(Frame(line, self._line_start))
            self._buf = bytearray()
            self._line_start = base + j + 1
            i = j + 1
        self._seen = base + n

    def encode(self, payload: bytes) -> bytes:
        self._check_encode_size(payload)
        self._check_no_byte(payload, b"\r\n")
        return payload + b"\r\n"

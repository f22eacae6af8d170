"""Mainframe record formats, incrementally: bytes in any chunks -> records, and back.

A dataset transferred in binary keeps its record format: ``F``/``FB`` (fixed length, blocks
are just records back to back), ``V`` (each record behind a 4-byte Record Descriptor Word) and
``VB`` (blocks behind a 4-byte Block Descriptor Word, each holding RDW records), and the
spanned ``VS``/``VBS``, where a record longer than a block is cut into segments whose RDW's
third byte says which part each is (0 whole, 1 first, 3 middle, 2 last); ``D`` is an ASCII
file of lines (LF or CR LF), Cobrix's record_format D.  Files are
big (gigabytes of records), so :class:`RecordSplitter` is sans-I/O and incremental: ``feed()``
it chunks of any size and it returns the complete records found so far, each as
``(record_number, byte_offset, record_bytes)`` (1-based number; the offset of the record's first
data byte in the whole stream, so a field's file offset is ``byte_offset + field offset``);
``close()`` at the end says whether the stream stopped inside a record.  Memory stays at one
chunk plus one record whatever the file size.

Descriptor words, as IBM z/OS DFSMS defines them:

* RDW: 2-byte big-endian length *including* the 4 RDW bytes, then 2 zero bytes (in VS/VBS the
  third byte is the segment descriptor; in V/VB a non-zero one is refused, naming VS/VBS);
* BDW: 2-byte length including the BDW, 2 zero bytes; or, when the top bit is set, the extended
  (large block) form: a 31-bit length in all 4 bytes.

Files that did not come straight from z/OS vary, so like Cobrix we take options: a
little-endian length (``rdw_byteorder="little"``), a length that excludes the header
(``rdw_includes_header=False``), a constant ``rdw_adjustment``, and ``strict=False`` to ignore
non-zero reserved bytes; ``start_offset`` / ``end_offset`` skip a file header and trailer
(Cobrix's ``file_start_offset`` / ``file_end_offset``).  Every problem is a
:class:`RecordError` (a DecodeError) naming the record number and the byte offset of the bad
descriptor or truncated record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from clets.errors import DecodeError, EncodeError

__all__ = [
    "FORMATS",
    "RecordError",
    "RecordFormat",
    "RecordJoiner",
    "RecordSplitter",
    "iter_records",
    "join_records",
    "split_records",
]

FORMATS = ("F", "FB", "V", "VB", "VS", "VBS", "D")
#: the largest record an RDW describes on z/OS (LRECL 32756 + 4)
MAX_RDW = 32760


class RecordError(DecodeError):
    """A record stream out of step: bad descriptor word, truncated record or block.

    ``record`` is the 1-based number of the record being read; ``offset`` the byte offset in
    the stream of the descriptor or record at fault.
    """

    def __init__(self, reason: str, *, record: int, offset: int, format: str,
                 data: bytes | None = None) -> None:
        super().__init__(f"record {record}: {reason}", format=format, offset=offset, data=data)
        self.record = record


@dataclass(frozen=True, slots=True)
class RecordFormat:
    """How records are delimited; ``length`` is the record length for F/FB."""

    format: str = "F"
    length: int | None = None
    rdw_byteorder: str = "big"
    rdw_includes_header: bool = True
    rdw_adjustment: int = 0
    strict: bool = True
    max_record: int = 1 << 20
    block_size: int = 32760  # for writing VB
    start_offset: int = 0  # bytes of a file header before the first record (skipped)
    end_offset: int = 0  # bytes of a file trailer after the last record (skipped)

    def __post_init__(self) -> None:
        fmt = self.format.upper()
        if fmt not in FORMATS:
            raise ValueError(f"record format {self.format!r}: expected one of "
                             f"{', '.join(FORMATS)}")
        object.__setattr__(self, "format", fmt)
        if fmt in ("F", "FB") and (self.length is None or self.length < 1):
            raise ValueError(f"record format {fmt} needs a record length of at least 1")
        if self.rdw_byteorder not in ("big", "little"):
            raise ValueError(f"rdw_byteorder {self.rdw_byteorder!r}: expected big or little")
        if self.start_offset < 0 or self.end_offset < 0:
            raise ValueError("start_offset and end_offset must not be negative")
        if self.max_record < 1:
            raise ValueError("max_record must be at least 1")
        if fmt in ("VB", "VBS") and not 8 <= self.block_size <= 0x7FFFFFFF:
            raise ValueError(f"block_size {self.block_size}: expected 8 to 2**31-1")
        least = {"VS": 5, "VBS": 9}.get(fmt, 0)  # room for a descriptor and one data byte
        if self.block_size < least:
            raise ValueError(f"block_size {self.block_size}: format {fmt} needs at least "
                             f"{least}")

    @property
    def variable(self) -> bool:
        return self.format not in ("F", "FB", "D")

    @property
    def blocked(self) -> bool:
        return self.format in ("VB", "VBS")

    @property
    def spanned(self) -> bool:
        return self.format in ("VS", "VBS")


Record = tuple[int, int, bytes]


class RecordSplitter:
    """Incremental splitter: ``feed(chunk)`` -> complete records; ``close()`` -> the rest."""

    def __init__(self, fmt: RecordFormat) -> None:
        self.fmt = fmt
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._number = 0  # records returned so far
        self._block_left = 0  # VB: bytes of the current block not read yet
        self._block_at = 0
        self._segment = 0  # VS/VBS: the last segment code: 0 whole, 1 first, 3 middle, 2 last
        self._pending: bytearray | None = None  # VS/VBS: a record whose last segment is to come
        self._pending_at = 0
        self._scanned = 0  # D: bytes of _buf known to hold no newline
        self._closed = False
        self._skip = fmt.start_offset
        self._order: Literal["big", "little"] = (
            "big" if fmt.rdw_byteorder == "big" else "little")
        self._big = self._order == "big"
        self._adjust = fmt.rdw_adjustment - (4 if fmt.rdw_includes_header else 0)

    @property
    def records(self) -> int:
        """Records returned so far."""
        return self._number

    @property
    def offset(self) -> int:
        """Bytes of the stream consumed (fully split) so far."""
        return self._base

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Record]:
        if self._closed:
            raise ValueError("feed() after close()")
        if self._skip:  # the file's header (start_offset): dropped, but counted in offsets
            drop = min(self._skip, len(chunk))
            chunk = memoryview(chunk)[drop:]
            self._skip -= drop
            self._base += drop
        self._buf += chunk
        out: list[Record] = []
        pos = self._split(out)
        if pos:
            del self._buf[:pos]
            self._base += pos
        return out

    def close(self) -> list[Record]:
        """The end of the stream: RecordError if it stops inside a record or block."""
        self._closed = True
        fmt = self.fmt.format
        tail = self.fmt.end_offset
        if self._skip or len(self._buf) < tail:
            raise RecordError(f"the stream is shorter than its header and trailer "
                              f"({self.fmt.start_offset} + {tail} bytes)",
                              record=self._number + 1, offset=self._base, format=fmt)
        if tail:
            del self._buf[len(self._buf) - tail:]  # the file's trailer (end_offset)
        if fmt == "D" and self._buf:  # a last line without its newline is a record too
            line = bytes(self._buf).removesuffix(b"\r")
            self._number += 1
            self._buf.clear()
            return [(self._number, self._base, line)]
        if self._buf:
            n = self._number + 1
            if fmt in ("F", "FB"):
                raise RecordError(f"the stream ends {len(self._buf)} bytes into a record of "
                                  f"{self.fmt.length}", record=n, offset=self._base,
                                  format=fmt, data=bytes(self._buf[:64]))
            raise RecordError(f"the stream ends inside a record ({len(self._buf)} bytes left)",
                              record=n, offset=self._base, format=fmt,
                              data=bytes(self._buf[:64]))
        if self._pending is not None:
            raise RecordError("the stream ends before the last segment of a spanned record",
                              record=self._number + 1, offset=self._pending_at, format=fmt)
        if self._block_left:
            raise RecordError(f"the stream ends {self._block_left} bytes before the end of the "
                              f"block at offset {self._block_at}", record=self._number + 1,
                              offset=self._block_at, format=fmt)
        return []

    # ------------------------------------------------------------------ parsing

    def _split(self, out: list[Record]) -> int:
        buf, fmt = self._buf, self.fmt
        end = max(0, len(buf) - fmt.end_offset)  # the last end_offset bytes: the trailer
        if fmt.format == "D":
            return self._lines(buf, end, out)
        if fmt.format in ("F", "FB"):
            size = fmt.length
            assert size is not None
            count = end // size
            base, n = self._base, self._number
            out.extend((n + i + 1, base + i * size, bytes(buf[i * size:(i + 1) * size]))
                       for i in range(count))
            self._number += count
            return count * size
        pos = 0
        blocked = fmt.blocked
        while True:
            if blocked and not self._block_left:
                if end - pos < 4:
                    return pos
                self._block_left = self._bdw(buf, pos) - 4
                self._block_at = self._base + pos
                pos += 4
                continue
            if end - pos < 4:
                return pos
            length = self._rdw(buf, pos)
            if blocked and length + 4 > self._block_left:
                raise RecordError(f"a record of {length} bytes (RDW at offset "
                                  f"{self._base + pos}) runs past the end of its block "
                                  f"({self._block_left} bytes left of the block at offset "
                                  f"{self._block_at})", record=self._number + 1,
                                  offset=self._base + pos, format=fmt.format,
                                  data=bytes(buf[pos:pos + 4]))
            if end - pos < 4 + length:
                return pos
            data = bytes(buf[pos + 4:pos + 4 + length])
            if fmt.spanned:
                self._span(data, self._base + pos)
            if not fmt.spanned or self._segment == 0:
                self._number += 1
                out.append((self._number, self._base + pos + 4, data))
            elif self._segment == 2:
                assert self._pending is not None
                self._number += 1
                out.append((self._number, self._pending_at + 4, bytes(self._pending)))
                self._pending = None
            pos += 4 + length
            if blocked:
                self._block_left -= 4 + length

    def _lines(self, buf: bytearray, end: int, out: list[Record]) -> int:
        """D: text lines ending in LF or CR LF (an ASCII file written line by line)."""
        pos = 0
        while True:
            nl = buf.find(b"\n", max(pos, self._scanned), end)
            if nl < 0:
                self._scanned = max(0, end - pos)  # relative to the next call's buffer start
                if end - pos > self.fmt.max_record + 1:
                    raise RecordError(f"a line longer than the limit of {self.fmt.max_record} "
                                      "bytes", record=self._number + 1,
                                      offset=self._base + pos, format="D")
                return pos
            self._scanned = 0
            line = bytes(buf[pos:nl]).removesuffix(b"\r")
            if len(line) > self.fmt.max_record:
                raise RecordError(f"a line of {len(line)} bytes, over the limit of "
                                  f"{self.fmt.max_record}", record=self._number + 1,
                                  offset=self._base + pos, format="D")
            self._number += 1
            out.append((self._number, self._base + pos, line))
            pos = nl + 1

    def _span(self, data: bytes, where: int) -> None:
        """VS/VBS: join a segment to the record it belongs to, or say why it cannot."""
        code = self._segment
        if code == 0 or code == 1:
            if self._pending is not None:
                raise RecordError(f"a {'whole record' if code == 0 else 'first segment'} while "
                                  f"the spanned record at offset {self._pending_at} still "
                                  "waits for its last segment", record=self._number + 1,
                                  offset=where, format=self.fmt.format)
            if code == 1:
                self._pending, self._pending_at = bytearray(data), where
            return
        if self._pending is None:
            raise RecordError(f"a {'middle' if code == 3 else 'last'} segment with no first "
                              "segment before it", record=self._number + 1, offset=where,
                              format=self.fmt.format)
        if len(self._pending) + len(data) > self.fmt.max_record:
            raise RecordError(f"a spanned record over the limit of {self.fmt.max_record} bytes",
                              record=self._number + 1, offset=self._pending_at,
                              format=self.fmt.format)
        self._pending += data

    def _rdw(self, buf: bytearray, pos: int) -> int:
        """Data length of the record whose RDW starts at ``pos``."""
        if not (buf[pos + 2] or buf[pos + 3]):  # the usual RDW: no bytes object, no checks
            high, low = (buf[pos], buf[pos + 1]) if self._big else (buf[pos + 1], buf[pos])
            data = (high << 8 | low) + self._adjust
            if 0 <= data <= self.fmt.max_record:
                self._segment = 0
                return data
        fmt = self.fmt
        raw = bytes(buf[pos:pos + 4])
        length, reserved = int.from_bytes(raw[:2], self._order), raw[2:]
        where = self._base + pos
        self._segment = 0
        if fmt.spanned and reserved[0] in (0, 1, 2, 3) and (reserved[1] == 0 or not fmt.strict):
            self._segment = reserved[0]  # the segment descriptor: whole, first, last, middle
        elif fmt.strict and reserved != b"\0\0":
            what = ("a spanned-record segment: read the file as VS or VBS"
                    if reserved[0] in (1, 2, 3) and not fmt.spanned else "must be zero")
            raise RecordError(f"RDW bytes 3-4 are {reserved.hex().upper()}: {what}",
                              record=self._number + 1, offset=where + 2, format="rdw",
                              data=raw)
        data = length + fmt.rdw_adjustment - (4 if fmt.rdw_includes_header else 0)
        if data < 0:
            raise RecordError(f"RDW length {length} is less than its own 4 bytes", record=
                              self._number + 1, offset=where, format="rdw", data=raw)
        if data > fmt.max_record:
            raise RecordError(f"RDW length {length}: a record of {data} bytes is over the "
                              f"limit of {fmt.max_record}", record=self._number + 1,
                              offset=where, format="rdw", data=raw)
        return data

    def _bdw(self, buf: bytearray, pos: int) -> int:
        """Total length (BDW included) of the block whose BDW starts at ``pos``."""
        raw = bytes(buf[pos:pos + 4])
        where = self._base + pos
        big = self.fmt.rdw_byteorder == "big"
        if big and raw[0] & 0x80:  # extended BDW: 31-bit length
            length = int.from_bytes(raw, "big") & 0x7FFFFFFF
        else:
            length = int.from_bytes(raw[:2], self._order)
            if self.fmt.strict and raw[2:] != b"\0\0":
                raise RecordError(f"BDW bytes 3-4 are {raw[2:].hex().upper()}: must be zero",
                                  record=self._number + 1, offset=where + 2, format="bdw",
                                  data=raw)
        if length < 4:
            raise RecordError(f"BDW length {length} is less than its own 4 bytes", record=
                              self._number + 1, offset=where, format="bdw", data=raw)
        return length  # blocks are read record by record, so their size costs no memory


def iter_records(chunks: Iterable[bytes], fmt: RecordFormat) -> Iterator[Record]:
    """Records of a stream given as chunks (a file read in pieces), flat memory."""
    splitter = RecordSplitter(fmt)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.close()


def split_records(data: bytes, fmt: RecordFormat) -> list[bytes]:
    """The records of a whole stream in memory (tests, small files)."""
    return [r for _, _, r in iter_records([data], fmt)]


# ====================================================================== writing


class RecordJoiner:
    """Incremental writer: ``add(record)`` -> bytes to write now; ``close()`` -> the rest.

    VB blocks are filled up to ``block_size`` bytes (BDW included) and written when the next
    record would not fit, so the output has the same shape a z/OS QSAM writer gives.  VBS
    records are cut into segments that fill each block; VS segments are at most
    ``block_size`` bytes (RDW included).
    """

    def __init__(self, fmt: RecordFormat) -> None:
        self.fmt = fmt
        self._block: list[bytes] = []
        self._block_len = 4
        self._number = 0

    def _rdw(self, record: bytes | memoryview, segment: int = 0) -> bytes:
        fmt = self.fmt
        length = len(record) + (4 if fmt.rdw_includes_header else 0) - fmt.rdw_adjustment
        if (len(record) > fmt.max_record and not segment) or not 0 <= length <= 0xFFFF:
            raise EncodeError(f"record {self._number}: {len(record)} bytes do not fit an RDW "
                              f"(at most {min(fmt.max_record, 0xFFFF - 4)})", format="rdw")
        order: Literal["big", "little"] = "big" if fmt.rdw_byteorder == "big" else "little"
        return length.to_bytes(2, order) + bytes([segment, 0])

    def _add_spanned(self, record: bytes) -> bytes:
        """VS: segments of at most ``block_size`` bytes; VBS: segments that fill each block."""
        fmt = self.fmt
        if len(record) > fmt.max_record:
            raise EncodeError(f"record {self._number} is {len(record)} bytes, over the limit of "
                              f"{fmt.max_record}", format=fmt.format)
        out: list[bytes] = []
        rest = memoryview(bytes(record))
        first = True
        while True:
            if fmt.blocked:
                room = fmt.block_size - self._block_len - 4
                if room < 0 or (room == 0 and len(rest)):
                    out.append(self._flush())
                    continue
            else:
                room = min(fmt.block_size, 0xFFFF) - 4
            last = len(rest) <= room
            piece = rest if last else rest[:room]
            code = (0 if first else 2) if last else (1 if first else 3)
            framed = self._rdw(piece, code) + bytes(piece)
            if fmt.blocked:
                self._block.append(framed)
                self._block_len += len(framed)
                if not last:
                    out.append(self._flush())
            else:
                out.append(framed)
            if last:
                return b"".join(out)
            rest, first = rest[room:], False

    def add(self, record: bytes) -> bytes:
        self._number += 1
        fmt = self.fmt
        if fmt.format in ("F", "FB"):
            if len(record) != fmt.length:
                raise EncodeError(f"record {self._number} is {len(record)} bytes; format "
                                  f"{fmt.format} has records of {fmt.length}",
                                  format=fmt.format)
            return bytes(record)
        if fmt.format == "D":
            if b"\n" in record or len(record) > fmt.max_record:
                raise EncodeError(f"record {self._number} holds a newline or is over "
                                  f"{fmt.max_record} bytes: it cannot be a line", format="D")
            return bytes(record) + b"\n"
        if fmt.spanned:
            return self._add_spanned(record)
        framed = self._rdw(record) + bytes(record)
        if fmt.format == "V":
            return framed
        if 4 + len(framed) > fmt.block_size:
            raise EncodeError(f"record {self._number} ({len(record)} bytes) does not fit a "
                              f"block of {fmt.block_size}", format="VB")
        out = b""
        if self._block_len + len(framed) > fmt.block_size:
            out = self._flush()
        self._block.append(framed)
        self._block_len += len(framed)
        return out

    def _flush(self) -> bytes:
        if not self._block:
            return b""
        order: Literal["big", "little"] = (
            "big" if self.fmt.rdw_byteorder == "big" else "little")
        if self._block_len > 0x7FFF and order == "big":
            bdw = (self._block_len | 0x80000000).to_bytes(4, "big")  # extended BDW
        else:
            bdw = self._block_len.to_bytes(2, order) + b"\0\0"
        data = bdw + b"".join(self._block)
        self._block, self._block_len = [], 4
        return data

    def close(self) -> bytes:
        return self._flush()


def join_records(records: Iterable[bytes], fmt: RecordFormat) -> bytes:
    """A whole stream of the given records."""
    joiner = RecordJoiner(fmt)
    return b"".join([joiner.add(r) for r in records] + [joiner.close()])

"""Incremental record splitting for the copybook CLI: F/FB (fixed length), V (RDW), VB (BDW +
RDW), fed chunk by chunk so that a file of any size streams with flat memory.

Sans-I/O: ``feed(chunk)`` returns the whole records the chunk completes as
``(record_number, byte_offset, record_bytes)`` (the offset of the record in the stream: of its
RDW for V/VB); ``close()`` checks that nothing is left over.
A bad RDW or BDW is a :class:`~clets.errors.FramingError` naming the byte offset, since after
one the stream is out of step.  (h-cpytypes's records.py is the project's splitter for the
field level; this one is what the CLI uses until the two are merged.)
"""

from __future__ import annotations

from clets.errors import FramingError

__all__ = ["RecordSplitter", "join_records"]

FORMATS = ("F", "FB", "V", "VB")


class RecordSplitter:
    """Splits a byte stream into records of one record format."""

    def __init__(self, fmt: str, lrecl: int = 0) -> None:
        fmt = fmt.upper()
        if fmt not in FORMATS:
            raise ValueError(f"record format {fmt!r}: one of {', '.join(FORMATS)}")
        if fmt in ("F", "FB") and lrecl < 1:
            raise ValueError("fixed-length records need a record length")
        self.fmt = fmt
        self.lrecl = lrecl
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]
        self._number = 0
        self._block_end = -1  # stream offset where the current VB block ends

    def feed(self, chunk: bytes) -> list[tuple[int, int, bytes]]:
        self._buf += chunk
        out: list[tuple[int, int, bytes]] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        while True:
            here = self._base + pos
            if self.fmt in ("F", "FB"):
                if n - pos < self.lrecl:
                    break
                self._number += 1
                out.append((self._number, here, bytes(buf[pos:pos + self.lrecl])))
                pos += self.lrecl
                continue
            if self.fmt == "VB" and here >= self._block_end:
                if n - pos < 4:
                    break
                blen = int.from_bytes(buf[pos:pos + 2], "big")
                if blen & 0x8000:
                    raise FramingError("large-block BDW (bit 0 set) not supported",
                                       format="bdw", offset=here)
                if buf[pos + 2:pos + 4] != b"\0\0" or blen < 8:
                    raise FramingError(f"bad BDW {bytes(buf[pos:pos + 4]).hex()} (length "
                                       f"{blen}, bytes 3-4 must be zero)", format="bdw",
                                       offset=here)
                self._block_end = here + blen
                pos += 4
                continue
            if n - pos < 4:
                break
            rlen = int.from_bytes(buf[pos:pos + 2], "big")
            if buf[pos + 2:pos + 4] != b"\0\0" or rlen < 4:
                raise FramingError(f"bad RDW {bytes(buf[pos:pos + 4]).hex()} (length {rlen}, "
                                   "bytes 3-4 must be zero)", format="rdw", offset=here)
            if self.fmt == "VB" and here + rlen > self._block_end:
                raise FramingError(f"record of {rlen} bytes runs past its block (block ends "
                                   f"at {self._block_end})", format="bdw", offset=here)
            if n - pos < rlen:
                break
            self._number += 1
            out.append((self._number, here, bytes(buf[pos + 4:pos + rlen])))
            pos += rlen
        del buf[:pos]
        self._base += pos
        return out

    def close(self) -> None:
        if self._buf:
            raise FramingError(f"{len(self._buf)} bytes left at the end of the data (a "
                               "truncated record)", offset=self._base)


def join_records(records: list[bytes], fmt: str, lrecl: int = 0, pad: bytes = b"\x40",
                 block: int = 32760) -> bytes:
    """Records in a record format: F/FB padded to ``lrecl``; V with RDWs; VB blocked."""
    fmt = fmt.upper()
    if fmt in ("F", "FB"):
        out = bytearray()
        for r in records:
            if len(r) > lrecl:
                raise ValueError(f"record of {len(r)} bytes is longer than LRECL {lrecl}")
            out += r + pad * (lrecl - len(r))
        return bytes(out)
    rdws = [(len(r) + 4).to_bytes(2, "big") + b"\0\0" + r for r in records]
    if fmt == "V":
        return b"".join(rdws)
    out = bytearray()
    cur: list[bytes] = []
    size = 4
    for r in rdws:
        if cur and size + len(r) > block:
            out += size.to_bytes(2, "big") + b"\0\0" + b"".join(cur)
            cur, size = [], 4
        cur.append(r)
        size += len(r)
    if cur:
        out += size.to_bytes(2, "big") + b"\0\0" + b"".join(cur)
    return bytes(out)

"""IBM record descriptor words (RECFM=V/VB): pure split and join.

An RDW is 4 bytes: a big-endian length that INCLUDES the 4 RDW bytes, then two zero bytes.
Mainframe transfers in binary mode keep them; a bad one means the stream is out of step, so
the error names the byte offset where it was found.
"""

from __future__ import annotations

from clets.errors import DecodeError, EncodeError

__all__ = ["MAX_RDW_LENGTH", "join_rdw", "looks_like_rdw", "split_rdw"]

#: the largest record length an RDW may state (z/OS limit for RECFM=V)
MAX_RDW_LENGTH = 32760


def split_rdw(data: bytes) -> list[bytes]:
    """Payloads of an RDW stream, in order; DecodeError with the offset of a bad RDW."""
    out: list[bytes] = []
    offset = 0
    view = bytes(data)
    while offset < len(view):
        if len(view) - offset < 4:
            raise DecodeError(f"truncated RDW ({len(view) - offset} bytes left)", format="rdw",
                              offset=offset)
        length = int.from_bytes(view[offset:offset + 2], "big")
        if view[offset + 2:offset + 4] != b"\0\0":
            raise DecodeError("RDW bytes 3-4 must be zero", format="rdw", offset=offset + 2)
        if length < 4 or length > MAX_RDW_LENGTH:
            raise DecodeError(f"RDW length {length} outside 4..{MAX_RDW_LENGTH}", format="rdw",
                              offset=offset)
        if offset + length > len(view):
            raise DecodeError(f"record of {length} bytes runs past the end of the data "
                              f"({len(view) - offset} left)", format="rdw", offset=offset)
        out.append(view[offset + 4:offset + length])
        offset += length
    return out


def join_rdw(records: list[bytes]) -> bytes:
    """An RDW stream of the given payloads."""
    parts = []
    for i, rec in enumerate(records):
        length = len(rec) + 4
        if length > MAX_RDW_LENGTH:
            raise EncodeError(f"record {i} is {len(rec)} bytes; an RDW holds at most "
                              f"{MAX_RDW_LENGTH - 4}", format="rdw")
        parts.append(length.to_bytes(2, "big") + b"\0\0" + bytes(rec))
    return b"".join(parts)


def looks_like_rdw(data: bytes, record_length: int) -> bool:
    """Whether ``data`` starts with an RDW for a record of ``record_length`` bytes."""
    return (len(data) >= 4 and data[2:4] == b"\0\0"
            and int.from_bytes(data[:2], "big") == record_length + 4)

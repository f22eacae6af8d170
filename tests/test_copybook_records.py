"""Record formats F, FB, V, VB: split(join(records)) == records, in any chunking, typed errors."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.codecs.copybook.records import (
    RecordError,
    RecordFormat,
    RecordJoiner,
    RecordSplitter,
    iter_records,
    join_records,
    split_records,
)
from clets.errors import DecodeError, EncodeError


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


# ---------------------------------------------------------------- worked examples


def test_v_by_hand() -> None:
    data = bytes.fromhex("00070000") + b"ABC" + bytes.fromhex("00040000") + (
        bytes.fromhex("00060000") + b"DE")
    fmt = RecordFormat("V")
    assert list(iter_records([data], fmt)) == [(1, 4, b"ABC"), (2, 11, b""), (3, 15, b"DE")]
    assert join_records([b"ABC", b"", b"DE"], fmt) == data


def test_vb_by_hand() -> None:
    # one block of two records: BDW 4 + (4+3) + (4+2) = 17 bytes
    data = bytes.fromhex("00110000") + bytes.fromhex("00070000") + b"ABC" + bytes.fromhex(
        "00060000") + b"DE"
    fmt = RecordFormat("VB")
    assert list(iter_records([data], fmt)) == [(1, 8, b"ABC"), (2, 15, b"DE")]
    assert join_records([b"ABC", b"DE"], fmt) == data


def test_vb_blocks_are_filled_to_the_block_size() -> None:
    fmt = RecordFormat("VB", block_size=20)
    data = join_records([b"A" * 6, b"B" * 6, b"C"], fmt)
    # block 1: 4 + 10 = 14, a second 10 would make 24 > 20; block 2: 4 + 10 + 5 = 19
    assert data[:2] == (14).to_bytes(2, "big") and data[14:16] == (19).to_bytes(2, "big")
    assert split_records(data, fmt) == [b"A" * 6, b"B" * 6, b"C"]


def test_extended_bdw() -> None:
    fmt = RecordFormat("VB", block_size=100_000)
    records = [bytes([i]) * 20_000 for i in range(3)]
    data = join_records(records, fmt)
    assert data[0] & 0x80  # 60 016 bytes: the large-block form
    assert int.from_bytes(data[:4], "big") & 0x7FFFFFFF == 4 + 3 * 20_004
    assert split_records(data, fmt) == records


def test_vs_by_hand() -> None:
    """A record cut in three segments (first 1, middle 3, last 2), then a whole one (0)."""
    data = (b"\x00\x06\x01\x00AB" + b"\x00\x06\x03\x00CD" + b"\x00\x05\x02\x00E"
            + b"\x00\x05\x00\x00Z")
    fmt = RecordFormat("VS")
    assert list(iter_records([data], fmt)) == [(1, 4, b"ABCDE"), (2, 21, b"Z")]
    assert join_records([b"ABCDE", b"Z"], RecordFormat("VS", block_size=7)) == (
        b"\x00\x07\x01\x00ABC" + b"\x00\x06\x02\x00DE" + b"\x00\x05\x00\x00Z")
    assert split_records(join_records([b"ABCDE", b"Z"], RecordFormat("VS", block_size=9)),
                         fmt) == [b"ABCDE", b"Z"]


def test_vbs_segments_fill_blocks() -> None:
    fmt = RecordFormat("VBS", block_size=20)
    records = [b"A" * 30, b"", b"B" * 5, b"C" * 12]
    data = join_records(records, fmt)
    # worked by hand: A*30 is 12 + 12 + 6 over three blocks (20, 20, 10 + the empty record's
    # 4 = 18); B*5 does not fit the 2 bytes left, so a new block (9), where C*12 starts with
    # 3 bytes (20) and ends in the last block (4 + 9 = 13, + BDW = 17)
    pos, sizes = 0, []
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 2], "big")
        sizes.append(size)
        pos += size
    assert sizes == [20, 20, 18, 20, 17]
    assert split_records(data, fmt) == records


def test_d_text_lines() -> None:
    fmt = RecordFormat("D")
    data = b"AB\r\nCD\n\nEF"
    assert list(iter_records([data], fmt)) == [(1, 0, b"AB"), (2, 4, b"CD"), (3, 7, b""),
                                                (4, 8, b"EF")]
    assert join_records([b"AB", b"CD"], fmt) == b"AB\nCD\n"
    with pytest.raises(EncodeError):
        join_records([b"A\nB"], fmt)
    with pytest.raises(RecordError, match="longer than the limit"):
        RecordSplitter(RecordFormat("D", max_record=10)).feed(b"X" * 20)
    # a long line fed a byte at a time (each byte is scanned once: linear, not quadratic)
    splitter = RecordSplitter(fmt)
    for b in b"Y" * 5000:
        assert splitter.feed(bytes([b])) == []
    assert splitter.feed(b"\n") == [(1, 0, b"Y" * 5000)]


def test_f_and_fb() -> None:
    fmt = RecordFormat("FB", 3)
    assert list(iter_records([b"ABCDEF"], fmt)) == [(1, 0, b"ABC"), (2, 3, b"DEF")]
    with pytest.raises(RecordError) as exc:
        split_records(b"ABCDE", fmt)
    assert exc.value.record == 2 and exc.value.offset == 3 and "2 bytes into" in str(exc.value)


def test_rdw_variants_as_cobrix_offers() -> None:
    little = RecordFormat("V", rdw_byteorder="little")
    assert join_records([b"AB"], little) == b"\x06\x00\x00\x00AB"
    excl = RecordFormat("V", rdw_includes_header=False)
    assert join_records([b"AB"], excl) == b"\x00\x02\x00\x00AB"
    assert split_records(b"\x00\x02\x00\x00AB", excl) == [b"AB"]
    adj = RecordFormat("V", rdw_includes_header=False, rdw_adjustment=-1)
    assert split_records(b"\x00\x03\x00\x00AB", adj) == [b"AB"]
    loose = RecordFormat("V", strict=False)
    assert split_records(b"\x00\x06\x12\x34AB", loose) == [b"AB"]


@pytest.mark.parametrize(("data", "fmt", "match", "record", "offset"), [
    (b"\x00\x07\x00\x00ABC\x00\x03\x00\x00", "V", "less than its own", 2, 7),
    (b"\x00\x07\x00\x00ABC\x00\x06\x00\x07DE", "V", "must be zero", 2, 9),
    (b"\x00\x07\x01\x00ABC", "V", "read the file as VS or VBS", 1, 2),
    (b"\x00\x07\x02\x00ABC", "VS", "no first segment", 1, 0),
    (b"\x00\x07\x03\x00ABC", "VS", "no first segment", 1, 0),
    (b"\x00\x07\x01\x00ABC\x00\x07\x00\x00DEF", "VS", "still waits", 1, 7),
    (b"\x00\x07\x01\x00ABC", "VS", "before the last segment", 1, 0),
    (b"\x00\x07\x00\x00AB", "V", "ends inside a record", 1, 0),
    (b"\x00\x07\x00", "V", "ends inside a record", 1, 0),
    (b"\x00\x0c\x00\x00\x00\x09\x00\x00ABCDE", "VB", "runs past the end of its block", 1, 4),
    (b"\x00\x10\x00\x00\x00\x06\x00\x00AB", "VB", "before the end of the block", 2, 0),
    (b"\x00\x03\x00\x00", "VB", "less than its own", 1, 0),
    (b"\x00\x10\x00\x01", "VB", "BDW bytes 3-4", 1, 2),
])
def test_errors_name_record_and_offset(data: bytes, fmt: str, match: str, record: int,
                                       offset: int) -> None:
    with pytest.raises(RecordError, match=match) as exc:
        split_records(data, RecordFormat(fmt))
    assert (exc.value.record, exc.value.offset) == (record, offset)
    assert isinstance(exc.value, DecodeError)


@pytest.mark.parametrize("fmt", [RecordFormat("F", 3, start_offset=5, end_offset=2),
                                 RecordFormat("V", start_offset=5, end_offset=2),
                                 RecordFormat("VB", start_offset=5, end_offset=2)])
def test_file_header_and_trailer_are_skipped(fmt: RecordFormat) -> None:
    body = join_records([b"ABC", b"DEF"], fmt)
    data = b"HEAD!" + body + b"TR"
    for cuts in ([], [1], [3, 6, 7], list(range(len(data)))):
        got = list(iter_records(chunked(data, cuts), fmt))
        assert [r for _, _, r in got] == [b"ABC", b"DEF"]
        assert all(data[o:o + len(r)] == r for _, o, r in got)
    with pytest.raises(RecordError, match="shorter than its header"):
        split_records(b"HEA", fmt)
    with pytest.raises(RecordError, match="shorter than its header"):
        split_records(b"HEAD!T", fmt)


def test_record_over_the_limit_is_refused_before_it_is_buffered() -> None:
    splitter = RecordSplitter(RecordFormat("V", max_record=100))
    with pytest.raises(RecordError, match="over the limit"):
        splitter.feed(b"\x7f\xff\x00\x00")


def test_encode_errors() -> None:
    with pytest.raises(EncodeError):
        join_records([b"AB"], RecordFormat("F", 3))
    with pytest.raises(EncodeError):
        join_records([b"A" * 70000], RecordFormat("V"))
    with pytest.raises(EncodeError):
        join_records([b"A" * 30], RecordFormat("VB", block_size=20))


def test_bad_formats() -> None:
    for kwargs in ({"format": "U"}, {"format": "F"}, {"format": "V", "rdw_byteorder": "mixed"},
                   {"format": "VB", "block_size": 4}):
        with pytest.raises(ValueError):
            RecordFormat(**kwargs)  # type: ignore[arg-type]


def test_memory_stays_flat() -> None:
    """A thousand chunks of 4 KiB through a splitter: the buffer never holds a whole chunk
    plus more than one record."""
    fmt = RecordFormat("V")
    joiner, splitter = RecordJoiner(fmt), RecordSplitter(fmt)
    record = b"R" * 300
    stream = b"".join(joiner.add(record) for _ in range(14_000))
    count = 0
    for i in range(0, len(stream), 4096):
        count += len(splitter.feed(stream[i:i + 4096]))
        assert len(splitter._buf) < 304
    splitter.close()
    assert count == 14_000 and splitter.records == 14_000


# ---------------------------------------------------------------- properties

FORMATS = st.sampled_from([
    RecordFormat("F", 5), RecordFormat("FB", 1), RecordFormat("V"), RecordFormat("VB"),
    RecordFormat("V", start_offset=3, end_offset=4), RecordFormat("F", 2, end_offset=1),
    RecordFormat("VS", block_size=12), RecordFormat("VBS", block_size=16),
    RecordFormat("VBS", block_size=9, rdw_byteorder="little"), RecordFormat("D"),
    RecordFormat("D", start_offset=2, end_offset=1),
    RecordFormat("VB", block_size=40), RecordFormat("V", rdw_byteorder="little"),
    RecordFormat("V", rdw_includes_header=False), RecordFormat("VB", rdw_byteorder="little",
                                                               block_size=64),
])


@st.composite
def streams(draw: st.DrawFn) -> tuple[RecordFormat, list[bytes]]:
    fmt = draw(FORMATS)
    if fmt.length is not None:
        records = draw(st.lists(st.binary(min_size=fmt.length, max_size=fmt.length),
                                max_size=20))
    else:
        records = draw(st.lists(st.binary(max_size=30), max_size=20))
    if fmt.format == "D":  # a line holds no line end
        records = [r.replace(b"\n", b"").replace(b"\r", b"") for r in records]
    return fmt, records


@given(streams(), st.lists(st.integers(0, 10_000), max_size=12))
def test_split_join_identity_in_any_chunks(case: tuple[RecordFormat, list[bytes]],
                                           cuts: list[int]) -> None:
    fmt, records = case
    data = b"H" * fmt.start_offset + join_records(records, fmt) + b"T" * fmt.end_offset
    got = list(iter_records(chunked(data, cuts), fmt))
    assert [r for _, _, r in got] == records
    assert [n for n, _, _ in got] == list(range(1, len(records) + 1))
    for _, offset, record in got:  # a spanned record starts there, in pieces
        assert data[offset:offset + len(record)] == record or fmt.spanned
    one = [(n, o, r) for n, o, r in iter_records([data], fmt)]
    assert one == got


@given(FORMATS, st.binary(max_size=200), st.lists(st.integers(0, 300), max_size=6))
def test_arbitrary_bytes_split_or_record_error(fmt: RecordFormat, data: bytes,
                                               cuts: list[int]) -> None:
    try:
        whole = list(iter_records([data], fmt))
    except RecordError as exc:
        with pytest.raises(RecordError) as again:
            list(iter_records(chunked(data, cuts), fmt))
        assert (again.value.record, again.value.offset) == (exc.record, exc.offset)
        return
    assert list(iter_records(chunked(data, cuts), fmt)) == whole

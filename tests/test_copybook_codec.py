"""CopybookCodec with an agency's own copybook + mapping: code pages, RDW, mapping errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.codecs.base import get_codec, register
from clets.codecs.copybook import CopybookCodec, join_rdw, split_rdw
from clets.errors import DecodeError, EncodeError, LayoutError
from clets.model import Message, Record, Vehicle, to_dict

COPYBOOK = """\
      * A county's own plate-check record: not one of the built-in DMV records.
       01  PLATE-CHECK.
           05  PC-KEY            PIC X(4).
           05  PC-ORI            PIC X(9).
           05  PC-PLATE          PIC X(8).
           05  PC-STATE          PIC X(2).
           05  PC-NOTE           PIC X(12).
           05  PC-HITS           PIC 9(3) COMP-3.
           05  PC-SEEN           PIC 9(8).
           05  FILLER            PIC X(3).
"""
MAPPING = """\
[fields]
PC-KEY   = "mke"
PC-ORI   = { path = "origin", type = "ident" }
PC-PLATE = "vehicle.plate"
PC-STATE = "vehicle.plate_state"
PC-NOTE  = "remarks"
# PC-HITS and PC-SEEN are not mapped: they go to Message.fields under their names
"""


def codec(**options: object) -> CopybookCodec:
    return CopybookCodec("plate-check", COPYBOOK, MAPPING, **options)  # type: ignore[arg-type]


def sample() -> Message:
    return Message(format="plate-check", mke="PC01", origin="CA0349999",
                   vehicle=Vehicle(plate="7ABC123", plate_state="CA"), remarks="CHECK [A]!",
                   fields={"PC-HITS": "12", "PC-SEEN": "20240101"})


def test_own_copybook_round_trip_and_unmapped_fields() -> None:
    c = codec()
    data = c.encode(sample())
    assert len(data) == c.record_length == 4 + 9 + 8 + 2 + 12 + 2 + 8 + 3
    msg = c.decode(data)
    assert to_dict(msg) == to_dict(sample())
    assert c.fields(data)["PC-HITS"] == 12


def test_cp037_and_cp500_differ_on_brackets_and_bang() -> None:
    a, b = codec(), codec(encoding="cp500")
    da, db = a.encode(sample()), b.encode(sample())
    note = slice(23, 35)
    assert da[note] != db[note]
    assert "CHECK [A]!".encode("cp037") == da[note][:10]
    assert "CHECK [A]!".encode("cp500") == db[note][:10]
    # same bytes through the wrong code page: silently different text, as on a mainframe
    assert b.decode(da).remarks != "CHECK [A]!"
    assert b.decode(db).remarks == "CHECK [A]!"
    for ch, e037, e500 in (("[", "ba", "4a"), ("]", "bb", "5a"), ("!", "5a", "4f"),
                           ("^", "b0", "5f")):
        assert ch.encode("cp037").hex() == e037 and ch.encode("cp500").hex() == e500


def test_cp1047_is_optional() -> None:
    try:
        import ebcdic  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(LayoutError, match="cp1047"):
            codec(encoding="cp1047")
    else:
        c = codec(encoding="cp1047")
        assert c.decode(c.encode(sample())).remarks == "CHECK [A]!"


@pytest.mark.parametrize("engine", ["fast", "construct", "compiled"])
def test_wrong_length_names_expected_and_actual(engine: str) -> None:
    c = codec(engine=engine)
    data = c.encode(sample())
    for bad in (data[:-1], data + b"\x40"):
        with pytest.raises(DecodeError) as info:
            c.decode(bad)
        assert f"is {len(data)} bytes, got {len(bad)}" in str(info.value)
        assert info.value.format == "plate-check"


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        codec().decode("PC01")  # type: ignore[arg-type]
    assert codec().decode(bytearray(codec().encode(sample()))).mke == "PC01"


def test_encode_errors_name_the_field() -> None:
    c = codec()
    msg = sample()
    msg.vehicle = Vehicle(plate="TOOLONGPLATE")
    with pytest.raises(EncodeError) as info:
        c.encode(msg)
    assert info.value.field == "PC-PLATE" and info.value.offset == 13
    msg = sample()
    msg.fields["PC-HITS"] = "1000"
    with pytest.raises(EncodeError) as info:
        c.encode(msg)
    assert info.value.field == "PC-HITS"
    msg = sample()
    msg.remarks = "EURO €"
    with pytest.raises(EncodeError) as info:
        c.encode(msg)
    assert info.value.field == "PC-NOTE"
    with pytest.raises(EncodeError, match="carries no records"):
        c.encode(Message(mke="PC01", records=[Record()]))


def test_from_files_and_registry(tmp_path: Path) -> None:
    cpy, mp = tmp_path / "PLATECHK.cpy", tmp_path / "platechk.toml"
    cpy.write_text(COPYBOOK)
    mp.write_text(MAPPING)
    c = CopybookCodec.from_files("plate-check", cpy, mp, encoding="cp500")
    assert c.encoding == "cp500"
    register("plate-check", lambda **o: CopybookCodec.from_files("plate-check", cpy, mp, **o))
    got = get_codec("plate-check")
    assert got.decode(got.encode(sample())).vehicle == sample().vehicle
    with pytest.raises(LayoutError, match="cannot read"):
        CopybookCodec.from_files("x", tmp_path / "missing.cpy", mp)


@pytest.mark.parametrize(("mapping", "words"), [
    ('[fields]\nPC-NOPE = "mke"\n', "no such field"),
    ('[fields]\nPC-KEY = "vehicle.nope"\n', "no slot 'nope'"),
    ('[fields]\nPC-KEY = "vehicle"\n', "names an object"),
    ('[fields]\nPC-KEY = { path = "mke", type = "weird" }\n', "unknown type"),
    ('[fields]\nPC-HITS = { path = "vehicle.plate", type = "ident" }\n', "needs a PIC X"),
    ('[fields]\nPC-KEY = "record.vehicle.plate"\n', "need a [record] section"),
    ('[fields]\nPC-KEY = { path = "mke", colour = 1 }\n', "unknown key"),
    ('[fields\n', "not valid TOML"),
    ('[record]\nwhen = "PC-HITS"\nequals = "1"\n', "`when` must name a PIC X field"),
])
def test_mapping_errors(mapping: str, words: str) -> None:
    with pytest.raises(LayoutError) as info:
        CopybookCodec("x", COPYBOOK, mapping, mapping_source="x.toml")
    assert words in str(info.value)
    assert info.value.source == "x.toml"


def test_rdw_split_join() -> None:
    records = [b"A" * 3, b"", b"BC"]
    stream = join_rdw(records)
    assert stream[:4] == b"\x00\x07\x00\x00"
    assert split_rdw(stream) == records
    assert split_rdw(b"") == []


@pytest.mark.parametrize(("data", "offset", "words"), [
    (b"\x00\x07\x00\x00ABC\x00", 7, "truncated RDW"),
    (b"\x00\x07\x00\x01ABC", 2, "must be zero"),
    (b"\x00\x03\x00\x00", 0, "outside"),
    (b"\x00\x09\x00\x00ABC", 0, "past the end"),
    (b"\x00\x07\x00\x00ABC\x7f\xff\x00\x00", 7, "outside"),
])
def test_bad_rdw_names_offset(data: bytes, offset: int, words: str) -> None:
    with pytest.raises(DecodeError) as info:
        split_rdw(data)
    assert info.value.offset == offset and words in str(info.value)


def test_rdw_record_too_long_to_write() -> None:
    with pytest.raises(EncodeError):
        join_rdw([bytes(32757)])


def test_streams_fixed_and_rdw_auto_detected() -> None:
    c = codec()
    msgs = [sample(), sample()]
    msgs[1].vehicle = Vehicle(plate="XYZ1", plate_state="NV")
    plain = c.encode_stream(msgs, rdw=False)
    rdw = c.encode_stream(msgs)
    assert len(rdw) == len(plain) + 8
    for data in (plain, rdw):
        assert [to_dict(m) for m in c.decode_stream(data)] == [to_dict(m) for m in msgs]
    assert len(list(c.decode_stream(rdw, rdw=True))) == 2
    with pytest.raises(DecodeError, match="whole number"):
        list(c.decode_stream(plain[:-1]))
    with pytest.raises(DecodeError, match="RDW record is"):
        list(c.decode_stream(join_rdw([c.encode(sample())[:-1]]), rdw=True))


def test_stream_error_offset_points_into_the_stream() -> None:
    c = codec()
    good = c.encode(sample())
    bad = bytearray(good)
    bad[35:37] = b"\x12\x3d"  # PC-HITS: negative sign in an unsigned field
    with pytest.raises(DecodeError) as info:
        list(c.decode_stream(good + bytes(bad), rdw=False))
    assert info.value.field == "PC-HITS"
    assert info.value.offset == len(good) + 36


@given(st.lists(st.binary(max_size=40), max_size=5))
def test_rdw_round_trip(records: list[bytes]) -> None:
    assert split_rdw(join_rdw(records)) == records


@given(st.binary(max_size=60))
def test_rdw_random_bytes_only_typed_errors(data: bytes) -> None:
    try:
        split_rdw(data)
    except DecodeError:
        pass

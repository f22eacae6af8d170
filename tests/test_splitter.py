"""Splitting a dropped file into messages: line, RDW, fixed, whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.adapters.splitter import Splitter, parse_split, split
from clets.errors import ConfigError, DecodeError


def rdw(records: list[bytes]) -> bytes:
    return b"".join(len(r).__add__(4).to_bytes(2, "big") + b"\0\0" + r for r in records)


def test_lines_crlf_blank_and_missing_final_newline() -> None:
    assert split(b"A\r\nB\n\nC", "line") == [b"A", b"B", b"C"]
    assert split(b"A\nB\n", "line") == split(b"A\nB", "line") == [b"A", b"B"]
    assert split(b"", "line") == []


def test_rdw_records_and_errors() -> None:
    assert split(rdw([b"ABC", b"", b"DE"]), "rdw") == [b"ABC", b"", b"DE"]
    with pytest.raises(DecodeError) as e:
        split(rdw([b"ABC"])[:-1], "rdw")
    assert e.value.offset == 0 and e.value.format == "rdw"
    with pytest.raises(DecodeError, match="reserved"):
        split(b"\x00\x05\x00\x01X", "rdw")
    with pytest.raises(DecodeError, match="less than 4"):
        split(b"\x00\x03\x00\x00", "rdw")
    with pytest.raises(DecodeError) as e:
        split(rdw([b"OK"]) + b"\x00\x01", "rdw")
    assert e.value.offset == 6


def test_fixed_and_whole() -> None:
    assert split(b"AAABBBCCC", "fixed:3") == [b"AAA", b"BBB", b"CCC"]
    with pytest.raises(DecodeError) as e:
        split(b"AAABB", "fixed:3")
    assert e.value.offset == 3
    assert split(b"<x/>\n", "whole") == [b"<x/>\n"]
    assert split(b"", "whole") == []


@pytest.mark.parametrize("bad", ["fixed:0", "fixed:x", "fixed:", "lines", "", "fixed:99999999"])
def test_bad_modes_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_split(bad)


def test_parse_round_trip() -> None:
    for spec in ("line", "rdw", "fixed:80", "whole"):
        assert str(parse_split(spec)) == spec
    assert parse_split("FIXED:12") == Splitter("fixed", 12)


records = st.lists(st.binary(max_size=300), max_size=20)


@given(records)
def test_rdw_round_trip(recs: list[bytes]) -> None:
    assert split(rdw(recs), "rdw") == recs


@given(st.lists(st.binary(min_size=1).filter(lambda b: b"\n" not in b and not b.endswith(b"\r")),
                max_size=20), st.sampled_from([b"\n", b"\r\n"]))
def test_line_round_trip(lines: list[bytes], nl: bytes) -> None:
    assert split(nl.join(lines) + nl, "line") == lines


@given(st.integers(1, 50), st.integers(0, 20), st.data())
def test_fixed_round_trip(n: int, count: int, data: st.DataObject) -> None:
    recs = [data.draw(st.binary(min_size=n, max_size=n)) for _ in range(count)]
    assert split(b"".join(recs), f"fixed:{n}") == recs


@given(st.binary(max_size=400), st.sampled_from(["line", "rdw", "fixed:7", "whole"]))
def test_random_bytes_raise_only_decode_error(data: bytes, mode: str) -> None:
    try:
        out = split(data, mode)
    except DecodeError:
        return
    # whatever splits must account for every payload byte (nothing silently dropped)
    if mode == "rdw":
        assert len(data) == sum(len(r) + 4 for r in out)
    elif mode.startswith("fixed"):
        assert b"".join(out) == data

"""Specific tests for what the fuzzers of ``fuzz/`` found (docs/testing.md, Fuzzing).

Each failing input itself is replayed by ``test_fuzz_regressions.py``; the tests here pin the
behaviour behind it, written small and by hand.  Work that grew faster than its input is
asserted on counts and sizes (allocations, fields laid out, calls), never on wall-clock time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.adapters import url as url_mod
from clets.codecs import get_codec
from clets.codecs.copybook import layout as layout_mod
from clets.codecs.copybook import parse_copybook
from clets.codecs.copybook.parser import parse_items
from clets.errors import ConfigError, DecodeError, EncodeError, LayoutError, ValidationError
from clets.model import Message, Record, dumps, loads
from clets.model.edits import check
from clets.switch.config import ConfigProblems, parse_config

# ------------------------------------------------------------------ copybook: PIC repeat counts


@pytest.mark.parametrize("count", ["9" * 10, "3" * 22, "1" * 5000])
def test_pic_repeat_count_too_large_is_a_layout_error(count: str) -> None:
    # OverflowError (22 digits), ValueError (5000 digits: int() refuses), or a 10 GB string
    with pytest.raises(LayoutError, match="repeat count over the record limit") as info:
        parse_copybook(f"01 R.\n 05 F PIC X({count}).\n", fmt="free")
    assert info.value.line == 2
    assert len(str(info.value)) < 300  # the offending picture is named, not echoed whole


def test_pic_repeat_is_counted_not_expanded() -> None:
    # PIC X(900000000) used to build a 900 MB string to measure itself
    text = "01 R.\n 05 F PIC X(900000000).\n 05 N PIC S9(7)V9(2).\n"
    tracemalloc.start()
    try:
        (record,) = parse_items(text, fmt="free")
        layout = parse_copybook(text, fmt="free", limit=1 << 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert [c.picture for c in record.children] == ["X(900000000)", "S9(7)V9(2)"]
    assert [(f.kind, f.length, f.scale) for f in layout.fields] == [
        ("text", 900_000_000, 0), ("zoned", 9, 2)]
    assert layout.length == 900_000_009


@given(st.lists(st.tuples(st.sampled_from("XA9"), st.one_of(st.none(), st.integers(1, 300))),
                min_size=1, max_size=6))
def test_a_text_picture_is_as_long_as_its_expansion(runs: list[tuple[str, int | None]]) -> None:
    # the counted length must be what expanding the repeats would give
    pic = "".join(s + (f"({n})" if n is not None else "") for s, n in runs)
    expanded = "".join(s * (n or 1) for s, n in runs)
    if not set(expanded) & set("XA"):
        pic, expanded = "X" + pic, "X" + expanded
    (field,) = parse_copybook(f"01 R.\n 05 F PIC {pic}.\n", fmt="free").fields
    assert (field.kind, field.length) == ("text", len(expanded))


def test_a_repeat_count_of_zero_is_a_layout_error() -> None:
    with pytest.raises(LayoutError, match="at least 1"):
        parse_copybook("01 R.\n 05 F PIC X(0)9.\n", fmt="free")


def test_a_long_numeric_picture_is_refused_before_it_is_expanded() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(LayoutError, match="more than a mapped numeric field holds"):
            parse_copybook("01 R.\n 05 N PIC 9(1000000).\n", fmt="free")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# ------------------------------------------------------------------ copybook: nested OCCURS


def test_nested_occurs_are_refused_before_they_are_laid_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 66 bytes of copybook, 80 * 80 * 80 = 512,000 fields: seconds of work before the cap
    walks = []
    real = layout_mod.Layout._walk

    def counting(self: layout_mod.Layout, *args: object) -> int:
        walks.append(1)
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(layout_mod.Layout, "_walk", counting)
    text = "01 A.\n 05 B OCCURS 80.\n  10 C OCCURS 80.\n   15 D OCCURS 80 PIC X.\n"
    with pytest.raises(LayoutError, match="512000 elementary fields"):
        parse_copybook(text, fmt="free")
    assert walks == []


@pytest.mark.parametrize("size", [900_000_000, 600_000])  # one field too long; the sum
def test_a_record_longer_than_a_frame_is_refused_before_it_is_laid_out(size: int) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(LayoutError, match="over the record limit"):
            parse_copybook(f"01 R.\n 05 F PIC X({size}).\n 05 FILLER PIC X({size}).\n",
                           fmt="free")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_occurs_up_to_the_cap_still_lay_out() -> None:
    text = "01 A.\n 05 B OCCURS 100.\n  10 C OCCURS 100 PIC X.\n"
    assert len(parse_copybook(text, fmt="free").fields) == layout_mod.MAX_FIELDS


# ------------------------------------------------------------------ copybook: FILLER contents


def test_construct_engines_skip_filler_contents_like_the_fast_one() -> None:
    # a zoned FILLER holding anything: the generated decoder ignored it, construct refused it
    layout = parse_copybook("01 R.\n 05 FILLER PIC 9(4).\n 05 N PIC 9(2).\n", fmt="free")
    record = "AB  12".encode("cp037")
    expected = {"N": 12}
    assert layout.decode_fields(record) == expected
    assert layout.parse_construct(record) == expected
    assert layout.parse_construct(record, layout.construct.compile()) == expected
    built = {layout.encode_fields(expected), layout.build_construct(expected),
             layout.build_construct(expected, layout.construct.compile())}
    assert built == {"000012".encode("cp037")}


# ------------------------------------------------------------------ json: deep nesting


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' * 100_000, b"\n\n" + b"[" * 100_000])
def test_json_stream_nested_too_deeply_is_a_decode_error(data: bytes) -> None:
    # json's scanner recurses per level: a RecursionError escaped decode_stream (load caught it)
    codec = get_codec("json")
    with pytest.raises(DecodeError, match="nested too deeply") as info:
        list(codec.decode_stream(data))
    assert info.value.offset == (2 if data.startswith(b"\n") else 0)
    with pytest.raises(DecodeError):
        codec.decode(data)


def test_cli_encode_of_deeply_nested_json_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 100_000)
    result = subprocess.run([sys.executable, "-c", "from clets.cli import main; main()",
                             "encode", "-f", "ncic", str(path)], capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 2, result.stderr
    assert b"nested too deeply" in result.stderr
    assert b"Traceback" not in result.stderr


# ------------------------------------------------------------------ config: link URL host


@pytest.mark.parametrize("url", ["tcp://[mv-host:6001?plain=1", "tcp://mv-host]:6001?plain=1",
                                 "tcp+tls://[::1:5001"])
def test_config_with_an_unbalanced_bracket_in_a_link_url_is_a_config_problem(url: str) -> None:
    # urlsplit's ValueError("Invalid IPv6 URL") escaped parse_config (check-config: traceback)
    text = f"""
[switch]
name = "s"
home_state = "CA"
journal = "j.sqlite3"
ori = "CA0000000"

[[peer]]
mnemonic = "AGENCY"
oris = ["CA0349999"]

[[link]]
name = "agency"
url = "{url}"
codec = "ncic"
role = "origin"
peer = "AGENCY"
"""
    with pytest.raises(ConfigProblems) as info:
        parse_config(text, "box.toml", Path("/nonexistent"))
    (problem,) = [p for p in info.value.problems if "Invalid IPv6 URL" in p.reason]
    assert problem.line == text.splitlines().index(f'url = "{url}"') + 1


# ------------------------------------------------------------------ json: an empty record


def test_an_empty_record_is_written_as_an_object_and_reads_back() -> None:
    # it was written as null (model.md: "an object whose fields are all absent is null"),
    # and a null in "records" is refused on load: the json codec could not read its own output
    msg = loads(b'{"format": "ncic", "mke": "QWR", "records": [{"fields": {}}, {"cmc": "05"}]}')
    wire = dumps(msg)
    assert json.loads(wire)["records"][0] == {
        "file": None, "person": None, "vehicle": None, "case": None, "owner": None,
        "registration": None, "caution": False, "cmc": None, "ori": None, "offense": None,
        "remarks": None, "fields": {}}
    assert loads(wire) == msg
    assert json.loads(wire)["person"] is None  # an empty object-valued key is still null


# ------------------------------------------------------------------ copybook: sibling groups


def test_two_groups_of_one_name_under_one_parent_are_a_layout_error() -> None:
    # the construct layout kept only the second: parse_construct was a KeyError on every record
    with pytest.raises(LayoutError, match="duplicate name G in R") as info:
        parse_copybook("01 R.\n 05 G.\n  10 A PIC X.\n 05 G.\n  10 B PIC X.\n", fmt="free")
    assert info.value.line == 4


def test_groups_of_one_name_under_different_parents_still_lay_out() -> None:
    layout = parse_copybook("01 R.\n 05 H.\n  10 G.\n   15 A PIC X.\n"
                            " 05 W.\n  10 G.\n   15 B PIC X.\n", fmt="free")
    record = "AB".encode("cp037")
    assert layout.parse_construct(record) == layout.decode_fields(record) == {"A": "A", "B": "B"}


# ------------------------------------------------------------------ link URLs: length


def test_a_link_url_longer_than_the_cap_is_refused_before_it_is_parsed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 50,000 parameters: checking them took 3x as long at each doubling (sorts, sets)
    calls = []
    monkeypatch.setattr(url_mod, "urlsplit", lambda *a: calls.append(a))
    text = "tcp://h:1?" + "&".join(f"p{i}=1" for i in range(50_000))
    with pytest.raises(ConfigError, match=f"more than {url_mod.MAX_URL_CHARS}"):
        url_mod.parse_link_url(text)
    assert calls == []
    secret = "tcp://u:" + "hunter2" * 20 + "@h:1?" + "a" * url_mod.MAX_URL_CHARS
    with pytest.raises(ConfigError) as info:
        url_mod.parse_link_url(secret)
    assert "hunter2" not in str(info.value)


def test_a_link_url_up_to_the_cap_is_read() -> None:
    head = "tcp://h:1?plain=1&framing=len2&x="
    text = head + "a" * (url_mod.MAX_URL_CHARS - len(head))
    assert url_mod.parse_link_url(text).params["x"] == "a" * (url_mod.MAX_URL_CHARS - len(head))


# ------------------------------------------------------------------ copybook: FILLER groups


def test_named_items_in_filler_groups_decode_in_every_engine() -> None:
    # a group without a name (FILLER) was laid out anonymously in construct, so the named
    # items in it were lost: parse_construct raised KeyError('FILLER')
    layout = parse_copybook("01 R.\n 05 A PIC X.\n 05 FILLER.\n  10 B PIC X.\n"
                            " 05 .\n  10 C PIC 9.\n", fmt="free")
    record = "ab1".encode("cp037")
    expected = {"A": "a", "B": "b", "C": 1}
    assert layout.decode_fields(record) == expected
    assert layout.parse_construct(record) == expected
    assert layout.parse_construct(record, layout.construct.compile()) == expected
    values = {"A": "X", "B": "Y", "C": 7}
    assert (layout.encode_fields(values) == layout.build_construct(values)
            == layout.build_construct(values, layout.construct.compile()) == b"\xe7\xe8\xf7")


# ------------------------------------------------------------------ nlets: blank lines after TXT


@pytest.mark.parametrize("blank", ["", " ", "   ", "\n", " \n  \n", "\r \r"])
def test_blank_lines_after_txt_are_skipped_alike(blank: str) -> None:
    # rule: blank lines before an Nlets body, empty or spaces only, are not the body (a line
    # of spaces was read as an empty status line, so JLP/ became a record; without it, the
    # status line's echo).  Fuzz: crash-909407bafc446fda.
    codec = get_codec("nlets")
    wire = f"DQ.CA0349999.AZ.TXT\n{blank}JLP/85007\n\nMKE/X".encode()
    msg = codec.decode(wire)
    assert msg.fields == {"JLP": "85007"}
    assert [r.fields for r in msg.records] == [{"MKE": "X"}]
    assert codec.encode(msg) == b"DQ.CA0349999.AZ.TXT\nJLP/85007\n\nMKE/X"
    lenient = get_codec("ncic-lenient")  # a headless response body: the same rule
    assert lenient.decode(f"{blank}JLP/85007\n\nMKE/X".encode()).fields == {"JLP": "85007"}


def test_nlets_response_with_a_first_record_without_type_needs_a_status_line() -> None:
    # rule: the encoder's empty status line is a blank line after TXT, which the decoder
    # skips; such a message is refused (as ncic-lenient's headless form does) instead of
    # written as bytes that read back with the record's fields as the status line's echo
    codec = get_codec("nlets")
    msg = Message(format="nlets", mke="DQ", origin="CA0349999", destinations=["AZ"],
                  status="hit", records=[Record(file="other", fields={"JLP": "85007"}),
                                         Record(file="other", fields={"MKE": "X"})])
    with pytest.raises(EncodeError, match="needs a status line"):
        codec.encode(msg)
    msg.text = "WARNING"
    assert codec.decode(codec.encode(msg)).records == msg.records


def test_nlets_text_may_not_start_with_a_line_of_spaces() -> None:
    codec = get_codec("nlets")
    msg = Message(format="nlets", mke="AM", origin="CA0349999", destinations=["AZ"],
                  text="  \nHELLO")
    with pytest.raises(EncodeError, match="blank line"):
        codec.encode(msg)
    msg.text = "  HELLO"
    assert codec.decode(codec.encode(msg)).text == "  HELLO"


# ------------------------------------------------------------------ nlets: OWN kept in fields


@pytest.mark.parametrize("own", ["SMITH, JOHN", ":OE, JANE", ","])
@pytest.mark.parametrize("tail", ["", "\nPTS/2 PTS/3"])
def test_a_name_kept_in_fields_gets_one_verdict_whether_a_guard_fired_or_not(
        own: str, tail: str) -> None:
    # rule: a value of a non-string type kept in ``fields`` (OWN at message level) is parsed
    # before the edits check it, and its decode guard always fires, so the edits decide.
    # Before, the edits checked the wire text with the name formatter ("of the wrong type"
    # for every OWN) but ran only when some guard fired (a repeated PTS/ here), and the
    # length-only guard passed ','.  Fuzz: crash-51f95a1a37667a4b (a wrapped PTS written
    # back as PTS/2 PTS/..., so its own encoding was refused).
    codec = get_codec("nlets")
    wire = f"RQ.CA0349999.NV.TXT\nLIC/612L OWN/{own}\n\nMKE/X{tail}".encode()
    if own == ",":
        with pytest.raises(ValidationError, match="a name needs a surname"):
            codec.decode(wire)
        return
    msg = codec.decode(wire)
    assert msg.fields == {"OWN": own}
    assert codec.decode(codec.encode(msg)) == msg


def test_message_level_rows_of_non_string_types_are_parsed_before_the_edits() -> None:
    def findings(fields: dict[str, str]) -> list[str]:
        return [f.reason for f in check(Message(format="nlets", mke="RQ", origin="CA0349999",
                                                destinations=["NV"], fields=fields))]

    assert findings({"OWN": "SMITH, JOHN", "REX": "20250101"}) == []
    assert findings({"REX": "20251399"}) == ["not a calendar date (CCYYMMDD)"]

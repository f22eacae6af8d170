"""Property tests of the ``ncic`` and ``nlets`` codecs.

Random valid messages (built from the code tables and the field patterns of fields.toml) must
survive encode -> decode unchanged, canonical bytes must survive decode -> encode unchanged,
and random or mutated bytes may only raise DecodeError subclasses.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clets.codecs.ncic import NcicCodec
from clets.codecs.nlets import NletsCodec
from clets.codecs.tagged import REQ_SEP, default_profile
from clets.errors import DecodeError, EncodeError
from clets.model import (
    Address,
    Case,
    ErrorInfo,
    License,
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    code_table,
    to_dict,
)
from tests.conftest import FIXTURES

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = UPPER + DIGITS
SUFFIXES = {"JR", "SR", "II", "III", "IV", "V", "VI"}

NCIC = {enc: NcicCodec(encoding=enc) for enc in ("ascii", "cp037")}
NLETS = {enc: NletsCodec(encoding=enc) for enc in ("ascii", "cp037")}


def codes(table: str) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(code_table(table).codes))


def text(alphabet: str, lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=lo, max_size=hi)


def opt(s: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | s


words = st.lists(text(UPPER, 1, 8), min_size=1, max_size=4).map(" ".join)
# free text: words, digits, inner dots and commas, never a '/' (a tag) nor an edge '.'
free = st.lists(text(ALNUM + ".,-", 1, 8).filter(lambda w: not w.endswith(".")),
                min_size=1, max_size=5).map(" ".join)
dates = st.dates(dt.date(1920, 1, 1), dt.date(2020, 12, 31)).map(dt.date.isoformat)
oris = st.builds(lambda s, r: s + r, codes("states"), text(ALNUM, 7, 7))
middle_words = text(UPPER, 1, 6).filter(lambda w: w not in SUFFIXES)


@st.composite
def names(draw: st.DrawFn) -> Name:
    last = draw(text(UPPER, 2, 10))
    first = draw(opt(text(UPPER, 1, 8)))
    middle = draw(opt(middle_words)) if first else None
    suffix = draw(opt(st.sampled_from(["JR", "SR", "III"]))) if first else None
    return Name(last, first, middle, suffix)


def persons(with_details: bool = True) -> st.SearchStrategy[Person]:
    base: dict[str, Any] = dict(
        name=names(), dob=opt(dates), sex=opt(codes("sex")), race=opt(codes("race")),
        height_in=opt(st.integers(48, 95)), weight_lb=opt(st.integers(80, 400)),
        eyes=opt(codes("eyes")), hair=opt(codes("hair")), skin=opt(codes("skin")),
        ssn=opt(text(DIGITS, 9, 9)), fbi=opt(text(ALNUM, 1, 9)), cii=opt(text(ALNUM, 1, 10)),
        mnu=opt(st.builds(lambda a, b: f"{a}-{b}", text(UPPER, 2, 2), text(DIGITS, 1, 8))),
    )
    if with_details:
        base["license"] = opt(st.builds(
            License, number=text(ALNUM, 1, 20), state=opt(codes("states")),
            expires_year=opt(st.integers(1990, 2035)), class_=opt(text(ALNUM, 1, 2)),
            status=opt(codes("license_status")), expires=opt(dates)))
        base["address"] = opt(st.builds(
            Address, street=opt(free.filter(lambda s: len(s) <= 30)),
            city=opt(words.filter(lambda s: len(s) <= 20)), state=opt(codes("states")),
            zip=opt(text(DIGITS, 5, 5))))
    return st.builds(Person, **base).filter(lambda p: len(_name(p.name)) <= 30)


def _name(n: Name | None) -> str:
    from clets.model import format_name
    return format_name(n) if n else ""


colors = st.one_of(codes("colors"), st.builds(lambda a, b: f"{a}/{b}", codes("colors"),
                                               codes("colors")))
vehicles = st.builds(
    Vehicle, plate=opt(text(ALNUM, 1, 10)), plate_state=opt(codes("states")),
    plate_year=opt(st.sampled_from(["2026", "26", "NX", "1999"])),
    plate_type=opt(codes("plate_types")), vin=opt(text(ALNUM, 1, 17)),
    year=opt(st.integers(1950, 2025)), make=opt(text(UPPER, 1, 4)),
    model=opt(text(ALNUM, 1, 3)), style=opt(codes("vehicle_styles")), color=opt(colors))
cases = st.builds(
    Case, oca=opt(st.builds(lambda a, b: a + b, text(ALNUM, 1, 1), text(ALNUM + "-", 0, 12))),
    nic=opt(st.builds(lambda a, b: a + b, text(UPPER, 1, 1), text(DIGITS, 9, 9))),
    fcn=opt(text(ALNUM, 1, 20)))
# tags without a slot and without an edit: not in the dictionary, or rows read unchecked
UNKNOWN_TAGS = ["ZZ9", "X1Y", "QQZ", "Z7Z"]
extra_fields = st.dictionaries(st.sampled_from(UNKNOWN_TAGS),
                               text(ALNUM, 1, 3).flatmap(
                                   lambda a: words.map(lambda w: f"{a} {w}")), max_size=3)


def _message_body(draw: st.DrawFn) -> dict[str, Any]:
    return dict(
        person=draw(opt(persons())), vehicle=draw(opt(vehicles)), case=draw(opt(cases)),
        reason=draw(opt(codes("reason_codes"))), purpose=draw(opt(codes("purpose_codes"))),
        attention=draw(opt(words.filter(lambda s: len(s) <= 30))),
        remarks=draw(opt(free)), operator=draw(opt(text(ALNUM, 1, 10))),
        terminal=draw(opt(text(ALNUM, 1, 10))), fields=draw(extra_fields))


@st.composite
def ncic_inquiries(draw: st.DrawFn) -> Message:
    mke = draw(st.sampled_from(["QW", "QV", "QPO", "DQ", "RQ", "EW", "EW-C", "MW", "CW"]))
    return Message(format="ncic", mke=mke, origin=draw(oris), **_message_body(draw))


RECORD_FILES = ["wanted", "vehicle", "protection_order", "missing", "registration", "driver",
                "criminal_history"]


@st.composite
def records(draw: st.DrawFn) -> Record:
    file = draw(st.sampled_from([*RECORD_FILES, "other"]))
    fields: dict[str, str] = {}
    if file == "other":
        fields["MKE"] = draw(st.sampled_from(["GANG MEMBER", "SEX OFFENDER", "IDENTITY THEFT"]))
    elif draw(st.booleans()) and file == "vehicle":
        fields["MKE"] = "FELONY VEHICLE"
    fields.update(draw(extra_fields))
    owner = draw(opt(st.builds(Person, name=names().filter(lambda n: len(_name(n)) <= 30),
                               address=opt(st.builds(
        Address, street=opt(free.filter(lambda s: len(s) <= 30)), zip=opt(text(DIGITS, 5, 5)))))))
    registration = draw(opt(st.builds(
        Registration, expires=opt(dates), status=opt(codes("registration_status")),
        fees_due=opt(st.builds(lambda a, b: f"{a}.{b}", st.integers(-999, 9999).map(str),
                               text(DIGITS, 2, 2))),
        stolen=opt(st.booleans()))))
    return Record(
        file=file, person=draw(opt(persons())), vehicle=draw(opt(vehicles)),
        case=draw(opt(cases)), owner=owner, registration=registration,
        caution=draw(st.booleans()), cmc=draw(opt(text(ALNUM, 2, 2))), ori=draw(opt(oris)),
        offense=draw(opt(words.filter(lambda s: len(s) <= 30))), remarks=draw(opt(free)),
        fields=fields)


@st.composite
def response_parts(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["hit", "no_hit", "error", "unavailable"]))
    if kind == "error":
        echo = draw(opt(st.lists(free, min_size=1, max_size=2).map("\n".join)))
        code = draw(st.integers(0, 99))
        # .02. (will forward) reads as pending, .04. as unavailable (responses.toml)
        return dict(status=default_profile().status_of_code(code),
                    error=ErrorInfo(code, draw(opt(words)), echo))
    if kind == "no_hit":
        # a final '.' too: it must not read as part of the separator before the echo
        return dict(status="no_hit", text=draw(st.sampled_from(["NO NCIC WANT", "NO RECORD",
                                                                "NOT ON FILE"]))
                    + draw(st.sampled_from(["", ".", ". CHECK AGAIN."])),
                    person=draw(opt(persons(False))), vehicle=draw(opt(vehicles)))
    if kind == "unavailable":
        return dict(status="unavailable", text="TEMPORARILY UNAVAILABLE")
    recs = draw(st.lists(records(), min_size=1, max_size=3))
    return dict(status="hit", records=recs,
                text=draw(st.sampled_from([None, "WARNING", "WARNING - CONFIRM WITH ENTERING "
                                                             "AGENCY BEFORE ANY ACTION"])))


@st.composite
def ncic_responses(draw: st.DrawFn) -> Message:
    mke = draw(st.sampled_from(["QWR", "QVR", "QPOR", "DQR", "$.L", "$.H"]))
    return Message(format="ncic", mke=mke, destinations=[draw(oris)],
                   control=draw(opt(text(ALNUM, 1, 10))), **draw(response_parts()))


@st.composite
def nlets_messages(draw: st.DrawFn) -> Message:
    output = draw(st.booleans())
    kind = draw(st.sampled_from(["fields", "text", "response", "free"]))
    if output:
        dests = draw(st.lists(oris, max_size=1))
    else:
        dests = draw(st.lists(codes("states"), min_size=1, max_size=5, unique=True)
                     | st.lists(oris, min_size=1, max_size=3))
    msg = Message(format="nlets", mke="DQ", origin=draw(oris), destinations=dests,
                  control=draw(opt(text(ALNUM + "-", 1, 10))))
    if kind == "fields":
        msg.mke = draw(st.sampled_from(["DQ", "RQ", "KQ", "YQ", "YR"]))
        for k, v in _message_body(draw).items():
            setattr(msg, k, v)
        if msg.fields and draw(st.booleans()):  # free text after the last (unknown) field
            msg.text = draw(free)
    elif kind == "free":
        msg.mke = draw(st.sampled_from(["AM", "SM", "AML"]))
        msg.text = draw(st.lists(free, min_size=1, max_size=3).map("\n".join))
    elif kind == "text":
        msg.mke = "YR"
        msg.text = draw(free.filter(lambda s: not s.startswith(("NO ", "NOT ", "WARNING",
                                                               "FILE ", "TEMPORARILY"))
                                    and s[:1] != "."))
    else:
        msg.mke = draw(st.sampled_from(["DR", "RR", "KR", "IR"]))
        for k, v in draw(response_parts()).items():
            setattr(msg, k, v)
    if output:
        msg.sent_at = draw(st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1))
                           ).strftime("%Y-%m-%dT%H:%M")
        msg.sequence = draw(st.integers(0, 99999))
        msg.fields = {"ODT": draw(st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2030, 1, 1))
                                  ).strftime("%Y-%m-%dT%H:%M"),
                      "OSN": f"{draw(st.integers(0, 99999)):05d}", **msg.fields}
    return msg


def _same(got: Message, want: Message) -> None:
    a, b = to_dict(got), to_dict(want)
    a["warnings"] = b["warnings"] = []  # warnings are derived on decode (VIN, sex X)
    assert a == b


def _round_trip(codec: NcicCodec | NletsCodec, msg: Message) -> None:
    wire = codec.encode(msg)
    back = codec.decode(wire)
    _same(back, msg)
    assert codec.encode(back) == wire  # canonical bytes -> model -> the same bytes


@given(ncic_inquiries(), st.sampled_from(["ascii", "cp037"]))
def test_ncic_inquiry_round_trip(msg: Message, enc: str) -> None:
    _round_trip(NCIC[enc], msg)


@given(ncic_responses())
def test_ncic_response_round_trip(msg: Message) -> None:
    _round_trip(NCIC["ascii"], msg)


@given(nlets_messages(), st.sampled_from(["ascii", "cp037"]))
def test_nlets_round_trip(msg: Message, enc: str) -> None:
    _round_trip(NLETS[enc], msg)


@given(st.lists(ncic_inquiries() | ncic_responses(), min_size=1, max_size=4))
@settings(max_examples=60)
def test_ncic_stream_round_trip(msgs: list[Message]) -> None:
    c = NCIC["ascii"]
    got = list(c.decode_stream(c.encode_stream(msgs)))
    assert len(got) == len(msgs)
    for g, m in zip(got, msgs, strict=True):
        _same(g, m)


@given(st.lists(nlets_messages(), min_size=1, max_size=4))
@settings(max_examples=60)
def test_nlets_stream_round_trip(msgs: list[Message]) -> None:
    c = NLETS["ascii"]
    got = list(c.decode_stream(c.encode_stream(msgs)))
    assert len(got) == len(msgs)
    for g, m in zip(got, msgs, strict=True):
        _same(g, m)


BREAKS = ["\n", "\r\n", "\n\n", ".\n", ".\r\n", "\x7f\n"]


@given(st.one_of(ncic_inquiries(), nlets_messages().filter(
           lambda m: m.mke in ("DQ", "RQ", "KQ", "YQ", "YR") and not m.text)),
       st.lists(st.sampled_from(BREAKS), min_size=1, max_size=6))
@settings(max_examples=60)
def test_a_line_break_before_a_tag_separates_as_a_period(msg: Message, breaks: list[str]
                                                         ) -> None:
    """Fields written one a line, with or without their ``.``, read as written with it: a
    line that starts with ``TAG/`` is never the rest of the value before it."""
    codec = NCIC["ascii"] if msg.format == "ncic" else NLETS["ascii"]
    wire = codec.encode(msg).decode("ascii")
    want = to_dict(codec.decode(wire.encode("ascii")))
    cut = 0
    if msg.format == "nlets":  # the body only (it may be empty)
        cut = wire.index("TXT\n") + 4 if "TXT\n" in wire else len(wire)
    pieces = REQ_SEP.split(wire[cut:])
    joined = pieces[0]
    for i, piece in enumerate(pieces[1:]):
        joined += breaks[i % len(breaks)] + piece
    assert to_dict(codec.decode((wire[:cut] + joined).encode("ascii"))) == want


# grammar-shaped messages: header lines, then lines of TAG/value pieces (known and unknown
# tags, '.', ' ' and '. ' between them), text lines, blank lines -- the shapes the fuzzer
# found unstable (a field a line without '.', a status text ending with '.')
HEADERS = ["QW.CA0349999.", "QW.CA0349999.\n", "QWR.CA0349999.\n", "QRR.CA0349999.\n",
           "DQ.CA0349999.AZ.TXT\n", "DR.AZ0000000\n10:41 03/14/2024 00321\n"
           "10:41 03/14/2024 04567 CA0349999\n*DQ0001.TXT\n"]
TAGS = ["NAM", "DOB", "SEX", "MIS", "OCA", "MAM", "ZZ9", "CHG", "MKE", "LIC"]
piece = st.builds(lambda t, v: f"{t}/{v}", st.sampled_from(TAGS),
                  st.text(ALNUM[:6] + " .,-", min_size=0, max_size=10))
field_line = st.builds(lambda ps, sep: sep.join(ps), st.lists(piece, min_size=1, max_size=3),
                       st.sampled_from([" ", ".", ". "]))
text_line = st.sampled_from(["", "WARNING", "NO RECORD", "NO RECORD.", "SEE ALSO.", "A. B",
                             "MKE/WANTED PERSON", ".21. BAD"])


@given(st.sampled_from(HEADERS), st.lists(field_line | text_line, min_size=1, max_size=5))
@settings(max_examples=400)
def test_grammar_shaped_text_decodes_to_a_fixed_point(head: str, lines: list[str]) -> None:
    """decode -> encode -> decode is stable (the fuzz targets' oracle), or a typed error."""
    data = (head + "\n".join(lines)).encode("ascii")
    for codec in (NCIC["ascii"], NLETS["ascii"], NcicCodec(edits=False),
                  NletsCodec(edits=False)):
        try:
            first = codec.decode(data)
        except DecodeError:
            continue
        try:
            wire = codec.encode(first)
        except EncodeError:
            continue
        second = codec.decode(wire)
        again = codec.encode(second)
        assert again == wire, (data, wire, again)
        assert to_dict(codec.decode(again)) == to_dict(second)


# ----------------------------------------------------------------------------- hostile input

CODECS = [NCIC["ascii"], NCIC["cp037"], NLETS["ascii"], NLETS["cp037"],
          NcicCodec(edits=False), NletsCodec(edits=False)]
SAMPLES = sorted(p.read_bytes() for d in ("ncic", "nlets")
                 for p in Path(FIXTURES, "messages", d).iterdir() if p.suffix in (".txt", ".bin"))


def _only_typed_errors(data: bytes) -> None:
    for codec in CODECS:
        try:
            codec.decode(data)
        except DecodeError as exc:
            assert exc.format in ("ncic", "nlets")
        try:
            list(codec.decode_stream(data))
        except DecodeError:
            pass


@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    _only_typed_errors(data)


@given(st.sampled_from(SAMPLES), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255),
                                                    st.sampled_from("rid")), max_size=6))
@settings(max_examples=300)
def test_mutated_samples_raise_only_decode_errors(sample: bytes,
                                                  edits: list[tuple[int, int, str]]) -> None:
    data = bytearray(sample)
    for pos, byte, op in edits:
        at = pos % (len(data) + 1)
        if op == "r" and at < len(data):
            data[at] = byte
        elif op == "i":
            data.insert(at, byte)
        elif op == "d" and at < len(data):
            del data[at]
    _only_typed_errors(bytes(data))


@given(st.text(ALNUM + "./ ,*-\n\r$", max_size=200))
def test_grammar_shaped_text_raises_only_decode_errors(s: str) -> None:
    _only_typed_errors(s.encode("ascii"))


@given(st.lists(st.one_of(st.text(alphabet=ALNUM + "/ -,'", min_size=0, max_size=12),
                          st.sampled_from(["NAM/", "DOB/", "A1B/", "ab1/", "12/", "OFF/X"])),
                min_size=1, max_size=12),
       st.sampled_from(["", " ", ".", " . "]))
def test_response_line_pieces_agree_with_the_separator_regex(words: list[str], dot: str
                                                            ) -> None:
    """``line_pieces`` cuts where ``LINE_SEP`` does, and its offsets are those of the pieces.

    (A piece keeps all but the last character of a run of separators; values are
    ``piece[4:].rstrip(" .").lstrip(" ")``.)
    """
    from clets.codecs.tagged import LINE_SEP, line_pieces

    line = ("NAM/" + dot.join(words)).rstrip(" .")
    pieces = line_pieces(line)
    pos = 0
    for piece in pieces:
        assert line.startswith(piece, pos)
        pos += len(piece) + 1
    assert pos == len(line) + 1
    values = [p.rstrip(" .") for p in pieces]
    assert values == LINE_SEP.split(line)


@given(st.text(alphabet=ALNUM + " -,'/.abc", max_size=20))
def test_inlined_parsers_are_the_dictionarys_parsers(raw: str) -> None:
    """The generated stores inline some parsers as source text: the same as the functions."""
    from clets.codecs.tagged import _INLINE_PARSE
    from clets.model.dictionary import _DIRECT_PARSERS

    for kind, source in _INLINE_PARSE.items():
        assert eval(source, {}, {"raw": raw}) == _DIRECT_PARSERS[kind](raw), kind


@given(st.lists(st.one_of(st.text(alphabet=ALNUM + "./ -", max_size=12),
                          st.sampled_from(["NAM/", "DOB/", "A1B/", "ab1/", ".", ". ", "OFF/X"])),
                max_size=12))
def test_split_fields_cuts_where_the_separator_regex_does(words: list[str]) -> None:
    """The fast path of ``split_fields`` (one search, then ``str.split``) is ``REQ_SEP``'s."""
    from clets.codecs.tagged import REQ_SEP, split_fields

    body = ".".join(words)
    assert split_fields(body) == REQ_SEP.split(body)


@given(st.one_of(st.text(alphabet=ALNUM + "IOQ a-", min_size=15, max_size=18),
                 st.text(alphabet="0123456789ABCDEFGHJKLMNPRSTUVWXYZ", min_size=17,
                         max_size=17)))
def test_vin_check_digit_is_the_weighted_sum(vin: str) -> None:
    """The C-level VIN check is the ISO 3779 sum written plainly."""
    from clets.model.edits import _VIN_MAP, _VIN_WEIGHTS, vin_check_digit_ok

    if len(vin) != 17 or any(c not in _VIN_MAP for c in vin):
        want = False
    else:
        digit = sum(_VIN_MAP[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
        want = vin[8] == ("X" if digit == 10 else str(digit))
    assert vin_check_digit_ok(vin) is want

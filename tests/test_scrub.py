"""Scrubbing: format preservation, field edits still pass, consistency, raw frames agree."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from clets.cli import cli
from clets.errors import ConfigError
from clets.model import (
    Address,
    Case,
    License,
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    check,
    from_dict,
    to_dict,
    vin_check_digit_ok,
)
from clets.testing.capture import CaptureWriter, read_capture
from clets.testing.scrub import VIN_LETTERS, Scrubber, scrub_capture
from tests.strategies import DIGITS, UPPER, codes, dates, oris

KEY = b"unit-test-scrub-key-0123456789ab"
TODAY = dt.date(2025, 6, 1)
#: raise with SCRUB_EXAMPLES=2000 for a longer hunt (1500 passed when this was written)
EXAMPLES = int(os.environ.get("SCRUB_EXAMPLES", "60"))


def _vin(valid: bool) -> st.SearchStrategy[str]:
    base = st.text(VIN_LETTERS + DIGITS, min_size=17, max_size=17)

    def fix(v: str) -> str:
        for d in "0123456789X":
            cand = v[:8] + d + v[9:]
            if vin_check_digit_ok(cand) == valid:
                return cand
        return v

    return base.map(fix)


name_words = st.text(UPPER, min_size=1, max_size=8)
last_names = st.one_of(
    name_words.filter(lambda w: len(w) >= 2),
    st.builds(lambda a, b: f"{a}'{b}", st.text(UPPER, min_size=1, max_size=2),
              st.text(UPPER, min_size=2, max_size=6)),
    st.builds(lambda a, b: f"{a}-{b}", st.text(UPPER, min_size=2, max_size=6),
              st.text(UPPER, min_size=2, max_size=6)))
names = st.builds(Name, last=last_names, first=st.none() | name_words.filter(lambda w: len(w) > 1),
                  middle=st.none() | st.text(UPPER, min_size=1, max_size=1)).map(
    lambda n: Name(n.last, n.first, n.middle if n.first else None, None))
persons = st.builds(
    Person, name=names, dob=st.none() | dates, sex=st.none() | codes("sex"),
    race=st.none() | codes("race"),
    ssn=st.none() | st.text(DIGITS, min_size=9, max_size=9),
    fbi=st.none() | st.text(UPPER + DIGITS, min_size=1, max_size=9),
    cii=st.none() | st.text(UPPER + DIGITS, min_size=1, max_size=10),
    mnu=st.none() | st.builds(lambda a, b: f"{a}-{b}", st.sampled_from(["SS", "AR", "MC"]),
                              st.text(DIGITS + UPPER, min_size=1, max_size=12)),
    license=st.none() | st.builds(License, number=st.text(UPPER + DIGITS, min_size=1,
                                                          max_size=12),
                                  state=codes("states")),
    address=st.none() | st.builds(
        Address, street=st.builds(lambda n, w: f"{n} {w} ST", st.integers(1, 99999),
                                  st.text(UPPER, min_size=2, max_size=10)),
        city=st.text(UPPER + " ", min_size=3, max_size=14).map(str.strip).filter(bool),
        state=codes("states"), zip=st.text(DIGITS, min_size=5, max_size=5)))
vehicles = st.builds(
    Vehicle, plate=st.text(UPPER + DIGITS, min_size=2, max_size=8), plate_state=codes("states"),
    vin=st.none() | _vin(True) | _vin(False), year=st.none() | st.integers(1950, 2025))
cases = st.builds(
    Case, oca=st.none() | st.builds(lambda a, b: f"{a}-{b}", st.text(DIGITS, min_size=2,
                                                                     max_size=2),
                                    st.text(DIGITS, min_size=6, max_size=6)),
    nic=st.none() | st.builds(lambda a, b: a + b, st.sampled_from("WVH"),
                              st.text(DIGITS, min_size=9, max_size=9)),
    fcn=st.none() | st.text(DIGITS, min_size=13, max_size=13))
records = st.builds(Record, file=st.sampled_from(["wanted", "registration", "driver"]),
                    person=st.none() | persons, owner=st.none() | persons,
                    vehicle=st.none() | vehicles, case=st.none() | cases,
                    registration=st.none() | st.builds(Registration, expires=dates,
                                                       status=st.just("AC")))
messages = st.builds(Message, format=st.just("json"), mke=st.sampled_from(["QW", "QV", "RGR1"]),
                     origin=oris, person=st.none() | persons, vehicle=st.none() | vehicles,
                     case=st.none() | cases, records=st.lists(records, max_size=3))


def _leaves(obj: Any, path: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_leaves(v, f"{path}.{k}" if path else k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_leaves(v, f"{path}[{i}]"))
    else:
        out[path] = obj
    return out


def _klass(c: str) -> str:
    return "9" if c.isdigit() else "A" if c.isalpha() else c


@settings(max_examples=EXAMPLES)
@given(messages)
def test_scrubbed_message_passes_edits_and_keeps_shape(msg: Message) -> None:
    original = to_dict(msg)
    sc = Scrubber(KEY, today=TODAY)
    out = sc.scrub_message(original)
    scrubbed = from_dict(out)  # still canonical
    before = {(f.path, f.severity, f.reason) for f in check(msg, today=TODAY)}
    after = {(f.path, f.severity, f.reason) for f in check(scrubbed, today=TODAY)}
    assert not [f for f in after if f[1] == "reject"] or before == after
    assert after == before  # same warnings (VIN check digit), no new rejects
    a, b = _leaves(original), _leaves(out)
    assert a.keys() == b.keys()
    for path, real in a.items():
        fake = b[path]
        if real == fake:
            continue
        assert isinstance(real, str) and isinstance(fake, str), path
        assert len(fake) == len(real), path
        if path.endswith("dob"):
            assert dt.date.fromisoformat(fake) < TODAY
            continue
        assert [_klass(c) for c in fake] == [_klass(c) for c in real], (path, real, fake)
        if path.endswith("vin"):
            assert vin_check_digit_ok(fake) == vin_check_digit_ok(real)
            assert not set(fake) & set("IOQ")
        if path.endswith("nic"):
            assert fake[0] == real[0]


@settings(max_examples=EXAMPLES)
@given(messages)
def test_real_values_do_not_survive(msg: Message) -> None:
    original = to_dict(msg)
    out = Scrubber(KEY, today=TODAY).scrub_message(original)
    sensitive = re.compile(r"(name\.(last|first)|dob|ssn|fbi|cii|mnu|license\.number|street|"
                           r"city|zip|plate|vin|oca|nic|fcn)$")
    dumped = json.dumps(out)
    for path, real in _leaves(original).items():
        if sensitive.search(path) and isinstance(real, str):
            assert _leaves(out)[path] != real, path
            if len(real) >= 8 and not path.endswith("dob"):
                assert f'"{real}"' not in dumped, path


@settings(max_examples=EXAMPLES)
@given(persons, persons)
def test_consistent_across_messages_and_runs(p: Person, q: Person) -> None:
    m1 = to_dict(Message(format="json", mke="QW", person=p))
    m2 = to_dict(Message(format="json", mke="RGR1", records=[
        Record(file="registration", owner=p, person=q)]))
    sc = Scrubber(KEY, today=TODAY)
    o1, o2 = sc.scrub_message(m1), sc.scrub_message(m2)
    assert o1["person"] == o2["records"][0]["owner"]
    # a new scrubber with the same key gives the same mapping; another key another one
    again = Scrubber(KEY, today=TODAY).scrub_message(m1)
    assert again == o1
    other = Scrubber(b"another-key-of-sufficient-length", today=TODAY).scrub_message(m1)
    assert other["person"]["name"] != o1["person"]["name"] or len(p.name.last or "") < 2


def test_free_text_tags_known_values_and_ssn_shapes() -> None:
    sc = Scrubber(KEY, today=TODAY)
    msg = to_dict(Message(format="json", mke="ER", origin="CA0349999",
                          person=Person(name=Name("SMITH", "JOHN", "J"), dob="1975-10-12",
                                        ssn="123456789"),
                          remarks="SUBJECT SMITH SEEN, SSN 123-45-6789, OTHER 987-65-4320",
                          text="QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012.SEX/M"))
    sc.learn(msg)
    out = sc.scrub_message(msg)
    fake = out["person"]
    assert "SMITH" not in out["remarks"] and "123-45-6789" not in out["remarks"]
    assert "987-65-4320" not in out["remarks"]
    assert fake["name"]["last"] in out["remarks"]
    ssn = fake["ssn"]
    assert f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}" in out["remarks"]
    wire_dob = fake["dob"].replace("-", "")
    name = f"{fake['name']['last']}, {fake['name']['first']} {fake['name']['middle']}"
    assert out["text"] == f"QW.CA0349999.NAM/{name}.DOB/{wire_dob}.SEX/M"
    assert len(out["remarks"]) == len(msg["remarks"])


def test_a_nine_digit_ssn_standing_alone_in_free_text_is_scrubbed() -> None:
    """NCIC writes an SSN as nine digits; one typed into a remark must not survive."""
    sc = Scrubber(KEY, today=TODAY)
    text, n = sc.scrub_text("MIS/SUBJ SSN 524781234 ALSO 524-78-1236 CASE W123456789")
    assert "524781234" not in text and "524-78-1236" not in text
    assert "W123456789" in text  # a number inside a word (a NIC) is not an SSN
    plain = re.search(r"SSN (\d{9}) ", text)
    assert plain is not None and plain.group(1) == sc.fake("ssn", "524781234")
    assert len(text) == len("MIS/SUBJ SSN 524781234 ALSO 524-78-1236 CASE W123456789")
    assert n >= 2


def test_invalid_date_stays_invalid() -> None:
    sc = Scrubber(KEY, today=TODAY)
    text, n = sc.scrub_text("QW.CA0349999.NAM/DOE, JANE.DOB/19751302.SEX/F")
    assert n == 2
    dob = re.search(r"DOB/(\d+)", text)
    assert dob is not None and len(dob.group(1)) == 8 and dob.group(1) != "19751302"
    with pytest.raises(ValueError):
        dt.date(int(dob.group(1)[:4]), int(dob.group(1)[4:6]), int(dob.group(1)[6:]))


def test_short_key_refused() -> None:
    with pytest.raises(ConfigError):
        Scrubber(b"short")


def _capture(tmp_path: Path) -> Path:
    path = tmp_path / "real.jsonl"
    req = Message(format="json", mke="QW", origin="CA0349999", control="C1",
                  person=Person(name=Name("SMITH", "JOHN", "J"), dob="1975-10-12"))
    ans = Message(format="json", mke="QWR", destinations=["CA0349999"], control="C1",
                  status="hit", records=[Record(file="wanted", person=Person(
                      name=Name("SMITH", "JOHN", "J"), dob="1975-10-12", ssn="123456789"),
                      case=Case(oca="24-001234", nic="W123456789"),
                      remarks="ARMED. SMITH ALSO KNOWN AS SMYTHE")])
    with CaptureWriter(path, links={"client": {"codec": "json", "framing": "len2"}}) as w:
        w.write_event(link="client", direction="in", raw=to_dict_bytes(req), codec="json",
                      framing="len2")
        w.write_event(link="client", direction="out", raw=to_dict_bytes(ans), codec="json",
                      framing="len2")
        # a reject: undecodable text frame carrying a name and DOB
        w.write_event(link="client", direction="in",
                      raw=b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751302", codec="json",
                      framing="len2")
        # binary garbage that cannot be decoded nor scrubbed: dropped
        w.write_event(link="client", direction="out", raw=b"\xc5\xd9\x00SMITH\xff",
                      codec="json", framing="len2")
    return path


def to_dict_bytes(msg: Message) -> bytes:
    return json.dumps(to_dict(msg)).encode()


def test_scrub_capture_reencodes_raw_and_reports(tmp_path: Path) -> None:
    cap = read_capture(_capture(tmp_path))
    out, report = scrub_capture(cap, KEY, today=TODAY)
    text = json.dumps([e.message for e in out.events]) + "".join(
        (e.raw or b"").decode("latin-1") for e in out.events) + report.render()
    for real in ("SMITH", "19751012", "1975-10-12", "123456789", "24-001234", "W123456789"):
        assert real not in text, real
    req, ans, bad, binary = out.events
    # raw and canonical agree after re-encoding
    assert json.loads(req.raw or b"") == req.message
    assert json.loads(ans.raw or b"") == ans.message
    assert req.message is not None and ans.message is not None
    assert req.message["person"]["name"] == ans.message["records"][0]["person"]["name"]
    assert from_dict(ans.message).records[0].case.nic.startswith("W")  # type: ignore[union-attr]
    assert bad.raw is not None and b"NAM/" in bad.raw and len(bad.raw) == len(
        cap.events[2].raw or b"")
    assert binary.raw is None and "dropped" in (binary.note or "")
    assert report.replaced["person.name.last"] == 1
    assert report.replaced["records[*].person.name.last"] == 1
    assert report.raw_reencoded + report.raw_in_place == 2 and len(report.raw_dropped) == 1
    assert out.header.extra["scrubbed"]["key_id"]
    # the scrubbed capture is a valid capture
    from clets.testing.capture import write_capture

    write_capture(tmp_path / "s.jsonl", out)
    assert read_capture(tmp_path / "s.jsonl").events[0].message == req.message


def test_cli_scrub_key_file_and_env(tmp_path: Path) -> None:
    src = _capture(tmp_path)
    key = tmp_path / "k"
    key.write_bytes(KEY + b"\n")
    runner = CliRunner()
    r1 = runner.invoke(cli, ["scrub", str(src), "-o", str(tmp_path / "a.jsonl"),
                             "--key-file", str(key)])
    assert r1.exit_code == 0, r1.output
    assert "person.name.last: 1" in r1.output
    r2 = runner.invoke(cli, ["scrub", str(src), "-o", str(tmp_path / "b.jsonl"),
                             "--report", str(tmp_path / "rep.txt")],
                       env={"CLETS_SCRUB_KEY": KEY.decode()})
    assert r2.exit_code == 0, r2.output
    a = read_capture(tmp_path / "a.jsonl")
    b = read_capture(tmp_path / "b.jsonl")
    assert [e.message for e in a.events] == [e.message for e in b.events]
    assert "SMITH" not in (tmp_path / "rep.txt").read_text()
    r3 = runner.invoke(cli, ["scrub", str(src), "-o", str(tmp_path / "c.jsonl")],
                       env={"CLETS_SCRUB_KEY": ""})
    assert r3.exit_code == 2 and "CLETS_SCRUB_KEY" in r3.output

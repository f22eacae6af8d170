"""Canonical diff: masks, globs, nulls against objects, lists of different lengths, pairing."""

from __future__ import annotations

import pytest
from hypothesis import given

from clets.model import (
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    to_dict,
)
from clets.testing.capture import CaptureEvent
from clets.testing.diff import ABSENT, DEFAULT_MASKS, FieldDiff, MaskSet, diff_messages
from clets.testing.session import compare_answers, exchanges
from tests.strategies import inquiries


def _answer(expires: str = "2027-03-31", *, records: int = 1, sent_at: str | None = None,
            control: str | None = "C1", dte: str = "20250101") -> dict[str, object]:
    recs = [Record(file="registration", vehicle=Vehicle(plate=f"7ABC12{i}", plate_state="CA"),
                   owner=Person(name=Name("DOE", "JANE")),
                   registration=Registration(expires=expires, status="AC"),
                   fields={"DTE": dte, "PTS": "2"}) for i in range(records)]
    return to_dict(Message(format="json", mke="RGR1", control=control, sequence=7,
                           sent_at=sent_at, status="hit", records=recs))


def paths(diffs: list[FieldDiff]) -> list[str]:
    return [d.path for d in diffs]


def test_identical_messages_have_no_diff() -> None:
    assert diff_messages(_answer(), _answer()) == []


def test_one_changed_field_is_named_exactly() -> None:
    d = diff_messages(_answer("2027-03-31"), _answer("2026-03-31"))
    assert paths(d) == ["records[0].registration.expires"]
    assert str(d[0]) == 'records[0].registration.expires: "2027-03-31" -> "2026-03-31"'


def test_default_masks_hide_volatile_fields() -> None:
    a = _answer(sent_at="2025-01-01T10:00", control="C1", dte="20250101")
    b = _answer(sent_at="2025-01-02T11:00", control="C2", dte="20250102")
    b["sequence"] = 99
    assert diff_messages(a, b) == []
    assert paths(diff_messages(a, b, MaskSet.of(defaults=False))) == [
        "control", "sequence", "sent_at", "records[0].fields.DTE"]


def test_masks_by_name_and_glob() -> None:
    a, b = _answer("2027-03-31"), _answer("2026-03-31")
    b["records"][0]["fields"]["PTS"] = "3"  # type: ignore[index]
    assert len(diff_messages(a, b)) == 2
    assert paths(diff_messages(a, b, MaskSet.of(["records[*].registration.expires"]))) == [
        "records[0].fields.PTS"]
    assert diff_messages(a, b, MaskSet.of(["records[*].registration", "*.PTS"])) == []
    assert diff_messages(a, b, MaskSet.of(["records"])) == []
    assert diff_messages(a, b, MaskSet.of(["**.expires", "records[0].fields.*"])) == []
    # a mask for another record index does not hide record 0
    assert len(diff_messages(a, b, MaskSet.of(["records[1]"]))) == 2


@pytest.mark.parametrize(("mask", "path", "hit"), [
    ("sent_at", "sent_at", True),
    ("sent_at", "records[0].sent_at", False),
    ("*.sent_at", "sent_at", True),
    ("*.sent_at", "records[3].x.sent_at", True),
    ("*.sent_at", "sent_at_x", False),
    ("records[*].fields.DTE", "records[12].fields.DTE", True),
    ("records[*].fields.DTE", "records[1].fields.DTEX", False),
    ("person", "person.name.last", True),
    ("person", "personx", False),
    ("person.*.last", "person.name.last", True),
    ("person.*", "person.name.last", True),
    ("destinations", "destinations[2]", True),
    ("rec?rds", "records[0]", True),
])
def test_mask_glob_semantics(mask: str, path: str, hit: bool) -> None:
    assert MaskSet((mask,)).match(path) is hit


def test_records_lists_of_different_length() -> None:
    a, b = _answer(records=1), _answer(records=3)
    d = diff_messages(a, b)
    assert paths(d) == ["records[1]", "records[2]"]
    assert [x.kind for x in d] == ["extra", "extra"]
    assert d[0].captured is ABSENT and d[0].replayed["file"] == "registration"
    assert str(d[0]).startswith("records[1]: <absent> -> {")
    back = diff_messages(b, a)
    assert [x.kind for x in back] == ["missing", "missing"]
    # masking the volatile field inside records does not hide a missing record
    assert len(diff_messages(a, b, MaskSet.of(["records[*].fields.DTE"]))) == 2


def test_null_object_against_object_names_leaves() -> None:
    a = to_dict(Message(format="json", mke="QW"))
    b = to_dict(Message(format="json", mke="QW", person=Person(name=Name("SMITH"), sex="M")))
    assert paths(diff_messages(a, b)) == ["person.name.last", "person.sex"]
    assert paths(diff_messages(a, b, MaskSet.of(["person.sex"]))) == ["person.name.last"]


def test_free_map_keys_missing_and_extra() -> None:
    a, b = _answer(), _answer()
    del b["records"][0]["fields"]["PTS"]  # type: ignore[index]
    b["records"][0]["fields"]["FTA"] = "1"  # type: ignore[index]
    d = diff_messages(a, b)
    assert [(x.path, x.kind) for x in d] == [("records[0].fields.PTS", "missing"),
                                             ("records[0].fields.FTA", "extra")]


def test_type_change_is_a_diff() -> None:
    a, b = _answer(), _answer()
    b["sequence"] = "7"
    assert paths(diff_messages(a, b, MaskSet())) == ["sequence"]


def test_default_masks_documented() -> None:
    assert {"sent_at", "sequence", "control"} <= set(DEFAULT_MASKS)


@given(inquiries("json"))
def test_a_message_equals_itself_and_masking_everything_hides_all(msg: Message) -> None:
    d = to_dict(msg)
    assert diff_messages(d, d, MaskSet()) == []
    other = to_dict(Message(format="json", mke="ZZ"))
    assert diff_messages(d, other, MaskSet(("**",))) == []


def _ev(msg: dict[str, object] | None, direction: str = "out", t: float = 0.0,
        raw: bytes | None = None) -> CaptureEvent:
    return CaptureEvent(t=t, link="l", direction=direction, message=msg,  # type: ignore[arg-type]
                        raw=raw if raw is not None else b"x")


def test_answers_pair_by_content_not_arrival_order() -> None:
    reg = _answer()
    ncic = to_dict(Message(format="json", mke="QVR", control="C1", status="no_hit",
                           text="NO NCIC WANT"))
    captured = [_ev(reg), _ev(ncic)]
    replayed = [_ev(ncic), _ev(reg)]
    res = compare_answers(captured, replayed, MaskSet.of())
    assert [r.status for r in res] == ["identical", "identical"]
    changed = _answer("2020-01-01")
    res = compare_answers(captured, [_ev(ncic), _ev(changed)], MaskSet.of())
    assert [r.status for r in res] == ["different", "identical"]
    assert paths(res[0].diffs) == ["records[0].registration.expires"]
    res = compare_answers(captured, [_ev(reg)], MaskSet.of())
    assert [r.status for r in res] == ["identical", "missing"]


def test_exchanges_attribute_by_control_then_order() -> None:
    q1 = to_dict(Message(format="json", mke="QV", control="A"))
    q2 = to_dict(Message(format="json", mke="QV", control="B"))
    late_a = to_dict(Message(format="json", mke="QVR", control="A"))
    nocontrol = to_dict(Message(format="json", mke="AM"))
    events = [_ev(nocontrol), _ev(q1, "in"), _ev(q2, "in"), _ev(late_a), _ev(nocontrol)]
    ex, unsolicited = exchanges(events, "l")
    assert [len(e.answers) for e in ex] == [1, 1]
    assert ex[0].answers[0].message == late_a
    assert ex[1].answers[0].message == nocontrol
    assert unsolicited.answers[0].message == nocontrol
    assert ex[0].name() == "#1 QV *A"


def test_undecoded_answers_compare_raw() -> None:
    a = CaptureEvent(t=0, link="l", direction="out", raw=b"\x01\x02", decode_error="bad")
    b = CaptureEvent(t=0, link="l", direction="out", raw=b"\x01\x02", decode_error="bad")
    c = CaptureEvent(t=0, link="l", direction="out", raw=b"\x01\x03", decode_error="bad")
    assert compare_answers([a], [b], MaskSet.of())[0].status == "identical"
    res = compare_answers([a], [c], MaskSet.of())
    assert res[0].status == "different" and paths(res[0].diffs) == ["raw"]

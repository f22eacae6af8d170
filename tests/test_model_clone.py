"""``clets.model.clone`` and ``clets.model.replace``: copies generated from the model's schema.

The simulators copy a request's person or vehicle into every miss, so the copy must be both
exact (equal to the original) and independent (no list, map or model object shared).  The
switch makes a shallow copy with a few fields changed per forward and per answer: it must be
what ``msgspec.structs.replace`` (as ``dataclasses.replace`` did for the dataclasses the model
was before) gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.model import (
    Message,
    Name,
    Person,
    Vehicle,
    clone,
    is_model,
    loads,
    model_fields,
    replace,
)
from tests.strategies import inquiries

#: one message per file (``stream.json`` holds several)
FIXTURES = sorted(p for p in (Path(__file__).parent.parent / "fixtures" / "messages").rglob(
    "*.json") if p.stem != "stream")


def assert_independent(a: Any, b: Any, path: str = "$") -> None:
    """Every container and model object of ``b`` is a different object from ``a``'s."""
    if isinstance(a, (list, dict)) or is_model(a):
        assert a is not b, f"{path} is shared"
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_independent(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        for k in a:
            assert_independent(a[k], b[k], f"{path}.{k}")
    elif is_model(a):
        for name in model_fields(a):
            assert_independent(getattr(a, name), getattr(b, name), f"{path}.{name}")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_clone_of_every_fixture_is_equal_and_independent(path: Path) -> None:
    msg = loads(path.read_bytes())
    copy = clone(msg)
    assert copy == msg
    assert_independent(msg, copy)


def test_fixtures_found() -> None:
    assert len(FIXTURES) > 50


@given(inquiries())
def test_clone_of_random_inquiries(msg: Message) -> None:
    copy = clone(msg)
    assert copy == msg
    assert_independent(msg, copy)
    copy.warnings.append("CHANGED")  # changing the copy leaves the original alone
    assert "CHANGED" not in msg.warnings
    if copy.person is not None and copy.person.name is not None:
        copy.person.name.last = "CHANGED"
        assert msg.person is not None and msg.person.name is not None
        assert msg.person.name.last != "CHANGED"


def test_clone_of_a_part_and_of_none() -> None:
    p = Person(name=Name("DOE", "JOHN"), dob="1980-01-01")
    q = clone(p)
    assert q == p and q is not p and q.name is not p.name
    assert clone(None) is None


def test_clone_refuses_what_is_not_a_model_object() -> None:
    with pytest.raises(TypeError, match="not a model object"):
        clone({"a": 1})


_CHANGES = st.dictionaries(
    st.sampled_from(["format", "mke", "origin", "control", "operator", "warnings",
                     "destinations", "person", "sequence"]),
    st.none() | st.text(max_size=12), max_size=4)


@given(inquiries(), _CHANGES)
def test_replace_is_structs_replace(msg: Message, changes: dict[str, Any]) -> None:
    out = replace(msg, **changes)
    assert out == msgspec.structs.replace(msg, **changes)
    assert out is not msg
    for name in model_fields(msg):  # shallow: what is not replaced is the very same object
        if name not in changes:
            assert getattr(out, name) is getattr(msg, name)
    assert msg == replace(msg)  # the original is untouched


@pytest.mark.parametrize("path", FIXTURES[:20], ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_replace_of_fixtures(path: Path) -> None:
    msg = loads(path.read_bytes())
    out = replace(msg, control="0000000001", warnings=["late"])
    assert out == msgspec.structs.replace(msg, control="0000000001", warnings=["late"])
    assert out.control == "0000000001" and msg.warnings is not out.warnings


def test_replace_of_a_part_and_its_refusals() -> None:
    v = Vehicle(plate="7ABC123", plate_state="CA")
    assert replace(v, plate_state="NV") == Vehicle(plate="7ABC123", plate_state="NV")
    assert v.plate_state == "CA"
    with pytest.raises(TypeError, match="no field 'nope'"):
        replace(v, nope=1)
    with pytest.raises(TypeError, match="not a model object"):
        replace({"a": 1}, a=2)

"""The msgspec model against the model it replaced (``tests/model_baseline.py``), as an oracle.

The canonical JSON is a contract (spec/model.md) and journals, captures and outside checks
hold it byte for byte, so the new ``dump`` must write exactly what the old one wrote, and the
new ``loads`` must accept exactly what the old one accepted (the same message) and refuse the
rest with the same error (type, reason, field path, offset).  Every fixture, and messages and
documents hypothesis makes over the whole model: any unicode text, integers past 64 bits,
objects whose fields are all absent, nulls where lists are, unknown keys, wrong types, broken
bytes.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clets.model as new
import tests.model_baseline as old
from clets.errors import CletsError

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "messages").rglob("*.json"))
_OLD_CLASSES = {c.__name__: c for c in old._MODEL_TYPES}
_NEW_CLASSES = {c.__name__: getattr(new, c.__name__) for c in old._MODEL_TYPES}


def to_new(obj: Any) -> Any:
    """An old (dataclass) model object as the same object of the new model, field by field."""
    if isinstance(obj, list):
        return [to_new(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_new(v) for k, v in obj.items()}
    name = type(obj).__name__
    if name in _OLD_CLASSES and isinstance(obj, _OLD_CLASSES[name]):
        return _NEW_CLASSES[name](**{f: to_new(getattr(obj, f))
                                     for f in obj.__dataclass_fields__})
    return obj


def outcome(fn: Any, *args: Any) -> Any:
    """What a call gives: its value, or its error as (type name, str, field, offset)."""
    try:
        return fn(*args)
    except CletsError as exc:
        return ("error", type(exc).__name__, str(exc), getattr(exc, "field", None),
                getattr(exc, "offset", None))
    except UnicodeError as exc:
        return ("error", type(exc).__name__)


# ---------------------------------------------------------------------------------- fixtures

def _documents(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if path.stem == "stream":  # several messages, one a line
        return [line for line in data.splitlines() if line.strip()]
    return [data]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_fixture_loads_and_dumps_as_before(path: Path) -> None:
    for doc in _documents(path):
        before = outcome(old.loads, doc)
        after = outcome(new.loads, doc)
        if isinstance(before, tuple):
            assert after == before
            continue
        assert after == to_new(before)
        assert new.dump(after) == old.dump(before)
        assert new.dumps(after) == old.dumps(before)
        assert new.to_dict(after) == old.to_dict(before)


def test_fixtures_found() -> None:
    assert len(FIXTURES) > 80


def test_every_decoded_fixture_dumps_as_before() -> None:
    """The messages the codecs make (text, NIEM, copybook fixtures decoded), not only JSON."""
    from clets.codecs import get_codec

    root = Path(__file__).parent.parent / "fixtures" / "messages"
    checked = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix == ".json":
            continue
        try:
            msg = get_codec(path.parent.name).decode(path.read_bytes())
        except (CletsError, KeyError):
            continue  # negative fixtures, or a folder that is not a codec
        want = old.dump(old.from_dict(new.to_dict(msg)))
        assert new.dump(msg) == want, path
        checked += 1
    assert checked > 50


# ---------------------------------------------------------------------- generated messages

_text = st.text(max_size=12) | st.sampled_from(["", "A", "é", "\u2028", "\x00\x1f\x7f", '"\\/'])
_ints = st.integers() | st.sampled_from([0, -1, 2**63, 2**64, -(2**63) - 1, 10**40])


def _for(tp: Any, depth: int) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, __import__("types").UnionType):
        return st.none() | _for(args[0], depth)
    if origin is list:
        return st.lists(_for(args[0], depth), max_size=3)
    if origin is dict:
        return st.dictionaries(_text, _text, max_size=3)
    if tp is str:
        return _text
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _ints
    return _model(tp, depth + 1)


def _model(cls: type, depth: int = 0) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    if depth > 3:
        return st.just(cls())
    parts = {f: _for(hints[f], depth) for f in cls.__dataclass_fields__}  # type: ignore[attr-defined]
    # all-absent objects (written as null) are common enough to draw on purpose
    return st.just(cls()) | st.builds(cls, **parts) | st.builds(
        cls, **{f: st.none() | s for f, s in parts.items()
                if typing.get_origin(hints[f]) not in (list, dict) and hints[f] is not bool})


_MESSAGES = _model(old.Message)


@given(_MESSAGES)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_dump_is_byte_identical_on_generated_messages(msg: Any) -> None:
    m = to_new(msg)
    assert outcome(new.dump, m) == outcome(old.dump, msg)
    assert outcome(new.dumps, m) == outcome(old.dumps, msg)
    assert new.to_dict(m) == old.to_dict(msg)
    parts = [msg, msg.person, msg.vehicle, msg.case, msg.error, *msg.records]
    for part in parts:
        assert new.is_empty(to_new(part)) == old.is_empty(part)
        if part is not None:
            assert new.clone(to_new(part)) == to_new(old.clone(part))


def test_lone_surrogates_fail_or_pass_as_before() -> None:
    msg = old.Message(format="json", mke="AM", text="\ud800")
    assert outcome(new.dumps, to_new(msg)) == old.dumps(msg)  # a str can hold one
    assert outcome(new.dump, to_new(msg)) == outcome(old.dump, msg)  # UTF-8 cannot


# --------------------------------------------------------------------- generated documents

_json_values = st.recursive(
    st.none() | st.booleans() | _ints | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=6)


@st.composite
def _documents_of(draw: st.DrawFn) -> bytes:
    """A message's JSON, then broken (or not) at one place: a value swapped for any JSON
    value, a key added, a key dropped, or a byte inserted or replaced."""
    doc = old.to_dict(draw(_MESSAGES))
    holders: list[dict[str, Any]] = [doc]
    stack: list[Any] = [doc]
    while stack:
        x = stack.pop()
        for v in (x.values() if isinstance(x, dict) else x if isinstance(x, list) else ()):
            if isinstance(v, dict):
                holders.append(v)
            if isinstance(v, (dict, list)):
                stack.append(v)
    target = draw(st.sampled_from(holders))
    how = draw(st.sampled_from(["swap", "add", "drop", "none", "bytes"]))
    if how == "swap" and target:
        target[draw(st.sampled_from(sorted(target)))] = draw(_json_values)
    elif how == "add":
        target[draw(_text)] = draw(_json_values)
    elif how == "drop" and target:
        del target[draw(st.sampled_from(sorted(target)))]
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()),
                      separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    data = text.encode("utf-8", "surrogatepass")
    if how == "bytes":
        at = draw(st.integers(0, len(data)))
        cut = draw(st.integers(0, 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=2)) + data[at + cut:]
    return data


@given(_documents_of())
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
def test_loads_accepts_and_refuses_as_before(data: bytes) -> None:
    before = outcome(old.loads, data)
    after = outcome(new.loads, data)
    assert after == (before if isinstance(before, tuple) else to_new(before))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert outcome(new.loads, text) == (lambda b: b if isinstance(b, tuple) else to_new(b))(
        outcome(old.loads, text))


@pytest.mark.parametrize("data", [
    b'{"format": "json", "mke": "QV", "destinations": null, "records": null, "fields": null}',
    b'{"format": "json", "mke": "QV", "records": [{"caution": null}]}',
    b'{"format": "json", "mke": "QV", "sequence": "x", "sequence": 5}',
    b'{"format": "json", "mke": "QV", "text": "\\ud800"}',
    b'\xef\xbb\xbf{"format": "json", "mke": "QV"}',
    b'{"format": "json", "mke": "QV", "sequence": 123456789012345678901234567890}',
    b'{"format": "json", "mke": "QV", "text": "a\tb"}',
    b'{"format": "json", "mke": "QV", "text": "\xff"}',
    b'{"format": "json", "mke": "QV", "sequence": NaN}',
    b'{"format": "json", "mke": "QV", "vehicle": {"plates": "X"}}',
    b'{"format": "json", "mke": "QV", "fields": {"SMT": 3}}',
    b'{"format": "json", "mke": "QV", "person": {"license": {"class_": "C"}}}',
    b'{"format": "json"}',
    b"[" * 100000,
])
def test_loads_edge_cases_as_before(data: bytes) -> None:
    before = outcome(old.loads, data)
    assert outcome(new.loads, data) == (before if isinstance(before, tuple)
                                        else to_new(before))

"""The canonical model as it was before msgspec (dataclasses + stdlib ``json``), kept verbatim.

Why keep it: it is the reference the msgspec model is held to.  ``tests/test_model_msgspec.py``
compares the new ``dump``/``loads`` with these on every fixture and on generated messages
(byte for byte, and error for error), and ``bench/journal_floor.py`` times both in the same
run for docs/performance.md.  Not used by clets itself.
"""

from __future__ import annotations

import json
import re
import types
import typing
from dataclasses import dataclass, field, fields
from typing import Any, get_args, get_origin

from clets.errors import CharacterError, DecodeError

__all__ = [
    "Address",
    "Case",
    "ErrorInfo",
    "License",
    "Message",
    "Name",
    "Person",
    "Record",
    "Registration",
    "Vehicle",
    "clone",
    "dump",
    "dumps",
    "from_dict",
    "is_empty",
    "load",
    "loads",
    "replace",
    "to_dict",
]


def is_empty(obj: Any) -> bool:
    """True when a model object carries nothing: every field is None, empty or itself empty."""
    if obj is None:
        return True
    if isinstance(obj, (list, dict, str)):
        return len(obj) == 0 if not isinstance(obj, str) else False
    if hasattr(obj, "__dataclass_fields__"):
        return all(is_empty(getattr(obj, f.name)) for f in fields(obj))
    return False


@dataclass(slots=True)
class Name:
    last: str | None = None
    first: str | None = None
    middle: str | None = None
    suffix: str | None = None


@dataclass(slots=True)
class License:
    number: str | None = None
    state: str | None = None
    expires_year: int | None = None
    # ``class`` is a keyword: the attribute is ``class_``; the JSON key is ``class``.
    class_: str | None = None
    status: str | None = None
    expires: str | None = None


@dataclass(slots=True)
class Address:
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


@dataclass(slots=True)
class Person:
    name: Name | None = None
    dob: str | None = None
    sex: str | None = None
    race: str | None = None
    height_in: int | None = None
    weight_lb: int | None = None
    eyes: str | None = None
    hair: str | None = None
    skin: str | None = None
    ssn: str | None = None
    fbi: str | None = None
    cii: str | None = None
    mnu: str | None = None
    license: License | None = None
    address: Address | None = None


@dataclass(slots=True)
class Vehicle:
    plate: str | None = None
    plate_state: str | None = None
    plate_year: str | None = None
    plate_type: str | None = None
    vin: str | None = None
    year: int | None = None
    make: str | None = None
    model: str | None = None
    style: str | None = None
    color: str | None = None


@dataclass(slots=True)
class Case:
    oca: str | None = None
    nic: str | None = None
    fcn: str | None = None


@dataclass(slots=True)
class Registration:
    expires: str | None = None
    status: str | None = None
    fees_due: str | None = None
    stolen: bool | None = None


@dataclass(slots=True)
class ErrorInfo:
    code: int | None = None
    reason: str | None = None
    echo: str | None = None


@dataclass(slots=True)
class Record:
    file: str | None = None
    person: Person | None = None
    vehicle: Vehicle | None = None
    case: Case | None = None
    owner: Person | None = None
    registration: Registration | None = None
    caution: bool = False
    cmc: str | None = None
    ori: str | None = None
    offense: str | None = None
    remarks: str | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Message:
    format: str = ""
    mke: str = ""
    origin: str | None = None
    destinations: list[str] = field(default_factory=list)
    control: str | None = None
    sequence: int | None = None
    sent_at: str | None = None
    operator: str | None = None
    terminal: str | None = None
    person: Person | None = None
    vehicle: Vehicle | None = None
    case: Case | None = None
    reason: str | None = None
    purpose: str | None = None
    attention: str | None = None
    remarks: str | None = None
    status: str | None = None
    records: list[Record] = field(default_factory=list)
    error: ErrorInfo | None = None
    text: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


_MODEL_TYPES = (Message, Person, Name, License, Address, Vehicle, Case, Record, Registration,
                ErrorInfo)


def _json_key(attr: str) -> str:
    return attr[:-1] if attr.endswith("_") else attr


# (attribute, JSON key, resolved type) per class, computed once.
_SCHEMA: dict[type, list[tuple[str, str, Any]]] = {}
for _cls in _MODEL_TYPES:
    _hints = typing.get_type_hints(_cls)
    _SCHEMA[_cls] = [(f.name, _json_key(f.name), _hints[f.name]) for f in fields(_cls)]


# --------------------------------------------------------------------------- generated code
#
# The JSON form is walked on every message a switch journals, forwards and answers, so the
# dump and load functions are generated once per model class from the schema above: straight
# attribute loads and type checks, no per-value reflection.  The generic rules stay the same:
# spec key order; an all-absent object dumps to null; loading rejects unknown keys and wrong
# types with the JSON path of the value.

_NONE = type(None)


def _kind(tp: Any) -> tuple[str, Any]:
    """(kind, detail) of a field type: optional?, scalar, list of X, dict, or model class."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not _NONE]
        return _kind(args[0])
    if origin is list:
        return "list", get_args(tp)[0]
    if origin is dict:
        return "dict", None
    if tp in _SCHEMA:
        return "model", tp
    return "scalar", tp


def _gen_dump(cls: type) -> str:
    name = cls.__name__
    # keep=True: a list item stays an object even when all its fields are absent (the json
    # fuzzer's finding, e2661b9: [null] did not load back) -- the one deliberate change since
    # this baseline was taken
    lines = [f"def dump_{name}(o, keep=False):"]
    entries, tests = [], []
    for attr, key, tp in _SCHEMA[cls]:
        kind, detail = _kind(tp)
        if kind == "scalar":
            expr = f"o.{attr}"
            test = f"d[{key!r}]" if detail is bool else f"d[{key!r}] is not None"
        elif kind == "model":
            expr = f"(None if o.{attr} is None else dump_{detail.__name__}(o.{attr}))"
            test = f"d[{key!r}] is not None"
        elif kind == "list" and detail in _SCHEMA:
            expr = f"[dump_{detail.__name__}(x, True) for x in o.{attr}]"
            test = f"d[{key!r}]"
        elif kind == "list":
            expr = f"list(o.{attr})"
            test = f"d[{key!r}]"
        else:
            expr = f"dict(o.{attr})"
            test = f"d[{key!r}]"
        entries.append(f"{key!r}: {expr}")
        tests.append(test)
    lines.append("    d = {" + ", ".join(entries) + "}")
    if cls is Message:  # the message itself is never null
        lines.append("    return d")
    else:
        lines.append("    if keep or " + " or ".join(tests) + ":")
        lines.append("        return d")
        lines.append("    return None")
    return "\n".join(lines)


def _gen_load(cls: type) -> str:
    name = cls.__name__
    known = {key for _, key, _ in _SCHEMA[cls]}
    lines = [f"_KNOWN_{name} = frozenset({sorted(known)!r})",
             f"def load_{name}(v, path):",
             "    if type(v) is not dict:",
             "        _bad(f'expected an object, got {type(v).__name__}', path or '$')",
             f"    if not _KNOWN_{name}.issuperset(v):",
             f"        _unknown(v, _KNOWN_{name}, path)",
             "    kw = {}"]
    for attr, key, tp in _SCHEMA[cls]:
        kind, detail = _kind(tp)
        sub = f"(path + {'.' + key!r} if path else {key!r})"
        lines.append(f"    x = v.get({key!r}, _MISSING)")
        # null for a non-optional list, map or bool is taken as its default
        skip = "x is not _MISSING and x is not None"
        lines.append(f"    if {skip}:")
        if kind == "scalar" and detail is str:
            lines.append("        if type(x) is not str and not isinstance(x, str):")
            lines.append(f"            _bad(f'expected a string, got {{x!r}}', {sub})")
        elif kind == "scalar" and detail is int:
            lines.append("        if type(x) is not int and (isinstance(x, bool) or "
                         "not isinstance(x, int)):")
            lines.append(f"            _bad(f'expected an integer, got {{x!r}}', {sub})")
        elif kind == "scalar" and detail is bool:
            lines.append("        if type(x) is not bool:")
            lines.append(f"            _bad(f'expected true or false, got {{x!r}}', {sub})")
        elif kind == "model":
            lines.append(f"        x = load_{detail.__name__}(x, {sub})")
        elif kind == "list":
            lines.append("        if type(x) is not list:")
            lines.append(f"            _bad(f'expected a list, got {{type(x).__name__}}', {sub})")
            if detail in _SCHEMA:
                lines.append(f"        p = {sub}")
                lines.append(f"        x = [load_{detail.__name__}(y, f'{{p}}[{{i}}]') "
                             "for i, y in enumerate(x)]")
            else:
                lines.append(f"        p = {sub}")
                lines.append("        for i, y in enumerate(x):")
                lines.append("            if not isinstance(y, str):")
                lines.append("                _bad(f'expected a string, got {y!r}', "
                             "f'{p}[{i}]')")
                lines.append("        x = list(x)")
        elif kind == "dict":
            lines.append("        if type(x) is not dict:")
            lines.append(f"            _bad(f'expected an object, got {{type(x).__name__}}', "
                         f"{sub})")
            lines.append(f"        p = {sub}")
            lines.append("        for k, y in x.items():")
            lines.append("            if not isinstance(y, str):")
            lines.append("                _bad('values must be strings', f'{p}.{k}')")
            lines.append("        x = dict(x)")
        else:
            raise TypeError(f"unsupported field type {tp!r}")
        lines.append(f"        kw[{attr!r}] = x")
    lines.append(f"    return _cls_{name}(**kw)")
    return "\n".join(lines)


def _gen_clone(cls: type) -> str:
    """A deep copy that knows the model's shape: lists and maps copied, model objects cloned,
    scalars (immutable) shared.  ``copy.deepcopy`` does the same through reflection, ten times
    slower, and the simulators copy a request's person or vehicle into every miss."""
    args = []
    for attr, _key, tp in _SCHEMA[cls]:
        kind, detail = _kind(tp)
        if kind == "model":
            expr = f"(None if o.{attr} is None else clone_{detail.__name__}(o.{attr}))"
        elif kind == "list" and detail in _SCHEMA:
            expr = f"[clone_{detail.__name__}(x) for x in o.{attr}]"
        elif kind == "list":
            expr = f"list(o.{attr})"
        elif kind == "dict":
            expr = f"dict(o.{attr})"
        else:
            expr = f"o.{attr}"
        args.append(f"{attr}={expr}")
    return f"def clone_{cls.__name__}(o):\n    return _cls_{cls.__name__}({', '.join(args)})"


def _gen_copy(cls: type) -> str:
    """A shallow copy: every field shared (the base of ``replace``).  Positional arguments
    (a third faster than keywords) where every field is an ``__init__`` parameter in order."""
    positional = all(f.init and not f.kw_only for f in fields(cls))
    args = ", ".join(f"o.{attr}" if positional else f"{attr}=o.{attr}"
                     for attr, _key, _tp in _SCHEMA[cls])
    return f"def copy_{cls.__name__}(o):\n    return _cls_{cls.__name__}({args})"


def _bad(reason: str, path: str) -> None:
    raise DecodeError(reason, format="json", field=path)


def _unknown(v: dict[str, Any], known: frozenset[str], path: str) -> None:
    for key in v:
        if key not in known:
            raise DecodeError(f"unknown key {key!r}", format="json",
                              field=f"{path}.{key}" if path else key)


def _compile() -> dict[str, Any]:
    namespace: dict[str, Any] = {"_bad": _bad, "_unknown": _unknown, "_MISSING": object()}
    source = []
    for cls in _MODEL_TYPES:
        namespace[f"_cls_{cls.__name__}"] = cls
        source.append(_gen_dump(cls))
        source.append(_gen_load(cls))
        source.append(_gen_clone(cls))
        source.append(_gen_copy(cls))
    exec(compile("\n\n".join(source), "<clets jsonform>", "exec"), namespace)
    return namespace


_GENERATED = _compile()
_dump_message = _GENERATED["dump_Message"]
_load_message = _GENERATED["load_Message"]


_CLONE: dict[type, Any] = {cls: _GENERATED[f"clone_{cls.__name__}"] for cls in _MODEL_TYPES}
_COPY: dict[type, Any] = {cls: _GENERATED[f"copy_{cls.__name__}"] for cls in _MODEL_TYPES}

M = typing.TypeVar("M")


def clone(obj: M) -> M:
    """A deep copy of a Message or any model object (Person, Vehicle, Record, ...).

    Nothing is shared with the original but immutable scalars, so either may be changed
    freely; ``None`` gives ``None``."""
    if obj is None:
        return obj
    try:
        copier = _CLONE[type(obj)]
    except KeyError:
        raise TypeError(f"not a model object: {type(obj).__name__}") from None
    result: M = copier(obj)
    return result


def replace(obj: M, /, **changes: Any) -> M:
    """A SHALLOW copy of a model object with some fields replaced: what
    ``dataclasses.replace`` gives, without its reflection over every field (a third of the
    time; the switch makes one per forward and per answer).

    Nested values are shared with the original: replace them, do not mutate them in place.
    An unknown field name is a ``TypeError``, as with ``dataclasses.replace``."""
    try:
        copier = _COPY[type(obj)]
    except KeyError:
        raise TypeError(f"not a model object: {type(obj).__name__}") from None
    result: M = copier(obj)
    for name, value in changes.items():
        try:
            setattr(result, name, value)
        except AttributeError:  # slots: a name that is not a field
            raise TypeError(f"{type(obj).__name__} has no field {name!r}") from None
    return result


def to_dict(msg: Message) -> dict[str, Any]:
    """The canonical JSON object of a message (plain dicts and lists, spec key order)."""
    result: dict[str, Any] = _dump_message(msg)
    return result


# model objects hold no cycles: skipping the check saves an eighth of the encoding time
_ENCODER = json.JSONEncoder(ensure_ascii=False, check_circular=False)


def dumps(msg: Message) -> str:
    """One line of canonical JSON, exactly as ``clets decode`` prints it."""
    return _ENCODER.encode(_dump_message(msg))


def dump(msg: Message) -> bytes:
    return dumps(msg).encode("utf-8")


def from_dict(data: Any) -> Message:
    """Build a Message from its JSON object; strict on unknown keys and types."""
    msg: Message = _load_message(data, "")
    if not msg.format or not msg.mke:
        missing = "format" if not msg.format else "mke"
        raise DecodeError(f"missing {missing}", format="json", field=missing)
    return msg


#: characters JSON has no place for anywhere in its text (in strings they must be escaped)
_JSON_BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BOM = "\ufeff"


def loads(text: str | bytes) -> Message:
    """A Message from its JSON text; bytes must be UTF-8 (RFC 8259 between systems).

    A byte that is not UTF-8, or a control character JSON cannot hold, is a
    :class:`CharacterError` at its byte offset (bytes) or character offset (text), so the
    switch can tell the sender where; other syntax errors are a DecodeError at JSON's offset.
    """
    skip = 0
    if isinstance(text, (bytes, bytearray, memoryview)):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CharacterError(f"byte 0x{raw[exc.start]:02x} is not UTF-8", format="json",
                                 offset=exc.start) from None
        if text.startswith(_BOM):  # tolerated, as json.loads does for bytes
            text, skip = text[1:], 3
    else:
        raw = None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, deep nesting
        bad = _JSON_BAD_CHAR.search(text)  # only on the error path: no cost otherwise
        if bad is not None:
            at = bad.start()
            raise CharacterError(f"character {bad.group()!r} not allowed in JSON",
                                 format="json", offset=skip + (len(text[:at].encode())
                                                               if raw is not None else at)
                                 ) from None
        offset = getattr(exc, "pos", None)
        raise DecodeError(f"not JSON: {getattr(exc, 'msg', exc)}", format="json",
                          offset=offset) from None
    return from_dict(data)


def load(data: bytes) -> Message:
    return loads(data)



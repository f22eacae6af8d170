"""The exact JSON form of the canonical model (spec/model.md), both ways.

Dumping is driven by the dataclass fields, in declaration order, which is the key order of the
spec's tables.  Loading is strict: an unknown key or a value of the wrong type is a
:class:`~clets.errors.DecodeError` naming its JSON path, because a JSON client that misspells
``plate_state`` must hear about it, not silently lose the field.  A missing key is taken as
absent, so hand-written JSON may be short.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import fields
from typing import Any, TypeVar, get_args, get_origin

from clets.errors import DecodeError

from .types import (
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
)

__all__ = ["dump", "dumps", "from_dict", "load", "loads", "to_dict"]

T = TypeVar("T")

_MODEL_TYPES = (Message, Person, Name, License, Address, Vehicle, Case, Record, Registration,
                ErrorInfo)


def _json_key(attr: str) -> str:
    return attr[:-1] if attr.endswith("_") else attr


# (attribute, JSON key, resolved type) per class, computed once.
_SCHEMA: dict[type, list[tuple[str, str, Any]]] = {}
for _cls in _MODEL_TYPES:
    _hints = typing.get_type_hints(_cls)
    _SCHEMA[_cls] = [(f.name, _json_key(f.name), _hints[f.name]) for f in fields(_cls)]


def _dump_value(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, list):
        return [_dump_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump_value(v) for k, v in value.items()}
    return _dump_object(value)


def _dump_object(obj: Any) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    present = False
    for attr, key, _ in _SCHEMA[type(obj)]:
        v = _dump_value(getattr(obj, attr))
        out[key] = v
        if v is not None and v != [] and v != {} and v is not False:
            present = True
    # An object whose fields are all absent is null (spec/model.md) -- never the Message itself.
    return out if present or isinstance(obj, Message) else None


def to_dict(msg: Message) -> dict[str, Any]:
    """The canonical JSON object of a message (plain dicts and lists, spec key order)."""
    result = _dump_object(msg)
    assert result is not None
    return result


def dumps(msg: Message) -> str:
    """One line of canonical JSON, exactly as ``clets decode`` prints it."""
    return json.dumps(to_dict(msg), ensure_ascii=False)


def dump(msg: Message) -> bytes:
    return dumps(msg).encode("utf-8")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _load_value(tp: Any, value: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _load_value(args[0], value, path)
    if origin is list:
        if not isinstance(value, list):
            raise DecodeError(f"expected a list, got {type(value).__name__}", format="json",
                              field=path)
        (item,) = get_args(tp)
        return [_load_value(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise DecodeError(f"expected an object, got {type(value).__name__}", format="json",
                              field=path)
        for k, v in value.items():
            if not isinstance(v, str):
                raise DecodeError("values must be strings", format="json", field=f"{path}.{k}")
        return dict(value)
    if tp in _SCHEMA:
        return _load_object(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise DecodeError(f"expected true or false, got {value!r}", format="json", field=path)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise DecodeError(f"expected an integer, got {value!r}", format="json", field=path)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise DecodeError(f"expected a string, got {value!r}", format="json", field=path)
        return value
    raise DecodeError(f"unsupported type {_type_name(tp)}", format="json", field=path)


def _load_object(cls: type[T], value: Any, path: str) -> T:
    if not isinstance(value, dict):
        raise DecodeError(f"expected an object, got {type(value).__name__}", format="json",
                          field=path or "$")
    schema = _SCHEMA[cls]
    known = {key for _, key, _ in schema}
    for key in value:
        if key not in known:
            raise DecodeError(f"unknown key {key!r}", format="json",
                              field=f"{path}.{key}" if path else key)
    kwargs: dict[str, Any] = {}
    for attr, key, tp in schema:
        if key in value:
            v = value[key]
            sub = f"{path}.{key}" if path else key
            if v is None and get_origin(tp) not in (typing.Union, types.UnionType):
                # null for a list or map is tolerated as empty; for a bool as its default
                continue
            kwargs[attr] = _load_value(tp, v, sub)
    obj = cls(**kwargs)
    return obj


def from_dict(data: Any) -> Message:
    """Build a Message from its JSON object; strict on unknown keys and types."""
    msg = _load_object(Message, data, "")
    if not msg.format or not msg.mke:
        missing = "format" if not msg.format else "mke"
        raise DecodeError(f"missing {missing}", format="json", field=missing)
    return msg


def loads(text: str | bytes) -> Message:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, deep nesting
        offset = getattr(exc, "pos", None)
        raise DecodeError(f"not JSON: {getattr(exc, 'msg', exc)}", format="json",
                          offset=offset) from None
    return from_dict(data)


def load(data: bytes) -> Message:
    return loads(data)



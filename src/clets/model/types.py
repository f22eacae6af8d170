"""The canonical model of spec/model.md as msgspec Structs.

Every codec meets every other codec here, so the types stay dumb: no behaviour beyond
"is this part empty", which the JSON form needs (an object whose fields are all absent is
``null``).  Mutable on purpose: codecs fill them field by field from a table.

Why Structs and not dataclasses: msgspec encodes and decodes Structs in C straight to and
from the canonical JSON (no intermediate dicts), and a Struct is built and copied faster than
a slotted dataclass (figures in docs/performance.md).  Field order is the spec's key order;
``gc=False`` because model objects never form reference cycles (they are trees of scalars,
lists and maps), which spares the cycle collector the hundreds of thousands of them a busy
switch holds.  Use :func:`model_fields` and :func:`is_model` to reflect over them (not
``dataclasses.fields``).
"""

from __future__ import annotations

from typing import Any

import msgspec

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
    "is_empty",
    "is_model",
    "model_fields",
]


def is_empty(obj: Any) -> bool:
    """True when a model object carries nothing: every field is None, empty or itself empty."""
    if obj is None:
        return True
    if isinstance(obj, (list, dict, str)):
        return len(obj) == 0 if not isinstance(obj, str) else False
    names = getattr(type(obj), "__struct_fields__", None)
    if names is not None:
        return all(is_empty(getattr(obj, name)) for name in names)
    return False


def is_model(obj: Any) -> bool:
    """True for a model class or object (any Struct of this module)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return issubclass(cls, _Model)


def model_fields(cls: Any) -> tuple[str, ...]:
    """The attribute names of a model class (or object), in the spec's key order; ``()`` for
    anything else (what ``dataclasses.fields`` gave the reflection in codecs and edits)."""
    if not isinstance(cls, type):
        cls = type(cls)
    names: tuple[str, ...] = getattr(cls, "__struct_fields__", ()) \
        if issubclass(cls, _Model) else ()
    return names


class _Model(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """Base of every model type: mutable, field order = spec key order, no cycles, and an
    unknown JSON key is an error (a misspelt ``plate_state`` must not vanish)."""


class Name(_Model):
    last: str | None = None
    first: str | None = None
    middle: str | None = None
    suffix: str | None = None


class License(_Model):
    number: str | None = None
    state: str | None = None
    expires_year: int | None = None
    # ``class`` is a keyword: the attribute is ``class_``; the JSON key is ``class``.
    class_: str | None = msgspec.field(default=None, name="class")
    status: str | None = None
    expires: str | None = None


class Address(_Model):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None


class Person(_Model):
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


class Vehicle(_Model):
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


class Case(_Model):
    oca: str | None = None
    nic: str | None = None
    fcn: str | None = None


class Registration(_Model):
    expires: str | None = None
    status: str | None = None
    fees_due: str | None = None
    stolen: bool | None = None


class ErrorInfo(_Model):
    code: int | None = None
    reason: str | None = None
    echo: str | None = None


class Record(_Model):
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
    fields: dict[str, str] = msgspec.field(default_factory=dict)


class Message(_Model):
    format: str = ""
    mke: str = ""
    origin: str | None = None
    destinations: list[str] = msgspec.field(default_factory=list)
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
    records: list[Record] = msgspec.field(default_factory=list)
    error: ErrorInfo | None = None
    text: str | None = None
    fields: dict[str, str] = msgspec.field(default_factory=dict)
    warnings: list[str] = msgspec.field(default_factory=list)

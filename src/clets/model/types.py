"""The canonical model of spec/model.md as plain dataclasses.

Every codec meets every other codec here, so the types stay dumb: no behaviour beyond
"is this part empty", which the JSON form needs (an object whose fields are all absent is
``null``).  Mutable on purpose: codecs fill them field by field from a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

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

"""The canonical model (spec/model.md): types, exact JSON form, code tables and field edits."""

from .dictionary import FieldDef, FieldDictionary, default_dictionary, format_name, parse_name
from .edits import Finding, apply_edits, check, code_table, vin_check_digit_ok
from .jsonform import clone, dump, dumps, from_dict, load, loads, replace, to_dict
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
    is_empty,
    is_model,
    model_fields,
)

__all__ = [
    "Address",
    "Case",
    "ErrorInfo",
    "FieldDef",
    "FieldDictionary",
    "Finding",
    "License",
    "Message",
    "Name",
    "Person",
    "Record",
    "Registration",
    "Vehicle",
    "apply_edits",
    "check",
    "clone",
    "code_table",
    "default_dictionary",
    "dump",
    "dumps",
    "format_name",
    "from_dict",
    "is_empty",
    "is_model",
    "load",
    "loads",
    "model_fields",
    "parse_name",
    "replace",
    "to_dict",
    "vin_check_digit_ok",
]

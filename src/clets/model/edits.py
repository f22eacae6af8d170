"""Field edits: the checks a switch makes before it forwards anything (spec/switch.md step 2).

They run on the canonical model, not on wire text, so every format gets the same edits from the
same table (``fields.toml`` and ``tables/*.json``).  A finding names the field, why, and the
offending value; severity ``reject`` becomes error 21 and ``warn`` a line in ``warnings``.
"""

from __future__ import annotations

import datetime as _dt
import json
import operator
import re
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from clets.errors import INVALID_FIELD, ValidationError

from .dictionary import FieldDef, FieldDictionary, default_dictionary
from .types import Message, Person, Record, is_model, model_fields

__all__ = ["CodeTable", "Finding", "apply_edits", "check", "code_table", "decode_guard",
           "header_ok", "prepare", "vin_check_digit_ok"]

ORI_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{7}")
MKE_RE = re.compile(r"[A-Z0-9$\-.]{1,4}")
DEST_RE = re.compile(r"[A-Z]{2}|[A-Z]{2}[A-Z0-9]{7}|[A-Z]{2,6}")


@dataclass(frozen=True, slots=True)
class CodeTable:
    name: str
    codes: frozenset[str]
    warn: frozenset[str]
    doc: str


@cache
def code_table(name: str) -> CodeTable:
    """A code table shipped in ``clets/model/tables``."""
    text = resources.files("clets.model").joinpath("tables", f"{name}.json").read_text("utf-8")
    data = json.loads(text)
    return CodeTable(name, frozenset(data["codes"]), frozenset(data.get("warn", [])),
                     data.get("_doc", ""))


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed edit."""

    path: str
    tag: str | None
    severity: str  # "reject" | "warn"
    reason: str
    value: Any
    code: int = INVALID_FIELD

    def __str__(self) -> str:
        where = self.tag or self.path
        return f"{self.severity} {where} ({self.path}): {self.reason}: {self.value!r}"

    def to_error(self) -> ValidationError:
        return ValidationError(self.reason, field=self.tag or self.path, value=self.value,
                               code=self.code)


_VIN_MAP = {**{str(d): d for d in range(10)},
            **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
            **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
            **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


_VIN_CHARS = frozenset(_VIN_MAP)
_vin_value = _VIN_MAP.__getitem__


def vin_check_digit_ok(vin: str) -> bool:
    """ISO 3779 / 49 CFR 565 check digit (position 9) of a 17-character VIN.

    ``map`` and ``operator.mul`` keep the weighted sum in C (a generator was 2x slower: the
    check runs on every VIN decoded with edits on).
    """
    if len(vin) != 17 or not _VIN_CHARS.issuperset(vin):
        return False
    digit = sum(map(operator.mul, map(_vin_value, vin), _VIN_WEIGHTS)) % 11
    return vin[8] == ("X" if digit == 10 else str(digit))


Checker = Callable[[Any, str, str, _dt.date, list[Finding]], None]

#: value types whose model value is already the wire text (no formatting needed)
_STR_TYPES = frozenset({"text", "ident", "code", "color", "plate_year", "digits"})


def _row_checker(fd: FieldDef) -> Checker:
    """One row's edits as a closure, built once: the happy path is a few comparisons.

    ``check`` runs on every message a switch forwards and on every decode with edits, so the
    per-value work matters more than the code's length.
    """
    tag, severity = fd.tag, fd.severity

    def add(out: list[Finding], path: str, reason: str, shown: Any,
            sev: str = severity) -> None:
        out.append(Finding(path, tag, sev, reason, shown))

    if fd.type == "date":
        past = fd.past
        fromiso = _dt.date.fromisoformat

        def check_date(value: Any, prefix: str, rel: str, today: _dt.date,
                       out: list[Finding]) -> None:
            try:
                d = fromiso(value)
            except (TypeError, ValueError):
                add(out, prefix + rel, "not a calendar date", value)
                return
            if past and d > today:
                add(out, prefix + rel, "date is in the future", value)
        return check_date

    fmt = fd.formatter()
    as_is = fd.type in _STR_TYPES
    expands = fd.expands
    chars_reason = fd.chars_reason or "characters not allowed in this field"
    mx, mn, chars = fd.max, fd.min, fd.chars
    table = code_table(fd.table) if fd.table is not None else None
    codes = table.codes if table is not None else frozenset()
    split = fd.type == "color"
    vin = fd.vin_check

    def check_value(value: Any, prefix: str, rel: str, today: _dt.date,
                    out: list[Finding]) -> None:
        if as_is and type(value) is str:
            wire = value
        else:
            try:
                wire = fmt(value)
            except (TypeError, ValueError, AttributeError):
                add(out, prefix + rel, "value of the wrong type", value)
                return
        if expands and " - " in wire:  # ``05 - VIOLENT TENDENCIES``: the code is checked
            wire = wire.split(" - ", 1)[0].rstrip()
        n = len(wire)
        if mx is not None and n > mx:
            add(out, prefix + rel, f"longer than {mx} characters", wire)
            return
        if mn is not None and n < mn:
            add(out, prefix + rel, f"shorter than {mn} characters", wire)
            return
        if chars is not None and chars.fullmatch(wire) is None:
            add(out, prefix + rel, chars_reason, wire)
            return
        if table is not None:
            for part in wire.split("/") if split else (wire,):
                if part in codes:
                    continue
                if part in table.warn:
                    add(out, prefix + rel, f"code {part!r} accepted with a warning", part,
                        "warn")
                else:
                    add(out, prefix + rel, f"unknown code (table {table.name})", part)
        if vin and n == 17 and not vin_check_digit_ok(wire):
            add(out, prefix + rel, "VIN check digit mismatch", value, "warn")

    return check_value


Walker = Callable[[Any, str, _dt.date, list[Finding]], None]


@cache
def _walker(dictionary: FieldDictionary, cls: type, only: str,
            skip: frozenset[str] = frozenset()) -> Walker:
    """A generated function that checks every row below ``only`` that ``cls`` has a slot for.

    Generated once per (dictionary, class) as nested blocks, one per parent object
    (``person``, ``person.license``, ...), so an absent parent skips all its rows with one
    comparison.  Blocks do not follow the table's row order, so when a message has more than
    one finding they are put back into row order (``apply_edits`` raises the first reject).
    """
    namespace: dict[str, Any] = {"_order": {}}
    tree: dict[str, Any] = {}
    for index, fd in enumerate(dictionary.rows):
        if not fd.path.startswith(only):
            continue
        rel = fd.path[len(only):]
        if rel in skip:
            continue
        attrs = ["class_" if p == "class" else p for p in rel.split(".")]
        if not _has_path(cls, attrs):
            continue
        namespace[f"c{index}"] = _row_checker(fd)
        fast = _fast_accept(fd, index, namespace)
        namespace[f"r{index}"] = rel
        namespace["_order"][rel] = index
        node = tree
        for attr in attrs[:-1]:
            node = node.setdefault(attr, {})
        node.setdefault("", []).append((index, attrs[-1], fast))
    lines = ["def walk(obj, prefix, today, out):", "    start = len(out)"]

    def emit(node: dict[str, Any], var: str, indent: str, depth: int) -> None:
        for index, leaf, fast in node.get("", []):
            lines.append(f"{indent}v = {var}.{leaf}")
            cond = "v is not None" if fast is None else f"v is not None and not ({fast})"
            lines.append(f"{indent}if {cond}:")
            lines.append(f"{indent}    c{index}(v, prefix, r{index}, today, out)")
        for attr, child in node.items():
            if attr == "":
                continue
            sub = f"o{depth}"
            lines.append(f"{indent}{sub} = {var}.{attr}")
            lines.append(f"{indent}if {sub} is not None:")
            emit(child, sub, indent + "    ", depth + 1)

    emit(tree, "obj", "    ", 0)
    lines += ["    if len(out) - start > 1:",
              "        n = len(prefix)",
              "        out[start:] = sorted(out[start:], key=lambda f: _order[f.path[n:]])"]
    exec(compile("\n".join(lines), f"<clets edits walker {cls.__name__}>", "exec"), namespace)
    walk: Walker = namespace["walk"]
    return walk


def _fast_accept(fd: FieldDef, index: int | str, namespace: dict[str, Any],
                 var: str = "v") -> str | None:
    """An inline expression, true only where row ``index``'s checker would find nothing.

    Written into the generated walker so that a valid value costs a few comparisons and no
    call; anything it does not accept goes to the checker, which says why.  ``None`` (always
    call the checker) for rows whose value needs formatting or a VIN or colour split.  With
    ``var`` other than ``v`` it tests that variable as the (already formatted) wire text.
    """
    if var == "v" and fd.type not in _STR_TYPES:
        return None
    if fd.type == "color" or fd.vin_check:
        return None
    parts = [f"type({var}) is str"] if var == "v" else []
    if fd.min is not None and fd.max is not None:
        parts.append(f"{fd.min} <= len({var}) <= {fd.max}")
    elif fd.max is not None:
        parts.append(f"len({var}) <= {fd.max}")
    elif fd.min is not None:
        parts.append(f"len({var}) >= {fd.min}")
    if fd.chars is not None:
        namespace[f"m{index}"] = fd.chars.fullmatch
        parts.append(f"m{index}({var}) is not None")
    if fd.table is not None:
        namespace[f"t{index}"] = code_table(fd.table).codes
        parts.append(f"{var} in t{index}")
    return " and ".join(parts) or "True"


def decode_guard(fd: FieldDef, key: str, namespace: dict[str, Any]) -> list[str]:
    """Source lines that append to ``bad`` when row ``fd``'s checker would find anything.

    For decoders that check each value as they parse it (one pass, as a hand-written parser
    would) and run the full :func:`apply_edits` only when a guard fired, so findings, their
    order and the warnings stay exactly those of ``apply_edits``.  The lines read ``v``, a
    value **produced by the row's parser**: a date is then a valid ISO date already, so only
    "not in the future" is left to test.  ``key`` keeps names apart in ``namespace``.
    """
    if fd.expands and fd.type in _STR_TYPES and fd.table is None and not fd.vin_check:
        # ``05 - VIOLENT TENDENCIES``: the code before the translation is what is checked
        fast = _fast_accept(fd, f"{key}_", namespace, var="w")
        return ["    w = v.split(' - ', 1)[0].rstrip() if ' - ' in v else v",
                f"    if type(v) is not str or not ({fast or 'True'}):",
                "        bad.append(v)"]
    fast = _fast_accept(fd, f"{key}_", namespace)
    if fast is not None:
        return [f"    if not ({fast}):", "        bad.append(v)"]
    if fd.type == "date":
        namespace["_today_iso"] = _today_iso
        return ["    if v > _today_iso():", "        bad.append(v)"] if fd.past else []
    wire = _fast_accept(fd, f"{key}_", namespace, var="w")
    if wire is not None:  # format (as the checker does), then test the text inline
        namespace[f"f{key}"] = fd.formatter()
        return ["    try:",
                f"        w = f{key}(v)",
                "    except (TypeError, ValueError, AttributeError):",
                "        w = None",
                f"    if w is None or not ({wire}):",
                "        bad.append(v)"]
    namespace["_today"] = _today
    namespace[f"c{key}"] = _row_checker(fd)
    return [f"    c{key}(v, '', '', _today(), bad)"]


def _has_path(cls: type | None, attrs: list[str]) -> bool:
    """Whether a chain of attributes exists on the model classes (by their type hints)."""
    for attr in attrs:
        if cls is None or attr not in model_fields(cls):
            return False
        cls = _child_class(cls, attr)
    return True


def _child_class(cls: type, attr: str) -> type | None:
    hint = typing.get_type_hints(cls).get(attr)
    for arg in typing.get_args(hint) or (hint,):
        if isinstance(arg, type) and is_model(arg):
            return arg
    return None


#: the cached local day: [epoch time it ends, the date, its ISO text, epoch time it starts]
_day: list[Any] = [0.0, _dt.date.min, _dt.date.min.isoformat(), 0.0]


def _current_day() -> list[Any]:
    """``_day``, recomputed only when the clock has left it (midnight, or a clock step)."""
    now = time.time()
    if not _day[3] <= now < _day[0]:
        today = _dt.date.fromtimestamp(now)
        start = _dt.datetime.combine(today, _dt.time()).timestamp()
        end = _dt.datetime.combine(today + _dt.timedelta(days=1), _dt.time()).timestamp()
        _day[:] = [end, today, today.isoformat(), start]
    return _day


def _today() -> _dt.date:
    """Today's (local) date (``date.today()`` costs a microsecond; this a comparison)."""
    today: _dt.date = _current_day()[1]
    return today


def _today_iso() -> str:
    """``_today().isoformat()`` (decode guards compare ISO date text)."""
    iso: str = _current_day()[2]
    return iso


def header_ok(msg: Message) -> bool:
    """Whether :func:`check` would find nothing in the key, origin and destinations."""
    if MKE_RE.fullmatch(msg.mke or "") is None:
        return False
    origin = msg.origin
    if origin is not None and ORI_RE.fullmatch(origin) is None:
        return False
    for dest in msg.destinations:  # noqa: SIM110 - a loop, not all() over a generator (hot)
        if DEST_RE.fullmatch(dest) is None:
            return False
    return True


def check(msg: Message, *, today: _dt.date | None = None,
          dictionary: FieldDictionary | None = None) -> list[Finding]:
    """Every finding on a message, rejects and warnings, in path order."""
    today = today or _today()
    dictionary = dictionary or default_dictionary()
    out: list[Finding] = []
    if not MKE_RE.fullmatch(msg.mke or ""):
        out.append(Finding("mke", "MKE", "reject", "message key must be 1-4 characters",
                           msg.mke, code=INVALID_FIELD))
    if msg.origin is not None and not ORI_RE.fullmatch(msg.origin):
        # formats.md §1: "ORIs that break the pattern are rejects (error code 21)"; a switch
        # answers an origin it cannot accept with 10 (switch.md step 2, authz.py)
        out.append(Finding("origin", "ORI", "reject", "ORI must match [A-Z]{2}[A-Z0-9]{7}",
                           msg.origin, code=INVALID_FIELD))
    for i, dest in enumerate(msg.destinations):
        if not DEST_RE.fullmatch(dest):
            out.append(Finding(f"destinations[{i}]", None, "reject",
                               "destination must be a state code, ORI or mnemonic", dest))
    _walker(dictionary, Message, "")(msg, "", today, out)
    mke = msg.mke or ""
    if msg.fields:
        _check_fields(dictionary, Message, mke, msg.fields, "", today, out)
    if msg.records:
        walk_record = _walker(dictionary, Record, "")
        walk_owner = _walker(dictionary, Person, "person.", _OWNER_SKIP)
        for i, rec in enumerate(msg.records):
            walk_record(rec, f"records[{i}].", today, out)
            if rec.owner is not None:
                walk_owner(rec.owner, f"records[{i}].owner.", today, out)
            if rec.fields:
                _check_fields(dictionary, Record, mke, rec.fields, f"records[{i}].", today,
                              out)
    return out


#: an owner's name is checked by its own row (OWN): a registered owner may be a business
#: (``ACME LEASING INC``), which the person-name edit (a comma after the surname) refuses
_OWNER_SKIP = frozenset({"name"})


@cache
def _fields_checkers(dictionary: FieldDictionary, cls: type, mke: str
                     ) -> dict[str, tuple[FieldDef, Checker, bool]]:
    """tag -> (row, checker, parsed) for the tags of ``fields`` that have a row.

    ``parsed``: ``fields`` holds wire text, the checker takes a model value, so each value is
    parsed first: a row with a slot on ``cls`` (``fields`` holds only the values of the tag's
    later occurrences, a repeated tag, one value a line), or a row of a type that is not a
    string (a name, date or flag with no slot on ``cls``: ``OWN`` at message level).  Checked
    as wire text, ``OWN/SMITH, JOHN`` was "of the wrong type" (fuzz: a guarded decode, which
    runs the edits only when a guard fires, took a message and refused its own encoding).
    """
    out: dict[str, tuple[FieldDef, Checker, bool]] = {}
    tags = set(dictionary.by_tag) | set(dictionary.keyed.get(mke, {}))
    for tag in tags:
        fd = dictionary.row_for(tag, mke)
        if fd is None:
            continue
        slotted = bool(fd.path) and _has_path(
            cls, ["class_" if p == "class" else p for p in fd.path.split(".")])
        out[tag] = (fd, _row_checker(fd), slotted or fd.type not in _STR_TYPES)
    return out


def _check_fields(dictionary: FieldDictionary, cls: type, mke: str, values: dict[str, str],
                  prefix: str, today: _dt.date, out: list[Finding]) -> None:
    """The edits of tags carried in ``fields`` (rows without a slot, repeated tags)."""
    checkers = _fields_checkers(dictionary, cls, mke)
    for tag, value in values.items():
        found = checkers.get(tag)
        if found is None or not isinstance(value, str):
            continue
        fd, checker, parsed = found
        rel = f"fields.{tag}"
        for piece in value.split("\n") if "\n" in value else (value,):
            if parsed:
                try:
                    parsed = fd.parse(piece)
                except ValidationError as exc:
                    out.append(Finding(prefix + rel, tag, fd.severity, exc.reason, piece))
                    continue
                checker(parsed, prefix, rel, today, out)
            else:
                checker(piece.strip(), prefix, rel, today, out)


def prepare(dictionary: FieldDictionary | None = None) -> None:
    """Load the dictionary and generate the checkers ``check`` uses, now: a daemon calls it
    at start, so its first message does not wait ~40 ms for the dictionary's TOML and the
    generated code."""
    dictionary = dictionary or default_dictionary()
    _walker(dictionary, Message, "")
    _walker(dictionary, Record, "")
    _walker(dictionary, Person, "person.", _OWNER_SKIP)


def apply_edits(msg: Message, *, today: _dt.date | None = None,
                dictionary: FieldDictionary | None = None) -> Message:
    """Raise the first reject as ValidationError; add warnings to ``msg.warnings``."""
    for f in check(msg, today=today, dictionary=dictionary):
        if f.severity == "reject":
            raise f.to_error()
        # The VIN warning reads as model.md words it; others name their field.
        text = f.reason if f.reason.startswith("VIN") else f"{f.tag or f.path}: {f.reason}"
        if text not in msg.warnings:
            msg.warnings.append(text)
    return msg

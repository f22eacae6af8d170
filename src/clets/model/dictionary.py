"""The field dictionary: tag <-> canonical path <-> value type, loaded from ``fields.toml``.

Why one table: every format (NCIC text, Nlets text, NIEM XML, copybook records) speaks of the
same fields.  Binding them all to one row per field keeps their normalizers and their edits
identical, so a plate that passes in one format passes in all, and a new tag is one row.
"""

from __future__ import annotations

import datetime as _dt
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from clets.errors import LayoutError, ValidationError

from .types import Address, Case, License, Name, Person, Registration, Vehicle, model_fields

__all__ = [
    "FieldDef",
    "FieldDictionary",
    "default_dictionary",
    "format_name",
    "get_path",
    "parse_name",
    "set_path",
]

# Which class to create when a path walks through an absent object.
_CHILD_TYPES: dict[str, type] = {
    "person": Person,
    "owner": Person,
    "vehicle": Vehicle,
    "case": Case,
    "name": Name,
    "license": License,
    "address": Address,
    "registration": Registration,
}

_ATTR_ALIASES = {"class": "class_"}


def _attr(name: str) -> str:
    return _ATTR_ALIASES.get(name, name)


def get_path(obj: Any, path: str) -> Any:
    """Value at a dotted canonical path, or None when any step is absent."""
    for part in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, _attr(part), None)
    return obj


def has_slot(obj: Any, path: str) -> bool:
    """Whether ``obj``'s type has a slot for the first step of ``path``."""
    first = _attr(path.split(".", 1)[0])
    return first in model_fields(obj)


def set_path(obj: Any, path: str, value: Any) -> None:
    """Set a dotted path, creating intermediate model objects as needed."""
    parts = [_attr(p) for p in path.split(".")]
    for part in parts[:-1]:
        child = getattr(obj, part)
        if child is None:
            child = _CHILD_TYPES[part]()
            setattr(obj, part, child)
        obj = child
    setattr(obj, parts[-1], value)


# --------------------------------------------------------------------------- value types

_SUFFIXES = frozenset({"JR", "SR", "II", "III", "IV", "V", "VI", "JR.", "SR."})


def parse_name(text: str) -> Name:
    """``LAST, FIRST MIDDLE SUFFIX`` (space after the comma optional) to a Name.

    Plain string operations, not a regex: this runs on every person a codec decodes.
    """
    last, comma, rest = text.upper().partition(",")
    last = last.strip()
    if not comma:
        return Name(last or None)
    words = rest.split()
    suffix = words.pop() if len(words) > 1 and words[-1] in _SUFFIXES else None
    if not words:
        return Name(last or None, None, None, suffix)
    return Name(last or None, words[0], " ".join(words[1:]) or None, suffix)


def _parse_name_of(text: str, tag: str) -> Name:
    """``parse_name``, refusing a name with no part (``,``): it would be written as nothing,
    so a message read with edits off changed on its next round trip (fuzz property test)."""
    name = parse_name(text)
    if name.last is None and name.first is None and name.suffix is None:
        raise ValidationError("a name needs a surname or a given name", field=tag, value=text)
    return name


def format_name(name: Name) -> str:
    # no generator or join: the edits format every name they check
    head = name.last or ""
    rest = name.first or ""
    middle, suffix = name.middle, name.suffix
    if middle:
        rest = f"{rest} {middle}" if rest else middle
    if suffix:
        rest = f"{rest} {suffix}" if rest else suffix
    return f"{head}, {rest}" if rest else head


def _parse_date(text: str, tag: str) -> str:
    """``CCYYMMDD`` (model.md: the wire form of dates) to ISO ``CCYY-MM-DD``."""
    t = text.strip()
    if len(t) == 8 and t.isdigit():
        try:
            # fromisoformat reads CCYYMMDD (3.11+) and is far cheaper than date(y, m, d)
            _dt.date.fromisoformat(t)
        except ValueError:
            pass
        else:
            return f"{t[:4]}-{t[4:6]}-{t[6:]}"
    raise ValidationError("not a calendar date (CCYYMMDD)", field=tag, value=text)


def _parse_date_short(text: str, tag: str) -> str:
    """``CCYYMMDD``, or ``MMDDYY`` as Nlets also accepts on input (model.md), pivoting the
    two-digit year: 41-99 -> 19xx, 00-40 -> 20xx."""
    t = text.strip()
    if len(t) != 6 or not t.isdigit():
        return _parse_date(text, tag)
    yy = int(t[4:])
    try:
        d = _dt.date(1900 + yy if yy > 40 else 2000 + yy, int(t[:2]), int(t[2:4]))
    except ValueError:
        raise ValidationError("not a calendar date (CCYYMMDD or MMDDYY)", field=tag,
                              value=text) from None
    return d.isoformat()


def _format_date(value: str) -> str:
    # a value the wire's own decoder would refuse is not written (EncodeError via emit)
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        raise ValueError(f"{value!r} is not an ISO date (CCYY-MM-DD)")
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar date") from None
    return value[:4] + value[5:7] + value[8:]


def _parse_height(text: str, tag: str) -> int:
    t = text.strip()
    if not t.isdigit() or len(t) != 3:  # model.md: wire FII
        raise ValidationError("height must be feet + 2-digit inches (510)", field=tag, value=text)
    feet, inches = int(t[0]), int(t[1:])
    if inches > 11:
        raise ValidationError("inches must be 00-11", field=tag, value=text)
    return feet * 12 + inches


def _format_height(value: int) -> str:
    return f"{value // 12}{value % 12:02d}"


def _parse_int(text: str, tag: str) -> int:
    t = text.strip()
    if not t.isdigit():
        raise ValidationError("not a number", field=tag, value=text)
    return int(t)


def _ident(text: str, tag: str) -> str:
    return text.upper().replace(" ", "").replace("-", "")


def _parse_flag(text: str, tag: str) -> bool:
    t = text.strip().upper()
    if t not in ("Y", "N"):
        raise ValidationError("flag must be Y or N", field=tag, value=text)
    return t == "Y"


def _code(text: str, tag: str) -> str:
    return text.strip().upper()


def _text(text: str, tag: str) -> str:
    return text.strip()


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "text": _text,
    "ident": _ident,
    "code": _code,
    "color": _code,
    "plate_year": _code,
    "digits": lambda t, tag: t.strip().replace("-", ""),
    "date": _parse_date,
    "int": _parse_int,
    "height": _parse_height,
    "name": lambda t, tag: _parse_name_of(t, tag),
    "flag": _parse_flag,
}

_DIRECT_PARSERS: dict[str, Callable[[str], Any]] = {
    "text": str.strip,
    "code": lambda t: t.strip().upper(),
    "color": lambda t: t.strip().upper(),
    "plate_year": lambda t: t.strip().upper(),
    "ident": lambda t: t.upper().replace(" ", "").replace("-", ""),
}

def _format_int3(value: int) -> str:
    return f"{value:03d}"  # WGT: 3 digits, zero padded


_FORMATTERS: dict[str, Callable[[Any], str]] = {
    "date": _format_date,
    "height": _format_height,
    "int": str,
    "name": format_name,
    "flag": lambda v: "Y" if v else "N",
}


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One row of the field dictionary."""

    tag: str
    path: str
    type: str
    max: int | None = None
    min: int | None = None
    chars: re.Pattern[str] | None = None
    table: str | None = None
    severity: str = "reject"
    past: bool = False
    vin_check: bool = False
    #: what the field is (NCIC / Nlets name)
    name: str = ""
    #: the NCIC files / Nlets message types whose messages carry it (documentation, corpus)
    files: tuple[str, ...] = ()
    #: where its edits come from; "none" when no public source gives one (read unchecked)
    source: str = ""
    #: message keys this row is for (empty: every key); a keyed row overrides the general one
    keys: tuple[str, ...] = ()
    #: responses may print the code's translation after it: ``CMC/05 - VIOLENT TENDENCIES``
    expands: bool = False
    #: the reason a failed ``chars`` edit gives (default: "characters not allowed ...")
    chars_reason: str = ""
    #: free text (may hold ``. ``, may wrap onto the next line); None: decided by the type
    free: bool | None = None

    @property
    def slotless(self) -> bool:
        """No canonical path: the value stays wire text in the object's ``fields``."""
        return not self.path

    def parse(self, text: str) -> Any:
        """Wire text to model value (normalized; raises ValidationError if it cannot parse)."""
        return _PARSERS[self.type](text, self.tag)

    def parser(self, *, short_dates: bool = False) -> Callable[[str], Any]:
        """``parse`` as a one-argument function with its type resolved once (hot paths).

        ``short_dates``: dates may also be ``MMDDYY`` (Nlets input, model.md).
        """
        if short_dates and self.type == "date":
            tag = self.tag
            return lambda text: _parse_date_short(text, tag)
        direct = _DIRECT_PARSERS.get(self.type)
        if direct is not None:  # types whose parser never names the tag in an error
            return direct
        fn, tag = _PARSERS[self.type], self.tag

        def parse(text: str) -> Any:
            return fn(text, tag)
        return parse

    def formatter(self) -> Callable[[Any], str]:
        """``format`` as a function with its type resolved once (hot paths)."""
        if self.type == "int" and self.max == 3 and self.min is None:
            return _format_int3
        return _FORMATTERS.get(self.type, str)

    def format(self, value: Any) -> str:
        """Model value to wire text."""
        return self.formatter()(value)


class FieldDictionary:
    """The loaded table, indexed by tag and by path, plus the per-MKE wire order."""

    def __init__(self, rows: list[FieldDef], order: dict[str, list[str]],
                 keyed: list[FieldDef] | None = None) -> None:
        #: the general rows (one per tag), in table order
        self.rows = rows
        self.by_tag = {r.tag: r for r in rows}
        self.by_path = {r.path: r for r in rows if r.path}
        #: rows for some message keys only: mke -> tag -> row (override the general row)
        self.keyed: dict[str, dict[str, FieldDef]] = {}
        for r in keyed or ():
            for k in r.keys:
                self.keyed.setdefault(k, {})[r.tag] = r
        self._order = order
        self._order_cache: dict[str, list[FieldDef]] = {}
        self._rank_cache: dict[str, dict[str, int] | None] = {}

    def row_for(self, tag: str, mke: str = "") -> FieldDef | None:
        """The row that reads ``tag`` in a message with key ``mke`` (keyed rows first)."""
        keyed = self.keyed.get(mke)
        if keyed is not None:
            row = keyed.get(tag)
            if row is not None:
                return row
        return self.by_tag.get(tag)

    @classmethod
    def from_toml(cls, text: str, source: str = "fields.toml") -> FieldDictionary:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LayoutError(str(exc), source=source) from None
        rows: list[FieldDef] = []
        keyed: list[FieldDef] = []
        seen: set[str] = set()
        for i, row in enumerate(data.get("field", [])):
            try:
                tag = row["tag"]
                if not re.fullmatch(r"[A-Z0-9]{3}", tag):
                    raise LayoutError(f"row {i}: tag {tag!r} is not 3 letters", source=source)
                if row["type"] not in _PARSERS:
                    raise LayoutError(f"row {i}: unknown type {row['type']!r}", source=source)
                chars = re.compile(f"(?:{row['chars']})") if "chars" in row else None
                cited = str(row.get("source", ""))
                if cited == "none" and any(k in row for k in ("max", "min", "chars",
                                                              "table")):
                    raise LayoutError(f"row {i}: {tag} says no source gives its edit "
                                      "(source = 'none') but has one", source=source)
                fd = FieldDef(
                    tag=tag, path=row.get("path", ""), type=row["type"], max=row.get("max"),
                    min=row.get("min"), chars=chars, table=row.get("table"),
                    severity=row.get("severity", "reject"), past=row.get("past", False),
                    vin_check=row.get("vin_check", False), name=str(row.get("name", "")),
                    files=tuple(row.get("files", ())), source=cited,
                    keys=tuple(row.get("keys", ())), expands=row.get("expands", False),
                    chars_reason=str(row.get("chars_reason", "")), free=row.get("free"))
                if not fd.path and fd.type != "text":
                    raise LayoutError(f"row {i}: {tag} has no path, so its type is text",
                                      source=source)
                if fd.keys:
                    keyed.append(fd)
                    continue
                if tag in seen:
                    raise LayoutError(f"row {i}: tag {tag} twice (use keys = [...] for a "
                                      "row of some message keys only)", source=source)
                seen.add(tag)
                rows.append(fd)
            except KeyError as exc:
                raise LayoutError(f"row {i}: missing {exc.args[0]}", source=source) from None
            except re.error as exc:
                raise LayoutError(f"row {i}: bad chars pattern: {exc}", source=source) from None
        order = {k: list(v) for k, v in data.get("order", {}).items()}
        return cls(rows, order, keyed)

    def order_for(self, mke: str) -> list[FieldDef]:
        """Rows in the wire order used when encoding a message with this key."""
        cached = self._order_cache.get(mke)
        if cached is not None:
            return cached
        prefix = max((p for p in self._order if p != "*" and mke.startswith(p)), key=len,
                     default="*")
        first = [self.by_tag[t] for t in self._order.get(prefix, []) if t in self.by_tag]
        seen = {r.tag for r in first}
        result = first + [r for r in self.rows if r.tag not in seen]
        self._order_cache[mke] = result
        return result


    def rank_for(self, mke: str) -> dict[str, int] | None:
        """Tag -> position in ``mke``'s listed wire order (``[order]``), or None if unlisted."""
        try:
            return self._rank_cache[mke]
        except KeyError:
            pass
        prefix = max((p for p in self._order if p != "*" and mke.startswith(p)), key=len,
                     default="*")
        listed = self._order.get(prefix)
        rank = {t: i for i, t in enumerate(listed)} if listed else None
        if len(self._rank_cache) > 512:
            self._rank_cache.clear()
        self._rank_cache[mke] = rank
        return rank


@cache
def default_dictionary() -> FieldDictionary:
    """The built-in dictionary shipped in the package."""
    text = resources.files("clets.model").joinpath("fields.toml").read_text("utf-8")
    return FieldDictionary.from_toml(text)

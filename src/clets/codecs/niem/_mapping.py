"""The element table of the niem codec (``niem_mapping.toml``), loaded and checked once.

Why a table: the Nlets NIEM ICD is not public and every state bends it, so the element names,
their order and their canonical paths are data an agency edits, not code.  This module turns
the rows into what the codec needs at speed: per group, an ordered list of rows for encoding
and a tag -> handler trie for decoding (Clark names, so lookups are one dict access).
"""

from __future__ import annotations

import datetime as _dt
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clets.errors import LayoutError, ValidationError
from clets.model import (
    Address,
    Case,
    ErrorInfo,
    FieldDictionary,
    License,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
)

__all__ = ["BRANCH", "FIELDS", "GROUP", "GROUP_CLASSES", "IGNORE", "KEYED", "LIST", "PAIR",
           "SIMPLE", "Mapping", "Row", "Trie", "load_mapping"]

TYPES = frozenset({"string", "token", "int", "date", "bool", "datetime", "split", "list",
                   "group", "fields"})

#: The model class a group maps (``group = "person"`` rows create one of these).
GROUP_CLASSES: dict[str, type] = {
    "person": Person, "vehicle": Vehicle, "case": Case, "record": Record,
}
#: Classes created when a dotted path walks through an absent object.
CHILD_CLASSES: dict[str, type] = {
    "name": Name, "license": License, "address": Address, "registration": Registration,
    "error": ErrorInfo, "person": Person, "owner": Person, "vehicle": Vehicle, "case": Case,
}
_ATTR = {"class": "class_"}

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}:[0-9]{2}(?::[0-9]{2})?)")
_US_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_TIME = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?")

Steps = tuple[str, ...]


@dataclass(slots=True)
class Row:
    """One table row, resolved: Clark-name element steps, attribute chain, value converters."""

    index: int
    group: str
    path: str
    attrs: tuple[str, ...]
    key: str | None  # for "fields.XXX" rows: the key in the object's fields
    elements: tuple[Steps, ...]
    type: str
    cdata: bool = False
    width: int | None = None
    omit_false: bool = False
    child: str | None = None
    repeat: bool = False
    const: tuple[tuple[Steps, str], ...] = ()
    pattern: re.Pattern[str] | None = None
    sep: str = "/"
    mail_element: dict[str, Steps] = field(default_factory=dict)
    kind: int = 0  # decoder dispatch (SIMPLE, GROUP, ...)
    single: str | None = None  # the attribute, when the path is one step (fast get/set)
    tail: str | None = None  # the second attribute, when the path is exactly two steps
    tag: str | None = None  # field dictionary tag, for error messages
    parse: Callable[[str], Any] | None = None
    # the same element paths as prefix:Local names, for the text writer of the encoder
    qelements: tuple[Steps, ...] = ()
    qconst: tuple[tuple[Steps, str], ...] = ()
    qmail_element: dict[str, Steps] = field(default_factory=dict)

    def get(self, obj: Any) -> Any:
        """The row's value on ``obj`` (None when any step is absent)."""
        if self.key is not None:
            return obj.fields.get(self.key)
        for a in self.attrs:
            if obj is None:
                return None
            obj = getattr(obj, a)
        return obj

    def set(self, obj: Any, value: Any) -> None:
        if self.key is not None:
            obj.fields[self.key] = value
            return
        for a in self.attrs[:-1]:
            nxt = getattr(obj, a)
            if nxt is None:
                nxt = CHILD_CLASSES[a]()
                setattr(obj, a, nxt)
            obj = nxt
        setattr(obj, self.attrs[-1], value)


# Trie node kinds (small ints: the decoder dispatches on them per element, commonest first).
SIMPLE, BRANCH, GROUP, FIELDS, LIST, PAIR, KEYED, IGNORE = range(8)
Trie = dict[str, tuple[int, Any, int]]


@dataclass(slots=True)
class Mapping:
    """The loaded table."""

    ns: dict[str, str]
    doc: dict[str, Any]
    groups: dict[str, list[Row]]
    tries: dict[str, Trie]
    tolerate: list[tuple[str, str, frozenset[str] | None]]
    mail_keys: frozenset[str]
    response_keys: re.Pattern[str]

    def clark(self, qname: str) -> str:
        return _clark(self.ns, qname, "document")


def _clark(ns: dict[str, str], qname: str, where: str) -> str:
    prefix, sep, local = qname.partition(":")
    if not sep or prefix not in ns or not local:
        raise LayoutError(f"{where}: {qname!r} is not prefix:Name with a prefix of [namespaces]",
                          source="niem_mapping.toml")
    return f"{{{ns[prefix]}}}{local}"


def _steps(ns: dict[str, str], path: str, where: str) -> Steps:
    return tuple(_clark(ns, step, where) for step in path.split("/"))


# ----------------------------------------------------------------------------- converters

def _int(tag: str) -> Callable[[str], int]:
    def conv(text: str) -> int:
        t = text.strip()
        if not t.lstrip("-").isdigit():
            raise ValidationError("not an integer", field=tag, value=text, format="niem")
        return int(t)
    return conv


def _date(tag: str) -> Callable[[str], str]:
    def conv(text: str) -> str:
        t = text.strip()
        try:
            if not _ISO_DATE.fullmatch(t):
                raise ValueError
            return _dt.date.fromisoformat(t).isoformat()
        except ValueError:
            raise ValidationError("not a calendar date (YYYY-MM-DD)", field=tag, value=text,
                                  format="niem") from None
    return conv


def _bool(tag: str) -> Callable[[str], bool]:
    def conv(text: str) -> bool:
        t = text.strip()
        if t in ("true", "1"):
            return True
        if t in ("false", "0"):
            return False
        raise ValidationError("not a boolean", field=tag, value=text, format="niem")
    return conv


def _token(dictionary: FieldDictionary, dict_path: str) -> Callable[[str], Any]:
    fd = dictionary.by_path.get(dict_path)
    if fd is not None and fd.type in ("text", "code", "color", "plate_year"):
        # Same normaliser as the text codecs: the XML and the wire form of these types agree
        # (these strip surrounding whitespace themselves).
        return fd.parse
    if fd is not None and fd.type in ("ident", "digits"):
        parse = fd.parse
        return lambda text: parse(text.strip())
    return str.strip


def join_datetime(date: str, time: str, tag: str) -> str:
    """``MM/DD/YYYY`` + ``HH:MM[:SS]`` -> ``YYYY-MM-DDTHH:MM[:SS]`` (a real calendar date)."""
    m = _US_DATE.fullmatch(date.strip())
    t = time.strip()
    try:
        if m is None or not _TIME.fullmatch(t):
            raise ValueError
        d = _dt.date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    except ValueError:
        raise ValidationError("not a date MM/DD/YYYY and time HH:MM", field=tag,
                              value=f"{date} {time}", format="niem") from None
    return f"{d.isoformat()}T{t}"


def split_datetime(value: str) -> tuple[str, str] | None:
    m = _ISO_DATETIME.fullmatch(value)
    if m is None:
        return None
    return f"{m.group(2)}/{m.group(3)}/{m.group(1)}", m.group(4)


# ----------------------------------------------------------------------------- loading

_GROUP_NAMES = ("header", "body", "record", "person", "vehicle", "case")
_REQUIRED_DOC = ("schema", "root", "version_attribute", "version", "header", "inquiry",
                 "response", "mail", "mail_key_attribute", "field_tag_attribute",
                 "additional_field", "mail_keys", "response_keys")


def load_mapping(text: str, dictionary: FieldDictionary,
                 source: str = "niem_mapping.toml") -> Mapping:
    """Parse and check the table; LayoutError names the row that is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(str(exc), source=source) from None
    ns = dict(data.get("namespaces", {}))
    doc = dict(data.get("document", {}))
    for key in _REQUIRED_DOC:
        if key not in doc:
            raise LayoutError(f"[document] lacks {key!r}", source=source)
    prefixes = data.get("dictionary_prefix", {})
    groups: dict[str, list[Row]] = {}
    index = 0
    for gname in _GROUP_NAMES:
        rows: list[Row] = []
        for i, raw in enumerate(data.get(gname, [])):
            where = f"[[{gname}]] row {i + 1}"
            try:
                rows.append(_row(raw, gname, index, where, ns, dictionary,
                                 prefixes.get(gname, "")))
            except KeyError as exc:
                raise LayoutError(f"{where}: missing {exc.args[0]!r}", source=source) from None
            index += 1
        _check_contiguous(rows, gname, source)
        groups[gname] = rows
    for gname, rows in groups.items():
        for row in rows:
            if row.type == "group" and row.child not in groups:
                raise LayoutError(f"[[{gname}]] {row.path}: unknown group {row.child!r}",
                                  source=source)
    tries = {g: _trie(rows, g, source) for g, rows in groups.items()}
    tolerate = []
    for t in data.get("tolerate", []):
        only = t.get("only")
        tolerate.append((t["namespace"], ns[t["to"]], frozenset(only) if only else None))
    return Mapping(ns=ns, doc=doc, groups=groups, tries=tries, tolerate=tolerate,
                   mail_keys=frozenset(doc["mail_keys"]),
                   response_keys=re.compile(doc["response_keys"]))


def _row(raw: dict[str, Any], gname: str, index: int, where: str, ns: dict[str, str],
         dictionary: FieldDictionary, prefix: str) -> Row:
    rtype = raw["type"]
    if rtype not in TYPES:
        raise LayoutError(f"{where}: unknown type {rtype!r}", source="niem_mapping.toml")
    path: str = raw["path"]
    element = raw["element"]
    elements = tuple(_steps(ns, e, where) for e in (element if isinstance(element, list)
                                                     else [element]))
    if (len(elements) == 2) != (rtype in ("datetime", "split")):
        raise LayoutError(f"{where}: datetime and split rows (only) take two elements",
                          source="niem_mapping.toml")
    key = path[len("fields."):] if path.startswith("fields.") else None
    attrs = tuple(_ATTR.get(p, p) for p in path.split("."))
    dict_path = prefix + path
    fd = dictionary.by_path.get(dict_path)
    tag = fd.tag if fd is not None else elements[0][-1].split("}")[1]
    parse: Callable[[str], Any] | None = {
        "token": lambda: _token(dictionary, dict_path),
        "list": lambda: str.strip,
        "split": lambda: _token(dictionary, dict_path),
        "int": lambda: _int(tag),
        "date": lambda: _date(tag),
        "bool": lambda: _bool(tag),
    }.get(rtype, lambda: None)()
    const = tuple((_steps(ns, k, where), str(v)) for k, v in raw.get("const", {}).items())
    mail_element = {k: _steps(ns, v, where) for k, v in raw.get("mail_element", {}).items()}
    pattern = re.compile(raw["pattern"]) if "pattern" in raw else None
    qelements = tuple(tuple(e.split("/")) for e in (element if isinstance(element, list)
                                                     else [element]))
    qconst = tuple((tuple(k.split("/")), str(v)) for k, v in raw.get("const", {}).items())
    qmail = {k: tuple(v.split("/")) for k, v in raw.get("mail_element", {}).items()}
    kind = {"group": GROUP, "fields": FIELDS, "list": LIST, "datetime": PAIR,
            "split": PAIR}.get(rtype, KEYED if key is not None else SIMPLE)
    single = attrs[0] if len(attrs) == 1 and key is None else None
    tail = attrs[1] if len(attrs) == 2 and key is None else None
    return Row(kind=kind, single=single, tail=tail, qelements=qelements, qconst=qconst,
               qmail_element=qmail, index=index, group=gname, path=path, attrs=attrs, key=key,
               elements=elements,
               type=rtype, cdata=bool(raw.get("cdata", False)), width=raw.get("width"),
               omit_false=bool(raw.get("omit_false", False)), child=raw.get("group"),
               repeat=bool(raw.get("repeat", False)), const=const, pattern=pattern,
               sep=raw.get("sep", "/"), mail_element=mail_element, tag=tag, parse=parse)


def _check_contiguous(rows: list[Row], gname: str, source: str) -> None:
    """Rows sharing a parent element must be adjacent: the encoder reuses the open parent."""
    closed: set[Steps] = set()
    open_: list[Steps] = []
    for row in rows:
        for steps in (*row.elements, *(s for s, _ in row.const)):
            parents = [steps[:i] for i in range(1, len(steps))]
            for p in parents:
                if p in closed:
                    raise LayoutError(f"[[{gname}]] {row.path}: rows under {p[-1]} are not"
                                      " adjacent", source=source)
            for p in open_:
                if p not in parents:
                    closed.add(p)
            open_ = parents


def _trie(rows: list[Row], gname: str, source: str) -> Trie:
    root: Trie = {}

    def put(steps: Steps, node: tuple[int, Any, int], path: str) -> None:
        level = root
        for step in steps[:-1]:
            existing = level.get(step)
            if existing is None:
                existing = (BRANCH, {}, 0)
                level[step] = existing
            elif existing[0] != BRANCH:
                raise LayoutError(f"[[{gname}]] {path}: {step} is both a value and a parent",
                                  source=source)
            level = existing[1]
        if steps[-1] in level:
            raise LayoutError(f"[[{gname}]] {path}: element {steps[-1]} mapped twice",
                              source=source)
        level[steps[-1]] = node

    for row in rows:
        for part, steps in enumerate(row.elements):
            put(steps, (row.kind, row, part), row.path)
        for steps in set(row.mail_element.values()):
            put(steps, (row.kind, row, 0), row.path)
        for steps, _ in row.const:
            put(steps, (IGNORE, None, 0), row.path)
    return root

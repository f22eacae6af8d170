"""Field-by-field diff of two canonical messages, with masks for volatile fields.

Why in the canonical model and not on bytes: a new build may pad, order or encode a field
differently and still say the same thing, and a tester wants to read "records[0].registration.
expires: 2027-03-31 -> 2026-03-31", not a hex dump.  Masks name the fields that are expected to
change between runs (times, sequence and control numbers) by canonical path or glob.

Path syntax: object keys joined by ``.``, list items as ``[i]``: ``person.name.last``,
``records[0].fields.DTE``, ``destinations[1]``.

Mask syntax (a glob over those paths):

* ``*`` matches any characters within one step (not ``.``); ``**`` matches anything;
* ``[*]`` matches any list index;
* a mask that starts with ``*.`` or ``**.`` matches at any depth, top level included
  (``*.sent_at`` masks ``sent_at`` and ``records[2].x.sent_at``);
* a mask also masks everything below the path it matches (``person`` masks ``person.dob``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

__all__ = [
    "ABSENT",
    "DEFAULT_MASKS",
    "FieldDiff",
    "MaskSet",
    "diff_messages",
    "format_diffs",
    "format_value",
]

#: Masked unless ``--no-default-masks``: what changes on every run by design.
#:  ``sent_at`` / ``sequence``: the network's send time and message number (Nlets header);
#:  ``control``: control numbers assigned by a switch or destination per transaction;
#:  ``records[*].fields.DTE`` / ``.TME``: date/time stamps inside response records;
#:  ``*.sent_at``: any nested send time.
DEFAULT_MASKS: tuple[str, ...] = (
    "sent_at",
    "sequence",
    "control",
    "*.sent_at",
    "records[*].fields.DTE",
    "records[*].fields.TME",
)


class _Absent:
    """A value that is not there at all (an extra list item), unlike JSON null."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


def _compile(mask: str) -> re.Pattern[str]:
    any_depth = False
    body = mask.strip()
    for lead in ("**.", "*."):
        if body.startswith(lead):
            body, any_depth = body[len(lead):], True
            break
    out = []
    i = 0
    while i < len(body):
        if body.startswith("[*]", i):
            out.append(r"\[\d+\]")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append(r"[^.]*")
            i += 1
        elif body[i] == "?":
            out.append(r"[^.]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    prefix = r"(?:.*[.\]])?" if any_depth else ""
    return re.compile(prefix + "".join(out) + r"(?:$|[.\[].*)", re.DOTALL)


@dataclass(frozen=True)
class MaskSet:
    """The masks in force for one comparison."""

    masks: tuple[str, ...] = ()

    @classmethod
    def of(cls, masks: Iterable[str] = (), *, defaults: bool = True) -> MaskSet:
        chosen = (*DEFAULT_MASKS, *masks) if defaults else tuple(masks)
        return cls(tuple(dict.fromkeys(m for m in chosen if m.strip())))

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_compile(m) for m in self.masks)

    def match(self, path: str) -> bool:
        return any(p.fullmatch(path) for p in self._patterns)


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One difference.  ``kind``: ``changed``; ``missing`` (the captured side has it, the
    replayed side not); ``extra`` (only the replayed side has it)."""

    path: str
    captured: Any
    replayed: Any
    kind: str = "changed"

    def __str__(self) -> str:
        return f"{self.path}: {format_value(self.captured)} -> {format_value(self.replayed)}"


def format_value(value: Any, limit: int = 120) -> str:
    """A value as a person reads it in a diff: JSON, shortened."""
    if value is ABSENT:
        return "<absent>"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _key_path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


@dataclass
class _Walk:
    masks: MaskSet
    out: list[FieldDiff] = field(default_factory=list)
    masked: list[str] = field(default_factory=list)

    def walk(self, a: Any, b: Any, path: str) -> None:
        if path and self.masks.match(path):
            if a != b:
                self.masked.append(path)
            return
        if a is ABSENT or b is ABSENT:
            if a is not b:
                self.out.append(FieldDiff(path, a, b, "missing" if b is ABSENT else "extra"))
            return
        # A null object against a present one: compare leaf by leaf, so masks still apply
        # and the diff names the exact fields that appeared or vanished.
        if a is None and isinstance(b, dict):
            a = dict.fromkeys(b)
        elif b is None and isinstance(a, dict):
            b = dict.fromkeys(a)
        if isinstance(a, dict) and isinstance(b, dict):
            for key in [*a, *(k for k in b if k not in a)]:
                self.walk(a.get(key, ABSENT), b.get(key, ABSENT), _key_path(path, key))
            return
        if isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                self.walk(a[i] if i < len(a) else ABSENT, b[i] if i < len(b) else ABSENT,
                          f"{path}[{i}]")
            return
        if a != b or type(a) is not type(b):
            self.out.append(FieldDiff(path or "$", a, b))


def diff_messages(captured: dict[str, Any] | None, replayed: dict[str, Any] | None,
                  masks: MaskSet | None = None) -> list[FieldDiff]:
    """Every unmasked difference between two canonical JSON objects, in document order.

    Messages are compared in their full JSON form (every model key present), so a key absent
    from one side only happens in free maps (``fields``) and, like a list item absent from one
    side, is reported as ``missing`` / ``extra``.  A null object against a present one is
    compared leaf by leaf.
    """
    w = _Walk(masks if masks is not None else MaskSet.of())
    w.walk(captured, replayed, "")
    return w.out


def masked_paths(captured: dict[str, Any] | None, replayed: dict[str, Any] | None,
                 masks: MaskSet) -> list[str]:
    """The paths whose difference a mask hid (for ``--verbose`` reports)."""
    w = _Walk(masks)
    w.walk(captured, replayed, "")
    return w.masked


def format_diffs(diffs: Sequence[FieldDiff], indent: str = "  ") -> str:
    """One line per difference: ``path: captured -> replayed``."""
    return "\n".join(f"{indent}{d}" for d in diffs)

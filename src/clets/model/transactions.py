"""NCIC files and transactions (``transactions.toml``): which keys a file has, and what each
transaction must carry.

Why data: the mandatory fields and identifying sets differ per file and per CSA, and the NCIC
manuals' field tables are not public, so an agency corrects the table, not code.  The check
runs on the canonical model with the field dictionary's tag <-> path binding, so it holds for
every wire format: a tag counts as present in its slot or in ``fields``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from clets.errors import MISSING_FIELD, LayoutError, ValidationError

from .dictionary import FieldDictionary, default_dictionary, get_path
from .types import Message

__all__ = ["KINDS", "NcicFile", "Rule", "Transactions", "check_transaction",
           "default_transactions", "untagged_fields"]

#: key of ``Message.fields`` holding untagged values, one a line (``clets.codecs.tagged``)
POS_KEY = "POS"

KINDS = ("entry", "modify", "cancel", "locate", "clear", "inquiry", "supplemental")


@dataclass(frozen=True, slots=True)
class NcicFile:
    """One NCIC file: its keys by kind, NIC letter, record type lines, YQ request type."""

    id: str
    name: str
    nic: str | None
    types: tuple[str, ...]
    confirm: str | None
    keys: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Rule:
    """What one transaction must carry (see the file's header comment)."""

    require: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    identify: tuple[tuple[str, ...], ...] = ()


@dataclass(slots=True)
class Transactions:
    """The loaded table: files, and the rule of each message key."""

    files: dict[str, NcicFile]
    rules: dict[str, Rule] = field(default_factory=dict)
    enforce: bool = False
    #: names of the untagged values of a transaction, by kind (file ``""``: every file
    #: without its own list)
    untagged: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)

    def untagged_names(self, mke: str) -> tuple[str, ...]:
        """The names of ``mke``'s untagged values in order (``()``: none known)."""
        for fid, kind in self.kind_of(mke):
            names = self.untagged.get((fid, kind), self.untagged.get(("", kind)))
            if names:
                return names
        return ()

    def kind_of(self, mke: str) -> list[tuple[str, str]]:
        """(file, kind) pairs a message key belongs to (QW is an inquiry of several)."""
        return [(f.id, kind) for f in self.files.values() for kind, keys in f.keys.items()
                if mke in keys]

    def file_of_type(self, type_text: str) -> str | None:
        """The NCIC file whose record type line this is."""
        for f in self.files.values():
            if type_text in f.types:
                return f.id
        return None

    @classmethod
    def from_toml(cls, text: str, source: str = "transactions.toml") -> Transactions:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LayoutError(str(exc), source=source) from None
        files: dict[str, NcicFile] = {}
        for fid, raw in data.get("file", {}).items():
            unknown = set(raw) - {"name", "nic", "types", "confirm", *KINDS}
            if unknown:
                raise LayoutError(f"file {fid}: unknown keys {sorted(unknown)}", source=source)
            files[fid] = NcicFile(fid, str(raw.get("name", fid)), raw.get("nic"),
                                  tuple(raw.get("types", ())), raw.get("confirm"),
                                  {k: tuple(raw[k]) for k in KINDS if k in raw})
        rules: dict[str, Rule] = {}
        for i, raw in enumerate(data.get("rule", [])):
            keys = list(raw.get("keys", []))
            fids = raw.get("file", [])
            kinds = raw.get("kind", [])
            fids = [fids] if isinstance(fids, str) else list(fids)
            kinds = [kinds] if isinstance(kinds, str) else list(kinds)
            for fid in fids:
                if fid not in files:
                    raise LayoutError(f"rule {i}: unknown file {fid!r}", source=source)
                for kind in kinds:
                    if kind not in KINDS:
                        raise LayoutError(f"rule {i}: unknown kind {kind!r}", source=source)
                    keys += files[fid].keys.get(kind, ())
            if not keys:
                raise LayoutError(f"rule {i}: names no message key", source=source)
            rule = Rule(tuple(raw.get("require", ())),
                        tuple(tuple(s) for s in raw.get("one_of", ())),
                        tuple(tuple(s) for s in raw.get("identify", ())))
            for key in keys:
                rules[key] = rule  # a later rule for a key replaces an earlier one
        untagged: dict[tuple[str, str], tuple[str, ...]] = {}
        for name, raw in data.get("untagged", {}).items():
            if isinstance(raw, list):  # [untagged] kind = [...]: every file
                untagged[("", name)] = tuple(str(t) for t in raw)
                continue
            if name not in files or not isinstance(raw, dict):
                raise LayoutError(f"untagged: unknown file {name!r}", source=source)
            for kind, names in raw.items():
                untagged[(name, kind)] = tuple(str(t) for t in names)
        for (fid, kind), names in untagged.items():
            if kind not in KINDS or not all(isinstance(t, str) and len(t) == 3 for t in names):
                raise LayoutError(f"untagged {fid or '*'}.{kind}: a kind and three-letter tags",
                                  source=source)
        return cls(files, rules, bool(data.get("enforce", False)), untagged)


@cache
def default_transactions() -> Transactions:
    """The built-in table shipped in the package."""
    text = resources.files("clets.model").joinpath("transactions.toml").read_text("utf-8")
    return Transactions.from_toml(text)


def _present(msg: Message, tag: str, dictionary: FieldDictionary) -> bool:
    if tag in msg.fields:
        return True
    fd = dictionary.row_for(tag, msg.mke)
    if fd is None or not fd.path:
        return False
    value: Any = get_path(msg, fd.path)
    return value is not None and value != "" and value != []


def untagged_fields(msg: Message, *, table: Transactions | None = None) -> dict[str, str]:
    """The untagged values of ``msg`` (``fields["POS"]``) by the names ``transactions.toml``
    gives its transaction, in order; values past the known names are left out."""
    raw = msg.fields.get(POS_KEY)
    if not raw:
        return {}
    names = (table or default_transactions()).untagged_names(msg.mke)
    return dict(zip(names, raw.split("\n"), strict=False))


def check_transaction(msg: Message, *, table: Transactions | None = None,
                      dictionary: FieldDictionary | None = None) -> None:
    """Raise ValidationError ``.20. MISSING MANDATORY FIELD <TAG>`` (code 20) when ``msg``
    lacks what its transaction must carry; keys without a rule pass.  The named untagged
    values (``untagged_fields``) get their rows' edits: a reject is the row's ValidationError
    (code 21, naming the tag)."""
    table = table or default_transactions()
    dictionary = dictionary or default_dictionary()
    named = untagged_fields(msg, table=table)
    if named:
        from .edits import _check_fields, _today  # edits imports this module's package

        found: list[Any] = []
        _check_fields(dictionary, Message, msg.mke, named, "", _today(), found)
        for finding in found:
            if finding.severity == "reject":
                raise finding.to_error()
    rule = table.rules.get(msg.mke)
    if rule is None:
        return

    def missing(tag: str) -> ValidationError:
        return ValidationError(f"MISSING MANDATORY FIELD {tag}", field=tag, code=MISSING_FIELD)

    for tag in rule.require:
        if not _present(msg, tag, dictionary):
            raise missing(tag)
    for sets in (rule.identify, rule.one_of):
        if sets and not any(all(_present(msg, t, dictionary) for t in s) for s in sets):
            first = next((t for t in sets[0] if not _present(msg, t, dictionary)), sets[0][0])
            raise missing(first)

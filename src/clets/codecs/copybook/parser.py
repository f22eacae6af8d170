"""COBOL copybook text -> a tree of data description entries, every clause read.

Agencies hand us their copybooks as they are, so this reads the whole data description
language of IBM Enterprise COBOL that shapes a record (levels 01-49, 66, 77, 88; PICTURE,
USAGE, SIGN, SYNCHRONIZED, JUSTIFIED, BLANK WHEN ZERO, OCCURS [DEPENDING ON] with KEY and
INDEXED BY, REDEFINES, RENAMES, VALUE in every form, GLOBAL, EXTERNAL) and keeps each clause
as data on an :class:`Item`.  What the clauses *mean* for offsets is layout.py's and
tree.py's business; the field level (pictures, usages) is pictures.py/usages.py's.

Strict about meaning: an unknown clause, a misplaced level, a count over the size limit is a
LayoutError naming the copybook and the line, because a silently wrong offset corrupts every
field after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from clets.errors import LayoutError

from .source import Resolver, Token, decode_source, split_entries
from .usages import USAGE_KEYWORDS

__all__ = ["DEFAULT_LIMIT", "Condition", "Figurative", "Item", "parse_items", "parse_value"]

#: Default size limit of one record (bytes): an OCCURS count or a PIC size over it is refused.
DEFAULT_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class Figurative:
    """A figurative constant (ZERO, SPACE, HIGH-VALUE, LOW-VALUE, QUOTE, NULL) or ALL literal."""

    name: str  # ZERO | SPACE | HIGH-VALUE | LOW-VALUE | QUOTE | NULL | ALL
    literal: Any = None  # for ALL: the repeated literal


@dataclass(frozen=True, slots=True)
class Condition:
    """A level-88 condition name: true when its item's value is one of ``values`` or inside
    one of the ``(low, high)`` ranges (``high`` is None for a single value)."""

    name: str
    line: int
    values: tuple[tuple[Any, Any], ...]


@dataclass(slots=True)
class Item:
    """One data description entry (a group when it has ``children`` and no picture)."""

    level: int
    name: str  # "FILLER" when unnamed
    line: int
    source: str = "<copybook>"
    picture: str | None = None
    usage: str = "display"  # display|binary|packed|comp-5|comp-1|comp-2|comp-6|national|
    #                         pointer|procedure-pointer|function-pointer|index|display-1
    usage_set: bool = False  # USAGE written on this entry (not inherited)
    sign_position: str | None = None  # leading | trailing
    sign_separate: bool = False
    sync: bool = False
    justified: bool = False
    blank_when_zero: bool = False
    external: bool = False
    global_: bool = False
    occurs: int = 1  # maximum count
    occurs_min: int = 1
    has_occurs: bool = False
    depending: tuple[str, ...] | None = None  # qualified name: ("N", "GROUP", ...)
    keys: tuple[tuple[str, str], ...] = ()  # (ASCENDING|DESCENDING, name)
    indexes: tuple[str, ...] = ()
    redefines: str | None = None
    value: Any = None
    conditions: list[Condition] = field(default_factory=list)
    renames: tuple[tuple[str, ...], tuple[str, ...] | None] | None = None  # level 66
    children: list[Item] = field(default_factory=list)
    parent: Item | None = field(default=None, repr=False)

    @property
    def is_group(self) -> bool:
        return self.picture is None and self.level != 66 and self.usage not in _NO_PIC_USAGES

    @property
    def filler(self) -> bool:
        return self.name == "FILLER"

    def path(self) -> tuple[str, ...]:
        """Names from the record down to this item."""
        out: list[str] = []
        it: Item | None = self
        while it is not None:
            out.append(it.name)
            it = it.parent
        return tuple(reversed(out))


_USAGES = {
    "DISPLAY": "display", "DISPLAY-1": "display-1", "NATIONAL": "national",
    "COMP-3": "packed", "COMPUTATIONAL-3": "packed", "PACKED-DECIMAL": "packed",
    "COMP": "binary", "COMPUTATIONAL": "binary", "COMP-4": "binary",
    "COMPUTATIONAL-4": "binary", "BINARY": "binary",
    "COMP-5": "comp-5", "COMPUTATIONAL-5": "comp-5",
    "COMP-1": "comp-1", "COMPUTATIONAL-1": "comp-1",
    "COMP-2": "comp-2", "COMPUTATIONAL-2": "comp-2",
    "COMP-6": "comp-6", "COMPUTATIONAL-6": "comp-6",
    "POINTER": "pointer", "POINTER-32": "pointer", "PROCEDURE-POINTER": "procedure-pointer",
    "FUNCTION-POINTER": "function-pointer", "INDEX": "index",
}
_USAGES.update(USAGE_KEYWORDS)  # the field level's spellings too (COMP-X, COMP-9, COMP-3U ...)
_NO_PIC_USAGES = {"comp-1", "comp-2", "pointer", "procedure-pointer", "function-pointer",
                  "index"}
_FIGURATIVE = {
    "ZERO": "ZERO", "ZEROS": "ZERO", "ZEROES": "ZERO",
    "SPACE": "SPACE", "SPACES": "SPACE",
    "HIGH-VALUE": "HIGH-VALUE", "HIGH-VALUES": "HIGH-VALUE",
    "LOW-VALUE": "LOW-VALUE", "LOW-VALUES": "LOW-VALUE",
    "QUOTE": "QUOTE", "QUOTES": "QUOTE", "NULL": "NULL", "NULLS": "NULL",
}
_CLAUSE_WORDS = set(_USAGES) | {
    "PIC", "PICTURE", "USAGE", "OCCURS", "REDEFINES", "VALUE", "VALUES", "SIGN", "JUST",
    "JUSTIFIED", "SYNC", "SYNCHRONIZED", "BLANK", "GLOBAL", "EXTERNAL", "RENAMES", "INDEXED",
    "ASCENDING", "DESCENDING", "LEADING", "TRAILING", "IS", "GROUP-USAGE", "DYNAMIC",
    "VOLATILE", "TYPEDEF", "DATE", "BASED", "ANY"}
_NUMBER = re.compile(r"[+-]?(\d*\.\d+|\d+\.?)(E[+-]?\d+)?", re.I)
_COMMA_NUMBER = re.compile(r"[+-]?\d*,\d+")


def parse_value(tok: Token) -> Any:
    """A literal as a value: str (quotes undoubled), bytes (X'..'), int/Decimal, or a
    :class:`Figurative`; LayoutError for anything else."""
    t = tok.text
    u = t.upper()
    if u in _FIGURATIVE:
        return Figurative(_FIGURATIVE[u])
    if t[0] in "'\"":
        return t[1:-1].replace(t[0] * 2, t[0])
    if t[0] in "XxNnGgZzBbUu" and len(t) > 1 and t[1] in "'\"":
        body = t[2:-1].replace(t[1] * 2, t[1])
        if t[0] in "Xx":
            try:
                return bytes.fromhex(body)
            except ValueError:
                raise LayoutError(f"hexadecimal literal {t} is not an even number of hex digits",
                                  source=tok.source, line=tok.line) from None
        return body  # N'..', G'..', Z'..' (null-terminated): their text
    if _COMMA_NUMBER.fullmatch(t):  # DECIMAL-POINT IS COMMA: 1,5 (no other reading)
        t = t.replace(",", ".")
    if _NUMBER.fullmatch(t):
        try:
            d = Decimal(t)
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            raise LayoutError(f"bad number {t}", source=tok.source, line=tok.line) from None
        return int(d) if d == d.to_integral_value() and "." not in t and "E" not in u else d
    raise LayoutError(f"{t!r} is not a literal (quoted text, a number, X'..' or a figurative "
                      "constant such as SPACES)", source=tok.source, line=tok.line)


class _Cursor:
    """Walks the tokens of one entry, with errors that name the entry's item and line."""

    def __init__(self, tokens: list[Token], name: str = "") -> None:
        self.t = tokens
        self.i = 0
        self.name = name

    def more(self) -> bool:
        return self.i < len(self.t)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.t[j].upper if j < len(self.t) else ""

    def take(self, what: str) -> Token:
        if self.i >= len(self.t):
            last = self.t[-1]
            raise LayoutError(f"{self.name}: {what} expected after {last.text}",
                              source=last.source, line=last.line)
        tok = self.t[self.i]
        self.i += 1
        return tok

    def skip(self, *words: str) -> bool:
        if self.peek() in words:
            self.i += 1
            return True
        return False

    def error(self, reason: str, tok: Token | None = None) -> LayoutError:
        tok = tok or self.t[min(self.i, len(self.t) - 1)]
        return LayoutError(f"{self.name}: {reason}" if self.name else reason, source=tok.source,
                           line=tok.line)

    def qualified(self, what: str) -> tuple[str, ...]:
        """NAME [OF|IN QUALIFIER]... (subscripts are not allowed here)."""
        names = [self.take(what).upper]
        while self.peek() in ("OF", "IN"):
            self.i += 1
            names.append(self.take("a qualifier").upper)
        return tuple(names)


def _count(tok: Token, cur: _Cursor, limit: int) -> int:
    if not tok.text.isdigit():
        raise cur.error(f"OCCURS count {tok.text!r} is not an unsigned integer", tok)
    n = int(tok.text)
    if n > limit:
        raise cur.error(f"OCCURS {n} is over the limit of {limit} (a record is at most "
                        f"{limit} bytes; raise the limit if this is meant)", tok)
    return n


def _values(cur: _Cursor) -> list[tuple[Any, Any]]:
    """VALUE operands: literal [THRU literal], repeated (88 levels), ALL and figuratives."""
    out: list[tuple[Any, Any]] = []
    while cur.more() and cur.peek() not in _CLAUSE_WORDS - {"IS"} | {"WHEN"}:
        if cur.peek() == "ALL":
            cur.i += 1
            lit = parse_value(cur.take("a literal after ALL"))
            low: Any = Figurative("ALL", lit)
        else:
            low = parse_value(cur.take("a literal"))
        high: Any = None
        if cur.peek() in ("THRU", "THROUGH"):
            cur.i += 1
            high = parse_value(cur.take("a literal after THRU"))
        out.append((low, high))
    if not out:
        raise cur.error("VALUE without a literal")
    if cur.peek() == "WHEN":  # 88 ... WHEN SET TO FALSE IS literal
        cur.i += 1
        for w in ("SET", "TO", "FALSE", "IS"):
            cur.skip(w)
        parse_value(cur.take("a literal"))
    return out


def _entry(tokens: list[Token], limit: int) -> Item | Condition:
    """One data description entry; a :class:`Condition` for level 88."""
    first = tokens[0]
    cur = _Cursor(tokens)
    if not first.text.isdigit():
        raise cur.error(f"expected a level number, found {first.text!r}", first)
    level = int(first.text)
    if not (1 <= level <= 49 or level in (66, 77, 88)):
        raise cur.error(f"level {first.text} is not a data level (01-49, 66, 77, 88)", first)
    cur.i = 1
    name = "FILLER"
    if cur.more() and cur.peek() not in _CLAUSE_WORDS:
        name = cur.take("a name").upper
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9_\-:#@$]*", name) and not name.startswith(":"):
            raise cur.error(f"{name!r} is not a data name", tokens[1])
    cur.name = name
    if level == 88:
        cur.skip("VALUE", "VALUES")
        cur.skip("IS", "ARE")
        values = _values(cur)
        if cur.more():
            raise cur.error(f"unexpected {cur.t[cur.i].text!r} in a level-88 entry")
        return Condition(name, first.line, tuple(values))
    item = Item(level=level, name=name, line=first.line, source=first.source)
    if level == 66:
        if not cur.skip("RENAMES"):
            raise cur.error("level 66 needs RENAMES")
        start = cur.qualified("a name after RENAMES")
        thru = None
        if cur.skip("THRU", "THROUGH"):
            thru = cur.qualified("a name after THRU")
        item.renames = (start, thru)
        if cur.more():
            raise cur.error(f"unexpected {cur.t[cur.i].text!r} after RENAMES")
        return item
    seen: set[str] = set()
    while cur.more():
        tok = cur.take("a clause")
        w = tok.upper
        key = {"PICTURE": "PIC", "JUST": "JUSTIFIED", "SYNCHRONIZED": "SYNC",
               "VALUES": "VALUE"}.get(w, w)
        if key in seen and key in ("PIC", "OCCURS", "REDEFINES", "VALUE", "USAGE"):
            raise cur.error(f"{w} written twice", tok)
        seen.add(key)
        if w in ("PIC", "PICTURE"):
            cur.skip("IS")
            item.picture = cur.take("a picture string").text.upper()
        elif w == "USAGE" or w in _USAGES:
            if w == "USAGE":
                cur.skip("IS")
                u = cur.take("a usage")
                if u.upper not in _USAGES:
                    raise cur.error(f"unknown USAGE {u.text}", u)
                w = u.upper
            item.usage = _USAGES[w]
            item.usage_set = True
            if w == "NATIONAL" and cur.peek() == "DISPLAY":
                cur.i += 1
        elif w == "IS":
            continue  # IS GLOBAL / IS EXTERNAL / IS TYPEDEF
        elif w == "REDEFINES":
            if item.level in (66, 88):
                raise cur.error("REDEFINES on a level 66/88 entry", tok)
            item.redefines = cur.take("the redefined name").upper
        elif w == "OCCURS":
            lo = cur.take("a count")
            n = _count(lo, cur, limit) if lo.upper != "UNBOUNDED" else limit
            if cur.skip("TO"):
                hi = cur.take("a maximum count")
                item.occurs_min, item.occurs = n, (
                    _count(hi, cur, limit) if hi.upper != "UNBOUNDED" else limit)
                if item.occurs < item.occurs_min:
                    raise cur.error(f"OCCURS {n} TO {item.occurs}: maximum under the minimum",
                                    hi)
            else:
                item.occurs_min = item.occurs = n
            item.has_occurs = True
            cur.skip("TIMES")
            if cur.skip("DEPENDING"):
                cur.skip("ON")
                item.depending = cur.qualified("the DEPENDING ON counter")
            elif item.occurs_min != item.occurs:
                raise cur.error("OCCURS n TO m without DEPENDING ON", tok)
            keys: list[tuple[str, str]] = []
            indexes: list[str] = []
            while cur.peek() in ("ASCENDING", "DESCENDING", "INDEXED"):
                order = cur.take("KEY").upper
                if order == "INDEXED":
                    cur.skip("BY")
                    while cur.more() and cur.peek() not in _CLAUSE_WORDS:
                        indexes.append(cur.take("an index name").upper)
                    continue
                cur.skip("KEY")
                cur.skip("IS")
                while cur.more() and cur.peek() not in _CLAUSE_WORDS:
                    qual = cur.qualified("a key name")
                    keys.append((order, qual[0]))
            item.keys, item.indexes = tuple(keys), tuple(indexes)
            if not indexes and not item.keys and cur.peek() == "INDEXED":
                pass
        elif w in ("VALUE", "VALUES"):
            cur.skip("IS", "ARE")
            vals = _values(cur)
            item.value = vals[0][0]
        elif w in ("SIGN", "LEADING", "TRAILING"):
            if w == "SIGN":
                cur.skip("IS")
                w = cur.take("LEADING or TRAILING").upper
            if w not in ("LEADING", "TRAILING"):
                raise cur.error(f"SIGN {w}: LEADING or TRAILING expected", tok)
            item.sign_position = w.lower()
            if cur.skip("SEPARATE"):
                item.sign_separate = True
                cur.skip("CHARACTER")
        elif w == "SYNC" or w == "SYNCHRONIZED":
            item.sync = True
            cur.skip("LEFT", "RIGHT")
        elif w in ("JUST", "JUSTIFIED"):
            item.justified = True
            cur.skip("RIGHT")
        elif w == "BLANK":
            cur.skip("WHEN")
            if not cur.skip("ZERO", "ZEROS", "ZEROES"):
                raise cur.error("BLANK WHEN ZERO expected", tok)
            item.blank_when_zero = True
        elif w == "EXTERNAL":
            item.external = True
        elif w == "GLOBAL":
            item.global_ = True
        elif w in ("VOLATILE", "DYNAMIC", "TYPEDEF"):
            continue
        elif w == "GROUP-USAGE":
            cur.skip("IS")
            g = cur.take("NATIONAL").upper
            if g != "NATIONAL":
                raise cur.error(f"GROUP-USAGE {g}: only NATIONAL exists", tok)
            item.usage, item.usage_set = "national", True
        elif w == "DATE":
            cur.skip("FORMAT")
            cur.skip("IS")
            cur.take("a date pattern")
        else:
            raise cur.error(f"unknown clause {tok.text!r}", tok)
    if item.level == 77 and item.has_occurs:
        raise cur.error("OCCURS on a level-77 item", first)
    if item.level in (1, 77) and item.has_occurs:
        raise cur.error("OCCURS on an 01 level (IBM allows it only from level 02)", first)
    return item


def parse_items(text: str | bytes, source: str = "<copybook>", *, fmt: str = "fixed",
                resolve: Resolver | None = None, limit: int = DEFAULT_LIMIT) -> list[Item]:
    """The records of a copybook as item trees.

    Each 01 (or 77) entry is a record.  Entries that come before any 01 level with a higher
    level number (a copybook that is a fragment: ``05 A ...``) become the children of one
    implicit record named ``source``'s stem with level 0, so a fragment at any level reads.
    Level-66 entries hang off their record (``Item.children`` with level 66, after the data);
    level-88 entries become :class:`Condition` s on the item before them.
    """
    body = decode_source(text, source)
    records: list[Item] = []
    stack: list[Item] = []
    last: Item | None = None
    for tokens in split_entries(body, source, fmt=fmt, resolve=resolve):
        entry = _entry(tokens, limit)
        if isinstance(entry, Condition):
            if last is None:
                raise LayoutError(f"{entry.name}: level-88 entry before any data item",
                                  source=source, line=entry.line)
            last.conditions.append(entry)
            continue
        item = entry
        if item.level == 66:
            if not records:
                raise LayoutError(f"{item.name}: level 66 before any record", source=source,
                                  line=item.line)
            item.parent = records[-1]
            records[-1].children.append(item)
            last = None
            continue
        if item.level in (1, 77):
            stack = [item]
            records.append(item)
            last = item
            continue
        while stack and stack[-1].level >= item.level:
            stack.pop()
        if not stack:
            # a fragment: the first entry (or one that drops below every open level)
            if records and records[-1].level == 0 and records[-1].children:
                root = records[-1]
            else:
                stem = re.split(r"[\\/]", source)[-1].split(".")[0].upper() or "RECORD"
                root = Item(level=0, name=stem, line=item.line, source=source)
                records.append(root)
            stack = [root]
        parent = stack[-1]
        if parent.picture is not None or (parent.usage in _NO_PIC_USAGES and parent.usage_set):
            raise LayoutError(f"{parent.name} has a PIC and cannot contain {item.name}",
                              source=source, line=item.line)
        # USAGE, SYNC and SIGN of a group apply to the items inside it
        if parent.sync:
            item.sync = True
        if not item.usage_set and parent.usage != "display":
            item.usage = parent.usage
        if (item.sign_position is None and parent.sign_position is not None
                and item.usage == "display" and (item.picture or "").startswith("S")):
            # a group's SIGN clause applies to the signed numeric DISPLAY items in it
            item.sign_position, item.sign_separate = parent.sign_position, parent.sign_separate
        item.parent = parent
        parent.children.append(item)
        stack.append(item)
        last = item
    if not records:
        raise LayoutError("no data description entry found (is this a copybook?)",
                          source=source)
    for rec in records:
        _check(rec)
    return records


def _check(item: Item) -> None:
    data = [c for c in item.children if c.level != 66]
    if item.level == 66:
        return
    if item.picture is None and not data and item.usage not in _NO_PIC_USAGES:
        raise LayoutError(f"{item.name}: no PIC and no subordinate items", source=item.source,
                          line=item.line)
    if item.picture is not None and item.usage in _NO_PIC_USAGES:
        raise LayoutError(f"{item.name}: USAGE {item.usage.upper()} takes no PICTURE",
                          source=item.source, line=item.line)
    for child in data:
        _check(child)

"""COBOL copybook text -> a tree of data items (level numbers, PIC, USAGE, OCCURS).

Agencies hand us their copybooks as they are, so the reader is forgiving about *form*
(sequence numbers in columns 1-6, ``*`` comments in column 7 or anywhere on free-form lines,
columns 73-80, 88-level VALUEs, clauses spread over lines) and strict about *meaning*: anything
that would change the byte layout and that we do not implement (REDEFINES, OCCURS DEPENDING ON,
SYNCHRONIZED, SIGN SEPARATE, edited pictures, floating point) is a LayoutError naming the
copybook and the line, because a silently wrong offset corrupts every field after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from clets.errors import LayoutError

__all__ = ["Item", "parse_items"]


@dataclass(slots=True)
class Item:
    """One data description entry: a group (``children``) or an elementary item (``kind``)."""

    level: int
    name: str  # "FILLER" when unnamed
    line: int
    picture: str | None = None
    usage: str = "display"  # display | packed | binary
    kind: str | None = None  # text | zoned | packed | binary (elementary only)
    digits: int = 0
    scale: int = 0
    signed: bool = False
    length: int = 0  # bytes of one occurrence (elementary only)
    occurs: int = 1
    children: list[Item] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return self.picture is None

    @property
    def filler(self) -> bool:
        return self.name == "FILLER"


_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\S+")
_SEQ_DIGITS = re.compile(r"\d{6}")
_USAGES = {
    "DISPLAY": "display",
    "COMP-3": "packed", "COMPUTATIONAL-3": "packed", "PACKED-DECIMAL": "packed",
    "COMP": "binary", "COMPUTATIONAL": "binary", "COMP-4": "binary",
    "COMPUTATIONAL-4": "binary", "BINARY": "binary", "COMP-5": "binary",
    "COMPUTATIONAL-5": "binary",
}
_FLOATS = {"COMP-1", "COMP-2", "COMPUTATIONAL-1", "COMPUTATIONAL-2"}
_KEYWORDS = (set(_USAGES) | _FLOATS | {
    "PIC", "PICTURE", "USAGE", "OCCURS", "REDEFINES", "VALUE", "VALUES", "SIGN", "JUST",
    "JUSTIFIED", "SYNC", "SYNCHRONIZED", "BLANK", "GLOBAL", "EXTERNAL", "RENAMES", "INDEXED",
    "ASCENDING", "DESCENDING", "LEADING", "TRAILING"})


def _code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, code text) with comments and the sequence/indicator areas removed."""
    lines = text.splitlines()
    body = [ln.rstrip() for ln in lines]
    # Fixed form when every non-blank line has a blank or 6-digit sequence area and a known
    # indicator in column 7; columns 73-80 are cut only when sequence numbers are present.
    nonblank = [ln for ln in body if ln.strip()]
    fixed = bool(nonblank) and all(
        (ln[:6] == "      " or _SEQ_DIGITS.fullmatch(ln[:6]) is not None)
        and (len(ln) < 7 or ln[6] in " */-Dd")
        for ln in nonblank)
    numbered = fixed and any(_SEQ_DIGITS.fullmatch(ln[:6]) for ln in nonblank)
    out: list[tuple[int, str]] = []
    for number, ln in enumerate(body, 1):
        if not ln.strip():
            continue
        if fixed:
            if len(ln) > 6 and ln[6] in "*/":
                continue
            code = ln[7:72] if numbered else ln[7:]
        else:
            code = ln
        if code.lstrip().startswith("*"):
            continue
        if "*>" in code:  # free-form inline comment
            code = code[: code.index("*>")]
        if code.strip():
            out.append((number, code))
    return out


def _statements(text: str) -> list[list[tuple[str, int]]]:
    """Tokens grouped into period-terminated entries; each token keeps its line number."""
    statements: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    for number, code in _code_lines(text):
        for tok in _TOKEN.findall(code):
            end = False
            if tok == ".":
                end = True
                tok = ""
            elif tok.endswith(".") and tok[0] not in "'\"":
                end, tok = True, tok[:-1]
            elif tok.endswith(",") or tok.endswith(";"):
                tok = tok[:-1]
            if tok:
                current.append((tok, number))
            if end and current:
                statements.append(current)
                current = []
    if current:
        statements.append(current)
    return statements


_PIC_SYMBOL = re.compile(r"([^(])(?:\((\d+)\))?")
#: a PIC's repeat count, at most; 9 digits (larger counts could not be a record on any link)
_MAX_REPEAT = 999_999_999


def _picture(pic: str, source: str, line: int) -> tuple[str, int, int, bool]:
    """(class text|numeric, size or digits, scale, signed) of a PIC string.

    ``X(n)`` is counted, not expanded: a copybook line ``PIC X(999999999)`` must cost its
    length to read, not a gigabyte of memory."""
    runs: list[tuple[str, int]] = []  # (symbol, count), neighbours with the same symbol merged
    upper = pic.upper()
    pos = 0
    while pos < len(upper):
        m = _PIC_SYMBOL.match(upper, pos)
        if m is None:  # a "(" with no symbol before it
            runs.append(("(", 1))
            break
        count = 1
        if m.group(2) is not None:
            if len(m.group(2)) > 9 or int(m.group(2)) > _MAX_REPEAT:
                raise LayoutError(f"PIC {pic}: repeat count larger than {_MAX_REPEAT}",
                                  source=source, line=line)
            count = int(m.group(2))
        if count:
            if runs and runs[-1][0] == m.group(1):
                runs[-1] = (m.group(1), runs[-1][1] + count)
            else:
                runs.append((m.group(1), count))
        pos = m.end()
    shape = "".join(sym for sym, _ in runs)
    size = {sym: 0 for sym in shape}
    for sym, count in runs:
        size[sym] += count
    if re.fullmatch(r"[XA9]+", shape) and re.search("[XA]", shape):
        return "text", sum(size.values()), 0, False
    m = re.fullmatch(r"(S?)(9?)(?:V(9?))?", shape)
    if (m is None or not (m.group(2) or m.group(3)) or size.get("S", 0) > 1
            or size.get("V", 0) > 1):
        if "P" in shape:
            raise LayoutError(f"PIC {pic}: scaling position P is not supported", source=source,
                              line=line)
        raise LayoutError(f"PIC {pic}: edited or unknown picture is not supported "
                          "(use X, 9, S and V)", source=source, line=line)
    digits = sum(count for sym, count in runs if sym == "9")
    if digits > 31:
        raise LayoutError(f"PIC {pic}: more than 31 digits", source=source, line=line)
    scale = runs[-1][1] if m.group(3) else 0
    return "numeric", digits, scale, bool(m.group(1))


def _binary_size(digits: int, source: str, line: int) -> int:
    if digits <= 4:
        return 2
    if digits <= 9:
        return 4
    if digits <= 18:
        return 8
    raise LayoutError(f"COMP/BINARY with {digits} digits (at most 18)", source=source, line=line)


def _entry(tokens: list[tuple[str, int]], source: str, group_usage: str) -> Item | None:
    """One data description entry; None for 88-level condition names."""
    first, line = tokens[0]
    if not first.isdigit():
        raise LayoutError(f"expected a level number, found {first!r}", source=source, line=line)
    level = int(first)
    if level == 88:
        return None
    if level == 66:
        raise LayoutError("level 66 (RENAMES) not supported", source=source, line=line)
    if level == 77 or not 1 <= level <= 49:
        raise LayoutError(f"level {level:02d} not supported (use 01-49 and 88)", source=source,
                          line=line)
    i = 1
    name = "FILLER"
    if i < len(tokens) and tokens[i][0].upper() not in _KEYWORDS:
        name = tokens[i][0].upper()
        i += 1
    item = Item(level=level, name=name, line=line, usage=group_usage)

    def need(what: str) -> tuple[str, int]:
        if i >= len(tokens):
            raise LayoutError(f"{name}: {what} expected after {tokens[i - 1][0]}", source=source,
                              line=tokens[i - 1][1])
        return tokens[i]

    while i < len(tokens):
        word, wline = tokens[i][0].upper(), tokens[i][1]
        i += 1
        if word in ("PIC", "PICTURE"):
            if need("a picture")[0].upper() == "IS":
                i += 1
            item.picture = need("a picture")[0].upper()
            i += 1
        elif word == "USAGE":
            if need("a usage")[0].upper() == "IS":
                i += 1
            usage = need("a usage")[0].upper()
            i += 1
            if usage in _FLOATS:
                raise LayoutError(f"{name}: {usage} (floating point) not supported",
                                  source=source, line=wline)
            if usage not in _USAGES:
                raise LayoutError(f"{name}: unknown USAGE {usage}", source=source, line=wline)
            item.usage = _USAGES[usage]
        elif word in _USAGES:
            item.usage = _USAGES[word]
        elif word in _FLOATS:
            raise LayoutError(f"{name}: {word} (floating point) not supported", source=source,
                              line=wline)
        elif word == "REDEFINES":
            raise LayoutError(f"{name}: REDEFINES not supported yet", source=source, line=wline)
        elif word == "RENAMES":
            raise LayoutError(f"{name}: RENAMES not supported", source=source, line=wline)
        elif word == "OCCURS":
            count = need("a count")[0]
            i += 1
            rest = [t[0].upper() for t in tokens[i:]]
            if "DEPENDING" in rest or (rest and rest[0] == "TO"):
                raise LayoutError(f"{name}: OCCURS DEPENDING ON (variable length) not supported "
                                  "yet", source=source, line=wline)
            if not count.isdigit() or int(count) < 1:
                raise LayoutError(f"{name}: OCCURS count {count!r} is not a positive number",
                                  source=source, line=wline)
            item.occurs = int(count)
            if i < len(tokens) and tokens[i][0].upper() == "TIMES":
                i += 1
            # INDEXED BY / ASCENDING KEY name lists do not change the layout: skip them
            while i < len(tokens) and tokens[i][0].upper() in (
                    "INDEXED", "BY", "ASCENDING", "DESCENDING", "KEY", "IS"):
                i += 1
                while (i < len(tokens) and tokens[i][0].upper() not in _KEYWORDS
                       and tokens[i][0].upper() not in ("BY", "KEY", "IS")):
                    i += 1
        elif word in ("VALUE", "VALUES"):
            if i < len(tokens) and tokens[i][0].upper() in ("IS", "ARE"):
                i += 1
            i += 1  # the literal (ignored)
            while i < len(tokens) and tokens[i][0].upper() in ("THRU", "THROUGH"):
                i += 2
        elif word == "SIGN":
            words = [t[0].upper() for t in tokens[i:i + 3]]
            if "SEPARATE" in words or "LEADING" in words:
                raise LayoutError(f"{name}: SIGN LEADING/SEPARATE not supported (only the "
                                  "default trailing embedded sign)", source=source, line=wline)
            while i < len(tokens) and tokens[i][0].upper() in ("IS", "TRAILING"):
                i += 1
        elif word in ("SYNC", "SYNCHRONIZED"):
            raise LayoutError(f"{name}: SYNCHRONIZED (slack bytes) not supported",
                              source=source, line=wline)
        elif word in ("JUST", "JUSTIFIED", "GLOBAL", "EXTERNAL"):
            if i < len(tokens) and tokens[i][0].upper() == "RIGHT":
                i += 1
        elif word == "BLANK":
            while i < len(tokens) and tokens[i][0].upper() in ("WHEN", "ZERO", "ZEROS",
                                                                 "ZEROES"):
                i += 1
        else:
            raise LayoutError(f"{name}: unknown clause {tokens[i - 1][0]!r}", source=source,
                              line=wline)
    if item.picture is not None:
        cls, size, scale, signed = _picture(item.picture, source, line)
        if cls == "text":
            if item.usage != "display":
                raise LayoutError(f"{name}: PIC {item.picture} cannot be COMP/COMP-3",
                                  source=source, line=line)
            item.kind, item.length = "text", size
        else:
            item.digits, item.scale, item.signed = size, scale, signed
            if item.usage == "packed":
                item.kind, item.length = "packed", size // 2 + 1
            elif item.usage == "binary":
                item.kind, item.length = "binary", _binary_size(size, source, line)
            else:
                item.kind, item.length = "zoned", size
    return item


def parse_items(text: str, source: str = "<copybook>") -> list[Item]:
    """Every 01-level record in a copybook, as a tree of items."""
    records: list[Item] = []
    stack: list[Item] = []
    for tokens in _statements(text):
        parent_usage = "display"
        first = tokens[0][0]
        if first.isdigit() and int(first) not in (88, 66, 77):
            level = int(first)
            while stack and stack[-1].level >= level:
                stack.pop()
            if stack:
                parent_usage = stack[-1].usage
        item = _entry(tokens, source, parent_usage)
        if item is None:
            if not stack:
                raise LayoutError("88-level entry before any data item", source=source,
                                  line=tokens[0][1])
            continue
        if not stack:
            if item.level != 1:
                raise LayoutError(f"{item.name}: the first entry of a record must be level 01",
                                  source=source, line=item.line)
            records.append(item)
        else:
            parent = stack[-1]
            if not parent.is_group:
                raise LayoutError(f"{parent.name} has a PIC and cannot contain {item.name}",
                                  source=source, line=item.line)
            parent.children.append(item)
        stack.append(item)
    if not records:
        raise LayoutError("no 01-level record found", source=source)
    for rec in records:
        _check_groups(rec, source)
    return records


def _check_groups(item: Item, source: str) -> None:
    if item.is_group:
        if not item.children:
            raise LayoutError(f"{item.name}: no PIC and no subordinate items", source=source,
                              line=item.line)
        for child in item.children:
            _check_groups(child, source)

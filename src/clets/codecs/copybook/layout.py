"""A parsed record layout: every elementary field with its offset, as data and as code.

One :class:`Layout` offers three views of the same copybook:

* ``fields``: the flat list of elementary fields (every OCCURS occurrence expanded) with name,
  offset, length, kind, digits, scale, sign and subscripts -- documentation and tests;
* ``construct``: a nested ``construct.Struct`` (groups -> Struct, OCCURS -> Array) built from
  the custom field types of fields.py; ``sizeof()``, ``parse``, ``build`` and ``.compile()``
  all work, for users who want construct;
* ``decode_fields`` / ``encode_fields``: functions *generated* from the same field list
  (constant-offset slices of one decoded string; tech.md §1 measures this 2.5-3x faster than
  compiled construct).  The message codec (mapping.py) generates its code from the same
  per-field emitters below, so all paths share one set of rules.

Flat keys are the COBOL names, with 1-based subscripts for occurrences: ``AMOUNT(2)``,
``LINE-ITEM(1,3)``.  FILLER is laid out but never appears in a dict.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from construct import Array, Construct, Struct

from clets.errors import DecodeError, EncodeError, LayoutError

from . import fields as F
from .parser import DEFAULT_LIMIT, Item, parse_items
from .source import Resolver

__all__ = ["Field", "Layout", "parse_copybook"]

_GENERIC = "(the generic decoder reads it: `clets copybook decode`, clets.codecs.copybook.tree)"


@dataclass(frozen=True, slots=True)
class _Flat:
    """What a fixed, mapped record needs of an elementary item."""

    kind: str  # text | zoned | packed | binary
    digits: int
    scale: int
    signed: bool
    length: int


def _binary_size(digits: int, item: Item) -> int:
    if digits <= 4:
        return 2
    if digits <= 9:
        return 4
    if digits <= 18:
        return 8
    raise LayoutError(f"COMP/BINARY with {digits} digits (at most 18)", source=item.source,
                      line=item.line)


def _flat(item: Item, limit: int) -> _Flat:
    """The mapped-record view of an elementary item: the four storage kinds of fields.py.

    Mapped records (the dmv-* codecs) are fixed layouts of text, zoned, packed and binary
    fields; anything else is refused here with the line, and read by the generic decoder.
    """
    src, line, name = item.source, item.line, item.name
    if item.sync:
        raise LayoutError(f"{name}: SYNCHRONIZED (slack bytes) not supported in a mapped record "
                          + _GENERIC, source=src, line=line)
    if item.sign_separate or item.sign_position == "leading":
        raise LayoutError(f"{name}: SIGN LEADING/SEPARATE not supported in a mapped record "
                          + _GENERIC, source=src, line=line)
    if item.usage in ("comp-1", "comp-2"):
        raise LayoutError(f"{name}: {item.usage.upper()} (floating point) not supported in a "
                          "mapped record " + _GENERIC, source=src, line=line)
    if item.usage not in ("display", "binary", "packed", "comp-5"):
        raise LayoutError(f"{name}: USAGE {item.usage.upper()} not supported in a mapped record "
                          + _GENERIC, source=src, line=line)
    pic = item.picture or ""
    # a count is compared by its digits first: int() refuses 5000 digits (ValueError), and a
    # count is never expanded into a string (PIC X(900000000) would be 900 MB)
    counts = re.findall(r"\((\d+)\)", pic)
    if any(len(n.lstrip("0")) > len(str(limit)) or int(n) > limit for n in counts):
        shown = pic if len(pic) <= 40 else pic[:37] + "..."
        raise LayoutError(f"PIC {shown}: a repeat count over the record limit of {limit} bytes",
                          source=src, line=line)
    if any(not n.strip("0") for n in counts):
        raise LayoutError(f"PIC {pic}: a repeat count must be at least 1", source=src, line=line)
    upper = pic.upper()
    runs = _PIC_RUN.findall(upper)
    if "".join(s + (f"({n})" if n else "") for s, n in runs) != upper:
        runs = []  # not made of symbols and counts: refused as unknown below
    if runs and {s for s, _ in runs} <= set("XA9") and {s for s, _ in runs} & set("XA"):
        if item.usage != "display":
            raise LayoutError(f"{name}: PIC {pic} cannot be COMP/COMP-3", source=src, line=line)
        return _Flat("text", 0, 0, False, sum(int(n or 1) for _, n in runs))
    positions = sum(int(n or 1) for _, n in runs) if runs else len(upper)
    if positions > _MAX_NUMERIC_POSITIONS:
        raise LayoutError(f"PIC {pic}: {positions} positions, more than a mapped numeric field "
                          "holds (at most 31 digits) " + _GENERIC, source=src, line=line)
    text = _PIC_REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), upper)
    m = re.fullmatch(r"(S?)(9*)(?:V(9*))?", text)
    if m is None or not (m.group(2) or m.group(3)):
        if "P" in text:
            raise LayoutError(f"PIC {pic}: scaling position P not supported in a mapped record "
                              + _GENERIC, source=src, line=line)
        raise LayoutError(f"PIC {pic}: edited or unknown picture not supported in a mapped "
                          "record (use X, 9, S and V) " + _GENERIC, source=src, line=line)
    digits = len(m.group(2)) + len(m.group(3) or "")
    if digits > 31:
        raise LayoutError(f"PIC {pic}: more than 31 digits in a mapped record " + _GENERIC,
                          source=src, line=line)
    scale, signed = len(m.group(3) or ""), bool(m.group(1))
    if item.usage == "packed":
        return _Flat("packed", digits, scale, signed, digits // 2 + 1)
    if item.usage in ("binary", "comp-5"):
        return _Flat("binary", digits, scale, signed, _binary_size(digits, item))
    return _Flat("zoned", digits, scale, signed, digits)


_PIC_REPEAT = re.compile(r"([X9AVSP])\((\d+)\)")
_PIC_RUN = re.compile(r"([A-Z0-9$*+\-,./])(?:\((\d+)\))?")
#: S, V, 31 digits and P scaling: a longer numeric picture is refused before it is expanded
_MAX_NUMERIC_POSITIONS = 128


def _check_fixed(item: Item, limit: int, info: dict[int, _Flat]) -> int:
    """Size of the item, all occurrences; every elementary item's _Flat into ``info``."""
    if item.redefines is not None:
        raise LayoutError(f"{item.name}: REDEFINES not supported in a mapped record " + _GENERIC,
                          source=item.source, line=item.line)
    if item.depending is not None:
        raise LayoutError(f"{item.name}: OCCURS DEPENDING ON (variable length) not supported in "
                          "a mapped record " + _GENERIC, source=item.source, line=item.line)
    if item.is_group:
        size = sum(_check_fixed(c, limit, info) for c in item.children if c.level != 66)
    else:
        flat = _flat(item, limit)
        info[id(item)] = flat
        size = flat.length
    if size * item.occurs > limit:
        raise LayoutError(f"{item.name}: {size * item.occurs} bytes, over the record limit of "
                          f"{limit}", source=item.source, line=item.line)
    return size * item.occurs


@dataclass(frozen=True, slots=True)
class Field:
    """One elementary field occurrence."""

    name: str  # COBOL name, FILLER for fillers
    key: str  # flat key: NAME or NAME(i,j); "" for FILLER
    offset: int
    length: int
    kind: str  # text | zoned | packed | binary
    digits: int
    scale: int
    signed: bool
    occurs: tuple[int, ...]  # 1-based subscripts of this occurrence (empty if none)
    groups: tuple[str, ...]  # enclosing group names, outermost first (not the 01 level)
    cpath: tuple[str | int, ...]  # keys/indices into the construct Container
    line: int
    picture: str

    @property
    def filler(self) -> bool:
        return self.name == "FILLER"

    @property
    def numeric(self) -> bool:
        return self.kind != "text"


def _data(items: list[Item]) -> list[Item]:
    return [c for c in items if c.level != 66]


def _count(item: Item) -> int:
    """Elementary field occurrences under ``item`` (what ``Layout.fields`` would hold)."""
    one = 1 if not item.is_group else sum(_count(c) for c in _data(item.children))
    return one * item.occurs


def _cname(item: Item, position: int) -> str:
    """The item's key in the construct containers.  A FILLER group needs one too, since the
    items in it may have names; ``FILLER <position>`` (a space: no COBOL name has one) keeps two
    of them under one parent apart."""
    return f"FILLER {position}" if item.filler and item.is_group else item.name


#: Most elementary field occurrences (OCCURS expanded) in one record.  Checked before the
#: fields are laid out, because nested OCCURS multiply: three lines with ``OCCURS 80`` would
#: otherwise lay out 512,000 fields -- seconds of work for 66 bytes of copybook.
MAX_FIELDS = 10_000


class Layout:
    """The layout of one 01-level record in one code page."""

    def __init__(self, record: Item, encoding: str = "cp037", source: str = "<copybook>",
                 limit: int = DEFAULT_LIMIT) -> None:
        self.name = record.name
        self.source = source
        self.encoding = F.check_encoding(encoding)
        self.record = record
        self.fields: list[Field] = []
        top = _data(record.children) if record.is_group else [record]
        self._info: dict[int, _Flat] = {}
        self.length = sum(_check_fixed(c, limit, self._info) for c in top)
        if self.length > limit:
            raise LayoutError(f"{record.name}: {self.length} bytes, over the record limit of "
                              f"{limit}", source=source, line=record.line)
        count = sum(_count(c) for c in top)
        if count > MAX_FIELDS:
            raise LayoutError(f"{record.name}: {count} elementary fields with OCCURS expanded, "
                              f"more than {MAX_FIELDS}", source=source, line=record.line)
        self._check_siblings(top, record.name, source)
        self._walk(top, 0, (), (), (), source)
        keys: dict[str, Field] = {}
        for f in self.fields:
            if f.filler:
                continue
            if f.key in keys:
                raise LayoutError(f"duplicate field name {f.name} (first at line "
                                  f"{keys[f.key].line}); qualified names are not supported",
                                  source=source, line=f.line)
            keys[f.key] = f
        self.by_key = keys
        self.construct: Construct = Struct(*[self._construct(c, i) for i, c in enumerate(top)])
        self._decode: Callable[[bytes], dict[str, Any]] | None = None
        self._encode: Callable[[dict[str, Any]], bytes] | None = None

    # ------------------------------------------------------------------ structure

    def _walk(self, items: list[Item], offset: int, subs: tuple[int, ...],
              groups: tuple[str, ...], cpath: tuple[str | int, ...], source: str) -> int:
        for position, item in enumerate(items):
            indexes: list[tuple[int, ...]] = (
                [(*subs, k) for k in range(1, item.occurs + 1)] if item.occurs > 1 else [subs])
            for n, idx in enumerate(indexes):
                here: tuple[str | int, ...] = (*cpath, _cname(item, position))
                if item.occurs > 1:
                    here += (n,)
                if item.is_group:
                    offset = self._walk(_data(item.children), offset, idx,
                                        (*groups, item.name), here, source)
                    continue
                info = self._info[id(item)]
                key = "" if item.filler else (
                    f"{item.name}({','.join(map(str, idx))})" if idx else item.name)
                self.fields.append(Field(
                    name=item.name, key=key, offset=offset, length=info.length,
                    kind=info.kind, digits=info.digits, scale=info.scale, signed=info.signed,
                    occurs=idx, groups=groups, cpath=here, line=item.line,
                    picture=item.picture or ""))
                offset += info.length
        return offset

    @staticmethod
    def _check_siblings(items: list[Item], parent: str, source: str) -> None:
        """Two groups of one name under one parent: the construct layout keys its containers
        by name, so the second would hide the first (a KeyError on every parse).  Elementary
        items of one name are the duplicate field keys refused in ``__init__``."""
        seen: dict[str, Item] = {}
        for item in items:
            if item.is_group:
                Layout._check_siblings(_data(item.children), item.name, source)
            if item.filler:
                continue
            if item.name in seen:
                raise LayoutError(f"duplicate name {item.name} in {parent} (first at line "
                                  f"{seen[item.name].line}); qualified names are not supported",
                                  source=source, line=item.line)
            seen[item.name] = item

    def _construct(self, item: Item, position: int) -> Construct:
        sub: Construct
        if item.is_group:
            sub = Struct(*[self._construct(c, i) for i, c in enumerate(_data(item.children))])
        else:
            i = self._info[id(item)]
            if i.kind == "text":
                sub = F.TextField(i.length, self.encoding, item.name)
            elif i.kind == "zoned":
                sub = F.ZonedField(i.digits, i.signed, i.scale, item.name)
            elif i.kind == "packed":
                sub = F.PackedField(i.digits, i.signed, i.scale, item.name)
            else:
                sub = F.BinaryField(i.length, i.digits, i.signed, i.scale, item.name)
            if item.filler:
                # skipped whatever it holds, built blank: what the generated code does
                sub = F.FillerField(sub)
        if item.occurs > 1:
            sub = Array(item.occurs, sub)
        return sub if item.filler and not item.is_group else _cname(item, position) / sub

    # ------------------------------------------------------------------ construct path

    def check_length(self, data: bytes) -> None:
        """Compiled construct parsers do not notice short reads (tech.md §1): check first."""
        if len(data) != self.length:
            raise DecodeError(f"record {self.name} is {self.length} bytes, got {len(data)}",
                              offset=min(len(data), self.length), data=data)

    def parse_construct(self, data: bytes, compiled: Construct | None = None) -> dict[str, Any]:
        """Flat field dict through the construct layout (``compiled``: a ``.compile()`` of it)."""
        self.check_length(data)
        return self.to_flat((compiled or self.construct).parse(data))

    def build_construct(self, values: dict[str, Any], compiled: Construct | None = None) -> bytes:
        data: bytes = (compiled or self.construct).build(self.from_flat(values))
        return data

    def to_flat(self, container: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.filler:
                continue
            value = container
            for step in f.cpath:
                value = value[step]
            out[f.key] = value
        return out

    def from_flat(self, values: dict[str, Any]) -> dict[str, Any]:
        """Nested dicts/lists for ``construct.build`` (absent keys build as blank fields)."""
        root: dict[str, Any] = {}
        for f in self.fields:
            if f.filler:
                continue
            node: Any = root
            for step, nxt in zip(f.cpath, f.cpath[1:], strict=False):
                if isinstance(step, int):
                    while len(node) <= step:
                        node.append({} if not isinstance(nxt, int) else [])
                    node = node[step]
                else:
                    if step not in node:
                        node[step] = [] if isinstance(nxt, int) else {}
                    node = node[step]
            last = f.cpath[-1]
            if isinstance(last, int):
                while len(node) <= last:
                    node.append(None)
                node[last] = values.get(f.key)
            else:
                node[last] = values.get(f.key)
        return root

    # ------------------------------------------------------------------ generated path

    def decode_fields(self, data: bytes) -> dict[str, Any]:
        """Flat field dict through the generated decoder (same values as the construct path)."""
        if self._decode is None:
            self._decode, self._encode = _generate_flat(self)
        return self._decode(data)

    def encode_fields(self, values: dict[str, Any]) -> bytes:
        if self._encode is None:
            self._decode, self._encode = _generate_flat(self)
        return self._encode(values)

    def describe(self) -> str:
        """A table of the fields (for docs and `clets` diagnostics)."""
        rows = [f"{self.name}: {self.length} bytes, {self.encoding}"]
        for f in self.fields:
            where = "/".join(f.groups)
            rows.append(f"  {f.offset:5d} {f.length:4d}  {f.kind:6s} {f.key or 'FILLER':24s} "
                        f"PIC {f.picture:12s} {where}")
        return "\n".join(rows)


def parse_copybook(text: str | bytes, *, encoding: str = "cp037", source: str = "<copybook>",
                   record: str | None = None, fmt: str = "fixed",
                   resolve: Resolver | None = None, limit: int = DEFAULT_LIMIT) -> Layout:
    """A fixed, mapped Layout from copybook text (``record`` picks one 01 level when there
    are several; ``fmt`` is the source format, fixed or free)."""
    records = parse_items(text, source, fmt=fmt, resolve=resolve, limit=limit)
    if record is None:
        if len(records) > 1:
            raise LayoutError(f"several 01 records ({', '.join(r.name for r in records)}); "
                              "choose one with record=", source=source)
        return Layout(records[0], encoding, source, limit)
    for r in records:
        if r.name == record.upper():
            return Layout(r, encoding, source, limit)
    raise LayoutError(f"no 01 record named {record}", source=source)


# ======================================================================= code generation
#
# Emitters return source lines.  Decoding reads `t` (the whole record decoded once with the
# code page: exact, because the code page maps all 256 bytes one to one) and `buf` (the raw
# bytes, for packed and binary fields).  Encoding builds one str part per field; packed and
# binary bytes are carried through the code page, so the record is encoded once at the end.


class Namespace:
    """Constants and helpers that generated code refers to by name."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.values: dict[str, Any] = {
            "F": F, "DecodeError": DecodeError, "EncodeError": EncodeError, "ENC": encoding,
        }
        self._n = 0

    def add(self, value: Any, hint: str = "k") -> str:
        self._n += 1
        name = f"_{hint}{self._n}"
        self.values[name] = value
        return name


def _zone_table(encoding: str, signed: bool) -> dict[str, tuple[str, str]]:
    """Last character of a zoned field -> (sign, digit) for the inline fast path."""
    table = {}
    zones = {0xF: "", 0xC: ""} if not signed else {0xF: "", 0xC: "", 0xD: "-"}
    for zone, sign in zones.items():
        for d in range(10):
            table[bytes([zone << 4 | d]).decode(encoding)] = (sign, str(d))
    return table


def emit_decode(f: Field, var: str, ns: Namespace) -> list[str]:
    a, b = f.offset, f.offset + f.length
    name = f.key or f.name
    if f.kind == "text":
        low = "\x00" * f.length
        high = bytes([0xFF] * f.length).decode(ns.encoding)
        return [f"{var} = t[{a}:{b}].rstrip(' ')",
                f"if {var} == {low!r} or {var} == {high!r}: {var} = ''"]
    if f.kind == "zoned":
        slow = f"F.decode_zoned(buf[{a}:{b}], {f.signed}, {f.scale}, {name!r}, {a})"
        if f.scale:
            # scaled values are rare and cheap enough through the shared helper
            return [f"{var} = {slow}"]
        if not f.signed:
            return [f"s = t[{a}:{b}]",
                    f"{var} = int(s) if s.isdecimal() else {slow}"]
        zt = ns.add(_zone_table(ns.encoding, True), "zt")
        if f.length == 1:
            return [f"z = {zt}.get(t[{a}])",
                    f"{var} = int(z[0] + z[1]) if z is not None else {slow}"]
        return [f"s = t[{a}:{b - 1}]", f"z = {zt}.get(t[{b - 1}])",
                f"{var} = int(z[0] + s + z[1]) if z is not None and s.isdecimal() else {slow}"]
    if f.kind == "packed":
        slow = (f"F.decode_packed(buf[{a}:{b}], {f.digits}, {f.signed}, {f.scale}, {name!r}, "
                f"{a})")
        signs = {"c": "", "a": "", "e": "", "f": ""}
        if f.signed:
            signs.update({"d": "-", "b": "-"})
        st = ns.add(signs, "ps")
        cond = "sg is not None and s.isdecimal()"
        if f.digits % 2 == 0:  # even digits: the first nibble is padding and must be 0
            cond += " and s[0] == '0'"
        value = "int(sg + s)" if not f.scale else f"F.scaled(int(sg + s), {f.scale})"
        return [f"h = buf[{a}:{b}].hex()", "s = h[:-1]", f"sg = {st}.get(h[-1])",
                f"{var} = {value} if {cond} else {slow}"]
    return [f"{var} = F.decode_binary(buf[{a}:{b}], {f.digits}, {f.signed}, {f.scale}, "
            f"{name!r}, {a})"]


def emit_encode(f: Field, wvar: str, pvar: str, ns: Namespace) -> list[str]:
    """Lines that turn field value ``wvar`` (None = blank) into the str part ``pvar``."""
    name = f.key or f.name
    n = f.length
    if f.kind == "text":
        return [f"if {wvar} is None: {pvar} = {' ' * n!r}",
                f"elif {wvar}.__class__ is str and len({wvar}) <= {n}: "
                f"{pvar} = {wvar}.ljust({n})",
                f"else: {pvar} = F.encode_text({wvar}, {n}, ENC, {name!r}, {f.offset})"
                f".decode(ENC)"]
    if f.kind == "zoned" and not f.scale:
        limit = 10**f.digits
        zero = "0" * (n - 1) + (bytes([0xC0]).decode(ns.encoding) if f.signed else "0")
        slow = f"F.encode_zoned({wvar}, {f.digits}, {f.signed}, 0, {name!r}, {f.offset})"
        if not f.signed:
            return [f"if {wvar} is None: {pvar} = {zero!r}",
                    f"elif {wvar}.__class__ is int and 0 <= {wvar} < {limit}: "
                    f"{pvar} = f'{{{wvar}:0{n}d}}'",
                    f"else: {pvar} = {slow}.decode(ENC)"]
        pos = ns.add({str(d): bytes([0xC0 | d]).decode(ns.encoding) for d in range(10)}, "zp")
        neg = ns.add({str(d): bytes([0xD0 | d]).decode(ns.encoding) for d in range(10)}, "zn")
        return [f"if {wvar} is None: {pvar} = {zero!r}",
                f"elif {wvar}.__class__ is int and -{limit} < {wvar} < {limit}:",
                f"    s = f'{{abs({wvar}):0{n}d}}'",
                f"    {pvar} = s[:-1] + ({neg} if {wvar} < 0 else {pos})[s[-1]]",
                f"else: {pvar} = {slow}.decode(ENC)"]
    if f.kind == "zoned":
        return [f"{pvar} = F.encode_zoned({wvar}, {f.digits}, {f.signed}, {f.scale}, {name!r}, "
                f"{f.offset}).decode(ENC)"]
    if f.kind == "packed":
        return [f"{pvar} = F.encode_packed({wvar}, {f.digits}, {f.signed}, {f.scale}, "
                f"{name!r}, {f.offset}).decode(ENC)"]
    return [f"{pvar} = F.encode_binary({wvar}, {n}, {f.digits}, {f.signed}, {f.scale}, "
            f"{name!r}, {f.offset}).decode(ENC)"]


def emit_length_check(layout: Layout, ns: Namespace) -> list[str]:
    ns.values["_check_length"] = layout.check_length
    return [f"if len(buf) != {layout.length}: _check_length(buf)"]


def emit_join(layout: Layout, parts: list[str], ns: Namespace) -> list[str]:
    """Join the parts and encode once; an unencodable character is located afterwards."""
    ns.values["_locate"] = _locator(layout)
    return [f"s = ''.join(({', '.join(parts)},))",
            "try: return s.encode(ENC)",
            "except UnicodeEncodeError as e: raise _locate(s, e) from None"]


def _locator(layout: Layout) -> Callable[[str, UnicodeEncodeError], EncodeError]:
    def locate(s: str, exc: UnicodeEncodeError) -> EncodeError:
        for f in layout.fields:
            if f.offset <= exc.start < f.offset + f.length:
                return EncodeError(f"character {s[exc.start]!r} has no byte in "
                                   f"{layout.encoding}", field=f.key or f.name,
                                   offset=exc.start)
        return EncodeError(f"character {s[exc.start]!r} has no byte in {layout.encoding}",
                           offset=exc.start)

    return locate


def filler_part(f: Field, ns: Namespace) -> str:
    """The constant a FILLER encodes to: spaces for text, zero for numbers."""
    if f.kind == "text":
        return repr(" " * f.length)
    raw = {"zoned": F.encode_zoned, "packed": F.encode_packed}.get(f.kind)
    data = (raw(None, f.digits, f.signed, f.scale, "FILLER", f.offset) if raw
            else bytes(f.length))
    return repr(data.decode(ns.encoding))


def compile_source(source: str, ns: Namespace, name: str) -> Callable[..., Any]:
    code = compile(source, f"<clets copybook {name}>", "exec")
    scope = dict(ns.values)
    exec(code, scope)
    fn: Callable[..., Any] = scope[name]
    fn.__source__ = source  # type: ignore[attr-defined]  # for inspection and docs
    return fn


def _generate_flat(layout: Layout) -> tuple[Callable[[bytes], dict[str, Any]],
                                            Callable[[dict[str, Any]], bytes]]:
    ns = Namespace(layout.encoding)
    dec = ["def decode_fields(buf):", *[f"    {x}" for x in emit_length_check(layout, ns)],
           "    t = buf.decode(ENC)"]
    enc = ["def encode_fields(d):"]
    items, parts = [], []
    for i, f in enumerate(layout.fields):
        if f.filler:
            parts.append(filler_part(f, ns))
            continue
        dec += [f"    {x}" for x in emit_decode(f, f"v{i}", ns)]
        items.append(f"{f.key!r}: v{i}")
        enc.append(f"    w = d.get({f.key!r})")
        enc += [f"    {x}" for x in emit_encode(f, "w", f"p{i}", ns)]
        parts.append(f"p{i}")
    dec.append(f"    return {{{', '.join(items)}}}")
    enc += [f"    {x}" for x in emit_join(layout, parts, ns)]
    return (compile_source("\n".join(dec) + "\n", ns, "decode_fields"),
            compile_source("\n".join(enc) + "\n", ns, "encode_fields"))

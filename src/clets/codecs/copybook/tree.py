"""Generic records of any copybook: a layout tree with offsets, and generated decode/encode
between record bytes and nested JSON-ready values (groups -> dicts, OCCURS -> lists).

The mapped Layout of layout.py serves the switch's own records (fixed, flat, mapped to the
canonical model); this module reads *any* copybook an integrator is handed, without a mapping:

* offsets from the field level's lengths (``field_type(...).length``), SYNCHRONIZED slack
  bytes (intra- and inter-occurrence, relative to the record start, as IBM lays them out);
* REDEFINES at every level: every view is decoded (a view whose bytes do not decode in it is
  ``null``), or a :class:`RedefineRule` (data, not code: a discriminator field's value -> the
  view) picks the one view to decode and to encode;
* OCCURS fixed and nested, OCCURS ... DEPENDING ON with the items after the table moving
  with its actual count (variable-length records, as IBM and GnuCOBOL write them);
* several 01 records, chosen by a :class:`RecordRule`; a fragment that starts at any level;
* level 66 RENAMES ... THRU (offset ranges in the layout, text views on request), level 88
  conditions (booleans next to their field on request), duplicate names by qualification.

Decode and encode are Python functions *generated* from the tree (one slice and one
field-type call per field, loops only for OCCURS), because that is the fast path in CPython
(tech.md §1), and they stay linear in the record's size whatever the copybook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clets.errors import DecodeError, EncodeError, LayoutError

from .parser import DEFAULT_LIMIT, Condition, Figurative, Item, parse_items
from .pictures import PictureError, parse_picture
from .source import Resolver
from .usages import (
    BinaryType,
    FieldOptions,
    FieldSpec,
    FieldType,
    PackedType,
    TextType,
    ZonedType,
    field_type,
)

__all__ = ["Copybook", "FieldOptions", "Node", "RecordLayout", "RecordRule", "RedefineRule",
           "load_copybook"]



@dataclass(frozen=True, slots=True)
class RedefineRule:
    """Which view of a REDEFINES area to read: ``field``'s value -> the view's name.

    ``area`` names any item of the area (the redefined one or a redefining one), qualified
    with OF/IN when the name is not unique (``"B OF G"``); ``choices`` maps the discriminator's
    value as text (numbers as written without leading zeros, text without trailing spaces) to
    a view name; the key ``"*"`` is the view for any other value.
    """

    area: str
    field: str
    choices: dict[str, str]


@dataclass(frozen=True, slots=True)
class RecordRule:
    """Which 01 record a data record is: ``field``'s value -> the record's name (``"*"`` for
    any other value)."""

    field: str
    choices: dict[str, str]


@dataclass(eq=False, slots=True)
class Node:
    """One item of a record laid out: offsets are those of the largest record (every
    DEPENDING ON table at its maximum), as layout dumps show them."""

    item: Item
    key: str  # JSON key, unique within the parent ("NAME", "NAME#2" for a repeated name)
    parent: Node | None
    offset: int = 0  # of the first occurrence, from the record start
    length: int = 0  # of one occurrence, slack bytes included
    slack_before: int = 0  # SYNC slack bytes before this item
    children: list[Node] = field(default_factory=list)
    ftype: FieldType | None = None
    counter: Node | None = None  # DEPENDING ON object
    views: list[Node] = field(default_factory=list)  # for a redefined item: who redefines it
    base: Node | None = None  # for a redefining item: the item it redefines
    variable: bool = False  # contains (or is) an OCCURS DEPENDING ON
    rule: tuple[Node, dict[str, Node]] | None = None  # redefined item: discriminator -> view
    renames: tuple[int, int] | None = None  # level 66: (offset, length)

    @property
    def name(self) -> str:
        return self.item.name

    @property
    def occurs(self) -> int:
        return self.item.occurs

    @property
    def is_group(self) -> bool:
        return self.ftype is None and self.item.level != 66

    def path(self) -> tuple[str, ...]:
        out: list[str] = []
        n: Node | None = self
        while n is not None:
            out.append(n.name)
            n = n.parent
        return tuple(reversed(out))

    def qualified(self) -> str:
        return " OF ".join(reversed(self.path()))

    def walk(self) -> list[Node]:
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


def _codec(options: FieldOptions) -> str:
    """The Python codec of the data's code page (one byte a character, all 256 mapped)."""
    from .usages import _page

    return _page(options.encoding).codec


def _options_encoding(options: FieldOptions) -> str:
    enc = options.encoding
    return "latin-1" if enc == "ascii" else enc


class RecordLayout:
    """One record (an 01, a 77, or the implicit record of a fragment) laid out, with its
    generated decoder and encoder."""

    def __init__(self, record: Item, options: FieldOptions, *, limit: int = DEFAULT_LIMIT,
                 conditions: bool = False, renames: bool = False,
                 decimal_comma: bool = False) -> None:
        self.item = record
        self.decimal_comma = decimal_comma
        self.name = record.name
        self.source = record.source
        self.options = options
        self.limit = limit
        self.conditions = conditions
        self.with_renames = renames
        self.root = Node(record, record.name, None)
        self._build(self.root, record)
        self.length = self._place(self.root, 0)  # maximum length
        self.variable = self.root.variable
        if self.length > limit:
            raise LayoutError(f"{self.name}: {self.length} bytes, over the record limit of "
                              f"{limit} (settable)", source=record.source, line=record.line)
        self.nodes = self.root.walk()
        self._index: dict[str, list[Node]] | None = None
        self.renames = [self._renames(c) for c in record.children if c.level == 66]
        self.unreadable: list[LayoutError] = []
        self._link_counters()
        self.min_length = self._min_length(self.root) if self.variable else self.length
        self._dec: Callable[[bytes], dict[str, Any]] | None = None
        self._enc: Callable[[dict[str, Any]], bytes] | None = None

    # ------------------------------------------------------------------ building the tree

    def _err(self, item: Item, reason: str) -> LayoutError:
        return LayoutError(f"{item.name}: {reason}", source=item.source, line=item.line)

    def _build(self, node: Node, item: Item) -> None:
        if item.level == 66:
            return
        if item.picture is None and item.children:
            keys: dict[str, int] = {}
            prev: Node | None = None
            for child in item.children:
                if child.level == 66:
                    continue
                n = keys.get(child.name, 0) + 1
                keys[child.name] = n
                key = child.name if n == 1 else f"{child.name}#{n}"
                c = Node(child, key, node)
                if child.redefines is not None:
                    base = prev
                    while base is not None and base.base is not None:
                        base = base.base
                    if base is None or base.name != child.redefines:
                        raise self._err(child, f"REDEFINES {child.redefines}: the redefined item "
                                        "must be the entry of the same level just before (or "
                                        "the item it redefines)")
                    if base.item.level != child.level:
                        raise self._err(child, f"REDEFINES {child.redefines}: levels differ")
                    c.base = base
                    base.views.append(c)
                node.children.append(c)
                self._build(c, child)
                prev = c
            return
        # elementary
        try:
            pic = (parse_picture(item.picture, decimal_comma=self.decimal_comma)
                   if item.picture is not None else None)
            if pic is not None and pic.size > self.limit:
                raise self._err(item, f"PIC {item.picture}: {pic.size} positions, over the "
                                f"record limit of {self.limit} bytes (settable)")
            spec = FieldSpec(picture=pic, usage=item.usage,
                             sign_position=item.sign_position,
                             sign_separate=item.sign_separate,
                             blank_when_zero=item.blank_when_zero, justified=item.justified)
            node.ftype = field_type(spec, self.options)
        except PictureError as exc:
            raise self._err(item, str(exc)) from None

    def _place(self, node: Node, offset: int) -> int:
        """Offsets (maximum layout) and lengths; returns the end of the item's occurrences."""
        item = node.item
        if node.ftype is not None:
            align = node.ftype.alignment if item.sync else 1
            if align > 1 and offset % align:
                node.slack_before = align - offset % align
                offset += node.slack_before
            node.offset = offset
            node.length = node.ftype.length
        else:
            lead = self._lead_alignment(node)
            if lead > 1 and offset % lead:
                # IBM: a SYNC item that starts its group(s) puts the slack bytes before the
                # outermost such group, so the group itself starts on the boundary
                node.slack_before = lead - offset % lead
                offset += node.slack_before
            node.offset = offset
            pos = offset
            i = 0
            kids = node.children
            prev: Node | None = None
            while i < len(kids):
                c = kids[i]
                end = self._place(c, pos)
                if (c.slack_before and prev is not None and prev.ftype is None
                        and not prev.item.has_occurs and not prev.views and not prev.variable
                        and prev.base is None):
                    # ... and those slack bytes join the group before it, when there is one
                    # (Language Reference: FIELD-L / CLOSED examples)
                    prev.length += c.slack_before
                    c.slack_before = 0
                prev = c
                for v in c.views:  # the views start where the redefined item starts
                    if v.variable or c.variable:
                        raise self._err(v.item, "REDEFINES of or by an item with OCCURS "
                                        "DEPENDING ON (IBM refuses it too)")
                    end = max(end, self._place(v, c.offset))
                i += 1 + len(c.views)
                pos = end
                node.variable = node.variable or c.variable
            node.length = pos - offset
            align = self._max_sync(node)
            if item.has_occurs and align > 1 and node.length % align:
                node.length += align - node.length % align  # inter-occurrence slack
        if item.depending is not None:
            node.variable = True
        total = node.length * item.occurs
        if total > self.limit or node.length > self.limit:
            raise self._err(item, f"{total} bytes, over the record limit of {self.limit} "
                            "(settable)")
        seen_variable: Node | None = None
        for c in node.children:
            if seen_variable is not None and any(
                    x.item.sync for x in c.walk()):
                raise self._err(seen_variable.item, "SYNCHRONIZED items after an OCCURS "
                                "DEPENDING ON table are not supported")
            if c.variable and seen_variable is None:
                seen_variable = c
        return node.offset + total

    def _lead_alignment(self, node: Node) -> int:
        """The boundary the first elementary item of a group needs (1: none)."""
        n = node
        while n.ftype is None:
            kids = [c for c in n.children if c.item.level != 66]
            if not kids:
                return 1
            n = kids[0]
        return n.ftype.alignment if n.item.sync else 1

    def _max_sync(self, node: Node) -> int:
        best = 1
        for n in node.walk()[1:]:
            if n.ftype is not None and n.item.sync:
                best = max(best, n.ftype.alignment)
        return best

    def _min_length(self, node: Node) -> int:
        if node.ftype is not None:
            one = node.length
        else:
            one = 0
            kids = node.children
            i = 0
            while i < len(kids):
                c = kids[i]
                if c.views:
                    one += max([c.length * c.occurs] + [v.length * v.occurs for v in c.views])
                    i += 1 + len(c.views)
                    continue
                one += self._min_length(c)
                i += 1
            one = max(one, 0) if node.variable else node.length
        count = node.item.occurs_min if node.item.depending is not None else node.occurs
        return one * count

    # ------------------------------------------------------------------ names

    def find(self, qualified: tuple[str, ...] | str, where: Item | None = None) -> Node:
        """The node a (qualified) name refers to; LayoutError when missing or ambiguous."""
        if isinstance(qualified, str):
            qualified = tuple(p.strip().upper() for p in
                              qualified.replace(" IN ", " OF ").split(" OF "))
        name, quals = qualified[0], qualified[1:]
        if self._index is None:
            self._index = {}
            for node in self.nodes:
                self._index.setdefault(node.name, []).append(node)
        hits = []
        for n in self._index.get(name, ()):
            anc = n.path()[:-1]
            j = len(anc) - 1
            ok = True
            for q in quals:
                while j >= 0 and anc[j] != q:
                    j -= 1
                if j < 0:
                    ok = False
                    break
                j -= 1
            if ok:
                hits.append(n)
        src = where.source if where else self.source
        line = where.line if where else None
        what = " OF ".join(qualified)
        if not hits:
            raise LayoutError(f"{what}: no such item in record {self.name}", source=src,
                              line=line)
        if len(hits) > 1:
            paths = ", ".join(h.qualified() for h in hits)
            raise LayoutError(f"{what} is ambiguous in record {self.name}: {paths} (qualify it "
                              "with OF)", source=src, line=line)
        return hits[0]

    def _link_counters(self) -> None:
        order = {id(n): i for i, n in enumerate(self.nodes)}
        for n in self.nodes:
            dep = n.item.depending
            if dep is None:
                continue
            try:
                c = self.find(dep, n.item)
                if c.ftype is None or order[id(c)] >= order[id(n)]:
                    raise self._err(n.item, f"DEPENDING ON {c.name}: the counter must be an "
                                    "elementary item before the table")
                if self._in_table(c) or self._in_view(c):
                    raise self._err(n.item, f"DEPENDING ON {c.name}: a counter inside an "
                                    "OCCURS table or a REDEFINES view is not supported")
            except LayoutError as exc:
                # the layout (offsets at the maximum) still stands; reading data needs the
                # counter, so decode and encode refuse with this reason (the first is enough)
                self.unreadable.append(exc)
                return
            n.counter = c

    def _in_table(self, n: Node) -> bool:
        p: Node | None = n
        while p is not None:
            if p.item.has_occurs:
                return True
            p = p.parent
        return False

    def _in_view(self, n: Node) -> bool:
        p: Node | None = n
        while p is not None:
            if p.base is not None or p.views:
                return True
            p = p.parent
        return False

    def _renames(self, item: Item) -> Node:
        assert item.renames is not None
        start, thru = item.renames
        a = self.find(start, item)
        b = self.find(thru, item) if thru else a
        if a.variable or b.variable or self._in_table(a) or self._in_table(b):
            raise self._err(item, "RENAMES of a table or a variable item")
        lo = a.offset
        hi = b.offset + b.length * b.occurs
        if hi <= lo:
            raise self._err(item, f"RENAMES {a.name} THRU {b.name}: THRU item ends before the "
                            "first starts")
        n = Node(item, item.name, self.root, offset=lo, length=hi - lo)
        n.renames = (lo, hi - lo)
        return n

    def set_rule(self, rule: RedefineRule) -> None:
        area = self.find(rule.area)
        base = area.base or area
        disc = self.find(rule.field)
        if disc.ftype is None or self._in_table(disc) or disc.variable:
            raise LayoutError(f"redefine rule: {rule.field} must be an elementary item outside "
                              "any table")
        views = {v.name: v for v in [base, *base.views]}
        chosen: dict[str, Node] = {}
        for value, view in rule.choices.items():
            if view.upper() not in views:
                raise LayoutError(f"redefine rule: {view} is not a view of {base.name} (views: "
                                  f"{', '.join(views)})")
            chosen[value] = views[view.upper()]
        base.rule = (disc, chosen)
        self._dec = self._enc = None

    # ------------------------------------------------------------------ decode / encode

    def decode(self, data: bytes) -> dict[str, Any]:
        """The record's values, nested: ``{"RECORD": {...}}`` for an 01 record, the top items'
        keys for a fragment."""
        if self._dec is None:
            self._dec, self._enc = generate(self)
        return self._dec(data)

    def encode(self, values: dict[str, Any]) -> bytes:
        if self._enc is None:
            self._dec, self._enc = generate(self)
        return self._enc(values)

    def condition_test(self, node: Node, cond: Condition) -> Callable[[Any], bool]:
        return _condition(self, node, cond)


# ====================================================================== conditions (88)


def _literal_bytes(lit: Any, length: int, encoding: str, pad: bytes) -> bytes:
    if isinstance(lit, Figurative):
        unit = {"SPACE": " ".encode(encoding), "ZERO": "0".encode(encoding),
                "HIGH-VALUE": b"\xff", "LOW-VALUE": b"\x00", "QUOTE": '"'.encode(encoding),
                "NULL": b"\x00"}.get(lit.name)
        if unit is None:  # ALL literal
            unit = _literal_bytes(lit.literal, 0, encoding, b"")
        if not unit:
            return pad * length
        return (unit * (length // len(unit) + 1))[:length]
    raw = lit if isinstance(lit, bytes) else str(lit).encode(encoding, errors="replace")
    return (raw + pad * length)[:length] if length else raw


def _condition(lay: RecordLayout, node: Node, cond: Condition) -> Callable[[Any], bool]:
    """A test on the field's decoded value (numbers) or raw bytes (text and groups: compared
    as COBOL compares them, padded with spaces, in the code page's order)."""
    numeric = node.ftype is not None and _is_numeric(node)
    if numeric:
        ranges = []
        for lo, hi in cond.values:
            ranges.append((_num(lo), _num(hi) if hi is not None else _num(lo)))

        def test_num(v: Any) -> bool:
            if v is None or isinstance(v, str | bytes):
                return False
            return any(a <= v <= b for a, b in ranges)

        return test_num
    enc = _options_encoding(lay.options)
    space = " ".encode(enc)
    n = node.length
    branges = []
    for lo, hi in cond.values:
        a = _literal_bytes(lo, n, enc, space)
        branges.append((a, _literal_bytes(hi, n, enc, space) if hi is not None else a))

    def test_raw(raw: Any) -> bool:
        return any(a <= raw <= b for a, b in branges)

    return test_raw


def _num(lit: Any) -> Any:
    if isinstance(lit, Figurative):
        return 0
    if isinstance(lit, int | Decimal):
        return lit
    try:
        return Decimal(str(lit).strip())
    except Exception:
        return Decimal("NaN")


def _is_numeric(node: Node) -> bool:
    pic = node.item.picture
    if node.item.usage in ("comp-1", "comp-2", "pointer", "index"):
        return True
    if pic is None:
        return False
    u = pic.upper()
    return not any(c in u for c in "XANG") and node.item.usage not in ("national",)


# ====================================================================== code generation


class _Gen:
    """Source lines, constants the code refers to, and fresh local names."""

    def __init__(self, lay: RecordLayout, fast: bool = True) -> None:
        self.lay = lay
        self.fast = fast
        self.ns: dict[str, Any] = {"DecodeError": DecodeError, "EncodeError": EncodeError}
        self.n = 0
        self.locals: dict[int, str] = {}  # counters / discriminators: node id -> local name
        need = {id(n.counter) for n in lay.nodes if n.counter is not None}
        need |= {id(n.rule[0]) for n in lay.nodes if n.rule is not None}
        self.need = need

    def const(self, value: Any, hint: str) -> str:
        self.n += 1
        name = f"_{hint}{self.n}"
        self.ns[name] = value
        return name

    def var(self, hint: str) -> str:
        self.n += 1
        return f"{hint}{self.n}"


def _pos(expr: str, const: int) -> str:
    if expr == "0":
        return str(const)
    return f"{expr} + {const}" if const else expr


def _varsize(node: Node) -> bool:
    """Whether one occurrence's size depends on the data (a DEPENDING ON table inside)."""
    return any(c.variable for c in node.children)


def _given(dvar: str, node: Node) -> str:
    """Code: whether the values hold this view (a FILLER view: any of its named items)."""
    if not node.item.filler:
        return f"{dvar}.get({node.key!r}) is not None"
    keys = [c.key for c in node.children if not c.item.filler]
    return "(" + " or ".join(f"{dvar}.get({k!r}) is not None" for k in keys) + ")" if keys \
        else "False"


def _area_size(node: Node) -> int:
    """Bytes of a REDEFINES area: from the redefined item's start to the furthest view end."""
    start = node.offset - node.slack_before
    return max(v.offset + v.length * v.occurs for v in [node, *node.views]) - start


def _disc_local(g: _Gen, disc: Node, area: Node) -> str:
    if id(disc) not in g.locals:
        raise LayoutError(f"redefine rule: {disc.name} must come before {area.name} in the "
                          "record", source=area.item.source, line=area.item.line)
    return g.locals[id(disc)]


def _gen_decode(g: _Gen, nodes: list[Node], dvar: str, expr: str, const: int,
                out: list[str], ind: str) -> tuple[str, int]:
    """Decode sibling ``nodes`` into dict ``dvar`` starting at ``expr + const``; returns the
    end position as (expr, const)."""
    i = 0
    while i < len(nodes):
        node = nodes[i]
        area = [node, *node.views]
        if node.views:
            if node.rule is not None:
                disc, choices = node.rule
                sel = g.const({k: v.key for k, v in choices.items() if k != "*"}, "sel")
                default = choices.get("*")
                dv = _disc_local(g, disc, node)
                out.append(f"{ind}k = {sel}.get(_key({dv}), {default.key if default else None!r})")
                out.append(f"{ind}if k is None: raise DecodeError(f'{disc.name} = {{{dv}!r}} "
                           f"names no view of {node.name}', field={disc.name!r})")
                for v in area:
                    out.append(f"{ind}if k == {v.key!r}:")
                    out.append(f"{ind}    pass")
                    _gen_one(g, v, dvar, expr, const + (node.slack_before if v is not node else 0),
                             out, ind + "    ")
            else:
                for v in area:
                    out.append(f"{ind}try:")
                    out.append(f"{ind}    pass")
                    _gen_one(g, v, dvar, expr, const + (node.slack_before if v is not node else 0),
                             out, ind + "    ")
                    out.append(f"{ind}except DecodeError: "
                               + (f"{dvar}[{v.key!r}] = None" if not v.item.filler else "pass"))
            const += _area_size(node)
            i += len(area)
            continue
        expr, const = _gen_one(g, node, dvar, expr, const, out, ind)
        i += 1
    return expr, const


def _gen_one(g: _Gen, node: Node, dvar: str, expr: str, const: int, out: list[str],
             ind: str) -> tuple[str, int]:
    item = node.item
    const += node.slack_before
    if node.ftype is None and item.level == 66:
        return expr, const
    key = node.key
    if item.filler and node.ftype is not None:
        return expr, const + node.length * node.occurs
    L = node.length
    if node.ftype is not None:
        fn = g.const(node.ftype.decode, "d")
        if not item.has_occurs:
            a = _pos(expr, const)
            b = _pos(expr, const + L)
            slow = f"{fn}(buf[{a}:{b}], {key!r}, {a})"
            fast = _fast(g, node.ftype, a, b, slow)
            out.extend(f"{ind}{x}" for x in fast) if fast else out.append(f"{ind}v = {slow}")
            if id(node) in g.need:
                out.append(f"{ind}{g.locals.setdefault(id(node), g.var('k'))} = v")
            out.append(f"{ind}{dvar}[{key!r}] = v")
            if g.lay.conditions and item.conditions:
                _gen_conditions(g, node, dvar, a, b, out, ind)
            return expr, const + L
        count, cend = _gen_count(g, node, expr, const, out, ind)
        a = _pos(expr, const)
        out.append(f"{ind}{dvar}[{key!r}] = [{fn}(buf[o:o + {L}], {key!r}, o) for o in "
                   f"range({a}, {a} + {count} * {L}, {L})]")
        if g.lay.conditions and item.conditions:  # one boolean per occurrence
            numeric = _is_numeric(node)
            for cond in item.conditions:
                test = g.const(g.lay.condition_test(node, cond), "q")
                each = (f"[{test}(x) for x in {dvar}[{key!r}]]" if numeric else
                        f"[{test}(buf[o:o + {L}]) for o in range({a}, {a} + {count} * {L}, {L})]")
                out.append(f"{ind}{dvar}[{cond.name!r}] = {each}")
        return cend
    # group
    if not item.has_occurs:
        if item.filler:
            sub = dvar  # a FILLER group's named items belong to the group around it
        else:
            sub = g.var("g")
            out.append(f"{ind}{sub} = {dvar}[{key!r}] = {{}}")
        if g.lay.conditions and item.conditions:
            _gen_conditions(g, node, dvar, _pos(expr, const), _pos(expr, const + L), out, ind)
        if node.variable:
            e, c = _gen_decode(g, node.children, sub, expr, const, out, ind)
            return e, c
        _gen_decode(g, node.children, sub, expr, const, out, ind)
        return expr, const + L
    count, cend = _gen_count(g, node, expr, const, out, ind)
    lst = g.var("l")
    out.append(f"{ind}{lst} = []")
    if not item.filler:
        out.append(f"{ind}{dvar}[{key!r}] = {lst}")
    o = g.var("o")
    e = g.var("e")
    if not _varsize(node):
        a = _pos(expr, const)
        out.append(f"{ind}for {o} in range({a}, {a} + {count} * {L}, {L}):")
        out.append(f"{ind}    {e} = {{}}")
        _gen_decode(g, node.children, e, o, 0, out, ind + "    ")
        out.append(f"{ind}    {lst}.append({e})")
        return cend
    # occurrences of variable length: a running position
    p = g.var("p")
    out.append(f"{ind}{p} = {_pos(expr, const)}")
    out.append(f"{ind}for _ in range({count}):")
    out.append(f"{ind}    {e} = {{}}")
    pe, pc = _gen_decode(g, node.children, e, p, 0, out, ind + "    ")
    out.append(f"{ind}    {p} = {_pos(pe, pc)}")
    out.append(f"{ind}    {lst}.append({e})")
    return p, 0


def _scaled(var: str, scale: int) -> str:
    """The field value of ``var`` units, as usages.py makes it (int, or an exact Decimal)."""
    if scale > 0:
        return f"_Dec(f'{{{var}}}E-{scale}')"
    if scale < 0:
        return f"{var} * {10 ** -scale}"
    return var


def _fast(g: _Gen, ft: Any, a: str, b: str, slow: str) -> list[str] | None:
    """Inline decoding for the common cases of the usual field types, giving exactly what
    their ``decode`` gives; anything unusual (blank, low-values, a sign or digit out of the
    plain form) falls back to the field type itself, which decides or raises."""
    codec = g.ns.get("_CODEC")
    if not g.fast:
        return None
    if type(ft) is TextType and not ft.national and ft.codec == codec:
        lines = [f"s = t[{a}:{b}]"]
        checks = []
        if ft.low_policy != "keep":
            checks.append("'\\x00' not in s")
        if ft.high_policy != "keep":
            high = bytes([0xFF]).decode(codec)
            checks.append(f"{high!r} not in s")
        trim = f".{ft.trim}(' ')" if ft.trim else ""
        cond = " and ".join(checks)
        lines.append(f"v = s{trim} if {cond} else {slow}" if cond else f"v = s{trim}")
        return lines
    if type(ft) is ZonedType and ft.page.codec == codec:
        return [f"s = t[{a}:{b}]",
                f"v = {_scaled('int(s)', ft.scale)} if s.isdecimal() else {slow}"]
    if type(ft) is PackedType and not ft.comp6:
        signs = g.const({"c": 1, "a": 1, "e": 1, "f": 1, **({"d": -1, "b": -1} if ft.signed
                                                          else {})}, "ps")
        cond = "sg is not None and s.isdecimal()"
        if ft.digits % 2 == 0:
            cond += " and s[0] == '0'"
        return [f"h = buf[{a}:{b}].hex()", "s = h[:-1]", f"sg = {signs}.get(h[-1])",
                f"if {cond}:", "    u = int(s) * sg", f"    v = {_scaled('u', ft.scale)}",
                f"else: v = {slow}"]
    if type(ft) is BinaryType:
        conv = f"int.from_bytes(buf[{a}:{b}], 'big', signed={ft.signed})"
        if ft.full:
            return [f"u = {conv}", f"v = {_scaled('u', ft.scale)}"]
        lim = 10 ** ft.digits
        return [f"u = {conv}", f"v = {_scaled('u', ft.scale)} if -{lim} < u < {lim} else "
                f"{slow}"]
    return None


def _gen_count(g: _Gen, node: Node, expr: str, const: int, out: list[str], ind: str
               ) -> tuple[str, tuple[str, int]]:
    """The occurrence count (a constant, or the counter checked against its range) and the
    end position after the table."""
    item = node.item
    if node.counter is None:
        return str(item.occurs), (expr, const + node.length * item.occurs)
    c = g.locals[id(node.counter)]
    cnt = g.var("c")
    lo, hi = item.occurs_min, item.occurs
    out.append(f"{ind}{cnt} = {c}")
    out.append(f"{ind}if {cnt}.__class__ is not int or not {lo} <= {cnt} <= {hi}: raise "
               f"DecodeError(f'{node.counter.name} = {{{cnt}!r}} is outside OCCURS {lo} TO "
               f"{hi} of {item.name} (record {g.lay.name})', field={node.counter.name!r}, "
               f"offset={node.counter.offset}, data=buf)")
    if _varsize(node):
        return cnt, ("", 0)  # the caller tracks the running position
    p = g.var("p")
    out.append(f"{ind}{p} = {_pos(expr, const)} + {cnt} * {node.length}")
    out.append(f"{ind}if {p} > n: raise DecodeError(f'record is {{n}} bytes; {item.name} "
               f"needs {{{p}}} with {node.counter.name} = {{{cnt}}}', field={item.name!r}, "
               f"offset=n)")
    return cnt, (p, 0)


def _gen_conditions(g: _Gen, node: Node, dvar: str, a: str, b: str, out: list[str],
                    ind: str) -> None:
    numeric = node.ftype is not None and _is_numeric(node)
    for cond in node.item.conditions:
        fn = g.const(g.lay.condition_test(node, cond), "q")
        arg = "v" if numeric else f"buf[{a}:{b}]"
        out.append(f"{ind}{dvar}[{cond.name!r}] = {fn}({arg})")


def _key(v: Any) -> str:
    """A discriminator value as a rule's text key."""
    if isinstance(v, str):
        return v.rstrip()
    if isinstance(v, Decimal):
        return format(v.normalize(), "f") if v == v.to_integral_value() else str(v)
    return str(v)


# ---------------------------------------------------------------------- encode


def _gen_encode(g: _Gen, nodes: list[Node], dvar: str, expr: str, const: int,
                out: list[str], ind: str) -> tuple[str, int]:
    i = 0
    while i < len(nodes):
        node = nodes[i]
        area = [node, *node.views]
        if node.views:
            def at(v: Node, node: Node = node, const: int = const) -> int:
                return const + (node.slack_before if v is not node else 0)

            if node.rule is not None:
                disc, choices = node.rule
                sel = g.const({k: v.key for k, v in choices.items() if k != "*"}, "sel")
                default = choices.get("*")
                dv = _disc_local(g, disc, node)
                out.append(f"{ind}k = {sel}.get(_key({dv}), {default.key if default else None!r})")
                out.append(f"{ind}if k is None: raise EncodeError(f'{disc.name} = {{{dv}!r}} "
                           f"names no view of {node.name}', field={disc.name!r})")
                for v in area:
                    out.append(f"{ind}if k == {v.key!r}:")
                    out.append(f"{ind}    pass")
                    _gen_enc_one(g, v, dvar, expr, at(v), out, ind + "    ")
            else:
                # views written last to first, so the first non-null view wins where they
                # overlap and a longer view fills the rest; none given: the first, blank
                given = [_given(dvar, v) for v in area]
                out.append(f"{ind}if not ({' or '.join(given)}):")
                out.append(f"{ind}    pass")
                _gen_enc_one(g, node, dvar, expr, const, out, ind + "    ")
                for v, cond in reversed(list(zip(area, given, strict=True))):
                    out.append(f"{ind}if {cond}:")
                    out.append(f"{ind}    pass")
                    _gen_enc_one(g, v, dvar, expr, at(v), out, ind + "    ")
            const += _area_size(node)
            i += len(area)
            continue
        expr, const = _gen_enc_one(g, node, dvar, expr, const, out, ind)
        i += 1
    return expr, const


def _gen_enc_one(g: _Gen, node: Node, dvar: str, expr: str, const: int, out: list[str],
                 ind: str) -> tuple[str, int]:
    item = node.item
    const += node.slack_before
    key = node.key
    L = node.length
    if node.ftype is not None:
        fn = g.const(node.ftype.encode, "w")
        if item.filler:
            fill = g.const(_filler_bytes(g.lay, node), "fill")
            a = _pos(expr, const)
            if item.has_occurs:
                out.append(f"{ind}out[{a}:{a} + {L * item.occurs}] = {fill} * {item.occurs}")
            else:
                out.append(f"{ind}out[{a}:{a} + {L}] = {fill}")
            return expr, const + L * item.occurs
        if not item.has_occurs:
            a = _pos(expr, const)
            out.append(f"{ind}v = {dvar}.get({key!r})")
            if id(node) in g.need:
                out.append(f"{ind}{g.locals.setdefault(id(node), g.var('k'))} = v")
                if any(n.counter is node for n in g.lay.nodes):
                    out.append(f"{ind}if v is None: raise EncodeError('counter {key} is "
                               f"missing', field={key!r})")
            out.append(f"{ind}out[{a}:{a} + {L}] = {fn}(v, {key!r}, {a})")
            return expr, const + L
        count, cend = _gen_enc_count(g, node, dvar, expr, const, out, ind)
        a = _pos(expr, const)
        lst = g.var("l")
        out.append(f"{ind}{lst} = _list({dvar}.get({key!r}), {count}, {key!r})")
        out.append(f"{ind}for j, o in enumerate(range({a}, {a} + {count} * {L}, {L})):")
        out.append(f"{ind}    out[o:o + {L}] = {fn}({lst}[j] if j < len({lst}) else None, "
                   f"{key!r}, o)")
        return cend
    if not item.has_occurs:
        sub = g.var("g")
        if item.filler:
            sub = dvar
        else:
            out.append(f"{ind}{sub} = _dict({dvar}.get({key!r}), {key!r})")
        if node.variable:
            return _gen_encode(g, node.children, sub, expr, const, out, ind)
        _gen_encode(g, node.children, sub, expr, const, out, ind)
        return expr, const + L
    count, cend = _gen_enc_count(g, node, dvar, expr, const, out, ind)
    lst = g.var("l")
    out.append(f"{ind}{lst} = _list({dvar}.get({key!r}) if {not item.filler} else None, "
               f"{count}, {key!r})")
    e = g.var("e")
    if not _varsize(node):
        a = _pos(expr, const)
        o = g.var("o")
        out.append(f"{ind}for j, {o} in enumerate(range({a}, {a} + {count} * {L}, {L})):")
        out.append(f"{ind}    {e} = _dict({lst}[j] if j < len({lst}) else None, {key!r})")
        _gen_encode(g, node.children, e, o, 0, out, ind + "    ")
        return cend
    p = g.var("p")
    out.append(f"{ind}{p} = {_pos(expr, const)}")
    out.append(f"{ind}for j in range({count}):")
    out.append(f"{ind}    {e} = _dict({lst}[j] if j < len({lst}) else None, {key!r})")
    pe, pc = _gen_encode(g, node.children, e, p, 0, out, ind + "    ")
    out.append(f"{ind}    {p} = {_pos(pe, pc)}")
    return p, 0


def _gen_enc_count(g: _Gen, node: Node, dvar: str, expr: str, const: int, out: list[str],
                   ind: str) -> tuple[str, tuple[str, int]]:
    item = node.item
    if node.counter is None:
        return str(item.occurs), (expr, const + node.length * item.occurs)
    c = g.locals[id(node.counter)]
    cnt = g.var("c")
    lo, hi = item.occurs_min, item.occurs
    out.append(f"{ind}{cnt} = {c}")
    out.append(f"{ind}if {cnt}.__class__ is not int or not {lo} <= {cnt} <= {hi}: raise "
               f"EncodeError(f'{node.counter.name} = {{{cnt}!r}} is outside OCCURS {lo} TO "
               f"{hi} of {item.name}', field={node.counter.name!r})")
    out.append(f"{ind}m = len({dvar}.get({node.key!r}) or ())")
    out.append(f"{ind}if m != {cnt}: raise EncodeError(f'{node.key} has {{m}} entries, "
               f"{node.counter.name} says {{{cnt}}}', field={node.key!r})")
    if _varsize(node):
        return cnt, ("", 0)
    p = g.var("p")
    out.append(f"{ind}{p} = {_pos(expr, const)} + {cnt} * {node.length}")
    return cnt, (p, 0)


def _filler_bytes(lay: RecordLayout, node: Node) -> bytes:
    """What a FILLER is written as: its VALUE, else spaces (text) or the type's blank."""
    assert node.ftype is not None
    enc = _options_encoding(lay.options)
    v = node.item.value
    if v is not None and (isinstance(v, str | bytes | Figurative)):
        return _literal_bytes(v, node.length, enc, " ".encode(enc))
    if v is not None:
        try:
            return bytes(node.ftype.encode(v, "FILLER", node.offset))
        except EncodeError:
            pass
    if node.item.picture is not None and not _is_numeric(node):
        return " ".encode(enc) * node.length
    try:
        return bytes(node.ftype.encode(None, "FILLER", node.offset))
    except (EncodeError, TypeError, ValueError):
        return bytes(node.length)


def _as_list(value: Any, count: int, key: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EncodeError(f"{key}: expected a list (OCCURS), got {type(value).__name__}",
                          field=key)
    if len(value) > count:
        raise EncodeError(f"{key}: {len(value)} entries, OCCURS allows {count}", field=key)
    return value


def _as_dict(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EncodeError(f"{key}: expected an object (group), got {type(value).__name__}",
                          field=key)
    return value


def generate(lay: RecordLayout, *, fast: bool = True
             ) -> tuple[Callable[[bytes], dict[str, Any]], Callable[[dict[str, Any]], bytes]]:
    """The decoder and encoder of a record, generated from its tree (``fast=False``: every
    field through its field type, no inline fast paths: the reference the tests compare
    with)."""
    if lay.unreadable:
        raise lay.unreadable[0]
    g = _Gen(lay, fast)
    g.ns.update({"_key": _key, "_list": _as_list, "_dict": _as_dict, "_Dec": Decimal,
                 "_CODEC": _codec(lay.options)})
    root = lay.root
    fragment = root.item.level == 0
    dec = ["def decode(buf):", "    n = len(buf)"]
    name = lay.name
    if lay.variable:
        dec.append(f"    if n < {lay.min_length}: raise DecodeError(f'record {name} is {{n}} "
                   f"bytes, at least {lay.min_length} expected', offset=n, data=buf)")
    else:
        dec.append(f"    if n != {lay.length}: raise DecodeError(f'record {name} is "
                   f"{lay.length} bytes, got {{n}}', offset=min(n, {lay.length}), data=buf)")
    dec.append("    r = {}")
    dec.append("    t = buf.decode(_CODEC)")
    body: list[str] = []
    if fragment:
        e, c = _gen_decode(g, root.children, "r", "0", 0, body, "    ")
        top = "r"
    else:
        e, c = _gen_decode(g, [root], "r", "0", 0, body, "    ")
        top = "r"
    dec += body
    if lay.variable:
        dec.append(f"    end = {_pos(e, c)}")
        dec.append(f"    if end > n: raise DecodeError(f'record {name} needs {{end}} bytes, "
                   "got {n}', offset=n, data=buf)")
    if lay.with_renames and lay.renames:
        enc_name = _options_encoding(lay.options)
        g.ns["_ENC"] = enc_name
        target = "r" if fragment else f"r[{root.key!r}]"
        for rn in lay.renames:
            assert rn.renames is not None
            a, ln = rn.renames
            dec.append(f"    {target}[{rn.key!r}] = buf[{a}:{a + ln}].decode(_ENC)")
    dec.append(f"    return {top}")
    g2 = _Gen(lay)
    g2.ns.update(g.ns)
    g2.ns.update({"_key": _key, "_list": _as_list, "_dict": _as_dict})
    g2.ns["_BLANK"] = " ".encode(_options_encoding(lay.options)) * lay.length
    enc = ["def encode(d):", "    out = bytearray(_BLANK)",
           "    r = _dict(d, 'record')"]
    ebody: list[str] = []
    if fragment:
        e2, c2 = _gen_encode(g2, root.children, "r", "0", 0, ebody, "    ")
    else:
        e2, c2 = _gen_encode(g2, [root], "r", "0", 0, ebody, "    ")
    enc += ebody
    enc.append(f"    return bytes(out[:{_pos(e2, c2)}])" if lay.variable
               else "    return bytes(out)")
    return (_compile("\n".join(dec) + "\n", g.ns, "decode", lay),
            _compile("\n".join(enc) + "\n", g2.ns, "encode", lay))


def _compile(source: str, ns: dict[str, Any], name: str, lay: RecordLayout
             ) -> Callable[..., Any]:
    code = compile(source, f"<clets copybook {lay.name} {name}>", "exec")
    scope = dict(ns)
    exec(code, scope)
    fn: Callable[..., Any] = scope[name]
    fn.__source__ = source  # type: ignore[attr-defined]  # for inspection and docs
    return fn


# ====================================================================== a whole copybook


class Copybook:
    """Every record of one copybook, with the rules that choose a record type and a
    REDEFINES view (both data, not code)."""

    def __init__(self, text: str | bytes, *, source: str = "<copybook>", fmt: str = "fixed",
                 resolve: Resolver | None = None, limit: int = DEFAULT_LIMIT,
                 options: FieldOptions | None = None, conditions: bool = False,
                 renames: bool = False, record_rule: RecordRule | None = None,
                 redefine_rules: list[RedefineRule] | tuple[RedefineRule, ...] = (),
                 decimal_comma: bool = False) -> None:
        """``decimal_comma``: the program says DECIMAL-POINT IS COMMA (pictures read with the
        roles of ``,`` and ``.`` swapped)."""
        self.source = source
        self.options = options or FieldOptions()
        items = parse_items(text, source, fmt=fmt, resolve=resolve, limit=limit)
        self.records = [RecordLayout(it, self.options, limit=limit, conditions=conditions,
                                     renames=renames, decimal_comma=decimal_comma)
                        for it in items]
        self.by_name = {r.name: r for r in self.records}
        for rule in redefine_rules:
            applied = False
            errors = []
            for r in self.records:
                try:
                    r.set_rule(rule)
                    applied = True
                except LayoutError as exc:
                    errors.append(str(exc))
            if not applied:
                raise LayoutError(f"redefine rule for {rule.area}: {errors[0]}", source=source)
        self.record_rule: tuple[RecordLayout, Node, dict[str, RecordLayout]] | None = None
        if record_rule is not None:
            self.set_record_rule(record_rule)

    def select(self, name: str) -> None:
        """Keep one record (the only one then read and written)."""
        rec = self.by_name.get(name.upper())
        if rec is None:
            raise LayoutError(f"no record named {name} (records: {', '.join(self.by_name)})",
                              source=self.source)
        self.records = [rec]
        self.by_name = {rec.name: rec}
        self.record_rule = None

    def set_record_rule(self, rule: RecordRule) -> None:
        holder: tuple[RecordLayout, Node] | None = None
        for r in self.records:
            try:
                holder = (r, r.find(rule.field))
                break
            except LayoutError:
                continue
        if holder is None:
            raise LayoutError(f"record rule: no record has a field {rule.field}",
                              source=self.source)
        rec, node = holder
        if node.ftype is None or node.variable or rec._in_table(node) or any(
                n.variable for n in rec.nodes if n.offset < node.offset):
            raise LayoutError(f"record rule: {rule.field} must be an elementary item at a fixed "
                              "offset", source=self.source)
        choices = {}
        for value, name in rule.choices.items():
            if name.upper() not in self.by_name:
                raise LayoutError(f"record rule: no record named {name} (records: "
                                  f"{', '.join(self.by_name)})", source=self.source)
            choices[value] = self.by_name[name.upper()]
        self.record_rule = (rec, node, choices)

    def record_for(self, data: bytes) -> RecordLayout:
        """The record type of a data record: by the rule, else the only record."""
        if self.record_rule is None:
            if len(self.records) > 1:
                raise LayoutError(f"{len(self.records)} records in the copybook ("
                                  f"{', '.join(self.by_name)}): give a record rule or choose "
                                  "one", source=self.source)
            return self.records[0]
        _, node, choices = self.record_rule
        assert node.ftype is not None
        raw = data[node.offset:node.offset + node.length]
        if len(raw) < node.length:
            raise DecodeError(f"record of {len(data)} bytes is too short for {node.name}",
                              field=node.name, offset=len(data), data=data)
        value = _key(node.ftype.decode(raw, node.key, node.offset))
        rec = choices.get(value) or choices.get("*")
        if rec is None:
            raise DecodeError(f"{node.name} = {value!r} names no record type",
                              field=node.name, offset=node.offset, data=data)
        return rec

    def decode(self, data: bytes, *, padded: bool = False) -> dict[str, Any]:
        """The values of one record; ``padded``: the record sits in a fixed-length slot (F/FB
        files of several record types, or of variable records) and bytes past its end are
        padding."""
        rec = self.record_for(data)
        if padded and not rec.variable and len(data) > rec.length:
            data = data[:rec.length]
        return rec.decode(data)

    def encode(self, values: dict[str, Any]) -> bytes:
        """Bytes of one record; the record is the one named by the object's single top key,
        else the only one."""
        if len(self.records) == 1:
            return self.records[0].encode(values)
        if isinstance(values, dict) and len(values) == 1:
            (name,) = values
            if name in self.by_name:
                return self.by_name[name].encode(values)
        raise EncodeError(f"cannot tell which record this is: give an object with one key, "
                          f"the record name ({', '.join(self.by_name)})")


def load_copybook(path: str, *, copy_path: list[str] | None = None, **kw: Any) -> Copybook:
    """A Copybook from a file (COPY members searched in ``copy_path`` and the file's folder)."""
    from pathlib import Path

    from .source import copy_resolver

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise LayoutError(f"cannot read copybook: {exc.strerror}", source=str(p)) from None
    resolve = copy_resolver(list(copy_path or []), p.parent)
    return Copybook(data, source=str(p), resolve=resolve, **kw)

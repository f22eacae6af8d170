"""Property tests over random copybooks: encode -> decode -> encode is the identity for any
layout the generator makes (groups, fixed and nested OCCURS, OCCURS DEPENDING ON with items
after the table and nested in another, REDEFINES, FILLER, SYNC), and decode of any bytes
raises nothing but DecodeError."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clets.codecs.copybook.tree import Copybook, Node, RecordLayout
from clets.errors import DecodeError

# (picture and usage, kind, size): kind says how to draw a value
FIELDS = [
    ("PIC X(3)", "text", 3), ("PIC X", "text", 1), ("PIC 9(4)", "uint", 4),
    ("PIC S9(5)", "int", 5), ("PIC S9(5)V99 COMP-3", "dec2", 7), ("PIC 9(3) COMP-3", "uint", 3),
    ("PIC S9(4) COMP", "int", 4), ("PIC 9(9) BINARY", "uint", 9),
    ("PIC S9(4) COMP SYNC", "int", 4), ("PIC S9(3) SIGN LEADING SEPARATE", "int", 3),
]


@st.composite
def copybooks(draw: st.DrawFn) -> str:
    lines = ["       01  R."]
    counter = [0]

    def name() -> str:
        counter[0] += 1
        return f"F{counter[0]}"

    odo = draw(st.booleans())
    nested = draw(st.booleans())
    if odo:
        lines.append("           05  N1 PIC 9.")
        lines.append("           05  N2 PIC 9.")

    def items(level: int, depth: int, n: int) -> None:
        for _ in range(n):
            kind = draw(st.sampled_from(["field", "field", "group", "redef", "filler"]
                                        if depth < 3 else ["field"]))
            pad = " " * (11 + (level - 5) // 5 * 4)
            occurs = draw(st.sampled_from(["", "", "\n                OCCURS 2",
                                           "\n                OCCURS 3 TIMES"]))
            if kind == "field":
                pic = draw(st.sampled_from(FIELDS))[0]
                lines.append(f"{pad}{level:02d}  {name()} {pic}{occurs}.")
            elif kind == "filler":
                lines.append(f"{pad}{level:02d}  FILLER PIC X(2).")
            elif kind == "redef":
                base = name()
                lines.append(f"{pad}{level:02d}  {base} PIC X(4).")
                lines.append(f"{pad}{level:02d}  {name()} REDEFINES {base} PIC 9(4).")
            else:
                lines.append(f"{pad}{level:02d}  {name()}{occurs}.")
                items(level + 5, depth + 1, draw(st.integers(1, 3)))

    items(5, 1, draw(st.integers(1, 4)))
    if odo:
        lines.append(f"           05  {name()} OCCURS 0 TO 3 DEPENDING ON N1.")
        lines.append(f"               10  {name()} PIC X(2).")
        if nested:
            lines.append(f"               10  {name()} PIC S9(3) COMP-3 OCCURS 0 TO 2 "
                         "DEPENDING ON N2.")
        lines.append(f"               10  {name()} PIC 9(2).")
        lines.append(f"           05  {name()} PIC X(3).")
    text = "\n".join(lines) + "\n"
    assert max(map(len, text.splitlines())) <= 72
    return text


def _value(node: Node, draw: st.DrawFn, counts: dict[str, int]) -> Any:
    item = node.item
    if item.depending is not None:
        n = counts[item.depending[0]]
    else:
        n = item.occurs if item.has_occurs else 0
    if item.has_occurs:
        return [_one(node, draw, counts) for _ in range(n)]
    return _one(node, draw, counts)


def _one(node: Node, draw: st.DrawFn, counts: dict[str, int]) -> Any:
    if node.ftype is None:
        out: dict[str, Any] = {}
        for c in node.children:
            if c.item.filler or c.base is not None:
                continue  # no FILLER; one view of each REDEFINES area (the first)
            out[c.key] = _value(c, draw, counts)
        return out
    pic = node.item.picture or ""
    if "X" in pic:
        size = node.ftype.length
        return draw(st.text("ABCXYZ019 -", max_size=size)).rstrip()
    if node.name in counts:
        return counts[node.name]
    digits = int(pic[pic.index("(") + 1:pic.index(")")]) if "(" in pic else 1
    if "V99" in pic:
        return Decimal(draw(st.integers(-(10**7) + 1, 10**7 - 1))).scaleb(-2)
    if pic.startswith("S"):
        return draw(st.integers(-(10**digits) + 1, 10**digits - 1))
    return draw(st.integers(0, 10**digits - 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(copybooks(), st.data())
def test_encode_decode_encode_is_the_identity(text: str, data: st.DataObject) -> None:
    cb = Copybook(text)
    rec: RecordLayout = cb.records[0]
    counts = {"N1": data.draw(st.integers(0, 3)), "N2": data.draw(st.integers(0, 2))}
    value = {"R": _one(rec.root, data.draw, counts)}
    raw = cb.encode(value)
    assert rec.min_length <= len(raw) <= rec.length
    back = cb.decode(raw)
    assert cb.encode(back) == raw
    # every value given comes back (the other REDEFINES views are extra keys)
    _contains(back["R"], value["R"])


def _contains(got: Any, want: Any) -> None:
    if isinstance(want, dict):
        for k, v in want.items():
            _contains(got[k], v)
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            _contains(g, w)
    else:
        assert got == want, (got, want)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(copybooks(), st.binary(max_size=400))
def test_decode_of_any_bytes_raises_only_decode_error(text: str, data: bytes) -> None:
    try:
        Copybook(text).decode(data)
    except DecodeError:
        pass

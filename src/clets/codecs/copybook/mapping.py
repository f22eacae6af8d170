"""Copybook field <-> canonical model path, from an editable TOML table, compiled to code.

The mapping file is data (see the copybook section of docs/codecs.md for the format)::

    [record]                  # optional: the record a response carries
    file = "registration"     # Record.file
    when = "RR-STATUS"        # records[0] exists only when this field ...
    equals = "H"              # ... holds this raw value; else record.* go to the message

    [fields]
    RR-CONTROL = "control"                                   # shorthand: just a path
    RR-ORI     = { path = "destinations[0]", type = "ident" }
    RR-STATUS  = { path = "status", codes = { H = "hit", N = "no_hit", E = "error" } }
    RR-FEES-DUE = { path = "record.registration.fees_due", type = "number" }
    RQ-SEARCH-TYPE = { derive = { "vehicle.plate" = "P", "*" = "V" } }

Why generated code: a per-field interpreter (``set_path`` for each field) costs ~1.5 µs a
field and would miss the speed target by far; the table is instead turned once into one Python
function with constant offsets and direct constructor calls (layout.py explains the field
part).  The value types are those of the ONE field dictionary (``clets.model``): when a path
has a row there (``person.dob`` -> ``date``), its type is used unless the mapping overrides it.
"""

from __future__ import annotations

import datetime as _dt
import tomllib
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from clets.errors import EncodeError, LayoutError, ValidationError
from clets.model import Message, Record, default_dictionary, is_empty, is_model, model_fields
from clets.model.dictionary import FieldDef

from .layout import (
    Field,
    Layout,
    Namespace,
    compile_source,
    emit_decode,
    emit_encode,
    emit_join,
    emit_length_check,
    filler_part,
)

__all__ = ["Mapping", "Rule", "generate", "parse_mapping"]

#: value types a mapping may name (dictionary types plus copybook-only ones)
TYPES = {"text", "ident", "code", "color", "plate_year", "name", "date", "height", "int",
         "digits", "number", "bool", "codes"}
_DICT_TYPES = {"text", "ident", "code", "color", "plate_year", "name", "date", "height", "int",
               "digits"}
_TEXT_ONLY = {"ident", "code", "color", "plate_year", "name", "codes"}


@dataclass(slots=True)
class Rule:
    """How one copybook field maps to the model."""

    field: Field
    index: int  # position in layout.fields (names the generated variables)
    path: str | None  # "mke", "vehicle.plate", "record.owner.name", "fields.PTS", ...
    type: str = "text"
    codes: dict[str, Any] | None = None
    null_zero: bool = False
    derive: list[tuple[str, str]] | None = None
    ignore: bool = False
    fd: FieldDef | None = None

    @property
    def in_record(self) -> bool:
        return self.path is not None and self.path.startswith("record.")

    @property
    def rel(self) -> str:
        assert self.path is not None
        return self.path[len("record."):] if self.in_record else self.path


@dataclass(slots=True)
class Mapping:
    rules: list[Rule]
    file: str | None = None
    when: Rule | None = None
    equals: str | None = None
    has_record: bool = False
    source: str = "<mapping>"
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- path checks


def _child_type(cls: type, attr: str) -> Any:
    hints = typing.get_type_hints(cls)
    py = "class_" if attr == "class" else attr
    if py not in hints:
        return None
    hint = hints[py]
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    return args[0]


def _check_path(path: str, root: type, key: str, source: str) -> None:
    if root is Message and path == "destinations[0]":
        return
    steps = path.split(".")
    cls: Any = root
    for n, step in enumerate(steps):
        if step == "fields" and n == len(steps) - 2:
            return  # fields.TAG
        hint = _child_type(cls, step) if is_model(cls) else None
        if hint is None:
            raise LayoutError(f"{key}: no slot {step!r} in path {path!r}", source=source)
        cls = hint
    if is_model(cls) and cls.__name__ != "Name":
        raise LayoutError(f"{key}: path {path!r} names an object, not a value", source=source)
    if cls in (list, dict) or typing.get_origin(cls) in (list, dict):
        raise LayoutError(f"{key}: path {path!r} names a list or map", source=source)


def _dictionary_row(rel: str) -> FieldDef | None:
    by_path = default_dictionary().by_path
    if rel.startswith("owner."):
        rel = "person." + rel[len("owner."):]
    return by_path.get(rel)


def parse_mapping(text: str, layout: Layout, source: str = "<mapping>") -> Mapping:
    """Read and check a mapping table against a layout (every error names the key)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"not valid TOML: {exc}", source=source) from None
    unknown = set(data) - {"record", "fields"}
    if unknown:
        raise LayoutError(f"unknown section(s) {sorted(unknown)}", source=source)
    table = data.get("fields", {})
    record = data.get("record")
    index = {f.key: i for i, f in enumerate(layout.fields) if not f.filler}
    rules: dict[str, Rule] = {}
    for key, spec in table.items():
        if key not in index:
            raise LayoutError(f"{key}: no such field in copybook record {layout.name}",
                              source=source)
        i = index[key]
        rules[key] = _rule(key, spec, layout.fields[i], i, record is not None, source)
    for key, i in index.items():  # nothing is lost: unmapped fields go to `fields`
        if key not in rules:
            f = layout.fields[i]
            rules[key] = Rule(f, i, f"fields.{key}", "number" if f.numeric else "text",
                              null_zero=True)
    mapping = Mapping(sorted(rules.values(), key=lambda r: r.index), source=source,
                      has_record=record is not None)
    if record is not None:
        extra = set(record) - {"file", "when", "equals"}
        if extra:
            raise LayoutError(f"[record]: unknown key(s) {sorted(extra)}", source=source)
        mapping.file = record.get("file")
        if "when" in record:
            when = rules.get(record["when"])
            if when is None or when.field.kind != "text" or "equals" not in record:
                raise LayoutError("[record]: `when` must name a PIC X field and come with "
                                  "`equals`", source=source)
            mapping.when, mapping.equals = when, str(record["equals"])
    return mapping


def _rule(key: str, spec: Any, f: Field, i: int, has_record: bool, source: str) -> Rule:
    if isinstance(spec, str):
        spec = {"path": spec}
    if not isinstance(spec, dict):
        raise LayoutError(f"{key}: expected a path or an inline table", source=source)
    extra = set(spec) - {"path", "type", "codes", "null_zero", "derive", "ignore"}
    if extra:
        raise LayoutError(f"{key}: unknown key(s) {sorted(extra)}", source=source)
    if spec.get("ignore"):
        return Rule(f, i, None, ignore=True)
    if "derive" in spec:
        if f.kind != "text" or not isinstance(spec["derive"], dict) or not spec["derive"]:
            raise LayoutError(f"{key}: derive needs a PIC X field and a table of "
                              "path = code", source=source)
        cases = [(str(p), str(c)) for p, c in spec["derive"].items()]
        for p, _ in cases:
            if p != "*":
                _check_path(p, Message, key, source)
        return Rule(f, i, None, derive=cases)
    path = spec.get("path")
    if not isinstance(path, str):
        raise LayoutError(f"{key}: `path` missing", source=source)
    rule = Rule(f, i, path, null_zero=bool(spec.get("null_zero", f.numeric and not f.signed)))
    if rule.in_record:
        if not has_record:
            raise LayoutError(f"{key}: record.* paths need a [record] section", source=source)
        _check_path(rule.rel, Record, key, source)
    else:
        _check_path(path, Message, key, source)
    row = _dictionary_row(rule.rel)
    if "codes" in spec or spec.get("type") == "bool":
        codes = spec.get("codes", {"Y": True, "N": False})
        if not isinstance(codes, dict) or not codes:
            raise LayoutError(f"{key}: codes must be a table raw = value", source=source)
        rule.type, rule.codes = "codes", codes
    else:
        rule.type = spec.get("type") or (row.type if row is not None else
                                         ("number" if f.numeric else "text"))
    if rule.type not in TYPES:
        raise LayoutError(f"{key}: unknown type {rule.type!r} (one of {sorted(TYPES)})",
                          source=source)
    if f.numeric and rule.type in _TEXT_ONLY:
        raise LayoutError(f"{key}: type {rule.type} needs a PIC X field", source=source)
    if f.numeric and rule.type == "text":
        rule.type = "number"
    if f.numeric and rule.type == "date" and f.digits != 8:
        raise LayoutError(f"{key}: a numeric date must be 9(8) CCYYMMDD", source=source)
    if f.scale and rule.type not in ("number", "text"):
        raise LayoutError(f"{key}: PIC with V maps only to type number", source=source)
    if rule.type in _DICT_TYPES:
        rule.fd = row if row is not None and row.type == rule.type else FieldDef(
            tag=key, path=rule.rel, type=rule.type)
    return rule


# --------------------------------------------------------------------------- converters


def _name_or_none(fd: FieldDef) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        name = fd.parse(text)
        return None if is_empty(name) else name

    return parse


def _digits_text(fd: FieldDef, width: int) -> Callable[[int], Any]:
    def parse(value: int) -> Any:
        if value < 0:
            raise ValueError("negative")
        return fd.parse(f"{value:0{width}d}")

    return parse


def _date_from_units(value: int) -> str:
    if not 0 < value <= 99991231:
        raise ValueError("not a calendar date (CCYYMMDD)")
    try:
        return _dt.date(value // 10000, value // 100 % 100, value % 100).isoformat()
    except ValueError:
        raise ValueError("not a calendar date (CCYYMMDD)") from None


def _date_units(value: str) -> int:
    d = _dt.date.fromisoformat(value)
    return d.year * 10000 + d.month * 100 + d.day


def _date_text(value: str) -> str:
    return _dt.date.fromisoformat(value).strftime("%Y%m%d")


def _number(scale: int) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise TypeError(f"expected a decimal string, got {type(value).__name__}")
        if scale == 0:
            return int(value) if not isinstance(value, Decimal) else value
        d = Decimal(value)
        if not d.is_finite():
            raise ValueError("not a finite number")
        return d

    return parse


def _digits(value: Any) -> int:
    if not isinstance(value, str) or not value.isdecimal() or not value.isascii():
        raise ValueError("expected a string of digits")
    return int(value)


def _int_text(value: str) -> int:
    if not value.strip().isdecimal():
        raise ValueError("not a number")
    return int(value)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- code generation


def _number_text(f: Field) -> str:
    return "str({v})" if not f.scale else "format({v}, 'f')"


def _decode_expr(rule: Rule, v: str, ns: Namespace) -> tuple[str, bool]:
    """(expression for the model value of raw value ``v``, can it raise)."""
    f, t = rule.field, rule.type
    cond = f"{v}" if rule.null_zero else f"{v} is not None"
    if not f.numeric:
        if t in ("text", "digits", "number"):
            return f"({v} or None)", False
        if t == "ident":
            return f"({v}.upper().replace(' ', '').replace('-', '') or None)", False
        if t in ("code", "color", "plate_year"):
            return f"({v}.lstrip().upper() or None)", False
        if t == "codes":
            assert rule.codes is not None
            return f"({ns.add(rule.codes, 'codes')}[{v}] if {v} else None)", True
        assert rule.fd is not None
        if t == "name":
            return f"({ns.add(_name_or_none(rule.fd), 'name')}({v}) if {v} else None)", True
        if t == "int":
            return f"({ns.add(_int_text, 'int')}({v}) if {v} else None)", True
        return f"({ns.add(rule.fd.parse, 'parse')}({v}) if {v} else None)", True
    if t == "int":
        return (f"({v} or None)" if rule.null_zero else v), False
    if t == "number":
        return f"({_number_text(f).format(v=v)} if {cond} else None)", False
    if t == "digits":
        return f"(format({v}, '0{f.digits}d') if {cond} else None)", False
    if t == "date":  # CCYYMMDD as a number: the dictionary's date rule, without the text
        return f"({ns.add(_date_from_units, 'date')}({v}) if {cond} else None)", True
    assert rule.fd is not None  # height
    conv = ns.add(_digits_text(rule.fd, f.digits), "dt")
    return f"({conv}({v}) if {cond} else None)", True


def _encode_expr(rule: Rule, x: str, ns: Namespace) -> str:
    """Expression for the field value of model value ``x`` (not None)."""
    f, t = rule.field, rule.type
    if t == "codes":
        assert rule.codes is not None
        reverse = {v: k for k, v in rule.codes.items()}
        return f"{ns.add(reverse, 'rcodes')}[{x}]"
    if not f.numeric:
        if t in ("name", "height"):
            assert rule.fd is not None
            return f"{ns.add(rule.fd.format, 'fmt')}({x})"
        if t == "date":
            return f"{ns.add(_date_text, 'fmt')}({x})"
        if t == "int":
            return f"str({ns.add(_int, 'int')}({x}))"
        return x
    if t == "int":
        return x
    if t == "number":
        return f"{ns.add(_number(f.scale), 'num')}({x})"
    if t == "digits":
        return f"{ns.add(_digits, 'digits')}({x})"
    if t == "date":
        return f"{ns.add(_date_units, 'date')}({x})"
    assert rule.fd is not None
    return f"int({ns.add(rule.fd.format, 'fmt')}({x}))"


def _raw_encode_expr(rule: Rule, x: str, ns: Namespace) -> str:
    """Field value of a wire string kept in ``fields`` (no slot for it on the message)."""
    if rule.field.numeric:
        return f"{ns.add(_number(rule.field.scale), 'num')}({x})"
    return x


class _Tree:
    """Target paths -> expressions, emitted as nested constructor calls."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def put(self, path: str, expr: str) -> None:
        node = self.items
        steps = path.split(".")
        if steps[-2:-1] == ["fields"]:
            steps = [*steps[:-2], "fields", "\0" + steps[-1]]
        for step in steps[:-1]:
            node = node.setdefault(step, {})
        node[steps[-1]] = expr


class _Gen:
    def __init__(self, ns: Namespace) -> None:
        self.ns = ns
        self.lines: list[str] = []
        self.n = 0

    def var(self, hint: str) -> str:
        self.n += 1
        return f"{hint}{self.n}"

    def obj(self, cls: type, node: dict[str, Any], indent: str, root: bool = False,
            extra: str = "") -> str:
        kwargs, conds = [], []
        cname = self.ns.add(cls, cls.__name__)
        for attr, sub in node.items():
            py = "class_" if attr == "class" else attr
            if attr == "destinations[0]":
                kwargs.append(f"destinations=[{sub}] if {sub} is not None else []")
                continue
            if attr == "fields":
                d = self.var("fd")
                self.lines.append(f"{indent}{d} = {{}}")
                for key, expr in sub.items():
                    self.lines.append(f"{indent}x = {expr}")
                    self.lines.append(f"{indent}if x is not None: {d}[{key[1:]!r}] = x")
                kwargs.append(f"fields={d}")
                conds.append(d)
                continue
            if isinstance(sub, dict):
                value = self.obj(_child_type(cls, attr), sub, indent)
            elif sub.isidentifier():
                value = sub
            else:
                value = self.var("a")
                self.lines.append(f"{indent}{value} = {sub}")
            kwargs.append(f"{py}={value}")
            conds.append(f"{value} is not None")
        call = f"{cname}({extra}{', '.join(kwargs)})"
        if root:
            return call
        out = self.var("o")
        self.lines.append(f"{indent}{out} = {call} if {' or '.join(conds) or 'False'} else None")
        return out


def _message_slot(rel: str) -> bool:
    if rel == "destinations[0]":
        return True
    first = rel.split(".", 1)[0]
    return first in model_fields(Message)


def generate(layout: Layout, mapping: Mapping, name: str) -> tuple[
        Callable[[bytes], Message], Callable[[Message], bytes],
        Callable[[dict[str, Any]], Message], Callable[[Message], dict[str, Any]]]:
    """(decode, encode, from_fields, to_fields) functions for one codec.

    ``decode``/``encode`` are the fused fast path (bytes <-> Message).  ``from_fields`` and
    ``to_fields`` are the same mapping code over a flat field dict, so the construct layout
    can be used instead of the generated field code (tests compare both).
    """
    ns = Namespace(layout.encoding)
    ns.values.update({"NAME": name, "ValidationError": ValidationError, "Record": Record,
                      "_verr": _decode_error, "_eerr": _encode_error, "_Msg": Message})
    rules = [r for r in mapping.rules if not r.ignore]
    fdecode = [ln for r in rules for ln in emit_decode(r.field, f"v{r.index}", ns)]
    fdict = [f"v{r.index} = d[{r.field.key!r}]" for r in rules]
    body = _decode_body(mapping, rules, ns)
    dec_src = ("def decode(buf):\n" +
               "".join(f"    {x}\n" for x in [*emit_length_check(layout, ns),
                                               "t = buf.decode(ENC)", *fdecode, *body]))
    from_src = ("def from_fields(d):\n" +
                "".join(f"    {x}\n" for x in [*fdict, *body]))
    ebody, wvars = _encode_body(mapping, rules, ns)
    parts, enc_lines = [], []
    for i, f in enumerate(layout.fields):
        if f.filler:
            parts.append(filler_part(f, ns))
            continue
        w = wvars.get(i, "None")
        enc_lines += emit_encode(f, w, f"p{i}", ns)
        parts.append(f"p{i}")
    enc_src = ("def encode(msg):\n" + "".join(
        f"    {x}\n" for x in [*ebody, *enc_lines, *emit_join(layout, parts, ns)]))
    items = ", ".join(f"{layout.fields[i].key!r}: {w}" for i, w in wvars.items())
    to_src = ("def to_fields(msg):\n" +
              "".join(f"    {x}\n" for x in [*ebody, f"return {{{items}}}"]))
    return (compile_source(dec_src, ns, "decode"), compile_source(enc_src, ns, "encode"),
            compile_source(from_src, ns, "from_fields"), compile_source(to_src, ns, "to_fields"))


def _decode_error(rule: Rule, value: Any, exc: Exception) -> ValidationError:
    reason = exc.reason if isinstance(exc, ValidationError) else (
        f"unknown code (expected one of {', '.join(map(repr, rule.codes))})"
        if isinstance(exc, KeyError) and rule.codes else f"cannot read as {rule.type}: {exc}")
    return ValidationError(reason, field=rule.field.key, value=value, offset=rule.field.offset)


def _encode_error(rule: Rule, value: Any, exc: Exception) -> EncodeError:
    if isinstance(exc, KeyError) and rule.codes:
        reason = (f"{value!r} has no code (expected one of "
                  f"{', '.join(map(repr, rule.codes.values()))})")
    elif isinstance(exc, ValidationError):
        reason = f"{value!r}: {exc.reason}"
    else:
        reason = f"{value!r} cannot be written as {rule.type}: {exc}"
    return EncodeError(reason, field=rule.field.key, offset=rule.field.offset)


_CATCH = "(KeyError, ValueError, TypeError, AttributeError, ArithmeticError, ValidationError)"


def _decode_body(mapping: Mapping, rules: list[Rule], ns: Namespace) -> list[str]:
    lines: list[str] = []
    model: dict[int, str] = {}
    for r in rules:
        v = f"v{r.index}"
        if r.derive is not None:  # derived on encode; on decode only checked
            codes = ns.add(frozenset(c for _, c in r.derive), "dcodes")
            rv = ns.add(r, "rule")
            lines.append(f"if {v} not in {codes}: raise _verr({rv}, {v}, "
                         f"ValueError('not one of ' + ', '.join(sorted({codes}))))")
            continue
        expr, fails = _decode_expr(r, v, ns)
        m = f"m{r.index}"
        if fails:
            rv = ns.add(r, "rule")
            lines += [f"try: {m} = {expr}",
                      f"except {_CATCH} as e: raise _verr({rv}, {v}, e) from None"]
        else:
            lines.append(f"{m} = {expr}")
        model[r.index] = m
    mapped = [r for r in rules if r.path is not None]

    def branch(hit: bool, indent: str) -> list[str]:
        g = _Gen(ns)
        msg = _Tree()
        rec = _Tree()
        for r in mapped:
            m = model[r.index]
            if not r.in_record:
                msg.put(r.rel, m)
            elif hit:
                rec.put(r.rel, m)
            elif _message_slot(r.rel):
                msg.put(r.rel, f"({m} if v{r.index} else None)")
            else:  # no slot on the message: keep the wire value in `fields`
                v = f"v{r.index}"
                raw = (f"({_number_text(r.field).format(v=v)} if {v} else None)"
                       if r.field.numeric else f"({v} or None)")
                msg.put(f"fields.{r.field.key}", raw)
        extra = "format=NAME, "
        if hit:
            rec_call = g.obj(Record, rec.items, indent, root=True,
                             extra=f"file={mapping.file!r}, " if mapping.file else "")
            extra += f"records=[{rec_call}], "
        call = g.obj(Message, msg.items, indent, root=True, extra=extra)
        return [*g.lines, f"{indent}return {call}"]

    if not mapping.has_record:
        return lines + branch(False, "")
    if mapping.when is None:
        return lines + branch(True, "")
    lines.append(f"if v{mapping.when.index} == {mapping.equals!r}:")
    lines += [x for x in branch(True, "    ")]
    lines += branch(False, "")
    return lines


class _Reader:
    """Emits attribute reads with None checks, sharing intermediate objects."""

    def __init__(self, root: str, lines: list[str], indent: str, prefix: str) -> None:
        self.root, self.lines, self.indent, self.prefix = root, lines, indent, prefix
        self.cache: dict[str, str] = {"": root}
        self.n = 0

    def read(self, path: str) -> str:
        steps = ["class_" if s == "class" else s for s in path.split(".")]
        if len(steps) >= 2 and steps[-2] == "fields":
            obj = self._obj(steps[:-2])
            return (f"({obj}.fields.get({steps[-1]!r}) if {obj} is not None else None)")
        obj = self._obj(steps[:-1])
        return f"({obj}.{steps[-1]} if {obj} is not None else None)" if steps[:-1] else \
            f"{obj}.{steps[-1]}"

    def _obj(self, steps: list[str]) -> str:
        key = ".".join(steps)
        if key in self.cache:
            return self.cache[key]
        parent = self._obj(steps[:-1])
        self.n += 1
        var = f"{self.prefix}{self.n}"
        if steps[:-1]:
            self.lines.append(f"{self.indent}{var} = {parent}.{steps[-1]} if {parent} is not "
                              "None else None")
        else:
            self.lines.append(f"{self.indent}{var} = {parent}.{steps[-1]}")
        self.cache[key] = var
        return var


def _encode_body(mapping: Mapping, rules: list[Rule], ns: Namespace) -> tuple[
        list[str], dict[int, str]]:
    lines = ["recs = msg.records",
             "if len(recs) > 1: raise EncodeError('this record carries at most one "
             "record', format=NAME)",
             "rec = recs[0] if recs else None"]
    if not mapping.has_record:
        lines.append("if rec is not None: raise EncodeError('this record carries no records', "
                     "format=NAME)")
    elif mapping.file:
        lines.append(f"if rec is not None and rec.file not in (None, {mapping.file!r}): "
                     f"raise EncodeError('record file must be {mapping.file}', format=NAME)")
    wvars: dict[int, str] = {}
    top = _Reader("msg", lines, "", "mo")

    def convert(r: Rule, x: str, out: list[str], indent: str, raw: bool = False) -> None:
        w = f"w{r.index}"
        expr = _raw_encode_expr(r, "x", ns) if raw else _encode_expr(r, "x", ns)
        rv = ns.add(r, "rule")
        out += [f"{indent}x = {x}",
                f"{indent}try: {w} = None if x is None else {expr}",
                f"{indent}except {_CATCH} as e: raise _eerr({rv}, x, e) from None"]
        wvars[r.index] = w

    for r in rules:
        if r.path is None or r.in_record:
            continue
        if r.path == "destinations[0]":
            lines += ["d = msg.destinations",
                      "if len(d) > 1: raise EncodeError('only one destination fits', "
                      f"field={r.field.key!r}, offset={r.field.offset})"]
            convert(r, "d[0] if d else None", lines, "")
        else:
            convert(r, top.read(r.path), lines, "")
    recrules = [r for r in rules if r.in_record]
    if recrules:
        # message-level reads for the no-record case are emitted before the branch, so their
        # intermediate objects are assigned at the top level
        pre = {r.index: top.read(r.rel) for r in recrules if _message_slot(r.rel)}
        lines.append("if rec is not None:")
        reader = _Reader("rec", lines, "    ", "ro")
        for r in recrules:
            convert(r, reader.read(r.rel), lines, "    ")
        lines.append("else:")
        for r in recrules:
            if r.index in pre:
                convert(r, pre[r.index], lines, "    ")
            else:
                convert(r, f"msg.fields.get({r.field.key!r})", lines, "    ", raw=True)
    if mapping.when is not None:
        w = wvars[mapping.when.index]
        lines.append(f"if ({w} == {mapping.equals!r}) != (rec is not None): raise EncodeError("
                     f"'{mapping.when.field.key} {mapping.equals} goes with exactly one record "
                     f"(and only then)', field={mapping.when.field.key!r}, "
                     f"offset={mapping.when.field.offset}, format=NAME)")
    for r in rules:
        if r.derive is None:
            continue
        expr = repr(r.derive[-1][1]) if r.derive[-1][0] == "*" else "None"
        for path, code in reversed([d for d in r.derive if d[0] != "*"]):
            expr = f"({code!r} if {top.read(path)} is not None else {expr})"
        lines.append(f"w{r.index} = {expr}")
        wvars[r.index] = f"w{r.index}"
    return lines, wvars

"""``clets copybook layout|decode|encode``: any copybook, without writing a mapping.

An integrator's first act is to drop in the copybook their mainframe team hands them and look
at the data: ``layout`` prints the offsets as cb2xml's and Cobrix's dumps do, ``decode`` turns
a data set into JSON lines (streamed: memory stays flat whatever the file size), ``encode``
turns JSON lines back into records.  Record types and REDEFINES views are chosen by rules
given on the command line (data, not code).

Exit status: 0 all records done; 1 some records were bad and skipped into the reject file
(their count is printed); 2 an error stopped the run (bad copybook, bad record without
``--skip-bad``, bad framing).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import click

from clets.codecs.copybook.parser import DEFAULT_LIMIT, Figurative
from clets.codecs.copybook.records import FORMATS, RecordFormat, RecordJoiner, RecordSplitter
from clets.codecs.copybook.tree import (
    Copybook,
    FieldOptions,
    Node,
    RecordLayout,
    RecordRule,
    RedefineRule,
    load_copybook,
)
from clets.errors import CletsError, DecodeError, EncodeError, LayoutError

__all__ = ["layout_json", "layout_table", "register"]

_ENCODINGS = ("cp037", "cp1140", "cp273", "cp500", "cp1047", "ascii")
_CHUNK = 1 << 20


def _parse_rules(specs: tuple[str, ...], what: str) -> list[tuple[str, str, str]]:
    """FIELD=VALUE:TARGET -> (field, value, target)."""
    out = []
    for spec in specs:
        left, sep, target = spec.rpartition(":")
        field, eq, value = left.partition("=")
        if not sep or not eq or not field.strip() or not target.strip():
            raise click.BadParameter(f"{spec!r}: expected FIELD=VALUE:{what} (VALUE * for any "
                                     "other value)", param_hint=f"--{what.lower()}")
        out.append((field.strip().upper(), value, target.strip().upper()))
    return out


def _keyed_values(specs: tuple[str, ...], cls: type, reserved: tuple[str, ...], hint: str,
                  extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """KEY=VALUE options for the fields of the dataclass ``cls`` (not ``reserved``), each
    converted by the type of the field's default; pairs whose KEY is in ``extra`` are returned
    apart, for the caller."""
    import dataclasses

    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in reserved}
    values: dict[str, Any] = {}
    others: list[tuple[str, str]] = []
    for spec in specs:
        key, eq, value = spec.partition("=")
        key = key.strip().replace("-", "_")
        if key in extra:
            others.append((key, value))
            continue
        if not eq or key not in known:
            raise click.BadParameter(f"{spec!r}: expected KEY=VALUE with KEY one of "
                                     + ", ".join([*known, *extra]), param_hint=hint)
        default = known[key].default
        if isinstance(default, bool):
            values[key] = value.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(default, int):
            try:
                values[key] = int(value)
            except ValueError:
                raise click.BadParameter(f"{spec!r}: {key} is a number",
                                         param_hint=hint) from None
        else:
            values[key] = value.strip()
    return values, others


def _field_options(encoding: str, fields: tuple[str, ...]) -> tuple[FieldOptions, bool]:
    """FieldOptions from --encoding and --field KEY=VALUE (and whether decimal_comma)."""
    values, others = _keyed_values(fields, FieldOptions, ("encoding",), "--field",
                                   ("decimal_comma",))
    comma = False
    for _key, value in others:
        comma = value.strip().lower() in ("1", "true", "yes", "on", "")
    return FieldOptions(encoding=encoding, **values), comma


def _record_format(fmt: str, length: int | None, limit: int, specs: tuple[str, ...]
                   ) -> RecordFormat:
    """RecordFormat from --record-format, the record length and --record-option KEY=VALUE."""
    values, _ = _keyed_values(specs, RecordFormat, ("format", "length", "max_record"),
                              "--record-option")
    try:
        return RecordFormat(fmt, length if fmt in ("F", "FB") else None, max_record=limit,
                            **values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--record-option") from None


def _load(cpy: str, encoding: str, copy_path: tuple[str, ...], source_format: str,
          limit: int, record_types: tuple[str, ...], redefines: tuple[str, ...],
          conditions: bool = False, record: str | None = None,
          fields: tuple[str, ...] = ()) -> Copybook:
    options, comma = _field_options(encoding, fields)
    cb = load_copybook(cpy, copy_path=list(copy_path), fmt=source_format, limit=limit,
                       options=options, conditions=conditions, decimal_comma=comma)
    if record:
        cb.select(record)
    rt = _parse_rules(record_types, "RECORD")
    if rt:
        tested = {f for f, _, _ in rt}
        if len(tested) > 1:
            raise click.BadParameter("all --record-type rules must test the same field",
                                     param_hint="--record-type")
        cb.set_record_rule(RecordRule(rt[0][0], {v: t for _, v, t in rt}))
    groups: dict[tuple[int, str, str], dict[str, str]] = {}
    for field, value, view in _parse_rules(redefines, "VIEW"):
        for rec in cb.records:
            try:
                node = rec.find(view)
            except LayoutError:
                continue
            base = node.base or node
            if not base.views:
                raise click.BadParameter(f"{view} is not part of a REDEFINES",
                                         param_hint="--redefine")
            groups.setdefault((id(rec), base.qualified(), field), {})[value] = view
            break
        else:
            raise click.BadParameter(f"no item {view} in the copybook", param_hint="--redefine")
    for (rid, area, field), choices in groups.items():
        for rec in cb.records:
            if id(rec) == rid:
                rec.set_rule(RedefineRule(area, field, choices))
    return cb


def _common(fn: Any) -> Any:
    for opt in reversed([
        click.option("--encoding", "-e", type=click.Choice(_ENCODINGS), default="cp037",
                     show_default=True, help="code page of the data"),
        click.option("--copy-path", "-I", multiple=True, metavar="DIR",
                     help="folder holding COPY members (repeatable; the copybook's own folder "
                          "is searched last)"),
        click.option("--source-format", type=click.Choice(["fixed", "free"]), default="fixed",
                     show_default=True, help="copybook source format (>>SOURCE FORMAT FREE in "
                                             "the text also switches)"),
        click.option("--limit", type=click.IntRange(1), default=DEFAULT_LIMIT, show_default=True,
                     help="largest record accepted, in bytes"),
        click.option("--field", "fields", multiple=True, metavar="KEY=VALUE",
                     help="field options (repeatable): trunc=std|bin, floating=hfp|ieee, "
                          "low_values/high_values=keep|space|error, trim=none|right|left|both, "
                          "pointer_size=4|8, ascii_sign=ibm|mf, lenient=true, "
                          "decimal_comma=true"),
        click.option("--record-type", "record_types", multiple=True,
                     metavar="FIELD=VALUE:RECORD",
                     help="which 01 record a data record is, by a field's value (repeatable; "
                          "VALUE * for any other)"),
        click.option("--record", default=None, metavar="NAME",
                     help="read and write only this 01 record of the copybook"),
        click.option("--redefine", "redefines", multiple=True, metavar="FIELD=VALUE:VIEW",
                     help="which REDEFINES view to read and write, by a field's value "
                          "(repeatable; default: every view)"),
    ]):
        fn = opt(fn)
    return fn


# ---------------------------------------------------------------------------- layout


def _lit(v: Any) -> str:
    if isinstance(v, Figurative):
        return "ALL " + _lit(v.literal) if v.name == "ALL" else v.name
    if isinstance(v, bytes):
        return f"X'{v.hex().upper()}'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    return str(v)


def layout_table(cb: Copybook) -> str:
    """Level, name, picture, usage, offset (from 0), length, and notes, one line an item."""
    rows: list[str] = []
    dup: dict[str, int] = {}
    for rec in cb.records:
        for n in rec.nodes:
            dup[n.name] = dup.get(n.name, 0) + 1
    head = (f"{'LVL':3} {'NAME':34} {'PICTURE':16} {'USAGE':9} {'OFFSET':>7} {'LENGTH':>7}  "
            "NOTES")
    for rec in cb.records:
        size = (f"{rec.length} bytes" if not rec.variable
                else f"{rec.min_length} to {rec.length} bytes (OCCURS DEPENDING ON)")
        rows.append(f"record {rec.name}: {size}")
        rows.extend(f"  (offsets only, data cannot be read: {exc})" for exc in rec.unreadable)
        rows.append(head)
        for n in rec.nodes:
            rows.extend(_node_rows(rec, n, dup))
        for rn in rec.renames:
            assert rn.renames is not None
            item = rn.item
            assert item.renames is not None
            a, b = item.renames
            what = " OF ".join(a) + (" THRU " + " OF ".join(b) if b else "")
            rows.append(f"{66:3d} {rn.name:34} {'':16} {'':9} {rn.renames[0]:7d} "
                        f"{rn.renames[1]:7d}  RENAMES {what}")
        rows.append("")
    return "\n".join(rows)


def layout_json(cb: Copybook) -> dict[str, Any]:
    """The layout as data: every item with its full path, offset (from 0) and length."""
    recs = []
    for rec in cb.records:
        items = []
        for n in rec.nodes:
            it = n.item
            entry: dict[str, Any] = {
                "level": it.level, "name": it.name, "path": list(n.path()),
                "picture": it.picture, "usage": it.usage if n.ftype is not None else None,
                "offset": n.offset, "length": n.length, "line": it.line}
            if it.has_occurs:
                entry["occurs"] = it.occurs
                if it.depending:
                    entry["occurs_min"] = it.occurs_min
                    entry["depending_on"] = " OF ".join(it.depending)
            if it.redefines:
                entry["redefines"] = it.redefines
            if it.sync:
                entry["sync_slack"] = n.slack_before
            if it.conditions:
                entry["conditions"] = {c.name: [[_lit(lo), _lit(hi) if hi is not None else None]
                                                for lo, hi in c.values] for c in it.conditions}
            items.append(entry)
        renames = [{"name": r.name, "offset": r.renames[0], "length": r.renames[1]}
                   for r in rec.renames if r.renames is not None]
        recs.append({"name": rec.name, "length": rec.length, "min_length": rec.min_length,
                     "variable": rec.variable, "items": items, "renames": renames,
                     "unreadable": [str(e) for e in rec.unreadable]})
    return {"source": cb.source, "records": recs}


def _node_rows(rec: RecordLayout, n: Node, dup: dict[str, int]) -> list[str]:
    item = n.item
    depth = len(n.path()) - 1
    name = "  " * depth + n.name
    if dup.get(n.name, 0) > 1 and not item.filler:
        name += f" ({n.qualified()})"
    notes = []
    if item.redefines:
        notes.append(f"REDEFINES {item.redefines}")
    if item.has_occurs:
        if item.depending:
            notes.append(f"OCCURS {item.occurs_min} TO {item.occurs} DEPENDING ON "
                         + " OF ".join(item.depending))
        else:
            notes.append(f"OCCURS {item.occurs}")
    if item.sync:
        notes.append("SYNC" + (f" (+{n.slack_before} slack)" if n.slack_before else ""))
    if item.sign_position:
        notes.append(f"SIGN {item.sign_position.upper()}"
                     + (" SEPARATE" if item.sign_separate else ""))
    if item.justified:
        notes.append("JUSTIFIED")
    if item.blank_when_zero:
        notes.append("BLANK WHEN ZERO")
    usage = item.usage.upper() if n.ftype is not None else ""
    level = item.level if item.level else 0
    rows = [f"{level:3d} {name:34} {item.picture or '':16} {usage:9} {n.offset:7d} "
            f"{n.length:7d}  {'; '.join(notes)}".rstrip()]
    for c in item.conditions:
        vals = ", ".join(_lit(lo) + (f" THRU {_lit(hi)}" if hi is not None else "")
                         for lo, hi in c.values)
        rows.append(f"{88:3d} {'  ' * (depth + 1) + c.name:34} {'':16} {'':9} {'':7} {'':7}  "
                    f"VALUE {vals}")
    return rows


# ---------------------------------------------------------------------------- decode


class _Progress:
    """A one-line progress report on a terminal, at most a few times a second."""

    def __init__(self, total: int | None, out: IO[str]) -> None:
        self.total = total
        self.out = out
        self.on = out.isatty()
        self.last = 0.0

    def update(self, done: int, records: int, force: bool = False) -> None:
        if not self.on:
            return
        now = time.monotonic()
        if not force and now - self.last < 0.25:
            return
        self.last = now
        mb = done / 1e6
        if self.total:
            pct = 100 * done / self.total if self.total else 100
            bar = "#" * int(pct / 5)
            self.out.write(f"\r[{bar:20}] {pct:5.1f}% {mb:9.1f} MB {records:>10} records")
        else:
            self.out.write(f"\r{mb:9.1f} MB {records:>10} records")
        self.out.flush()

    def end(self) -> None:
        if self.on:
            self.out.write("\n")
            self.out.flush()


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            return
        yield chunk


def _lrecl(cb: Copybook, lrecl: int | None) -> int:
    return lrecl or max(r.length for r in cb.records)


def register(group: click.Group) -> None:
    @group.group()
    def copybook() -> None:
        """Any COBOL copybook: its layout, and records <-> JSON lines."""

    @copybook.command()
    @_common
    @click.option("--json", "as_json", is_flag=True, help="the layout as JSON (full paths)")
    @click.argument("cpy", type=click.Path(dir_okay=False))
    def layout(cpy: str, encoding: str, copy_path: tuple[str, ...], source_format: str,
               limit: int, fields: tuple[str, ...], record_types: tuple[str, ...],
               record: str | None, redefines: tuple[str, ...], as_json: bool) -> None:
        """The layout of every record in CPY: level, name, picture, usage, offset, length."""
        cb = _load(cpy, encoding, copy_path, source_format, limit, record_types, redefines,
                   record=record, fields=fields)
        if as_json:
            import json

            click.echo(json.dumps(layout_json(cb), indent=1))
        else:
            click.echo(layout_table(cb))

    @copybook.command()
    @_common
    @click.option("--record-format", "-r", type=click.Choice(list(FORMATS),
                                                              case_sensitive=False),
                  default="F", show_default=True,
                  help="F/FB fixed length, V with RDWs, VB blocked with BDWs, VS/VBS spanned, "
                       "D text lines")
    @click.option("--record-option", "record_options", multiple=True, metavar="KEY=VALUE",
                  help="record format options (repeatable): rdw_byteorder=big|little, "
                       "rdw_includes_header=false, rdw_adjustment=N, strict=false, "
                       "start_offset=N, end_offset=N, block_size=N")
    @click.option("--lrecl", type=click.IntRange(1), default=None,
                  help="record length for F/FB (default: the longest record of the copybook)")
    @click.option("--conditions", is_flag=True, help="add the level-88 conditions as booleans")
    @click.option("--skip-bad", "reject", type=click.Path(dir_okay=False), default=None,
                  metavar="REJECTFILE", help="write bad records to REJECTFILE and go on "
                                             "(exit status 1 when any were skipped)")
    @click.argument("cpy", type=click.Path(dir_okay=False))
    @click.argument("data", default="-")
    def decode(cpy: str, data: str, encoding: str, copy_path: tuple[str, ...],
               source_format: str, limit: int, fields: tuple[str, ...],
               record_types: tuple[str, ...], record: str | None, redefines: tuple[str, ...],
               record_format: str, record_options: tuple[str, ...], lrecl: int | None,
               conditions: bool, reject: str | None) -> None:
        """Records of DATA (a file, or - for stdin) as JSON lines, streamed."""
        import msgspec

        cb = _load(cpy, encoding, copy_path, source_format, limit, record_types, redefines,
                   conditions, record, fields)
        if len(cb.records) > 1 and cb.record_rule is None:
            raise LayoutError(f"{len(cb.records)} records in the copybook ("
                              f"{', '.join(cb.by_name)}): say which with --record-type rules "
                              "or --record NAME", source=cpy)
        fmt = record_format.upper()
        length = _lrecl(cb, lrecl)
        splitter = RecordSplitter(_record_format(fmt, length, limit, record_options))
        padded = fmt in ("F", "FB")
        reject_format = RecordFormat(
            "V" if fmt in ("V", "VB", "VS", "VBS") else "D" if fmt == "D" else "F",
            length if fmt in ("F", "FB") else None, max_record=limit)
        enc = msgspec.json.Encoder(decimal_format="number")
        out = sys.stdout.buffer
        total = None
        if data == "-":
            fh: BinaryIO = sys.stdin.buffer
        else:
            try:
                fh = open(data, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise click.BadParameter(f"cannot read {data}: {exc.strerror}",
                                         param_hint="DATA") from None
            total = Path(data).stat().st_size
        progress = _Progress(total, sys.stderr)
        rejects: BinaryIO | None = None
        skipped = good = 0
        done = 0
        try:
            for chunk in _chunks(fh):
                done += len(chunk)
                for number, offset, raw in splitter.feed(chunk):
                    try:
                        value = cb.decode(raw, padded=padded)
                    except DecodeError as exc:
                        where = f"record {number} at byte {offset}"
                        if reject is None:
                            progress.end()
                            raise DecodeError(f"{where}: {exc}") from None
                        if rejects is None:
                            rejects = open(reject, "wb")  # noqa: SIM115 - closed below
                        rejects.write(RecordJoiner(reject_format).add(raw))
                        click.echo(f"clets: skipped {where}: {exc}", err=True)
                        skipped += 1
                        continue
                    out.write(enc.encode(value))
                    out.write(b"\n")
                    good += 1
                progress.update(done, good + skipped)
            splitter.close()
        finally:
            progress.update(done, good + skipped, force=True)
            progress.end()
            out.flush()
            if fh is not sys.stdin.buffer:
                fh.close()
            if rejects is not None:
                rejects.close()
        if skipped:
            click.echo(f"clets: {good} records decoded, {skipped} bad records skipped into "
                       f"{reject}", err=True)
            sys.exit(1)

    @copybook.command()
    @_common
    @click.option("--record-format", "-r", type=click.Choice(list(FORMATS),
                                                              case_sensitive=False),
                  default="F", show_default=True)
    @click.option("--record-option", "record_options", multiple=True, metavar="KEY=VALUE",
                  help="record format options (repeatable): rdw_byteorder=big|little, "
                       "rdw_includes_header=false, rdw_adjustment=N, strict=false, "
                       "start_offset=N, end_offset=N, block_size=N")
    @click.option("--lrecl", type=click.IntRange(1), default=None,
                  help="record length for F/FB (shorter records are padded with spaces)")
    @click.option("--output", "-o", type=click.Path(dir_okay=False), default="-",
                  help="where the records go (default stdout)")
    @click.argument("cpy", type=click.Path(dir_okay=False))
    @click.argument("json_lines", default="-")
    def encode(cpy: str, json_lines: str, encoding: str, copy_path: tuple[str, ...],
               source_format: str, limit: int, fields: tuple[str, ...],
               record_types: tuple[str, ...], record: str | None, redefines: tuple[str, ...],
               record_format: str, record_options: tuple[str, ...], lrecl: int | None,
               output: str) -> None:
        """JSON lines (one object a record, as decode writes them) -> records."""
        import decimal

        import msgspec

        cb = _load(cpy, encoding, copy_path, source_format, limit, record_types, redefines,
                   record=record, fields=fields)
        fmt = record_format.upper()
        length = _lrecl(cb, lrecl)
        joiner = RecordJoiner(_record_format(fmt, length, limit, record_options))
        dec = msgspec.json.Decoder(float_hook=decimal.Decimal)
        pad = " ".encode("latin-1" if encoding == "ascii" else encoding)
        src: IO[bytes] = sys.stdin.buffer if json_lines == "-" else open(json_lines, "rb")  # noqa: SIM115
        dst: IO[bytes] = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115
        try:
            for number, line in enumerate(src, 1):
                if not line.strip():
                    continue
                try:
                    value = dec.decode(line)
                    raw = cb.encode(value)
                except (msgspec.DecodeError, CletsError) as exc:
                    raise EncodeError(f"line {number}: {exc}") from None
                if fmt in ("F", "FB"):
                    if len(raw) > length:
                        raise EncodeError(f"line {number}: record of {len(raw)} bytes is longer "
                                          f"than LRECL {length}")
                    raw += pad * (length - len(raw))
                try:
                    dst.write(joiner.add(raw))
                except EncodeError as exc:
                    raise EncodeError(f"line {number}: {exc}") from None
            dst.write(joiner.close())
        finally:
            if src is not sys.stdin.buffer:
                src.close()
            if dst is not sys.stdout.buffer:
                dst.close()
            else:
                dst.flush()

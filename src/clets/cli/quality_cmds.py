"""Data-quality commands: ``clets quality check|checks|scan|index ...`` (docs/quality.md).

``check`` runs the per-message checks on canonical JSON, as the switch does before it
forwards; ``scan`` is the monthly validation of a whole file.  Input problems are one line and
exit status 2; findings are data on stdout and exit status 1, so a script can tell them apart.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys
import time
from typing import Any

import click

from clets.model import Message, from_dict

from .codec_cmds import read_input

__all__ = ["register"]


def _messages(data: bytes) -> list[Message]:
    """One JSON object, a JSON list, or JSON Lines of canonical messages."""
    try:
        parsed = json.loads(data)
        items = parsed if isinstance(parsed, list) else [parsed]
    except ValueError:
        items = []
        for n, line in enumerate(data.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                raise click.BadParameter(f"line {n}: not JSON: {exc}",
                                         param_hint="FILE") from None
    return [from_dict(item) for item in items]


def _today(text: str | None) -> _dt.date:
    if text is None:
        return _dt.date.today()
    try:
        return _dt.date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not a date: {text!r}", param_hint="--today") from None


def register(group: click.Group) -> None:
    @group.group()
    def quality() -> None:
        """Data-quality checks, name search, file scans (docs/quality.md)."""

    @quality.command("checks")
    def list_checks() -> None:
        """List the checks, their kind, default policy and what they find."""
        from clets.quality.catalogue import catalogue

        for c in catalogue().values():
            click.echo(f"{c.id:22} {c.kind:13} {c.policy:7} {c.doc}")

    @quality.command("check")
    @click.argument("file", default="-")
    @click.option("--today", help="the day to judge dates against (ISO; default: today)")
    @click.option("--index", "index_path", default=None,
                  help="a quality index (quality.db): also run the cross-record checks")
    def check_cmd(file: str, today: str | None, index_path: str | None) -> None:
        """Run the checks on canonical JSON messages (FILE or stdin), as the switch does.

        Prints one JSON line per flag, with the message's index; exit status 1 when any
        check fired, 0 when none did."""
        from clets.quality.crossrecord import cross_checks
        from clets.quality.index import QualityIndex
        from clets.quality.rules import run_checks

        day = _today(today)
        messages = _messages(read_input(file))
        index = QualityIndex(index_path) if index_path else None
        fired = False
        try:
            for i, msg in enumerate(messages):
                flags = run_checks(msg, day)
                if index is not None:
                    flags += cross_checks(msg, index, day)
                for flag in flags:
                    fired = True
                    click.echo(json.dumps({"message": i, **flag.as_dict()}))
        finally:
            if index is not None:
                index.close()
        sys.exit(1 if fired else 0)

    @quality.command("scan")
    @click.argument("file")
    @click.option("--out", "out_dir", default=None,
                  help="directory for flags.jsonl, clusters.jsonl and report.html "
                       "(default: FILE.quality/)")
    @click.option("--today", help="the day to judge dates against (ISO; default: today)")
    @click.option("--sealed", "sealed_file", default=None,
                  help="sealed/expunged record numbers, one a line")
    @click.option("--jobs", type=click.IntRange(1, 64), default=None,
                  help="worker processes for the comparisons (default: up to 2)")
    @click.option("--format", "kind", type=click.Choice(["csv", "jsonl"]), default=None,
                  help="input form (default: by the first character)")
    def scan_cmd(file: str, out_dir: str | None, today: str | None, sealed_file: str | None,
                 jobs: int | None, kind: str | None) -> None:
        """Validate a whole file: every record's flags, duplicate clusters, an HTML report.

        FILE is CSV (columns in docs/quality.md) or JSON lines of canonical records."""
        import time
        from pathlib import Path

        from clets.quality.index import read_sealed_list
        from clets.quality.report import render
        from clets.quality.scan import read_records, scan

        day = _today(today)
        started = time.monotonic()
        text = read_input(file).decode("utf-8")
        records = list(read_records(text, kind))
        sealed: list[str] = []
        if sealed_file:
            sealed = [n for _, n in read_sealed_list(
                read_input(sealed_file).decode("utf-8").splitlines(), sealed_file)]
        tty = sys.stderr.isatty()
        bar = click.progressbar(length=len(records), label="checking", file=sys.stderr) \
            if tty else None

        pairs_bar: list[Any] = []  # the comparing phase's bar, made when blocking is done

        def progress(phase: str, n: int) -> None:
            if bar is not None and phase == "checks":
                bar.update(n)
            elif phase == "comparing" and pairs_bar:
                pairs_bar[0].update(n)
            elif phase != "checks" and tty:
                click.echo(f"\n{phase}: {n:,}", err=True, nl=phase == "blocking")
                if phase == "blocking":
                    pairs_bar.append(click.progressbar(length=n, label="comparing pairs",
                                                       file=sys.stderr))

        result = scan(records, day, sealed=sealed, jobs=jobs, progress=progress)
        if bar is not None:
            bar.render_finish()
            click.echo("", err=True)
        out = Path(out_dir) if out_dir else Path(f"{file}.quality")
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "flags.jsonl", "w", encoding="utf-8") as fh:
            for rec, flags in zip(result.records, result.flags, strict=True):
                if flags:
                    fh.write(json.dumps({"id": rec.rid,
                                         "flags": [f.as_dict() for f in flags]}) + "\n")
        with open(out / "clusters.jsonl", "w", encoding="utf-8") as fh:
            model = result.model
            for c in result.clusters:
                fh.write(json.dumps({
                    "ids": [result.records[m].rid for m in c.members],
                    "weight": round(c.score, 2),
                    "p": round(float(model.probability(c.score)), 4) if model else None,
                }) + "\n")
        (out / "report.html").write_text(render(result, file, day), encoding="utf-8")
        flagged = sum(1 for f in result.flags if f)
        click.echo(f"{len(records):,} records, {flagged:,} flagged, "
                   f"{len(result.clusters):,} duplicate clusters, "
                   f"{time.monotonic() - started:.1f} s; report: {out / 'report.html'}")
        for check, n in result.flag_counts().items():
            click.echo(f"  {check:22} {n:,}")

    @quality.command("generate")
    @click.argument("out_file")
    @click.option("--size", type=click.IntRange(1, 10_000_000), default=10_000)
    @click.option("--seed", type=int, default=1)
    @click.option("--labels", default=None, help="also write the injected errors per record")
    @click.option("--sealed", "sealed_out", default=None, help="also write the sealed list")
    def generate_cmd(out_file: str, size: int, seed: int, labels: str | None,
                     sealed_out: str | None) -> None:
        """Write a labelled synthetic population as JSON lines of canonical records."""
        from clets.model import Message
        from clets.model.jsonform import to_dict
        from clets.quality.population import Spec, generate

        pop = generate(Spec(size=size, seed=seed))
        with open(out_file, "w", encoding="utf-8") as fh:
            for r in pop.records:
                rec = to_dict(Message(format="x", mke="x", records=[r.record]))["records"][0]
                fh.write(json.dumps({"id": r.rid, "mke": r.mke, **rec}) + "\n")
        if labels:
            with open(labels, "w", encoding="utf-8") as fh:
                for r in pop.records:
                    fh.write(json.dumps({"id": r.rid, "entity": r.entity,
                                         "errors": list(r.errors),
                                         "variations": list(r.variations),
                                         "dup_of": r.dup_of}) + "\n")
        if sealed_out:
            with open(sealed_out, "w", encoding="utf-8") as fh:
                fh.write("# sealed record numbers (synthetic)\n")
                fh.writelines(f"{n}\n" for n in sorted(pop.sealed))
        click.echo(f"{len(pop.records):,} records written to {out_file}")

    @quality.group("index")
    def index_group() -> None:
        """The quality index beside the journal (quality.db)."""

    @index_group.command("rebuild")
    @click.argument("index_path")
    @click.argument("files", nargs=-1, required=True)
    def rebuild_cmd(index_path: str, files: tuple[str, ...]) -> None:
        """Rebuild INDEX_PATH from reference extracts (CSV or JSON lines of records) and
        learn the linkage model from them; the sealed list is kept."""
        from clets.quality.index import QualityIndex
        from clets.quality.linkage import features, learn
        from clets.quality.scan import ScanRecord, read_records

        records: list[ScanRecord] = []
        for f in files:
            records.extend(read_records(read_input(f).decode("utf-8")))
        index = QualityIndex(index_path)
        try:
            index.clear()
            n = index.add_many(((r.rid, r.record, "reference") for r in records),
                               fresh=len({r.rid for r in records}) == len(records))
            feats = [features(r.record.person) for r in records if r.record.person]
            if len(feats) >= 100:
                index.set_model(learn(feats))
            click.echo(f"{n:,} records indexed in {index_path}"
                       + ("" if len(feats) >= 100 else " (too few to learn a model)"))
        finally:
            index.close()

    @index_group.command("sealed")
    @click.argument("index_path")
    @click.argument("list_file")
    @click.option("--replace", is_flag=True, help="replace the list instead of adding to it")
    def sealed_cmd(index_path: str, list_file: str, replace: bool) -> None:
        """Load a sealed/expunged/purged list (the daily batch file) into the index."""
        from clets.quality.index import QualityIndex, read_sealed_list

        pairs = read_sealed_list(read_input(list_file).decode("utf-8").splitlines(), list_file)
        index = QualityIndex(index_path)
        try:
            n = index.load_sealed(pairs, list_file, replace=replace)
        finally:
            index.close()
        click.echo(f"{n:,} sealed record numbers loaded")

    _held_commands(quality)


def _held_commands(quality: click.Group) -> None:
    """``clets quality held|release|reject``: messages a ``hold`` policy stopped
    (clets.switch.hold).  On a running switch the change is asked on its admin socket (it
    does it in one of its commits); on a stopped journal it is written directly.  Either way
    the audit record names who did it: ``--by NAME``, else ``cli:<OS user>``."""
    from clets.cli.switch_cmds import _journal_path, _operator, _with_journal_opts

    @quality.command("held")
    @_with_journal_opts
    @click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
    def held_cmd(config: str | None, journal: str | None, as_json: bool) -> None:
        """Messages held for a supervisor's review, oldest first."""
        from clets.switch.hold import held_messages
        from clets.switch.logjournal import open_journal

        j = open_journal(_journal_path(config, journal), readonly=True)
        try:
            held = held_messages(j)
        finally:
            j.close()
        for h in held:
            if as_json:
                click.echo(json.dumps(h.as_dict()))
                continue
            at = _dt.datetime.fromtimestamp(h.held_at, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            click.echo(f"MSN {h.msn}  {at}  {h.mke or '-'} from {h.origin or '-'}"
                       f" (control {h.control or '-'}, operator {h.operator or '-'})"
                       f" -> {','.join(h.targets) or '-'}")
            click.echo(f"    held: {h.reason}")
            for f in h.flags:
                click.echo(f"    {f}")
        if not as_json:
            click.echo(f"-- {len(held)} held")

    def _decide(cmd: str, config: str | None, journal: str | None, msn: int,
                by: str | None) -> list[str]:
        from clets.errors import ConfigError
        from clets.switch import hold
        from clets.switch.admin import ask
        from clets.switch.logjournal import open_journal

        path = _journal_path(config, journal)
        operator = by or _operator()
        answer = ask(path, {"cmd": f"quality_{cmd}", "msn": msn, "operator": operator})
        if answer is not None:  # a running switch did it
            if not answer.get("ok"):
                raise click.ClickException(str(answer.get("error")))
            return [str(t) for t in answer.get("targets", [])]
        act = hold.release if cmd == "release" else hold.reject
        try:
            j = open_journal(path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        try:
            with j.tx():
                rows = act(j, msn, time.time(), operator, source=str(path))
        except ConfigError as exc:
            raise click.ClickException(exc.reason) from None
        finally:
            j.close()
        return [r.target for r in rows]

    by_opt = click.option("--by", "by", default=None,
                          help="who decides (audited; default cli:<OS user>)")

    @quality.command("release")
    @_with_journal_opts
    @by_opt
    @click.argument("msn", type=int)
    def release_cmd(config: str | None, journal: str | None, by: str | None, msn: int) -> None:
        """Forward held message MSN as any other (timeouts count from now)."""
        targets = _decide("release", config, journal, msn, by)
        click.echo(f"message {msn} released to {', '.join(targets) or 'nobody'}")

    @quality.command("reject")
    @_with_journal_opts
    @by_opt
    @click.argument("msn", type=int)
    def reject_cmd(config: str | None, journal: str | None, by: str | None, msn: int) -> None:
        """Refuse held message MSN: its origin gets the check's error (21)."""
        targets = _decide("reject", config, journal, msn, by)
        click.echo(f"message {msn} rejected; error answer to {', '.join(targets) or 'nobody'}")

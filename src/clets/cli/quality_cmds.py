"""Data-quality commands: ``clets quality check|checks|scan|index ...`` (docs/quality.md).

``check`` runs the per-message checks on canonical JSON, as the switch does before it
forwards; ``scan`` is the monthly validation of a whole file.  Input problems are one line and
exit status 2; findings are data on stdout and exit status 1, so a script can tell them apart.
"""

from __future__ import annotations

import datetime as _dt
import json
import sys

import click

from clets.model import Message, from_dict

__all__ = ["register"]


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}",
                                 param_hint="FILE") from None


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
    def check_cmd(file: str, today: str | None) -> None:
        """Run the per-message checks on canonical JSON messages (FILE or stdin).

        Prints one JSON line per flag, with the message's index; exit status 1 when any
        check fired, 0 when none did."""
        from clets.quality.rules import run_checks

        day = _today(today)
        fired = False
        for i, msg in enumerate(_messages(_read(file))):
            for flag in run_checks(msg, day):
                fired = True
                click.echo(json.dumps({"message": i, **flag.as_dict()}))
        sys.exit(1 if fired else 0)

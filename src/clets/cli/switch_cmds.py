"""``clets check-config``, ``clets queue ...`` and ``clets audit ...``.

The queue and audit commands work on the journal database directly (``--journal PATH``, or the
journal named by ``--config FILE``), so an operator can inspect and repair a switch that is
down.  Writes (retry, purge) are journal transactions with their own audit records, safe while
the switch runs (SQLite serialises the writers).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import click

from clets.errors import ConfigError

__all__ = ["register"]


def _journal_path(config: str | None, journal: str | None) -> Path:
    """The journal the admin commands read; it must exist (they never create one, so a
    mistyped path is an error, not a new empty journal)."""
    if journal:
        path = Path(journal)
    elif config:
        from clets.switch.config import load_config

        path = load_config(config, check_codecs=False).switch.journal
    else:
        raise click.UsageError("give --journal PATH or --config FILE")
    if not path.is_file():
        click.echo(f"clets: error: no journal at {path} (has the switch run with this config?)",
                   err=True)
        sys.exit(2)
    return path


def _ttl(config: str | None) -> float:
    if config:
        from clets.switch.config import load_config

        return load_config(config, check_codecs=False).switch.ttl
    return 3600.0


_journal_opts = [
    click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                 help="switch config (its journal is used)"),
    click.option("--journal", "journal", type=click.Path(dir_okay=False), default=None,
                 help="journal database path"),
]


def _with_journal_opts(fn: Any) -> Any:
    for opt in reversed(_journal_opts):
        fn = opt(fn)
    return fn


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def register(group: click.Group) -> None:
    @group.command("check-config")
    @click.argument("path", type=click.Path(dir_okay=False))
    def check_config(path: str) -> None:
        """Validate a switch config: every problem as FILE:LINE: REASON (exit 2), or ok."""
        from clets.switch.config import ConfigProblems, link_problems, load_config

        try:
            cfg = load_config(path)
        except ConfigProblems as exc:
            for p in exc.problems:
                click.echo(str(p))
            sys.exit(2)
        except ConfigError as exc:
            click.echo(str(exc))
            sys.exit(2)
        # what `clets run` would only find when it opens the links
        text = Path(path).read_text("utf-8")
        problems = link_problems(cfg, text, path)
        if cfg.api is not None:  # the HTTP API's table and TLS files
            from clets.api.config import api_problems

            problems += api_problems(cfg, text)
        if problems:
            for p in problems:
                click.echo(str(p))
            sys.exit(2)
        click.echo("ok")
        click.echo(cfg.summary())

    @group.group("queue")
    def queue() -> None:
        """Inspect and repair the switch's outbound queues and dead letters."""

    @queue.command("list")
    @_with_journal_opts
    @click.option("--state", type=click.Choice(["queued", "in_flight", "done", "dead", "held",
                                                "held_reply"]),
                  default=None)
    @click.option("--dest", "target", default=None, help="destination or link name")
    @click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
    def queue_list(config: str | None, journal: str | None, state: str | None,
                   target: str | None, as_json: bool) -> None:
        """Queue entries (default: all states)."""
        from clets.switch.logjournal import open_journal

        j = open_journal(_journal_path(config, journal), readonly=True)
        try:
            rows = j.list_rows(state=state, target=target)
            if as_json:
                for r in rows:
                    click.echo(json.dumps(r.to_dict()))
                return
            click.echo(f"{'ID':>6} {'MSN':>6} {'KIND':8} {'TARGET':10} {'STATE':9} {'TRIES':>5} "
                       f"{'MKE':5} {'CONTROL':10} NEXT/ERROR")
            for r in rows:
                if r.state in ("dead", "queued") and r.last_error:
                    tail = r.last_error
                else:
                    tail = _fmt_time(r.next_attempt_at)
                click.echo(f"{r.id:>6} {r.msn:>6} {r.kind:8} {r.target:10} {r.state:9} "
                           f"{r.attempts:>5} {r.mke or '':5} {r.control or '':10} {tail}")
            depths = j.depths()
            summary = ", ".join(f"{t}: " + " ".join(f"{s}={n}" for s, n in sorted(d.items()))
                                for t, d in sorted(depths.items()))
            # the filter narrows the rows above; the summary is every queue's open and dead
            click.echo(f"-- {len(rows)} entries shown; all queues: {summary or 'empty'}")
        finally:
            j.close()

    @queue.command("show")
    @_with_journal_opts
    @click.argument("entry_id", type=int)
    def queue_show(config: str | None, journal: str | None, entry_id: int) -> None:
        """One queue entry with its message (canonical JSON) and dead-letter reason."""
        from clets.switch.logjournal import open_journal

        j = open_journal(_journal_path(config, journal), readonly=True)
        try:
            row = j.row(entry_id)
            out = row.to_dict()
            msg = j.message(row.msn)
            out["dead_reason"] = j.dead_reason(entry_id)
            if msg is not None:
                out["message"] = {"msn": msg.msn, "received_at": _fmt_time(msg.received_at),
                                  "link": msg.link, "peer": msg.peer, "origin": msg.origin,
                                  "control": msg.control, "mke": msg.mke,
                                  "sha256": msg.sha256, "canonical": json.loads(msg.canonical)}
            click.echo(json.dumps(out, indent=2))
        finally:
            j.close()

    @queue.command("retry")
    @_with_journal_opts
    @click.argument("entry_id", type=int)
    def queue_retry(config: str | None, journal: str | None, entry_id: int) -> None:
        """Put a dead (or waiting) entry back in its queue now, attempts reset."""
        from clets.switch.admin import ask
        from clets.switch.audit import AuditEvent
        from clets.switch.logjournal import open_journal

        path = _journal_path(config, journal)
        answer = ask(path, {"cmd": "retry", "id": entry_id, "operator": _operator()})
        if answer is not None:  # a running switch did it
            if not answer.get("ok"):
                raise click.ClickException(str(answer.get("error")))
            click.echo(f"entry {entry_id} queued for {answer['target']}")
            return
        j = open_journal(path)
        try:
            now = time.time()
            with j.tx():
                row = j.retry(entry_id, now, _ttl(config))
                j.audit(AuditEvent("replayed", msn=row.msn, destination=row.target,
                                   mke=row.mke, outcome="queued", operator=_operator(),
                                   reason=f"queue retry {entry_id}"), now)
            click.echo(f"entry {entry_id} queued for {row.target}")
        finally:
            j.close()

    @queue.command("purge")
    @_with_journal_opts
    @click.option("--dead", is_flag=True, required=True, help="remove dead-lettered entries")
    def queue_purge(config: str | None, journal: str | None, dead: bool) -> None:
        """Remove dead-lettered entries (their messages and audit records stay)."""
        from clets.switch.admin import ask
        from clets.switch.audit import AuditEvent
        from clets.switch.logjournal import open_journal

        path = _journal_path(config, journal)
        answer = ask(path, {"cmd": "purge_dead", "operator": _operator()})
        if answer is not None:  # a running switch did it
            if not answer.get("ok"):
                raise click.ClickException(str(answer.get("error")))
            click.echo(f"purged {len(answer['ids'])} dead entries")
            return
        j = open_journal(path)
        try:
            now = time.time()
            with j.tx():
                ids = j.purge_dead()
                j.audit(AuditEvent("purged", outcome="ok", operator=_operator(),
                                   reason=f"{len(ids)} dead entries"
                                   + (f": {ids[0]}..{ids[-1]}" if ids else "")), now)
            click.echo(f"purged {len(ids)} dead entries")
        finally:
            j.close()

    @group.group("journal")
    def journal_group() -> None:
        """Convert journals between formats."""

    @journal_group.command("migrate")
    @click.argument("old", type=click.Path(dir_okay=False))
    @click.argument("new", type=click.Path(dir_okay=False))
    def journal_migrate(old: str, new: str) -> None:
        """Convert the SQLite journal OLD into the log journal NEW and verify it (stop the
        switch first; OLD is only read)."""
        from clets.errors import ConfigError
        from clets.switch.migrate import migrate

        try:
            click.echo(migrate(old, new))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc

    @group.group("audit")
    def audit_group() -> None:
        """Verify and read the hash-chained audit trail."""

    @audit_group.command("verify")
    @_with_journal_opts
    @click.option("--file", "jsonl", type=click.Path(dir_okay=False), default=None,
                  help="verify an exported JSON-lines file instead of the journal")
    def audit_verify(config: str | None, journal: str | None, jsonl: str | None) -> None:
        """Recompute the chain; name the first broken record (exit 1) or print ok."""
        from clets.switch import audit

        if jsonl:
            rows = [json.loads(line) for line in Path(jsonl).read_text("utf-8").splitlines()
                    if line.strip()]
            result = audit.verify_rows(rows)
        else:
            from clets.switch.journal import open_readonly

            conn = open_readonly(_journal_path(config, journal))
            try:
                result = audit.verify(conn)
            finally:
                conn.close()
        click.echo(str(result))
        if not result.ok:
            sys.exit(1)

    @audit_group.command("tail")
    @_with_journal_opts
    @click.option("-n", "count", type=int, default=20, show_default=True)
    @click.option("-f", "follow", is_flag=True, help="keep printing new records")
    @click.option("--interval", type=float, default=0.5, hidden=True)
    def audit_tail(config: str | None, journal: str | None, count: int, follow: bool,
                   interval: float) -> None:
        """The last N records as JSON lines (``-f``: follow)."""
        from clets.switch import audit
        from clets.switch.journal import open_readonly

        path = _journal_path(config, journal)
        conn = open_readonly(path)
        try:
            last = 0
            for rec in audit.records(conn, last=count):
                click.echo(json.dumps(rec, separators=(",", ":")))
                last = int(rec["seq"])
            while follow:
                time.sleep(interval)
                try:
                    new = audit.records(conn, after=last)
                except sqlite3.OperationalError:
                    continue
                for rec in new:
                    click.echo(json.dumps(rec, separators=(",", ":")))
                    last = int(rec["seq"])
        finally:
            conn.close()


def _operator() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"

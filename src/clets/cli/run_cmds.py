"""``clets run CONFIG``: the switch daemon (see docs/deploy.md).

Exit status: 0 after a clean stop (SIGTERM / SIGINT), 2 for a config problem (one
``FILE:LINE: REASON`` line per problem on stderr) or a start-up failure (journal cannot be
opened, port in use), so a service manager can tell "fix the config" from "crashed".
"""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from clets.errors import CletsError, ConfigError, StorageError

__all__ = ["register"]


def register(group: click.Group) -> None:
    group.add_command(run)


@click.command("run")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--metrics", "metrics", metavar="HOST:PORT", default=None,
              help="Serve /metrics and /healthz here (overrides [switch] metrics_listen; "
                   "port 0 picks a free port, shown in the ready line).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="JSON logs on stderr from this level.")
@click.option("--drain-timeout", type=click.FloatRange(0, 3600), default=10.0,
              show_default=True,
              help="On SIGTERM: seconds to keep sending what is due before closing.")
def run(config: str, metrics: str | None, log_level: str, drain_timeout: float) -> None:
    """Run the switch: links, journal, routing, /metrics and /healthz, until SIGTERM."""
    from clets.daemon import serve
    from clets.ops.logs import setup_logging
    from clets.switch.config import ConfigProblems, load_config, parse_host_port

    setup_logging(log_level)
    try:
        cfg = load_config(config)
        if cfg.api is not None:  # [api] is checked here too: every problem with its line
            from clets.api.config import api_config

            api_config(cfg)
    except ConfigProblems as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        sys.exit(2)
    if metrics is not None and parse_host_port(metrics) is None:
        click.echo(f"--metrics {metrics!r}: expected HOST:PORT", err=True)
        sys.exit(2)
    try:
        status = asyncio.run(serve(cfg, metrics_listen=metrics, drain_timeout=drain_timeout))
    except (CletsError, OSError) as exc:
        text = exc.one_line() if isinstance(exc, CletsError) else str(exc)
        logging.getLogger("clets.daemon").error(
            "start failed", extra={"error": text,
                                   "config_error": isinstance(exc, ConfigError)})
        click.echo(f"clets run: {text}", err=True)
        # a full or failing disk passes: exit 1, so systemd starts it again (2 = the config)
        sys.exit(1 if isinstance(exc, StorageError) else 2)
    sys.exit(status)

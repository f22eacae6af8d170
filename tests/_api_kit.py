"""Test kit for the HTTP API: a switch config with ``[api]`` in front of simulated
destinations, and the switch run as ``clets run`` (a subprocess) or in this process."""

from __future__ import annotations

from pathlib import Path

from tests._crash_kit import switch_config

DESTS = ("WPS", "NCIC", "CARPOS")


def api_config_text(journal: Path, dest_urls: dict[str, str], *, api: str = "",
                    metrics: str | None = None, extra: str = "") -> str:
    """The crash kit's small box (json origin ``lapd`` over plain TCP, the destinations)
    plus an ``[api]`` table (default: plain HTTP on loopback, peer LAPD)."""
    text = switch_config(journal, 0, dest_urls, metrics=metrics)
    table = api or ('[api]\nlisten = "127.0.0.1:0"\nplain = true\npeer = "LAPD"\n')
    return text + "\n" + table + "\n" + extra

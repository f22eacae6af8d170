"""``clets link test <url>``: is this link usable, and what is on the other end?

Exit status: 0 the link works (and the reply came, when one was asked for); 1 the link failed
(refused, TLS failure, no reply in time); 2 the URL or options are wrong (a ConfigError, printed
as one line by ``clets.cli.main``).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import click

from clets.adapters.url import LinkURL, parse_link_url
from clets.errors import ConfigError, LinkError

__all__ = ["register"]


def _show(data: bytes, limit: int = 400) -> str:
    """Printable text for a frame: control bytes escaped so a reply cannot drive the terminal."""
    text = data[:limit].decode("latin-1")
    out = "".join(
        c if (" " <= c <= "~") else f"\\x{ord(c):02x}" for c in text
    )
    return out + (f"... (+{len(data) - limit} bytes)" if len(data) > limit else "")


async def _test_stream(url: LinkURL, payload: bytes | None, timeout: float, expect: bool,
                       replies: int = 1) -> int:
    if url.scheme == "serial":
        from clets.adapters.serial import SerialConfig, open_serial

        cfg = SerialConfig.from_url(url)
        link: Any = await open_serial(cfg)
        click.echo(f"opened {cfg.port} ({cfg.baudrate} baud {cfg.bytesize}{cfg.parity}"
                   f"{cfg.stopbits:g}, framing {cfg.framing})")
    else:
        from clets.adapters.tcp import client_from_url

        client = client_from_url(url, reconnect=False)
        async with asyncio.timeout(timeout):
            await client.connect()
        link = client
        click.echo(f"connected to {url.host}:{url.port} ({url.scheme}, framing "
                   f"{client.options.framing})")
        info = client.link.tls if client.link is not None else {}
        if info:
            click.echo(f"tls: {info['version']} {info['cipher']} ({info['bits']} bits)")
            click.echo(f"server certificate: {info['peer_subject'] or '-'}"
                       f" names={','.join(info['peer_names']) or '-'}")
        else:
            click.echo("tls: none (plain TCP, explicitly configured)")
        if info and not await _still_up(client, min(timeout, 1.0)):
            # TLS 1.3: our handshake completes before the server checks our certificate; a
            # refusal arrives as an alert right after it, so watch the line for a moment
            click.echo("the server closed the connection after the handshake: it refused "
                       "our certificate (none given, not from its CA, or not mapped to a "
                       "peer)", err=True)
            await client.close()
            return 1
    try:
        if payload is None:
            return 0
        await link.send(payload)
        click.echo(f"sent {len(payload)} bytes")
        if not expect:
            return 0
        # a fan-out inquiry has one answer per destination: --replies N waits for N of them
        for n in range(1, replies + 1):
            try:
                async with asyncio.timeout(timeout):
                    reply = await link.receive()
            except TimeoutError:
                click.echo(f"no reply within {timeout:g} s"
                           + (f" (got {n - 1} of {replies})" if replies > 1 else ""), err=True)
                return 1
            label = "reply" if replies == 1 else f"reply {n}/{replies}"
            click.echo(f"{label} ({len(reply)} bytes): {_show(reply)}")
        return 0
    finally:
        await link.close()


async def _still_up(client: Any, seconds: float) -> bool:
    """Whether the connection is not closed within ``seconds`` (the link's own close event)."""
    inner = client.link
    if inner is None:
        return False
    try:
        async with asyncio.timeout(seconds):
            await inner.wait_closed()
    except TimeoutError:
        return True
    return False


async def _probe_module(url: LinkURL, module: str) -> int:
    if importlib.util.find_spec(module) is None:
        click.echo(f"{url.scheme}:// links are not available in this build", err=True)
        return 1
    probe = getattr(importlib.import_module(module), "probe", None)
    if probe is None:
        click.echo(f"{url.scheme}:// links have no probe in this build", err=True)
        return 1
    report = await probe(url)
    click.echo(str(report))
    return 0


async def _run(url: LinkURL, payload: bytes | None, timeout: float, expect: bool,
               replies: int = 1) -> int:
    if url.scheme in ("sftp", "spool"):
        if payload is not None:
            click.echo("note: --send is not used for drop links; probing only", err=True)
        return await _probe_module(url, f"clets.adapters.{url.scheme}")
    return await _test_stream(url, payload, timeout, expect, replies)


def register(group: click.Group) -> None:
    @group.group("link")
    def link() -> None:
        """Links: TCP/TLS, serial lines, SFTP and spool drops."""

    @link.command("test")
    @click.argument("url")
    @click.option("--send", "send_text", metavar="TEXT", help="Send TEXT as one frame.")
    @click.option("--send-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Send the file's bytes as one frame.")
    @click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
                  show_default=True,
                  help="Seconds for connecting and for the reply.")
    @click.option("--reply/--no-reply", "expect", default=True, show_default=True,
                  help="Wait for a reply frame after sending.")
    @click.option("--replies", type=click.IntRange(1, 100), default=1, show_default=True,
                  help="Wait for this many reply frames (a fan-out inquiry has one answer "
                       "per destination).")
    def link_test(url: str, send_text: str | None, send_file: Path | None,
                  timeout: float, expect: bool, replies: int) -> None:
        """Connect to URL, show TLS details and the peer, optionally send a frame and show the
        reply.

        \b
        tcp://host:port?framing=len2&plain=1
        tcp+tls://host:port?framing=len2&ca=ca.pem&cert=me.pem&key=me.key
        serial:///dev/ttyS0?baud=9600&framing=stx-etx+lrc
        sftp://user@host:22/inbox?key=id_ed25519&known_hosts=known_hosts
        spool:///var/spool/clets/in
        """
        if send_text is not None and send_file is not None:
            raise ConfigError("give --send or --send-file, not both")
        payload = send_file.read_bytes() if send_file else (
            send_text.encode("utf-8") if send_text is not None else None)
        parsed = parse_link_url(url)
        try:
            code = asyncio.run(_run(parsed, payload, timeout, expect, replies))
        except LinkError as exc:
            click.echo(f"link error: {exc}", err=True)
            code = 1
        except TimeoutError:
            click.echo(f"timed out after {timeout:g} s", err=True)
            code = 1
        # sys.exit, not ctx.exit: click's standalone_mode=False turns ctx.exit into a return
        # value that clets.cli.main does not pass on
        sys.exit(code)

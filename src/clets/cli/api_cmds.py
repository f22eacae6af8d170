"""``clets api client add|list|revoke|webhook``: the OAuth 2.0 clients of the switch's HTTP API.

The store is the one ``[api] clients`` names (``--config FILE``), or ``--store PATH``.  A
client acts as one configured ``[[peer]]`` (its ORIs, its access level); its secret is shown
once, at ``add``, and only its Argon2 hash is kept.  Changes apply to a running switch at
once (a revoked client's tokens stop within a second).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["register"]


def register(group: click.Group) -> None:
    group.add_command(api)


@click.group("api")
def api() -> None:
    """The switch's HTTP API (docs/api.md)."""


@api.group("client")
def client() -> None:
    """OAuth 2.0 clients (client credentials) of the API."""


def _store(config: str | None, store: str | None) -> tuple[object, set[str] | None]:
    from clets.api.clients import ClientStore

    if store:
        return ClientStore(Path(store)), None
    if not config:
        raise click.UsageError("give --config FILE (its [api] table) or --store PATH")
    from clets.api.config import api_config
    from clets.switch.config import load_config

    cfg = load_config(config, check_codecs=False)
    acfg = api_config(cfg)
    if acfg is None or acfg.clients is None:
        raise click.UsageError(f"{config} has no [api] table")
    return ClientStore(acfg.clients), set(cfg.peers)


_where = [click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
                       help="The switch config (its [api] clients store)."),
          click.option("--store", "store", type=click.Path(dir_okay=False), default=None,
                       help="The client store file itself.")]


F = TypeVar("F", bound=Callable[..., Any])


def _with_where(fn: F) -> F:
    for opt in reversed(_where):
        fn = opt(fn)
    return fn


@client.command("add")
@_with_where
@click.option("--peer", required=True, help="The [[peer]] mnemonic the client acts as.")
@click.option("--id", "client_id", default=None, help="Client id (default: <peer>-<random>).")
@click.option("--cert", "cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM certificate the client must present for a token (RFC 8705).")
@click.option("--rate", type=click.FloatRange(min=0.001), default=None,
              help="Requests per second for this client (default: [api] rate).")
@click.option("--webhook", "webhook", default=None, metavar="URL",
              help="POST every delivery of the peer to URL, signed (https://, or http:// "
                   "to loopback); its whsec_ secret is printed once.")
@click.option("--webhook-ca", "webhook_ca", type=click.Path(exists=True, dir_okay=False),
              default=None, help="PEM CA file the webhook receiver's certificate is "
                                 "checked against (default: the system's).")
def add(config: str | None, store: str | None, peer: str, client_id: str | None,
        cert: str | None, rate: float | None, webhook: str | None,
        webhook_ca: str | None) -> None:
    """Add a client; prints its id and secret (the secret is not shown again), and its
    webhook secret when it has a webhook."""
    from clets.api.clients import ClientStore, cert_thumbprint

    st, peers = _store(config, store)
    assert isinstance(st, ClientStore)
    if peers is not None and peer not in peers:
        raise click.UsageError(f"peer {peer!r} is not a [[peer]] of the config "
                               f"({', '.join(sorted(peers))})")
    thumb = None
    if cert:
        import ssl

        try:
            der = ssl.PEM_cert_to_DER_cert(Path(cert).read_text("ascii"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise click.UsageError(f"--cert {cert}: not a PEM certificate ({exc})") from None
        thumb = cert_thumbprint(der)
    hook = _webhook(webhook, webhook_ca)
    made, secret = st.add(peer, client_id=client_id, cert_sha256=thumb, rate=rate,
                          webhook=hook)
    out = {"client_id": made.id, "client_secret": secret, "peer": made.peer,
           "cert_sha256": made.cert_sha256}
    if hook is not None:
        out.update(webhook_url=hook[0], webhook_secret=hook[1])
    click.echo(json.dumps(out))


def _webhook(url: str | None, ca: str | None) -> tuple[str, str, str | None] | None:
    """(url, a new whsec_ secret, the CA's absolute path) of ``--webhook``, checked."""
    if url is None:
        if ca is not None:
            raise click.UsageError("--webhook-ca without --webhook")
        return None
    from clets.api.webhook_client import url_problem
    from clets.api.webhooks import new_secret

    problem = url_problem(url)
    if problem is not None:
        raise click.UsageError(f"--webhook {url}: {problem}")
    return url, new_secret(), str(Path(ca).resolve()) if ca else None


@client.command("webhook")
@_with_where
@click.argument("client_id")
@click.option("--url", "url", default=None, metavar="URL",
              help="The webhook's URL (a new secret is made and printed once).")
@click.option("--ca", "ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="PEM CA file of the receiver's certificate.")
@click.option("--remove", is_flag=True, help="Remove the client's webhook.")
def set_webhook(config: str | None, store: str | None, client_id: str, url: str | None,
                ca: str | None, remove: bool) -> None:
    """Set, replace (with a new secret) or remove an active client's webhook.  A running
    switch uses the change from its next delivery.  Exit 1 when no active client has that
    id."""
    from clets.api.clients import ClientStore

    if remove == (url is not None):
        raise click.UsageError("give --url URL or --remove")
    st, _peers = _store(config, store)
    assert isinstance(st, ClientStore)
    hook = None if remove else _webhook(url, ca)
    if not st.set_webhook(client_id, hook):
        click.echo(f"no active client {client_id!r}", err=True)
        raise SystemExit(1)
    click.echo(json.dumps({"client_id": client_id, "webhook_url": hook[0],
                           "webhook_secret": hook[1]} if hook else
                          {"client_id": client_id, "webhook_url": None}))


@client.command("list")
@_with_where
def list_clients(config: str | None, store: str | None) -> None:
    """The clients, one JSON object a line (no secrets)."""
    from clets.api.clients import ClientStore

    st, _peers = _store(config, store)
    assert isinstance(st, ClientStore)
    for c in st.list():
        click.echo(json.dumps({
            "client_id": c.id, "peer": c.peer, "cert_sha256": c.cert_sha256, "rate": c.rate,
            "webhook_url": c.webhook_url,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.created_at)),
            "revoked": None if c.revoked_at is None else time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(c.revoked_at))}))


@client.command("revoke")
@_with_where
@click.argument("client_id")
def revoke(config: str | None, store: str | None, client_id: str) -> None:
    """Revoke a client: its secret and its tokens stop working.  Exit 1 when no active
    client has that id."""
    from clets.api.clients import ClientStore

    st, _peers = _store(config, store)
    assert isinstance(st, ClientStore)
    if not st.revoke(client_id):
        click.echo(f"no active client {client_id!r}", err=True)
        raise SystemExit(1)
    click.echo(f"revoked {client_id}")


@api.command("openapi")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="State this config's [api] limits (default: the default ones, as "
                   "docs/openapi.json).")
def openapi(config: str | None) -> None:
    """Print the API's OpenAPI 3.1 document (what /v1/openapi.json serves)."""
    from clets.api.openapi import document

    settings = None
    if config:
        from clets.api.config import api_config
        from clets.switch.config import load_config

        settings = api_config(load_config(config, check_codecs=False))
    click.echo(json.dumps(document(settings), indent=2, sort_keys=True))


@api.command("webhook-secret")
@click.argument("path", type=click.Path(dir_okay=False))
def webhook_secret(path: str) -> None:
    """Write a new webhook signing secret (whsec_...) to PATH, readable by its owner only,
    for ``[[api.webhook]] secret_file``; print it once, for the receiver (docs/api.md,
    Webhooks).  An existing file is never overwritten."""
    import os

    from clets.api.webhooks import new_secret

    secret = new_secret()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        click.echo(f"{path}: {exc.strerror}", err=True)
        raise SystemExit(1) from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    click.echo(secret)

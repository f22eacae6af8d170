"""Webhooks through ``clets run`` (issue 15): a real receiver (stdlib ``http.server`` in a
thread) that fails for a while and then recovers gets every delivery, each signature
verifies, and repeats carry the same ``webhook-id`` (at least once: receivers drop repeats by
it); a receiver that never recovers gets its deliveries dead-lettered, audited."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from clets.api import webhooks
from clets.api.webhooks import WebhookVerificationError
from clets.sim import SimNetwork
from clets.switch import audit
from clets.switch.config import ConfigProblems
from tests._api_kit import DESTS, api_config_text
from tests._crash_kit import SwitchProcess
from tests._events_kit import qw, running_daemon, settle
from tests._switch_kit import eventually, run_async

pytestmark = pytest.mark.timeout(300)

ORIS = {"CADOJWPS0", "DCFBIWA00", "CADOJPO00"}


class Receiver:
    """A webhook receiver: answers 503 to the first ``fail`` requests, then 200; verifies
    every request's signature and keeps what it accepted."""

    def __init__(self, secret: str, fail: int) -> None:
        self.secret = secret
        self.fail = fail
        self.requests = 0
        self.bad_signatures = 0
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                hdr = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.requests += 1
                    failing = outer.requests <= outer.fail
                    if len(body) < length:  # the sender was killed mid-body (SIGKILL test)
                        return
                    try:
                        msg_id = webhooks.verify(outer.secret, hdr, body, time.time())
                    except WebhookVerificationError:
                        outer.bad_signatures += 1
                        failing = True
                    else:
                        if not failing:
                            outer.accepted.append((msg_id, json.loads(body)))
                self.send_response(503 if failing else 204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/clets"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def metric(text: str, sample: str) -> float:
    """The value of one sample (``name{labels}`` as exposed) of a Prometheus scrape."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {sample} in the scrape")


def _webhook_api(url: str, secret_file: Path) -> str:
    return ('[api]\nlisten = "127.0.0.1:0"\nplain = true\npeer = "LAPD"\n\n'
            f'[[api.webhook]]\npeer = "LAPD"\nurl = "{url}"\nsecret_file = "{secret_file}"\n')


@contextlib.asynccontextmanager
async def webhook_daemon(tmp_path: Path, fail: int
                         ) -> AsyncIterator[tuple[Receiver, SwitchProcess, str]]:
    """A receiver that fails its first ``fail`` requests, the simulated destinations, and
    ``clets run`` (its own process, so a test may SIGKILL it) with a webhook of LAPD to the
    receiver: the receiver, the daemon and the API's base URL.  The daemon must stop
    cleanly (exit 0) at the end."""
    secret = webhooks.new_secret()
    secret_file = tmp_path / "lapd-webhook.secret"
    secret_file.write_text(secret + "\n", "utf-8")
    with Receiver(secret, fail=fail) as rx:
        async with SimNetwork(backends=list(DESTS), base_port=0) as net:
            cfg = tmp_path / "switch.toml"
            cfg.write_text(api_config_text(tmp_path / "journal.db",
                                           {d: net.url(d) for d in DESTS},
                                           api=_webhook_api(rx.url, secret_file)), "utf-8")
            proc = SwitchProcess(cfg, tmp_path / "switch.log")
            ready = await proc.start(timeout=60)
            try:
                yield rx, proc, f"http://{ready['api']}"
            finally:
                assert await proc.terminate() == 0
                proc.cleanup()


@run_async
async def test_a_receiver_that_fails_then_recovers_gets_everything(tmp_path: Path) -> None:
    n = 6
    async with webhook_daemon(tmp_path, fail=12) as (rx, _proc, base), \
            httpx.AsyncClient(base_url=base, timeout=30) as http:
        msns = []
        for i in range(n):
            r = await http.post("/v1/messages", json=qw(f"W{i}"))
            assert r.status_code == 202, r.text
            msns.append(r.json()["msn"])

        def unique() -> int:
            with rx.lock:
                return len({m for m, _b in rx.accepted})

        await eventually(lambda: unique() >= 3 * n, timeout=60)
        ok = 'clets_api_webhook_deliveries_total{result="ok"}'
        async with asyncio.timeout(30):  # the receiver answers before the poster counts
            while True:                  # its 2xx
                scrape = (await http.get("/metrics")).text
                if metric(scrape, ok) >= 3 * n:
                    break
                await asyncio.sleep(0.05)
    assert rx.requests > rx.fail and rx.bad_signatures == 0
    assert metric(scrape, 'clets_api_webhook_deliveries_total{result="failed"}') == rx.fail
    assert metric(scrape, "clets_api_webhook_dead_letters") == 0
    ids = Counter(m for m, _b in rx.accepted)
    by_dest = Counter((b["data"]["msn"], b["data"]["message"]["origin"])
                      for m, b in {m: b for m, b in rx.accepted}.items())
    assert set(by_dest.values()) == {1} and set(by_dest) == {(m, o) for m in msns for o in ORIS}
    assert all(b["type"] == "clets.delivery" and b["data"]["id"] == int(m)
               for m, b in rx.accepted)
    # at least once: a repeat (a POST taken but its answer lost) has the same id; none here
    assert set(ids.values()) == {1}
    # every failed attempt is in the audit trail, as for any delivery
    conn = sqlite3.connect(f"file:{tmp_path / 'journal.db'}?mode=ro", uri=True)
    try:  # either journal format (CLETS_JOURNAL_FORMAT)
        failed = [r for r in audit.records(conn) if r["event"] == "delivery_failed"
                  and "webhook" in str(r["reason"]) and "HTTP 503" in str(r["reason"])]
    finally:
        conn.close()
    assert len(failed) == rx.fail


@run_async
async def test_a_receiver_that_never_recovers_gets_dead_letters(tmp_path: Path) -> None:
    secret = webhooks.new_secret()
    secret_file = tmp_path / "s"
    secret_file.write_text(secret, "utf-8")
    with Receiver(secret, fail=10**6) as rx:
        async with running_daemon(tmp_path, api=_webhook_api(rx.url, secret_file),
                                  retries=2) as (daemon, base), \
                httpx.AsyncClient(base_url=base, timeout=30) as http:
            retry = daemon.switch.config.switch.retry
            r = await http.post("/v1/messages", json=qw("D1"))
            assert r.status_code == 202, r.text
            j = daemon.switch.journal
            await eventually(lambda: len([x for x in j.list_rows(state="dead")
                                          if x.target == "api"]) == 3, timeout=90)
            dead = [x for x in j.list_rows(state="dead") if x.target == "api"]
            assert all(x.attempts == retry.retries + 1 for x in dead)
            assert all("HTTP 503" in (j.dead_reason(x.id) or "") for x in dead)
            # the stream still has them: a webhook client may read its journal too
            async with http.stream("GET", "/v1/events", headers={"Last-Event-ID": "0"}) as s:
                buf = b""
                async for chunk in s.aiter_raw():
                    buf += chunk
                    if b": live" in buf:
                        break
                scrape = (await http.get("/metrics")).text
            assert all(f"id: {x.id}".encode() in buf for x in dead)
            assert metric(scrape, "clets_api_event_streams") == 1
            assert metric(scrape, 'clets_api_events_total{source="replay"}') == 3
            assert metric(scrape, "clets_api_webhook_dead_letters") == 3
            assert metric(scrape, "clets_api_delivery_backlog") == 0
            assert metric(scrape, 'clets_api_webhook_deliveries_total{result="failed"}') == \
                3 * (retry.retries + 1)
            assert metric(scrape, 'clets_api_webhook_deliveries_total{result="ok"}') == 0
            async with asyncio.timeout(30):  # the server sees the hang-up, then ends it
                while metric((await http.get("/metrics")).text,
                             "clets_api_event_streams") != 0:
                    await asyncio.sleep(0.05)
    assert rx.accepted == [] and rx.requests >= 3


def test_webhook_config_problems_are_named(tmp_path: Path) -> None:
    from clets.api.config import api_config
    from clets.switch import parse_config

    bad = tmp_path / "bad.secret"
    bad.write_text("not a secret", "utf-8")
    api = ('[api]\nlisten = "127.0.0.1:0"\nplain = true\npeer = "LAPD"\n\n'
           '[[api.webhook]]\npeer = "NOPE"\nurl = "http://cad.example.org/x"\n'
           f'secret_file = "{bad}"\n')
    text = api_config_text(tmp_path / "j.db", {"WPS": "tcp://127.0.0.1:1?framing=len2&plain=1"},
                           api=api)
    cfg = parse_config(text, str(tmp_path / "s.toml"), tmp_path)
    with pytest.raises(ConfigProblems) as info:
        api_config(cfg, text)
    msg = str(info.value)
    assert "peer 'NOPE' is not a [[peer]]" in msg
    assert "plain http:// only to a loopback address" in msg
    assert "secret_file" in msg



def test_webhook_secret_command_writes_a_private_secret_once(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from clets.cli import cli

    path = tmp_path / "cad.secret"
    r = CliRunner().invoke(cli, ["api", "webhook-secret", str(path)])
    assert r.exit_code == 0, r.output
    secret = r.output.strip()
    assert path.read_text("utf-8").strip() == secret and secret.startswith("whsec_")
    assert len(webhooks.secret_bytes(secret)) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    again = CliRunner().invoke(cli, ["api", "webhook-secret", str(path)])
    assert again.exit_code == 1 and path.read_text("utf-8").strip() == secret


@run_async
async def test_poster_over_https_trusts_the_configured_ca_only(tmp_path: Path) -> None:
    """An https:// receiver with a private CA: delivered when ``ca`` names it, a LinkError
    (the switch retries) when it does not."""
    import ssl

    import trustme

    from clets.api.webhook_client import WebhookPoster, WebhookTarget
    from clets.errors import LinkError

    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    secret = webhooks.new_secret()
    with Receiver(secret, fail=0) as rx:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(ctx)
        rx.server.socket = ctx.wrap_socket(rx.server.socket, server_side=True)
        url = rx.url.replace("http://", "https://")
        poster = WebhookPoster()
        try:
            await poster.post(WebhookTarget("LAPD", url, secret, ca_file), 5, {"id": 5},
                              time.time())
            with pytest.raises(LinkError, match="webhook"):
                await poster.post(WebhookTarget("LAPD", url, secret), 6, {"id": 6},
                                  time.time())
        finally:
            await poster.close()
    assert [m for m, _b in rx.accepted] == ["5"]


@run_async
async def test_webhook_deliveries_wait_in_the_journal_across_a_sigkill(tmp_path: Path) -> None:
    """The receiver is down while the answers come in; the daemon is killed -9 with every
    delivery failed at least once; after the restart the receiver is back and gets each one
    (at least once: the ids it took twice, if any, are the same ids)."""
    n = 5
    async with webhook_daemon(tmp_path, fail=10**9) as (rx, proc, base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            posted = [await http.post("/v1/messages?wait=20", json=qw(f"R{i}"))
                      for i in range(n)]
            assert all(r.status_code == 202 for r in posted)
            msns = [r.json()["msn"] for r in posted]
            for msn in msns:
                await settle(http, msn)

        def attempts() -> int:
            with rx.lock:
                return rx.requests

        await eventually(lambda: attempts() >= 3 * n, timeout=30)
        async with httpx.AsyncClient(base_url=base) as http:
            scrape = (await http.get("/metrics")).text
        # every delivery failed at least once and waits for its retry
        assert metric(scrape, "clets_api_delivery_backlog") == 3 * n
        assert metric(scrape, 'clets_api_webhook_deliveries_total{result="ok"}') == 0
        await proc.kill()
        with rx.lock:
            rx.fail = 0  # the receiver is back
        await proc.start(timeout=60)

        def unique() -> int:
            with rx.lock:
                return len({m for m, _b in rx.accepted})

        await eventually(lambda: unique() >= 3 * n, timeout=60)
    assert rx.bad_signatures == 0
    first = {m: b for m, b in reversed(rx.accepted)}
    by_dest = Counter((b["data"]["msn"], b["data"]["message"]["origin"])
                      for b in first.values())
    assert set(by_dest.values()) == {1} and set(by_dest) == {(m, o) for m in msns for o in ORIS}
    repeats = len(rx.accepted) - len(first)
    assert repeats >= 0  # allowed (documented at least once); each repeat has a seen id


@run_async
async def test_a_webhook_set_on_a_client_record_while_the_switch_runs(tmp_path: Path) -> None:
    """``clets api client add --webhook URL`` on a running switch: the next deliveries of
    the client's peer are POSTed there, signed with the secret the command printed once;
    ``client webhook --remove`` and ``revoke`` take it away again."""
    from click.testing import CliRunner

    from clets.cli import cli

    def clets(*args: str) -> dict[str, Any]:
        r = CliRunner().invoke(cli, ["api", "client", *args, "--config",
                                     str(tmp_path / "switch.toml")])
        assert r.exit_code == 0, r.output
        return dict(json.loads(r.output))

    with Receiver("", fail=0) as rx:
        async with running_daemon(tmp_path) as (daemon, base), \
                httpx.AsyncClient(base_url=base, timeout=30) as http:
            assert daemon.api is not None
            from clets.api.webhook_client import ClientWebhooks

            hooks = daemon.api.hub.webhooks
            assert isinstance(hooks, ClientWebhooks) and hooks("LAPD") == []
            hooks.interval = 0.0  # look at the store at every call (1 s by default)
            made = clets("add", "--peer", "LAPD", "--id", "cad-1", "--webhook", rx.url)
            assert made["webhook_url"] == rx.url
            with rx.lock:
                rx.secret = made["webhook_secret"]
            r = await http.post("/v1/messages", json=qw("C1"))
            assert r.status_code == 202, r.text
            msn = r.json()["msn"]

            def got() -> int:
                with rx.lock:
                    return len(rx.accepted)

            await eventually(lambda: got() >= 3, timeout=60)
            assert {b["data"]["msn"] for _m, b in rx.accepted} == {msn}
            listed = CliRunner().invoke(cli, ["api", "client", "list", "--config",
                                              str(tmp_path / "switch.toml")])
            assert json.loads(listed.output)["webhook_url"] == rx.url
            assert "whsec_" not in listed.output  # the secret is shown once only
            assert [t.url for t in hooks("LAPD")] == [rx.url]
            assert clets("webhook", "cad-1", "--remove")["webhook_url"] is None
            assert hooks("LAPD") == []
            again = clets("webhook", "cad-1", "--url", rx.url)
            assert again["webhook_secret"] != made["webhook_secret"]
            assert [t.secret for t in hooks("LAPD")] == [again["webhook_secret"]]
            r = CliRunner().invoke(cli, ["api", "client", "revoke", "cad-1", "--config",
                                         str(tmp_path / "switch.toml")])
            assert r.exit_code == 0, r.output
            assert hooks("LAPD") == []
    assert rx.bad_signatures == 0


def test_client_webhook_urls_are_checked(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from clets.cli import cli

    store = str(tmp_path / "clients.db")
    for url, why in (("http://cad.example.org/x", "only to a loopback address"),
                     ("ftp://cad.example.org/x", "url must be https://")):
        r = CliRunner().invoke(cli, ["api", "client", "add", "--store", store, "--peer",
                                     "LAPD", "--webhook", url])
        assert r.exit_code == 2 and why in r.output, r.output
    r = CliRunner().invoke(cli, ["api", "client", "add", "--store", store, "--peer", "LAPD"])
    assert r.exit_code == 0 and "webhook" not in r.output, r.output
    r = CliRunner().invoke(cli, ["api", "client", "webhook", "nobody", "--store", store,
                                 "--url", "https://cad.example.org/x"])
    assert r.exit_code == 1 and "no active client 'nobody'" in r.output, r.output


def test_the_client_store_keeping_webhook_secrets_is_its_owners_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Webhook secrets are kept in clear in the client store (the box signs with them):
    ``client add --webhook`` makes the store mode 0600, ``client webhook --url`` (a new
    secret: the rotation) makes it so again after a copy or a restore loosened it, and the
    running switch warns while it is readable by others."""
    import logging
    import os

    from click.testing import CliRunner

    from clets.api.webhook_client import ClientWebhooks
    from clets.cli import cli

    store = tmp_path / "clients.db"
    url = "http://127.0.0.1:9/hooks"
    r = CliRunner().invoke(cli, ["api", "client", "add", "--store", str(store), "--peer",
                                 "LAPD", "--id", "cad-1", "--webhook", url])
    assert r.exit_code == 0, r.output
    first = json.loads(r.output)["webhook_secret"]
    assert store.stat().st_mode & 0o777 == 0o600
    hooks = ClientWebhooks((), store)
    with caplog.at_level(logging.WARNING, logger="clets.api"):
        assert [t.secret for t in hooks("LAPD")] == [first]
    assert "readable by others" not in caplog.text
    os.chmod(store, 0o644)  # as a careless copy leaves it
    hooks.interval = 0.0
    os.utime(store, ns=(store.stat().st_atime_ns, store.stat().st_mtime_ns + 10**9))
    with caplog.at_level(logging.WARNING, logger="clets.api"):
        hooks("LAPD")
    assert "readable by others (mode 644)" in caplog.text and first not in caplog.text
    r = CliRunner().invoke(cli, ["api", "client", "webhook", "cad-1", "--store", str(store),
                                 "--url", url])
    assert r.exit_code == 0, r.output
    rotated = json.loads(r.output)["webhook_secret"]
    assert rotated != first and store.stat().st_mode & 0o777 == 0o600
    assert [t.secret for t in hooks("LAPD")] == [rotated]

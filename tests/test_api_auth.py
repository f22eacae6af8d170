"""Authentication and identity of the HTTP API against a real uvicorn on 127.0.0.1 with TLS
(trustme certificates, as the link tests make them): mutual TLS, OAuth 2.0 client
credentials with tokens bound to the client certificate (RFC 8705), revocation, rate limits,
TLS 1.2+, the config's refusals, and the ``clets api client`` commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from click.testing import CliRunner

from clets.api.config import api_config
from clets.cli import cli
from clets.switch import parse_config
from clets.switch.config import ConfigProblems
from tests._api_kit import qw as qw_json
from tests._api_kit import running_api, server_nodelay
from tests._switch_kit import run_async

pytestmark = pytest.mark.timeout(60)

BODYCAM = """
[[peer]]
mnemonic = "BODYCAM"
oris = ["CA0194299"]
access = "inquiry"
cert_subject = "bodycam-01"
"""


class Pki:
    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        self.tmp = tmp
        server = self.ca.issue_cert("127.0.0.1", "localhost")
        server.private_key_pem.write_to_path(str(tmp / "api.key"))
        server.cert_chain_pems[0].write_to_path(str(tmp / "api.pem"))
        self.ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
        self.certs: dict[str, trustme.LeafCert] = {}

    def api_table(self, extra: str = "") -> str:
        return (f'[api]\nlisten = "127.0.0.1:0"\ncert = "{self.tmp / "api.pem"}"\n'
                f'key = "{self.tmp / "api.key"}"\nca = "{self.tmp / "ca.pem"}"\n{extra}')

    def leaf(self, name: str) -> trustme.LeafCert:
        if name not in self.certs:
            self.certs[name] = self.ca.issue_cert(name)
        return self.certs[name]

    def ctx(self, name: str | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(ctx)
        if name is not None:
            self.leaf(name).configure_cert(ctx)
        return ctx

    def pem(self, name: str) -> Path:
        path = self.tmp / f"{name}.pem"
        self.leaf(name).cert_chain_pems[0].write_to_path(str(path))
        return path


def bodycam_qw(control: str) -> dict[str, Any]:
    return qw_json(control, origin="CA0194299")


async def token_of(http: httpx.AsyncClient, cid: str, secret: str) -> httpx.Response:
    return await http.post("/v1/token", data={"grant_type": "client_credentials"},
                           auth=(cid, secret))


def add_client(tmp: Path, *args: str) -> dict[str, Any]:
    r = CliRunner().invoke(cli, ["api", "client", "add", "--config",
                                 str(tmp / "switch.toml"), *args])
    assert r.exit_code == 0, r.output
    return dict(json.loads(r.output))


@run_async
async def test_mutual_tls_maps_the_certificate_to_its_peer(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    async with running_api(tmp_path, api=pki.api_table(), extra=BODYCAM, serve=True,
                           client={"verify": pki.ctx("bodycam-01")}) as h:
        r = await h.http.post("/v1/messages?wait=10", json=bodycam_qw("M1"))
        assert r.status_code == 202, r.text
        assert len(r.json()["answers"]) == 3
        assert server_nodelay(h.server) == [1]  # TLS connections too
        # the certificate's peer may use its own ORIs only (step 2: .10.)
        r = await h.http.post("/v1/messages", json=qw_json("M2"))
        assert r.status_code == 403 and r.json()["code"] == 10
        base = h.http.base_url
        async with httpx.AsyncClient(base_url=base, verify=pki.ctx()) as anon:
            r = await anon.post("/v1/messages", json=bodycam_qw("M3"))
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert r.headers["content-type"] == "application/problem+json"
        # trusted by the CA but named by no peer: not authorised (trust is not authorisation)
        async with httpx.AsyncClient(base_url=base, verify=pki.ctx("stranger")) as other:
            r = await other.post("/v1/messages", json=bodycam_qw("M4"))
            assert r.status_code == 401 and "names no configured peer" in r.json()["detail"]


@run_async
async def test_client_credentials_tokens_revocation_and_certificate_binding(
        tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    async with running_api(tmp_path, api=pki.api_table(), extra=BODYCAM, serve=True,
                           client={"verify": pki.ctx()}) as h:
        cad = add_client(tmp_path, "--peer", "LAPD", "--id", "cad-vendor")
        assert cad["client_id"] == "cad-vendor" and len(cad["client_secret"]) >= 40
        r = await token_of(h.http, "cad-vendor", "wrong")
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        r = await h.http.post("/v1/token", data={"grant_type": "password"},
                              auth=("cad-vendor", cad["client_secret"]))
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
        r = await token_of(h.http, "cad-vendor", cad["client_secret"])
        assert r.status_code == 200, r.text
        tok = r.json()
        assert tok["token_type"] == "Bearer" and tok["expires_in"] == 300
        assert r.headers["cache-control"] == "no-store"
        auth = {"Authorization": f"Bearer {tok['access_token']}"}
        r = await h.http.post("/v1/messages", json=qw_json("T1", operator="JDOE"),
                              headers=auth)
        assert r.status_code == 202, r.text
        # form credentials work as well as Basic
        r = await h.http.post("/v1/token", data={
            "grant_type": "client_credentials", "client_id": "cad-vendor",
            "client_secret": cad["client_secret"]})
        assert r.status_code == 200
        r = await h.http.post("/v1/messages", json=qw_json("T2"),
                              headers={"Authorization": "Bearer " + "x" * 40})
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"

        listed = CliRunner().invoke(cli, ["api", "client", "list", "--config",
                                          str(tmp_path / "switch.toml")])
        assert listed.exit_code == 0 and "client_secret" not in listed.output
        assert json.loads(listed.output.splitlines()[0])["client_id"] == "cad-vendor"
        revoked = CliRunner().invoke(cli, ["api", "client", "revoke", "--config",
                                           str(tmp_path / "switch.toml"), "cad-vendor"])
        assert revoked.exit_code == 0
        await asyncio.sleep(1.1)  # the client cache: a second
        r = await h.http.post("/v1/messages", json=qw_json("T3"), headers=auth)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
        r = await token_of(h.http, "cad-vendor", cad["client_secret"])
        assert r.status_code == 401

        # a client registered with its certificate: the token is bound to it (RFC 8705)
        cam = add_client(tmp_path, "--peer", "BODYCAM", "--id", "cam",
                         "--cert", str(pki.pem("cam-device-7")))
        r = await token_of(h.http, "cam", cam["client_secret"])  # no certificate
        assert r.status_code == 401 and "certificate" in r.json()["detail"]
        async with httpx.AsyncClient(base_url=h.http.base_url,
                                     verify=pki.ctx("cam-device-7")) as device:
            r = await token_of(device, "cam", cam["client_secret"])
            assert r.status_code == 200, r.text
            bound = {"Authorization": f"Bearer {r.json()['access_token']}"}
            r = await device.post("/v1/messages", json=bodycam_qw("B1"), headers=bound)
            assert r.status_code == 202, r.text
        r = await h.http.post("/v1/messages", json=bodycam_qw("B2"), headers=bound)
        assert r.status_code == 401 and "RFC 8705" in r.json()["detail"]
        async with httpx.AsyncClient(base_url=h.http.base_url,
                                     verify=pki.ctx("bodycam-01")) as other:
            r = await other.post("/v1/messages", json=bodycam_qw("B3"), headers=bound)
            assert r.status_code == 401


@run_async
async def test_tls_below_1_2_is_refused(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    async with running_api(tmp_path, api=pki.api_table(), serve=True,
                           client={"verify": pki.ctx()}) as h:
        assert h.server.ctx is not None
        host, port = h.server.address().rsplit(":", 1)
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        pki.ca.configure_trust(old)
        old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():  # deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _r, w = await asyncio.open_connection(host, int(port), ssl=old,
                                                  server_hostname="127.0.0.1")
            w.close()
        ok = ssl.create_default_context()
        pki.ca.configure_trust(ok)
        ok.maximum_version = ssl.TLSVersion.TLSv1_2
        _r, w = await asyncio.open_connection(host, int(port), ssl=ok,
                                              server_hostname="127.0.0.1")
        assert w.get_extra_info("ssl_object").version() == "TLSv1.2"
        w.close()


@run_async
async def test_rate_limit_answers_429_with_retry_after(tmp_path: Path) -> None:
    api = '[api]\nlisten = "127.0.0.1:0"\nplain = true\npeer = "LAPD"\nrate = 0.5\nburst = 2\n'
    async with running_api(tmp_path, api=api) as h:
        codes = [(await h.http.get("/v1/messages/1")).status_code for _ in range(2)]
        assert codes == [404, 404]
        r = await h.http.get("/v1/messages/1")
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        assert int(r.headers["retry-after"]) >= 1 and r.json()["retry_after"] >= 1


@run_async
async def test_huge_headers_and_slow_bodies_get_a_4xx_from_the_real_server(
        tmp_path: Path) -> None:
    async with running_api(tmp_path, serve=True) as h:
        r = await h.http.get("/v1/messages/1", headers={"X-Big": "a" * 40000})
        assert r.status_code in (400, 431), r.status_code
        r = await h.http.post("/v1/messages", content=b"x" * 70000,
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        # a head that never ends is cut, not held in memory (httptools has no bound)
        host, port = h.server.address().rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /v1/messages/1 HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        with contextlib.suppress(ConnectionError):
            for _ in range(64):
                writer.write(b"a" * 16384)
                await writer.drain()
                sent += 16384
        with contextlib.suppress(ConnectionError):
            answer = await asyncio.wait_for(reader.read(), 10)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer[:100]
        writer.close()


def test_config_refuses_plain_http_off_loopback_and_https_without_a_certificate(
        tmp_path: Path) -> None:
    base = ('[switch]\nname = "A"\nhome_state = "CA"\njournal = "j.db"\n'
            '[[peer]]\nmnemonic = "LAPD"\noris = ["CA0194200"]\n')
    for table, why in (
            ('[api]\nlisten = "0.0.0.0:8080"\nplain = true\n', "plain HTTP only on a loopback"),
            ('[api]\nlisten = "127.0.0.1:8443"\n', "HTTPS needs cert and key"),
            ('[api]\nlisten = "127.0.0.1:8443"\nplain = true\npeer = "NOPE"\n', "not a [[peer]]"),
            ('[api]\nlisten = "nowhere"\nplain = true\n', "listen must be HOST:PORT"),
            ('[api]\nlisten = "127.0.0.1:1"\nplain = true\nbogus = 1\n', "unknown key")):
        text = base + table
        cfg = parse_config(text, "s.toml", tmp_path)
        with pytest.raises(ConfigProblems) as err:
            api_config(cfg, text)
        assert why in str(err.value), (table, str(err.value))
        assert err.value.problems[0].line is not None


def test_check_config_reports_the_api_table_and_its_tls_files(tmp_path: Path) -> None:
    pki = Pki(tmp_path)
    base = ('[switch]\nname = "A"\nhome_state = "CA"\njournal = "j.db"\n'
            '[[peer]]\nmnemonic = "LAPD"\noris = ["CA0194200"]\n')
    good = tmp_path / "good.toml"
    good.write_text(base + pki.api_table(), "utf-8")
    r = CliRunner().invoke(cli, ["check-config", str(good)])
    assert r.exit_code == 0 and r.output.startswith("ok"), r.output
    other = trustme.CA().issue_cert("127.0.0.1")  # a key that is not the certificate's
    other.private_key_pem.write_to_path(str(tmp_path / "wrong.key"))
    bad = tmp_path / "bad.toml"
    bad.write_text(base + pki.api_table().replace("api.key", "wrong.key"), "utf-8")
    r = CliRunner().invoke(cli, ["check-config", str(bad)])
    assert r.exit_code == 2 and "bad.toml:" in r.output and "[api]" in r.output, r.output
    worse = tmp_path / "worse.toml"
    worse.write_text(base + '[api]\nlisten = "0.0.0.0:80"\nplain = true\n', "utf-8")
    r = CliRunner().invoke(cli, ["check-config", str(worse)])
    assert r.exit_code == 2 and "loopback" in r.output, r.output


def test_token_endpoint_is_throttled_for_the_whole_box() -> None:
    from clets.api.auth import TOKEN_BURST, RateLimiter
    from clets.api.problems import ApiProblem

    limiter = RateLimiter(10.0, TOKEN_BURST)
    for _ in range(TOKEN_BURST):
        limiter.take("*", now=100.0)
    with pytest.raises(ApiProblem) as err:
        limiter.take("*", now=100.0)
    assert err.value.status == 429 and err.value.headers["Retry-After"] == "1"
    limiter.take("*", now=100.2)  # 10/s: two tokens back after 0.2 s


def test_a_token_verified_once_is_still_checked_for_expiry_client_and_certificate(
        tmp_path: Path) -> None:
    """``Tokens.verify`` decodes a token the first time and keeps its claims: a repeat is
    still refused once it expires (``exp`` with the same leeway as the decode), when its
    client is revoked, and without the certificate it is bound to; a token that failed
    is never kept."""
    import time

    from clets.api.clients import ClientStore
    from clets.api.tokens import LEEWAY, TokenError, Tokens

    store = ClientStore(tmp_path / "clients.db")
    client, _secret = store.add("LAPD", client_id="cad-1")
    tokens = Tokens(store, b"k" * 32, issuer="clets-test", ttl=300)
    token, ttl = tokens.issue(client, None)
    exp = int(time.time()) + ttl  # within a second of the token's own
    assert tokens.verify(token, None).client.id == "cad-1"
    assert token in tokens._verified
    assert tokens.verify(token, None, now=exp + LEEWAY - 2).claims["sub"] == "cad-1"
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token, None, now=exp + LEEWAY + 1)
    assert token not in tokens._verified
    bound, _ = tokens.issue(client, "thumb-A")
    assert tokens.verify(bound, "thumb-A").client.id == "cad-1"
    with pytest.raises(TokenError, match="RFC 8705"):
        tokens.verify(bound, "thumb-B")
    with pytest.raises(TokenError, match="RFC 8705"):
        tokens.verify(bound, None)
    forged = Tokens(store, b"x" * 32, issuer="clets-test", ttl=300).issue(client, None)[0]
    for _ in range(2):
        with pytest.raises(TokenError, match="not valid"):
            tokens.verify(forged, None)
    assert forged not in tokens._verified
    assert store.revoke("cad-1")
    tokens._cache.clear()  # the client cache (a second) as if it had passed
    with pytest.raises(TokenError, match="revoked"):
        tokens.verify(bound, "thumb-A")

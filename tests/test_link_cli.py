"""``clets link test`` against real servers (as a subprocess: exit codes are part of the contract),
and link URL parsing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import pytest

from clets.adapters.tcp import StreamOptions, TcpServer, client_from_url
from clets.adapters.url import parse_link_url
from clets.errors import ConfigError, LinkError
from tests._socat import SocatPair, open_raw
from tests._tlscerts import Pki, arun

pytestmark = pytest.mark.timeout(120)
CLETS = [sys.executable, "-c", "from clets.cli import main; main()"]


async def clets(*args: str, timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *CLETS, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        os.kill(proc.pid, 9)
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


@pytest.fixture
def pem(pki: Pki, tmp_path: Path) -> dict[str, str]:
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "me.pem", "key": tmp_path / "me.key",
             "bad_cert": tmp_path / "stranger.pem", "bad_key": tmp_path / "stranger.key"}
    pki.ca.cert_pem.write_to_path(str(paths["ca"]))
    mine = pki.ca.issue_cert("client-router-01")
    mine.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    mine.private_key_pem.write_to_path(str(paths["key"]))
    other = pki.ca.issue_cert("stranger-99")
    other.cert_chain_pems[0].write_to_path(str(paths["bad_cert"]))
    other.private_key_pem.write_to_path(str(paths["bad_key"]))
    return {k: str(v) for k, v in paths.items()}


async def echo_server(srv: TcpServer, silent: bool = False) -> None:
    while True:
        inbound = await srv.receive()
        if not silent:
            await inbound.reply(b"ECHO " + inbound.payload + b"\x1b[2J")


def test_link_test_over_mutual_tls_shows_details_and_reply(pki: Pki, pem: dict[str, str]) -> None:
    async def main() -> None:
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers) as srv:
            task = asyncio.create_task(echo_server(srv))
            url = (f"tcp+tls://127.0.0.1:{srv.port}?framing=len2&ca={pem['ca']}"
                   f"&cert={pem['cert']}&key={pem['key']}")
            code, out, err = await clets("link", "test", url, "--send", "hello", "--timeout", "10")
            assert code == 0, err
            assert "tls: TLSv1.3" in out and "bits" in out
            assert "names=localhost,127.0.0.1" in out
            # the escape sequence in the reply is shown escaped, not sent to the terminal
            assert "reply (14 bytes): ECHO hello\\x1b[2J" in out
            assert "\x1b" not in out
            # an unmapped certificate: the server hangs up, no reply -> exit 1
            url2 = (f"tcp+tls://127.0.0.1:{srv.port}?ca={pem['ca']}"
                    f"&cert={pem['bad_cert']}&key={pem['bad_key']}")
            code, out, err = await clets("link", "test", url2, "--send", "x", "--timeout", "5")
            assert code == 1
            assert "sent" not in out  # found refused before anything was sent
            # and without --send: "connected" alone is not "the link works" (it exited 0)
            code, out, err = await clets("link", "test", url2, "--timeout", "5")
            assert code == 1, out
            assert "refused our certificate" in err
            url3 = f"tcp+tls://127.0.0.1:{srv.port}?ca={pem['ca']}"  # no client certificate
            code, out, err = await clets("link", "test", url3, "--timeout", "5")
            assert code == 1, out
            task.cancel()
    arun(main(), timeout=60)


def test_link_test_waits_for_several_replies() -> None:
    async def fan_out(srv: TcpServer) -> None:
        with contextlib.suppress(LinkError):
            while True:
                inbound = await srv.receive()
                for who in (b"WPS", b"NCIC", b"CARPOS"):
                    await inbound.reply(who + b" " + inbound.payload)

    async def main() -> None:
        async with TcpServer(plain=True) as srv:
            task = asyncio.create_task(fan_out(srv))
            url = f"tcp://127.0.0.1:{srv.port}?framing=len2&plain=1"
            code, out, err = await clets("link", "test", url, "--send", "QW", "--replies", "3")
            assert code == 0, err
            assert "reply 1/3 (6 bytes): WPS QW" in out and "reply 3/3 (9 bytes): CARPOS QW" in out
            code, out, err = await clets("link", "test", url, "--send", "QW", "--replies", "4",
                                         "--timeout", "0.5")
            assert code == 1 and "(got 3 of 4)" in err
            task.cancel()
    arun(main(), timeout=60)


def test_link_test_exit_codes(pki: Pki, pem: dict[str, str]) -> None:
    async def main() -> None:
        async with TcpServer(plain=True, options=StreamOptions(framing="ascii-len:5")) as srv:
            task = asyncio.create_task(echo_server(srv, silent=True))
            base = f"tcp://127.0.0.1:{srv.port}?framing=ascii-len:5"
            code, out, err = await clets("link", "test", base + "&plain=1")
            assert code == 0 and "plain TCP" in out
            code, out, err = await clets("link", "test", base + "&plain=1", "--send", "q",
                                         "--timeout", "0.5")
            assert code == 1 and "no reply within 0.5 s" in err
            code, out, err = await clets("link", "test", base, "--send", "q")
            assert code == 2 and "plain=1" in err and "Traceback" not in err
            code, out, err = await clets("link", "test", "ftp://x:1/")
            assert code == 2 and "unknown scheme" in err
            task.cancel()
        code, out, err = await clets("link", "test", base + "&plain=1")  # server gone
        assert code == 1 and "cannot connect" in err
    arun(main(), timeout=60)


@pytest.mark.realpeer
def test_link_test_on_a_serial_line() -> None:
    pair = SocatPair().start()
    raw = open_raw(pair.b)
    try:
        async def main() -> None:
            url = f"serial://{pair.a}?baud=9600&framing=line"
            code, out, err = await clets("link", "test", url, "--send", "ZZ01 TEST",
                                         "--no-reply")
            assert code == 0, err
            assert f"opened {pair.a} (9600 baud 8N1, framing line)" in out
            data = b""
            async with asyncio.timeout(5):
                while not data.endswith(b"\r\n"):
                    await asyncio.sleep(0.02)
                    try:
                        data += os.read(raw, 100)
                    except BlockingIOError:
                        pass
            assert data == b"ZZ01 TEST\r\n"
        arun(main(), timeout=60)
    finally:
        os.close(raw)
        pair.stop()


def test_link_test_spool_probe(tmp_path: Path) -> None:
    async def main() -> None:
        code, out, err = await clets("link", "test", f"spool://{tmp_path}")
        from importlib.util import find_spec

        if find_spec("clets.adapters.spool") is None:
            assert code == 1 and "not available" in err
        else:
            assert code == 0 and str(tmp_path) in out
    arun(main(), timeout=60)


# --- URLs -------------------------------------------------------------------------------------


def test_parse_link_urls() -> None:
    u = parse_link_url("tcp+tls://switch.example:7001?framing=len2&ca=/etc/ca.pem")
    assert (u.scheme, u.host, u.port, u.params["ca"]) == ("tcp+tls", "switch.example", 7001,
                                                          "/etc/ca.pem")
    u = parse_link_url("serial:///dev/ttyS0?baud=9600&framing=stx-etx%2Blrc")
    assert (u.path, u.params["framing"]) == ("/dev/ttyS0", "stx-etx+lrc")
    # as the docs write it: "+" is a plus in a link URL, not a space (HTML forms)
    u = parse_link_url("serial:///dev/ttyS0?baud=9600&framing=stx-etx+lrc&note=a%20b")
    assert (u.params["framing"], u.params["note"]) == ("stx-etx+lrc", "a b")
    u = parse_link_url("sftp://drop@10.0.0.5/inbox?key=/k")
    assert (u.user, u.host, u.port, u.path) == ("drop", "10.0.0.5", 22, "/inbox")
    u = parse_link_url("spool:///var/spool/clets")
    assert u.path == "/var/spool/clets" and u.host is None
    assert parse_link_url("tcp://h:1?plain=1").flag("plain") is True


@pytest.mark.parametrize("bad", [
    "", "localhost:7001", "http://h:1", "tcp://:7001", "tcp://h", "tcp://h:99999",
    "tcp://h:port", "sftp://u:secret@h/in", "serial://host/dev/tty", "spool://", "tcp://h:1#frag",
    "tcp://h:1?a=1&a=2",
])
def test_bad_link_urls_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_link_url(bad)


@pytest.mark.parametrize("url", ["tcp://user:s3cretPW@127.0.0.1:7002?plain=1",
                                 "sftp://root:s3cretPW@h:x/in", "tcp://u:s3cretPW@h:1#frag"])
def test_a_password_in_a_url_is_never_repeated_in_the_error(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_link_url(url)
    assert "s3cretPW" not in str(err.value) and ":***@" in str(err.value)


@pytest.mark.parametrize("bad", [
    "tcp://h:1?framing=len2",                      # plain without plain=1
    "tcp://h:1?plain=1&ca=/x",                     # TLS material on a plain link
    "tcp+tls://h:1?plain=1",
    "tcp+tls://h:1?cert=/x",                       # cert without key
    "tcp+tls://h:1?framing=nope",
    "tcp://h:1?plain=maybe",
    "tcp://h:1?plain=1&idle_timeout=soon",
    "tcp://h:1?plain=1&typo=1",
])
def test_bad_tcp_link_options_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        client_from_url(parse_link_url(bad))


@pytest.mark.parametrize("url", [
    "tcp://h:1?plain=1&heartbeat_interval=-1", "tcp://h:1?plain=1&idle_timeout=nan",
    "tcp://h:1?plain=1&frame_timeout=-1", "tcp://h:1?plain=1&write_timeout=0",
    "tcp://h:1?plain=1&connect_timeout=-3", "tcp://h:1?plain=1&idle_timeout=inf",
    "tcp://h:1?plain=1&max_frame=0",
])
def test_tcp_option_values_out_of_range_are_config_errors(url: str) -> None:
    """links.md: malformed values are ConfigErrors (a negative heartbeat interval sent
    heartbeats in a tight loop; 0 was silently replaced by the default)."""
    from clets.adapters.tcp import client_from_url

    with pytest.raises(ConfigError, match="must be"):
        client_from_url(parse_link_url(url))


@pytest.mark.parametrize("query", ["parity=Mumble", "stopbits=0", "ack_timeout=0",
                                   "idle_timeout=-5", "heartbeat_interval=-1", "retries=-1",
                                   "baud=0"])
def test_serial_option_values_out_of_range_are_config_errors(query: str) -> None:
    from clets.adapters.serial import SerialConfig

    with pytest.raises(ConfigError):
        SerialConfig.from_url(parse_link_url(f"serial:///dev/ttyS0?{query}"))
    ok = SerialConfig.from_url(parse_link_url("serial:///dev/ttyS0?parity=even&retries=0"))
    assert (ok.parity, ok.retries) == ("E", 0)

"""TCP/TLS links over real loopback sockets with real (trustme) certificates."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from clets.adapters.base import Link, LinkState
from clets.adapters.tcp import Backoff, StreamOptions, TcpClient, TcpServer
from clets.errors import ConfigError, FrameTooLong, LinkError
from tests._tlscerts import Events, Pki, arun

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def test_mutual_tls_round_trip_maps_certificate_to_peer(pki: Pki) -> None:
    async def main() -> None:
        ev = Events()
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers, on_event=ev) as srv:
            cli = await TcpClient("127.0.0.1", srv.port, tls=pki.client_ctx()).connect()
            assert isinstance(cli, Link) and cli.state is LinkState.UP
            sent = [f"MSG{i:04d}".encode() * (i % 7 + 1) for i in range(50)]
            for frame in sent:
                await cli.send(frame)
            got = []
            for _ in sent:
                inbound = await srv.receive()
                assert inbound.peer.mnemonic == "RTR1"
                assert inbound.peer.method == "tls-cert"
                assert inbound.peer.allowed_oris == frozenset({"CA0010000", "CA0010001"})
                got.append(inbound.payload)
                await inbound.reply(b"ACK " + inbound.payload[:7])
            assert got == sent
            replies = [await cli.receive() for _ in sent]
            assert replies == [b"ACK " + f[:7] for f in sent]
            info = cli.link.tls if cli.link else {}
            assert info["version"] in ("TLSv1.2", "TLSv1.3")
            assert "GCM" in info["cipher"] or "CHACHA20" in info["cipher"]
            connected = ev.of("connected")
            assert connected and connected[0]["peer"] == "RTR1"
            await cli.close()
    arun(main())


def test_tls12_is_allowed_only_with_aead_ciphers(pki: Pki) -> None:
    async def main() -> None:
        ev = Events()
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers, on_event=ev) as srv:
            ok = pki.client_ctx()
            ok.maximum_version = ssl.TLSVersion.TLSv1_2
            cli = await TcpClient("127.0.0.1", srv.port, tls=ok, reconnect=False).connect()
            assert cli.link is not None
            assert cli.link.tls["version"] == "TLSv1.2"
            assert cli.link.tls["cipher"].startswith("ECDHE-")
            assert "GCM" in cli.link.tls["cipher"] or "CHACHA20" in cli.link.tls["cipher"]
            await cli.close()

            cbc = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            pki.ca.configure_trust(cbc)
            pki.ca.issue_cert("client-router-01").configure_cert(cbc)
            cbc.maximum_version = ssl.TLSVersion.TLSv1_2
            cbc.set_ciphers("ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:AES256-SHA")
            with pytest.raises(LinkError):
                await TcpClient("127.0.0.1", srv.port, tls=cbc, reconnect=False).connect()
            details = await ev.wait_for("auth_failed")
            assert "no shared cipher" in details["reason"].lower()
    arun(main())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls11_client_is_refused(pki: Pki) -> None:
    async def main() -> None:
        ev = Events()
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers, on_event=ev) as srv:
            old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            pki.ca.configure_trust(old)
            try:
                old.minimum_version = ssl.TLSVersion.TLSv1
                old.maximum_version = ssl.TLSVersion.TLSv1_1
            except (ValueError, ssl.SSLError):  # pragma: no cover - OpenSSL without TLS 1.1
                pytest.skip("this OpenSSL cannot even offer TLS 1.1")
            with pytest.raises(LinkError):
                await TcpClient("127.0.0.1", srv.port, tls=old, reconnect=False).connect()
            details = await ev.wait_for("auth_failed")
            assert "handshake" in details["reason"]
    arun(main())


@pytest.mark.parametrize("who", ["unmapped", "no-cert", "other-ca"])
def test_unknown_or_missing_client_certificate_is_refused_and_audited(pki: Pki, who: str) -> None:
    import trustme

    async def main() -> None:
        ev = Events()
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers, on_event=ev) as srv:
            if who == "unmapped":
                ctx = pki.client_ctx("stranger-99")
            elif who == "no-cert":
                ctx = pki.client_ctx(None)
            else:
                ctx = pki.client_ctx("client-router-01", ca=trustme.CA())
            cli = TcpClient("127.0.0.1", srv.port, tls=ctx, reconnect=False)
            try:
                await cli.connect()
            except LinkError:
                pass  # TLS 1.3 may fail at connect or only at the first read
            else:
                with pytest.raises(LinkError):
                    await cli.receive()  # the server closed it: never a frame
            await cli.close()
            details = await ev.wait_for("auth_failed")
            if who == "unmapped":
                assert details["names"] == ["stranger-99"]
                assert "not mapped" in details["reason"]
            assert srv.links == []
            assert ev.of("connected") == []
    arun(main())


def test_plain_tcp_only_when_configured_explicitly() -> None:
    with pytest.raises(ConfigError, match="plain"):
        TcpServer()
    with pytest.raises(ConfigError, match="plain"):
        TcpClient("127.0.0.1", 1)

    async def main() -> None:
        async with TcpServer(plain=True) as srv:
            cli = await TcpClient("127.0.0.1", srv.port, plain=True).connect()
            await cli.send(b"hello")
            inbound = await srv.receive()
            assert inbound.payload == b"hello"
            assert inbound.peer.method == "plain"
            await cli.close()
    arun(main())


def test_tls_server_needs_a_peer_map(pki: Pki) -> None:
    with pytest.raises(ConfigError, match="peer map"):
        TcpServer(tls=pki.server_ctx())


async def _closed_by_peer(r: asyncio.StreamReader) -> bool:
    """True once the peer has closed (FIN) or aborted (RST) the connection."""
    try:
        return await r.read() == b""
    except ConnectionError:
        return True


async def _raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


def test_oversized_length_prefix_cuts_connection_before_buffering() -> None:
    async def main() -> None:
        ev = Events()
        opts = StreamOptions(max_frame=1000)
        async with TcpServer(plain=True, options=opts, on_event=ev) as srv:
            r, w = await _raw(srv.port)
            w.write(b"\x00\x03abc" + b"\xff\xff")  # one good frame, then 65535 announced
            await w.drain()
            assert (await srv.receive()).payload == b"abc"
            details = await ev.wait_for("framing_error")
            assert details["offset"] == 5
            assert await _closed_by_peer(r)
            w.close()
            # the listener still serves others
            cli = await TcpClient("127.0.0.1", srv.port, plain=True, options=opts).connect()
            with pytest.raises(FrameTooLong):
                await cli.send(b"x" * 1001)
            await cli.send(b"fine")
            assert (await srv.receive()).payload == b"fine"
            await cli.close()
    arun(main())


def test_idle_and_slow_frame_deadlines_cut_off_and_audit() -> None:
    async def main() -> None:
        ev = Events()
        opts = StreamOptions(idle_timeout=0.3, frame_timeout=0.3)
        async with TcpServer(plain=True, options=opts, on_event=ev) as srv:
            r1, w1 = await _raw(srv.port)  # silent
            r2, w2 = await _raw(srv.port)  # slowloris: a header and a trickle
            w2.write(b"\x00\x10ab")
            await w2.drain()
            for _ in range(8):
                await asyncio.sleep(0.1)
                if w2.transport.is_closing():
                    break
                try:
                    w2.write(b"c")
                except ConnectionError:
                    break
            assert await _closed_by_peer(r1)
            assert await _closed_by_peer(r2)
            assert ev.of("idle_timeout") and ev.of("frame_timeout")
            w1.close()
            w2.close()
    arun(main())


def test_heartbeats_keep_an_idle_link_alive_and_are_not_delivered(pki: Pki) -> None:
    async def main() -> None:
        ev = Events()
        srv_opts = StreamOptions(idle_timeout=0.4, heartbeat=b"")
        cli_opts = StreamOptions(heartbeat_interval=0.05, heartbeat=b"")
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers, options=srv_opts,
                             on_event=ev) as srv:
            cli = await TcpClient("127.0.0.1", srv.port, tls=pki.client_ctx(),
                                  options=cli_opts).connect()
            await asyncio.sleep(1.2)  # 3 idle timeouts' worth of silence from the application
            assert ev.of("idle_timeout") == []
            await cli.send(b"after-the-wait")
            assert (await srv.receive()).payload == b"after-the-wait"
            await cli.close()
    arun(main())


def test_max_connections_per_peer(pki: Pki) -> None:
    async def main() -> None:
        ev = Events()
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers, max_per_peer=2,
                             on_event=ev) as srv:
            clients = [await TcpClient("127.0.0.1", srv.port, tls=pki.client_ctx(),
                                       reconnect=False).connect() for _ in range(2)]
            third = TcpClient("127.0.0.1", srv.port, tls=pki.client_ctx(), reconnect=False)
            try:
                await third.connect()
                with pytest.raises(LinkError):
                    await third.receive()
            except LinkError:
                pass
            details = await ev.wait_for("connection_refused")
            assert details["peer"] == "RTR1"
            other = await TcpClient("127.0.0.1", srv.port, tls=pki.client_ctx("client-router-02"),
                                    reconnect=False).connect()
            await other.send(b"from RTR2")
            assert (await srv.receive()).peer.mnemonic == "RTR2"
            for c in [*clients, third, other]:
                await c.close()
    arun(main())


def test_backoff_delays_grow_with_jitter_and_cap() -> None:
    draws = iter([0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    b = Backoff(initial=1.0, max=10.0, factor=2.0, jitter=0.25, random=lambda: next(draws))
    assert [round(b.delay(i), 6) for i in range(6)] == [0.75, 2.5, 4.0, 8.0, 10.0, 10.0]


def test_client_reconnects_with_backoff_until_server_appears() -> None:
    async def main() -> None:
        slept: list[float] = []

        async def fast_sleep(d: float) -> None:
            slept.append(d)
            await asyncio.sleep(0.02)

        # find a free port, then leave it closed for a while
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        ev = Events()
        cli = TcpClient("127.0.0.1", port, plain=True, on_event=ev,
                        backoff=Backoff(initial=0.1, factor=2, max=1.0, jitter=0.0,
                                        sleep=fast_sleep)).start()
        while len(ev.of("connect_failed")) < 4:
            await asyncio.sleep(0.01)
        srv = await TcpServer("127.0.0.1", port, plain=True).start()
        await cli.wait_up(5)
        assert slept[:4] == [0.1, 0.2, 0.4, 0.8]
        await cli.send(b"late but there")
        assert (await srv.receive()).payload == b"late but there"
        # server goes away: the client notices, reconnects to the restarted server
        await srv.close()
        srv = await TcpServer("127.0.0.1", port, plain=True).start()
        while cli.connects < 2:
            await asyncio.sleep(0.01)
        await cli.send(b"again")
        assert (await srv.receive()).payload == b"again"
        await cli.close()
        await srv.close()
    arun(main())


def test_graceful_shutdown_flushes_sent_frames(pki: Pki) -> None:
    async def main() -> None:
        srv = await TcpServer(tls=pki.server_ctx(), peers=pki.peers).start()
        cli = await TcpClient("127.0.0.1", srv.port, tls=pki.client_ctx(), reconnect=False,
                              backoff=Backoff(initial=5)).connect()
        await cli.send(b"hello")
        inbound = await srv.receive()
        replies = [f"R{i:05d}".encode() * 100 for i in range(300)]
        for r in replies:
            await inbound.reply(r)
        await srv.close()  # immediately: what was sent must still arrive, then EOF
        got = [f async for f in cli.frames()]
        assert got == replies
        assert cli.state is LinkState.CLOSED
    arun(main())


def test_per_connection_links_with_accept(pki: Pki) -> None:
    async def main() -> None:
        async with TcpServer(tls=pki.server_ctx(), peers=pki.peers, aggregate=False) as srv:
            cli = await TcpClient("127.0.0.1", srv.port, tls=pki.client_ctx()).connect()
            link = await srv.accept()
            assert isinstance(link, Link)
            await cli.send(b"ping")
            assert await link.receive() == b"ping"
            await link.send(b"pong")
            assert await cli.receive() == b"pong"
            with pytest.raises(ConfigError):
                await srv.receive()
            await cli.close()
            with pytest.raises(LinkError):
                await link.receive()
    arun(main())


def test_contexts_and_peer_map_from_files_and_config(pki: Pki, tmp_path: Path) -> None:
    from clets.adapters.tcp import client_from_url
    from clets.adapters.tls import PeerMap, server_context
    from clets.adapters.url import parse_link_url

    ca, srv_pem, cli_pem, cli_key = (tmp_path / n for n in ("ca.pem", "s.pem", "c.pem", "c.key"))
    pki.ca.cert_pem.write_to_path(str(ca))
    pki.server_cert.private_key_and_cert_chain_pem.write_to_path(str(srv_pem))
    cert = pki.ca.issue_cert("router-7.example")
    cert.cert_chain_pems[0].write_to_path(str(cli_pem))
    cert.private_key_pem.write_to_path(str(cli_key))
    peers = PeerMap.from_config({"router-7.example": {"mnemonic": "R7", "oris": ["CA0070000"]}})
    with pytest.raises(ConfigError):
        PeerMap.from_config({"x": {"oris": []}})
    with pytest.raises(ConfigError):
        server_context(str(srv_pem), None, None)  # mutual TLS needs a CA
    with pytest.raises(ConfigError):
        server_context(str(tmp_path / "missing.pem"), None, str(ca))

    async def main() -> None:
        sctx = server_context(str(srv_pem), None, str(ca))
        async with TcpServer(tls=sctx, peers=peers, options=StreamOptions(framing="mllp")) as srv:
            url = parse_link_url(f"tcp+tls://127.0.0.1:{srv.port}?ca={ca}&cert={cli_pem}"
                                 f"&key={cli_key}&framing=mllp")
            cli = client_from_url(url)
            await cli.connect()
            await cli.send(b"MSH|^~\\&|")
            got = await srv.receive()
            assert got.peer.mnemonic == "R7" and got.peer.allowed_oris == {"CA0070000"}
            await cli.close()
    arun(main())

"""``clets run``: a real subprocess with a small config (json origin over plain TCP, simulated
destinations in this test's process): a query end to end, /metrics, /healthz, SIGTERM drain,
config errors with line numbers."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import struct
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from clets.daemon import Daemon
from clets.model import Message, Name, Person, dumps
from clets.ops.http import OpsServer
from clets.sim import Faults, SimNetwork
from clets.switch import parse_config
from clets.switch.audit import records
from tests._crash_kit import CLETS, SwitchProcess, free_port, len2, switch_config
from tests._prom import prom_lines

pytestmark = pytest.mark.timeout(90)

DESTS = ("WPS", "NCIC", "CARPOS")


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def qw(control: str) -> bytes:
    msg = Message(format="json", mke="QW", origin="CA0194200", control=control,
                  person=Person(name=Name("SMITH", "JOHN", "J"), dob="1975-10-12", sex="M",
                                race="W"))
    return dumps(msg).encode()


class Client:
    """A bare len2 client (what an agency router does)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, address: str) -> Client:
        host, port = address.rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, payload: bytes) -> None:
        self.writer.write(len2(payload))
        await self.writer.drain()

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            (n,) = struct.unpack(">H", await self.reader.readexactly(2))
            return dict(json.loads(await self.reader.readexactly(n)))

    async def close(self) -> None:
        self.writer.close()


async def _start(tmp: Path, net: SimNetwork, *, args: tuple[str, ...] = ()) -> SwitchProcess:
    cfg = tmp / "switch.toml"
    cfg.write_text(switch_config(tmp / "journal.db", 0, {d: net.url(d) for d in DESTS},
                                 metrics="127.0.0.1:0"), "utf-8")
    proc = SwitchProcess(cfg, tmp / "switch.log", args=args)
    await proc.start()
    return proc


def test_query_end_to_end_metrics_health_and_sigterm(tmp_path: Path) -> None:
    async def main() -> None:
        async with SimNetwork(backends=list(DESTS), base_port=0) as net:
            proc = await _start(tmp_path, net)
            try:
                ready = proc.ready
                assert set(ready["listen"]) == {"lapd"} and ready["metrics"]
                client = await Client.open(ready["listen"]["lapd"])
                await client.send(qw("T1"))
                ack = await client.recv()
                assert ack["mke"] == "ACK" and ack["control"] == "T1"
                answers = [await client.recv() for _ in DESTS]
                assert {a["origin"] for a in answers} == {"CADOJWPS0", "DCFBIWA00",
                                                          "CADOJPO00"}
                assert all(a["control"] == "T1" and a["status"] == "hit" for a in answers)
                await client.close()

                base = f"http://{ready['metrics']}"
                status, body = await asyncio.to_thread(http_get, base + "/healthz")
                health = json.loads(body)
                assert status == 200 and health["ok"] and health["journal"] == "open"
                assert health["links"] == {"lapd": "up", "wps": "up", "ncic": "up",
                                           "carpos": "up"}
                status, text = await asyncio.to_thread(http_get, base + "/metrics")
                assert status == 200
                lines = set(prom_lines(text))
                assert 'clets_messages_total{outcome="accepted"} 1' in lines
                assert 'clets_messages_total{outcome="delivered"} 3' in lines
                assert 'clets_link_up{link="ncic"} 1' in lines
                assert 'clets_queue_depth{target="NCIC"} 0' in lines
                assert "clets_journal_open 1" in lines
                assert "clets_answer_latency_seconds_count 3" in lines
                assert 'clets_switch_added_latency_seconds_count{stage="forward"} 3' in lines
                assert 'clets_switch_added_latency_seconds_count{stage="deliver"} 3' in lines
                assert "# TYPE clets_switch_added_latency_seconds histogram" in lines

                # a destination goes away: the box stays healthy, the link reads 0
                await net.set_outage("CARPOS", True)
                for _ in range(200):
                    _s, text = await asyncio.to_thread(http_get, base + "/metrics")
                    if 'clets_link_up{link="carpos"} 0' in prom_lines(text):
                        break
                    await asyncio.sleep(0.05)
                assert 'clets_link_up{link="carpos"} 0' in prom_lines(text)
                status, body = await asyncio.to_thread(http_get, base + "/healthz")
                assert status == 200 and json.loads(body)["down"] == ["carpos"]
                code = await proc.terminate(timeout=30)
            finally:
                proc.cleanup()
        assert code == 0
        logs = [json.loads(line) for line in
                (tmp_path / "switch.log").read_text().splitlines()]
        assert [r["msg"] for r in logs if r["logger"] == "clets.daemon"] == \
            ["starting", "ready", "stopping", "stopped"]
        assert all(r["level"] in ("info", "warning") for r in logs)

    asyncio.run(main())


def test_sigterm_with_messages_in_flight_drains_and_exits_0(tmp_path: Path) -> None:
    """Answers take 300 ms, so forwards are in flight when SIGTERM arrives."""

    async def main() -> None:
        async with SimNetwork(backends=list(DESTS), base_port=0,
                              faults=Faults(latency_ms=300)) as net:
            proc = await _start(tmp_path, net, args=("--drain-timeout", "5"))
            acked: list[str] = []
            try:
                client = await Client.open(proc.ready["listen"]["lapd"])

                async def read() -> None:
                    try:
                        while True:
                            msg = await client.recv(timeout=30)
                            if msg["mke"] == "ACK":
                                acked.append(msg["control"])
                    except (asyncio.IncompleteReadError, ConnectionError):
                        return

                reader = asyncio.get_running_loop().create_task(read())
                stopping = False
                for i in range(60):
                    try:
                        await client.send(qw(f"D{i:04d}"))
                    except ConnectionError:
                        # the draining switch closes its origin connections: later sends
                        # may fail, which is the client's to retry (they were never acked)
                        assert stopping, "the connection failed before SIGTERM"
                        break
                    if i == 30:
                        while len(acked) < 10:
                            await asyncio.sleep(0.005)
                        assert proc.proc is not None
                        proc.proc.send_signal(15)  # SIGTERM while sending and forwarding
                        stopping = True
                code = await proc.wait(30)
                await asyncio.wait_for(reader, 10)
            finally:
                proc.cleanup()
        assert code == 0
        assert acked, "nothing was acknowledged before the stop"
        conn = sqlite3.connect(tmp_path / "journal.db")
        stored = _stored_controls(conn)
        events = [r["event"] for r in records(conn)]
        conn.close()
        assert set(acked) <= stored  # every acknowledged message is in the journal
        assert events[-1] == "stopped"
        verify = subprocess.run([*CLETS, "audit", "verify", "--journal",
                                 str(tmp_path / "journal.db")], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr

    asyncio.run(main())


def _stored_controls(conn: sqlite3.Connection) -> set[str]:
    """The controls of the journaled messages (the SQLite tables, or the log's blocks)."""
    from clets.switch import logformat

    if not logformat.is_log_db(conn):
        return {r[0] for r in conn.execute("SELECT control FROM messages")}
    return {rec[7] for _p, b in logformat.read_blocks(conn) for rec in logformat.decode(b)[1]
            if rec[0] == "m"}


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLETS, "run", *args], capture_output=True, text=True, timeout=30,
                          **kw)


def test_bad_config_exit_2_one_line_per_problem_with_line_numbers(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[switch]\nname = "X"\nhome_state = "California"\njournal = "j.db"\n'
                   'metrics_listen = "nowhere"\ncolour = "red"\n', "utf-8")
    out = _run([str(cfg)])
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines == [f"{cfg}:3: [switch]: home_state must be a 2-letter state code",
                     f"{cfg}:5: [switch]: metrics_listen must be HOST:PORT "
                     '(e.g. "127.0.0.1:9464")',
                     f"{cfg}:6: [switch]: unknown key 'colour'"]
    assert not (tmp_path / "j.db").exists()


def test_bad_metrics_option_and_missing_file_exit_2(tmp_path: Path) -> None:
    out = _run([str(tmp_path / "absent.toml")])
    assert out.returncode == 2 and "absent.toml" in out.stderr
    cfg = tmp_path / "ok.toml"
    cfg.write_text(switch_config(tmp_path / "j.db", free_port(), {}), "utf-8")
    out = _run([str(cfg), "--metrics", "9464"])
    assert out.returncode == 2 and "HOST:PORT" in out.stderr


def test_unsafe_test_mode_refuses_to_start_without_its_env(tmp_path: Path) -> None:
    cfg = tmp_path / "unsafe.toml"
    cfg.write_text(switch_config(tmp_path / "j.db", free_port(), {}, unsafe=True), "utf-8")
    env = {k: v for k, v in os.environ.items()
           if k != "CLETS_ALLOW_UNSAFE_TEST_MODE"}
    out = _run([str(cfg)], env=env)
    assert out.returncode == 2
    assert "unsafe_test_mode" in out.stderr and "CLETS_ALLOW_UNSAFE_TEST_MODE" in out.stderr


def test_healthz_is_503_before_start_and_after_stop(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = parse_config(switch_config(tmp_path / "j.db", 0, {}), "t.toml", tmp_path)
        daemon = Daemon(cfg)
        ops = OpsServer(daemon.render_metrics, daemon.health)
        await ops.start()
        try:
            url = f"http://127.0.0.1:{ops.port}/healthz"
            status, body = await asyncio.to_thread(http_get, url)
            assert status == 503 and json.loads(body)["state"] == "starting"
            await daemon.start()
            status, body = await asyncio.to_thread(http_get, url)
            assert status == 200 and json.loads(body)["links"] == {"lapd": "up"}
            await daemon.stop()
            status, body = await asyncio.to_thread(http_get, url)
            assert status == 503 and json.loads(body)["journal"] == "closed"
            _s, text = await asyncio.to_thread(http_get,
                                               f"http://127.0.0.1:{ops.port}/metrics")
            assert "clets_journal_open 0" in prom_lines(text)
        finally:
            await ops.close()

    asyncio.run(main())

"""Metrics exposition, the /metrics + /healthz endpoint (over a real socket), JSON logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from clets.ops.http import OpsServer
from clets.ops.logs import setup_logging
from clets.ops.metrics import Registry


def test_exposition_format() -> None:
    reg = Registry()
    reg.counter("clets_messages_total", "messages by outcome").inc(outcome="forwarded")
    reg.counter("clets_messages_total", "messages by outcome").inc(2, outcome="rejected")
    reg.gauge("clets_queue_depth", "queued per destination").set(3, destination="DMV")
    h = reg.histogram("clets_latency_seconds", "added latency", buckets=(0.01, 0.1))
    h.observe(0.005)
    h.observe(0.05)
    h.observe(5.0)
    text = reg.render()
    assert 'clets_messages_total{outcome="rejected"} 2' in text
    assert 'clets_queue_depth{destination="DMV"} 3' in text
    assert 'clets_latency_seconds_bucket{le="0.01"} 1' in text
    assert 'clets_latency_seconds_bucket{le="0.1"} 2' in text
    assert 'clets_latency_seconds_bucket{le="+Inf"} 3' in text
    assert "clets_latency_seconds_count 3" in text
    assert "# TYPE clets_latency_seconds histogram" in text


async def _get(port: int, path: str, method: str = "GET") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_http_endpoint() -> None:
    async def main() -> None:
        reg = Registry()
        reg.counter("c_total", "c").inc()
        healthy = {"ok": True}
        srv = OpsServer(reg.render, lambda: dict(healthy))
        await srv.start()
        try:
            status, body = await _get(srv.port, "/metrics")
            assert status == 200 and b"c_total 1" in body
            status, body = await _get(srv.port, "/healthz")
            assert status == 200 and json.loads(body)["ok"] is True
            healthy["ok"] = False
            status, _ = await _get(srv.port, "/healthz")
            assert status == 503
            assert (await _get(srv.port, "/nope"))[0] == 404
            assert (await _get(srv.port, "/metrics", "POST"))[0] == 405
        finally:
            await srv.close()

    asyncio.run(main())


def test_json_logs_escape_injection() -> None:
    buf = io.StringIO()
    setup_logging("info", buf)
    logging.getLogger("clets.test").info("got\nFAKE LINE", extra={"msn": 7})
    line = buf.getvalue()
    assert line.count("\n") == 1
    rec = json.loads(line)
    assert rec["msg"] == "got\nFAKE LINE" and rec["msn"] == 7 and rec["level"] == "info"

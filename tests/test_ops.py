"""Metrics exposition, the /metrics + /healthz endpoint (over a real socket), JSON logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from clets.ops.http import OpsServer
from clets.ops.logs import setup_logging
from clets.ops.metrics import DaemonMetrics
from tests._prom import prom_lines


def test_exposition_made_by_prometheus_client() -> None:
    """The daemon's families and histograms, read back with the library's own parser."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def families():  # type: ignore[no-untyped-def]
        c = CounterMetricFamily("clets_messages_total", "messages by outcome",
                                labels=["outcome"])
        c.add_metric(["rejected"], 2)
        g = GaugeMetricFamily("clets_queue_depth", "queued", labels=["target"])
        g.add_metric(["DMV"], 3)
        return [c, g]

    m = DaemonMetrics(families)
    for seconds in (0.004, 0.05, 99.0):
        m.observe("answer", seconds)
    m.observe("forward", 0.0007)
    lines = prom_lines(m.render())
    assert 'clets_messages_total{outcome="rejected"} 2' in lines
    assert 'clets_queue_depth{target="DMV"} 3' in lines
    assert 'clets_answer_latency_seconds_bucket{le="0.005"} 1' in lines
    assert 'clets_answer_latency_seconds_bucket{le="0.05"} 2' in lines
    assert 'clets_answer_latency_seconds_bucket{le="+Inf"} 3' in lines
    assert "clets_answer_latency_seconds_count 3" in lines
    assert 'clets_switch_added_latency_seconds_bucket{le="0.001",stage="forward"} 1' in lines
    assert "# TYPE clets_answer_latency_seconds histogram" in lines


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
        from prometheus_client.core import CounterMetricFamily

        reg = DaemonMetrics(lambda: [CounterMetricFamily("c_total", "c", value=1)])
        healthy = {"ok": True}
        srv = OpsServer(reg.render, lambda: dict(healthy))
        await srv.start()
        try:
            status, body = await _get(srv.port, "/metrics")
            assert status == 200 and b"c_total 1.0" in body
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

"""HTTP API benchmark: the same inquiries over the API and over the TCP link, in one run.

One switch (``clets run``: log journal, synchronous=FULL) with both a plain TCP origin link
(``ack = true``: the API's 202 is an ACK too) and the HTTP API (plain HTTP on loopback); the
simulated back-ends (``clets sim``) in another process.  Each inquiry is a ``QW`` the switch
fans out to WPS, NCIC and CARPOS; it is done when its three answers are in: over the link
when the third answer frame arrives, over the API when ``POST /v1/messages?wait=`` returns
with ``complete`` (the answers in its body).  The clients are this process: the link's is
bench/switch.py's, the API's a minimal HTTP/1.1 keep-alive client on asyncio streams (one
connection per outstanding request), so the client costs about the same on both sides.

    .venv/bin/python bench/api.py                 # full run (about a minute)
    .venv/bin/python bench/api.py --seconds 3     # quicker
    .venv/bin/python bench/api.py --json
    .venv/bin/python bench/api.py --sequential 200   # one at a time: the latency added
    .venv/bin/python bench/api.py --api-only|--link-only [--profile F]  # one closed loop

Phases: throughput (closed loop, ``--window`` outstanding) link then API; then an open loop
at ``--rate`` (default 100/s, the issue's) link then API: p50/p99 of send -> all answers;
"added" = API - link.  Targets (issue 15): API throughput >= 0.8x the link's; added latency
p50 <= 1 ms, p99 <= 5 ms at 100/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import switch as sb


def config(journal: Path, port: int, api_port: int, urls: dict[str, str]) -> str:
    # the link acknowledges as the API does (its 202 is the ACK: the msn, after the commit)
    link = sb.switch_config(journal, port, urls, "log").replace(
        'peer = "LAPD"\n', 'peer = "LAPD"\nack = true\n', 1)
    return link + f"""
[api]
listen = "127.0.0.1:{api_port}"
plain = true
peer = "LAPD"
max_wait = 60
rate = 100000
burst = 100000
"""


class HttpLane:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> HttpLane:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, payload: bytes) -> tuple[int, bytes]:
        self.writer.write(b"POST /v1/messages?wait=30 HTTP/1.1\r\nHost: bench\r\n"
                          b"Content-Type: application/json\r\nContent-Length: "
                          + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def _check(status: int, body: bytes) -> None:
    if status != 202 or b'"complete":true' not in body:
        raise RuntimeError(f"API answered {status}: {body[:300]!r}")


async def api_closed_loop(port: int, prefix: str, seconds: float, window: int,
                          meter: sb.CpuMeter | None = None) -> dict[str, Any]:
    lanes = [await HttpLane.open(port) for _ in range(window)]
    msgs = sb.payloads(prefix, 200_000)
    it = iter(msgs)
    done = 0
    lat: list[float] = []
    warm_until = time.perf_counter() + min(1.0, seconds / 4)
    t_end = warm_until + seconds

    async def lane(h: HttpLane) -> None:
        nonlocal done
        while time.perf_counter() < t_end:
            _c, p = next(it)
            t0 = time.perf_counter()
            _check(*await asyncio.wait_for(h.post(p), 60))
            if time.perf_counter() > warm_until:
                done += 1
                lat.append(time.perf_counter() - t0)

    async def metered() -> None:
        if meter is not None:
            await asyncio.sleep(max(0.0, warm_until - time.perf_counter()))
            meter.begin()

    await asyncio.gather(metered(), *(lane(h) for h in lanes))
    cpu = meter.end(done) if meter is not None else {}
    for h in lanes:
        h.close()
    lat.sort()
    out: dict[str, Any] = {"inquiries_per_s": round(done / seconds, 1), "completed": done,
                           "p50_ms": sb._pct(lat, 50), "p99_ms": sb._pct(lat, 99)}
    if cpu:
        out["cpu_ms_per_inquiry"] = cpu
    return out


async def api_open_loop(port: int, prefix: str, seconds: float, rate: float) -> dict[str, Any]:
    n = int(seconds * rate)
    warm = int(min(rate, n / 4))
    msgs = sb.payloads(prefix, n + warm)
    free = [await HttpLane.open(port) for _ in range(64)]
    results: list[float] = []

    async def one(p: bytes) -> None:
        h = free.pop() if free else await HttpLane.open(port)
        t0 = time.perf_counter()
        _check(*await asyncio.wait_for(h.post(p), 60))
        results.append(time.perf_counter() - t0)
        free.append(h)

    tasks = []
    t0 = time.perf_counter()
    for i, (_c, p) in enumerate(msgs):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.get_running_loop().create_task(one(p)))
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    elapsed = time.perf_counter() - t0
    for h in free:
        h.close()
    lat = sorted(results[warm:])
    return {"rate": rate, "achieved_per_s": round(len(tasks) / elapsed, 1), "n": len(lat),
            "p50_ms": sb._pct(lat, 50), "p99_ms": sb._pct(lat, 99), "max_ms": sb._pct(lat, 100)}


async def sequential(api_port: int, port: int, n: int) -> dict[str, Any]:
    """``n`` inquiries one at a time, 10 ms apart, alternately over the API and the link:
    the latency each path adds when nothing queues (a wait on a timer, Nagle: any constant
    delay shows here whatever the load of the machine)."""
    lane = await HttpLane.open(api_port)
    client = await sb.Client.open(port)
    msgs = sb.payloads("s", 2 * n + 40)
    lat: dict[str, list[float]] = {"link": [], "api": []}
    for i in range(n + 20):  # the first 20 of each warm up
        _c, p = msgs[2 * i]
        t0 = time.perf_counter()
        _check(*await asyncio.wait_for(lane.post(p), 60))
        if i >= 20:
            lat["api"].append(time.perf_counter() - t0)
        await asyncio.sleep(0.01)
        control, p = msgs[2 * i + 1]
        t0 = time.perf_counter()
        await asyncio.wait_for(client.send(control, p), 60)
        if i >= 20:
            lat["link"].append(time.perf_counter() - t0)
        await asyncio.sleep(0.01)
    lane.close()
    await client.close()
    out: dict[str, Any] = {}
    for name, values in lat.items():
        values.sort()
        out[name] = {"p50_ms": sb._pct(values, 50), "p99_ms": sb._pct(values, 99)}
    out["added_p50_ms"] = round(out["api"]["p50_ms"] - out["link"]["p50_ms"], 2)
    out["added_p99_ms"] = round(out["api"]["p99_ms"] - out["link"]["p99_ms"], 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    ap.add_argument("--window", type=int, default=32, help="outstanding inquiries (closed loop)")
    ap.add_argument("--rate", type=float, default=100.0, help="open-loop rate, inquiries/s")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the switch into FILE")
    ap.add_argument("--api-only", action="store_true", help="only the API's closed loop")
    ap.add_argument("--link-only", action="store_true",
                    help="only the link's closed loop (with --profile: the same switch's "
                         "profile to set against --api-only's)")
    ap.add_argument("--sequential", type=int, metavar="N", default=0,
                    help="only N inquiries one at a time over each path (added latency "
                         "with no queueing)")
    args = ap.parse_args()

    sim, urls = sb.start_sim()
    procs: list[subprocess.Popen[str]] = [sim]
    result: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                              "loadavg": os.getloadavg()}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            port, api_port = sb.free_port(), sb.free_port()
            cfg = Path(tmp) / "bench.toml"
            cfg.write_text(config(Path(tmp) / "journal.db", port, api_port, urls))
            cmd = sb.run_command(cfg, args.profile)
            switch = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True)
            procs.append(switch)
            sb.wait_line(switch, '"ready"', "stderr")
            me = os.getpid()
            pids = {"client": me, "switch": switch.pid, "sim": sim.pid}
            if args.sequential:
                result["sequential"] = asyncio.run(sequential(api_port, port,
                                                              args.sequential))
                print(json.dumps(result))
                return
            if args.api_only:
                result["api_throughput"] = asyncio.run(api_closed_loop(
                    api_port, "A", args.seconds, args.window, sb.CpuMeter(pids)))
                print(json.dumps(result))
                return
            if args.link_only:
                result["link_throughput"] = asyncio.run(sb.closed_loop(
                    port, "L", args.seconds, args.window, sb.CpuMeter(pids)))
                print(json.dumps(result))
                return
            sb.log("switch ready; closed loop, link")
            result["link_throughput"] = asyncio.run(sb.closed_loop(
                port, "L", args.seconds, args.window, sb.CpuMeter(pids)))
            sb.log(f"link {result['link_throughput']}; closed loop, API")
            result["api_throughput"] = asyncio.run(api_closed_loop(
                api_port, "A", args.seconds, args.window, sb.CpuMeter(pids)))
            sb.log(f"API {result['api_throughput']}; open loop at {args.rate}/s, link")
            result["link_latency"] = asyncio.run(sb.open_loop(port, "l", args.seconds,
                                                              args.rate))
            sb.log(f"link {result['link_latency']}; open loop, API")
            result["api_latency"] = asyncio.run(api_open_loop(api_port, "a", args.seconds,
                                                              args.rate))
            sb.log(f"API {result['api_latency']}")
            result["throughput_ratio"] = round(
                result["api_throughput"]["inquiries_per_s"]
                / max(1e-9, result["link_throughput"]["inquiries_per_s"]), 3)
            result["added_p50_ms"] = round(result["api_latency"]["p50_ms"]
                                           - result["link_latency"]["p50_ms"], 2)
            result["added_p99_ms"] = round(result["api_latency"]["p99_ms"]
                                           - result["link_latency"]["p99_ms"], 2)
            result["switch_exit"] = sb.stop(switch)
    finally:
        for p in reversed(procs):
            sb.stop(p)
    if args.json:
        print(json.dumps(result))
        return
    lt, at = result["link_throughput"], result["api_throughput"]
    ll, al = result["link_latency"], result["api_latency"]
    print(f"cpus {result['cpus']}, python {result['python']}, QW fanned out to "
          f"{', '.join(sb.DESTS)} (clets sim), log journal synchronous=FULL, load average "
          f"{' '.join(f'{x:.1f}' for x in result['loadavg'])}")
    print(f"throughput (window {args.window}): link {lt['inquiries_per_s']:>8.1f}/s   "
          f"API {at['inquiries_per_s']:>8.1f}/s   ratio {result['throughput_ratio']:.2f} "
          "(target >= 0.8)")
    for name, phase in (("link", lt), ("API", at)):
        cpu = phase.get("cpu_ms_per_inquiry", {})
        print(f"  {name:4} CPU ms per inquiry: "
              + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    print(f"latency at {args.rate:g}/s: link p50 {ll['p50_ms']} ms p99 {ll['p99_ms']} ms   "
          f"API p50 {al['p50_ms']} ms p99 {al['p99_ms']} ms")
    print(f"added by the API: p50 {result['added_p50_ms']} ms (target <= 1), "
          f"p99 {result['added_p99_ms']} ms (target <= 5)")


if __name__ == "__main__":
    main()

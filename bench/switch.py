"""Switch benchmark: inquiries per second end to end, and the latency the switch adds.

Three processes on loopback TCP, as in production: this one (the agency client), the switch
(``clets run``: journal on, WAL + synchronous=FULL) and the simulated back-ends (``clets sim``).
Each inquiry is a ``QW`` with name and DOB, so the switch fans it out to WPS, NCIC and CARPOS and
returns three answers.  The baseline is a bare asyncio relay (``--relay``, its own process)
that forwards the same frames to the same three back-ends and returns their answers: no
journal, no codecs, no routing.  The difference is what the switch costs.

    .venv/bin/python bench/switch.py                 # full run (about a minute)
    .venv/bin/python bench/switch.py --seconds 3     # quicker
    .venv/bin/python bench/switch.py --json          # one JSON object

Phases: throughput (closed loop, ``--window`` inquiries outstanding) for the relay and the
switch, then an open-loop run at ``--rate`` (default: half the switch throughput measured, at
most 1,000/s) for both, giving p50/p99 of send -> third answer, then the same at the issue's
target rate (``--target-rate``, 1,000/s), carried or not.  "Added" = switch - relay.
The closed-loop phases also report the CPU each process spent per inquiry (/proc), which
says which process limits the rig.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLETS = [sys.executable, "-c", "from clets.cli import main; main()"]


def run_command(cfg: Path, profile: str | None = None, probe: str | None = None) -> list[str]:
    """``clets run CFG``, under cProfile into ``profile`` when one is named, or with the
    stall probe (``bench/switch_probe.py``) writing into ``probe``."""
    if probe:
        return [sys.executable, str(Path(__file__).with_name("switch_probe.py")), probe,
                "run", str(cfg)]
    if not profile:
        return [*CLETS, "run", str(cfg)]
    return [sys.executable, "-c",
            "import cProfile, sys; from clets.cli import main; "
            f"sys.argv = ['clets', 'run', {str(cfg)!r}]; "
            f"cProfile.run('main()', {profile!r})"]
DESTS = ("WPS", "NCIC", "CARPOS")
CONTROL_RE = re.compile(rb'"control": "([^"]*)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frame(payload: bytes) -> bytes:
    return struct.pack(">H", len(payload)) + payload


def inquiry(control: str) -> bytes:
    from clets.model import Message, Name, Person, dumps

    msg = Message(format="json", mke="QW", origin="CA0194200", control=control,
                  person=Person(name=Name("ZZYZX", "BENCH"), dob="1980-01-01", sex="M",
                                race="W"))
    return dumps(msg).encode()


# --------------------------------------------------------------------------- the relay


async def relay_main(listen_port: int, dests: list[tuple[str, int]]) -> None:
    """Forward each client frame to every destination; every answer back to its client.

    Answers echo the request's control, so one client connection is enough to route them;
    the relay does no parsing at all (length prefix only)."""
    clients: list[asyncio.StreamWriter] = []

    async def pump_back(reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readexactly(2)
                body = await reader.readexactly(struct.unpack(">H", head)[0])
                if clients:
                    clients[-1].write(head + body)

    writers = []
    for host, port in dests:
        r, w = await asyncio.open_connection(host, port)
        writers.append(w)
        asyncio.get_running_loop().create_task(pump_back(r))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        clients.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readexactly(2)
                body = await reader.readexactly(struct.unpack(">H", head)[0])
                for w in writers:
                    w.write(head + body)

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


# --------------------------------------------------------------------------- the client


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.pending: dict[bytes, list[Any]] = {}  # control -> [sent_at, answers left, future]
        self.task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def _read(self) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (n,) = struct.unpack(">H", await self.reader.readexactly(2))
                body = await self.reader.readexactly(n)
                m = CONTROL_RE.search(body)
                entry = self.pending.get(m.group(1)) if m else None
                if entry is None or b'"mke": "ACK"' in body:
                    continue
                entry[1] -= 1
                if entry[1] == 0:
                    del self.pending[m.group(1)]  # type: ignore[union-attr]
                    entry[2].set_result(time.perf_counter() - entry[0])

    def send(self, control: str, payload: bytes) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending[control.encode()] = [time.perf_counter(), len(DESTS), fut]
        self.writer.write(frame(payload))
        return fut

    async def close(self) -> None:
        self.task.cancel()
        self.writer.close()


def payloads(prefix: str, n: int) -> list[tuple[str, bytes]]:
    return [(c, inquiry(c)) for c in (f"{prefix}{i:07d}" for i in range(n))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU spent by each process of the rig during a measured window: where the two cores go."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.start: dict[str, float] = {}

    def begin(self) -> None:
        self.start = {n: self._now(p) for n, p in self.pids.items()}

    def end(self, inquiries: int) -> dict[str, float]:
        """CPU milliseconds per inquiry, by process."""
        return {n: round((self._now(p) - self.start[n]) * 1000 / max(1, inquiries), 3)
                for n, p in self.pids.items()}

    @staticmethod
    def _now(pid: int) -> float:
        return time.process_time() if pid == os.getpid() else cpu_seconds(pid)


async def closed_loop(port: int, prefix: str, seconds: float, window: int,
                      meter: CpuMeter | None = None) -> dict[str, Any]:
    client = await Client.open(port)
    msgs = payloads(prefix, 200_000)
    it = iter(msgs)
    done = 0
    lat: list[float] = []
    warm_until = time.perf_counter() + min(1.0, seconds / 4)
    t_end = warm_until + seconds

    async def lane() -> None:
        nonlocal done
        while time.perf_counter() < t_end:
            c, p = next(it)
            took = await asyncio.wait_for(client.send(c, p), 60)
            if time.perf_counter() > warm_until:
                done += 1
                lat.append(took)

    async def metered() -> None:
        if meter is not None:
            await asyncio.sleep(max(0.0, warm_until - time.perf_counter()))
            meter.begin()

    await asyncio.gather(metered(), *(lane() for _ in range(window)))
    cpu = meter.end(done) if meter is not None else {}
    await client.close()
    lat.sort()
    out: dict[str, Any] = {"inquiries_per_s": round(done / seconds, 1), "completed": done,
                           "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}
    if cpu:
        out["cpu_ms_per_inquiry"] = cpu
    return out


async def open_loop(port: int, prefix: str, seconds: float, rate: float,
                    trace: str | None = None) -> dict[str, Any]:
    client = await Client.open(port)
    n = int(seconds * rate)
    msgs = payloads(prefix, n + int(rate))
    futs: list[asyncio.Future[float]] = []
    sent: list[float] = []
    warm = int(min(rate, n / 4))
    t0 = time.perf_counter()
    for i, (c, p) in enumerate(msgs[: n + warm]):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent.append(time.perf_counter())
        futs.append(client.send(c, p))
    results = await asyncio.wait_for(asyncio.gather(*futs), 120)
    elapsed = time.perf_counter() - t0
    await client.close()
    if trace:  # each inquiry's send time (perf_counter: CLOCK_MONOTONIC) and latency
        Path(trace).write_text(json.dumps({"warm": warm, "sent": sent,
                                           "latency": list(results)}))
    lat = sorted(results[warm:])
    return {"rate": rate, "achieved_per_s": round(len(futs) / elapsed, 1), "n": len(lat),
            "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "max_ms": _pct(lat, 100)}


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))
    return round(sorted_values[i] * 1000, 2)


# --------------------------------------------------------------------------- processes


def start_sim() -> tuple[subprocess.Popen[str], dict[str, str]]:
    args = [*CLETS, "sim", "--port-base", "0", "--json"]
    for d in DESTS:
        args += ["--backend", d]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, {n: b["url"] for n, b in info["backends"].items()}


def switch_config(journal: Path, port: int, urls: dict[str, str], journal_format: str = "log",
                  commit_delay: float = 0.0, commit_thread: bool = False,
                  metrics_port: int = 0, extra: dict[str, Any] | None = None) -> str:
    metrics = f'metrics_listen = "127.0.0.1:{metrics_port}"\n' if metrics_port else ""
    metrics += "".join(f"{k} = {v}\n" for k, v in (extra or {}).items())
    parts = [f"""[switch]
name = "BENCH"
home_state = "CA"
journal = "{journal}"
{metrics}journal_format = "{journal_format}"
commit_delay = {commit_delay}
commit_thread = {"true" if commit_thread else "false"}

[[peer]]
mnemonic = "LAPD"
oris = ["CA0194200"]
access = "full"

[[link]]
name = "lapd"
url = "tcp://127.0.0.1:{port}?framing=len2&plain=1"
codec = "json"
role = "origin"
peer = "LAPD"
"""]
    for d, url in urls.items():
        parts.append(f"""
[[link]]
name = "{d.lower()}"
url = "{url}"
codec = "json"
role = "destination"

[[destination]]
name = "{d}"
link = "{d.lower()}"
""")
    return "".join(parts)


def wait_line(proc: subprocess.Popen[str], needle: str, stream: str = "stdout") -> None:
    src = proc.stdout if stream == "stdout" else proc.stderr
    assert src is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = src.readline()
        if not line:
            raise RuntimeError(f"process exited before {needle!r}")
        if needle in line:
            return
    raise RuntimeError(f"no {needle!r} in time")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def stop(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


# where ``make compiled`` puts the mypyc build of the hot modules (a copy of the package with
# extension modules beside the .py files; see docs/performance.md, session 9)
COMPILED = Path(__file__).resolve().parent.parent / "build" / "compiled"


def parse_variant(text: str) -> dict[str, Any]:
    """``log``, ``sqlite``, ``log+thread``, ``log+delay=0.002``, ``log+thread+delay=0.001``,
    ``log+gather=2`` (``commit_gather``), ``log+thread+si=0.005`` (``switch_interval``):
    a journal format and its commit policy; ``+compiled`` runs that switch on the mypyc build
    (``make compiled``) instead of the pure-Python package."""
    fmt, *opts = text.split("+")
    if fmt not in ("log", "sqlite"):
        raise SystemExit(f"unknown journal format in variant {text!r}")
    out: dict[str, Any] = {"name": text, "journal_format": fmt, "commit_delay": 0.0,
                           "commit_thread": False, "extra": {}, "compiled": False}
    keys = {"gather": ("commit_gather", int), "si": ("switch_interval", float)}
    for o in opts:
        if o == "thread":
            out["commit_thread"] = True
        elif o == "compiled":
            if not (COMPILED / "clets").is_dir():
                raise SystemExit(f"variant {text!r}: no compiled build in {COMPILED} "
                                 "(make compiled)")
            out["compiled"] = True
        elif o.startswith("delay="):
            out["commit_delay"] = float(o.split("=", 1)[1])
        elif o.split("=", 1)[0] in keys and "=" in o:
            key, kind = keys[o.split("=", 1)[0]]
            out["extra"][key] = kind(o.split("=", 1)[1])
        else:
            raise SystemExit(f"unknown option {o!r} in variant {text!r}")
    return out


def compiled_modules(pid: int) -> int:
    """How many extension modules of the compiled build the switch has mapped (/proc maps):
    proof that the ``+compiled`` variant runs compiled code, not the .py files beside it."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return len({line.split()[-1] for line in maps.splitlines()
                if str(COMPILED) in line and line.endswith(".so")})


def fsyncs(metrics_port: int) -> float:
    """The switch's ``clets_journal_fsyncs_total`` (its /metrics)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("clets_journal_fsyncs_total "):
                return float(line.split()[1])
    return float("nan")


def run_variant(args: argparse.Namespace, variant: dict[str, Any], sim: subprocess.Popen[str],
                urls: dict[str, str], tmp: Path) -> dict[str, Any]:
    """The relay and one switch (``variant``), every phase, back to back."""
    result: dict[str, Any] = dict(variant, loadavg=os.getloadavg())
    procs: list[subprocess.Popen[str]] = []
    try:
        relay_port, switch_port, metrics_port = free_port(), free_port(), free_port()
        hostports = [u.split("//", 1)[1].split("?", 1)[0] for u in urls.values()]
        relay = subprocess.Popen([sys.executable, __file__, "--relay", str(relay_port),
                                  *hostports], stdout=subprocess.PIPE, text=True)
        procs.append(relay)
        wait_line(relay, "ready")
        cfg = tmp / f"bench-{variant['name']}.toml"
        cfg.write_text(switch_config(tmp / f"journal-{variant['name']}.db", switch_port, urls,
                                     variant["journal_format"], variant["commit_delay"],
                                     variant["commit_thread"], metrics_port,
                                     variant.get("extra")))
        probe = f"{args.probe}.{variant['name']}" if args.probe else None
        cmd = run_command(cfg, args.profile, probe)  # the daemon logs no per-message lines
        env = dict(os.environ)
        if variant.get("compiled"):  # the mypyc build first on the switch's path
            env["PYTHONPATH"] = os.pathsep.join(
                [str(COMPILED), *filter(None, [env.get("PYTHONPATH")])])
        switch = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True, env=env)
        procs.append(switch)
        wait_line(switch, '"ready"', "stderr")

        me = os.getpid()
        if args.serial:
            # one inquiry at a time: its latency is the chain of commits it waits on, and
            # the fsyncs per inquiry say how long that chain is
            log(f"{variant['name']}: one at a time, relay")
            result["relay_serial"] = asyncio.run(closed_loop(relay_port, "P", args.serial, 1))
            f0 = fsyncs(metrics_port)
            log(f"relay {result['relay_serial']}; one at a time, switch")
            result["switch_serial"] = ss = asyncio.run(closed_loop(switch_port, "Q",
                                                                   args.serial, 1))
            ss["fsyncs_per_inquiry"] = round((fsyncs(metrics_port) - f0) / max(
                1, ss["completed"] * (1 + min(1.0, args.serial / 4) / args.serial)), 2)
        log(f"{variant['name']}: relay and switch ready; closed loop, relay")
        result["relay_throughput"] = asyncio.run(closed_loop(
            relay_port, "R", args.seconds, args.window,
            CpuMeter({"client": me, "relay": relay.pid, "sim": sim.pid})))
        log(f"relay {result['relay_throughput']}; closed loop, switch")
        f0 = fsyncs(metrics_port)
        perf = None
        if args.perf:  # sample the switch's CPU (kernel too) during its closed loop
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-p",
                                     str(switch.pid), "-o", f"{args.perf}.{variant['name']}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif args.py_spy:  # or its Python stacks (py-spy, pip install py-spy)
            perf = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                                     "-r", "400", "--nonblocking", "--gil", "-f", "raw", "-p",
                                     str(switch.pid), "-o", f"{args.py_spy}.{variant['name']}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result["switch_throughput"] = asyncio.run(closed_loop(
            switch_port, "S", args.seconds, args.window,
            CpuMeter({"client": me, "switch": switch.pid, "sim": sim.pid})))
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        # the fsyncs of the whole closed-loop phase (its warm-up too) per inquiry completed
        # in it: an upper bound of the commits one inquiry costs
        st = result["switch_throughput"]
        result["fsyncs_per_inquiry"] = round((fsyncs(metrics_port) - f0) / max(
            1, st["completed"] * (1 + min(1.0, args.seconds / 4) / args.seconds)), 3)
        rate = args.rate or min(1000.0, max(10.0, round(st["inquiries_per_s"] / 2)))
        log(f"switch {st}; open loop at {rate}/s, relay")
        result["relay_latency"] = asyncio.run(open_loop(relay_port, "r", args.seconds, rate))
        log(f"relay {result['relay_latency']}; open loop, switch")
        result["switch_latency"] = asyncio.run(open_loop(switch_port, "s", args.seconds, rate))
        result["added_p50_ms"] = round(result["switch_latency"]["p50_ms"]
                                       - result["relay_latency"]["p50_ms"], 2)
        result["added_p99_ms"] = round(result["switch_latency"]["p99_ms"]
                                       - result["relay_latency"]["p99_ms"], 2)
        if args.target_rate:
            # the rate the issue asks p99 at, whether or not the switch can carry it:
            # past its throughput a backlog builds and the latency says so
            tr = args.target_rate
            log(f"switch {result['switch_latency']}; open loop at {tr}/s, relay")
            result["relay_at_target"] = asyncio.run(open_loop(relay_port, "t",
                                                              args.seconds, tr))
            log(f"relay {result['relay_at_target']}; open loop at {tr}/s, switch")
            f0 = fsyncs(metrics_port)
            result["switch_at_target"] = asyncio.run(open_loop(
                switch_port, "u", args.seconds, tr, f"{probe}.client" if probe else None))
            result["switch_at_target"]["fsyncs_per_s"] = round(
                (fsyncs(metrics_port) - f0) / max(1e-9, args.seconds * 1.25), 1)
            result["added_p99_ms_at_target"] = round(
                result["switch_at_target"]["p99_ms"] - result["relay_at_target"]["p99_ms"],
                2)
        if variant.get("compiled"):
            result["switch_modules"] = compiled_modules(switch.pid)
        result["switch_exit"] = stop(switch)
    finally:
        for p in reversed(procs):
            stop(p)
    return result


def report(result: dict[str, Any], window: int) -> None:
    rt, st = result["relay_throughput"], result["switch_throughput"]
    rl, sl = result["relay_latency"], result["switch_latency"]
    compiled = (f", compiled ({result['switch_modules']} extension modules mapped)"
                if result.get("compiled") else "")
    print(f"== {result['name']}: journal {result['journal_format']} WAL synchronous=FULL, "
          f"commit_delay {result['commit_delay']} s, commit_thread {result['commit_thread']}"
          f"{compiled}, load average {' '.join(f'{x:.1f}' for x in result['loadavg'])}")
    if "switch_serial" in result:
        rs, ss = result["relay_serial"], result["switch_serial"]
        print(f"one at a time: relay p50 {rs['p50_ms']} ms p99 {rs['p99_ms']} ms; switch p50 "
              f"{ss['p50_ms']} ms p99 {ss['p99_ms']} ms, {ss['fsyncs_per_inquiry']} fsyncs "
              "per inquiry")
    ratio = st["inquiries_per_s"] / max(1e-9, rt["inquiries_per_s"])
    print(f"throughput (window {window}): relay {rt['inquiries_per_s']:>8.1f}/s   "
          f"switch {st['inquiries_per_s']:>8.1f}/s   ({ratio:.2f} x relay; "
          f"target >= 2000/s and 0.7 x); fsyncs per inquiry {result['fsyncs_per_inquiry']}")
    for name, phase in (("relay", rt), ("switch", st)):
        cpu = phase.get("cpu_ms_per_inquiry", {})
        print(f"CPU ms per inquiry, {name} run: " + ", ".join(f"{k} {v}" for k, v in
                                                             cpu.items()))
    print(f"latency at {sl['rate']:.0f}/s: relay p50 {rl['p50_ms']} ms p99 {rl['p99_ms']} ms;"
          f" switch p50 {sl['p50_ms']} ms p99 {sl['p99_ms']} ms (achieved "
          f"{sl['achieved_per_s']}/s)")
    print(f"added by the switch: p50 {result['added_p50_ms']} ms, p99 "
          f"{result['added_p99_ms']} ms")
    if "switch_at_target" in result:
        rt2, st2 = result["relay_at_target"], result["switch_at_target"]
        print(f"at the target rate {st2['rate']:.0f}/s: relay p99 {rt2['p99_ms']} ms (completed "
              f"{rt2['achieved_per_s']}/s); switch p50 {st2['p50_ms']} ms p99 {st2['p99_ms']} "
              f"ms (completed {st2['achieved_per_s']}/s, {st2['fsyncs_per_s']} fsyncs/s); "
              f"added p99 {result['added_p99_ms_at_target']} ms (target <= 10 ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    ap.add_argument("--window", type=int, default=64, help="outstanding inquiries (closed loop)")
    ap.add_argument("--rate", type=float, default=None,
                    help="open-loop rate, inquiries/s (default: half the switch throughput, "
                         "at most 1000)")
    ap.add_argument("--target-rate", type=float, default=1000.0,
                    help="also run the open loop at the issue's target rate, inquiries/s "
                         "(0: skip)")
    ap.add_argument("--journal-format", choices=("log", "sqlite"), default="log",
                    help="the switch's journal: the append-only log (default) or the old "
                         "SQLite tables")
    ap.add_argument("--commit-delay", type=float, default=0.0,
                    help="seconds a group commit waits for more steps (switch.commit_delay)")
    ap.add_argument("--commit-thread", action="store_true",
                    help="the log journal appends on a writer thread (switch.commit_thread)")
    ap.add_argument("--variants", metavar="LIST",
                    help="comma-separated switches to measure in this run, each after its "
                         "own relay phases: sqlite, log, log+thread, log+delay=0.002 ... "
                         "(overrides the three options above)")
    ap.add_argument("--serial", type=float, default=2.0, metavar="SECONDS",
                    help="first, one inquiry at a time for SECONDS (0: skip): the latency "
                         "of the commit chain alone")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--perf", metavar="FILE",
                    help="perf record -g the switch during its closed loop into FILE.VARIANT "
                         "(perf report -i FILE.VARIANT --sort dso: where its CPU goes)")
    ap.add_argument("--py-spy", metavar="FILE",
                    help="py-spy record the switch's Python stacks while it holds the GIL (its "
                         "Python CPU) during its closed loop into FILE.VARIANT (collapsed "
                         "stacks)")
    ap.add_argument("--relay", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--profile", metavar="FILE", help="cProfile the switch into FILE")
    ap.add_argument("--probe", metavar="FILE",
                    help="run the switch with bench/switch_probe.py (its loop stalls, gc "
                         "collections, snapshots) into FILE.VARIANT, and the client's "
                         "inquiries at the target rate into FILE.VARIANT.client")
    args = ap.parse_args()
    if args.relay:
        port, *dests = args.relay
        asyncio.run(relay_main(int(port), [(h, int(p)) for h, p in
                                           (d.rsplit(":", 1) for d in dests)]))
        return
    if args.variants:
        variants = [parse_variant(v.strip()) for v in args.variants.split(",") if v.strip()]
    else:
        variants = [{"name": args.journal_format, "journal_format": args.journal_format,
                     "commit_delay": args.commit_delay, "commit_thread": args.commit_thread}]

    sim, urls = start_sim()
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for v in variants:
                results.append(run_variant(args, v, sim, urls, Path(tmp)))
    finally:
        stop(sim)
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0],
                          "runs": results}))
        return
    print(f"cpus {os.cpu_count()}, python {sys.version.split()[0]}, QW fanned out to "
          f"{', '.join(DESTS)} (clets sim, another process)")
    for r in results:
        report(r, args.window)


if __name__ == "__main__":
    main()

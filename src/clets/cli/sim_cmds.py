"""``clets sim``: run the simulated back-ends, answer one message offline, steer a running sim.

    clets sim                                   # every back-end on 7400.., until Ctrl-C / SIGTERM
    clets sim --backend DMV --backend NCIC --port-base 0 --latency-ms 50 --error-rate 0.05
    clets sim query --backend DMV --format ncic 'QV.CA0349999.LIC/7ABC123.LIS/CA'
    clets sim admin --port 7409 outage NCIC on
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

import click

from clets.errors import ConfigError, LinkError

DEFAULT_PORT_BASE = 7400


def register(group: click.Group) -> None:
    group.add_command(sim)


def _dataset(path: Path | None, seed: int):  # type: ignore[no-untyped-def]
    from clets.sim.dataset import generate, load_dataset

    return load_dataset(path) if path is not None else generate(seed)


def _scrub_key(key_file: Path | None, key_env: str | None) -> bytes | None:
    """The tester's scrub key (the same bytes ``clets scrub --key-file`` reads), or None."""
    import os

    if key_file is not None and key_env is not None:
        raise ConfigError("give --scrub-key or --scrub-key-env, not both")
    if key_file is not None:
        try:
            key = key_file.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read scrub key: {exc.strerror}",
                              source=str(key_file)) from None
    elif key_env is not None:
        value = os.environ.get(key_env)
        if not value:
            raise ConfigError(f"--scrub-key-env: environment variable {key_env} is not set")
        key = value.encode("utf-8")
    else:
        return None
    if len(key) < 16:
        raise ConfigError("scrub key must be at least 16 bytes")
    return key


@click.group(invoke_without_command=True)
@click.option("--backend", "backends", multiple=True, metavar="NAME",
              help="Back-end to run (repeatable): DMV NCIC WPS SVS CARPOS CCH NLETS. "
                   "Default: all.")
@click.option("--port-base", type=int, default=DEFAULT_PORT_BASE, show_default=True,
              help="DMV on N, NCIC N+1, WPS N+2, SVS N+3, CARPOS N+4, CCH N+5, NLETS N+6, "
                   "admin N+9. 0: ephemeral ports.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--seed", type=int, default=None, help="Data set seed (default: the shipped 1975).")
@click.option("--dataset", "dataset_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Load the data set from this JSON file instead of generating it.")
@click.option("--latency-ms", type=float, default=0.0, show_default=True,
              help="Fixed delay before every answer.")
@click.option("--jitter-ms", type=float, default=0.0, show_default=True,
              help="Extra uniform random delay (seeded).")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of requests answered '.22. INVALID MESSAGE FORMAT'.")
@click.option("--drop-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of requests never answered.")
@click.option("--duplicate-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of requests answered twice.")
@click.option("--outage", "outages", multiple=True, metavar="NAME",
              help="Start this back-end down (repeatable).")
@click.option("--outage-mode", type=click.Choice(["refuse", "blackhole"]), default="refuse",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the addresses as one JSON object.")
@click.option("--scrub-key", "scrub_key_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Scrub the data set with this key file (the one `clets scrub --key-file` "
                   "used), so scrubbed captures replay with hits.")
@click.option("--scrub-key-env", metavar="VAR",
              help="Like --scrub-key, the key taken from environment variable VAR.")
@click.option("--export-dataset", "export_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the data set (as served: scrubbed with --scrub-key) to this JSON "
                   "file and exit; edit it and load it with --dataset.")
@click.pass_context
def sim(ctx: click.Context, backends: tuple[str, ...], port_base: int, host: str,
        seed: int | None, dataset_path: Path | None, latency_ms: float, jitter_ms: float,
        error_rate: float, drop_rate: float, duplicate_rate: float, outages: tuple[str, ...],
        outage_mode: str, as_json: bool, scrub_key_file: Path | None,
        scrub_key_env: str | None, export_path: Path | None) -> None:
    """Simulated back-ends (DMV, NCIC, WPS, SVS, CARPOS, CCH, NLETS) over a synthetic data set.

    Runs until SIGINT or SIGTERM.  See docs/sim.md for the well-known records.
    """
    if ctx.invoked_subcommand is not None:
        return
    from clets.sim.backends import Faults
    from clets.sim.dataset import DEFAULT_SEED
    from clets.sim.server import SimNetwork

    seed = DEFAULT_SEED if seed is None else seed
    dataset = _dataset(dataset_path, seed)
    key = _scrub_key(scrub_key_file, scrub_key_env)
    if key is not None:
        from clets.testing.scrub import scrub_dataset

        scrub_dataset(dataset, key)
    if export_path is not None:
        try:
            export_path.write_text(dataset.to_json_text(), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write data set: {exc.strerror}",
                              source=str(export_path)) from None
        click.echo(f"data set written to {export_path}" + (" (scrubbed)" if key else ""),
                   err=True)
        return
    faults = Faults(latency_ms=latency_ms, jitter_ms=jitter_ms, error_rate=error_rate,
                    drop_rate=drop_rate, duplicate_rate=duplicate_rate)
    net = SimNetwork(seed=seed, base_port=port_base, host=host, backends=backends or None,
                     faults=faults, dataset=dataset, outages=outages,
                     outage_mode=outage_mode, admin=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with net:
            if as_json:
                info = {s.name: {"url": s.url, "host": s.host, "port": s.port,
                                 "codecs": list(s.wire.codecs), "framing": s.wire.framing,
                                 "outage": s.outage} for s in net.servers.values()}
                click.echo(json.dumps({"backends": info, "admin_port": net.admin_port,
                                       "seed": seed}))
            else:
                for s in net.servers.values():
                    state = f"  DOWN ({s.outage})" if s.outage else ""
                    codecs = "|".join(s.wire.codecs)
                    click.echo(f"{s.name:<7} {s.url:<45} codecs={codecs}{state}")
                click.echo(f"admin   tcp://{host}:{net.admin_port} (clets sim admin --port "
                           f"{net.admin_port} status)")
            sys.stdout.flush()
            await stop.wait()
        click.echo("sim stopped", err=True)

    asyncio.run(run())


@sim.command("query")
@click.option("--backend", required=True, metavar="NAME", help="Back-end that answers.")
@click.option("--format", "fmt", default="ncic", show_default=True,
              help="Codec of the message and the answers (ncic, niem, json, dmv-reg-request, ...).")
@click.option("--out", "out_fmt", default=None,
              help="Codec for the answers (default: --format, json for dmv-*; 'dmv' prints "
                   "the DMV response record in hex).")
@click.option("--seed", type=int, default=None)
@click.option("--dataset", "dataset_path", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("message", required=False)
def query(backend: str, fmt: str, out_fmt: str | None, seed: int | None,
          dataset_path: Path | None, message: str | None) -> None:
    """Answer MESSAGE (or stdin) as back-end NAME would, without a network."""
    from clets.codecs.base import get_codec
    from clets.sim.backends import make_backend
    from clets.sim.dataset import DEFAULT_SEED
    from clets.sim.server import WIRES, _Codecs, encode_answer

    seed = DEFAULT_SEED if seed is None else seed
    binary = fmt.startswith("dmv")
    if message is not None:
        # a DMV record typed on the command line is its EBCDIC text
        data = message.encode("cp037" if binary else "utf-8")
    else:
        data = sys.stdin.buffer.read()
    backend_obj = make_backend(backend, _dataset(dataset_path, seed))
    req = get_codec(fmt).decode(data)
    raw = data[:100].decode("cp037" if binary else "latin-1")
    answers = backend_obj.answer(req, raw)
    # DMV records hold packed decimals: show their canonical JSON unless asked otherwise
    out_name = out_fmt or ("json" if binary else fmt)
    for i, msg in enumerate(answers):
        if i:
            click.echo("")
        if out_name == "dmv":
            codec_name = _Codecs(WIRES["DMV"]).response_codec(msg, fmt)
            click.echo(get_codec(codec_name).encode(msg).hex())
            continue
        # as the server does: what the wire cannot carry becomes the closest answer it can
        out = encode_answer(get_codec(out_name), msg, req, fmt, backend_obj, raw)
        if out is None:
            raise click.ClickException(f"{out_name} cannot carry this answer")
        click.echo(out.decode("utf-8", "replace").rstrip("\n"))


@sim.command("admin")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=DEFAULT_PORT_BASE + 9, show_default=True)
@click.argument("command", nargs=-1, required=True)
def admin(host: str, port: int, command: tuple[str, ...]) -> None:
    """Send one admin command to a running sim: outage NAME on|off|blackhole, faults NAME|ALL
    key=value..., status."""

    async def run() -> str:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        except (OSError, TimeoutError) as exc:
            raise LinkError(f"cannot reach the sim admin port: {exc}",
                            peer=f"{host}:{port}") from None
        writer.write(" ".join(command).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        return line.decode().strip()

    answer = asyncio.run(run())
    if not answer.startswith("OK"):
        raise ConfigError(answer or "no answer from the sim admin port")
    click.echo(answer)

"""Tester commands: ``capture``, ``replay``, ``scrub``, ``diff`` (docs/testing.md).

Exit status: ``replay`` and ``diff`` exit 0 when every answer matched and 1 when any differs,
is missing or extra (so a CI step fails on a regression); typed errors exit 2 as everywhere.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import click

from clets.errors import ConfigError
from clets.testing.capture import CaptureWriter, read_capture, write_capture
from clets.testing.diff import DEFAULT_MASKS, MaskSet
from clets.testing.session import SessionReport, compare_sessions, exchanges, request_link

__all__ = ["register"]


def _speed(text: str) -> float | None:
    if text.lower() in ("max", "0"):
        return None
    try:
        value = float(text.lower().rstrip("x"))
    except ValueError:
        raise click.BadParameter("use 1, 10 or max") from None
    if value <= 0:
        raise click.BadParameter("speed must be > 0 (or max)")
    return value


def _masks(masks: tuple[str, ...], no_defaults: bool) -> MaskSet:
    return MaskSet.of(masks, defaults=not no_defaults)


def _print_report(report: SessionReport, *, show_diff: bool, errors: list[str]) -> None:
    click.echo(report.summary())
    for e in errors:
        click.echo(f"note: {e}", err=True)
    if show_diff:
        details = report.details()
        if details:
            click.echo("")
            click.echo(details)
    click.echo("")
    click.echo("RESULT: " + ("all answers match" if report.ok else "DIFFERENCES FOUND"))


def _mask_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--no-default-masks", is_flag=True,
                     help="compare the default-masked fields too: "
                          + ", ".join(DEFAULT_MASKS))(f)
    f = click.option("--mask", "masks", multiple=True, metavar="GLOB",
                     help="canonical path or glob to ignore (repeatable), "
                          "e.g. records[*].fields.DTE")(f)
    return f


def _load_key(key_file: str | None) -> bytes:
    if key_file:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read key file: {exc.strerror}", source=key_file) from None
    else:
        env = os.environ.get("CLETS_SCRUB_KEY")
        if not env:
            raise click.UsageError("give --key-file or set CLETS_SCRUB_KEY")
        key = env.encode("utf-8")
    if len(key) < 16:
        raise ConfigError("scrub key must be at least 16 bytes (use e.g. "
                          "`head -c 32 /dev/urandom | base64 > scrub.key`)")
    return key


def register(group: click.Group) -> None:
    @group.command()
    @click.option("--listen", required=True, metavar="HOST:PORT",
                  help="where clients connect (the proxy)")
    @click.option("--to", "to", required=True, metavar="URL",
                  help="the real peer: tcp://host:port, tcp+tls://..., serial:///dev/X?baud=N")
    @click.option("--framing", required=True, help="framing on this line (len2, line, rdw, ...)")
    @click.option("--codec", help="codec of the frames (decoded into the capture)")
    @click.option("--codec-out", help="codec of the answers when it differs from --codec")
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                  help="capture file to write")
    @click.option("--link", "link_name", default="client", show_default=True,
                  help="link name recorded in the capture")
    @click.option("--notes", help="free text stored in the capture header")
    @click.option("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    def capture(listen: str, to: str, framing: str, codec: str | None, codec_out: str | None,
                output: str, link_name: str, notes: str | None,
                duration: float | None) -> None:
        """Record a live exchange as a transparent proxy in front of a TCP or serial peer."""
        from clets.testing.proxy import CaptureProxy, parse_listen

        addr = parse_listen(listen)
        links = {link_name: {"framing": framing, "codec": codec, "codec_out": codec_out or codec,
                             "peer": to}}

        async def run() -> int:
            with CaptureWriter(output, links=links, notes=notes) as writer:
                proxy = CaptureProxy(addr, to, writer, framing=framing, codec=codec,
                                     codec_out=codec_out, link=link_name)
                await proxy.start()
                click.echo(f"capturing on {addr[0]}:{proxy.port} -> {to} into {output} "
                           "(Ctrl-C to stop)", err=True)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    try:
                        loop.add_signal_handler(sig, stop.set)
                    except (NotImplementedError, RuntimeError):
                        pass
                try:
                    await asyncio.wait_for(stop.wait(), duration)
                except TimeoutError:
                    pass
                await proxy.close()
                click.echo(f"{writer.count} events written to {output}", err=True)
                return 0

        sys.exit(asyncio.run(run()))

    @group.command()
    @click.argument("capture_file", metavar="CAPTURE", type=click.Path(exists=True,
                                                                        dir_okay=False))
    @click.option("--to", "to", required=True, metavar="URL",
                  help="switch, simulator or build to replay against (tcp://, tcp+tls://, "
                       "serial://)")
    @click.option("--speed", default="max", show_default=True,
                  help="1 = captured timing, 10 = ten times faster, max = as fast as answers "
                       "come")
    @click.option("--diff/--no-diff", "show_diff", default=True, show_default=True,
                  help="print the per-message differences")
    @_mask_options
    @click.option("--junit", type=click.Path(dir_okay=False), help="write a JUnit XML report")
    @click.option("--timeout", type=float, default=5.0, show_default=True,
                  help="seconds to wait for a request's answers")
    @click.option("--settle", type=float, default=0.2, show_default=True,
                  help="quiet seconds at the end to catch extra answers")
    @click.option("--link", "link_name", help="which captured link to replay (default: the "
                                              "first with requests)")
    @click.option("--framing", help="override the captured framing")
    @click.option("--codec", help="override the codec of the answers")
    @click.option("--record", type=click.Path(dir_okay=False),
                  help="also write the replayed session as a capture (for `clets diff`)")
    @click.option("--progress/--no-progress", default=None,
                  help="progress bar on stderr (default: when stderr is a terminal)")
    def replay(capture_file: str, to: str, speed: str, show_diff: bool, masks: tuple[str, ...],
               no_default_masks: bool, junit: str | None, timeout: float, settle: float,
               link_name: str | None, framing: str | None, codec: str | None,
               record: str | None, progress: bool | None) -> None:
        """Replay a capture's requests and compare the answers field by field."""
        from clets.testing.junit import write_junit
        from clets.testing.replay import ReplayOptions
        from clets.testing.replay import replay as do_replay

        cap = read_capture(capture_file)
        opts = ReplayOptions(link=link_name, speed=_speed(speed), timeout=timeout,
                             settle=settle, codec=codec)
        try:
            name = request_link(cap, link_name)
        except KeyError:
            raise click.BadParameter(f"no link {link_name!r} in the capture; it has: "
                                     f"{', '.join(cap.links()) or 'none'}",
                                     param_hint="--link") from None
        total = len(cap.frames(name, "in"))
        if not total:
            # a CI job fed an empty or wrong capture must not pass with "all answers match"
            click.echo(f"clets: error: {capture_file}: no requests to replay on link {name!r} "
                       "(no 'in' frames)", err=True)
            sys.exit(2)
        show_bar = progress if progress is not None else sys.stderr.isatty()
        writer = (CaptureWriter(record, links=cap.header.links,
                                notes=f"replay of {capture_file} against {to}")
                  if record else None)
        try:
            if show_bar and total:
                with click.progressbar(length=total, label="replaying", file=sys.stderr
                                       ) as bar:
                    last = [0]

                    def step(n: int) -> None:
                        bar.update(n - last[0])
                        last[0] = n

                    result = asyncio.run(do_replay(cap, to, opts, framing=framing,
                                                   progress=step, record=writer))
            else:
                result = asyncio.run(do_replay(cap, to, opts, framing=framing, record=writer))
        finally:
            if writer is not None:
                writer.close()
        report = result.report(_masks(masks, no_default_masks))
        _print_report(report, show_diff=show_diff, errors=result.errors)
        if junit:
            write_junit(junit, report, suite=f"replay {Path(capture_file).name}")
        sys.exit(0 if report.ok and not result.errors else 1)

    @group.command()
    @click.argument("capture_file", metavar="CAPTURE", type=click.Path(exists=True,
                                                                        dir_okay=False))
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
    @click.option("--key-file", type=click.Path(exists=True, dir_okay=False),
                  help="secret key (else env CLETS_SCRUB_KEY); same key = same fake values")
    @click.option("--report", "report_file", type=click.Path(dir_okay=False),
                  help="write the scrub report here (default: stderr)")
    def scrub(capture_file: str, output: str, key_file: str | None,
              report_file: str | None) -> None:
        """Replace personal data in a capture with consistent, format-preserving fakes."""
        from clets.testing.scrub import scrub_capture

        key = _load_key(key_file)
        cap = read_capture(capture_file)
        scrubbed, report = scrub_capture(cap, key)
        write_capture(output, scrubbed)
        text = report.render()
        if report_file:
            Path(report_file).write_text(text + "\n", encoding="utf-8")
        else:
            click.echo(text, err=True)
        click.echo(f"scrubbed capture written to {output}", err=True)

    @group.command("diff")
    @click.argument("first", metavar="CAPTURE_A", type=click.Path(exists=True, dir_okay=False))
    @click.argument("second", metavar="CAPTURE_B", type=click.Path(exists=True,
                                                                    dir_okay=False))
    @_mask_options
    @click.option("--link", "link_name", help="link to compare (default: the first with "
                                              "requests)")
    @click.option("--junit", type=click.Path(dir_okay=False), help="write a JUnit XML report")
    def diff_cmd(first: str, second: str, masks: tuple[str, ...], no_default_masks: bool,
                 link_name: str | None, junit: str | None) -> None:
        """Compare the answers of two captures request by request (e.g. old vs new build)."""
        from clets.testing.junit import write_junit

        a, b = read_capture(first), read_capture(second)
        try:
            la, lb = request_link(a, link_name), request_link(b, link_name)
        except KeyError as exc:
            raise click.BadParameter(f"no link {exc.args[0]!r} in a capture",
                                     param_hint="--link") from None
        ex_a, un_a = exchanges(a.events, la)
        ex_b, un_b = exchanges(b.events, lb)
        report = compare_sessions(ex_a, ex_b, _masks(masks, no_default_masks),
                                  unsolicited=(un_a, un_b), compare_requests=True)
        _print_report(report, show_diff=True, errors=[])
        if junit:
            write_junit(junit, report, suite=f"diff {Path(first).name} {Path(second).name}")
        sys.exit(0 if report.ok else 1)

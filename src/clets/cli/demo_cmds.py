"""``clets demo``: what ``make demo`` runs.

With no arguments it runs the whole embedded network scenario when the switch is installed
(``clets.demo``), and ``clets demo --codecs`` runs the codec tour: decode one sample of every
format, convert between them, and show a reject -- the day-one proof that the library works.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from clets.codecs import available, get_codec
from clets.errors import CletsError
from clets.model import Message, Name, Person, Record, Registration, Vehicle, dumps, replace

__all__ = ["codec_tour", "register"]

_PLATE_QUERY = b"QV.CA0349999.LIC/7ABC123.LIS/CA.LIY/2026.LIT/PC"
_PERSON_QUERY = b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W"
_BAD_QUERY = b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751302.SEX/M"


def _dmv_response() -> Message:
    """A registration answer as the DMV mainframe would give it (built in the model)."""
    return Message(
        format="dmv-reg-response", mke="RGR1", destinations=["CA0349999"], control="D000000001",
        status="hit",
        records=[Record(
            file="registration",
            vehicle=Vehicle(plate="7ABC123", plate_state="CA", vin="1HGCM82633A004352",
                            year=2003, make="HOND", model="ACC", style="4D", color="SIL"),
            owner=Person(name=Name("DOE", "JANE", "Q")),
            registration=Registration(expires="2027-03-31", status="AC", fees_due="-18.07",
                                      stolen=True))])


def _show(title: str, body: str) -> None:
    click.secho(f"\n== {title}", bold=True)
    click.echo(body)


def codec_tour() -> int:
    """Print the tour; returns the number of steps that failed (0 on success)."""
    failures = 0
    names = available()
    _show("codecs installed", ", ".join(names))

    def step(title: str, fn: object) -> None:
        nonlocal failures
        try:
            _show(title, fn())  # type: ignore[operator]
        except CletsError as exc:
            failures += 1
            _show(title, f"FAILED: {exc}")

    if "ncic" in names:
        ncic = get_codec("ncic")
        step("ncic person inquiry -> canonical JSON",
             lambda: dumps(ncic.decode(_PERSON_QUERY)))
        step("ncic plate inquiry -> canonical JSON", lambda: dumps(ncic.decode(_PLATE_QUERY)))
        if "nlets" in names:
            # ncic text has no destination field and Nlets input needs one: the tour
            # addresses its copy to Nevada's control terminal, as an operator would.
            step("the plate inquiry as Nlets text, addressed to NV",
                 lambda: get_codec("nlets").encode(
                     replace(ncic.decode(_PLATE_QUERY), destinations=["NV"])).decode())
        if "niem" in names:
            step("the plate inquiry as Nlets NIEM XML",
                 lambda: get_codec("niem").encode(ncic.decode(_PLATE_QUERY)).decode())
        if "ncic" in names:
            step("ncic plate inquiry as EBCDIC (cp037) bytes",
                 lambda: get_codec("ncic", encoding="cp037").encode(
                     ncic.decode(_PLATE_QUERY)).hex(" "))

    if "dmv-reg-response" in names:
        dmv = get_codec("dmv-reg-response")

        def dmv_round() -> str:
            record = dmv.encode(_dmv_response())
            back = dmv.decode(record)
            return (f"{len(record)} bytes cp037, first 48: {record[:48].hex(' ')}\n"
                    f"decoded again: {dumps(back)}")

        step("DMV registration response (copybook DMVREGR) -> record -> JSON", dmv_round)

    if "ncic" in names:
        def reject() -> str:
            try:
                get_codec("ncic").decode(_BAD_QUERY)
            except CletsError as exc:
                return f"{_BAD_QUERY.decode()}\nrejected: {exc} (error code {exc.code})"
            raise AssertionError("the bad date was accepted")

        step("a malformed query is rejected with field, reason and value", reject)
    return failures


def register(group: click.Group) -> None:
    @group.command()
    @click.option("--codecs", "codecs_only", is_flag=True, help="run only the codec tour")
    @click.option("--quiet", "-q", is_flag=True,
                  help="one line per message and answer (no wire details)")
    @click.option("--keep", is_flag=True,
                  help="keep the work directory (switch.toml, journal.db, pki/, rms-drop/)")
    @click.option("--seed", type=int, default=None,
                  help="data set seed of the simulated back-ends (default 1975)")
    @click.option("--timeout", type=click.FloatRange(5, 600), default=50.0, show_default=True,
                  help="the demo fails (exit 1) when it has not finished within this many s")
    @click.option("--capture", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="write captures of the teletype, CAD and RMS links (tty.jsonl, "
                       "cad.jsonl, rms.jsonl) into this directory, for clets replay")
    def demo(codecs_only: bool, quiet: bool, keep: bool, seed: int | None,
             timeout: float, capture: Path | None) -> None:
        """Run the embedded demo network (or the codec tour) and exit 0 when all went well.

        The network: simulated DMV, NCIC, WPS, SVS, CARPOS, CCH and NLETS; the switch with
        its journal; a teletype on a pseudo-terminal, a CAD over mutual TLS, an RMS spool
        drop.  Six scripted steps, each checked; exit 1 names the step that failed.
        """
        if not codecs_only and importlib.util.find_spec("clets.demo") is not None:
            from clets.demo import run_demo
            from clets.sim import DEFAULT_SEED

            sys.exit(run_demo(quiet=quiet, keep=keep, timeout=timeout,
                              seed=DEFAULT_SEED if seed is None else seed,
                              echo=click.echo, capture=capture))
        sys.exit(1 if codec_tour() else 0)

"""The shipped capture fixtures (fixtures/captures/*.jsonl, scrubbed) replay with no differences.

Each fixture was captured by ``fixtures/captures/make_captures.py`` in front of a simulated
back-end, then scrubbed with ``fixtures/captures/scrub.key``.  Here the simulator runs on a data
set scrubbed with the same key, so the scrubbed requests find the scrubbed records: a scrubbed
capture still replays and still diffs clean -- and a simulator with real (unscrubbed) data
gives differences, which shows the replay is not vacuous.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

import pytest

from clets.testing.capture import Capture, CaptureEvent, read_capture
from clets.testing.diff import MaskSet
from clets.testing.replay import ReplayOptions, ReplayResult, open_link, replay, replay_over
from clets.testing.session import SessionReport
from tests.conftest import FIXTURES

pytestmark = pytest.mark.timeout(120)

CAPTURES = FIXTURES / "captures"
SIM_FIXTURES = sorted(CAPTURES.glob("sim-*.jsonl"))


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_captures",
                                                  CAPTURES / "make_captures.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_captures"] = mod
    spec.loader.exec_module(mod)
    return mod


MAKER = _maker()
BACKEND = {sc.name: sc.backend for sc in MAKER.sim_scenarios()}


async def _replay_against_sim(capture: Path, dataset: object) -> SessionReport:
    from clets.sim import SimNetwork

    cap = read_capture(capture)
    backend = BACKEND[capture.name.removesuffix(".jsonl")]
    async with SimNetwork(base_port=0, backends=[backend], dataset=dataset) as sim:
        result = await replay(cap, sim.url(backend), ReplayOptions(timeout=5.0, settle=0.1))
    assert not result.errors, result.errors
    return result.report(MaskSet.of())


def test_there_are_fixtures() -> None:
    assert len(SIM_FIXTURES) >= 3
    for path in SIM_FIXTURES:
        cap = read_capture(path)
        assert "scrubbed" in cap.header.extra
        assert cap.frames(direction="in") and cap.frames(direction="out")


def test_fixtures_hold_no_original_values() -> None:
    """The values the sessions were recorded with (the simulator's well-known records) appear
    nowhere in the shipped files: not in messages, raw frames, decode errors or reports."""
    from clets.sim import WELL_KNOWN

    originals = ["SMITH", "19751012", "1975-10-12", "19751302", "W123456789", "24-001234",
                 WELL_KNOWN["stolen_plate"], WELL_KNOWN["clean_plate"],
                 WELL_KNOWN["fees_due_plate"], WELL_KNOWN["refund_plate"]]
    for path in [*CAPTURES.glob("*.jsonl"), *CAPTURES.glob("*.scrub-report.txt")]:
        text = path.read_text()
        cap_raw = ""
        if path.suffix == ".jsonl":
            cap = read_capture(path)
            cap_raw = "".join((e.raw or b"").decode("cp037" if e.framing == "rdw" else "latin-1")
                              for e in cap.events)
        for real in originals:
            assert real not in text and real not in cap_raw, (path.name, real)


@pytest.mark.parametrize("capture", SIM_FIXTURES, ids=[p.name for p in SIM_FIXTURES])
def test_scrubbed_fixture_replays_without_differences(capture: Path) -> None:
    key = (CAPTURES / "scrub.key").read_bytes().strip()
    report = asyncio.run(_replay_against_sim(capture, MAKER.scrubbed_dataset(key)))
    assert report.ok, report.details()
    counts = report.counts()
    assert counts["identical"] == counts["answered"] > 0


def test_unscrubbed_simulator_shows_differences() -> None:
    from clets.sim import generate

    report = asyncio.run(_replay_against_sim(CAPTURES / "sim-ncic.jsonl", generate()))
    assert not report.ok


# --------------------------------------------------------------------------- demo network

SWITCH_FIXTURES = [CAPTURES / f"{sc.name}.jsonl" for sc in MAKER.SCENARIOS
                   if (CAPTURES / f"{sc.name}.jsonl").exists()]


async def _replay_through_switch(capture: Path, dataset: object) -> SessionReport:
    scenario = next(sc for sc in MAKER.SCENARIOS if f"{sc.name}.jsonl" == capture.name)
    cap = read_capture(capture)
    async with MAKER.DemoNet(dataset=dataset, outages=scenario.outages) as net:
        async def on_answer(ev: CaptureEvent) -> None:
            if scenario.on_answer is not None and ev.raw is not None:
                await scenario.on_answer(net, ev.raw)

        result = await replay_over_url(cap, net.origin_url, on_answer)
    assert not result.errors, result.errors
    return result.report(MaskSet.of())


async def replay_over_url(cap: Capture, url: str,
                          on_answer: Callable[[CaptureEvent], Awaitable[None]]) -> ReplayResult:
    link = await open_link(url)
    try:
        return await replay_over(cap, link, ReplayOptions(timeout=15.0, settle=0.3),
                                 on_answer=on_answer)
    finally:
        await link.close()


def test_switch_fixtures_exist() -> None:
    assert {p.name for p in SWITCH_FIXTURES} == {"clean.jsonl", "outage.jsonl", "rejects.jsonl"}


@pytest.mark.parametrize("capture", SWITCH_FIXTURES, ids=[p.name for p in SWITCH_FIXTURES])
def test_switch_fixture_replays_without_differences(capture: Path) -> None:
    """Through the whole demo network (switch + simulated back-ends), outage included: the
    replay takes DMV down, gets the .02., brings DMV back, and receives the late answer."""
    key = (CAPTURES / "scrub.key").read_bytes().strip()
    report = asyncio.run(_replay_through_switch(capture, MAKER.scrubbed_dataset(key)))
    assert report.ok, report.details()
    assert report.counts()["identical"] > 0

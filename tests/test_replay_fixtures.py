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
from pathlib import Path
from types import ModuleType

import pytest

from clets.testing.capture import read_capture
from clets.testing.diff import MaskSet
from clets.testing.replay import ReplayOptions, replay
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
    for path in [*SIM_FIXTURES, *CAPTURES.glob("*.scrub-report.txt")]:
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

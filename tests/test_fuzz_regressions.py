"""Every input the fuzzers of ``fuzz/`` ever failed on, replayed through its target.

``make fuzz`` saves each failing input under ``tests/fuzz_regressions/<target>/`` (the target's
name is the directory); here each one must give a value or one of the project's own typed
errors (``clets.errors``), and pass the target's own checks (round trip, chunking).  The seeds
of every target run too, so a target that rots (an import renamed, a fixture moved) fails here
and not only when someone next fuzzes.  No atheris is needed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import ROOT

REGRESSIONS = Path(__file__).resolve().parent / "fuzz_regressions"


def _load_targets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("clets_fuzz_targets",
                                                  ROOT / "fuzz" / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


targets = _load_targets()

SAVED = sorted(p for p in REGRESSIONS.glob("*/*") if p.is_file())


def test_every_saved_input_names_a_target() -> None:
    assert {p.parent.name for p in SAVED} <= set(targets.TARGETS)


@pytest.mark.parametrize("path", SAVED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_saved_input(path: Path) -> None:
    targets.run_one(path.parent.name, path.read_bytes())


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_seeds(name: str) -> None:
    n = 0
    for data in targets.seeds(name):
        targets.run_one(name, data)
        n += 1
    assert n > 0, f"target {name} has no seeds"

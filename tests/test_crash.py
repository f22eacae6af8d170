"""Crash test: ``clets run`` SIGKILLed and restarted at random instants under load (C1 of
reliability.md §6), checked by a total-queue style checker, with a negative control.

Small by default (20 kills, in ``make test``); bigger with ``CLETS_CRASH_ROUNDS=200``.
The figures are printed (``pytest -s tests/test_crash.py``) and kept in the assertion message.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests._crash_kit import crash_run

ROUNDS = int(os.environ.get("CLETS_CRASH_ROUNDS", "20"))
SEED = int(os.environ.get("CLETS_CRASH_SEED", "1"))

pytestmark = pytest.mark.timeout(120 + 6 * ROUNDS)


def test_kill_storm_loses_nothing_acknowledged(tmp_path: Path) -> None:
    report = asyncio.run(crash_run(tmp_path, rounds=ROUNDS, seed=SEED))
    print("\ncrash:", report.summary())
    why = f"{report.summary()} lost={report.lost_controls} " \
          f"missing answers={report.missing_answers} audit={report.audit_output}"
    assert report.kills == ROUNDS
    assert report.acknowledged > 0 and report.never_acknowledged == 0, why
    assert report.lost == 0, why
    assert report.duplicate_effects == 0, why
    assert report.unexpected == 0, why
    assert report.answers_missing == 0, why
    assert report.rejects == 0, why
    assert report.exit_code == 0, why
    assert report.audit_ok and report.integrity == "ok", why
    assert report.ok, why


def test_negative_control_ack_before_commit_is_caught(tmp_path: Path) -> None:
    """The same checker must see losses when the switch acknowledges before committing:
    otherwise the test above proves nothing."""
    report = asyncio.run(crash_run(tmp_path, rounds=6, seed=SEED, unsafe=True))
    print("\nnegative control:", report.summary())
    assert report.lost > 0, report.summary()
    assert not report.ok

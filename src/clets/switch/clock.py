"""Clocks the switch reads, so tests move time instead of sleeping.

The journal stores wall-clock epoch seconds (deadlines and retry times must survive a restart,
which a monotonic clock cannot); a test passes a :class:`ManualClock` and advances it.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self._now = start

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

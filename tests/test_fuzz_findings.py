"""Specific tests for what the fuzzers of ``fuzz/`` found (docs/testing.md, Fuzzing).

Each failing input itself is replayed by ``test_fuzz_regressions.py``; the tests here pin the
behaviour behind it, written small and by hand.  Work that grew faster than its input is
asserted on counts and sizes (allocations, fields laid out, calls), never on wall-clock time.
"""

from __future__ import annotations

import tracemalloc

import pytest

from clets.codecs.copybook import parse_copybook
from clets.codecs.copybook.parser import parse_items
from clets.errors import LayoutError

# ------------------------------------------------------------------ copybook: PIC repeat counts


@pytest.mark.parametrize("count", ["9" * 10, "3" * 22, "1" * 5000])
def test_pic_repeat_count_too_large_is_a_layout_error(count: str) -> None:
    # OverflowError (22 digits), ValueError (5000 digits: int() refuses), or a 10 GB string
    with pytest.raises(LayoutError, match="repeat count"):
        parse_copybook(f"01 R.\n 05 F PIC X({count}).\n")


def test_pic_repeat_is_counted_not_expanded() -> None:
    # PIC X(900000000) used to build a 900 MB string to measure itself
    tracemalloc.start()
    try:
        (record,) = parse_items("01 R.\n 05 F PIC X(900000000).\n 05 N PIC S9(7)V9(2).\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert [(c.kind, c.length, c.scale) for c in record.children] == [
        ("text", 900_000_000, 0), ("zoned", 9, 2)]

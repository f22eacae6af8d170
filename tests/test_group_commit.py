"""Group commit: the steps of one loop turn in one transaction, each released after it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from clets.switch.audit import AuditEvent, verify
from clets.switch.batch import GroupCommit
from clets.switch.journal import Journal


def _row(j: Journal, tag: str) -> int:
    msn = j.insert_message(now=1.0, kind="request", link="l", peer="P", origin="CA0194200",
                           control=tag, sequence=None, mke="QW", operator=None, codec="json",
                           sha256="0" * 64, payload=tag.encode(), canonical="{}")
    j.audit(AuditEvent("received", msn=msn, outcome=tag), 1.0)
    return msn


def _controls(j: Journal) -> list[str]:
    return [r[0] for r in j.conn.execute("SELECT control FROM messages ORDER BY msn")]


def test_steps_of_one_turn_commit_together_and_are_released_after(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    gc = GroupCommit(j)
    seen: list[tuple[str, bool, Any, bool]] = []

    async def main() -> Any:
        for tag in ("A", "B", "C"):
            gc.submit(lambda tag=tag: _row(j, tag),  # type: ignore[misc]
                      lambda ok, v, tag=tag: seen.append(  # type: ignore[misc]
                          (tag, ok, v, j.conn.in_transaction)))
        return await gc.call(lambda: "done")

    assert asyncio.run(main()) == "done"
    assert gc.commits == 1 and gc.steps == 4 and gc.retried == 0
    # released after the commit (no transaction open), in order, with each step's value
    assert seen == [("A", True, 1, False), ("B", True, 2, False), ("C", True, 3, False)]
    assert _controls(j) == ["A", "B", "C"]
    assert verify(j.conn).ok
    j.close()


def test_a_failing_step_is_undone_alone_and_the_others_commit_once(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    gc = GroupCommit(j)
    runs = {"A": 0, "C": 0}
    seen: dict[str, tuple[bool, Any]] = {}

    def good(tag: str) -> int:
        runs[tag] += 1
        return _row(j, tag)

    def bad() -> int:
        _row(j, "B")  # written, then the step fails: its message and audit record go
        raise ValueError("cannot encode")

    async def main() -> None:
        gc.submit(lambda: good("A"), lambda ok, v: seen.__setitem__("A", (ok, v)))
        gc.submit(bad, lambda ok, v: seen.__setitem__("B", (ok, v)))
        fut = gc.call(lambda: good("C"))
        assert await fut == 2
        with pytest.raises(ValueError):
            await gc.call(bad)

    asyncio.run(main())
    assert seen["A"] == (True, 1)
    assert seen["B"][0] is False and isinstance(seen["B"][1], ValueError)
    # the optimistic run stopped at B and was rolled back, then the batch ran step by step:
    # A ran twice (C, after B, once), yet A's row is there once, B's not at all, and the
    # audit chain is whole
    assert runs == {"A": 2, "C": 1} and gc.retried == 2
    assert _controls(j) == ["A", "C"]
    assert [r["outcome"] for r in j.conn.execute("SELECT outcome FROM audit ORDER BY seq")] \
        == ["A", "C"]
    assert verify(j.conn).ok
    j.close()

"""The drop ledger: states, transitions, duplicate detection, durability settings."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from clets.adapters import ledger as L
from clets.adapters.ledger import Ledger


def test_pragmas_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    led = Ledger(path)
    row = led.begin_claim("d", "a.dat", 10, 1.5)
    led.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    led = Ledger(path)
    assert led._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    again = led.get(row.id)
    assert again.state == L.CLAIMING and again.claimed_name == f"{row.id:08d}.a.dat"
    assert led.integrity_ok()


def test_happy_path_and_ack_monotonic(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite3")
    row = led.begin_claim("d", "a.dat", 3, 0.0)
    led.set_state(row.id, L.CLAIMED)
    row = led.record_download(row.id, "ab" * 32, 3)
    assert row.state == L.DOWNLOADED and row.file_id == "ab" * 32
    row = led.record_split(row.id, 3)
    led.record_ack(row.id, 2)
    led.record_ack(row.id, 1)  # a late, smaller ack never moves progress backwards
    assert led.get(row.id).acked == 2
    led.set_state(row.id, L.ARCHIVING)
    led.set_state(row.id, L.ARCHIVED)
    assert led.active("d") == [] and [r.state for r in led.files("d")] == [L.ARCHIVED]


def test_invalid_transition_refused(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite3")
    row = led.begin_claim("d", "a.dat", 3, 0.0)
    with pytest.raises(ValueError, match="claiming -> archived"):
        led.set_state(row.id, L.ARCHIVED)
    with pytest.raises(ValueError):
        led.record_split(row.id, 1)  # not downloaded yet
    assert led.get(row.id).state == L.CLAIMING  # the failed step changed nothing


def _archive(led: Ledger, drop: str, name: str, sha: str, size: int = 3) -> L.FileRow:
    row = led.begin_claim(drop, name, size, 0.0)
    led.set_state(row.id, L.CLAIMED)
    row = led.record_download(row.id, sha, size)
    if row.state == L.DOWNLOADED:
        led.record_split(row.id, 0)
        led.set_state(row.id, L.ARCHIVING)
    return led.set_state(row.id, L.ARCHIVED)


def test_duplicate_key_is_name_size_sha(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite3")
    first = _archive(led, "d", "a.dat", "11" * 32)
    dup = _archive(led, "d", "a.dat", "11" * 32)
    assert dup.duplicate_of == first.id and "duplicate" in (dup.reason or "")
    assert _archive(led, "d", "b.dat", "11" * 32).duplicate_of is None  # other name
    assert _archive(led, "d", "a.dat", "22" * 32).duplicate_of is None  # other content
    assert _archive(led, "other", "a.dat", "11" * 32).duplicate_of is None  # other drop


def test_errored_file_is_not_a_duplicate_source(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite3")
    row = led.begin_claim("d", "a.dat", 3, 0.0)
    led.set_state(row.id, L.CLAIMED)
    led.record_download(row.id, "33" * 32, 3)
    led.set_state(row.id, L.ERRORING, reason="bad")
    led.set_state(row.id, L.ERRORED)
    assert _archive(led, "d", "a.dat", "33" * 32).duplicate_of is None  # a re-drop is retried


def test_outbound(tmp_path: Path) -> None:
    led = Ledger(tmp_path / "l.sqlite3")
    row = led.begin_out("d", lambda seq: (f"f{seq}.dat", f".f{seq}.part"), 5, "00" * 32)
    assert (row.name, row.tmp_name, row.state) == (f"f{row.id}.dat", f".f{row.id}.part", L.WRITING)
    assert led.pending_out("d") == [row]
    led.finish_out(row.id)
    led.finish_out(row.id, L.ABANDONED)  # only from writing: a finished row stays finished
    assert led.get_out(row.id).state == L.RENAMED and led.pending_out("d") == []

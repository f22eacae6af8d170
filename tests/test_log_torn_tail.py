"""A torn write at the end of the log journal: cut the file at every byte offset of its last
block, open it, and the journal is exactly what it was before that block -- never a part of
it -- with the audit chain whole, and a log line that says what was dropped.

The log's store is SQLite in WAL mode: a block is the WAL frames of one commit, and SQLite
replays the frames up to the last whole commit (salts and checksums).  The test keeps pages
small (512 bytes) so the last block's frames are a few kilobytes and every offset is tried."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from clets.switch import audit
from clets.switch.audit import AuditEvent
from clets.switch.logjournal import LogJournal
from clets.switch.logstore import torn_tail
from tests.test_journal_log import _accept, _state

pytestmark = pytest.mark.timeout(300)


def test_a_torn_last_block_is_dropped_at_every_offset(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "src" / "j.db"
    src.parent.mkdir()
    c = sqlite3.connect(src)
    c.execute("PRAGMA page_size=512")
    c.execute("PRAGMA journal_mode=WAL")
    c.close()
    j = LogJournal(src)
    for i in range(5):
        with j.tx():
            _accept(j, i, 100.0 + i)
    with j.tx():
        j.mark_claimed([1], 106.0)
    before = _state(j)
    wal = Path(f"{src}-wal")
    start = wal.stat().st_size
    with j.tx():  # the last block: a delivery done and its record
        j.mark_delivered(2, 1, 110.0)
        j.audit(AuditEvent("delivered", msn=1, outcome="sent"), 110.0)
    after = _state(j)
    end = wal.stat().st_size
    db, wal_bytes = src.read_bytes(), wal.read_bytes()  # as the disk holds them (synced)
    j.close()
    assert end - start >= 2 * (24 + 512)  # the block's frames: pages and their headers

    cut = tmp_path / "cut" / "j.db"
    cut.parent.mkdir()
    torn_seen = 0
    for offset in range(start, end + 1):
        for p in cut.parent.iterdir():
            p.unlink()
        cut.write_bytes(db)
        Path(f"{cut}-wal").write_bytes(wal_bytes[:offset])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="clets.switch"):
            j2 = LogJournal(cut, synchronous="OFF")  # the copies need no fsync
        whole = offset == end
        assert _state(j2) == (after if whole else before), offset
        assert audit.verify(j2.conn).ok
        torn = j2.store.torn  # type: ignore[attr-defined]
        assert torn == (0 if whole else offset - start), (offset, start, end)
        if torn:
            torn_seen += 1
            assert "torn write" in caplog.text and f"{torn} bytes" in caplog.text
        if (offset - start) % 67 == 0 or (offset - start) % (24 + 512) in (0, 1, 23, 24, 25):
            # the next block is written over the torn bytes and folds after a reopen
            with j2.tx():
                _accept(j2, 6, 120.0)
            want = _state(j2)
            j2.close()
            j3 = LogJournal(cut, synchronous="OFF")
            assert _state(j3) == want and audit.verify(j3.conn).ok
            assert j3.store.torn == 0  # type: ignore[attr-defined]
            j3.close()
        else:
            j2.close()
    assert torn_seen == end - start - 1  # every offset but the block's start and its end


def test_frames_of_an_older_wal_generation_are_not_a_torn_write(tmp_path: Path) -> None:
    """After a checkpoint the WAL starts again from its beginning with new salts; the older
    frames after the new ones stay in the file and are not reported."""
    path = tmp_path / "j.db"
    j = LogJournal(path)
    for i in range(20):
        with j.tx():
            _accept(j, i, 100.0 + i)
    j.conn.execute("PRAGMA wal_checkpoint(RESTART)")
    with j.tx():
        _accept(j, 99, 200.0)
    size = Path(f"{path}-wal").stat().st_size
    keep = tmp_path / "copy"
    keep.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{path}{suffix}", keep / f"j.db{suffix}")
    j.close()
    j2 = LogJournal(keep / "j.db")
    assert Path(f"{keep / 'j.db'}-wal").stat().st_size == size
    assert j2.store.torn == 0 and torn_tail(keep / "j.db") == 0  # type: ignore[attr-defined]
    assert len(audit.records(j2.conn)) == 21 * 2
    j2.close()

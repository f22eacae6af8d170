"""Switch controls in the journal: computed from the row id, found by primary key, also in
journals made before the control became a computed column."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from clets.switch.journal import CONTROL_WRAP, Journal, control_of


def _message(j: Journal) -> int:
    return j.insert_message(now=1.0, kind="request", link="l", peer="P", origin="CA0194200",
                            control="C1", sequence=None, mke="QW", operator=None,
                            codec="json", sha256="0" * 64, payload=b"x", canonical="{}")


def test_forward_control_is_computed_and_found(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    with j.tx():
        msn = _message(j)
        f1 = j.add_forward(msn, "NCIC", "QW", (), 1.0, 2.0, 3.0)
        d1 = j.add_delivery(msn, "lapd", "LAPD", "QWR", b"answer", 1.0, 3.0)
        f2 = j.add_forward(msn, "WPS", "QW", ("CA",), 1.0, 2.0, 3.0)
    assert j.row(f1).control == control_of(f1) == f"{f1:010d}"
    assert j.row(d1).control is None
    found = j.find_forward(control_of(f2))
    assert found is not None and found.id == f2 and found.address == ("CA",)
    assert j.find_forward(control_of(d1)) is None  # a delivery is not a forward
    for bad in ("", "12", "00000000001", "00000000x1", control_of(f2 + 100),
                "\u0660" * 9 + "\u0661"):  # Arabic-Indic digits: int() reads them, we do not
        assert j.find_forward(bad) is None
    # the computed column is what outside readers (the crash checker, sqlite3) see
    conn = sqlite3.connect(tmp_path / "j.db")
    assert conn.execute("SELECT control FROM outbound WHERE id = ?", (f2,)).fetchone()[0] \
        == control_of(f2)
    conn.close()
    j.close()


def test_past_the_wrap_the_newest_forward_with_the_control_wins(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.db")
    with j.tx():
        msn = _message(j)
        old = j.add_forward(msn, "NCIC", "QW", (), 1.0, 2.0, 3.0)
        j.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbound'",
                       (CONTROL_WRAP + old - 1,))
        new = j.add_forward(msn, "NCIC", "QW", (), 1.0, 2.0, 3.0)
    assert new == CONTROL_WRAP + old and control_of(new) == control_of(old)
    found = j.find_forward(control_of(old))
    assert found is not None and found.id == new
    j.close()
    reopened = Journal(tmp_path / "j.db")  # the highest id is read back on open
    found = reopened.find_forward(control_of(old))
    assert found is not None and found.id == new
    reopened.close()


OLD_OUTBOUND = """
CREATE TABLE outbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    msn INTEGER NOT NULL REFERENCES messages(msn),
    kind TEXT NOT NULL, target TEXT NOT NULL, peer TEXT, control TEXT, mke TEXT, address TEXT,
    state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    deadline_at REAL, expires_at REAL NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, status_sent TEXT NOT NULL DEFAULT '',
    responses INTEGER NOT NULL DEFAULT 0, frame BLOB, last_error TEXT
);
CREATE INDEX outbound_control ON outbound (control);
"""


def test_a_journal_from_before_keeps_its_stored_controls(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_OUTBOUND)
    conn.close()
    j = Journal(path)
    with j.tx():
        msn = _message(j)
        oid = j.add_forward(msn, "NCIC", "QW", (), 1.0, 2.0, 3.0)
    assert j.row(oid).control == control_of(oid)  # stored, as that schema expects
    found = j.find_forward(control_of(oid))
    assert found is not None and found.id == oid
    j.close()


def test_background_checkpointer_copies_the_wal_and_stops_with_the_journal(
        tmp_path: Path) -> None:
    """The switch's journal checkpoints from a thread (not inside its commits): committed
    pages reach the database file while the writer goes on, and close() stops the thread."""
    import time

    j = Journal(tmp_path / "j.db", checkpoint_every=0.02)
    assert j.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10000
    cp = j._checkpointer
    assert cp is not None
    db = tmp_path / "j.db"
    size0 = db.stat().st_size
    for _ in range(50):
        with j.tx():
            msn = _message(j)
            j.add_forward(msn, "NCIC", "QW", (), 1.0, 2.0, 3.0)
    deadline = time.monotonic() + 10
    while (cp.runs < 2 or db.stat().st_size <= size0) and time.monotonic() < deadline:
        time.sleep(0.01)
    # the rows reached the database file itself: only a checkpoint writes there, and the
    # writer's own would start at 10,000 pages
    assert cp.runs >= 2 and db.stat().st_size > size0
    j.close()
    assert not cp._worker.is_alive()
    reopened = Journal(tmp_path / "j.db")  # and nothing was lost on the way
    assert reopened.conn.execute("SELECT COUNT(*) FROM outbound").fetchone()[0] == 50
    reopened.close()


def _forward(j: Journal, now: float) -> int:
    with j.tx():
        msn = j.insert_message(now=now, kind="request", link="l", peer="P", origin="CA0194200",
                               control=None, sequence=None, mke="QW", operator=None,
                               codec="json", sha256="0" * 64, payload=b"x", canonical="{}")
        return j.add_forward(msn, "NCIC", "QW", (), now, now + 30, now + 600)


def test_a_new_or_restored_journal_does_not_reissue_recent_controls(tmp_path: Path) -> None:
    """A destination drops a control it saw within its dedup window: a journal that replaces
    a lost one, or a restored backup, must not hand out the controls just used."""
    import shutil

    old = Journal(tmp_path / "old.db")
    with old.tx():
        old.start_controls_after(1_000.0)
    first = _forward(old, 1_000.0)
    assert first > 100_000
    old.close()
    shutil.copy(tmp_path / "old.db", tmp_path / "backup.db")
    old = Journal(tmp_path / "old.db")
    issued = [_forward(old, 1_000.0 + i) for i in range(50)]  # after the backup
    old.close()
    for name in ("new.db", "backup.db"):  # a fresh journal; the backup restored
        j = Journal(tmp_path / name)
        with j.tx():
            j.start_controls_after(1_060.0)
        again = _forward(j, 1_060.0)
        assert control_of(again) not in {control_of(i) for i in [first, *issued]}
        assert j.find_forward(control_of(again)) is not None  # found past the big ids
        j.close()
    # and ids never go back: a clock behind the journal changes nothing
    j = Journal(tmp_path / "old.db")
    with j.tx():
        j.start_controls_after(10.0)
    assert _forward(j, 10.0) == max(issued) + 1
    j.close()

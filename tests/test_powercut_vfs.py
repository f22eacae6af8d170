"""The power-cut VFS itself (tests/_powercut_vfs.py): the process sees every write, the disk
only what was synced (plus early write-back), a SIGKILL loses the rest, directory entries are
durable only after a directory sync.  The switch-level test is tests/test_powercut.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._powercut_vfs import BLOCK, after_cut, pending_markers, register

ROOT = Path(__file__).resolve().parents[1]
VFS = register()  # one per process (the name is fixed); each example resets its caches

FLAGS = apsw.SQLITE_OPEN_MAIN_DB | apsw.SQLITE_OPEN_CREATE | apsw.SQLITE_OPEN_READWRITE

ops = st.lists(st.one_of(
    st.tuples(st.just("write"), st.integers(0, 5 * BLOCK), st.integers(1, 2 * BLOCK),
              st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 6 * BLOCK)),
    st.tuples(st.just("sync")),
    st.tuples(st.just("read"), st.integers(0, 6 * BLOCK), st.integers(1, 2 * BLOCK)),
), max_size=40)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops, writeback=st.sampled_from([0.0, 0.5]), seed=st.integers(0, 2**16))
def test_process_sees_every_write_disk_only_synced(tmp_path: Path, ops: list[tuple[int, ...]],
                                                   writeback: float, seed: int) -> None:
    path = tmp_path / "f.db"
    path.unlink(missing_ok=True)
    VFS.caches.clear()
    VFS.writeback = writeback
    VFS.rng.seed(seed)
    f = VFS.xOpen(str(path), [FLAGS, 0])
    seen = bytearray()  # what the process must read back
    synced = bytearray()  # what the disk must hold (no write-back)
    history = [b""]  # the process's views since the last sync (write-back writes one of them)
    for op in ops:
        if op[0] == "write":
            _, off, n, byte = op
            if off > len(seen):
                seen += bytes(off - len(seen))
            seen[off:off + n] = bytes([byte]) * n
            f.xWrite(bytes([byte]) * n, off)
        elif op[0] == "truncate":
            size = op[1]
            del seen[size:]
            seen += bytes(max(0, size - len(seen)))
            f.xTruncate(size)
        elif op[0] == "sync":
            f.xSync(apsw.SQLITE_SYNC_NORMAL)
            synced = bytearray(seen)
            history = []
            assert path.read_bytes() == bytes(seen)
        else:
            _, off, n = op
            assert f.xRead(n, off) == bytes(seen[off:off + n])
        history.append(bytes(seen))
        assert f.xFileSize() == len(seen)
        disk = path.read_bytes()
        if writeback == 0.0:
            assert disk == bytes(synced)
            continue
        # each 512-byte sector on disk holds what the process saw at some point since the
        # last sync (or zeros where nothing was ever written back)
        for off in range(0, len(disk), 512):
            got = disk[off:off + 512]
            views = [bytes(synced), *history]
            # (a truncation may reach the disk before the data written after it: the disk
            # may also be shorter than the view it came from)
            assert any(got == v[off:off + len(got)].ljust(len(got), b"\0")
                       for v in views), off
    f.xClose()
    VFS.caches.clear()  # no flush at the end of the example (as a cut)


def _run(tmp: Path, body: str, *, vfs: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        import apsw
        from tests._powercut_vfs import register, NAME
        vfs = register({vfs})
        db = apsw.Connection({str(tmp / "t.db")!r}, vfs=NAME)
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def _rows(path: Path) -> int | None:
    """Rows of table t after the cut, read with the stdlib module (the ordinary VFS)."""
    import sqlite3

    if not path.exists():
        return None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        try:
            return int(db.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:  # no table: its creation was not synced
            return None


LOOP = """
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous={sync}")
    db.execute("CREATE TABLE IF NOT EXISTS t (x BLOB)")
    for i in range(100000):
        db.execute("INSERT INTO t VALUES (randomblob(300))")
        print(i + 1, flush=True)  # committed: the ACK
    """


@pytest.mark.parametrize("kill_at", [5, 37, 150, 601, 1700, 4000])
def test_full_keeps_every_acknowledged_commit(tmp_path: Path, kill_at: int) -> None:
    out = _run(tmp_path, LOOP.format(sync="FULL"),
               vfs=f"kill_at={kill_at}, writeback=0.2, seed={kill_at}")
    assert out.returncode == -9, out.stderr
    acked = int(out.stdout.split()[-1]) if out.stdout.split() else 0
    after_cut(tmp_path)
    assert pending_markers(tmp_path) == []
    rows = _rows(tmp_path / "t.db")
    assert (rows or 0) >= acked, (rows, acked)
    assert rows is None or rows <= acked + 1  # at most the commit the cut interrupted


@pytest.mark.parametrize("kill_at_sync", [3, 9, 20])
def test_cut_in_an_fsync_keeps_every_acknowledged_commit(tmp_path: Path,
                                                         kill_at_sync: int) -> None:
    out = _run(tmp_path, LOOP.format(sync="FULL"),
               vfs=f"kill_at_sync={kill_at_sync}, writeback=0.2, seed={kill_at_sync}")
    assert out.returncode == -9, out.stderr
    acked = int(out.stdout.split()[-1]) if out.stdout.split() else 0
    after_cut(tmp_path)
    assert (_rows(tmp_path / "t.db") or 0) >= acked


def test_unsynced_commits_and_new_files_are_lost(tmp_path: Path) -> None:
    """synchronous=OFF: commits are visible to the process (a second connection reads them
    from the cache) and lost at the cut, with the files whose directory was never synced."""
    body = LOOP.format(sync="OFF").replace("range(100000)", "range(200)") + """
    other = apsw.Connection(db.filename, vfs=NAME)
    print("seen", other.execute("SELECT count(*) FROM t").fetchone()[0], flush=True)
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
    """
    out = _run(tmp_path, body, vfs="")
    assert out.returncode == -9, out.stderr
    assert "seen 200" in out.stdout
    assert pending_markers(tmp_path)  # the database and its WAL: created, not durable
    undone = after_cut(tmp_path)
    assert undone["created"] >= 1
    assert _rows(tmp_path / "t.db") is None  # nothing of it was ever synced


def test_clean_exit_keeps_unsynced_data(tmp_path: Path) -> None:
    """No cut: at a clean exit the page cache reaches the disk (the kernel writes it back)."""
    out = _run(tmp_path, LOOP.format(sync="OFF").replace("range(100000)", "range(50)"),
               vfs="")
    assert out.returncode == 0, out.stderr
    assert pending_markers(tmp_path) == []
    assert _rows(tmp_path / "t.db") == 50


def test_deleted_file_comes_back_until_the_directory_is_synced(tmp_path: Path) -> None:
    """xDelete without syncdir is not durable: the file returns after a cut, whole."""
    target = tmp_path / "old.bin"
    target.write_bytes(b"durable")
    os.sync()
    out = _run(tmp_path, f"""
    vfs.xDelete({str(target)!r}, False)
    import os, signal
    print(os.path.exists({str(target)!r}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """, vfs="")
    assert out.stdout.split() == ["False"], out.stderr
    after_cut(tmp_path)
    assert target.read_bytes() == b"durable"

"""A SQLite VFS that models a power cut: what was not synced is lost (APSW, Python VFS).

The model is the OS page cache of SQLite's testing VFS (``src/test6.c``) and of LazyFS
(reliability.md §1.2, §2.1), kept in THIS process's memory:

* **Data.**  ``xWrite`` and ``xTruncate`` change only an in-memory cache of the file (4 KiB
  blocks, one cache per path, shared by every handle of the process as the kernel's page cache
  is); reads see the cache over the disk.  ``xSync`` writes the file's cached blocks to the
  real file and fsyncs it: only then is the data on disk.  A SIGKILL of the process therefore
  IS the power cut: the cache dies with it, the disk holds what was synced, and a restart
  through any VFS (the stdlib ``sqlite3`` module's included) sees exactly that.
* **Early write-back** (``writeback`` > 0): like the kernel's flusher, the cache writes a random
  dirty block (or a random run of 512-byte sectors of it: a torn block) to the disk, unsynced,
  now and then.  At a cut the disk then holds the synced data plus ANY subset of later writes,
  in any order -- what a real disk may hold after a power cut.  SQLite's WAL must cope with it
  (its frames carry checksums chained from the WAL header's salt; a torn or out-of-order frame
  ends the valid log).  Write-back never breaks SQLite's *powersafe overwrite* assumption:
  the bytes of a block around a write are written back with the values they already had.
* **Directory entries.**  A file SQLite creates (the WAL, a rollback journal, the database
  itself) exists after a power cut only once its directory was synced, and a deleted file comes
  back until then.  SQLite's unix VFS syncs the directory at the first ``xSync`` of a WAL or
  journal it opened with ``SQLITE_OPEN_CREATE`` (``UNIXFILE_DIRSYNC``) and in ``xDelete`` when
  asked (``syncdir``); the model treats those two calls as the directory syncs, which make
  every earlier creation and deletion in that directory durable.  Because the process is gone
  after the cut, the pending directory changes are kept as marker files beside the file
  (``NAME.pc-new``: created, not durable; ``NAME.pc-old``: deleted, its durable content kept),
  and :func:`after_cut` -- the "reboot", run by the harness after the SIGKILL -- undoes them.
* **Ordering SQLite relies on** (all modelled, so a journal that depends on anything else is
  caught): a sync is a barrier for the file it syncs (everything written before it is durable
  after it, nothing written after it is until the next one); writes to two files are ordered
  only by syncs; the WAL-index (``-shm``) is not durable at all -- SQLite rebuilds it from the
  WAL when the first connection after a crash opens the database (it truncates the ``-shm``),
  so it passes through untouched.

A cut can also be placed at an exact I/O call: ``kill_at`` (counted over ``xWrite``,
``xTruncate`` and ``xSync`` of every file of the process) or ``kill_at_sync`` (counted over
``xSync`` alone) SIGKILLs the process just before that call; when the call is an ``xSync`` it
first writes a random subset of the dirty blocks, in random order (a cut in the middle of the
fsync: any of them, or none, may have reached the disk).

Nothing here knows the journal's schema or even that it is a journal: any SQLite database
opened through the VFS named :data:`NAME` gets the model.
"""

from __future__ import annotations

import atexit
import os
import random
import signal
import threading
from pathlib import Path

import apsw

__all__ = ["NAME", "PowerCutVFS", "after_cut", "pending_markers", "register"]

#: the VFS name to open a database with (``apsw.Connection(path, vfs=NAME)``)
NAME = "powercut"
BLOCK = 4096
SECTOR = 512
NEW = ".pc-new"
OLD = ".pc-old"
#: files whose first sync also syncs their directory in SQLite's unix VFS (UNIXFILE_DIRSYNC)
_DIRSYNC_TYPES = (apsw.SQLITE_OPEN_WAL | apsw.SQLITE_OPEN_MAIN_JOURNAL
                  | apsw.SQLITE_OPEN_SUPER_JOURNAL)
#: files the model covers; temporary files pass through (nothing reads them after a crash)
_MODELLED = apsw.SQLITE_OPEN_MAIN_DB | _DIRSYNC_TYPES


class _Cache:
    """The page cache of one path: dirty blocks and the file's size as the process sees it."""

    def __init__(self, disk_size: int) -> None:
        self.lock = threading.RLock()
        self.blocks: dict[int, bytearray] = {}
        self.size = disk_size
        #: a truncation not yet on disk (the smallest size cut to since the last sync)
        self.cut_to: int | None = None


class PowerCutVFS(apsw.VFS):
    """Inherits the default (unix) VFS; data and directory changes are cached until synced."""

    def __init__(self, *, writeback: float = 0.0, kill_at: int = 0, kill_at_sync: int = 0,
                 seed: int = 0) -> None:
        self.writeback = writeback
        self.kill_at = kill_at
        self.kill_at_sync = kill_at_sync
        self.ops = 0
        self.rng = random.Random(seed)
        self.caches: dict[str, _Cache] = {}
        #: directories holding modelled files (a clean exit makes their changes durable)
        self.dirs: set[str] = set()
        self.lock = threading.RLock()
        #: after a clean exit's flush: no more caching (connections closed at interpreter
        #: shutdown still write and delete)
        self.passthrough = False
        #: figures for tests: syncs seen, blocks written back early, directory syncs
        self.stats = {"writes": 0, "syncs": 0, "writebacks": 0, "dirsyncs": 0}
        super().__init__(NAME, "")
        atexit.register(self.flush_all)

    # ------------------------------------------------------------------ the VFS

    def xOpen(self, name: str | apsw.URIFilename | None, flags: list[int]) -> apsw.VFSFile:
        path = name.filename() if isinstance(name, apsw.URIFilename) else name
        if path is None or not flags[0] & _MODELLED:
            return apsw.VFSFile("", name, flags)  # type: ignore[arg-type]
        created = bool(flags[0] & apsw.SQLITE_OPEN_CREATE) and not os.path.exists(path)
        self.dirs.add(os.path.dirname(path))
        if created and not self.passthrough:
            # the marker first: a cut between the two leaves a marker, never a lone file
            Path(path + NEW).touch()
        return PowerCutFile(self, path, name, flags)

    def xDelete(self, filename: str, syncdir: bool) -> None:
        with self.lock:
            self.caches.pop(filename, None)
            if self.passthrough:
                super().xDelete(filename, syncdir)
            elif os.path.exists(filename + NEW):  # never durable: gone for good
                super().xDelete(filename, False)
                os.unlink(filename + NEW)
            elif os.path.exists(filename) and not os.path.exists(filename + OLD):
                os.rename(filename, filename + OLD)  # durable content kept until a dir sync
            else:
                super().xDelete(filename, False)
            if syncdir:
                self.dir_synced(os.path.dirname(filename))

    # ------------------------------------------------------------------ the model

    def cache(self, path: str, disk_size: int) -> _Cache:
        with self.lock:
            c = self.caches.get(path)
            if c is None:
                c = self.caches[path] = _Cache(disk_size)
            return c

    def tick(self, sync: bool = False) -> bool:
        """Count one I/O call; True when this one is the cut."""
        self.ops += 1
        if sync and self.kill_at_sync and self.stats["syncs"] + 1 >= self.kill_at_sync:
            return True
        return bool(self.kill_at) and self.ops >= self.kill_at

    def dir_synced(self, directory: str) -> None:
        """Every creation and deletion in ``directory`` is durable now."""
        self.stats["dirsyncs"] += 1
        if not os.path.isdir(directory or "."):
            return  # removed meanwhile (a clean exit after the directory went)
        for marker in list(Path(directory or ".").iterdir()):
            if marker.name.endswith((NEW, OLD)):
                marker.unlink(missing_ok=True)

    def flush_all(self) -> None:
        """A clean exit: the kernel writes the page cache back later (no power cut)."""
        if os.environ.get("CLETS_POWERCUT_STATS"):  # figures of a clean run, for calibration
            with open(os.environ["CLETS_POWERCUT_STATS"], "a") as f:
                f.write(f"{self.ops} {self.stats}\n")
        with self.lock:
            self.passthrough = True
            for path, c in self.caches.items():
                if not os.path.exists(path):
                    continue
                with c.lock, open(path, "r+b") as f:
                    if c.cut_to is not None:
                        f.truncate(c.cut_to)
                    for b, data in sorted(c.blocks.items()):
                        f.seek(b * BLOCK)
                        f.write(data[:max(0, min(BLOCK, c.size - b * BLOCK))])
                    f.truncate(c.size)
                    c.blocks.clear()
                    c.cut_to = None
            for d in self.dirs:
                self.dir_synced(d)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class PowerCutFile(apsw.VFSFile):
    def __init__(self, vfs: PowerCutVFS, path: str, name: str | apsw.URIFilename,
                 flags: list[int]) -> None:
        super().__init__("", name, flags)
        self.vfs = vfs
        self.path = path
        self.dirsync = bool(flags[0] & apsw.SQLITE_OPEN_CREATE and flags[0] & _DIRSYNC_TYPES)
        self.c = vfs.cache(path, super().xFileSize())

    # -- reads see the cache over the disk
    def _disk_block(self, b: int) -> bytearray:
        start = b * BLOCK
        limit = self.c.cut_to if self.c.cut_to is not None else None
        n = BLOCK if limit is None else max(0, min(BLOCK, limit - start))
        data = super().xRead(n, start) if n else b""
        return bytearray(data) + bytes(BLOCK - len(data))

    def xRead(self, amount: int, offset: int) -> bytes:
        c = self.c
        with c.lock:
            end = min(offset + amount, c.size)
            if end <= offset:
                return b""
            if not c.blocks and c.cut_to is None:
                return bytes(super().xRead(end - offset, offset))
            out = bytearray()
            pos = offset
            while pos < end:
                b, off = divmod(pos, BLOCK)
                n = min(BLOCK - off, end - pos)
                blk = c.blocks.get(b)
                if blk is None:
                    if c.cut_to is None or (b + 1) * BLOCK <= c.cut_to:
                        d = super().xRead(n, pos)
                        out += d + bytes(n - len(d))  # a hole past the disk's end
                    else:
                        out += self._disk_block(b)[off:off + n]
                else:
                    out += blk[off:off + n]
                pos += n
            return bytes(out)

    def xFileSize(self) -> int:
        return self.c.size

    # -- writes go to the cache
    def xWrite(self, data: bytes, offset: int) -> None:  # type: ignore[override]
        vfs, c = self.vfs, self.c
        if vfs.tick():
            _die()
        if vfs.passthrough:
            with c.lock:
                super().xWrite(data, offset)
                c.size = max(c.size, offset + len(data))
            return
        mv = memoryview(bytes(data))
        with c.lock:
            vfs.stats["writes"] += 1
            pos, end = offset, offset + len(mv)
            while pos < end:
                b, off = divmod(pos, BLOCK)
                n = min(BLOCK - off, end - pos)
                blk = c.blocks.get(b)
                if blk is None:
                    blk = c.blocks[b] = self._disk_block(b) if b * BLOCK < c.size \
                        else bytearray(BLOCK)
                blk[off:off + n] = mv[pos - offset:pos - offset + n]
                pos += n
            c.size = max(c.size, end)
            if vfs.writeback and vfs.rng.random() < vfs.writeback:
                self._write_back_one()

    def xTruncate(self, newsize: int) -> None:
        vfs, c = self.vfs, self.c
        if vfs.tick():
            _die()
        if vfs.passthrough:
            with c.lock:
                super().xTruncate(newsize)
                c.size = newsize
            return
        with c.lock:
            for b in [b for b in c.blocks if b * BLOCK >= newsize]:
                del c.blocks[b]
            tail = c.blocks.get(newsize // BLOCK)
            if tail is not None:
                tail[newsize % BLOCK:] = bytes(BLOCK - newsize % BLOCK)
            c.size = newsize
            c.cut_to = newsize if c.cut_to is None else min(c.cut_to, newsize)

    def _put(self, b: int, lo: int = 0, hi: int = BLOCK) -> None:
        """Write bytes ``lo:hi`` of cached block ``b`` to the disk (no sync)."""
        c = self.c
        if c.cut_to is not None:
            super().xTruncate(c.cut_to)
            c.cut_to = None
        hi = max(lo, min(hi, c.size - b * BLOCK))
        if hi > lo:
            super().xWrite(bytes(c.blocks[b][lo:hi]), b * BLOCK + lo)

    def _write_back_one(self) -> None:
        c, rng = self.c, self.vfs.rng
        if not c.blocks:
            return
        b = rng.choice(list(c.blocks))
        self.vfs.stats["writebacks"] += 1
        if rng.random() < 0.5:  # the whole block: clean again
            self._put(b)
            del c.blocks[b]
        else:  # a torn block: a run of its sectors, the block stays dirty
            lo = rng.randrange(0, BLOCK // SECTOR) * SECTOR
            hi = rng.randrange(lo // SECTOR + 1, BLOCK // SECTOR + 1) * SECTOR
            self._put(b, lo, hi)

    def xSync(self, flags: int) -> None:
        vfs, c = self.vfs, self.c
        with c.lock:
            if vfs.tick(sync=True):
                # the cut falls in this fsync: any subset of the dirty blocks, in any order,
                # reached the disk (or none)
                dirty = list(c.blocks)
                vfs.rng.shuffle(dirty)
                for b in dirty[:vfs.rng.randrange(len(dirty) + 1)]:
                    self._put(b)
                _die()
            vfs.stats["syncs"] += 1
            if c.cut_to is not None:
                super().xTruncate(c.cut_to)
                c.cut_to = None
            for b in sorted(c.blocks):
                self._put(b)
            c.blocks.clear()
            # the real file's length follows the cache's (a write past a truncation)
            if super().xFileSize() != c.size:
                super().xTruncate(c.size)
            super().xSync(flags)
        if self.dirsync:
            self.dirsync = False
            vfs.dir_synced(os.path.dirname(self.path))


def register(*, writeback: float = 0.0, kill_at: int = 0, kill_at_sync: int = 0,
             seed: int = 0) -> PowerCutVFS:
    """Register the VFS (once per process) under :data:`NAME`."""
    return PowerCutVFS(writeback=writeback, kill_at=kill_at, kill_at_sync=kill_at_sync,
                       seed=seed)


def pending_markers(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith((NEW, OLD)))


def after_cut(directory: Path) -> dict[str, int]:
    """The reboot after a cut: undo the directory changes that were not durable.

    Files created since the last directory sync vanish; files deleted since then come back
    with their durable content.  (Their data was never in the cache: the process is gone.)"""
    undone = {"created": 0, "deleted": 0}
    for marker in sorted(directory.iterdir()):
        if marker.name.endswith(NEW):
            Path(str(marker)[:-len(NEW)]).unlink(missing_ok=True)
            marker.unlink()
            undone["created"] += 1
    for marker in sorted(directory.iterdir()):
        if marker.name.endswith(OLD):
            os.replace(marker, str(marker)[:-len(OLD)])
            undone["deleted"] += 1
    return undone

"""A real small file system for full-disk tests: a tmpfs mounted in a temp directory.

Needs root (CI runs as root with CLETS_REQUIRE_PEERS=1, where a missing mount is a failure,
not a skip).  ``fill()`` takes every free byte with one file, ``free()`` gives it back;
``readonly()`` / ``writable()`` remount the file system, the cheap way to make writes fail with
an I/O-class error (EROFS) -- it works only while no file on it is open for writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["LoopExt4", "SmallFS", "loop_ext4", "small_fs"]


def _unavailable(reason: str) -> None:
    if os.environ.get("CLETS_REQUIRE_PEERS") == "1":
        pytest.fail(f"CLETS_REQUIRE_PEERS=1 but {reason}")
    pytest.skip(reason)


class SmallFS:
    """A mounted tmpfs of ``size`` bytes at ``root`` (unmounted by ``close``)."""

    def __init__(self, size: int) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="clets-smallfs-"))
        self.size = size
        self.filler = self.root / "zz-filler"
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755",
                                 "tmpfs", str(self.root)], capture_output=True, text=True)
        if result.returncode != 0:
            self.root.rmdir()
            _unavailable(f"cannot mount a tmpfs: {result.stderr.strip()}")

    def free_bytes(self) -> int:
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def fill(self) -> int:
        """Write the filler until the file system refuses (ENOSPC); the bytes written."""
        written = 0
        with open(self.filler, "ab", buffering=0) as f:
            for chunk in (1 << 20, 1 << 16, 1 << 12, 1 << 9, 1):
                try:
                    while True:
                        written += f.write(b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
        assert self.free_bytes() == 0
        return written

    def leave(self, nbytes: int) -> None:
        """Free about ``nbytes`` of the filler (whole pages): room for part of a write."""
        size = self.filler.stat().st_size
        os.truncate(self.filler, max(0, size - nbytes))

    def free(self) -> None:
        """Give the filler's space back."""
        with contextlib.suppress(FileNotFoundError):
            self.filler.unlink()

    def readonly(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.root)], check=True)

    def writable(self) -> None:
        subprocess.run(["mount", "-o", "remount,rw", str(self.root)], check=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], check=False)
        with contextlib.suppress(OSError):
            self.root.rmdir()


@contextlib.contextmanager
def small_fs(size: int = 1 << 20) -> Iterator[SmallFS]:
    """A mounted small tmpfs for the length of a ``with`` block."""
    if os.geteuid() != 0:
        _unavailable("mounting a small file system needs root (make test runs as root in CI)")
    fs = SmallFS(size)
    try:
        yield fs
    finally:
        fs.close()


class LoopExt4:
    """An ext4 file system on a loop device, mounted ``errors=remount-ro``.

    ``fail()`` makes the kernel record a file-system error (``trigger_fs_error``): ext4 then
    turns read-only at once, and every write fails as on a disk that returned EIO (SQLite
    reports SQLITE_IOERR_WRITE).  Unlike a full disk this needs an operator: ``repair()``
    unmounts, runs ``fsck`` and mounts again (the files must be closed first)."""

    def __init__(self, size: int) -> None:
        for tool in ("mkfs.ext4", "losetup", "e2fsck"):
            if not shutil.which(tool):
                _unavailable(f"{tool} not installed")
        self.dir = Path(tempfile.mkdtemp(prefix="clets-ext4-"))
        self.image = self.dir / "fs.img"
        self.root = self.dir / "mnt"
        self.root.mkdir()
        with open(self.image, "wb") as f:
            f.truncate(size)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(self.image)], check=True,
                       capture_output=True)
        self._mount()

    def _mount(self) -> None:
        result = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(self.image),
                                 str(self.root)], capture_output=True, text=True)
        if result.returncode != 0:
            _unavailable(f"cannot mount a loop device: {result.stderr.strip()}")

    def fail(self) -> None:
        source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(self.root)],
                                capture_output=True, text=True, check=True).stdout.strip()
        Path(f"/sys/fs/ext4/{Path(source).name}/trigger_fs_error").write_text("1")

    def repair(self) -> None:
        subprocess.run(["umount", str(self.root)], check=True)
        subprocess.run(["e2fsck", "-f", "-y", str(self.image)], capture_output=True)
        self._mount()

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.root)], check=False, capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def loop_ext4(size: int = 8 << 20) -> Iterator[LoopExt4]:
    """A mounted ext4 loop file system for the length of a ``with`` block."""
    if os.geteuid() != 0:
        _unavailable("mounting a loop device needs root (make test runs as root in CI)")
    fs = LoopExt4(size)
    try:
        yield fs
    finally:
        fs.close()

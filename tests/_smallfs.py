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
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["SmallFS", "small_fs"]


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

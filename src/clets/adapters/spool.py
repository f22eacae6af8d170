"""A local directory drop (``spool:///var/spool/clets/dmv``): the drop logic over the local disk.

Same claim/process/archive code path and ledger as SFTP (:mod:`clets.adapters.drop`); only the
filesystem differs.  Local renames are followed by an fsync of the directory, and written files
are fsynced before the rename, because ``rename`` is atomic but not durable on its own.
"""

from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Mapping
from pathlib import Path

from clets.adapters.base import PeerIdentity
from clets.adapters.drop import (
    DropConfig,
    DropLink,
    Entry,
    EventHook,
    FileDrop,
    LinkURLLike,
    named_events,
)
from clets.adapters.ledger import Ledger
from clets.errors import ConfigError, LinkError, SecurityError, StorageError, storage_error

__all__ = ["LocalFS", "from_url", "open_spool", "probe"]

#: URL parameters of spool:// beyond the shared drop options.
SPOOL_PARAMS = frozenset({"ledger", "peer", "oris"})


def _kind(mode: int) -> str:
    if stat_mod.S_ISREG(mode):
        return "file"
    if stat_mod.S_ISDIR(mode):
        return "dir"
    if stat_mod.S_ISLNK(mode):
        return "link"
    return "other"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalFS:
    """:class:`~clets.adapters.drop.DropFS` over a local directory tree."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.path.realpath(root)
        self.description = f"spool://{self.root}"

    def _path(self, rel: str) -> str:
        full = os.path.normpath(os.path.join(self.root, rel))
        if full == self.root:
            return full
        # Containment is checked on the parent's real path: the last component may not exist
        # yet (rename target) and is itself never followed (O_NOFOLLOW, lstat).
        parent = os.path.realpath(os.path.dirname(full))
        if parent != self.root and not parent.startswith(self.root + os.sep):
            raise SecurityError(f"path {rel!r} resolves outside the drop root {self.root}")
        return os.path.join(parent, os.path.basename(full))

    def _wrap(self, exc: OSError, what: str) -> Exception:
        """A failed operation as the drop expects it: a full or failing disk is a
        StorageError (the drop reports it and retries), anything else a LinkError."""
        if isinstance(exc, FileNotFoundError):
            return exc
        err = storage_error(exc, store="spool", path=self.root)
        if err is not None:
            return StorageError(f"{what}: {exc.strerror or exc}", store="spool",
                                path=self.root, kind=err.kind)
        return LinkError(f"{what}: {exc.strerror or exc}", link="spool")

    def listdir(self, rel: str) -> list[Entry]:
        try:
            out = []
            with os.scandir(self._path(rel)) as it:
                for d in it:
                    try:
                        st = d.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    out.append(Entry(d.name, st.st_size, st.st_mtime_ns / 1e9, _kind(st.st_mode)))
            return out
        except OSError as exc:
            raise self._wrap(exc, f"list {rel}") from exc

    def stat(self, rel: str) -> Entry | None:
        try:
            st = os.lstat(self._path(rel))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._wrap(exc, f"stat {rel}") from exc
        return Entry(os.path.basename(rel), st.st_size, st.st_mtime_ns / 1e9, _kind(st.st_mode))

    def rename(self, src: str, dst: str) -> None:
        s, d = self._path(src), self._path(dst)
        try:
            os.rename(s, d)
            _fsync_dir(os.path.dirname(d))
            if os.path.dirname(s) != os.path.dirname(d):
                _fsync_dir(os.path.dirname(s))
        except OSError as exc:
            raise self._wrap(exc, f"rename {src} -> {dst}") from exc

    def read(self, rel: str, limit: int) -> bytes:
        try:
            fd = os.open(self._path(rel), os.O_RDONLY | os.O_NOFOLLOW)
            with os.fdopen(fd, "rb") as f:
                return f.read(limit)
        except OSError as exc:
            raise self._wrap(exc, f"read {rel}") from exc

    def write(self, rel: str, data: bytes) -> None:
        try:
            fd = os.open(
                self._path(rel), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640
            )
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise self._wrap(exc, f"write {rel}") from exc

    def remove(self, rel: str) -> None:
        path = self._path(rel)
        try:
            os.unlink(path)
            _fsync_dir(os.path.dirname(path))
        except OSError as exc:
            raise self._wrap(exc, f"remove {rel}") from exc

    def makedirs(self, rel: str) -> None:
        try:
            os.makedirs(self._path(rel), mode=0o750, exist_ok=True)
        except OSError as exc:
            raise self._wrap(exc, f"mkdir {rel}") from exc

    def close(self) -> None:
        return None


def peer_from_params(params: Mapping[str, str], method: str, detail: str) -> PeerIdentity:
    oris = frozenset(o.strip() for o in params.get("oris", "").split(",") if o.strip())
    return PeerIdentity(mnemonic=params.get("peer"), allowed_oris=oris, method=method,
                        detail=detail)


def _root(url: LinkURLLike) -> str:
    if url.scheme != "spool":
        raise ConfigError(f"not a spool:// URL: {url.scheme}://")
    if url.host not in (None, "", "localhost"):
        raise ConfigError(f"spool:// takes a local path, not host {url.host!r} (spool:///dir)")
    if not url.path or not url.path.startswith("/"):
        raise ConfigError("spool:// needs an absolute directory: spool:///var/spool/clets/x")
    return os.path.realpath(url.path)


def open_spool(
    url: LinkURLLike, on_event: EventHook | None = None
) -> FileDrop:
    """A :class:`FileDrop` for a spool URL (ledger defaults to ``<root>/.clets-ledger.sqlite3``)."""
    root = _root(url)
    config = DropConfig.from_params(url.params, extra=SPOOL_PARAMS)
    Path(root).mkdir(parents=True, exist_ok=True)
    ledger = Ledger(url.params.get("ledger") or os.path.join(root, ".clets-ledger.sqlite3"))
    return FileDrop(LocalFS(root), ledger, f"spool://{root}", config, on_event)


def from_url(url: LinkURLLike, name: str = "spool", on_event: EventHook | None = None) -> DropLink:
    """The spool drop as a Link (``receive()`` yields messages, ``send()`` writes a file)."""
    drop = open_spool(url, named_events(on_event, name))
    return DropLink(name, drop, peer_from_params(url.params, "spool-dir", drop.fs.description))


async def probe(url: LinkURLLike) -> str:
    """One line for ``clets link test``: directories present and writable, files waiting."""
    import asyncio

    root = _root(url)
    config = DropConfig.from_params(url.params, extra=SPOOL_PARAMS)

    def check() -> str:
        if not os.path.isdir(root):
            raise LinkError(f"{root} is not a directory", link="spool")
        parts = []
        for label in ("inbox", "processing", "error", "outbox"):
            d = os.path.join(root, getattr(config, label))
            if not os.path.isdir(d):
                parts.append(f"{label} missing (created on first use)")
                continue
            if not os.access(d, os.W_OK | os.X_OK):
                raise LinkError(f"{label} directory {d} is not writable", link="spool")
            names = os.listdir(d)
            parts.append(f"{label} {len(names)} entries")
        return f"spool://{root}: ok; " + ", ".join(parts)

    return await asyncio.to_thread(check)

"""The file-drop logic, written once for SFTP and for a local spool directory.

A drop is a directory tree that a peer writes files into (``inbox``) and reads files from
(``outbox``).  Inbound, clets takes only *complete* files, claims each by an atomic rename into
``processing``, reads and hashes it, splits it into messages, hands them to a consumer one by one,
then moves it to ``archive`` (or to ``error`` with a ``.reason`` file).  Every step is written to
the :class:`~clets.adapters.ledger.Ledger` before its effect is relied on, so a crash between
any two steps is finished or undone by :meth:`FileDrop.reconcile` on restart.  Outbound, a frame
is written under a temporary name and renamed to its final name.

The filesystem is behind the small :class:`DropFS` interface (list, stat, rename, read, write,
remove), implemented over paramiko in :mod:`clets.adapters.sftp` and over the local filesystem
in :mod:`clets.adapters.spool`.  Its methods block; this module calls them in a worker thread.

Names from listings are untrusted (a hostile or broken server can list anything): see
:func:`name_problem`.  Refused names are reported once through the event hook and left where
they are -- moving them would mean passing the hostile name back to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from clets.adapters.base import LinkState, PeerIdentity
from clets.adapters.ledger import (
    ARCHIVED,
    ARCHIVING,
    CLAIMED,
    CLAIMING,
    DOWNLOADED,
    ERRORED,
    ERRORING,
    RELEASED,
    SPLIT,
    VANISHED,
    FileRow,
    Ledger,
)
from clets.adapters.splitter import Splitter, parse_split
from clets.errors import ConfigError, DecodeError, LinkError, SecurityError, StorageError

__all__ = [
    "Consumer",
    "DropConfig",
    "DropFS",
    "DropLink",
    "Entry",
    "EventHook",
    "FileDrop",
    "Finding",
    "LinkURLLike",
    "message_id",
    "name_problem",
    "named_events",
]

log = logging.getLogger("clets.drop")

T = TypeVar("T")

#: ``await consumer(file_id, index, payload)``: returns once the message is durably accepted.
Consumer = Callable[[str, int, bytes], Awaitable[None]]
#: ``on_event(event, details)``: audit/observability hook; must not raise.
EventHook = Callable[[str, dict[str, Any]], None]

MAX_NAME_BYTES = 200
_SAFE_NAME = re.compile(r"[A-Za-z0-9._+=@,~#%-]+(?: [A-Za-z0-9._+=@,~#%-]+)*")
_CLAIMED = re.compile(r"(\d{8})\.(.+)")


class LinkURLLike(Protocol):
    """What the drops need from :class:`clets.adapters.url.LinkURL`."""

    scheme: str
    host: str | None
    port: int | None
    path: str
    user: str | None
    params: dict[str, str]


def named_events(hook: EventHook | None, name: str) -> EventHook | None:
    """``hook`` with the link's name in every event (``link``): the switch reports a drop's
    storage state per link."""
    if hook is None:
        return None

    def named(event: str, details: dict[str, Any]) -> None:
        hook(event, {**details, "link": name})

    return named


def message_id(file_id: str, index: int) -> str:
    """Stable id of message ``index`` of the file whose sha256 is ``file_id``."""
    return f"{file_id}/{index}"


def name_problem(name: str) -> str | None:
    """Why a listed file name is refused, or None when it is safe to use as one path component.

    An allow-list, not a deny-list: path separators, ``..``, NUL, control characters, non-ASCII
    look-alikes and over-long names are all outside it.  ``..`` is refused anywhere in the name
    (``..foo``, ``a..b``) because no legitimate drop needs it and unanchored checks for it are
    how traversal bugs are born.
    """
    if not name:
        return "empty name"
    if name in (".", ".."):
        return "is a directory reference"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if "\x00" in name:
        return "contains NUL"
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):
        return "contains a control character"
    if ".." in name:
        return "contains '..'"
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    if not _SAFE_NAME.fullmatch(name):
        return "has characters outside [A-Za-z0-9._+=@,~#%-] (single inner spaces allowed)"
    return None


def check_rel_dir(path: str, what: str) -> str:
    """A configured sub-directory: relative, each component a safe name."""
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or path.startswith("/"):
        raise ConfigError(f"{what} directory {path!r} must be a relative path inside the drop")
    for part in parts:
        problem = name_problem(part)
        if problem:
            raise ConfigError(f"{what} directory {path!r}: component {part!r} {problem}")
    return "/".join(parts)


@dataclass(frozen=True, slots=True)
class Entry:
    """One directory entry (lstat semantics: a symlink is reported as ``link``)."""

    name: str
    size: int
    mtime: float
    kind: str  # "file" | "dir" | "link" | "other"


class DropFS(Protocol):
    """Blocking filesystem operations on paths relative to the drop root ("inbox/X")."""

    description: str

    def listdir(self, rel: str) -> list[Entry]: ...

    def stat(self, rel: str) -> Entry | None:
        """lstat, or None when missing."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomic rename; raises FileNotFoundError when ``src`` is missing."""
        ...

    def read(self, rel: str, limit: int) -> bytes:
        """Up to ``limit`` bytes (read ``limit + 1`` to detect an over-long file)."""
        ...

    def write(self, rel: str, data: bytes) -> None:
        """Create or truncate, write, flush to stable storage where the transport allows."""
        ...

    def remove(self, rel: str) -> None: ...

    def makedirs(self, rel: str) -> None: ...

    def close(self) -> None: ...


def _as_int(params: Mapping[str, str], key: str, default: int, low: int) -> int:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not an integer") from None
    if value < low:
        raise ConfigError(f"{key}={value} must be >= {low}")
    return value


def _as_float(params: Mapping[str, str], key: str, default: float, low: float) -> float:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a number") from None
    if not value >= low:
        raise ConfigError(f"{key}={value} must be >= {low}")
    return value


DEFAULT_TEMP = (".*", "*.tmp", "*.part", "*.partial", "*.filepart")


@dataclass(frozen=True)
class DropConfig:
    """Options shared by ``sftp://`` and ``spool://`` links (URL query parameters)."""

    inbox: str = "inbox"
    processing: str = "processing"
    archive: str = "archive"
    error: str = "error"
    outbox: str = "outbox"
    poll_interval: float = 2.0
    stable_polls: int = 2
    temp_patterns: tuple[str, ...] = DEFAULT_TEMP
    done_mode: str = "off"  # off | append (X.dat.done) | replace (X.done)
    done_suffix: str = ".done"
    splitter: Splitter = field(default_factory=lambda: Splitter("line"))
    max_file_size: int = 64 << 20
    out_prefix: str = "clets-"
    out_suffix: str = ".dat"
    ack_every: int = 1

    @classmethod
    def from_params(
        cls, params: Mapping[str, str], extra: frozenset[str] = frozenset()
    ) -> DropConfig:
        """Options from URL parameters; an unknown parameter (a typo) is a ConfigError."""
        known = {
            "inbox", "processing", "archive", "error", "outbox", "poll", "stable_polls", "temp",
            "done", "done_suffix", "split", "max_size", "out_prefix", "out_suffix", "ack_every",
        }
        unknown = sorted(set(params) - known - extra)
        if unknown:
            raise ConfigError(f"unknown drop parameter(s): {', '.join(unknown)}")
        dirs = {
            key: check_rel_dir(params.get(key, getattr(cls, key)), key)
            for key in ("inbox", "processing", "archive", "error", "outbox")
        }
        if len(set(dirs.values())) != len(dirs):
            raise ConfigError(f"drop directories must differ: {dirs}")
        done = params.get("done", "off")
        if done not in ("off", "append", "replace"):
            raise ConfigError(f"done={done!r}: use off, append (X.dat.done) or replace (X.done)")
        suffix = params.get("done_suffix", ".done")
        if name_problem("x" + suffix) or not suffix:
            raise ConfigError(f"done_suffix={suffix!r} is not a safe file name suffix")
        temp = params.get("temp")
        patterns = DEFAULT_TEMP if temp is None else tuple(p for p in temp.split(",") if p)
        out_prefix = params.get("out_prefix", "clets-")
        out_suffix = params.get("out_suffix", ".dat")
        if name_problem(f"{out_prefix}x{out_suffix}"):
            raise ConfigError("out_prefix/out_suffix must form safe file names")
        return cls(
            **dirs,
            poll_interval=_as_float(params, "poll", 2.0, 0.0),
            stable_polls=_as_int(params, "stable_polls", 2, 0),
            temp_patterns=patterns,
            done_mode=done,
            done_suffix=suffix,
            splitter=parse_split(params.get("split", "line")),
            max_file_size=_as_int(params, "max_size", 64 << 20, 1),
            out_prefix=out_prefix,
            out_suffix=out_suffix,
            ack_every=_as_int(params, "ack_every", 1, 1),
        )

    def is_temp(self, name: str) -> bool:
        # case-insensitive: a Windows RMS writes "BATCH.TMP" as readily as "batch.tmp", and
        # taking a half-written file for a complete one is the worse mistake
        low = name.lower()
        return any(fnmatch.fnmatchcase(low, pat.lower()) for pat in self.temp_patterns)

    def is_done_file(self, name: str) -> bool:
        return self.done_mode != "off" and name.endswith(self.done_suffix)

    def done_name(self, name: str) -> str | None:
        if self.done_mode == "append":
            return name + self.done_suffix
        if self.done_mode == "replace":
            stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
            return stem + self.done_suffix
        return None


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of a reconcile report: what was found and what was done about it."""

    ledger_id: int | None
    name: str
    found: str
    action: str

    def __str__(self) -> str:
        who = f"file {self.ledger_id} {self.name!r}" if self.ledger_id else repr(self.name)
        return f"{who}: {self.found}; {self.action}"


class FileDrop:
    """Inbound and outbound handling of one drop (one directory tree, one ledger ``drop_id``).

    One instance per drop at a time: the ledger is local to this process, so two processes
    polling the same inbox would each claim different files correctly (rename is atomic) but
    each would see the other's claimed files as orphans on reconcile.
    """

    def __init__(
        self,
        fs: DropFS,
        ledger: Ledger,
        drop_id: str,
        config: DropConfig | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        self.fs = fs
        self.ledger = ledger
        self.drop_id = drop_id
        self.config = config or DropConfig()
        self._hook = on_event
        self._stable: dict[str, tuple[tuple[int, float], int]] = {}
        self._refused: set[str] = set()
        self._prepared = False
        self.last_report: list[Finding] | None = None
        self._io_lock = asyncio.Lock()
        #: the storage failure (ledger or files) not yet followed by a successful step, and
        #: whether polling (``in``) or writing (``out``) met it
        self.storage_problem: StorageError | None = None
        self._problem_side = ""

    # ---- plumbing ------------------------------------------------------------------------

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        # One operation at a time: paramiko's SFTPClient is not safe for concurrent requests,
        # and keeping local I/O in the same order keeps the crash analysis simple.
        async with self._io_lock:
            return await asyncio.to_thread(fn, *args)

    def _emit(self, event: str, **details: Any) -> None:
        details.setdefault("drop", self.drop_id)
        if self._hook is None:
            log.info("%s %s", event, details)
            return
        self._hook(event, details)

    def _storage_failed(self, exc: StorageError, side: str) -> None:
        """A full or failing disk under the ledger or the drop's files: one event per
        outage (``storage-failed``); the step is retried, nothing already taken is lost."""
        if self.storage_problem is None:
            self._emit("storage-failed", error=str(exc), kind=exc.kind, store=exc.store)
        self.storage_problem = exc
        self._problem_side = side

    def _storage_ok(self, side: str) -> None:
        """A poll or a write went through: the outage (if any) is over.  A poll of an empty
        inbox writes nothing, so it ends only an outage that polling met."""
        if self.storage_problem is not None and (side == "out" or self._problem_side == side):
            was, self.storage_problem = self.storage_problem, None
            self._emit("storage-recovered", error=str(was), kind=was.kind, store=was.store)

    def _p(self, directory: str, name: str) -> str:
        return f"{getattr(self.config, directory)}/{name}"

    async def prepare(self) -> None:
        """Create the drop's directories (idempotent)."""
        if self._prepared:
            return
        if await self._io(self.fs.stat, ".") is None:
            raise LinkError(f"drop root of {self.fs.description} does not exist", link="drop")
        c = self.config
        for d in (c.inbox, c.processing, c.archive, c.error, c.outbox):
            await self._io(self.fs.makedirs, d)
        self._prepared = True

    # ---- reconcile -----------------------------------------------------------------------

    async def reconcile(self) -> list[Finding]:
        """Finish or undo every step a crash interrupted; return what was found, for people.

        Must run before any new file is claimed (``poll_once`` runs it first).  Files left
        mid-delivery stay active and are resumed by the next poll, from the first message the
        consumer had not acknowledged.
        """
        await self.prepare()
        report: list[Finding] = []
        for row in self.ledger.active(self.drop_id):
            _, finding = await self._resolve(row, reconciling=True)
            if finding:
                report.append(finding)
        report.extend(await self._orphans())
        report.extend(await self._reconcile_outbound())
        self.last_report = report
        self._emit("reconciled", findings=[str(f) for f in report])
        return report

    async def _resolve(self, row: FileRow, *, reconciling: bool) -> tuple[FileRow, Finding | None]:
        """Bring a row whose last step may have been interrupted back to a definite state."""
        c = self.config
        proc = self._p("processing", row.claimed_name)
        if row.state == CLAIMING:
            if await self._io(self.fs.stat, proc):
                row = self.ledger.set_state(row.id, CLAIMED)
                await self._remove_done(row.name)
                return row, Finding(
                    row.id, row.name, "claim rename had completed (ledger said claiming)",
                    "marked claimed; will be processed",
                )
            if await self._io(self.fs.stat, self._p("inbox", row.name)):
                row = self.ledger.set_state(row.id, RELEASED, reason="claim interrupted")
                return row, Finding(
                    row.id, row.name, "claim was interrupted before the rename",
                    f"left in {c.inbox} for the next poll (claim released)",
                )
            row = self.ledger.set_state(row.id, VANISHED, reason="gone before claim")
            return row, Finding(
                row.id, row.name, f"claim interrupted and the file is in neither {c.inbox}"
                f" nor {c.processing}", "marked vanished (someone else removed it)",
            )
        if row.state in (CLAIMED, DOWNLOADED, SPLIT):
            if await self._io(self.fs.stat, proc) is None:
                reason = f"claimed file {row.claimed_name} missing from {c.processing}"
                row = self.ledger.set_state(row.id, ERRORING, reason=reason)
                row = self.ledger.set_state(row.id, ERRORED)
                self._emit("errored", name=row.name, ledger_id=row.id, reason=reason)
                return row, Finding(row.id, row.name, reason, "marked errored; nothing to move")
            if not reconciling:
                return row, None
            progress = f" ({row.acked} of {row.count} messages acknowledged)" if (
                row.state == SPLIT) else ""
            return row, Finding(
                row.id, row.name, f"interrupted at state {row.state}{progress}",
                "will resume; unacknowledged messages are re-delivered with the same ids",
            )
        if row.state == ARCHIVING:
            return await self._finish_move(row, "archive", ARCHIVED)
        if row.state == ERRORING:
            await self._write_reason(row)
            return await self._finish_move(row, "error", ERRORED)
        return row, None

    async def _finish_move(
        self, row: FileRow, directory: str, final: str
    ) -> tuple[FileRow, Finding]:
        proc = self._p("processing", row.claimed_name)
        dest = self._p(directory, row.claimed_name)
        if await self._io(self.fs.stat, dest):
            found = f"move to {directory} had completed"
        elif await self._io(self.fs.stat, proc):
            await self._io(self.fs.rename, proc, dest)
            self._emit(f"{directory}-renamed", name=row.name, ledger_id=row.id)
            found = f"move to {directory} was interrupted; moved now"
        else:
            found = f"file missing from both {self.config.processing} and {directory}"
        row = self.ledger.set_state(row.id, final)
        self._emit(final, name=row.name, ledger_id=row.id, reason=row.reason)
        return row, Finding(row.id, row.name, found, f"marked {final}")

    async def _orphans(self) -> list[Finding]:
        """Files in processing that no active ledger row owns (ledger lost or replaced)."""
        c = self.config
        findings = []
        active = {r.claimed_name for r in self.ledger.active(self.drop_id)}
        for entry in await self._io(self.fs.listdir, c.processing):
            if entry.name in active or entry.kind != "file":
                continue
            problem = name_problem(entry.name)
            if problem:
                # never moved (that is what the check is for), but never silent either
                self._emit("refused-name", name=repr(entry.name), reason=problem,
                           directory=c.processing)
                findings.append(Finding(None, entry.name,  # shown with repr: escaped
                                        f"file with a refused name in {c.processing}: {problem}",
                                        "left in place for an operator; not processed"))
                continue
            known = self.ledger.by_claimed_name(self.drop_id, entry.name)
            m = _CLAIMED.fullmatch(entry.name)
            original = m.group(2) if m else entry.name
            if await self._io(self.fs.stat, self._p("inbox", original)) is None:
                await self._io(self.fs.rename, self._p("processing", entry.name),
                               self._p("inbox", original))
                action = f"returned to {c.inbox} as {original!r} (consumer dedupes by content id)"
            else:
                action = f"left in place: {original!r} already exists in {c.inbox}"
            state = f"ledger says {known.state}" if known else "no ledger row"
            findings.append(
                Finding(None, entry.name, f"orphan in {c.processing} ({state})", action)
            )
        return findings

    async def _reconcile_outbound(self) -> list[Finding]:
        c = self.config
        findings = []
        for row in self.ledger.pending_out(self.drop_id):
            final = await self._io(self.fs.stat, self._p("outbox", row.name))
            if final is not None and final.size == row.size:
                self.ledger.finish_out(row.id, "renamed")
                findings.append(Finding(
                    None, row.name, "outbound rename had completed (ledger said writing)",
                    "marked renamed; the send was not acknowledged, so the sender may write it"
                    " again under a new name",
                ))
                continue
            if await self._io(self.fs.stat, self._p("outbox", row.tmp_name)):
                await self._io(self.fs.remove, self._p("outbox", row.tmp_name))
                found = f"outbound temp file {row.tmp_name!r} left by a crash"
                action = "removed it; the send was never acknowledged, the sender still has it"
            else:
                found = f"outbound write interrupted; nothing in {c.outbox}"
                action = "marked abandoned; the send was never acknowledged"
            self.ledger.finish_out(row.id, "abandoned")
            findings.append(Finding(None, row.name, found, action))
        return findings

    # ---- inbound -------------------------------------------------------------------------

    async def poll_once(self, consumer: Consumer) -> int:
        """One poll: resume unfinished files, then take every complete inbox file.

        Returns the number of files brought to a terminal state.  A consumer exception stops
        the poll and propagates; the file stays active and is resumed next time.
        """
        if self.last_report is None:
            await self.reconcile()
        finished = 0
        for row in self.ledger.active(self.drop_id):
            row, finding = await self._resolve(row, reconciling=False)
            if finding:
                self._emit("recovered", finding=str(finding))
            finished += await self._advance(row, consumer)
        entries = await self._io(self.fs.listdir, self.config.inbox)
        for entry in self._select(entries):
            claimed = await self._claim(entry)
            if claimed is not None:
                finished += await self._advance(claimed, consumer)
        return finished

    async def run(
        self, consumer: Consumer, stop: asyncio.Event | None = None, max_backoff: float = 60.0
    ) -> None:
        """Poll until ``stop`` is set; transport failures back off and retry, never give up."""
        stop = stop or asyncio.Event()
        backoff = self.config.poll_interval
        while not stop.is_set():
            try:
                await self.poll_once(consumer)
                backoff = self.config.poll_interval
                self._storage_ok("in")
            except StorageError as exc:  # disk full or failing: retried, nothing is lost
                self._storage_failed(exc, "in")
                backoff = min(max(backoff * 2, 0.5), max_backoff / 4)
            except SecurityError as exc:  # e.g. the host key changed: audited, retried slowly
                self._emit("security-refused", error=str(exc))
                backoff = max_backoff
            except (LinkError, OSError) as exc:
                self._emit("poll-failed", error=str(exc))
                backoff = min(max(backoff * 2, 0.5), max_backoff)
            except Exception as exc:  # the consumer failed: the file stays active, retried
                self._emit("consumer-failed", error=f"{type(exc).__name__}: {exc}")
                backoff = min(max(backoff * 2, 0.5), max_backoff)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)

    def _select(self, entries: list[Entry]) -> list[Entry]:
        """Complete, safe, stable candidates of this listing (updates the stability tracker)."""
        c = self.config
        names = {e.name for e in entries}
        self._refused &= names
        tracker: dict[str, tuple[tuple[int, float], int]] = {}
        out = []
        for e in sorted(entries, key=lambda e: e.name):
            problem = name_problem(e.name)
            if problem is None and e.kind == "link":
                problem = "is a symbolic link (could point outside the drop root)"
            if problem is None and e.kind not in ("file", "dir"):
                problem = "is not a regular file"
            if problem:
                if e.name not in self._refused:
                    self._refused.add(e.name)
                    self._emit("refused-name", name=repr(e.name), reason=problem,
                               directory=c.inbox)
                continue
            if e.kind == "dir" or c.is_temp(e.name) or c.is_done_file(e.name):
                continue
            key = (e.size, e.mtime)
            prev = self._stable.get(e.name)
            polls = prev[1] + 1 if prev is not None and prev[0] == key else 0
            tracker[e.name] = (key, polls)
            if polls < c.stable_polls:
                continue
            done = c.done_name(e.name)
            if done is not None and done not in names:
                continue
            out.append(e)
        self._stable = tracker
        return out

    async def _claim(self, entry: Entry) -> FileRow | None:
        row = self.ledger.begin_claim(self.drop_id, entry.name, entry.size, entry.mtime)
        self._emit("claim-intent", name=entry.name, ledger_id=row.id)
        try:
            await self._io(self.fs.rename, self._p("inbox", entry.name),
                           self._p("processing", row.claimed_name))
        except FileNotFoundError:
            self.ledger.set_state(row.id, VANISHED, reason="gone before claim")
            self._emit("vanished", name=entry.name, ledger_id=row.id)
            return None
        self._emit("claim-renamed", name=entry.name, ledger_id=row.id)
        row = self.ledger.set_state(row.id, CLAIMED)
        self._stable.pop(entry.name, None)
        self._emit("claimed", name=entry.name, ledger_id=row.id, size=entry.size)
        await self._remove_done(entry.name)
        return row

    async def _remove_done(self, name: str) -> None:
        c = self.config
        done = c.done_name(name)
        if done is None or await self._io(self.fs.stat, self._p("inbox", done)) is None:
            return
        if c.done_mode == "replace":
            # X.done may cover X.dat and X.idx: keep it while another data file of the stem waits.
            for other in await self._io(self.fs.listdir, c.inbox):
                if other.name != done and not c.is_done_file(other.name) and (
                        c.done_name(other.name) == done) and not c.is_temp(other.name):
                    return
        with contextlib.suppress(FileNotFoundError):
            await self._io(self.fs.remove, self._p("inbox", done))

    async def _advance(self, row: FileRow, consumer: Consumer) -> int:
        """Take one active row through to archived/errored. Returns 1 when it got there."""
        c = self.config
        proc = self._p("processing", row.claimed_name)
        if row.state in (CLAIMED, DOWNLOADED, SPLIT):
            data = await self._io(self.fs.read, proc, c.max_file_size + 1)
            if len(data) > c.max_file_size:
                return await self._fail(row, f"file larger than max_size={c.max_file_size}")
            digest = hashlib.sha256(data).hexdigest()
            if row.sha256 is not None and row.sha256 != digest:
                return await self._fail(row, "content changed in processing since it was hashed")
            if row.state == CLAIMED:
                if len(data) != row.size:
                    return await self._fail(
                        row, f"size changed after claim (listed {row.size}, read {len(data)}):"
                        " the writer was still writing",
                    )
                row = self.ledger.record_download(row.id, digest, len(data))
                self._emit("downloaded", name=row.name, ledger_id=row.id, sha256=digest)
                if row.state == ARCHIVING:
                    self._emit("duplicate", name=row.name, ledger_id=row.id,
                               duplicate_of=row.duplicate_of)
            if row.state in (DOWNLOADED, SPLIT):
                try:
                    messages = c.splitter.split(data)
                except DecodeError as exc:
                    return await self._fail(row, f"cannot split as {c.splitter}: {exc}")
                if row.state == DOWNLOADED:
                    row = self.ledger.record_split(row.id, len(messages))
                    self._emit("split", name=row.name, ledger_id=row.id, count=len(messages))
                file_id = row.file_id
                last = len(messages) - 1
                for index in range(row.acked, len(messages)):
                    await consumer(file_id, index, messages[index])
                    self._emit("delivered", name=row.name, ledger_id=row.id, index=index)
                    # One fsync'd commit per ack_every messages: a crash re-delivers at most
                    # that many, all with their same ids.
                    if (index + 1) % c.ack_every == 0 or index == last:
                        self.ledger.record_ack(row.id, index + 1)
                        self._emit("acked", name=row.name, ledger_id=row.id, index=index)
                row = self.ledger.set_state(row.id, ARCHIVING)
                self._emit("archiving", name=row.name, ledger_id=row.id)
        if row.state == ARCHIVING:
            await self._finish_move(row, "archive", ARCHIVED)
            return 1
        if row.state == ERRORING:
            await self._write_reason(row)
            await self._finish_move(row, "error", ERRORED)
            return 1
        return 0

    async def _fail(self, row: FileRow, reason: str) -> int:
        row = self.ledger.set_state(row.id, ERRORING, reason=reason)
        self._emit("erroring", name=row.name, ledger_id=row.id, reason=reason)
        await self._write_reason(row)
        await self._finish_move(row, "error", ERRORED)
        return 1

    async def _write_reason(self, row: FileRow) -> None:
        """``error/<claimed>.reason``: one human-readable file, written tmp-then-rename."""
        final = self._p("error", row.claimed_name + ".reason")
        if await self._io(self.fs.stat, final):
            return
        text = (
            f"file: {row.name}\nledger id: {row.id}\nsize: {row.size}\n"
            f"sha256: {row.sha256 or '-'}\nreason: {row.reason}\n"
            f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
        )
        tmp = self._p("error", f".{row.claimed_name}.reason.part")
        await self._io(self.fs.write, tmp, text.encode("utf-8", "backslashreplace"))
        await self._io(self.fs.rename, tmp, final)

    # ---- outbound ------------------------------------------------------------------------

    async def write(self, data: bytes, name: str | None = None) -> str:
        """Write one outbound file (temp name, then rename); return its final name."""
        await self.prepare()
        if name is not None and (problem := name_problem(name)):
            raise SecurityError(f"outbound file name {name!r} {problem}")
        c = self.config

        def names(seq: int) -> tuple[str, str]:
            final = name or (
                f"{c.out_prefix}{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{seq:06d}"
                f"{c.out_suffix}"
            )
            return final, f".{final}.{seq}.part"

        try:
            row = self.ledger.begin_out(
                self.drop_id, names, len(data), hashlib.sha256(data).hexdigest()
            )
            self._emit("out-intent", name=row.name, seq=row.id)
            tmp = self._p("outbox", row.tmp_name)
            try:
                await self._io(self.fs.write, tmp, data)
                self._emit("out-written", name=row.name, seq=row.id)
                await self._io(self.fs.rename, tmp, self._p("outbox", row.name))
            except BaseException:
                with contextlib.suppress(Exception):
                    await self._io(self.fs.remove, tmp)
                with contextlib.suppress(Exception):
                    self.ledger.finish_out(row.id, "abandoned")
                raise
            self._emit("out-renamed", name=row.name, seq=row.id)
            self.ledger.finish_out(row.id, "renamed")
        except StorageError as exc:  # the sender keeps the frame and sends it again later
            self._storage_failed(exc, "out")
            raise
        self._storage_ok("out")
        self._emit("out-done", name=row.name, seq=row.id, size=len(data))
        return row.name


class DropLink:
    """A drop as a :class:`~clets.adapters.base.Link`: ``receive()`` yields messages, ``send()``
    writes an outbound file.

    Acknowledgement is *pull-based*: a message returned by ``receive()`` is acknowledged to the
    ledger when ``receive()`` is called again (the caller has finished with it).  Closing without
    calling ``receive()`` again leaves it unacknowledged, so it is re-delivered after a restart.
    ``last_message_id`` is the stable id (``<sha256>/<index>``) of the message last returned;
    the switch uses it for duplicate suppression.  Code that can pass a callback should prefer
    :meth:`FileDrop.run` with an explicit consumer.
    """

    def __init__(self, name: str, drop: FileDrop, peer: PeerIdentity) -> None:
        self.name = name
        self.drop = drop
        self._peer = peer
        self._state = LinkState.UP
        self._queue: asyncio.Queue[tuple[str, int, bytes, asyncio.Future[None]]] = (
            asyncio.Queue(maxsize=1)
        )
        self._pending: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.last_message_id: str | None = None

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def peer(self) -> PeerIdentity:
        return self._peer

    async def _consume(self, file_id: str, index: int, payload: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((file_id, index, payload, done))
        await done

    async def send(self, frame: bytes) -> None:
        if self._state is LinkState.CLOSED:
            raise LinkError("link is closed", link=self.name)
        await self.drop.write(frame)

    async def receive(self) -> bytes:
        if self._state is LinkState.CLOSED:
            raise LinkError("link is closed", link=self.name)
        if self._pending is not None and not self._pending.done():
            self._pending.set_result(None)
        self._pending = None
        if self._task is None:
            self._task = asyncio.create_task(self.drop.run(self._consume, self._stop))
        getter = asyncio.ensure_future(self._queue.get())
        await asyncio.wait({getter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            raise LinkError("drop poller stopped", link=self.name)
        file_id, index, payload, fut = getter.result()
        self._pending = fut
        self.last_message_id = message_id(file_id, index)
        return payload

    async def frames(self) -> AsyncIterator[bytes]:
        while not self._closed():
            try:
                yield await self.receive()
            except LinkError:
                if self._closed():
                    return
                raise

    def _closed(self) -> bool:
        return self._state is LinkState.CLOSED

    async def close(self) -> None:
        if self._state is LinkState.CLOSED:
            return
        self._state = LinkState.CLOSED
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await asyncio.to_thread(self.drop.fs.close)
        self.drop.ledger.close()

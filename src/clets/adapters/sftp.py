"""An SFTP drop (``sftp://user@host:port/remote/root?key=...&known_hosts=...``) over paramiko.

Security is not optional here (spec/switch.md, "Security defaults"):

* key authentication only: the private key file named by ``key``; no password, no agent, no
  ``~/.ssh`` lookups (``allow_agent=False, look_for_keys=False``);
* the server's host key must match a pinned entry -- ``known_hosts=<file>`` (OpenSSH format,
  hashed entries work; ``[host]:port`` for a non-22 port) or ``host_key=<type> <base64>``.  An
  unknown or changed key raises :class:`SecurityError` before authentication; nothing is ever
  added to a known-hosts store.  ``RejectPolicy`` handles the unknown case and the key the
  transport ended up with is compared with the pins again after connecting;
* names from listings are checked by :func:`clets.adapters.drop.name_problem`; the listing is
  read with raw bytes names, so a non-UTF-8 name is refused like any other instead of breaking
  the whole listing (paramiko's ``listdir_attr`` would raise ``UnicodeDecodeError``).

paramiko blocks; :class:`SftpFS` is called from a worker thread by the drop logic, one call at a
time, and every call is time-boxed by the channel timeout.  A broken connection is dropped and
re-opened on the next call.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import posixpath
import stat as stat_mod
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import paramiko
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR

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
from clets.adapters.spool import peer_from_params
from clets.errors import ConfigError, LinkError, SecurityError

__all__ = [
    "SftpFS", "SftpTarget", "fingerprint", "from_url", "open_sftp", "probe", "target_from_url",
]

T = TypeVar("T")

#: URL parameters of sftp:// beyond the shared drop options.
SFTP_PARAMS = frozenset({"key", "known_hosts", "host_key", "ledger", "peer", "oris", "timeout"})


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint (what ``ssh-keygen -lf`` prints)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class SftpTarget:
    """Where and how to connect; built from a URL by :func:`target_from_url`."""

    host: str
    port: int
    user: str
    root: str
    key_path: str
    pinned: tuple[paramiko.PKey, ...]
    pinned_fps: tuple[str, ...] = ()
    timeout: float = 10.0

    def is_pinned(self, key: paramiko.PKey) -> bool:
        """The one check of a server key: same type and bytes as a pin, or a pinned fingerprint."""
        return fingerprint(key) in self.pinned_fps or any(
            key.get_name() == p.get_name() and key.asbytes() == p.asbytes() for p in self.pinned
        )

    @property
    def host_id(self) -> str:
        """The known_hosts lookup name: ``host`` on port 22, else ``[host]:port``."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @property
    def url(self) -> str:
        return f"sftp://{self.user}@{self.host}:{self.port}{self.root}"


def _parse_host_key(text: str) -> paramiko.PKey | str:
    """``<type> <base64>`` -> key, or ``SHA256:<fingerprint>`` -> the fingerprint string.

    In a URL query a literal ``+`` decodes to a space; base64 and fingerprints contain ``+``
    and never spaces, so the pieces are joined back with ``+`` (the ``.pub`` comment, if any,
    is tried off the end).
    """
    parts = text.strip().split()
    if parts and parts[0].startswith("SHA256:"):
        return "+".join(parts)
    if len(parts) < 2:
        raise ConfigError(
            "host_key must be '<type> <base64>' (as in a .pub or known_hosts line)"
            " or 'SHA256:<fingerprint>'"
        )
    last: Exception | None = None
    for end in range(len(parts), 1, -1):
        try:
            blob = base64.b64decode("+".join(parts[1:end]))
            return paramiko.PKey.from_type_string(parts[0], blob)
        except Exception as exc:
            last = exc
    raise ConfigError(f"host_key {parts[0]} cannot be parsed: {last}") from None


def load_pins(
    host_id: str, known_hosts: str | None, host_key: str | None
) -> tuple[tuple[paramiko.PKey, ...], tuple[str, ...]]:
    """Pinned host keys (and SHA256 fingerprints) for ``host_id``.

    No pins at all is a ConfigError: a link without a pin would have to trust whatever answers.
    A known_hosts file *without* an entry for the host is not a config error -- it is an
    unknown host, refused at connect time with SecurityError.
    """
    keys: list[paramiko.PKey] = []
    fps: list[str] = []
    if host_key:
        pin = _parse_host_key(host_key)
        (fps if isinstance(pin, str) else keys).append(pin)  # type: ignore[arg-type]
    if known_hosts:
        try:
            store = paramiko.HostKeys(known_hosts)
        except OSError as exc:
            raise ConfigError(f"known_hosts {known_hosts}: {exc.strerror or exc}") from None
        entry = store.lookup(host_id)
        if entry is not None:
            keys.extend(entry[k] for k in entry)
    if not host_key and not known_hosts:
        raise ConfigError("sftp:// needs known_hosts=<file> or host_key=<type base64> (pinned)")
    return tuple(keys), tuple(fps)


def target_from_url(url: LinkURLLike) -> SftpTarget:
    if url.scheme != "sftp":
        raise ConfigError(f"not an sftp:// URL: {url.scheme}://")
    if not url.host:
        raise ConfigError("sftp:// needs a host")
    if not url.user:
        raise ConfigError("sftp:// needs a user: sftp://user@host/path")
    if not url.path or not url.path.startswith("/"):
        raise ConfigError("sftp:// needs an absolute remote directory: sftp://u@h/upload/dmv")
    key = url.params.get("key")
    if not key:
        raise ConfigError("sftp:// needs key=<private key file> (key authentication only)")
    if not os.path.isfile(key):
        raise ConfigError(f"key file {key} does not exist")
    port = url.port or 22
    host_id = url.host if port == 22 else f"[{url.host}]:{port}"
    try:
        timeout = float(url.params.get("timeout", "10"))
    except ValueError:
        raise ConfigError(f"timeout={url.params['timeout']!r} is not a number") from None
    keys, fps = load_pins(host_id, url.params.get("known_hosts"), url.params.get("host_key"))
    return SftpTarget(
        host=url.host, port=port, user=url.user, root=posixpath.normpath(url.path),
        key_path=key, pinned=keys, pinned_fps=fps, timeout=timeout,
    )


class _PinnedPolicy(paramiko.MissingHostKeyPolicy):
    """paramiko's RejectPolicy, except that a pinned SHA256 fingerprint is accepted, and the
    refusal is a SecurityError naming the key that was offered.

    Nothing is ever added to a host-key store: acceptance here lasts for this connection only.
    """

    def __init__(self, target: SftpTarget) -> None:
        self.target = target

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if fingerprint(key) in self.target.pinned_fps:
            return
        raise SecurityError(
            f"host key of {hostname} is not pinned ({key.get_name()} {fingerprint(key)});"
            " refusing to connect (add it to known_hosts only after checking it out of band)"
        )


def connect(target: SftpTarget) -> tuple[paramiko.SSHClient, paramiko.SFTPClient, str]:
    """Connect, check the host key against the pins, authenticate with the key, open SFTP."""
    try:
        pkey = paramiko.PKey.from_path(target.key_path)
    except paramiko.PasswordRequiredException:
        raise ConfigError(f"key {target.key_path} is encrypted; use an unencrypted service key"
                          " readable only by the clets user") from None
    except TypeError as exc:
        # paramiko 3.2+ PKey.from_path lets cryptography's "password was not given" through
        if "passw" not in str(exc).lower():
            raise
        raise ConfigError(f"key {target.key_path} is encrypted; use an unencrypted service key"
                          " readable only by the clets user") from None
    except (OSError, paramiko.SSHException, ValueError) as exc:
        raise ConfigError(f"key {target.key_path} cannot be loaded: {exc}") from None
    client = paramiko.SSHClient()
    known = client.get_host_keys()
    for pin in target.pinned:
        known.add(target.host_id, pin.get_name(), pin)
    client.set_missing_host_key_policy(_PinnedPolicy(target))
    t = target.timeout
    try:
        client.connect(
            target.host, port=target.port, username=target.user, pkey=pkey,
            allow_agent=False, look_for_keys=False, timeout=t, banner_timeout=t,
            auth_timeout=t, channel_timeout=t,
        )
    except SecurityError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise SecurityError(
            f"host key of {target.host_id} CHANGED: server offered {exc.key.get_name()}"
            f" {fingerprint(exc.key)}, pinned {fingerprint(exc.expected_key)}; refusing"
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise LinkError(f"key authentication as {target.user} failed: {exc}",
                        link="sftp", peer=target.host_id) from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        client.close()
        raise LinkError(f"connect failed: {exc}", link="sftp", peer=target.host_id) from None
    transport = client.get_transport()
    server_key = transport.get_remote_server_key() if transport else None
    if server_key is None or not target.is_pinned(server_key):
        client.close()
        raise SecurityError(f"host key of {target.host_id} does not match the pinned key")
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(t)  # type: ignore[union-attr]
    except (OSError, paramiko.SSHException, EOFError) as exc:
        client.close()
        raise LinkError(f"cannot open sftp subsystem: {exc}", link="sftp",
                        peer=target.host_id) from None
    return client, sftp, fingerprint(server_key)


def _kind(mode: int | None) -> str:
    if mode is None:
        return "other"
    if stat_mod.S_ISREG(mode):
        return "file"
    if stat_mod.S_ISDIR(mode):
        return "dir"
    if stat_mod.S_ISLNK(mode):
        return "link"
    return "other"


class SftpFS:
    """:class:`~clets.adapters.drop.DropFS` over one SFTP session (re-opened after a failure)."""

    def __init__(self, target: SftpTarget) -> None:
        self.target = target
        self.description = target.url
        self.host_key_fingerprint: str | None = None
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()

    def _abs(self, rel: str) -> str:
        path = posixpath.normpath(posixpath.join(self.target.root, rel))
        if path != self.target.root and not path.startswith(self.target.root.rstrip("/") + "/"):
            raise SecurityError(f"path {rel!r} resolves outside the drop root {self.target.root}")
        return path

    def _session(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._client, self._sftp, self.host_key_fingerprint = connect(self.target)
        return self._sftp

    def _drop_session(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = self._sftp = None

    def _call(self, what: str, fn: Callable[[paramiko.SFTPClient], T]) -> T:
        with self._lock:
            sftp = self._session()
            try:
                return fn(sftp)
            except FileNotFoundError:
                raise
            except (TimeoutError, EOFError, paramiko.SSHException, ConnectionError) as exc:
                self._drop_session()
                raise LinkError(f"{what}: connection lost ({exc or type(exc).__name__})",
                                link="sftp", peer=self.target.host_id) from None
            except OSError as exc:
                # An SFTP status error (permission, "Failure") leaves the session usable; a dead
                # transport surfaces as a bare OSError too, so ask the transport itself.
                transport = self._client.get_transport() if self._client else None
                if transport is None or not transport.is_active():
                    self._drop_session()
                raise LinkError(f"{what}: {exc}", link="sftp", peer=self.target.host_id) from None

    def listdir(self, rel: str) -> list[Entry]:
        path = self._abs(rel)

        def run(sftp: paramiko.SFTPClient) -> list[Entry]:
            # listdir_attr decodes names as strict UTF-8 and would fail the whole listing on one
            # hostile name; read the raw names and decode with surrogateescape instead.
            req: Any = getattr(sftp, "_request")  # noqa: B009 - private but stable for 15 years
            t, msg = req(CMD_OPENDIR, path)
            if t != CMD_HANDLE:
                raise OSError(f"listing {path}: expected a handle")
            handle = msg.get_binary()
            from_msg: Any = getattr(paramiko.SFTPAttributes, "_from_msg")  # noqa: B009
            out: list[Entry] = []
            try:
                while True:
                    try:
                        t, msg = req(CMD_READDIR, handle)
                    except EOFError:
                        break
                    if t != CMD_NAME:
                        raise OSError(f"listing {path}: expected names")
                    for _ in range(msg.get_int()):
                        raw = msg.get_string()
                        msg.get_string()  # longname, may be just as hostile; unused
                        attr = from_msg(msg)
                        name = raw.decode("utf-8", "surrogateescape")
                        if name in (".", ".."):
                            continue
                        out.append(Entry(name, attr.st_size or 0, float(attr.st_mtime or 0),
                                         _kind(attr.st_mode)))
            finally:
                req(CMD_CLOSE, handle)
            return out

        return self._call(f"list {rel}", run)

    def stat(self, rel: str) -> Entry | None:
        path = self._abs(rel)
        try:
            attr = self._call(f"stat {rel}", lambda s: s.lstat(path))
        except FileNotFoundError:
            return None
        return Entry(posixpath.basename(path), attr.st_size or 0, float(attr.st_mtime or 0),
                     _kind(attr.st_mode))

    def rename(self, src: str, dst: str) -> None:
        s, d = self._abs(src), self._abs(dst)
        # posix-rename@openssh.com: atomic and replaces; plain SFTP rename fails onto a file.
        self._call(f"rename {src} -> {dst}", lambda sftp: sftp.posix_rename(s, d))

    def read(self, rel: str, limit: int) -> bytes:
        path = self._abs(rel)

        def run(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(path, "rb") as f:
                size = f.stat().st_size or 0
                f.prefetch(min(size, limit))
                return f.read(limit)

        return self._call(f"read {rel}", run)

    def write(self, rel: str, data: bytes) -> None:
        path = self._abs(rel)

        def run(sftp: paramiko.SFTPClient) -> None:
            with sftp.open(path, "wb") as f:
                f.set_pipelined(True)
                f.write(data)
            # No fsync: paramiko has no fsync@openssh.com call; the close is acknowledged by
            # the server after its write(2)s, and the rename that follows is what publishes it.

        self._call(f"write {rel}", run)

    def remove(self, rel: str) -> None:
        path = self._abs(rel)
        self._call(f"remove {rel}", lambda sftp: sftp.remove(path))

    def makedirs(self, rel: str) -> None:
        parts = [p for p in rel.split("/") if p]
        for i in range(1, len(parts) + 1):
            path = self._abs("/".join(parts[:i]))

            def run(sftp: paramiko.SFTPClient, path: str = path) -> None:
                try:
                    sftp.lstat(path)
                except FileNotFoundError:
                    sftp.mkdir(path, 0o750)

            self._call(f"mkdir {rel}", run)

    def close(self) -> None:
        with self._lock:
            self._drop_session()


def _drop_id(target: SftpTarget) -> str:
    return target.url


def open_sftp(url: LinkURLLike, on_event: EventHook | None = None) -> FileDrop:
    """A :class:`FileDrop` for an sftp URL; ``ledger=<local file>`` is required."""
    target = target_from_url(url)
    config = DropConfig.from_params(url.params, extra=SFTP_PARAMS)
    ledger_path = url.params.get("ledger")
    if not ledger_path:
        raise ConfigError("sftp:// needs ledger=<local sqlite file> (the durable file ledger)")
    return FileDrop(SftpFS(target), Ledger(ledger_path), _drop_id(target), config, on_event)


def from_url(url: LinkURLLike, name: str = "sftp", on_event: EventHook | None = None) -> DropLink:
    """The SFTP drop as a Link (``receive()`` yields messages, ``send()`` writes a file)."""
    drop = open_sftp(url, named_events(on_event, name))
    assert isinstance(drop.fs, SftpFS)
    t = drop.fs.target
    pins = ",".join([fingerprint(p) for p in t.pinned] + list(t.pinned_fps))
    return DropLink(name, drop, peer_from_params(url.params, "ssh-key", f"host key {pins}"))


async def probe(url: LinkURLLike) -> str:
    """One line for ``clets link test``: host key verified, logged in, drop directories seen."""
    target = target_from_url(url)
    config = DropConfig.from_params(url.params, extra=SFTP_PARAMS)

    def check() -> str:
        fs = SftpFS(target)
        try:
            if fs.stat(".") is None:  # what polling would stop on: say it now
                raise LinkError(f"drop root of {target.url} does not exist (create it on the "
                                "server; clets creates only the directories inside it)",
                                link="sftp")
            parts = []
            for label in ("inbox", "processing", "error", "outbox"):
                rel = getattr(config, label)
                if fs.stat(rel) is None:
                    parts.append(f"{label} missing (created on first use)")
                else:
                    parts.append(f"{label} {len(fs.listdir(rel))} entries")
            return (f"{target.url}: host key {fs.host_key_fingerprint} matches pin; key login ok;"
                    f" " + ", ".join(parts))
        finally:
            fs.close()

    return await asyncio.to_thread(check)

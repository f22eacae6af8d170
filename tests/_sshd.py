"""A real OpenSSH sshd on a loopback port, for SFTP tests (tech.md section 4).

Throwaway host and client ed25519 keys are made with ssh-keygen in a temp dir; login is as the
current user with the client key only.  sshd runs in the foreground (``-D``) so the Popen pid is
sshd itself, and it is stopped by that pid.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests._drops import URL
from tests.conftest import require_peer

__all__ = ["URL", "Sshd", "keygen", "sshd", "start_sshd", "stop_sshd"]

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    host: str
    port: int
    user: str
    dir: Path
    client_key: Path
    host_pub_line: str  # "ssh-ed25519 AAAA..."
    known_hosts: Path
    log: Path
    pid: int

    def url(self, root: str | os.PathLike[str], **params: str) -> URL:
        base = {"key": str(self.client_key), "known_hosts": str(self.known_hosts)}
        base.update(params)
        return URL("sftp", self.host, self.port, str(root), self.user, base)

    def url_text(self, root: str | os.PathLike[str], **params: str) -> str:
        base = {"key": str(self.client_key), "known_hosts": str(self.known_hosts)}
        base.update(params)
        query = "&".join(f"{k}={quote(v, safe='/:')}" for k, v in base.items())
        return f"sftp://{self.user}@{self.host}:{self.port}{root}?{query}"


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "clets-test", "-f", str(path)],
        check=True, timeout=30,
    )
    return " ".join(path.with_suffix(".pub").read_text().split()[:2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sshd(d: Path) -> tuple[subprocess.Popen[bytes], Sshd]:
    require_peer(SSHD)
    require_peer("ssh-keygen")
    d.mkdir(parents=True, exist_ok=True)
    host_line = keygen(d / "host_ed25519")
    client_line = keygen(d / "client_ed25519")
    (d / "authorized_keys").write_text(client_line + "\n")
    os.chmod(d / "authorized_keys", 0o600)
    port = _free_port()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_line}\n")
    (d / "sshd_config").write_text(
        f"""ListenAddress 127.0.0.1
Port {port}
HostKey {d}/host_ed25519
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel VERBOSE
"""
    )
    if not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = d / "sshd.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                                stdout=logf, stderr=logf)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited {proc.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"sshd did not listen: {log.read_text()}") from None
            time.sleep(0.02)
    info = Sshd("127.0.0.1", port, getpass.getuser(), d, d / "client_ed25519", host_line,
                d / "known_hosts", log, proc.pid)
    return proc, info


def stop_sshd(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    proc, info = start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield info
    finally:
        stop_sshd(proc)

"""The SFTP drop against a real OpenSSH sshd on loopback (tests/_sshd.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import paramiko
import pytest

from clets.adapters import ledger as L
from clets.adapters import sftp
from clets.adapters.drop import FileDrop
from clets.errors import ConfigError, LinkError, SecurityError
from tests._drops import Events, Recorder, rdw, sha
from tests._sshd import Sshd, keygen, sshd  # noqa: F401 - fixture

pytestmark = pytest.mark.realpeer


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def make(server: Sshd, root: Path, ev: Events | None = None, **params: str) -> FileDrop:
    params.setdefault("stable_polls", "0")
    params.setdefault("ledger", str(root.parent / f"{root.name}-ledger.sqlite3"))
    root.mkdir(exist_ok=True)
    return sftp.open_sftp(server.url(root, **params), ev)


def put(root: Path, name: str, data: bytes) -> Path:
    (root / "inbox").mkdir(parents=True, exist_ok=True)
    path = root / "inbox" / name
    path.write_bytes(data)
    return path


def names(root: Path, sub: str) -> list[str]:
    return sorted(os.listdir(root / sub))


def test_happy_path_lines(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    drop = make(sshd, root)
    put(root, "q1.txt", b"QW.CA0000000.NAM/SMITH, JOHN\r\nQV.CA0000000.LIC/ABC123\r\n")
    put(root, "q2.txt", b"ZZ.ONE\n")
    rec = Recorder()
    assert run(drop.poll_once(rec)) == 2
    assert rec.payloads() == [b"QW.CA0000000.NAM/SMITH, JOHN", b"QV.CA0000000.LIC/ABC123",
                              b"ZZ.ONE"]
    assert rec.got[0][0] == sha(b"QW.CA0000000.NAM/SMITH, JOHN\r\nQV.CA0000000.LIC/ABC123\r\n")
    assert names(root, "inbox") == names(root, "processing") == []
    assert len(names(root, "archive")) == 2
    drop.fs.close()


def test_happy_path_rdw(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    drop = make(sshd, root, split="rdw")
    recs = [b"\xc4\xd4\xe5" * 50, b"", bytes(range(256))]
    put(root, "dmv.bin", rdw(recs))
    rec = Recorder()
    run(drop.poll_once(rec))
    assert rec.payloads() == recs
    [row] = drop.ledger.files(drop.drop_id)
    assert (row.state, row.count, row.acked, row.sha256) == (L.ARCHIVED, 3, 3, sha(rdw(recs)))
    drop.fs.close()


def test_outbound_temp_then_rename(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    ev = Events()
    drop = make(sshd, root, ev)
    seen_tmp: list[list[str]] = []

    def spy(event: str, details: dict[str, object]) -> None:
        ev(event, details)
        if event == "out-written":  # between the write and the rename
            seen_tmp.append(names(root, "outbox"))

    drop._hook = spy
    data = os.urandom(200_000)
    final = run(drop.write(data))
    [tmp_listing] = seen_tmp
    assert len(tmp_listing) == 1 and tmp_listing[0].startswith(".") and final not in tmp_listing
    assert names(root, "outbox") == [final] and (root / "outbox" / final).read_bytes() == data
    # posix_rename replaces: a second write under the same name is still atomic
    run(drop.write(b"v1", name="fixed.dat"))
    run(drop.write(b"v2", name="fixed.dat"))
    assert (root / "outbox" / "fixed.dat").read_bytes() == b"v2"
    drop.fs.close()


def test_unknown_host_key_refused(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port + 1} {sshd.host_pub_line}\n")  # other port only
    ev = Events()
    drop = make(sshd, tmp_path / "drop", ev, known_hosts=str(kh))
    with pytest.raises(SecurityError, match="not pinned"):
        run(drop.poll_once(Recorder()))
    with pytest.raises(SecurityError):
        run(sftp.probe(sshd.url(tmp_path, known_hosts=str(kh))))
    assert os.listdir(tmp_path / "drop") == []  # nothing was done on the server


def test_changed_host_key_refused(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    other = keygen(tmp_path / "other_host")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {other}\n")
    with pytest.raises(SecurityError, match="CHANGED"):
        run(sftp.probe(sshd.url(tmp_path, known_hosts=str(kh))))
    # the same, pinned inline instead of through a file
    with pytest.raises(SecurityError):
        run(sftp.probe(sshd.url(tmp_path, known_hosts="", host_key=other)))
    # a '+' that some URL decoder turned into a space is put back -- unless the spaces cannot
    # say where they were (a doubled or trailing '+' of a random key): not worth a flaky test
    blob = other.split()[1]
    if "++" not in blob and not blob.endswith("+"):
        with pytest.raises(SecurityError):
            run(sftp.probe(sshd.url(tmp_path, known_hosts="",
                                    host_key=other.replace("+", " "))))


def test_inline_key_and_fingerprint_pins(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    out = run(sftp.probe(sshd.url(tmp_path, known_hosts="", host_key=sshd.host_pub_line)))
    assert "matches pin" in out
    fp = subprocess.run(["ssh-keygen", "-lf", str(sshd.dir / "host_ed25519.pub")],
                        capture_output=True, text=True, check=True).stdout.split()[1]
    assert fp in out
    assert "key login ok" in run(sftp.probe(sshd.url(tmp_path, known_hosts="", host_key=fp)))
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(SecurityError):
        run(sftp.probe(sshd.url(tmp_path, known_hosts="", host_key=wrong)))


def test_missing_root_is_link_error(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    drop = sftp.open_sftp(sshd.url(tmp_path / "nope", ledger=str(tmp_path / "l")))
    with pytest.raises(LinkError, match="does not exist"):
        run(drop.poll_once(Recorder()))
    drop.fs.close()
    # and `clets link test` (probe) says so too, instead of "inbox missing ... ok"
    with pytest.raises(LinkError, match=r"drop root .* does not exist"):
        run(sftp.probe(sshd.url(tmp_path / "nope", ledger=str(tmp_path / "l"))))


def test_wrong_client_key_is_link_error(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    keygen(tmp_path / "stranger")
    with pytest.raises(LinkError, match="authentication"):
        run(sftp.probe(sshd.url(tmp_path, key=str(tmp_path / "stranger"))))


@pytest.mark.parametrize("fmt", [[], ["-m", "PEM", "-t", "rsa", "-b", "2048"]])
def test_encrypted_client_key_is_a_config_error(sshd: Sshd, tmp_path: Path,  # noqa: F811
                                                 fmt: list[str]) -> None:
    """links.md: encrypted client keys are refused with a ConfigError (paramiko lets a
    TypeError through for them: it was a traceback)."""
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", *fmt, "-N", "s3cret", "-C", "x",
                    "-f", str(key)], check=True)
    with pytest.raises(ConfigError, match="is encrypted"):
        run(sftp.probe(sshd.url(tmp_path, key=str(key))))


def test_config_requires_pins_key_ledger(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(ConfigError, match="known_hosts"):
        sftp.target_from_url(sshd.url(tmp_path, known_hosts=""))
    with pytest.raises(ConfigError, match="key"):
        sftp.target_from_url(sshd.url(tmp_path, key=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match="ledger"):
        sftp.open_sftp(sshd.url(tmp_path))
    with pytest.raises(ConfigError, match="unknown"):
        sftp.open_sftp(sshd.url(tmp_path, ledger=str(tmp_path / "l"), password="x"))


def test_growing_file_not_taken_until_stable(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    drop = make(sshd, root, stable_polls="2")
    path = put(root, "big.txt", b"A\n")
    rec = Recorder()
    for more in (b"B\n", b"C\n"):
        run(drop.poll_once(rec))
        with open(path, "ab") as f:
            f.write(more)
    run(drop.poll_once(rec))  # size changed again: counter restarts
    run(drop.poll_once(rec))  # unchanged across 1 poll
    assert rec.got == [] and names(root, "inbox") == ["big.txt"]
    run(drop.poll_once(rec))  # unchanged across 2 polls: taken
    assert rec.payloads() == [b"A", b"B", b"C"]
    drop.fs.close()


def test_temp_names_ignored_and_done_mode(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    drop = make(sshd, root, done="append")
    for n in (".x.dat", "y.dat.part", "z.tmp"):
        put(root, n, b"T\n")
    put(root, "x.dat", b"X\n")
    rec = Recorder()
    run(drop.poll_once(rec))
    run(drop.poll_once(rec))
    assert rec.got == []
    put(root, "x.dat.done", b"")
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"X"]
    assert names(root, "inbox") == [".x.dat", "y.dat.part", "z.tmp"]
    drop.fs.close()


def test_hostile_listing_names(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    ev = Events()
    drop = make(sshd, root, ev)
    hostile = ["..foo", "a\x01b", "new\nline", "a..b", "esc\x1b[31m"]
    for n in hostile:
        put(root, n, b"SECRET\n")
    with open(os.fsencode(str(root / "inbox")) + b"/raw\xff.dat", "wb") as f:
        f.write(b"SECRET\n")  # not UTF-8: paramiko's own listdir_attr would fail on it
    os.symlink("/etc/passwd", root / "inbox" / "pw.dat")
    put(root, "good.txt", b"GOOD\n")
    rec = Recorder()
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"GOOD"]
    audited = sorted(d["name"] for d in ev.named("refused-name"))
    assert audited == sorted(repr(n) for n in [*hostile, os.fsdecode(b"raw\xff.dat"), "pw.dat"])
    assert all("\n" not in a and "\x1b" not in a for a in audited)  # no log injection via repr
    assert len(os.listdir(root / "inbox")) == len(hostile) + 2  # left in place
    drop.fs.close()


def test_probe_and_link(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    put(root, "a.txt", b"M0\nM1\n")
    url = sshd.url(root, stable_polls="0", poll="0.05", ledger=str(tmp_path / "l.sqlite3"),
                   peer="DMV")
    assert "inbox 1 entries" in run(sftp.probe(url))

    async def go() -> list[bytes]:
        link = sftp.from_url(url)
        assert link.peer.method == "ssh-key" and link.peer.mnemonic == "DMV"
        got = [await asyncio.wait_for(link.receive(), 10) for _ in range(2)]
        await link.send(b"REPLY\n")
        await link.close()
        return got

    assert run(go()) == [b"M0", b"M1"]
    assert len(names(root, "outbox")) == 1


def test_link_url_parser_integration(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    url_mod = pytest.importorskip("clets.adapters.url")
    url = url_mod.parse_link_url(sshd.url_text(tmp_path, host_key=sshd.host_pub_line,
                                               known_hosts=""))
    assert "key login ok" in run(sftp.probe(url))


def test_connection_loss_is_link_error_then_reconnects(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    root = tmp_path / "drop"
    drop = make(sshd, root)
    run(drop.prepare())
    fs = drop.fs
    assert isinstance(fs, sftp.SftpFS) and fs._client is not None
    transport = fs._client.get_transport()
    assert transport is not None
    transport.close()  # the server side goes away under us
    with pytest.raises(LinkError):
        fs.listdir("inbox")
    put(root, "after.txt", b"OK\n")
    rec = Recorder()
    run(drop.poll_once(rec))  # next call reconnects
    assert rec.payloads() == [b"OK"]
    fs.close()


def test_paramiko_rejectpolicy_semantics_kept() -> None:
    assert issubclass(sftp._PinnedPolicy, paramiko.MissingHostKeyPolicy)


def test_run_audits_host_key_refusal(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    other = keygen(tmp_path / "other_host")
    ev = Events()
    drop = make(sshd, tmp_path / "drop", ev, known_hosts="", host_key=other, poll="0.01")

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drop.run(Recorder(), stop, max_backoff=0.05))
        for _ in range(500):
            if ev.named("security-refused"):
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    run(go())
    assert "CHANGED" in ev.named("security-refused")[0]["error"]

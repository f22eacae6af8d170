"""File drops (spool here; SFTP shares the drop logic and the ledger) on a real full or
read-only tmpfs: a typed StorageError, one ``storage-failed`` event per outage, nothing taken
is lost, and the drop goes on by itself; under the switch, /healthz names the link."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest

from clets.adapters import ledger as L
from clets.errors import StorageError
from clets.model import dumps
from clets.switch import Switch
from clets.switch.audit import records
from tests._drops import Events, Recorder
from tests._smallfs import small_fs
from tests._sshd import Sshd, sshd  # noqa: F401 - fixture
from tests._switch_kit import Harness, eventually, qw
from tests.test_spool import drop_file, listing, make

pytestmark = [pytest.mark.realpeer, pytest.mark.timeout(120)]


def test_full_disk_under_ledger_and_files_fails_typed_and_recovers(tmp_path: Path) -> None:
    async def main() -> None:
        with small_fs(1 << 20) as fs:
            root = fs.root / "d"
            ev = Events()
            drop = make(root, ev, ledger=str(fs.root / "ledger.sqlite3"), poll="0.05")
            rec = Recorder()
            await drop.poll_once(rec)  # directories and the ledger exist
            drop_file(root, "a.txt", b"A1\nA2\n")
            fs.fill()
            with pytest.raises(StorageError) as failed:
                await drop.poll_once(rec)
            assert failed.value.kind == "full" and failed.value.store == "ledger"
            assert listing(root, "inbox") == ["a.txt"] and rec.got == []
            with pytest.raises(StorageError):
                await drop.write(b"OUT1")
            assert listing(root, "outbox") == []
            # the poller reports the outage once and retries by itself
            stop = asyncio.Event()
            task = asyncio.get_running_loop().create_task(drop.run(rec, stop))
            await eventually(lambda: ev.named("storage-failed"))
            await asyncio.sleep(0.3)
            assert len(ev.named("storage-failed")) == 1 and rec.got == []
            assert ev.named("consumer-failed") == []  # not mistaken for the consumer's fault
            fs.free()
            await eventually(lambda: len(rec.got) == 2 and ev.named("storage-recovered"),
                             timeout=20)
            stop.set()
            await task
            assert rec.payloads() == [b"A1", b"A2"]
            assert await drop.write(b"OUT1")
            assert [r.state for r in drop.ledger.files(drop.drop_id)] == [L.ARCHIVED]
            drop.ledger.close()

    asyncio.run(main())


def test_read_only_spool_is_an_io_storage_error_and_recovers(tmp_path: Path) -> None:
    """A file system that turned read-only (what ext4 does after an I/O error): EROFS."""
    async def main() -> None:
        with small_fs(1 << 20) as fs:
            root = fs.root / "d"
            drop = make(root, Events(), ledger=str(tmp_path / "ledger.sqlite3"))
            rec = Recorder()
            await drop.poll_once(rec)
            drop_file(root, "b.txt", b"B1\n")
            fs.readonly()
            try:
                with pytest.raises(StorageError) as failed:
                    await drop.poll_once(rec)
                assert failed.value.kind == "io" and failed.value.store == "spool"
                with pytest.raises(StorageError):
                    await drop.write(b"OUT")
            finally:
                fs.writable()
            assert await drop.poll_once(rec) == 1 and rec.payloads() == [b"B1"]
            assert await drop.write(b"OUT")
            drop.ledger.close()

    asyncio.run(main())


SPOOL_LINK = """
[[link]]
name = "agency"
url = "spool://{root}?poll=0.05&stable_polls=0{ledger}"
codec = "json"
role = "origin"
peer = "LAPD"
"""


def _spool_harness(tmp: Path, root: Path, journal: Path, ledger: Path | None) -> Harness:
    extra = SPOOL_LINK.format(root=root, ledger=f"&ledger={ledger}" if ledger else "")
    h = Harness(tmp, dests=("WPS",), extra=extra, journal=journal)
    # the spool link is real: the switch opens it from its URL
    h.switch = Switch(h.config, {n: lk for n, lk in h.near.items() if n != "agency"},
                      clock=h.clock, rng=random.Random(7), poll=0.02, send_timeout=2.0)
    return h


def _batch(controls: list[str]) -> bytes:
    return b"".join(dumps(qw(control=c, dob=f"1970-01-{i + 1:02d}")).encode() + b"\n"
                    for i, c in enumerate(controls))


async def _forwarded(h: Harness, n: int) -> set[str]:
    dobs: set[str] = set()
    async with asyncio.timeout(20):
        while len(dobs) < n:
            msg = await h.recv("wps", timeout=20)
            dobs.add(msg.person.dob if msg.person and msg.person.dob else "")
    return dobs


def test_journal_full_under_a_spool_origin_keeps_messages_in_their_file(
        tmp_path: Path) -> None:
    """The drop's file is the sender's only copy: while the journal is full its messages wait
    there (not refused into the outbox, not lost) and go through when space is back."""
    async def main() -> None:
        with small_fs(1 << 20) as fs:
            root = tmp_path / "spool"
            h = _spool_harness(tmp_path, root, fs.root / "journal.db", None)
            async with h:
                await eventually(lambda: (root / "inbox").is_dir())
                fs.fill()
                drop_file(root, "batch.txt", _batch(["S1", "S2", "S3"]))
                await eventually(lambda: not h.switch.health()["ok"], timeout=10)
                await asyncio.sleep(0.3)
                assert listing(root, "outbox") == []  # no .05. refusal written
                assert h.pending("wps") is None
                fs.free()
                await h.advance(0.1)
                dobs = await _forwarded(h, 3)
                assert dobs == {"1970-01-01", "1970-01-02", "1970-01-03"}
                await eventually(lambda: h.switch.health()["ok"])
                await eventually(lambda: listing(root, "inbox") == [] and
                                 listing(root, "processing") == [])
            assert listing(root, "outbox") == []

    asyncio.run(main())


def test_full_spool_disk_under_the_switch_is_on_healthz_and_audited(tmp_path: Path) -> None:
    async def main() -> None:
        with small_fs(1 << 20) as fs:
            root = fs.root / "spool"
            h = _spool_harness(tmp_path, root, tmp_path / "journal.db", None)
            async with h:
                await eventually(lambda: (root / "inbox").is_dir())
                tmp = root / "inbox" / ".batch.tmp"  # a temp name: not taken yet
                tmp.write_bytes(_batch(["F1", "F2"]))
                fs.fill()
                tmp.rename(root / "inbox" / "batch.txt")
                await eventually(lambda: not h.switch.health()["ok"], timeout=10)
                health = h.switch.health()
                assert list(health["failing"]) == ["link agency"], health
                assert health["failing"]["link agency"]["kind"] == "full"
                assert "link agency full since" in health["reason"]
                fs.free()
                dobs = await _forwarded(h, 2)
                assert dobs == {"1970-01-01", "1970-01-02"}
                await eventually(lambda: h.switch.health()["ok"], timeout=20)
                conn = h.switch.journal.conn
                events = [r for r in records(conn) if r["event"] == "storage"]
            assert [(r["link"], r["outcome"]) for r in events] == \
                [("agency", "failed"), ("agency", "recovered")]
            assert "disk full" in events[0]["reason"]
            assert json.loads(json.dumps(health))  # /healthz can serialise it

    asyncio.run(main())


SPOOL_DEST = """
[[link]]
name = "wps"
url = "spool://{root}?poll=0.05&stable_polls=0"
codec = "json"
role = "destination"

[[destination]]
name = "WPS"
link = "wps"
"""


def test_full_spool_destination_keeps_the_forward_past_its_retries(tmp_path: Path) -> None:
    """A forward to a drop whose disk is full is not dead-lettered when its retries run
    out (the disk, not the destination, is the problem): it waits for its time to live and
    is written when space is back."""
    async def main() -> None:
        with small_fs(1 << 20) as fs:
            root = fs.root / "wps"
            h = Harness(tmp_path, dests=(), extra=SPOOL_DEST.format(root=root),
                        journal=tmp_path / "journal.db")
            h.switch = Switch(h.config, {n: lk for n, lk in h.near.items() if n != "wps"},
                              clock=h.clock, rng=random.Random(7), poll=0.02,
                              send_timeout=2.0)
            async with h:
                await eventually(lambda: (root / "outbox").is_dir())
                fs.fill()
                await h.send("lapd", qw(control="W1"))
                assert (await h.recv("lapd")).mke == "ACK"
                # retries = 3: far more attempts than that while the disk is full
                for _ in range(12):
                    await h.advance(10)
                    await asyncio.sleep(0.02)
                rows = h.switch.journal.list_rows(target="WPS")
                assert len(rows) == 1 and rows[0].state == "queued", rows
                assert rows[0].attempts > 4
                told = []
                while (msg := h.pending("lapd")) is not None:
                    told.append(msg.error.code if msg.error else None)
                assert 4 not in told, told  # no .04. WILL NOT FORWARD (.02. is right)
                health = h.switch.health()
                assert list(health["failing"]) == ["link wps"], health
                fs.free()
                for _ in range(50):
                    await h.advance(10)
                    if listing(root, "outbox"):
                        break
                    await asyncio.sleep(0.02)
                (name,) = listing(root, "outbox")
                sent = (root / "outbox" / name).read_bytes()
                assert b'"W1"' not in sent and b'"QW"' in sent  # the switch's control
                await eventually(lambda: h.switch.health()["ok"])

    asyncio.run(main())


def test_sftp_ledger_on_a_full_disk_fails_typed_and_recovers(sshd: Sshd,  # noqa: F811
                                                             tmp_path: Path) -> None:
    """The SFTP drop's ledger is local: on a full disk a claim is a StorageError (the file
    stays on the server), reported once, and goes through when space is back."""
    from tests.test_sftp import make as make_sftp
    from tests.test_sftp import names, put

    async def main() -> None:
        with small_fs(1 << 20) as fs:
            root = tmp_path / "drop"
            ev = Events()
            drop = make_sftp(sshd, root, ev, ledger=str(fs.root / "ledger.sqlite3"),
                             poll="0.05")
            rec = Recorder()
            await drop.poll_once(rec)
            put(root, "q1.txt", b"QW.ONE\nQW.TWO\n")
            fs.fill()
            with pytest.raises(StorageError) as failed:
                await drop.poll_once(rec)
            assert failed.value.store == "ledger" and failed.value.kind == "full"
            assert names(root, "inbox") == ["q1.txt"] and rec.got == []
            stop = asyncio.Event()
            task = asyncio.get_running_loop().create_task(drop.run(rec, stop))
            await eventually(lambda: ev.named("storage-failed"))
            fs.free()
            await eventually(lambda: len(rec.got) == 2 and ev.named("storage-recovered"),
                             timeout=20)
            stop.set()
            await task
            assert rec.payloads() == [b"QW.ONE", b"QW.TWO"]
            assert len(ev.named("storage-failed")) == 1
            assert [r.state for r in drop.ledger.files(drop.drop_id)] == [L.ARCHIVED]
            drop.fs.close()
            drop.ledger.close()

    asyncio.run(main())

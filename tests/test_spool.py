"""The local spool drop, which also exercises the shared drop logic (clets.adapters.drop)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from clets.adapters import ledger as L
from clets.adapters import spool
from clets.adapters.drop import FileDrop, message_id, name_problem
from clets.errors import ConfigError, SecurityError
from tests._drops import Events, Recorder, rdw, sha
from tests._sshd import URL


def make(root: Path, ev: Events | None = None, **params: str) -> FileDrop:
    params.setdefault("stable_polls", "0")
    params.setdefault("ledger", str(root.parent / f"{root.name}-ledger.sqlite3"))
    return spool.open_spool(URL("spool", None, None, str(root), None, params), ev)


def drop_file(root: Path, name: str, data: bytes, inbox: str = "inbox") -> Path:
    (root / inbox).mkdir(parents=True, exist_ok=True)
    path = root / inbox / name
    path.write_bytes(data)
    return path


def listing(root: Path, sub: str) -> list[str]:
    return sorted(os.listdir(root / sub)) if (root / sub).exists() else []


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_happy_path_lines(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root)
    drop_file(root, "a.txt", b"A1\nA2\n")
    drop_file(root, "b.txt", b"B1\r\nB2\r\nB3")
    rec = Recorder()
    assert run(drop.poll_once(rec)) == 2
    assert rec.payloads() == [b"A1", b"A2", b"B1", b"B2", b"B3"]
    assert rec.got[0][0] == sha(b"A1\nA2\n") and [i for _, i, _ in rec.got] == [0, 1, 0, 1, 2]
    assert listing(root, "inbox") == listing(root, "processing") == []
    assert [n.split(".", 1)[1] for n in listing(root, "archive")] == ["a.txt", "b.txt"]
    assert [r.state for r in drop.ledger.files(drop.drop_id)] == [L.ARCHIVED] * 2
    assert message_id(rec.got[0][0], 1) == sha(b"A1\nA2\n") + "/1"
    assert run(drop.poll_once(rec)) == 0 and len(rec.got) == 5


def test_rdw_and_fixed(tmp_path: Path) -> None:
    drop = make(tmp_path / "r", split="rdw")
    drop_file(tmp_path / "r", "m.bin", rdw([b"\xc1\xc2", b"REC2"]))
    rec = Recorder()
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"\xc1\xc2", b"REC2"]
    drop = make(tmp_path / "f", split="fixed:4")
    drop_file(tmp_path / "f", "m.bin", b"AAAABBBB")
    rec = Recorder()
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"AAAA", b"BBBB"]


def test_temp_names_ignored(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root)
    for name in (".a.dat", "b.dat.tmp", "c.part", "d.filepart", "E.DAT.TMP"):
        drop_file(root, name, b"X\n")
    rec, ev = Recorder(), Events()
    drop._hook = ev
    for _ in range(3):
        run(drop.poll_once(rec))
    assert rec.got == [] and listing(root, "inbox") == [".a.dat", "E.DAT.TMP", "b.dat.tmp",
                                                         "c.part", "d.filepart"]
    assert ev.named("refused-name") == []  # temp files are a convention, not an attack
    os.rename(root / "inbox" / "b.dat.tmp", root / "inbox" / "b.dat")  # writer finishes
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"X"]


@pytest.mark.parametrize(("mode", "done"), [("append", "x.dat.done"), ("replace", "x.done")])
def test_done_file_modes(tmp_path: Path, mode: str, done: str) -> None:
    root = tmp_path / "d"
    drop = make(root, done=mode)
    drop_file(root, "x.dat", b"L1\n")
    rec = Recorder()
    run(drop.poll_once(rec))
    run(drop.poll_once(rec))
    assert rec.got == [] and listing(root, "inbox") == ["x.dat"]
    drop_file(root, done, b"")
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"L1"]
    assert listing(root, "inbox") == []  # the done file is consumed with its data file


def test_replace_done_file_kept_while_sibling_waits(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root, done="replace", stable_polls="1")
    drop_file(root, "x.dat", b"D\n")
    drop_file(root, "x.done", b"")
    rec = Recorder()
    run(drop.poll_once(rec))  # x.dat seen once
    drop_file(root, "x.idx", b"I\n")  # new sibling, not yet stable
    run(drop.poll_once(rec))  # x.dat taken; x.done must stay for x.idx
    assert rec.payloads() == [b"D"] and listing(root, "inbox") == ["x.done", "x.idx"]
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"D", b"I"] and listing(root, "inbox") == []


def test_growing_file_taken_only_when_stable(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root, stable_polls="2")
    path = drop_file(root, "big.txt", b"L1\n")
    rec = Recorder()
    for more in (b"L2\n", b"L3\n", b""):  # grows across polls, then stops
        run(drop.poll_once(rec))
        with open(path, "ab") as f:
            f.write(more)
    assert rec.got == []  # last change seen at poll 3: unchanged across 0 polls so far
    run(drop.poll_once(rec))
    assert rec.got == []  # unchanged across 1 poll
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"L1", b"L2", b"L3"]


def test_same_size_rewrite_resets_stability(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root, stable_polls="1")
    path = drop_file(root, "f.txt", b"AAAA\n")
    rec = Recorder()
    run(drop.poll_once(rec))
    path.write_bytes(b"BBBB\n")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # same size, new mtime
    run(drop.poll_once(rec))
    assert rec.got == []
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"BBBB"]


HOSTILE = ["..foo", "a\x01b", "new\nline", "tab\there", "évil.dat", "a..b", "x" * 201, " lead"]


def test_hostile_names_refused_audited_left(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ev = Events()
    drop = make(root, ev)
    for name in HOSTILE:
        drop_file(root, name, b"SECRET\n")
    os.symlink("/etc/passwd", root / "inbox" / "link.dat")
    raw = os.fsencode(str(root / "inbox")) + b"/bad\xff\xfe.dat"
    with open(raw, "wb") as f:
        f.write(b"SECRET\n")
    rec = Recorder()
    run(drop.poll_once(rec))
    run(drop.poll_once(rec))  # audited once per appearance, not once per poll
    assert rec.got == []
    refused = {d["name"]: d["reason"] for d in ev.named("refused-name")}
    expected = [*HOSTILE, "link.dat", os.fsdecode(b"bad\xff\xfe.dat")]
    assert sorted(refused) == sorted(repr(n) for n in expected)
    assert "symbolic link" in refused["'link.dat'"]
    assert len(ev.named("refused-name")) == len(expected)
    assert len(os.listdir(root / "inbox")) == len(expected)  # left in place
    assert listing(root, "processing") == listing(root, "archive") == []


@pytest.mark.parametrize(
    ("name", "why"),
    [("", "empty"), (".", "directory"), ("..", "directory"), ("a/b", "separator"),
     ("../etc/passwd", "separator"), ("a\\b", "separator"), ("a\x00b", "NUL"),
     ("a\x7fb", "control"), ("a\x85b", "control"), ("..foo", "'..'"), ("a.csv..", "'..'"),
     ("x" * 201, "longer"), ("\u0430.dat", "outside"), ("a  b", "outside"), ("a*b", "outside")],
)
def test_name_problem(name: str, why: str) -> None:
    problem = name_problem(name)
    assert problem is not None and why in problem


@pytest.mark.parametrize("name", ["A.DAT", "dmv_2024-01-01.txt", ".hidden.part", "a b.txt",
                                  "x" * 200, "r@host+1,2~#%=.dat"])
def test_name_ok(name: str) -> None:
    assert name_problem(name) is None


def test_split_error_goes_to_error_dir_with_reason(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ev = Events()
    drop = make(root, ev, split="rdw")
    drop_file(root, "bad.bin", rdw([b"OK"]) + b"\x00\x09\x00\x00AB")
    rec = Recorder()
    run(drop.poll_once(rec))
    assert rec.got == []
    [row] = drop.ledger.files(drop.drop_id)
    assert row.state == L.ERRORED and "runs past end" in (row.reason or "")
    assert listing(root, "error") == [row.claimed_name, row.claimed_name + ".reason"]
    reason = (root / "error" / (row.claimed_name + ".reason")).read_text()
    assert "file: bad.bin" in reason and "offset 6" in reason
    assert ev.named("errored")[0]["name"] == "bad.bin"


def test_max_size(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root, max_size="10")
    drop_file(root, "big.txt", b"0123456789A\n")
    run(drop.poll_once(Recorder()))
    [row] = drop.ledger.files(drop.drop_id)
    assert row.state == L.ERRORED and "max_size" in (row.reason or "")


def test_duplicate_file_not_redelivered(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ev = Events()
    drop = make(root, ev)
    rec = Recorder()
    drop_file(root, "a.txt", b"ONE\n")
    run(drop.poll_once(rec))
    drop_file(root, "a.txt", b"ONE\n")
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"ONE"]
    first, second = drop.ledger.files(drop.drop_id)
    assert second.state == L.ARCHIVED and second.duplicate_of == first.id
    assert len(listing(root, "archive")) == 2 and ev.named("duplicate")
    drop_file(root, "a.txt", b"TWO\n")  # same name, new content: a new file
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"ONE", b"TWO"]


def test_consumer_failure_resumes_from_first_unacked(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root)
    drop_file(root, "a.txt", b"M0\nM1\nM2\n")
    rec = Recorder(fail_at=2)
    with pytest.raises(RuntimeError):
        run(drop.poll_once(rec))
    [row] = drop.ledger.active(drop.drop_id)
    assert (row.state, row.acked, row.count) == (L.SPLIT, 2, 3)
    run(drop.poll_once(rec))
    assert [(i, p) for _, i, p in rec.got] == [(0, b"M0"), (1, b"M1"), (2, b"M2")]


def test_outbound_temp_then_rename(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ev = Events()
    drop = make(root, ev, out_prefix="DMV", out_suffix=".req")
    names = [run(drop.write(b"REQ%d\n" % i)) for i in range(3)]
    assert listing(root, "outbox") == sorted(names)
    assert all(n.startswith("DMV") and n.endswith(".req") for n in names)
    assert (root / "outbox" / names[1]).read_bytes() == b"REQ1\n"
    written = ev.named("out-written")[0]
    assert written["name"] == names[0]
    assert [e for e, _ in ev.seen[:4]] == ["out-intent", "out-written", "out-renamed", "out-done"]
    assert run(drop.write(b"X", name="fixed.dat")) == "fixed.dat"
    with pytest.raises(SecurityError):
        run(drop.write(b"X", name="../escape"))
    assert [r.state for r in drop.ledger.outbound(drop.drop_id)] == [L.RENAMED] * 4


def test_link_receive_acks_on_next_receive(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop_file(root, "a.txt", b"M0\nM1\nM2\n")
    params = {"stable_polls": "0", "poll": "0.05", "peer": "DMV1", "oris": "CA0000000,CA0000001"}

    async def first() -> list[tuple[bytes, str | None]]:
        link = spool.from_url(URL("spool", None, None, str(root), None, params))
        assert link.peer.mnemonic == "DMV1" and "CA0000001" in link.peer.allowed_oris
        got = []
        for _ in range(2):
            got.append((await asyncio.wait_for(link.receive(), 5), link.last_message_id))
        await link.close()  # M1 returned but never acknowledged
        return got

    async def second() -> list[tuple[bytes, str | None]]:
        link = spool.from_url(URL("spool", None, None, str(root), None, params))
        got = [(await asyncio.wait_for(link.receive(), 5), link.last_message_id)]
        got.append((await asyncio.wait_for(link.receive(), 5), link.last_message_id))
        await link.send(b"ANSWER")
        await link.close()
        return got

    file_id = sha(b"M0\nM1\nM2\n")
    assert run(first()) == [(b"M0", f"{file_id}/0"), (b"M1", f"{file_id}/1")]
    assert run(second()) == [(b"M1", f"{file_id}/1"), (b"M2", f"{file_id}/2")]
    assert len(listing(root, "outbox")) == 1


def test_orphan_in_processing_returned_to_inbox(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root)
    run(drop.prepare())
    (root / "processing" / "00000042.lost.txt").write_bytes(b"L\n")
    report = run(drop.reconcile())
    assert len(report) == 1 and "orphan" in str(report[0]) and "returned" in str(report[0])
    assert listing(root, "inbox") == ["lost.txt"]
    rec = Recorder()
    run(drop.poll_once(rec))
    assert rec.payloads() == [b"L"]


def test_a_refused_name_in_processing_is_reported_not_moved(tmp_path: Path) -> None:
    """Reconcile left a hostile name in processing/ silently; now it is a finding and an
    event, and it stays where it is."""
    root = tmp_path / "d"
    drop = make(root)
    ev = Events()
    drop._hook = ev
    run(drop.prepare())
    (root / "processing" / "00000043.a..b").write_bytes(b"L\n")
    report = run(drop.reconcile())
    assert len(report) == 1 and "refused name" in str(report[0]), report
    assert [e["directory"] for e in ev.named("refused-name")] == ["processing"]
    assert listing(root, "processing") == ["00000043.a..b"] and listing(root, "inbox") == []


def test_config_errors(tmp_path: Path) -> None:
    for params in ({"stabel_polls": "1"}, {"inbox": "../x"}, {"archive": "inbox"},
                   {"done": "yes"}, {"split": "words"}, {"poll": "-1"}, {"stable_polls": "x"}):
        with pytest.raises(ConfigError):
            make(tmp_path / "d", **params)
    with pytest.raises(ConfigError):
        spool.open_spool(URL("spool", None, None, "relative/dir", None, {}))


def test_probe(tmp_path: Path) -> None:
    root = tmp_path / "d"
    drop = make(root)
    drop_file(root, "a.txt", b"x\n")
    run(drop.prepare())
    text = run(spool.probe(URL("spool", None, None, str(root), None, {})))
    assert text.startswith(f"spool://{root}: ok") and "inbox 1 entries" in text


def test_run_survives_consumer_failure_and_stops(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ev = Events()
    drop = make(root, ev, poll="0.01")
    drop_file(root, "a.txt", b"M0\nM1\n")
    rec = Recorder(fail_at=1)

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(drop.run(rec, stop))
        for _ in range(500):
            if len(rec.got) == 2:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    run(go())
    assert rec.payloads() == [b"M0", b"M1"]
    assert "consumer down" in ev.named("consumer-failed")[0]["error"]


def test_ack_every_groups_ledger_commits(tmp_path: Path) -> None:
    root = tmp_path / "d"
    ev = Events()
    drop = make(root, ev, ack_every="3")
    drop_file(root, "a.txt", b"".join(b"M%d\n" % i for i in range(7)))
    rec = Recorder(fail_at=5)
    with pytest.raises(RuntimeError):
        run(drop.poll_once(rec))
    assert drop.ledger.active(drop.drop_id)[0].acked == 3
    run(drop.poll_once(rec))  # M3, M4 re-delivered (same ids), then the rest
    assert [i for _, i, _ in rec.got] == [0, 1, 2, 3, 4, 3, 4, 5, 6]
    assert [d["index"] for d in ev.named("acked")] == [2, 5, 6]

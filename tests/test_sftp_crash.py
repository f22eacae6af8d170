"""kill -9 at every step boundary of the drop, for SFTP (real sshd) and spool.

A worker process (tests/crash_sftp_worker.py) handles a drop and SIGKILLs itself at one named
step; it is then restarted without the crash.  Checked afterwards, from the consumer's own
durable record and from the directories: every message of every good file was delivered at
least once (with its stable id), at most the one in-flight message twice, every file archived
(or errored) exactly once, nothing left in inbox/processing, no temp files, and the restart's
reconcile report names what it found.  The checker itself is shown to fail on a lossy history.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from clets.adapters import ledger as L
from tests._drops import rdw
from tests._powercut_vfs import after_cut
from tests._sshd import Sshd, sshd  # noqa: F401 - fixture
from tests.conftest import ROOT

GOOD = {
    "a1.bin": rdw([b"A1-0", b"A1-1", b"A1-2"]),
    "c3.bin": rdw([b"C3-0", b"C3-1", b"C3-2"]),
}
BAD = {"b-bad.bin": rdw([b"B-0"]) + b"\x00\x40\x00\x00TRUNC"}
FRAMES = ["OUT-0", "OUT-1", "OUT-2"]

# step -> (occurrence to crash at, text the restart's reconcile report must contain or None)
STEPS = {
    "claim-intent": (1, "claim was interrupted before the rename"),
    "claim-renamed": (2, "claim rename had completed"),
    "claimed": (1, "interrupted at state claimed"),
    "downloaded": (1, "interrupted at state downloaded"),
    "split": (1, "interrupted at state split (0 of 3"),
    "consumed": (2, "interrupted at state split (1 of 3"),
    "delivered": (2, "interrupted at state split (1 of 3"),
    "acked": (2, "interrupted at state split (2 of 3"),
    "archiving": (1, "move to archive was interrupted"),
    "archive-renamed": (1, "move to archive had completed"),
    "archived": (1, None),
    "erroring": (1, "move to error was interrupted"),
    "error-renamed": (1, "move to error had completed"),
    "out-intent": (1, "nothing in outbox"),
    "out-written": (2, "left by a crash"),
    "out-renamed": (1, "outbound rename had completed"),
}
# at these steps the in-flight message is legitimately delivered twice (same id)
REDELIVERS = {"consumed", "delivered"}


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def check_history(delivered: list[tuple[str, int, bytes]]) -> list[str]:
    """Problems in a delivery history: lost, unexpected, and duplicate counts."""
    expected = {}
    for data in GOOD.values():
        for i, rec in enumerate(L_split(data)):
            expected[(sha(data), i)] = rec
    counts = collections.Counter((f, i) for f, i, _ in delivered)
    problems = [f"lost {k}" for k in expected if counts[k] == 0]
    problems += [f"unexpected {k}" for k in counts if k not in expected]
    problems += [f"wrong payload {f}/{i}" for f, i, p in delivered if expected.get((f, i), p) != p]
    dups = sum(c - 1 for c in counts.values())
    if dups:
        problems.append(f"duplicates {dups}")
    return problems


def L_split(data: bytes) -> list[bytes]:
    from clets.adapters.splitter import split

    return split(data, "rdw")


def test_checker_detects_loss_and_duplicates() -> None:
    """Negative control: the checker is able to fail."""
    good = [(sha(d), i, r) for d in GOOD.values() for i, r in enumerate(L_split(d))]
    assert check_history(good) == []
    assert check_history(good[1:]) == [f"lost ({good[0][0]!r}, 0)"]
    assert check_history([*good, good[4]]) == ["duplicates 1"]
    bad_payload = [*good[:-1], (good[-1][0], good[-1][1], b"X")]
    assert check_history(bad_payload) == [f"wrong payload {good[-1][0]}/{good[-1][1]}"]


def run_worker(cfg: dict[str, object]) -> tuple[int, list[dict[str, object]], str]:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.crash_sftp_worker", json.dumps(cfg)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    return proc.returncode, lines, proc.stderr


def make_target(scheme: str, request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    root = tmp_path / "drop"
    (root / "inbox").mkdir(parents=True)
    params = {"split": "rdw", "stable_polls": "0", "ledger": str(tmp_path / "ledger.sqlite3")}
    if scheme == "spool":
        return {"scheme": "spool", "root": str(root), "params": params}
    server: Sshd = request.getfixturevalue("sshd")
    url = server.url(root, **params)
    return {"scheme": "sftp", "host": url.host, "port": url.port, "user": url.user,
            "root": str(root), "params": url.params}


# The step logic is shared; over SFTP, crash at least once around every remote operation
# (rename into processing/archive/error, read, write, temp+rename) to keep the suite fast.
SFTP_STEPS = {"claim-intent", "claim-renamed", "downloaded", "consumed", "archive-renamed",
              "erroring", "out-written", "out-renamed"}


@pytest.mark.realpeer
@pytest.mark.parametrize(
    ("scheme", "step"),
    [("spool", s) for s in STEPS] + [("sftp", s) for s in STEPS if s in SFTP_STEPS],
)
def test_kill9_at_step(
    scheme: str, step: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    target = make_target(scheme, request, tmp_path)
    root = Path(str(target["root"]))
    for name, data in {**GOOD, **BAD}.items():
        (root / "inbox" / name).write_bytes(data)
    nth = STEPS[step][0]
    cfg = {**target, "record_db": str(tmp_path / "consumer.sqlite3"), "frames": FRAMES}

    rc, _, err = run_worker({**cfg, "crash_at": step, "crash_nth": nth})
    assert rc == -signal.SIGKILL, f"worker did not die at {step}: rc={rc}\n{err}"
    check_restart(step, cfg, tmp_path)


def check_restart(step: str, cfg: dict[str, object], tmp_path: Path, *,
                  report_names_step: bool = True) -> None:
    """Restart the worker without a crash; check what the crashed run and it did together
    (``report_names_step``: and that the restart's reconcile report names the step)."""
    expect = STEPS[step][1]
    root = Path(str(cfg["root"]))
    rc, out, err = run_worker(cfg)
    assert rc == 0, err
    report, final = out[0]["report"], out[1]

    # the restart's report names what it found
    if not report_names_step:
        pass
    elif expect is None:
        assert report == []
    else:
        assert any(expect in line for line in report), report
    assert final["again"] == [] and final["integrity"] is True

    # consumer's durable record: all delivered, at most the in-flight one twice
    db = sqlite3.connect(tmp_path / "consumer.sqlite3")
    delivered = [(f, i, bytes(p)) for f, i, p in db.execute("SELECT * FROM delivered")]
    problems = check_history(delivered)
    assert problems == (["duplicates 1"] if step in REDELIVERS else []), problems

    # directories: each file disposed exactly once, nothing left behind
    assert os.listdir(root / "inbox") == [] and os.listdir(root / "processing") == []
    archived = collections.Counter(sha((root / "archive" / n).read_bytes())
                                   for n in os.listdir(root / "archive"))
    assert archived == collections.Counter(sha(d) for d in GOOD.values())
    errors = sorted(os.listdir(root / "error"))
    assert len(errors) == 2 and errors[0].endswith(".b-bad.bin") and errors[1].endswith(".reason")

    # outbound: every frame present, no temp files, a duplicate only where the send was in flight
    outbox = [(root / "outbox" / n).read_bytes().decode() for n in os.listdir(root / "outbox")]
    assert not [n for n in os.listdir(root / "outbox") if n.startswith(".")]
    counts = collections.Counter(outbox)
    assert set(counts) == set(FRAMES)
    assert sum(counts.values()) - len(FRAMES) == (1 if step == "out-renamed" else 0)

    # ledger: every name ended once in a terminal disposition
    led = L.Ledger(tmp_path / "ledger.sqlite3")
    rows = led._db.execute("SELECT name, state FROM files").fetchall()
    final_states = collections.Counter((n, s) for n, s in rows if s != L.RELEASED)
    assert final_states == collections.Counter(
        [(n, L.ARCHIVED) for n in GOOD] + [(n, L.ERRORED) for n in BAD])
    led.close()


# --------------------------------------------------------------------------- power cuts
# Over SFTP the box's durable state is all in SQLite (the ledger, and the consumer's record
# standing in for the switch journal); the files are on the server, which does not lose
# power.  So the power-cut VFS (tests/_powercut_vfs.py) models the whole cut.  The spool's
# files are local directories whose renames the VFS does not model: no power-cut variant.


@pytest.mark.realpeer
@pytest.mark.parametrize("step", sorted(SFTP_STEPS))
def test_power_cut_at_step_sftp(step: str, request: pytest.FixtureRequest,
                                tmp_path: Path) -> None:
    target = make_target("sftp", request, tmp_path)
    root = Path(str(target["root"]))
    for name, data in {**GOOD, **BAD}.items():
        (root / "inbox" / name).write_bytes(data)
    cfg = {**target, "record_db": str(tmp_path / "consumer.sqlite3"), "frames": FRAMES}
    rc, _, err = run_worker({**cfg, "crash_at": step, "crash_nth": STEPS[step][0],
                             "powercut": {"writeback": 0.2, "seed": len(step)}})
    assert rc == -signal.SIGKILL, f"worker did not die at {step}: rc={rc}\n{err}"
    after_cut(tmp_path)  # the reboot: undo directory changes that were not synced
    check_restart(step, cfg, tmp_path)


@pytest.mark.realpeer
@pytest.mark.parametrize("step", ["consumed", "archive-renamed", "out-written"])
def test_power_cut_negative_control_unsynced_ledger_is_caught(
    step: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A ledger whose commits are not synced (``synchronous=OFF``) passes the kill -9 test;
    after a power cut the same checks must fail on what they find (not only on the reconcile
    report's wording): a message delivered twice, a file's disposition lost, a temp file
    left behind."""
    target = make_target("sftp", request, tmp_path)
    root = Path(str(target["root"]))
    for name, data in {**GOOD, **BAD}.items():
        (root / "inbox" / name).write_bytes(data)
    cfg = {**target, "record_db": str(tmp_path / "consumer.sqlite3"), "frames": FRAMES}
    rc, _, err = run_worker({**cfg, "crash_at": step, "crash_nth": STEPS[step][0],
                             "powercut": {"seed": 1}, "ledger_synchronous": "OFF"})
    assert rc == -signal.SIGKILL, err
    after_cut(tmp_path)
    with pytest.raises(AssertionError):
        check_restart(step, cfg, tmp_path, report_names_step=False)

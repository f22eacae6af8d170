"""The tester's walkthrough of docs/testing.md, through real ``clets`` processes only.

capture (the switch writes it, ``examples/adapter-box.toml``) -> scrub -> replay against a
simulator holding the same fakes (exit 0) -> replay against a "build" whose DMV answers differ
in one field (exit 1, and the diff names exactly that field).  Every step is a subprocess of
the CLI a new user types; the only liberty taken is the port numbers (free ones).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from clets.testing.capture import read_capture

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "adapter-box.toml"
CLETS = [sys.executable, "-m", "clets.cli"]
INQUIRIES = [
    "RQ.CA0349999.LIC/7ABC123.LIS/CA",     # plate: DMV registration hit (stolen vehicle)
    "RQ.CA0349999.LIC/8XYZ789.LIS/CA",     # plate: expired registration, fees due
    "DQ.CA0349999.OLN/A1234567.OLS/CA",    # driver licence
]
# The example box suppresses a byte-for-byte repeat within ``dedup_window`` seconds (.30.
# DUPLICATE MESSAGE), and a second replay of the same capture *is* such a repeat: a tester
# replays again once the window has passed (docs/testing.md).
DEDUP_WINDOW = float(tomllib.loads(EXAMPLE.read_text("utf-8"))["switch"]["dedup_window"])
CHANGE = ('s/"vehicle": "V0001", "expires": "2026-02-14"/'
          '"vehicle": "V0001", "expires": "2027-02-14"/')


def after_dedup_window(since: float) -> None:
    """Wait until the requests replayed at ``since`` (monotonic) are no longer duplicates."""
    time.sleep(max(0.0, since + DEDUP_WINDOW + 0.5 - time.monotonic()))


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base() -> int:
    """A port base with base..base+9 (sim), base+20 (agency) and base+21 (metrics) free."""
    rng = secrets.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20000, 60000, 50)
        if all(_bindable(base + k) for k in (*range(10), 20, 21)):
            return base
    raise RuntimeError("no free port block")


def example_config(tmp: Path, base: int) -> Path:
    """examples/adapter-box.toml with 74NN ports moved to base+NN."""
    text = EXAMPLE.read_text("utf-8")
    text = re.sub(r"127\.0\.0\.1:74(\d\d)", lambda m: f"127.0.0.1:{base + int(m.group(1))}",
                  text)
    path = tmp / "adapter-box.toml"
    path.write_text(text, "utf-8")
    return path


class Procs:
    """Background ``clets`` processes of the walkthrough, stopped by pid."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        with (self.cwd / log).open("ab") as fh:
            p = subprocess.Popen([*CLETS, *args], cwd=self.cwd, stdout=fh,
                                 stderr=subprocess.STDOUT, env=_env())
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes]) -> int:
        """SIGTERM, then wait (SIGKILL after 15 s); the exit status."""
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait(timeout=5)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def clets(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLETS, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env=_env())


def wait_for(cond: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def healthz(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            data: dict[str, Any] = json.loads(r.read())
            return data
    except urllib.error.HTTPError as exc:  # 503 while starting: still JSON
        data = json.loads(exc.read())
        return data
    except OSError:
        return None


def connectable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[tuple[Path, int, Procs]]:
    procs = Procs(tmp_path)
    try:
        yield tmp_path, free_base(), procs
    finally:
        procs.stop_all()


def test_capture_scrub_replay_and_a_one_field_regression(walk: tuple[Path, int, Procs]
                                                         ) -> None:
    tmp, base, procs = walk
    config = example_config(tmp, base)
    agency = f"tcp://127.0.0.1:{base + 20}?framing=len2&plain=1"
    metrics = base + 21

    def all_links_up() -> bool:
        h = healthz(metrics)
        return bool(h and h.get("ok") and h.get("down") == [])

    def start_sim(*extra: str) -> subprocess.Popen[bytes]:
        p = procs.start("sim", "--port-base", str(base), *extra, log="sim.log")
        wait_for(lambda: connectable(base) and connectable(base + 9), "the simulator")
        return p

    # the example config is valid as shipped
    check = clets(ROOT, "check-config", str(EXAMPLE))
    assert check.returncode == 0 and check.stdout.startswith("ok"), check.stdout + check.stderr

    # 1. back-ends and switch
    sim = start_sim()
    switch = procs.start("run", config.name, log="switch.log")
    wait_for(all_links_up, "the switch with every back-end connected")

    # 2. the agency's inquiries (each answered by the DMV alone: one reply each)
    for text in INQUIRIES:
        r = clets(tmp, "link", "test", agency, "--send", text)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "reply (" in r.stdout and "NO RECORD" not in r.stdout, r.stdout

    # 3. stop the switch: the capture is complete and closed
    assert procs.stop(switch) == 0
    captured = read_capture(tmp / "var" / "captures" / "agency.jsonl")
    assert [e.raw for e in captured.frames("agency", "in")] == [t.encode() for t in INQUIRIES]
    outs = captured.frames("agency", "out")
    assert len(outs) == 3 and all(e.message is not None for e in outs)
    assert b"REX/20260214" in (outs[0].raw or b"")

    # 4. scrub with a key
    (tmp / "scrub.key").write_bytes(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    r = clets(tmp, "scrub", "var/captures/agency.jsonl", "-o", "agency.scrubbed.jsonl",
              "--key-file", "scrub.key", "--report", "scrub-report.txt")
    assert r.returncode == 0, r.stderr
    scrubbed = (tmp / "agency.scrubbed.jsonl").read_text()
    assert "7ABC123" not in scrubbed and "GARCIA" not in scrubbed and "A1234567" not in scrubbed
    assert "vehicle.plate: 2" in (tmp / "scrub-report.txt").read_text()

    # 5. the simulator with the same fakes, the switch again: replay matches (exit 0)
    assert procs.stop(sim) == 0
    sim = start_sim("--scrub-key", "scrub.key")
    switch = procs.start("run", config.name, log="switch.log")
    wait_for(all_links_up, "the switch again")
    r = clets(tmp, "replay", "agency.scrubbed.jsonl", "--to", f"tcp://127.0.0.1:{base + 20}",
              "--junit", "replay.xml")
    replayed = time.monotonic()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "RESULT: all answers match" in r.stdout
    suite = ET.parse(tmp / "replay.xml").getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "0"

    # 6. a "build" whose DMV answers differ in one field: replay fails and names it
    r = clets(tmp, "sim", "--export-dataset", "dataset.json")
    assert r.returncode == 0, r.stderr
    with (tmp / "changed.json").open("wb") as out:
        subprocess.run(["sed", CHANGE, "dataset.json"], cwd=tmp, stdout=out, check=True,
                       timeout=10)
    before = (tmp / "dataset.json").read_text().splitlines()
    after = (tmp / "changed.json").read_text().splitlines()
    assert len(before) == len(after)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert procs.stop(sim) == 0
    wait_for(lambda: (h := healthz(metrics)) and "dmv" in h.get("down", []),
             "the switch to see the simulator go")
    sim = start_sim("--dataset", "changed.json", "--scrub-key", "scrub.key")
    wait_for(all_links_up, "the switch to reconnect")
    after_dedup_window(replayed)
    r = clets(tmp, "replay", "agency.scrubbed.jsonl", "--to", f"tcp://127.0.0.1:{base + 20}",
              "--junit", "changed.xml")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "RESULT: DIFFERENCES FOUND" in r.stdout
    field_lines = [ln.strip() for ln in r.stdout.splitlines()
                   if re.match(r"^ {4}\S.*: .* -> ", ln)]
    assert field_lines == ['records[0].registration.expires: "2026-02-14" -> "2027-02-14"'], \
        r.stdout
    assert "#1 RQ: DIFFERENT" in r.stdout and "#2 RQ: DIFFERENT" not in r.stdout
    suite = ET.parse(tmp / "changed.xml").getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    failures = suite.findall(".//failure")
    assert len(failures) == 1
    assert "records[0].registration.expires" in (failures[0].text or "")
    assert procs.stop(procs.procs[-1]) == 0  # the sim
    for p in procs.procs:
        if p.poll() is None:
            assert procs.stop(p) == 0


def test_sim_scrub_key_env_and_export_match_the_library(tmp_path: Path) -> None:
    """``clets sim --export-dataset`` with ``--scrub-key-env`` writes exactly the data set that
    :func:`clets.testing.scrub.scrubbed_dataset` gives for that key; bad keys exit 2."""
    from clets.testing.scrub import scrubbed_dataset

    key = base64.b64encode(secrets.token_bytes(32))
    env = {**_env(), "WALK_KEY": key.decode()}
    r = subprocess.run([*CLETS, "sim", "--scrub-key-env", "WALK_KEY", "--export-dataset",
                        "scrubbed.json"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "scrubbed.json").read_text() == scrubbed_dataset(key).to_json_text()
    rows = json.loads((tmp_path / "scrubbed.json").read_text())
    assert "7ABC123" not in {v["plate"] for v in rows["vehicles"]}  # "well_known" is fixed text
    (tmp_path / "short.key").write_text("too short\n")
    for args in (["--scrub-key", "short.key"], ["--scrub-key-env", "NOT_SET_ANYWHERE"],
                 ["--scrub-key", "short.key", "--scrub-key-env", "WALK_KEY"]):
        r = subprocess.run([*CLETS, "sim", *args, "--export-dataset", "x.json"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=60, env=env)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert not (tmp_path / "x.json").exists()


def test_the_demos_teletype_capture_replays_against_the_adapter_box(
        walk: tuple[Path, int, Procs]) -> None:
    """``clets demo --capture`` records the demo's traffic; its teletype session (serial,
    stx-etx+lrc) replays over TCP against the example box in front of the simulator: no
    differences, then exactly one against a build whose DMV answers differ in one field."""
    tmp, base, procs = walk
    demo = clets(tmp, "demo", "--quiet", "--capture", "caps")
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr
    tty = read_capture(tmp / "caps" / "tty.jsonl")
    assert tty.frames("tty", "in") and tty.frames("tty", "out")

    config = example_config(tmp, base)
    metrics = base + 21
    to = f"tcp://127.0.0.1:{base + 20}?framing=len2&plain=1"

    def all_links_up() -> bool:
        h = healthz(metrics)
        return bool(h and h.get("ok") and h.get("down") == [])

    def start_sim(*extra: str) -> subprocess.Popen[bytes]:
        p = procs.start("sim", "--port-base", str(base), *extra, log="sim.log")
        wait_for(lambda: connectable(base) and connectable(base + 9), "the simulator")
        return p

    sim = start_sim()
    procs.start("run", config.name, log="switch.log")
    wait_for(all_links_up, "the switch with every back-end connected")
    r = clets(tmp, "replay", "caps/tty.jsonl", "--to", to)
    assert r.returncode == 0, r.stdout + r.stderr
    replayed = time.monotonic()
    assert "RESULT: all answers match" in r.stdout

    assert clets(tmp, "sim", "--export-dataset", "dataset.json").returncode == 0
    with (tmp / "changed.json").open("wb") as out:
        subprocess.run(["sed", CHANGE, "dataset.json"], cwd=tmp, stdout=out, check=True,
                       timeout=10)
    assert procs.stop(sim) == 0
    wait_for(lambda: (h := healthz(metrics)) and "dmv" in h.get("down", []),
             "the switch to see the simulator go")
    start_sim("--dataset", "changed.json")
    wait_for(all_links_up, "the switch to reconnect")
    after_dedup_window(replayed)
    r = clets(tmp, "replay", "caps/tty.jsonl", "--to", to)
    assert r.returncode == 1, r.stdout + r.stderr
    field_lines = [ln.strip() for ln in r.stdout.splitlines()
                   if re.match(r"^ {4}\S.*: .* -> ", ln)]
    assert field_lines == ['records[0].registration.expires: "2026-02-14" -> "2027-02-14"'], \
        r.stdout

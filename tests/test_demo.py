"""``clets demo``: the embedded network runs the whole scenario and checks itself.

The demo is a real run (sims on loopback, a pty pair, mutual TLS, a spool directory, the
journal on disk), so these tests are end-to-end.  The negative control makes one back-end
answer every request with an error and shows the demo then fails, naming the step.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clets.cli import cli
from clets.demo import network as demo_network
from clets.switch import audit as audit_mod

pytestmark = pytest.mark.timeout(120)

#: lines the transcript must contain, per step (the key facts of docs/sim.md's records)
KEY_LINES = [
    r"== step 1: plate check",
    r"-> TERM1  QV\.CA0349999\.LIC/7ABC123\.LIS/CA",
    r"<- SVS +\d+ ms  HIT stolen vehicle 7ABC123 CA NIC V123456789",
    r"<- NCIC +\d+ ms  HIT stolen vehicle 7ABC123 CA NIC V123456789",
    r"<- DMV +\d+ ms  registration 7ABC123 CA 2019 HOND ACC owner JOHNSON, ROBERT T .*STOLEN",
    r"switch -> DMV RGQ1 record 80 B cp037: d9 c7 d8 f1",
    r"== step 2: warrant check",
    r"<- SWITCH +\d+ ms  ACK ACCEPTED MSN \d{10}",
    r"<- WPS +\d+ ms  HIT wanted SMITH, JOHN J DOB 1975-10-12 NIC W123456789 .*CAUTION",
    r"<- NCIC +\d+ ms  HIT wanted SMITH, JOHN J .*HIT protection order .*FCN 0342024001234",
    r"<- CARPOS +\d+ ms  HIT protection order against SMITH, JOHN J FCN 0342024001234",
    r"== step 3: driver licence",
    r"<- DMV +\d+ ms  licence A1234567 GARCIA, MARIA L .*status VA",
    r"== step 4: DMV outage",
    r"DMV simulator taken DOWN",
    r"<- SWITCH +\d+ ms  \.02\. DMV NOT RESPONDING, WILL FORWARD",
    r"DMV simulator back UP",
    r"<- DMV +\d+ ms  LATE registration 8XYZ789 .*fees 123\.45",
    r"== step 5: malformed query",
    r"<- SWITCH +\d+ ms  \.21\. INVALID FIELD DOB",
    r"== step 6: RMS batch",
    r"<- CCH +\d+ ms  criminal history SMITH, JOHN J .*3 arrest cycles.*-> outbox/clets-",
    r"<- NLETS +\d+ ms  registration ABC1234 NV .*OLSEN.*-> outbox/clets-",
    r"== step 7: hit confirmation",
    r"<- NLETS +\d+ ms  HIT wanted SMITH, JOHN J .*NIC W123456789",
    r"audit hit_confirmation for W123456789: clock_started, requested, confirmed",
    r"== step 8: body-worn-camera platform on the HTTP API",
    r"-> BWC +POST /v1/token \(client credentials over HTTPS\): a bearer token",
    r"-> BWC +POST /v1/messages QW control BWC0008 operator OFC-4711: 202, msn \d+, "
    r"to WPS, NCIC, CARPOS",
    r"<- WPS +\d+ ms  HIT wanted SMITH, JOHN J .*\(event \d+ on GET /v1/events\)",
    r"<- NCIC +\d+ ms  HIT wanted SMITH, JOHN J .*HIT protection order .*\(event \d+ on GET",
    r"<- CARPOS +\d+ ms  HIT protection order .*\(event \d+ on GET /v1/events\)",
    r"reconnected with Last-Event-ID \d+: events \d+, \d+ replayed from the journal, none "
    r"twice",
    r"audit +ok: \d+ records, chain intact",
    r"queues +empty",
    r"steps +8 of 8 passed",
    r"^demo: OK$",
]


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's work directory goes under tmp_path, so cleanup can be checked."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_demo_runs_every_step_and_keeps_its_work_dir_on_request(own_tmp: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--keep"])
    out = result.output
    assert result.exit_code == 0, out
    for pattern in KEY_LINES:
        assert re.search(pattern, out, re.M), f"missing {pattern!r} in:\n{out}"
    for n in range(1, 9):
        assert f"step {n}: ok" in out
    assert "FAILED" not in out
    (work,) = own_tmp.glob("clets-demo-*")
    assert (work / "switch.toml").is_file()
    assert list((work / "rms-drop" / "archive").iterdir())
    conn = sqlite3.connect(work / "journal.db")
    try:
        verdict = audit_mod.verify(conn)
        events = {r["event"] for r in audit_mod.records(conn)}
    finally:
        conn.close()
    assert verdict.ok, verdict
    assert {"received", "journaled", "forwarded", "responded", "delivered", "timeout",
            "rejected", "stopped"} <= events


def test_demo_fails_naming_the_step_when_an_answer_is_wrong(
        own_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = demo_network.DemoNetwork.start

    async def broken_wps(self: Any) -> None:
        await start(self)
        self.sim.set_faults("WPS", error_rate=1.0)  # every WPS answer is a .22. error

    monkeypatch.setattr(demo_network.DemoNetwork, "start", broken_wps)
    result = CliRunner().invoke(cli, ["demo", "--quiet"])
    out = result.output
    assert result.exit_code == 1, out
    assert re.search(r"STEP 2 FAILED: WPS: expected wanted hit .* got \.22\.", out), out
    assert "step 1: ok" in out and "step 3: ok" in out  # the others still pass
    assert "STEP 6 FAILED" in out  # the batch's QW also went to WPS
    assert out.rstrip().endswith("demo: FAILED")
    assert not list(own_tmp.glob("clets-demo-*"))  # work directory removed


def test_codec_tour_runs_every_step_and_exits_0() -> None:
    """README points new users at ``clets demo --codecs``: every step must succeed."""
    result = CliRunner().invoke(cli, ["demo", "--codecs"])
    assert "FAILED" not in result.output, result.output
    assert result.exit_code == 0, result.output
    # the Nlets copy carries the destination ncic text has no field for
    assert "QV.CA0349999.NV.TXT" in result.output
    assert "rejected:" in result.output and "DOB" in result.output

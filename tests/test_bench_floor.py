"""``bench/journal_floor.py`` does the journal work it claims: per inquiry a message, three
forwards answered, three deliveries done and 11 audit records in an intact chain (a floor that
skipped work would understate the switch's cost)."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

from clets.switch import audit

BENCH = Path(__file__).resolve().parents[1] / "bench" / "journal_floor.py"


def _floor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("journal_floor", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["journal_floor"] = module
    spec.loader.exec_module(module)
    return module


def test_one_round_is_the_switchs_journal_work(tmp_path: Path) -> None:
    floor = _floor()
    frames = [floor.request(i) for i in range(4)]
    replies = floor.answers(frames[0])
    assert len(replies) == 3
    run, journal = floor.journal_work(tmp_path / "j.db", 5, True, frames, replies)
    run()
    run()
    journal.close()
    conn = sqlite3.connect(tmp_path / "j.db")
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 10
    states = dict(conn.execute("SELECT kind || ':' || state, COUNT(*) FROM outbound "
                               "GROUP BY 1").fetchall())
    assert states == {"forward:done": 30, "deliver:done": 30}
    assert conn.execute("SELECT MIN(responses), MAX(attempts) FROM outbound WHERE "
                        "kind = 'forward'").fetchone() == (1, 1)
    events = dict(conn.execute("SELECT event, COUNT(*) FROM audit GROUP BY 1").fetchall())
    assert events == {"received": 10, "journaled": 10, "forwarded": 30, "responded": 30,
                      "delivered": 30}
    assert audit.verify(conn).ok


def test_without_audit_it_writes_no_records(tmp_path: Path) -> None:
    floor = _floor()
    frames = [floor.request(i) for i in range(4)]
    run, journal = floor.journal_work(tmp_path / "j.db", 3, False, frames,
                                      floor.answers(frames[0]))
    run()
    journal.close()
    conn = sqlite3.connect(tmp_path / "j.db")
    assert conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM outbound WHERE state = 'done'").fetchone()[0] == 18


def test_codec_work_and_the_report(capsys: object) -> None:
    floor = _floor()
    assert floor.main(["journal_floor", "--n", "64", "--batch", "8", "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)  # type: ignore[attr-defined]
    assert out["n"] == 64 and out["budget_ms"] == 0.65
    assert out["codecs_ms"] > 0 and out["journal_audit_ms"] > 0
    assert abs(out["floor_ms"] - out["codecs_ms"] - out["journal_audit_ms"]) < 0.001


def test_one_round_on_the_log_journal_is_the_same_work(tmp_path: Path) -> None:
    from clets.switch import logformat

    floor = _floor()
    frames = [floor.request(i) for i in range(4)]
    run, journal = floor.journal_work(tmp_path / "j.db", 5, True, frames,
                                      floor.answers(frames[0]), "log")
    run()
    run()
    journal.close()
    conn = sqlite3.connect(tmp_path / "j.db")
    recs = [r for _p, b in logformat.read_blocks(conn) for r in logformat.decode(b)[1]]
    assert sum(1 for r in recs if r[0] == "m") == 10
    last: dict[int, list[object]] = {}
    for r in recs:
        if r[0] == "o":
            last[r[1][0]] = r[1]
    states: dict[str, int] = {}
    for v in last.values():
        k = f"{v[2]}:{v[8]}"
        states[k] = states.get(k, 0) + 1
    assert states == {"forward:done": 30, "deliver:done": 30}
    events: dict[str, int] = {}
    for rec in audit.records(conn):
        events[rec["event"]] = events.get(rec["event"], 0) + 1
    assert events == {"received": 10, "journaled": 10, "forwarded": 30, "responded": 30,
                      "delivered": 30}
    assert audit.verify(conn).ok

"""The audit hash chain: verify names the first broken record after any tampering."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from clets.cli import cli
from clets.switch import audit
from clets.switch.audit import AuditEvent, format_ts, make_record, record_hash
from clets.switch.journal import Journal

pytestmark = pytest.mark.timeout(30)


def _journal(tmp_path: Path, n: int = 10) -> Path:
    path = tmp_path / "a.db"
    j = Journal(path)
    for i in range(n):
        with j.tx():
            j.audit(AuditEvent.for_payload("received", f"payload {i}".encode(), msn=i + 1,
                                           link="lapd", peer="LAPD", origin="CA0194200",
                                           mke="QW", outcome="ok"), 1_750_000_000 + i * 0.37)
    j.close()
    return path


def _verify(path: Path) -> audit.VerifyResult:
    conn = sqlite3.connect(path)
    try:
        return audit.verify(conn)
    finally:
        conn.close()


def _exec(path: Path, *sql: tuple[str, tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for stmt, args in sql:
        conn.execute(stmt, args)
    conn.close()


def test_intact_chain_verifies(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    res = _verify(path)
    assert res.ok and res.count == 10


def test_record_format(tmp_path: Path) -> None:
    path = _journal(tmp_path, 2)
    conn = sqlite3.connect(path)
    rec = audit.records(conn)[1]
    conn.close()
    assert rec["ts"] == "2025-06-15T15:06:40.37Z"  # UTC, hundredths
    assert rec["sha256"] == __import__("hashlib").sha256(b"payload 1").hexdigest()
    assert rec["bytes"] == 9 and rec["seq"] == 2 and len(rec["prev"]) == 64
    assert "payload" not in json.dumps(rec).replace('"sha256"', "")


def test_edit_is_detected_at_the_edited_record(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    _exec(path, ("UPDATE audit SET origin = 'CA0999999' WHERE seq = 4", ()))
    res = _verify(path)
    assert not res.ok and res.broken_seq == 4 and "edited" in res.reason


def test_deletion_is_detected_at_the_next_record(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    _exec(path, ("DELETE FROM audit WHERE seq = 6", ()))
    res = _verify(path)
    assert not res.ok and res.broken_seq == 7 and "missing" in res.reason


def test_deleting_the_tail_is_detected_by_the_head(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    _exec(path, ("DELETE FROM audit WHERE seq >= 9", ()))
    res = _verify(path)
    assert not res.ok and res.broken_seq == 9 and "missing" in res.reason


def test_insertion_is_detected(tmp_path: Path) -> None:
    """A forged record slotted in after seq 5 with a correct-looking hash of its own."""
    path = _journal(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    prev = conn.execute("SELECT hash FROM audit WHERE seq = 5").fetchone()[0]
    for seq in range(10, 5, -1):
        conn.execute("UPDATE audit SET seq = seq + 1 WHERE seq = ?", (seq,))
    forged = {k: None for k in audit.AUDIT_FIELDS}
    forged.update(seq=6, ts="2025-06-15T15:06:42.00Z", event="received", prev=prev,
                  outcome="ok")
    forged["hash"] = audit.record_hash(forged)
    cols = list(forged)
    conn.execute(f"INSERT INTO audit ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                 [forged[c] for c in cols])
    conn.close()
    res = _verify(path)
    assert not res.ok and res.broken_seq == 7  # the first original record after the forgery


def test_insertion_at_the_end_is_detected_by_the_head(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    prev = conn.execute("SELECT hash FROM audit WHERE seq = 10").fetchone()[0]
    forged = {k: None for k in audit.AUDIT_FIELDS}
    forged.update(seq=11, ts="2025-06-15T15:06:42.00Z", event="received", prev=prev)
    forged["hash"] = audit.record_hash(forged)
    cols = list(forged)
    conn.execute(f"INSERT INTO audit ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                 [forged[c] for c in cols])
    conn.close()
    res = _verify(path)
    assert not res.ok and res.broken_seq == 11


def test_reordering_is_detected_at_the_first_moved_record(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    cols = [c for c in (*audit.AUDIT_FIELDS, "hash") if c != "seq"]
    r3 = conn.execute(f"SELECT {', '.join(cols)} FROM audit WHERE seq = 3").fetchone()
    r4 = conn.execute(f"SELECT {', '.join(cols)} FROM audit WHERE seq = 4").fetchone()
    sets = ", ".join(f"{c} = ?" for c in cols)
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = 3", (*r4,))
    conn.execute(f"UPDATE audit SET {sets} WHERE seq = 4", (*r3,))
    conn.close()
    res = _verify(path)
    assert not res.ok and res.broken_seq == 3


def test_random_tampering_is_always_detected(tmp_path: Path) -> None:
    rnd = random.Random(5)
    base = _journal(tmp_path, 30).read_bytes()
    fields = ["ts", "event", "msn", "origin", "mke", "outcome", "bytes", "sha256", "prev"]
    for i in range(60):
        path = tmp_path / f"t{i}.db"
        path.write_bytes(base)
        seq = rnd.randint(1, 30)
        field = rnd.choice(fields)
        _exec(path, (f"UPDATE audit SET {field} = ? WHERE seq = ?", ("X", seq)))
        res = _verify(path)
        assert not res.ok and res.broken_seq == seq, (field, seq, res)


def test_cli_verify_export_and_tail(tmp_path: Path) -> None:
    path = _journal(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(cli, ["audit", "verify", "--journal", str(path)])
    assert ok.exit_code == 0 and ok.output.startswith("ok: 10 records")
    tail = runner.invoke(cli, ["audit", "tail", "--journal", str(path), "-n", "3"])
    lines = [json.loads(x) for x in tail.output.splitlines()]
    assert [r["seq"] for r in lines] == [8, 9, 10]
    full = runner.invoke(cli, ["audit", "tail", "--journal", str(path), "-n", "100"])
    export = tmp_path / "export.jsonl"
    export.write_text(full.output)
    assert runner.invoke(cli, ["audit", "verify", "--file", str(export)]).exit_code == 0
    rows = full.output.splitlines()
    rows[2], rows[3] = rows[3], rows[2]
    export.write_text("\n".join(rows))
    bad = runner.invoke(cli, ["audit", "verify", "--file", str(export)])
    assert bad.exit_code == 1 and "seq 4" in bad.output
    _exec(path, ("UPDATE audit SET mke = 'QV' WHERE seq = 2", ()))
    bad = runner.invoke(cli, ["audit", "verify", "--journal", str(path)])
    assert bad.exit_code == 1 and "BROKEN at record seq 2" in bad.output


def test_control_characters_stay_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "inj.db"
    j = Journal(path)
    with j.tx():
        j.audit(AuditEvent("rejected", reason='FAKE\n{"event":"ok"}\x1b[31m' + "A" * 500),
                1_750_000_000)
    lines = list(audit.export_jsonl(j.conn))
    j.close()
    assert len(lines) == 1 and "\n" not in lines[0]
    rec = json.loads(lines[0])
    assert len(rec["reason"]) == audit.MAX_FIELD and "\\n" in rec["reason"]
    assert _verify(path).ok


_texts = st.none() | st.text(max_size=250)


@given(event=st.text(min_size=1, max_size=20), msn=st.none() | st.integers(0, 2**40),
       texts=st.lists(_texts, min_size=8, max_size=8), code=st.none() | st.integers(0, 99),
       size=st.none() | st.integers(0, 10**6), now=st.floats(0, 4e9))
def test_record_hash_is_the_sha256_of_the_sorted_canonical_json(event: str, msn: int | None,
                                                        texts: list[str | None],
                                                        code: int | None, size: int | None,
                                                        now: float) -> None:
    """The record hash is SHA-256 of the record's canonical JSON -- sorted keys, no spaces,
    ASCII -- which ``record_hash`` writes without a sorting encoder: the same text as
    ``json.dumps(..., sort_keys=True)`` for any field values (else old trails stop verifying)."""
    link, peer, operator, origin, destination, mke, outcome, reason = texts
    ev = AuditEvent(event, msn=msn, link=link, peer=peer, operator=operator, origin=origin,
                    destination=destination, mke=mke, outcome=outcome, error_code=code,
                    reason=reason, bytes=size, sha256=None)
    rec = make_record(ev, now, (41, "f" * 64))
    assert rec["seq"] == 42 and rec["prev"] == "f" * 64 and rec["ts"] == format_ts(now)
    canonical = json.dumps({k: rec[k] for k in audit.AUDIT_FIELDS}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True)
    assert rec["hash"] == record_hash(rec) == hashlib.sha256(canonical.encode()).hexdigest()
    assert all(v is None or isinstance(v, int) or (len(v) <= 200 and v.isprintable())
               for v in rec.values())


_any_value = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
              | st.sampled_from(["", "é", "\x00", "\u2028", "CA0194200", '"\\']))


def _reference_hash(rec: dict[str, object]) -> str:
    """The record hash as trails have always been hashed: ``json.dumps`` with sorted keys."""
    body = {k: rec.get(k) for k in audit.AUDIT_FIELDS}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=True).encode()).hexdigest()


@given(st.fixed_dictionaries({k: _any_value for k in audit.AUDIT_FIELDS}))
def test_record_hash_of_any_values_is_the_reference(rec: dict[str, object]) -> None:
    """msgspec writes the hashed text when the values allow and the format string otherwise
    (floats, bools, non-ASCII): either way the hash is ``json.dumps``'s, so a trail written
    before msgspec, or holding values of an unexpected type, verifies as it did."""
    assert record_hash(rec) == _reference_hash(rec)


@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.none() | st.integers(0, 2**40),
                          st.none() | st.text(max_size=40)), min_size=1, max_size=20))
def test_a_chain_hashed_by_the_reference_verifies(events: list[tuple[str, int | None,
                                                                      str | None]]) -> None:
    """A chain whose hashes were made the old way (``json.dumps``) verifies, and make_row
    gives the same hashes for the same events."""
    rows, prev = [], audit.GENESIS
    for seq, (event, msn, reason) in enumerate(events, 1):
        made = dict(zip((*audit.AUDIT_FIELDS, "hash"), audit.make_row(
            AuditEvent(event, msn=msn, reason=reason), seq, format_ts(1.75e9 + seq), prev),
            strict=True))
        assert made["hash"] == _reference_hash(made)
        rows.append(made)
        prev = str(made["hash"])
    assert audit.verify_rows(rows, (len(rows), prev)).ok

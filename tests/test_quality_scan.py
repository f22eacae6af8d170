"""``clets quality scan``: flags, duplicate clusters and a self-contained HTML report from
CSV or JSON lines; the index commands rebuild the index and load a sealed list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from clets.quality.index import QualityIndex

CLETS = [sys.executable, "-m", "clets.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLETS, *args], capture_output=True, text=True, check=False)


def test_scan_a_generated_file(tmp_path: Path) -> None:
    pop, labels, sealed = tmp_path / "pop.jsonl", tmp_path / "labels.jsonl", tmp_path / "s.txt"
    done = run("quality", "generate", str(pop), "--size", "3000", "--seed", "9",
               "--labels", str(labels), "--sealed", str(sealed))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    done = run("quality", "scan", str(pop), "--out", str(out), "--sealed", str(sealed),
               "--today", "2026-12-03")
    assert done.returncode == 0, done.stderr
    flags = {json.loads(line)["id"]: json.loads(line)["flags"]
             for line in (out / "flags.jsonl").read_text().splitlines()}
    truth = [json.loads(line) for line in labels.read_text().splitlines()]
    dups = [t["id"] for t in truth if "duplicate" in t["errors"]]
    found = sum(any(f["check"] == "duplicate_entry" for f in flags.get(d, [])) for d in dups)
    assert found / len(dups) >= 0.85
    sealed_ids = [t["id"] for t in truth if "sealed" in t["errors"]]
    assert all(any(f["check"] == "sealed_record" for f in flags.get(s, []))
               for s in sealed_ids)
    clean = [t["id"] for t in truth if not t["errors"] and not t["variations"]]
    assert sum(t in flags for t in clean) / len(clean) <= 0.02
    report = (out / "report.html").read_text()
    assert "<svg" in report and "duplicate clusters" in report and "<script" not in report
    assert (out / "clusters.jsonl").read_text().count("\n") > 50


def test_scan_csv(tmp_path: Path) -> None:
    f = tmp_path / "file.csv"
    f.write_text("id,mke,last,first,dob,sex,ssn,plate,plate_state,vin\n"
                 "1,EW,SMITH,JOHN,1980-01-02,M,666123456,,,\n"
                 "2,EW,JOHNSON,MARY,2030-01-01,F,,NONE,CA,\n")
    done = run("quality", "scan", str(f), "--out", str(tmp_path / "o"), "--today",
               "2026-12-03")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in (tmp_path / "o" / "flags.jsonl").read_text().splitlines()]
    checks = {x["id"]: {f["check"] for f in x["flags"]} for x in lines}
    assert checks == {"1": {"ssn_invalid"}, "2": {"dob_future", "plate_format"}}
    bad = tmp_path / "bad.csv"
    bad.write_text("id,surname\n1,X\n")
    done = run("quality", "scan", str(bad))
    assert done.returncode == 2 and "surname" in done.stderr


def test_index_rebuild_and_sealed(tmp_path: Path) -> None:
    pop = tmp_path / "pop.jsonl"
    run("quality", "generate", str(pop), "--size", "500")
    db = tmp_path / "quality.db"
    done = run("quality", "index", "rebuild", str(db), str(pop))
    assert done.returncode == 0 and "500 records" in done.stdout, done.stderr
    lst = tmp_path / "sealed.txt"
    lst.write_text("CII A12345678\nNIC W123456789\n")
    assert run("quality", "index", "sealed", str(db), str(lst)).returncode == 0
    index = QualityIndex(db)
    assert index.count() == 500 and index.model() is not None
    assert index.sealed() == {"A12345678", "W123456789"}
    index.close()
    # the same person entered again, and a sealed CII: cross-record flags from the CLI
    first = json.loads(pop.read_text().splitlines()[0])
    msg = {"format": "json", "mke": "EW", "person": {**first["person"], "cii": "A12345678"}}
    done = subprocess.run([*CLETS, "quality", "check", "--index", str(db), "--today",
                           "2026-12-03"], input=json.dumps(msg), capture_output=True,
                          text=True, check=False)
    found = {json.loads(x)["check"] for x in done.stdout.splitlines()}
    assert done.returncode == 1 and {"duplicate_entry", "sealed_record"} <= found, done

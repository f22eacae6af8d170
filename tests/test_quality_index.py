"""The quality index's candidate search (schema 2: the DOB kept in the block table) against
its definition, and the migration of a schema-1 file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from clets.model.types import License, Name, Person, Record
from clets.quality import linkage as L
from clets.quality.index import SCHEMA_VERSION, QualityIndex

_NAMES = ("SMITH", "SMYTH", "JONES", "JOHN", "JON", "ANN", "")
_DOBS = ("1980-03-11", "1980-11-03", "1981-03-11", "1980-03-12", "1908-03-11", None)
_IDS = ("", "", "123456789", "987654321")


@st.composite
def _person(draw: st.DrawFn) -> Person:
    last, first = draw(st.sampled_from(_NAMES)), draw(st.sampled_from(_NAMES))
    oln = draw(st.sampled_from(_IDS))
    return Person(name=Name(last or None, first or None), dob=draw(st.sampled_from(_DOBS)),
                  ssn=draw(st.sampled_from(_IDS)) or None,
                  license=License(number=oln, state="CA") if oln else None)


def _expected(index: QualityIndex, people: dict[str, Person], f: L.Features,
              dobs: frozenset[str] | None) -> set[str]:
    """The definition: a record shares a blocking key of ``f`` that is not too large, and
    (with a shortlist) has no DOB, a DOB on it, or an identifier of ``f`` exactly."""
    big = index._big_keys()
    keys = set(L.block_keys(f)) - big
    out = set()
    for rid, p in people.items():
        g = L.features(p)
        if not keys & set(L.block_keys(g)):
            continue
        if dobs is None or not g.dob or g.dob in dobs or \
                any(x and x == y for x, y in ((f.ssn, g.ssn), (f.oln, g.oln), (f.fbi, g.fbi))):
            out.add(rid)
    return out


@settings(max_examples=120, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 25), _person()), min_size=1, max_size=40),
       _person(), st.none() | st.sets(st.sampled_from(_DOBS[:-1])))
def test_candidates_are_exactly_the_records_that_pass(
        adds: list[tuple[int, Person]], probe: Person, shortlist: set[str] | None) -> None:
    """Records added (some replaced under the same id), then one search: the index returns
    exactly the records its definition names, with and without a DOB shortlist."""
    index = QualityIndex(":memory:")
    people: dict[str, Person] = {}
    for n, p in adds:
        index.add(f"R{n}", Record(file="wanted", person=p), "entry")
        people[f"R{n}"] = p
    f = L.features(probe)
    dobs = None if shortlist is None else frozenset(d.replace("-", "") for d in shortlist)
    found = [ip.rid for ip in index.candidates(f, dobs)]
    assert len(found) == len(set(found))
    assert set(found) == _expected(index, people, f, dobs)
    index.close()


def _to_schema_1(path: Path) -> None:
    """Rewrite a schema-2 file as schema 1 wrote it: blocks without DOBs in a rowid table
    with its two indexes, no version."""
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE block_v1 (key TEXT NOT NULL, rid TEXT NOT NULL);
        INSERT INTO block_v1 SELECT key, rid FROM block;
        DROP TABLE block;
        ALTER TABLE block_v1 RENAME TO block;
        CREATE INDEX block_key ON block (key, rid);
        CREATE INDEX block_rid ON block (rid);
        PRAGMA user_version = 0;
    """)
    db.close()


def test_a_schema_1_file_is_migrated_in_place(tmp_path: Path) -> None:
    """Opening a file of schema 1 copies its blocks with their DOBs; every search then
    answers as on a file made by schema 2, and the sealed list and model are kept."""
    from clets.quality.population import Spec, generate

    pop = generate(Spec(size=1500, seed=3))
    feats = [L.features(r.record.person) for r in pop.records if r.record.person]
    path = tmp_path / "quality.db"
    index = QualityIndex(path)
    index.set_model(L.learn(feats))
    index.add_many(((r.rid, r.record, "reference") for r in pop.records), fresh=True)
    index.load_sealed([("", n) for n in pop.sealed], "test")
    model = index.model()
    assert model is not None
    probes = feats[::15]
    before = [sorted(ip.rid for ip in index.candidates(
        f, L.dob_shortlist(model, f, model.match_weight))) for f in probes]
    sizes = dict(index.db.execute("SELECT key, n FROM blocksize"))
    index.close()
    _to_schema_1(path)
    with sqlite3.connect(path) as db:
        assert "dob" not in {r[1] for r in db.execute("PRAGMA table_info(block)")}
    again = QualityIndex(path)
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {r[1] for r in again.db.execute("PRAGMA index_list(block)")} >= {"block_rid"}
    after = [sorted(ip.rid for ip in again.candidates(
        f, L.dob_shortlist(model, f, model.match_weight))) for f in probes]
    assert after == before and sum(map(len, after)) > len(probes)
    assert dict(again.db.execute("SELECT key, n FROM blocksize")) == sizes
    assert again.sealed() == pop.sealed and again.model() == model
    again.close()
    QualityIndex(path).close()  # opened again: nothing left to migrate


def test_an_index_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import pytest

    from clets.errors import ConfigError

    path = tmp_path / "quality.db"
    QualityIndex(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer"):
        QualityIndex(path)


def test_warm_scans_every_btree_the_inline_checks_read(tmp_path: Path) -> None:
    """``warm`` faults in the pages of the B-trees the inline queries use: each of its
    statements scans one of them whole, and together they cover the candidate search's
    (block, person and its rid index), the identifiers' (ident and its value index) and the
    VIN lookup's (vehicle and its vin index)."""
    from clets.quality.index import _WARM

    index = QualityIndex(tmp_path / "quality.db")
    index.add("R1", Record(file="wanted", person=Person(name=Name("SMITH", "JOHN"),
                                                        dob="1980-03-11", ssn="123456789")))
    scanned = set()
    for sql in _WARM:
        (detail,) = [row[3] for row in index.db.execute("EXPLAIN QUERY PLAN " + sql)]
        words = detail.split()
        scanned.add(words[-2] if "COVERING INDEX" in detail else words[1])
    assert {"block", "person", "sqlite_autoindex_person_1", "ident", "ident_value",
            "vehicle", "vehicle_vin"} <= scanned, scanned
    assert index.warm() >= 0
    index.close()

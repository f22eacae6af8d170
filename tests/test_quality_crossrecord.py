"""Cross-record checks against the SQLite index: each fires on its injected error (mismatched
identifiers, VIN on two plates, duplicate entries, sealed and stale records), at most a few
clean records are flagged, the index survives a reopen, sealed records are cut from answers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clets.errors import ConfigError
from clets.model import Message
from clets.model.types import Name, Person, Record
from clets.quality import linkage as L
from clets.quality.crossrecord import cross_checks, cut_sealed, same_person
from clets.quality.index import QualityIndex, read_sealed_list
from clets.quality.population import CROSS_ERRORS, Spec, generate


def test_each_cross_check_fires_on_its_error(tmp_path: Path) -> None:
    pop = generate(Spec(size=5000, seed=21))
    feats = [L.features(r.record.person) for r in pop.records if r.record.person]
    index = QualityIndex(tmp_path / "quality.db")
    index.set_model(L.learn(feats))
    index.load_sealed([("", n) for n in pop.sealed], "test")
    injected: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    clean = flagged_clean = 0
    for rec in pop.records:
        msg = Message(format="json", mke=rec.mke, records=[rec.record])
        msg.person, msg.vehicle = rec.record.person, rec.record.vehicle
        fired = {f.check for f in cross_checks(msg, index, pop.spec.today)}
        for label in rec.errors:
            if label in CROSS_ERRORS:
                injected[label] += 1
                caught[label] += CROSS_ERRORS[label] in fired
        if not rec.errors and not rec.variations:
            clean += 1
            flagged_clean += bool(fired)
        index.add(rec.rid, rec.record)
    for label, n in injected.items():
        assert caught[label] / n >= 0.9, (label, caught[label], n)
    assert flagged_clean / clean <= 0.02, (flagged_clean, clean)
    count = index.count()
    index.close()
    again = QualityIndex(tmp_path / "quality.db")
    assert again.count() == count and again.model() is not None
    assert again.sealed() == pop.sealed


def test_cut_sealed_answers() -> None:
    keep = Record(file="wanted", person=Person(name=Name("A", "B"), cii="A11111111"))
    cut = Record(file="wanted", person=Person(name=Name("C", "D"), cii="A22222222"))
    kept, notices = cut_sealed([keep, cut], {"A22222222"})
    assert kept == [keep]
    assert len(notices) == 1 and "A22222222" not in notices[0]


def test_sealed_list_file() -> None:
    pairs = read_sealed_list(["# daily drop", "CII A12345678", "W123456789", "", "fcn 12-34"])
    assert pairs == [("CII", "A12345678"), ("", "W123456789"), ("FCN", "1234")]
    with pytest.raises(ConfigError) as err:
        read_sealed_list(["CII A1 extra"], "drop.txt")
    assert "drop.txt:1" in str(err.value)


def test_large_blocks_are_skipped_and_sizes_agree_between_fresh_and_incremental_loads(
        tmp_path: Path) -> None:
    """A key held by more than CANDIDATES_MAX records finds no candidates (as the scan
    skips such a block); the others still do; a fresh load counts the same block sizes as
    records added one by one, and a removed (replaced) record is uncounted."""
    from clets.quality.index import CANDIDATES_MAX

    def rec(i: int) -> Record:  # one surname and birth month: one big key, and own ones
        return Record(file="wanted", person=Person(
            name=Name("OKONKWO", f"N{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}"),
            dob=f"1970-03-{1 + i % 28:02d}"))

    n = CANDIDATES_MAX + 50
    fresh, slow = QualityIndex(tmp_path / "a.db"), QualityIndex(tmp_path / "b.db")
    fresh.add_many(((f"R{i}", rec(i), "reference") for i in range(n)), fresh=True)
    for i in range(n):
        slow.add(f"R{i}", rec(i), "reference")
    slow.add("R0", rec(0), "reference")  # replaced: counted once
    sizes = [dict(ix.db.execute("SELECT key, n FROM blocksize")) for ix in (fresh, slow)]
    assert sizes[0] == sizes[1]
    big = [k for k, v in sizes[0].items() if v > CANDIDATES_MAX]
    assert big  # Soundex(OKONKWO) + 1970-03
    probe = L.features(rec(7).person)  # type: ignore[arg-type]
    found = {ip.rid for ip in fresh.candidates(probe)}
    assert "R7" in found and len(found) < n  # own keys still find it; the big block is not read
    with pytest.raises(ConfigError):
        fresh.add_many([("X", rec(1), "reference")], fresh=True)


def _model_with_prior(prior: float) -> L.Model:
    from clets.quality.search import default_model

    m = default_model()
    return L.Model(m.fields, m.m, m.u, prior, m.match_p, m.review_p)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["RICHARDSON", "RICHARDSEN", "RICHARDS", "MORALES", ""]),
       st.sampled_from(["MICHELLE", "SHELLY", "MICHEL", "ADAM", ""]),
       st.sampled_from(["1945-07-01", "1945-08-07", "1945-01-07", "1946-07-01", "1980-02-02",
                        None]),
       st.sampled_from(["F", "M", None]), st.floats(1e-9, 1e-3))
def test_same_person_does_not_depend_on_the_size_of_the_file(
        last: str, first: str, dob: str | None, sex: str | None, prior: float) -> None:
    """Whether two records sharing an SSN are one person is judged on the weight of their
    other fields, not on the prior of two random records being one person, which falls as
    the file grows: the same pair gets the same answer in a file of any size."""
    a = L.features(Person(name=Name("RICHARDSON", "MICHELLE"), dob="1945-07-01", sex="F",
                          ssn="292144370"))
    b = L.features(Person(name=Name(last or None, first or None), dob=dob, sex=sex,
                          ssn="292144370"))
    assert same_person(a, b, _model_with_prior(prior)) == \
        same_person(a, b, _model_with_prior(1e-6))


def test_id_mismatch_one_person_with_typos_and_another_person(tmp_path: Path) -> None:
    """A record with a DOB both transposed and mistyped and the same SSN is the same person
    (no flag), in a small file and a large one alike; another name and DOB under the SSN is
    another person, and so are another name with the same DOB and another surname with another
    DOB; an invalid SSN shared by many
    (078-05-1120) is ssn_invalid's, not a mismatch."""
    on_file = Record(file="wanted", person=Person(
        name=Name("RICHARDSON", "MICHELLE"), dob="1945-07-01", sex="F", ssn="292144370"))
    wallet = Record(file="wanted", person=Person(
        name=Name("CRUZ", "AARON"), dob="1947-04-19", sex="M", ssn="078051120"))
    for prior in (1e-5, 1e-7):
        index = QualityIndex(tmp_path / f"q{prior}.db")
        index.set_model(_model_with_prior(prior))
        index.add("R1", on_file)
        index.add("R2", wallet)

        def fired(ix: QualityIndex, p: Person) -> set[str]:
            msg = Message(format="json", mke="EW", person=p)
            return {f.check for f in cross_checks(msg, ix, __import__(
                "datetime").date(2026, 12, 3))}

        assert "id_mismatch" not in fired(index, Person(
            name=Name("RICHARDSON", "MICHELLE"), dob="1945-08-07", sex="F", ssn="292144370"))
        assert "id_mismatch" in fired(index, Person(
            name=Name("MORALES", "ADAM"), dob="1980-02-02", sex="M", ssn="292144370"))
        assert "id_mismatch" in fired(index, Person(  # another name, the same DOB
            name=Name("OKAFOR", "BEATRIZ"), dob="1945-07-01", sex="F", ssn="292144370"))
        assert "id_mismatch" in fired(index, Person(  # another surname and another DOB
            name=Name("ZOORTMERD", "MICHELLE"), dob="1962-01-13", sex="F", ssn="292144370"))
        assert "id_mismatch" not in fired(index, Person(
            name=Name("SIMPSON", "LORENA"), dob="1994-12-25", sex="F", ssn="078051120"))
        index.close()

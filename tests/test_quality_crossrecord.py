"""Cross-record checks against the SQLite index: each fires on its injected error (mismatched
identifiers, VIN on two plates, duplicate entries, sealed and stale records), at most a few
clean records are flagged, the index survives a reopen, sealed records are cut from answers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from clets.errors import ConfigError
from clets.model import Message
from clets.model.types import Name, Person, Record
from clets.quality import linkage as L
from clets.quality.crossrecord import cross_checks, cut_sealed
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

"""Name search: Fellegi–Sunter with EM-learned weights finds misspelled duplicates that
NCIC's rule (Soundex surname + exact DOB) misses, at high precision."""

from __future__ import annotations

import numpy as np

from clets.model.types import Name, Person
from clets.quality import linkage as L
from clets.quality.population import Spec, generate


def test_levels_of_the_usual_errors() -> None:
    base = L.features(Person(name=Name("JOHNSON", "ROBERT"), dob="1980-03-11", sex="M"))
    def levels(**kw: str) -> tuple[int, ...]:
        p = Person(name=Name(kw.get("last", "JOHNSON"), kw.get("first", "ROBERT")),
                   dob=kw.get("dob", "1980-03-11"), sex="M")
        return L.compare(base, L.features(p))
    assert levels()[:3] == (0, 0, 0)
    assert levels(last="JONHSON")[0] == 1  # typo
    assert levels(first="BOB")[1] == 1  # nickname
    assert levels(last="ROBERT", first="JOHNSON")[:2] == (0, 0)  # swapped
    assert levels(dob="1980-11-03")[2] == 1  # day and month transposed
    assert levels(dob="1980-03-12")[2] == 2  # one digit
    assert levels(dob="1981-03-11")[2] == 2  # one digit (the year's last)
    assert levels(dob="1979-03-11")[2] == 3  # a year off
    assert levels(first="MARY")[1] == 6


def test_linkage_beats_ncic_rule_on_a_labelled_population() -> None:
    pop = generate(Spec(size=8000, seed=5))
    feats = [L.features(r.record.person) for r in pop.records if r.record.person]
    truth = pop.true_pairs()
    pairs = L.candidate_pairs(feats)
    found = set(map(tuple, pairs.tolist()))
    assert len(truth & found) / len(truth) >= 0.9  # pair completeness of the blocking
    gammas = L.comparison_matrix(feats, pairs)
    model = L.learn(feats, pairs=pairs, gammas=gammas)
    y = np.asarray([tuple(x) in truth for x in pairs.tolist()])
    for m, min_recall in ((model, 0.9), (model.restricted(L.NAME_DOB).tuned(gammas), 0.85)):
        w = m.weights_of(gammas)
        sel = w >= m.match_weight
        precision, recall = (sel & y).sum() / sel.sum(), (sel & y).sum() / len(truth)
        assert precision >= 0.98 and recall >= min_recall, (m.fields, precision, recall)
        review = (w >= m.review_weight) & y
        assert review.sum() / len(truth) >= 0.9
    ncic = set(map(tuple, L.ncic_rule_pairs(feats).tolist()))
    ncic_recall = len(ncic & truth) / len(truth)
    assert recall > ncic_recall + 0.3, (recall, ncic_recall)
    # a model survives its JSON form (the index keeps it)
    again = L.Model.from_dict(model.to_dict())
    assert np.allclose(again.weights_of(gammas), model.weights_of(gammas))


def test_weight_bound_is_never_below_the_weight() -> None:
    """The inline search skips the name comparison of a candidate whose bound is below the
    match weight: the bound must hold for every pair, or a duplicate would be missed."""
    from clets.quality.search import default_model

    pop = generate(Spec(size=3000, seed=5))
    feats = [L.features(r.record.person) for r in pop.records if r.record.person]
    pairs = L.candidate_pairs(feats)
    rng = np.random.default_rng(5)
    rand = rng.integers(0, len(feats), (3000, 2))
    model = default_model()
    learned = L.learn(feats, pairs=pairs)
    checked = 0
    for m in (model, learned, learned.restricted(L.NAME_DOB)):
        for i, j in [*pairs.tolist(), *rand.tolist()]:
            a, b = feats[i], feats[j]
            assert L.weight_bound(m, a, b) >= m.weight(L.compare(a, b)) - 1e-9, (a, b)
            checked += 1
    assert checked > 10000

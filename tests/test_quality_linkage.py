"""Name search: Fellegi–Sunter with EM-learned weights finds misspelled duplicates that
NCIC's rule (Soundex surname + exact DOB) misses, at high precision."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

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
    assert levels(dob="1908-03-11")[2] == 2  # two adjacent digits transposed
    assert levels(dob="1980-03-41")[2] == 2  # one digit
    assert levels(dob="1908-03-12")[2] == 4  # a transposition and a typo: differs
    # a surname missing on one side: the given name is still compared
    alone = L.features(Person(name=Name(None, "BOB"), dob="1980-03-11"))
    assert L.compare(base, alone)[:3] == (-1, 1, 0)
    assert L.compare(alone, base)[:3] == (-1, 1, 0)


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


def test_dob_shortlist_keeps_every_pair_that_can_match() -> None:
    """The inline search reads from the index only records whose DOB is on the shortlist
    (or that have no DOB, or share an identifier exactly): every pair at or above the match
    weight must pass, whatever the model."""
    from clets.quality.search import default_model

    pop = generate(Spec(size=3000, seed=6))
    feats = [L.features(r.record.person) for r in pop.records if r.record.person]
    pairs = L.candidate_pairs(feats)
    learned = L.learn(feats, pairs=pairs)
    passed = 0
    for m in (default_model(), learned, learned.restricted(L.NAME_DOB)):
        for i, j in pairs.tolist():
            for a, b in ((feats[i], feats[j]), (feats[j], feats[i])):
                if m.weight(L.compare(a, b)) < m.match_weight:
                    continue
                short = L.dob_shortlist(m, a, m.match_weight)
                assert short is None or not b.dob or b.dob in short or \
                    any(x and x == y for x, y in ((a.ssn, b.ssn), (a.oln, b.oln),
                                                  (a.fbi, b.fbi))), (a, b)
                passed += 1
    assert passed > 500
    # a shortlist holds the DOB itself, its swapped day and month, its one-digit neighbours
    m = learned.restricted(L.NAME_DOB)
    a = L.features(Person(name=Name("JOHNSON", "ROBERT"), dob="1980-03-11"))
    short = L.dob_shortlist(m, a, m.match_weight)
    assert short is not None and {"19800311", "19801103", "19800312", "19080311"} <= short
    assert "19550101" not in short


_NAMES = ("SMITH", "SMYTH", "JONES", "JOHN", "JON", "ANN", "ANNA", "LEE", "")
_DOBS = ("1980-03-11", "1980-11-03", "1981-03-11", "1980-03-12", None)


@st.composite
def _people(draw: st.DrawFn) -> list[L.Features]:
    """Few names and DOBs, so that blocks collide and some outgrow a small max_block."""
    n = draw(st.integers(2, 40))
    out = []
    for _ in range(n):
        last, first = draw(st.sampled_from(_NAMES)), draw(st.sampled_from(_NAMES))
        out.append(L.features(Person(name=Name(last or None, first or None),
                                     dob=draw(st.sampled_from(_DOBS)))))
    return out


@settings(max_examples=150, deadline=None)
@given(_people(), st.integers(2, 6), st.integers(1, 4))
def test_blocked_pairs_bounded_and_complete(feats: list[L.Features], max_block: int,
                                            window: int) -> None:
    """Every pair of a block up to ``max_block`` records is a candidate; a larger block
    gives each record at most ``window`` next; every candidate shares a key (or an open key
    with a record missing a field) and carries the kinds of the small blocks it shares."""
    pairs, kinds = L.blocked_pairs(feats, max_block, window)
    assert len(pairs) == len(kinds)
    keys = [set(L.block_keys(f)) for f in feats]
    opens = [set(L.open_keys(f)) for f in feats]
    size: dict[str, int] = {}
    for ks in keys:
        for k in ks:
            size[k] = size.get(k, 0) + 1
    got = {(int(i), int(j)): int(b) for (i, j), b in zip(pairs.tolist(), kinds.tolist(),
                                                         strict=True)}
    assert all(i < j for i, j in got) and len(got) == len(pairs)
    assert pairs.tolist() == sorted(pairs.tolist())
    big_pairs = 0
    for i in range(len(feats)):
        for j in range(i + 1, len(feats)):
            shared = keys[i] & keys[j]
            small = {k for k in shared if size[k] <= max_block}
            if small:
                assert (i, j) in got, (i, j, small)
                for k in small:
                    assert got[(i, j)] & L.kind_bit(k[0])
            if (i, j) in got:
                incomplete = not (feats[i].dob and feats[i].last and feats[i].first) or \
                    not (feats[j].dob and feats[j].last and feats[j].first)
                assert shared or (incomplete and opens[i] & opens[j]), (i, j)
                if not small and shared:
                    big_pairs += 1
    # pairs from large blocks only: at most window per record per key
    assert big_pairs <= len(feats) * window * max(1, len(size))


def test_learning_on_a_sample_agrees_with_learning_on_all() -> None:
    """EM on a random sample of the candidate pairs decides as EM on all of them: the
    weights converge long before every pair is seen."""
    pop = generate(Spec(size=6000, seed=7))
    feats = [L.features(r.record.person) for r in pop.records if r.record.person]
    pairs, kinds = L.blocked_pairs(feats)
    gammas = L.comparison_matrix(feats, pairs)
    full = L.learn(feats, pairs=pairs, gammas=gammas, kinds=kinds)
    part = L.learn(feats, pairs=pairs, gammas=gammas, kinds=kinds, sample=len(pairs) // 4)
    assert abs(np.log10(part.prior) - np.log10(full.prior)) < 0.2
    same = (full.weights_of(gammas) >= full.match_weight) == \
        (part.weights_of(gammas) >= part.match_weight)
    assert same.mean() >= 0.995, same.mean()
    # kinds found again from the pairs alone are those blocking gave
    assert (L.pair_kinds(feats, pairs[::7]) == kinds[::7]).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 4), st.integers(-1, 6), st.integers(-1, 4)),
                min_size=1, max_size=300),
       st.floats(0.5, 0.999))
def test_tuned_threshold_keeps_the_expected_precision(rows: list[tuple[int, int, int]],
                                                      precision: float) -> None:
    """The chosen match threshold lies in [floor, 0.99]; the pairs at or above it have a mean
    posterior of at least the precision asked (or it is 0.99); a higher precision never
    gives a lower threshold."""
    from clets.quality.search import default_model

    model = default_model().restricted(L.NAME_DOB)
    gammas = np.zeros((len(rows), len(L.FIELDS)), dtype=np.int8) - 1
    gammas[:, :3] = np.asarray(rows, dtype=np.int8)
    t = model.tuned(gammas, precision)
    assert L.MATCH_P_FLOOR <= t.match_p <= 0.99
    p = np.asarray(t.probability(t.weights_of(gammas)))
    sel = p >= t.match_p
    if t.match_p < 0.99 and sel.any():
        assert p[sel].mean() >= precision - 1e-9
    assert model.tuned(gammas, min(0.999, precision + 0.01)).match_p >= t.match_p


@settings(max_examples=300, deadline=None)
@example(__import__("datetime").date(2000, 1, 1), [1.0, -5.0, -5.0, -5.0, -5.0], 7.0)  # day ==
@given(st.dates(min_value=__import__("datetime").date(1900, 1, 1)),                   # month
       st.lists(st.floats(-12, 16), min_size=5, max_size=5), st.floats(0, 30))
def test_dob_shortlist_is_exactly_the_dobs_at_allowed_levels(day: object, dob_w: list[float],
                                                            threshold: float) -> None:
    """For any DOB weights: a DOB is on the shortlist if and only if its level's weight,
    with the other fields at their best, reaches the threshold (checked against every
    string the levels can reach and a sample of others)."""
    dob = str(day).replace("-", "")
    model = L.Model(("surname", "dob"), {"surname": [0.9, 0.02, 0.02, 0.02, 0.04],
                                         "dob": [0.2] * 5},
                    {"surname": [0.01, 0.01, 0.01, 0.01, 0.96], "dob": [0.2] * 5}, 0.001)
    model.weights["dob"] = dob_w
    a = L.features(Person(name=Name("JOHNSON", "ROBERT"), dob=str(day)))
    short = L.dob_shortlist(model, a, threshold)
    best = max(0.0, *model.weights["surname"])
    if best + dob_w[4] >= threshold:
        assert short is None
        return
    assert short is not None
    probe = {dob[:k] + c + dob[k + 1:] for k in range(8) for c in "0123456789"}
    probe |= {dob[:k] + dob[k + 1] + dob[k] + dob[k + 2:] for k in range(7)}
    probe |= {dob[:4] + dob[6:] + dob[4:6], str(int(dob[:4]) + 1) + dob[4:],
              f"{int(dob[:4]) - 1:04d}" + dob[4:], "19000101", "20991231"}
    for x in probe:
        assert (x in short) == (best + dob_w[L._dob_level(dob, x)] >= threshold), x

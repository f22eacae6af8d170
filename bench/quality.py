"""Data-quality benchmark: what the checks catch, name search against NCIC's rule, what the
inline step costs, and how fast a file is scanned.

A labelled synthetic population (clets.quality.population: misspellings, nicknames,
swapped names, DOB typos, duplicates, borrowed and invalid identifiers, sealed and stale
records, twins) is scanned as ``clets quality scan`` does; every flag is compared with the
labels.  In the same run:

- per check: how many injected errors of its kind it flagged (recall) and how many of its
  flags fell on records with an injected error or variation (precision);
- overall: share of records with an injected error flagged, share of clean records flagged;
- name + DOB linkage (the model's weights over surname, given name and DOB only) and the
  whole model: precision, recall, F1 at the match threshold, recall at the review
  threshold; NCIC's rule (Soundex surname + exact DOB, sex if both have one) on the same
  records, and exact name + DOB;
- inline cost: ``QualityGate.inspect`` per entry message with the whole population in the
  index (SQLite), p50 / p99 of wall time and of the thread's CPU time (on a shared machine
  the wall-time tail is other processes' time; the CPU time is ours);
- scan throughput: records per second (JSON lines parsed, checked, linked).

    .venv/bin/python bench/quality.py                       # 100,000 records
    .venv/bin/python bench/quality.py --size 1000000 --inline 2000
    .venv/bin/python bench/quality.py --json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from clets.model import Message
from clets.model.jsonform import to_dict
from clets.quality import linkage as L
from clets.quality.catalogue import catalogue
from clets.quality.gate import QualityConfig, QualityGate
from clets.quality.population import CROSS_ERRORS, RULE_ERRORS, Spec, generate
from clets.quality.scan import read_records, scan

LABEL_CHECK = {**RULE_ERRORS, **CROSS_ERRORS}
_OTHER = re.compile(r"also on (\S+),")  # the scan's id_mismatch reason names the other holder


def pr(tp: int, flagged: int, positives: int) -> tuple[float, float, float]:
    p = tp / flagged if flagged else 1.0
    r = tp / positives if positives else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--inline", type=int, default=3000, help="entry messages timed inline")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {"size": args.size, "seed": args.seed, "cpus": os.cpu_count()}

    t = time.perf_counter()
    pop = generate(Spec(size=args.size, seed=args.seed))
    out["generate_s"] = round(time.perf_counter() - t, 1)
    text = "\n".join(json.dumps({"id": r.rid, "mke": r.mke, **to_dict(
        Message(format="x", mke="x", records=[r.record]))["records"][0]})
        for r in pop.records)

    t0 = time.perf_counter()
    records = list(read_records(text))
    t1 = time.perf_counter()
    phase_end: dict[str, float] = {}

    def progress(phase: str, n: int) -> None:  # when each phase of the scan ends
        phase_end[phase] = time.perf_counter()

    result = scan(records, pop.spec.today, sealed=pop.sealed, jobs=args.jobs,
                  progress=progress)
    t2 = time.perf_counter()
    last = t1
    phases = {}
    for ph, end in phase_end.items():
        phases[ph] = round(end - last, 1)
        last = end
    out["scan"] = {"records": len(records), "read_s": round(t1 - t0, 1),
                   "scan_s": round(t2 - t1, 1),
                   "records_per_s": round(len(records) / (t2 - t0)),
                   "phases_s": phases,
                   "candidate_pairs": result.candidate_pairs,
                   "clusters": len(result.clusters)}

    # ---- per check and overall ----------------------------------------------------------
    per_check: dict[str, dict[str, float]] = {}
    fired = [{f.check for f in fl} for fl in result.flags]
    for cid in catalogue():
        positives = [i for i, r in enumerate(pop.records)
                     if any(LABEL_CHECK.get(e) == cid for e in r.errors)]
        flagged = [i for i, f in enumerate(fired) if cid in f]
        tp = sum(1 for i in positives if cid in fired[i])
        # a flag is right when its record carries any injected error or variation: a DOB
        # typo in a duplicate may rightly make a minor (juvenile_adult_record)
        right = sum(1 for i in flagged if pop.records[i].errors or
                    set(pop.records[i].variations) - {"twin"})
        p = right / len(flagged) if flagged else 1.0
        r = tp / len(positives) if positives else float("nan")
        per_check[cid] = {"injected": len(positives), "flagged": len(flagged),
                          "recall": round(r, 4), "precision": round(p, 4)}
    # id_mismatch judged by who is who: a flag is right when the record it names as the
    # identifier's other holder is another entity (the precision above counts any flag on a
    # record with an injected error as right, so a duplicate of one person called "another
    # person" passed unseen)
    entity = {r.rid: r.entity for r in pop.records}
    pairs_flagged = [(pop.records[i].entity, entity.get(m.group(1)))
                     for i, fl in enumerate(result.flags) for f in fl
                     if f.check == "id_mismatch" and (m := _OTHER.search(f.reason))]
    if pairs_flagged:
        per_check["id_mismatch"]["precision_by_entity"] = round(
            sum(a != b for a, b in pairs_flagged) / len(pairs_flagged), 4)
        per_check["id_mismatch"]["flags_on_one_entity"] = sum(a == b for a, b in pairs_flagged)
    out["checks"] = per_check
    erred = [i for i, r in enumerate(pop.records) if r.errors]
    clean = [i for i, r in enumerate(pop.records) if not r.errors and not
             (set(r.variations) - {"twin"})]
    out["overall"] = {
        "records_with_errors": len(erred),
        "errors_flagged": round(sum(1 for i in erred if fired[i]) / len(erred), 4),
        "clean_records": len(clean),
        "clean_flagged": round(sum(1 for i in clean if fired[i]) / len(clean), 4),
        "labels": dict(Counter(e for r in pop.records for e in r.errors)),
    }

    # ---- linkage vs NCIC's rule ---------------------------------------------------------
    pos = result.person_positions
    feats = [L.features(records[i].record.person) for i in pos]  # type: ignore[arg-type]
    truth_all = pop.true_pairs()
    inv = {p: k for k, p in enumerate(pos)}
    truth = {(inv[a], inv[b]) for a, b in truth_all if a in inv and b in inv}
    pairs, gammas, model = result.pairs, result.gammas, result.model
    assert model is not None
    npos = len(pos)
    codes = pairs[:, 0] * npos + pairs[:, 1]  # sorted (blocked_pairs): vectorised lookups
    truth_codes = np.asarray(sorted(a * npos + b for a, b in truth), dtype=np.int64)
    y = np.isin(codes, truth_codes)
    found = int(y.sum())
    link: dict[str, object] = {"true_pairs": len(truth),
                               "pair_completeness": round(found / len(truth), 4)}
    for name, m in (("all_fields", model),
                    ("name_dob", model.restricted(L.NAME_DOB).tuned(gammas))):
        w = m.weights_of(gammas)
        sel = w >= m.match_weight
        p, r, f1 = pr(int((sel & y).sum()), int(sel.sum()), len(truth))
        rev = w >= m.review_weight
        rp, rr, _ = pr(int((rev & y).sum()), int(rev.sum()), len(truth))
        order = np.argsort(-w)
        tp = np.cumsum(y[order])
        k = np.arange(1, len(w) + 1)
        prec, rec = tp / k, tp / len(truth)
        f = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0)
        ok = prec >= 0.98
        best98 = float(f[ok].max()) if ok.any() else 0.0
        link[name] = {"match_p": m.match_p,
                      "match": {"precision": round(p, 4), "recall": round(r, 4),
                                "f1": round(f1, 4)},
                      "review": {"precision": round(rp, 4), "recall": round(rr, 4)},
                      "best_f1_at_precision_0.98": round(best98, 4)}
    ncic = {tuple(x) for x in L.ncic_rule_pairs(feats).tolist()}
    p, r, f1 = pr(len(ncic & truth), len(ncic), len(truth))
    link["ncic_rule"] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}
    exact: dict[tuple[str, str, str], list[int]] = {}
    for k, f in enumerate(feats):
        if f.last and f.dob:
            exact.setdefault((f.last, f.first, f.dob), []).append(k)
    ex = {(a, b) for g in exact.values() for i, a in enumerate(g) for b in g[i + 1:]}
    p, r, f1 = pr(len(ex & truth), len(ex), len(truth))
    link["exact_name_dob"] = {"precision": round(p, 4), "recall": round(r, 4),
                              "f1": round(f1, 4)}
    by_var: dict[str, list[int]] = {}
    w = model.weights_of(gammas)
    hit_codes = codes[w >= model.review_weight]
    hit_truth = np.isin(truth_codes, hit_codes)
    hit = {(int(c) // npos, int(c) % npos) for c in truth_codes[hit_truth].tolist()}
    for a, b in truth:
        rec = pop.records[pos[b]]
        v = "+".join(rec.variations) if rec.dup_of else "dup-dup"
        s = by_var.setdefault(v, [0, 0, 0])
        s[0] += 1
        s[1] += (a, b) in hit
        s[2] += (a, b) in ncic
    link["recall_by_variation"] = {v: {"pairs": s[0], "model_review": round(s[1] / s[0], 3),
                                       "ncic_rule": round(s[2] / s[0], 3)}
                                   for v, s in sorted(by_var.items(), key=lambda kv: -kv[1][0])
                                   if s[0] >= 20}
    out["linkage"] = link

    # ---- inline cost --------------------------------------------------------------------
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    out["loadavg_after_scan"] = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        if args.inline <= 0:  # at a million, bench/quality_inline.py measures it alone
            print(json.dumps(out) if args.json else json.dumps(out, indent=1))
            return
        db = Path(tmp) / "quality.db"
        gate = QualityGate(QualityConfig(db))
        t = time.perf_counter()
        gate.index.add_many((r.rid, r.record, "reference") for r in pop.records)
        gate.index.set_model(model)
        gate.index.load_sealed([("", n) for n in pop.sealed], "bench")
        load_s = time.perf_counter() - t
        gate.close()
        gate = QualityGate(QualityConfig(db))  # reopened: what a restarted switch reads
        rng = np.random.default_rng(args.seed)
        picks = rng.choice(len(pop.records), size=min(args.inline, len(pop.records)),
                           replace=False)
        msgs = []
        for i in picks.tolist():
            r = pop.records[i]
            msgs.append(Message(format="json", mke=r.mke, person=r.record.person,
                                vehicle=r.record.vehicle, case=r.record.case))
        # the bench's own population, scan and text are frozen out of the collector's
        # full passes (a switch does not hold them; bench/quality_inline.py says more)
        gc.collect()
        gc.freeze()
        for m in msgs[:200]:  # warm the page cache and the feature cache as a running switch
            gate.inspect(m, pop.spec.today)
        gate.index._features.clear()
        times, cpu = [], []
        for m in msgs:
            c = time.thread_time_ns()
            t = time.perf_counter_ns()
            gate.inspect(m, pop.spec.today)
            times.append(time.perf_counter_ns() - t)
            cpu.append(time.thread_time_ns() - c)
        gate.close()
        arr = np.asarray(times) / 1e6
        carr = np.asarray(cpu) / 1e6
        out["inline"] = {"index_records": len(pop.records), "index_load_s": round(load_s, 1),
                         "index_mb": round(db.stat().st_size / 1e6, 1),
                         "messages": len(arr), "p50_ms": round(float(np.percentile(arr, 50)), 3),
                         "p99_ms": round(float(np.percentile(arr, 99)), 3),
                         "max_ms": round(float(arr.max()), 3),
                         "cpu_p50_ms": round(float(np.percentile(carr, 50)), 3),
                         "cpu_p99_ms": round(float(np.percentile(carr, 99)), 3),
                         "loadavg_1min": round(os.getloadavg()[0], 2)}

    if args.json:
        print(json.dumps(out))
        return
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    main()

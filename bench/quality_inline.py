"""The switch's inline quality step on its own: ``QualityGate.inspect`` per entry message with
a large file in the quality index, without ``bench/quality.py``'s whole-file scan (which at a
million records needs ~13 GB).

The population (``clets.quality.population``, seed and size as given) is loaded into a fresh
SQLite index (``add_many(fresh=True)``, as ``clets quality index rebuild`` does), with a
model learned from its people as the scan learns one; ``--db PATH`` keeps the index and a
later run with the same size and seed reuses it.  Then as in ``bench/quality.py``: 200
messages warm the page cache, the feature cache is emptied, and each of ``--messages`` entry
messages drawn from the population is timed (wall and the thread's CPU time).  The gate warms
the index when it opens, as the switch's does (``--cold``: not; ``open_s`` is the time the
opening took).

    .venv/bin/python bench/quality_inline.py --size 1000000 --db /tmp/q1m.db
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

import numpy as np

from clets.model import Message
from clets.quality import linkage as L
from clets.quality.gate import QualityConfig, QualityGate
from clets.quality.index import IndexedPerson, QualityIndex
from clets.quality.population import Spec, generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--db", default=None, help="index file to keep and reuse")
    ap.add_argument("--cold", action="store_true",
                    help="do not warm the index when the gate opens (QualityIndex.warm): "
                         "the timed messages then pay the mapped file's first touches")
    args = ap.parse_args()
    out: dict[str, object] = {"size": args.size, "seed": args.seed}
    t = time.perf_counter()
    pop = generate(Spec(size=args.size, seed=args.seed))
    out["generate_s"] = round(time.perf_counter() - t, 1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "quality.db"
        if not db.exists():
            gate = QualityGate(QualityConfig(db))
            t = time.perf_counter()
            feats = [L.features(r.record.person) for r in pop.records if r.record.person]
            gate.index.set_model(L.learn(feats))
            del feats
            out["learn_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            gate.index.add_many(((r.rid, r.record, "reference") for r in pop.records),
                                fresh=True)
            gate.index.load_sealed([("", n) for n in pop.sealed], "bench")
            out["index_load_s"] = round(time.perf_counter() - t, 1)
            gate.close()
        out["index_mb"] = round(db.stat().st_size / 1e6, 1)
        if args.cold and hasattr(QualityIndex, "warm"):
            QualityIndex.warm = lambda self: 0.0  # type: ignore[method-assign]
        t = time.perf_counter()
        gate = QualityGate(QualityConfig(db))  # reopened: what a restarted switch reads
        out["open_s"] = round(time.perf_counter() - t, 2)
        rng = np.random.default_rng(args.seed)
        picks = rng.choice(len(pop.records), size=min(args.messages, len(pop.records)),
                           replace=False)
        msgs = [Message(format="json", mke=pop.records[i].mke,
                        person=pop.records[i].record.person,
                        vehicle=pop.records[i].record.vehicle, case=pop.records[i].record.case)
                for i in picks.tolist()]
        today = pop.spec.today
        # the population is the bench's, not the switch's: dropped and the survivors
        # frozen, so that the collector does not walk a million records of the bench's own
        # on its full passes (measured: half the inline CPU time at 1 M, charged to
        # whatever allocated when it ran)
        del pop, picks
        gc.collect()
        gc.freeze()
        for m in msgs[:200]:
            gate.inspect(m, today)
        gate.index._features.clear()
        times, cpu = [], []
        for m in msgs:
            c = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            gate.inspect(m, today)
            times.append(time.perf_counter_ns() - t0)
            cpu.append(time.thread_time_ns() - c)
        # where the tail goes, in a second pass (untimed): per message the candidates the
        # duplicate search read from the index and the block entries of its keys
        ncand: list[int] = []
        nblock: list[int] = []
        search = gate.index.candidates

        def counted(f: L.Features, dobs: Collection[str] | None = None
                    ) -> list[IndexedPerson]:
            found = search(f, dobs)
            ncand[-1] += len(found)
            return found

        gate.index.candidates = counted  # type: ignore[method-assign]
        big = gate.index._big_keys()
        for m in msgs:
            ncand.append(0)
            gate.inspect(m, today)
            keys = [k for k in dict.fromkeys(L.block_keys(L.features(m.person)))
                    if k not in big] if m.person is not None else []
            nblock.append(gate.index.db.execute(
                f"SELECT count(*) FROM block WHERE key IN ({','.join('?' * len(keys))})",
                keys).fetchone()[0] if keys else 0)
        out["schema"] = gate.index.db.execute("PRAGMA user_version").fetchone()[0]
        gate.close()
    arr, carr = np.asarray(times) / 1e6, np.asarray(cpu) / 1e6
    tail = carr >= np.percentile(carr, 99)
    out["where"] = {
        "candidates_p50_p99": [float(np.percentile(ncand, q)) for q in (50, 99)],
        "block_entries_p50_p99": [float(np.percentile(nblock, q)) for q in (50, 99)],
        "slowest_1pct_cpu_ms_candidates_block_entries": [
            round(float(carr[tail].mean()), 3), round(float(np.mean(np.asarray(ncand)[tail])), 1),
            round(float(np.mean(np.asarray(nblock)[tail])), 1)],
        "all_cpu_ms_candidates_block_entries": [
            round(float(carr.mean()), 3), round(float(np.mean(ncand)), 1),
            round(float(np.mean(nblock)), 1)]}
    out["inline"] = {"messages": len(arr),
                     "p50_ms": round(float(np.percentile(arr, 50)), 3),
                     "p99_ms": round(float(np.percentile(arr, 99)), 3),
                     "cpu_p50_ms": round(float(np.percentile(carr, 50)), 3),
                     "cpu_p99_ms": round(float(np.percentile(carr, 99)), 3),
                     "loadavg": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

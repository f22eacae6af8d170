"""Read what ``bench/switch.py --probe FILE`` wrote: which stalls the slow inquiries waited on.

    .venv/bin/python bench/switch_stalls.py FILE.log      # FILE.log and FILE.log.client

For the open loop at the target rate: the latency percentiles, the loop's stalls (callbacks
over 1 ms, gc collections by generation, the journal's periodic work) with their count, total
and largest, and for the inquiries at or above the p99 the stall each one overlapped the most
(what its p99 is made of).  Times are CLOCK_MONOTONIC in both files.
"""

from __future__ import annotations

import argparse
import bisect
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))] if v else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("probe")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    probe = json.loads(Path(args.probe).read_text())
    client = json.loads(Path(args.probe + ".client").read_text())
    warm = client["warm"]
    sent, lat = client["sent"][warm:], client["latency"][warm:]
    t0, t1 = sent[0], sent[-1] + lat[-1]
    events = [e for e in probe["events"] if t0 - 1 <= e[1] <= t1]
    p50, p99 = pct(lat, 50), pct(lat, 99)
    out: dict[str, Any] = {"n": len(lat), "p50_ms": p50 * 1e3, "p99_ms": p99 * 1e3,
                           "window_s": t1 - t0}
    # the commits: each append's time, and each urgent step's wait for its commit
    app = [d for s, d in probe.get("appends", []) if t0 <= s <= t1]
    waits = [r - s for s, r in probe.get("waits", []) if t0 <= s <= t1]
    if app:
        out["appends"] = {"n": len(app), "per_s": round(len(app) / (t1 - t0), 1),
                          "busy_fraction": round(sum(app) / (t1 - t0), 3),
                          **{f"p{p}_ms": round(pct(app, p) * 1e3, 3)
                             for p in (50, 90, 99, 99.9)},
                          "max_ms": round(max(app) * 1e3, 3)}
        # appends during a WAL checkpoint (the checkpointer's fsync of the database file)
        # against the others
        cps = sorted((e[1], e[1] + e[2]) for e in probe["events"] if e[0] == "checkpoint")
        cstarts = [c[0] for c in cps]
        during, outside = [], []
        for s0, d in probe.get("appends", []):
            if not t0 <= s0 <= t1:
                continue
            i = bisect.bisect_right(cstarts, s0 + d) - 1
            hit = False
            while i >= 0 and cps[i][1] >= s0 - 0.2:
                if cps[i][0] <= s0 + d and cps[i][1] >= s0:
                    hit = True
                    break
                i -= 1
            (during if hit else outside).append(d)
        # the WAL's frames at each checkpoint (does it restart, or grow until the writer's
        # own checkpoint at wal_autocheckpoint?)
        frames = []
        for e in probe["events"]:
            if e[0] == "checkpoint" and t0 <= e[1] <= t1 and "[(" in e[3]:
                frames.append(int(e[3].split("[(", 1)[1].split(",")[1]))
        if frames:
            out["wal_frames_at_checkpoints"] = frames
        for name, vals in (("appends_during_checkpoint", during),
                           ("appends_outside_checkpoint", outside)):
            if vals:
                out[name] = {"n": len(vals), **{f"p{p}_ms": round(pct(vals, p) * 1e3, 3)
                                                for p in (50, 90, 99)}}
    if waits:
        out["step_waits"] = {"n": len(waits), **{f"p{p}_ms": round(pct(waits, p) * 1e3, 3)
                                                 for p in (50, 90, 99, 99.9)},
                             "max_ms": round(max(waits) * 1e3, 3)}
    # stalls by kind
    kinds: dict[str, list[float]] = defaultdict(list)
    cpus: dict[str, list[float]] = defaultdict(list)
    for kind, _s, d, what in events:
        what, _, cpu = what.partition(" |cpu ")
        key = kind if kind != "gc" else what.split()[0]
        if kind == "callback":
            key = "callback " + what
        elif kind != "gc":
            key = f"{kind} {what}"
        kinds[key].append(d)
        cpus[key].append(float((cpu or "nan").split()[0]) / 1e3)
    out["stalls"] = {k: {"n": len(v), "total_ms": round(sum(v) * 1e3, 1),
                         "max_ms": round(max(v) * 1e3, 1),
                         "p50_ms": round(pct(v, 50) * 1e3, 2),
                         "cpu_total_ms": round(sum(cpus[k]) * 1e3, 1),
                         "cpu_max_ms": round(max(cpus[k]) * 1e3, 1)}
                     for k, v in sorted(kinds.items(), key=lambda kv: -sum(kv[1]))}
    # gc outside the window too: the whole life of the switch
    allgc = Counter(e[3].split()[0] for e in probe["events"] if e[0] == "gc")
    out["gc_whole_run"] = dict(allgc)
    out["gc_stats"] = probe.get("gc_stats")
    # the slow inquiries: what each overlapped most
    starts = sorted((e[1], e) for e in events)
    keys = [s for s, _ in starts]
    blame: Counter[str] = Counter()
    blame_ms: defaultdict[str, float] = defaultdict(float)
    slow = [(s, d) for s, d in zip(sent, lat, strict=True) if d >= p99]
    seconds: Counter[int] = Counter()
    for s, d in slow:
        seconds[int(s - t0)] += 1
        lo = bisect.bisect_left(keys, s - 1.0)
        hi = bisect.bisect_right(keys, s + d)
        best, best_ov = "none found", 0.0
        gcs = 0.0
        for _k, e in starts[lo:hi]:
            ov = min(s + d, e[1] + e[2]) - max(s, e[1])
            if ov <= 0:
                continue
            if e[0] == "gc":
                gcs += ov
            name = e[0] if e[0] != "callback" else "callback " + e[3].split(" |cpu")[0]
            if e[0] == "gc":
                name = "gc " + e[3].split()[0]
            if ov > best_ov:
                best, best_ov = name, ov
        blame[best] += 1
        blame_ms[best] += best_ov
    out["slow_n"] = len(slow)
    out["slow_by_second"] = dict(sorted(seconds.items()))
    out["slow_blamed_on"] = {k: {"n": n, "mean_overlap_ms": round(blame_ms[k] / n * 1e3, 1)}
                             for k, n in blame.most_common()}
    # latency time series: p99 per second
    per_s: defaultdict[int, list[float]] = defaultdict(list)
    for s, d in zip(sent, lat, strict=True):
        per_s[int(s - t0)].append(d)
    out["per_second_p50_p99_max_ms"] = {k: [round(pct(v, 50) * 1e3, 1),
                                             round(pct(v, 99) * 1e3, 1),
                                             round(max(v) * 1e3, 1)]
                                         for k, v in sorted(per_s.items())}
    big = sorted((e for e in events if e[2] >= 0.005), key=lambda e: e[1])
    out["stalls_over_5ms"] = [[round(e[1] - t0, 3), round(e[2] * 1e3, 1), e[0], e[3]]
                              for e in big][: 200]
    if args.json:
        print(json.dumps(out))
        return
    print(f"n {out['n']}, window {out['window_s']:.1f} s, p50 {p50 * 1e3:.2f} ms, "
          f"p99 {p99 * 1e3:.2f} ms; gc over the whole run {dict(allgc)}")
    if "appends" in out:
        print("block appends (write + fsync):", out["appends"])
    for name in ("appends_during_checkpoint", "appends_outside_checkpoint"):
        if name in out:
            print(f"  {name.replace('_', ' ')}: {out[name]}")
    if "wal_frames_at_checkpoints" in out:
        print("  WAL frames at each checkpoint:", out["wal_frames_at_checkpoints"])
    if "step_waits" in out:
        print("steps' waits, submitted -> released after their commit:", out["step_waits"])
    print("stalls in the window (count, wall: total, max, p50 ms; CPU: total, max ms):")
    for k, v in list(out["stalls"].items())[: args.top]:
        print(f"  {v['n']:6d} {v['total_ms']:9.1f} {v['max_ms']:8.1f} {v['p50_ms']:7.2f} "
              f"{v['cpu_total_ms']:9.1f} {v['cpu_max_ms']:7.1f}  {k}")
    print(f"the {len(slow)} inquiries at or over the p99, by the stall each overlapped most:")
    for k, v in out["slow_blamed_on"].items():
        print(f"  {v['n']:5d}  mean overlap {v['mean_overlap_ms']:6.1f} ms  {k}")
    print("slow inquiries by second:", out["slow_by_second"])
    print("per second p50/p99/max ms:", out["per_second_p50_p99_max_ms"])
    print("stalls over 5 ms (t s, ms, kind, what):")
    for row in out["stalls_over_5ms"][:60]:
        print("  ", row)


if __name__ == "__main__":
    main()

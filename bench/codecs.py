"""Codec benchmark: every codec against a hand-written baseline in the same run.

Run with ``make bench`` (or ``.venv/bin/python bench/codecs.py [N]``). Figures and how to read
them are in docs/performance.md. Each part lives in its own module (``bench_text``,
``bench_copybook``, ``bench_niem``) with a ``run(n) -> list[dict]`` function; this script runs
them all and prints one table, so the ratios are measured on the same machine in the same run.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ("bench_text", "bench_copybook", "bench_niem", "bench_model")


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=20000,
                    help="messages per timed run (default 20000)")
    n = ap.parse_args(argv[1:]).n
    rows: list[dict[str, object]] = []
    for part in PARTS:
        try:
            module = importlib.import_module(part)
        except ModuleNotFoundError:
            print(f"({part} not present, skipped)")
            continue
        rows.extend(module.run(n))
    if not rows:
        print("no benchmark parts found")
        return 1
    keys = list(dict.fromkeys(k for row in rows for k in row))
    widths = {k: max(len(k), *(len(_fmt(row.get(k))) for row in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for row in rows:
        print("  ".join(_fmt(row.get(k)).ljust(widths[k]) for k in keys))
    out = Path(__file__).resolve().parent / "results-codecs.json"
    out.write_text(json.dumps(rows, indent=1) + "\n")
    print(f"\nwritten to {out}")
    return 0


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

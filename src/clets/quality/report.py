"""The scan's HTML report: one self-contained file a records clerk can open and read.

Charts are inline SVG drawn here (no script, no network, nothing to install): flags by
check, the histogram of match weights with the two thresholds, and the top duplicate
clusters side by side with the fields that differ marked.
"""

from __future__ import annotations

import datetime as _dt
import html
from collections.abc import Sequence

import numpy as np

from clets.model.types import Record

from .scan import ScanResult

__all__ = ["render"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;
font-size:.9em;text-align:left}th{background:#f3f3f3}.diff{background:#ffe08a}
.note{color:#555;font-size:.9em}svg text{font-size:11px;font-family:sans-serif}
"""


def _bar_chart(counts: dict[str, int]) -> str:
    if not counts:
        return "<p>No flags.</p>"
    width, bar_h = 640, 20
    top = max(counts.values())
    rows = []
    for i, (name, n) in enumerate(counts.items()):
        w = max(1, int((width - 220) * n / top))
        y = i * (bar_h + 4)
        rows.append(f'<text x="0" y="{y + 14}">{html.escape(name)}</text>'
                    f'<rect x="170" y="{y}" width="{w}" height="{bar_h}" fill="#4a78b5"/>'
                    f'<text x="{175 + w}" y="{y + 14}">{n:,}</text>')
    h = len(counts) * (bar_h + 4)
    return f'<svg width="{width}" height="{h}" role="img">{"".join(rows)}</svg>'


def _histogram(weights: np.ndarray, match_w: float, review_w: float) -> str:  # type: ignore[type-arg]
    if weights.size == 0:
        return "<p>No candidate pairs.</p>"
    lo, hi = float(np.floor(weights.min())), float(np.ceil(weights.max()))
    hi = max(hi, lo + 1)
    counts, edges = np.histogram(weights, bins=60, range=(lo, hi))
    width, height = 640, 200
    top = np.log10(counts.max() + 1)
    bw = width / len(counts)
    bars = []
    for i, c in enumerate(counts.tolist()):
        h = 0 if c == 0 else max(1.0, (height - 20) * np.log10(c + 1) / top)
        bars.append(f'<rect x="{i * bw:.1f}" y="{height - 20 - h:.1f}" width="{bw - 1:.1f}" '
                    f'height="{h:.1f}" fill="#6a9f58"><title>{edges[i]:.1f} to '
                    f'{edges[i + 1]:.1f}: {c:,} pairs</title></rect>')

    def line(w: float, label: str, color: str) -> str:
        x = (w - lo) / (hi - lo) * width
        return (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height - 20}" stroke="{color}" '
                f'stroke-dasharray="4"/><text x="{x + 3:.1f}" y="12" fill="{color}">'
                f'{label}</text>')

    axis = (f'<text x="0" y="{height - 5}">{lo:.0f}</text>'
            f'<text x="{width - 20}" y="{height - 5}">{hi:.0f}</text>')
    return (f'<svg width="{width}" height="{height}" role="img">{"".join(bars)}'
            f'{line(review_w, "review", "#c77c02")}{line(match_w, "match", "#b00020")}'
            f'{axis}</svg>')


def _cells(rec: Record) -> dict[str, str]:
    p, v = rec.person, rec.vehicle
    out: dict[str, str] = {}
    if p is not None:
        n = p.name
        out.update({"name": f"{n.last or ''}, {n.first or ''} {n.middle or ''}".strip()
                    if n else "", "dob": p.dob or "", "sex": p.sex or "",
                    "ssn": p.ssn or "", "oln": (p.license.number or "") if p.license else "",
                    "fbi": p.fbi or "", "cii": p.cii or ""})
    if v is not None:
        out.update({"plate": f"{v.plate_state or ''} {v.plate or ''}".strip(),
                    "vin": v.vin or ""})
    return out


def _cluster_table(result: ScanResult, members: Sequence[int], score: float) -> str:
    cells = [_cells(result.records[m].record) for m in members]
    keys = [k for k in ("name", "dob", "sex", "ssn", "oln", "fbi", "cii", "plate", "vin")
            if any(c.get(k) for c in cells)]
    head = "".join(f"<th>{html.escape(result.records[m].rid)}</th>" for m in members)
    rows = []
    for k in keys:
        vals = [c.get(k, "") for c in cells]
        differs = len({x for x in vals if x}) > 1
        tds = "".join(f'<td{" class=diff" if differs else ""}>{html.escape(x)}</td>'
                      for x in vals)
        rows.append(f"<tr><th>{k}</th>{tds}</tr>")
    assert result.model is not None
    p = float(result.model.probability(score))
    return (f"<p>{len(members)} records, best link weight {score:.1f} (p={p:.3f})</p>"
            f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>")


def render(result: ScanResult, source: str, today: _dt.date, top: int = 20) -> str:
    counts = result.flag_counts()
    n = len(result.records)
    flagged = sum(1 for f in result.flags if f)
    model = result.model
    parts = [f"<!doctype html><html><head><meta charset=utf-8><title>Quality scan: "
             f"{html.escape(source)}</title><style>{_CSS}</style></head><body>",
             f"<h1>Quality scan of {html.escape(source)}</h1>",
             f"<p>{n:,} records checked on {today}; {flagged:,} with at least one flag "
             f"({100 * flagged / max(n, 1):.2f} %); {len(result.clusters):,} duplicate "
             f"clusters; {result.review_pairs:,} pairs to review.</p>",
             "<h2>Flags by check</h2>", _bar_chart(counts),
             "<p class=note>Each check and what to do about it: docs/quality.md.</p>"]
    if model is not None:
        parts += ["<h2>Match weights of candidate pairs</h2>",
                  _histogram(result.weights, model.match_weight, model.review_weight),
                  f"<p class=note>{result.candidate_pairs:,} candidate pairs (log scale). "
                  f"Right of <b>match</b> (p ≥ {model.match_p}): duplicates. Between "
                  f"<b>review</b> (p ≥ {model.review_p}) and match: possible matches for a "
                  f"clerk to look at.</p>"]
    parts.append(f"<h2>Top {min(top, len(result.clusters))} duplicate clusters</h2>")
    for c in result.clusters[:top]:
        parts.append(_cluster_table(result, c.members[:6], c.score))
    parts.append("</body></html>")
    return "\n".join(parts)

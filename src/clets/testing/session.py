"""Requests and their answers: grouping a capture into exchanges and comparing two sessions.

Why pairing matters: a switch fans one query out to several destinations and their answers
come back in whatever order the network gives, so comparing "the 5th answer with the 5th
answer" would report noise.  An answer belongs to the request whose control field it echoes;
one without a control (or with an unknown one) belongs to the most recent request before it.
Inside one exchange, answers are paired greedily by fewest differences (ties by position), which
is deterministic whatever the arrival order was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clets.testing.capture import Capture, CaptureEvent
from clets.testing.diff import FieldDiff, MaskSet, diff_messages

__all__ = [
    "AnswerResult",
    "Exchange",
    "ExchangeResult",
    "SessionReport",
    "attribute",
    "compare_answers",
    "compare_sessions",
    "control_of",
    "exchanges",
    "request_link",
]


def control_of(ev: CaptureEvent) -> str | None:
    msg = ev.message
    if msg is None:
        return None
    c = msg.get("control")
    return c if isinstance(c, str) and c else None


@dataclass
class Exchange:
    """One request (a direction ``in`` frame) and the answers attributed to it.
    ``index`` is 1-based; index 0 holds unsolicited answers (before any request)."""

    index: int
    request: CaptureEvent | None
    answers: list[CaptureEvent] = field(default_factory=list)

    @property
    def control(self) -> str | None:
        return control_of(self.request) if self.request is not None else None

    def name(self) -> str:
        if self.request is None:
            return "unsolicited"
        msg = self.request.message or {}
        parts = [f"#{self.index}", str(msg.get("mke") or "?")]
        if self.control:
            parts.append(f"*{self.control}")
        return " ".join(parts)


def request_link(capture: Capture, link: str | None = None) -> str:
    """The link whose ``in`` frames are the requests: the one named, or the first link that
    has any ``in`` frame."""
    if link is not None:
        if link not in capture.links():
            raise KeyError(link)
        return link
    for ev in capture.events:
        if ev.kind == "frame" and ev.direction == "in":
            return ev.link
    names = capture.links()
    if not names:
        raise KeyError("<no links>")
    return names[0]


def attribute(answer: CaptureEvent, sent: Sequence[Exchange]) -> Exchange | None:
    """Which exchange an answer belongs to, among those sent so far (in send order)."""
    ctl = control_of(answer)
    if ctl is not None:
        for ex in reversed(sent):
            if ex.control == ctl:
                return ex
    return sent[-1] if sent else None


def exchanges(events: Sequence[CaptureEvent], link: str) -> tuple[list[Exchange], Exchange]:
    """The exchanges of one link, in request order, and the unsolicited answers."""
    result: list[Exchange] = []
    unsolicited = Exchange(0, None)
    for ev in events:
        if ev.kind != "frame" or ev.link != link:
            continue
        if ev.direction == "in":
            result.append(Exchange(len(result) + 1, ev))
        else:
            target = attribute(ev, result)
            (target or unsolicited).answers.append(ev)
    return result, unsolicited


# --------------------------------------------------------------------------- comparing

def _raw_view(ev: CaptureEvent) -> dict[str, Any]:
    return {"raw": ev.raw.hex() if ev.raw is not None else None,
            "decode_error": ev.decode_error}


def event_diff(captured: CaptureEvent, replayed: CaptureEvent, masks: MaskSet
               ) -> list[FieldDiff]:
    """Canonical diff where both decoded; otherwise the raw bytes (and decode errors)."""
    if captured.message is not None and replayed.message is not None:
        return diff_messages(captured.message, replayed.message, masks)
    if captured.raw is not None and captured.raw == replayed.raw:
        return []
    if captured.message is None and replayed.message is None:
        return diff_messages(_raw_view(captured), _raw_view(replayed), MaskSet())
    return [FieldDiff("$", captured.message if captured.message is not None
                      else f"<undecoded: {captured.decode_error}>",
                      replayed.message if replayed.message is not None
                      else f"<undecoded: {replayed.decode_error}>")]


@dataclass
class AnswerResult:
    captured: CaptureEvent | None
    replayed: CaptureEvent | None
    diffs: list[FieldDiff] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.captured is None:
            return "extra"
        if self.replayed is None:
            return "missing"
        return "different" if self.diffs else "identical"

    def label(self) -> str:
        ev = self.captured or self.replayed
        assert ev is not None
        msg = ev.message or {}
        return str(msg.get("mke") or f"<{len(ev.raw or b'')} bytes>")


def compare_answers(captured: Sequence[CaptureEvent], replayed: Sequence[CaptureEvent],
                    masks: MaskSet) -> list[AnswerResult]:
    """Pair two answer lists by fewest differences, then report each pair and the leftovers."""
    cost: list[tuple[int, int, int, list[FieldDiff]]] = []
    for i, c in enumerate(captured):
        for j, r in enumerate(replayed):
            d = event_diff(c, r, masks)
            cost.append((len(d), i, j, d))
    cost.sort(key=lambda x: (x[0], x[1], x[2]))
    used_c: set[int] = set()
    used_r: set[int] = set()
    pairs: dict[int, AnswerResult] = {}
    for _n, i, j, d in cost:
        if i in used_c or j in used_r:
            continue
        used_c.add(i)
        used_r.add(j)
        pairs[i] = AnswerResult(captured[i], replayed[j], d)
    out = [pairs.get(i) or AnswerResult(c, None) for i, c in enumerate(captured)]
    out += [AnswerResult(None, r) for j, r in enumerate(replayed) if j not in used_r]
    return out


@dataclass
class ExchangeResult:
    index: int
    name: str
    request: CaptureEvent | None
    answers: list[AnswerResult]
    request_diffs: list[FieldDiff] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.request_diffs and all(a.status == "identical" for a in self.answers)

    def describe(self) -> str:
        """The per-message diff a person reads (empty when it matched)."""
        lines: list[str] = []
        if self.request_diffs:
            lines.append("  request differs:")
            lines += [f"    {d}" for d in self.request_diffs]
        for n, a in enumerate(self.answers, start=1):
            if a.status == "identical":
                continue
            head = f"  answer {n} ({a.label()}): {a.status}"
            if a.status == "different":
                lines.append(head)
                lines += [f"    {d}" for d in a.diffs]
            elif a.status == "missing":
                lines.append(head + " (captured, not received on replay)")
            else:
                ev = a.replayed
                assert ev is not None
                # in full: an unexpected answer is exactly what the tester must read
                shown = (json.dumps(ev.message, ensure_ascii=False) if ev.message
                         else repr(ev.raw or b""))
                lines.append(head + f" (received, not in the capture): {shown}")
        return "\n".join(lines)


@dataclass
class SessionReport:
    results: list[ExchangeResult]
    elapsed: float = 0.0
    masks: MaskSet = field(default_factory=MaskSet)

    def counts(self) -> dict[str, int]:
        answers = [a for r in self.results for a in r.answers]
        return {
            "sent": sum(1 for r in self.results if r.request is not None),
            "answered": sum(1 for a in answers if a.replayed is not None),
            "identical": sum(1 for a in answers if a.status == "identical"),
            "different": sum(1 for a in answers if a.status == "different"),
            "missing": sum(1 for a in answers if a.status == "missing"),
            "extra": sum(1 for a in answers if a.status == "extra"),
        }

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def summary(self) -> str:
        c = self.counts()
        head = ("messages sent", "answered", "identical", "different", "missing", "extra",
                "time")
        vals = (str(c["sent"]), str(c["answered"]), str(c["identical"]), str(c["different"]),
                str(c["missing"]), str(c["extra"]), f"{self.elapsed:.2f}s")
        widths = [max(len(h), len(v)) for h, v in zip(head, vals, strict=True)]
        row1 = "  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))
        row2 = "  ".join(v.rjust(w) for v, w in zip(vals, widths, strict=True))
        return f"{row1}\n{row2}"

    def details(self) -> str:
        out = []
        for r in self.results:
            if not r.ok:
                out.append(f"{r.name}: DIFFERENT\n{r.describe()}")
        return "\n".join(out)


def compare_sessions(captured: Sequence[Exchange], replayed: Sequence[Exchange],
                     masks: MaskSet, *, unsolicited: tuple[Exchange, Exchange] | None = None,
                     compare_requests: bool = False, elapsed: float = 0.0) -> SessionReport:
    """Exchange i of one session against exchange i of the other."""
    results: list[ExchangeResult] = []
    if unsolicited is not None and (unsolicited[0].answers or unsolicited[1].answers):
        results.append(ExchangeResult(0, "unsolicited", None,
                                      compare_answers(unsolicited[0].answers,
                                                      unsolicited[1].answers, masks)))
    for k in range(max(len(captured), len(replayed))):
        c = captured[k] if k < len(captured) else None
        r = replayed[k] if k < len(replayed) else None
        name = (c or r).name() if (c or r) is not None else f"#{k + 1}"  # type: ignore[union-attr]
        req_diffs: list[FieldDiff] = []
        if c is None or r is None:
            req_diffs = [FieldDiff("request", "<present>" if c else "<absent>",
                                   "<present>" if r else "<absent>",
                                   "extra" if c is None else "missing")]
        elif compare_requests and c.request is not None and r.request is not None:
            req_diffs = event_diff(c.request, r.request, masks)
        results.append(ExchangeResult(
            k + 1, name, (c or r).request if (c or r) else None,  # type: ignore[union-attr]
            compare_answers(c.answers if c else [], r.answers if r else [], masks),
            req_diffs))
    return SessionReport(results, elapsed, masks)

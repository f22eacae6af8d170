"""The switch's quality step: the checks with their policies, between field edits and the
journal (docs/quality.md, "In the switch").

``QualityGate.inspect`` runs the per-message rules and the cross-record checks on an
incoming message and says what the switch does: forward with warnings, hold it for a
supervisor (``clets.switch.hold``), or reject with error 21 and the check's text.  The
operator's text is never altered: flags go to ``warnings`` (carried in the journal's
canonical form, the audit and the ACK), nothing else changes.
``screen_answer`` cuts sealed records from answers with a notice.  ``remember`` indexes what
was accepted, so the next entry is checked against it.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from clets.model.types import Message, Record

from .catalogue import POLICY_RANK, Check, Flag, catalogue, with_policies
from .crossrecord import cross_checks, cut_sealed
from .index import QualityIndex
from .rules import run_checks

__all__ = ["QualityConfig", "QualityGate", "Verdict"]


@dataclass(frozen=True, slots=True)
class QualityConfig:
    """The switch config's ``[quality]`` table."""

    index: Path
    policy: Mapping[str, str] = field(default_factory=dict)
    #: message keys whose subjects are indexed once accepted (entries), and answers' records
    index_keys: tuple[str, ...] = ("EW", "EWJ", "EV", "EPO", "EMP", "MW", "MV")


@dataclass(slots=True)
class Verdict:
    flags: list[Flag]
    action: str  # "forward" | "hold" | "reject"

    @property
    def warnings(self) -> list[str]:
        return [f.text() for f in self.flags]

    @property
    def reject_reason(self) -> str:
        """The text of the worst flag (the ``reject`` one, else the ``hold`` one): what the
        origin is answered with when the message is refused, now or by a supervisor."""
        worst = max(self.flags, key=lambda f: POLICY_RANK[f.policy])
        return f"{worst.check}: {worst.reason}"[:100]


class QualityGate:
    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self.checks: dict[str, Check] = with_policies(catalogue(), config.policy)
        self.index = QualityIndex(config.index)
        self.index.warm()
        self._seq = 0

    def close(self) -> None:
        self.index.close()

    def inspect(self, msg: Message, today: _dt.date) -> Verdict:
        flags = run_checks(msg, today, self.checks)
        flags += cross_checks(msg, self.index, today, self.checks)
        if not flags:
            return Verdict([], "forward")
        worst = max(POLICY_RANK[f.policy] for f in flags)
        action = {POLICY_RANK["reject"]: "reject", POLICY_RANK["hold"]: "hold"}.get(
            worst, "forward")
        return Verdict(flags, action)

    def remember(self, msn: int, msg: Message) -> None:
        """Index an accepted entry's subject (``E<msn>``)."""
        if msg.mke in self.config.index_keys and (msg.person or msg.vehicle):
            self.index.add(f"E{msn}", Record(file=None, person=msg.person,
                                             vehicle=msg.vehicle, case=msg.case), "entry")

    def screen_answer(self, msg: Message, msn: int) -> tuple[list[Record], list[str]]:
        """The answer's records with sealed ones cut, and a notice per cut record; the kept
        records are indexed (``A<msn>.<i>``)."""
        kept, notices = cut_sealed(msg.records, self.index.sealed())
        items = [(f"A{msn}.{i}", r, "answer") for i, r in enumerate(kept)
                 if r.person is not None or r.vehicle is not None]
        if items:
            self.index.add_many(items)
        return kept, notices

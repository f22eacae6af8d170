"""Hit confirmation clocks: NCIC's policy for a hit, as the switch sees it pass.

Why the switch keeps them: a hit on a wanted person, a stolen vehicle or a protection order
is not grounds to arrest or seize until the entering agency confirms it, and NCIC sets how
long that may take -- 10 minutes when the request is urgent (priority ``U``: the hit is the
only reason to hold someone), one hour when routine (``R``) (domain.md §2.8; Nlets YQ/YR).
The switch sees the hit (an answer with records), the hit confirmation request the origin
sends (``YQ``, with ``PRI``, ``RNO``, ``NIC``) and the entering agency's answer (``YR``), so it
can keep the clock, remind the origin when it runs out, and audit every step.  It never
confirms anything itself.

This module is sans-I/O: it takes messages and the time, and returns what to audit and what
reminders to deliver; the engine writes them in its journal transaction.  The open clocks are
kept in memory: a restart forgets them (each step is in the audit trail).

Which record files need confirmation, the windows and the number of reminders are data
(``transactions.toml``: a file with a ``confirm`` request type; ``WINDOWS`` below).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from clets.model import Message, Record
from clets.model.transactions import Transactions, default_transactions

from .audit import AuditEvent

__all__ = ["WINDOWS", "Clock", "HitConfirmations", "Reminder", "reminder_message"]

#: seconds the entering agency has to answer, by YQ priority (NCIC hit confirmation policy)
WINDOWS = {"U": 600.0, "R": 3600.0}
#: reminders per hit before the switch stops (NCIC: a second request, then a third and a
#: notice to the FBI CJIS Division when the third is not answered either)
MAX_REMINDERS = 3
#: the model's record file -> the YQ request type of its NCIC file
_RTY_OF_FILE = {"wanted": "WP", "vehicle": "SV", "protection_order": "PO", "missing": "MP"}


@dataclass(slots=True)
class Clock:
    """One hit waiting for its confirmation."""

    nic: str
    rty: str
    entering_ori: str | None
    requester: str | None  # the ORI that got the hit
    link: str  # where the requester is reached (reminders go there)
    peer: str | None
    msn: int  # the message the hit answered (deliveries hang on it)
    control: str | None
    priority: str
    due: float
    requests: int = 0  # YQ sent so far (RNO of the last one)
    reminders: int = 0


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder to deliver: to whom, and what it says."""

    clock: Clock
    text: str


@dataclass(slots=True)
class HitConfirmations:
    """The open clocks, keyed by (NIC, requester ORI)."""

    windows: dict[str, float] = field(default_factory=lambda: dict(WINDOWS))
    default_priority: str = "U"
    max_reminders: int = MAX_REMINDERS
    table: Transactions | None = None
    open: dict[tuple[str, str | None], Clock] = field(default_factory=dict)

    def _rty(self, rec: Record) -> str | None:
        """The request type of a record that needs confirmation (None: it does not)."""
        table = self.table or default_transactions()
        type_text = rec.fields.get("MKE")
        if type_text is not None:
            fid = table.file_of_type(type_text.split("\n")[0].split(" - CAUTION")[0])
            if fid is not None:
                return table.files[fid].confirm
        rty = _RTY_OF_FILE.get(rec.file or "")
        return rty if rty in ("WP", "SV", "PO") else None

    def on_answer(self, *, msn: int, link: str | None, peer: str | None,
                  requester: str | None, control: str | None, request_mke: str | None,
                  answer: Message, now: float) -> list[AuditEvent]:
        """A destination's answer to a request: a hit starts clocks, a YR closes one."""
        events: list[AuditEvent] = []
        if answer.mke == "YR" or request_mke == "YQ":
            nic = answer.case.nic if answer.case else None
            if nic is None and answer.records and answer.records[0].case:
                nic = answer.records[0].case.nic
            clock = self.open.pop((nic or "", requester), None)
            if clock is not None:
                outcome = "confirmed" if answer.status == "hit" else "not_confirmed"
                events.append(self._event(clock, outcome, answer.mke,
                                          f"YR from {answer.origin or '?'} for NIC {nic}: "
                                          f"{(answer.text or answer.status or '')[:60]}"))
            return events
        if answer.status != "hit" or link is None:
            return events
        for rec in answer.records:
            rty = self._rty(rec)
            nic = rec.case.nic if rec.case else None
            if rty is None or nic is None or (nic, requester) in self.open:
                continue
            clock = Clock(nic=nic, rty=rty, entering_ori=rec.ori, requester=requester,
                          link=link, peer=peer, msn=msn, control=control,
                          priority=self.default_priority,
                          due=now + self.windows[self.default_priority])
            self.open[(nic, requester)] = clock
            events.append(self._event(clock, "clock_started", answer.mke,
                                      f"hit {rty} NIC {nic} of {rec.ori or '?'}: confirm "
                                      f"within {self._minutes(clock.priority)}"))
        return events

    def on_request(self, msg: Message, now: float) -> list[AuditEvent]:
        """A YQ the origin sends: the clock runs from it, with the YQ's priority."""
        if msg.mke != "YQ":
            return []
        nic = msg.case.nic if msg.case else None
        clock = self.open.get((nic or "", msg.origin))
        if clock is None:
            return []
        priority = msg.fields.get("PRI", clock.priority)
        if priority in self.windows:
            clock.priority = priority
        rno = msg.fields.get("RNO", "")
        clock.requests = int(rno) if rno.isdigit() else clock.requests + 1
        clock.due = now + self.windows[clock.priority]
        return [self._event(clock, "requested", "YQ",
                            f"YQ RNO {clock.requests} PRI {clock.priority} for NIC "
                            f"{clock.nic}: answer due within {self._minutes(clock.priority)}")]

    def due(self, now: float) -> list[tuple[Reminder, AuditEvent]]:
        """Reminders for the clocks that ran out (a clock gives up after its last one)."""
        out: list[tuple[Reminder, AuditEvent]] = []
        for key, clock in list(self.open.items()):
            if clock.due > now:
                continue
            clock.reminders += 1
            last = clock.reminders >= self.max_reminders
            rno = min(clock.requests + 1, 3)
            text = (f"HIT CONFIRMATION OVERDUE NIC/{clock.nic} RTY/{clock.rty} "
                    f"ORI/{clock.entering_ori or 'UNKNOWN'}: NO YR WITHIN "
                    f"{self._minutes(clock.priority).upper()}. "
                    + ("SEND YQ RNO/" + str(rno) + " OR CALL THE ENTERING AGENCY"
                       if not last else "LAST REMINDER: NOTIFY THE FBI CJIS DIVISION"))
            ev = self._event(clock, "reminder" if not last else "unconfirmed", "SM",
                             f"reminder {clock.reminders} for NIC {clock.nic}")
            out.append((Reminder(clock, text), ev))
            if last:
                del self.open[key]
            else:
                clock.due = now + self.windows[clock.priority]
        return out

    def next_due(self) -> float | None:
        return min((c.due for c in self.open.values()), default=None)

    def _minutes(self, priority: str) -> str:
        seconds = self.windows[priority]
        return f"{seconds / 60:g} minutes" if seconds < 3600 else f"{seconds / 3600:g} hour" + (
            "s" if seconds != 3600 else "")

    @staticmethod
    def _event(clock: Clock, outcome: str, mke: str | None, reason: str) -> AuditEvent:
        return AuditEvent("hit_confirmation", msn=clock.msn, link=clock.link, peer=clock.peer,
                          origin=clock.requester, destination=clock.entering_ori, mke=mke,
                          outcome=outcome, reason=reason[:200])


def reminder_message(switch_ori: str, reminder: Reminder, fmt: str) -> Message:
    """The status message (``SM``) a reminder is delivered as, from the switch's ORI."""
    clock = reminder.clock
    return Message(format=fmt, mke="SM", origin=switch_ori,
                   destinations=[clock.requester] if clock.requester else [],
                   control=clock.control, text=reminder.text)

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
reminders to deliver; the engine writes them in its journal transaction.  The open clocks live
in memory and are journaled too: every clock a call looked at is in ``touched`` and
:meth:`HitConfirmations.take_touched` gives each one's JSON text (or ``None``: closed), which
the engine writes in the same transaction as the audit records (``journal.hit_clock_set``);
at start :meth:`HitConfirmations.restore` rebuilds the open clocks from what the journal holds,
so a switch killed during a confirmation window still sends its reminder after the restart.
A call records every clock it *looked at*, changed or not: the group commit may run a step
twice (batch.py), and the second run, which finds the clock already changed in memory, must
still write it.

Which record files need confirmation, the windows and the number of reminders are data
(``transactions.toml``: a file with a ``confirm`` request type; ``WINDOWS`` below).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from clets.model import Message, Record
from clets.model.transactions import Transactions, default_transactions

from .audit import AuditEvent

__all__ = ["WINDOWS", "Clock", "HitConfirmations", "Reminder", "clock_key", "reminder_message"]

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


_CLOCK_FIELDS = {f.name: f.type for f in fields(Clock)}


def clock_key(key: tuple[str, str | None]) -> str:
    """The journal's key of a clock: ``NIC|requester ORI`` (neither holds ``|``)."""
    return f"{key[0]}|{key[1] or ''}"


def _clock_of(text: str) -> Clock:
    """A journaled clock back from its JSON text (ValueError if it is not one)."""
    data = json.loads(text)
    if not isinstance(data, dict) or set(data) != set(_CLOCK_FIELDS):
        raise ValueError("not a hit confirmation clock")
    for name in ("nic", "rty", "link", "priority"):
        if not isinstance(data[name], str):
            raise ValueError(f"clock {name} is not text")
    for name in ("msn", "requests", "reminders"):
        if type(data[name]) is not int:
            raise ValueError(f"clock {name} is not a whole number")
    if not isinstance(data["due"], (int, float)) or isinstance(data["due"], bool):
        raise ValueError("clock due is not a time")
    for name in ("entering_ori", "requester", "peer", "control"):
        if data[name] is not None and not isinstance(data[name], str):
            raise ValueError(f"clock {name} is not text")
    return Clock(**data)


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
    #: clocks a call looked at since the last :meth:`take_touched` (to journal)
    touched: set[tuple[str, str | None]] = field(default_factory=set)
    #: the last answers seen: (msn, requester, now) -> (answer, its audit records, the clocks
    #: it looked at), so that a step run twice audits twice the same (``on_answer``)
    _memo: dict[tuple[int, str | None, float],
                tuple[Message, tuple[AuditEvent, ...], frozenset[tuple[str, str | None]]]] = \
        field(default_factory=dict)

    def take_touched(self) -> list[tuple[str, str | None]]:
        """``(journal key, JSON text or None)`` of each clock looked at since the last call:
        the text of an open clock, ``None`` for one that is closed (delete it)."""
        out = []
        for key in sorted(self.touched, key=lambda k: (k[0], k[1] or "")):
            clock = self.open.get(key)
            out.append((clock_key(key),
                        None if clock is None else json.dumps(asdict(clock), sort_keys=True)))
        self.touched.clear()
        return out

    def restore(self, journaled: dict[str, str], now: float) -> list[AuditEvent]:
        """Replace the open clocks with those the journal holds (at start); one audit record
        each (``restored``; ``unreadable`` for a value that is not a clock, which is then
        deleted -- it is in the trail).  A clock that ran out while the switch was down is
        due at once: the timer's next pass reminds."""
        self.open.clear()
        self.touched.clear()
        events: list[AuditEvent] = []
        for key_text, text in sorted(journaled.items()):
            try:
                clock = _clock_of(text)
            except (ValueError, TypeError):
                nic, _, requester = key_text.partition("|")
                self.touched.add((nic, requester or None))
                events.append(AuditEvent("hit_confirmation", outcome="unreadable",
                                         reason=f"journaled clock {key_text}: {text[:120]}"))
                continue
            if clock.priority not in self.windows:
                clock.priority = self.default_priority
            self.open[(clock.nic, clock.requester)] = clock
            late = now - clock.due
            events.append(self._event(
                clock, "restored", None,
                f"clock of NIC {clock.nic} restored at start: "
                + (f"overdue by {late:.0f} s" if late > 0 else f"due in {-late:.0f} s")))
        return events

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
        """A destination's answer to a request: a hit starts clocks, a YR closes one.

        The same call again (the same answer object, message and time: a step the group
        commit runs a second time after its batch was rolled back) returns the same audit
        records and looks at the same clocks, instead of finding its own work done and
        auditing nothing."""
        memo = (msn, requester, now)
        seen = self._memo.get(memo)
        if seen is not None and seen[0] is answer:
            self.touched.update(seen[2])
            return list(seen[1])
        before = set(self.touched)
        self.touched.clear()
        try:
            events = self._on_answer(msn=msn, link=link, peer=peer, requester=requester,
                                     control=control, request_mke=request_mke, answer=answer,
                                     now=now)
            looked = frozenset(self.touched)
        finally:
            self.touched |= before
        if len(self._memo) >= 256:
            del self._memo[next(iter(self._memo))]
        self._memo[memo] = (answer, tuple(events), looked)
        return events

    def _on_answer(self, *, msn: int, link: str | None, peer: str | None,
                   requester: str | None, control: str | None, request_mke: str | None,
                   answer: Message, now: float) -> list[AuditEvent]:
        events: list[AuditEvent] = []
        if answer.mke == "YR" or request_mke == "YQ":
            nic = answer.case.nic if answer.case else None
            if nic is None and answer.records and answer.records[0].case:
                nic = answer.records[0].case.nic
            self.touched.add((nic or "", requester))
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
            if rty is None or nic is None:
                continue
            self.touched.add((nic, requester))
            if (nic, requester) in self.open:
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
        self.touched.add((clock.nic, clock.requester))
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
            self.touched.add(key)
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

"""The scripted demo scenario: eight steps, each with the answers it must get.

Every step sends something the way a real peer would, collects what comes back (bounded
waits only), prints a transcript line per answer -- source, latency, one-line summary -- and
checks each answer against the well-known records of the simulated data set (docs/sim.md).
A missing, extra or wrong answer fails the step with a line saying what was expected.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from clets.errors import CletsError
from clets.framing import make_framer
from clets.model import Case, Message, Name, Person, Record, Vehicle, dumps

from .network import DMV_DEADLINE, ORIS, Answer, DemoNetwork, decode_answer
from .summary import one_line, wire_preview

__all__ = ["Scenario", "StepResult", "Transcript"]


class Transcript:
    """Where the transcript goes (``click.echo`` normally; a list in tests)."""

    def __init__(self, echo: Callable[[str], None], *, quiet: bool = False) -> None:
        self._echo = echo
        self.quiet = quiet

    def line(self, text: str = "") -> None:
        self._echo(text)

    def detail(self, text: str) -> None:
        """Wire-level detail, left out with ``--quiet``."""
        if not self.quiet:
            self._echo(text)


class Peer(Protocol):
    async def receive(self, timeout: float) -> tuple[bytes, float]: ...


@dataclass(frozen=True, slots=True)
class Expect:
    """An answer a step must get: from ``source``, satisfying ``check``."""

    source: str
    what: str
    check: Callable[[Message], bool]


@dataclass(slots=True)
class StepResult:
    number: int
    title: str
    problems: list[str] = field(default_factory=list)
    answers: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------- checks


def _recs(msg: Message, file: str) -> list[Record]:
    return [r for r in msg.records if r.file == file]


def _nic(rec: Record) -> str | None:
    return rec.case.nic if rec.case else None


def stolen_vehicle(plate: str, nic: str) -> Callable[[Message], bool]:
    return lambda m: m.status == "hit" and any(
        r.vehicle is not None and r.vehicle.plate == plate and _nic(r) == nic
        for r in _recs(m, "vehicle"))


def registration(plate: str, *, stolen: bool | None = None, owner: str | None = None,
                 fees: str | None = None, late: bool = False) -> Callable[[Message], bool]:
    def check(m: Message) -> bool:
        regs = [r for r in _recs(m, "registration")
                if r.vehicle is not None and r.vehicle.plate == plate]
        if m.status != "hit" or not regs or (late and "late" not in m.warnings):
            return False
        r = regs[0]
        if stolen is not None and (r.registration is None or bool(r.registration.stolen)
                                   != stolen):
            return False
        if fees is not None and (r.registration is None or r.registration.fees_due != fees):
            return False
        return owner is None or (r.owner is not None and r.owner.name is not None
                                 and r.owner.name.last == owner)
    return check


def wanted(nic: str, *, also_order: str | None = None) -> Callable[[Message], bool]:
    def check(m: Message) -> bool:
        ok = m.status == "hit" and any(_nic(r) == nic and r.caution
                                       for r in _recs(m, "wanted"))
        if also_order is not None:
            ok = ok and any(r.case is not None and r.case.fcn == also_order
                            for r in _recs(m, "protection_order"))
        return ok
    return check


def protection_order(fcn: str) -> Callable[[Message], bool]:
    return lambda m: m.status == "hit" and any(
        r.case is not None and r.case.fcn == fcn for r in _recs(m, "protection_order"))


def licence(oln: str, status: str) -> Callable[[Message], bool]:
    return lambda m: m.status == "hit" and any(
        r.person is not None and r.person.license is not None
        and r.person.license.number == oln and r.person.license.status == status
        for r in _recs(m, "driver"))


def history(cycles: int) -> Callable[[Message], bool]:
    return lambda m: m.status == "hit" and len(_recs(m, "criminal_history")) == cycles + 1


def no_hit(m: Message) -> bool:
    return m.status == "no_hit"


def error(code: int, reason: str) -> Callable[[Message], bool]:
    return lambda m: (m.status == "error" and m.error is not None and m.error.code == code
                      and m.error.reason == reason)


def ack(m: Message) -> bool:
    return m.mke == "ACK" and (m.text or "").startswith("ACCEPTED MSN ")


def not_responding(dest: str) -> Callable[[Message], bool]:
    return lambda m: (m.status == "pending" and m.error is not None and m.error.code == 2
                      and f"{dest} NOT RESPONDING, WILL FORWARD" in (m.text or ""))


def match(answers: list[Answer], expects: list[Expect]) -> list[str]:
    """Problems: expected answers that are missing or wrong, and answers nobody expected."""
    problems: list[str] = []
    used: set[int] = set()
    for e in expects:
        candidates = [i for i, a in enumerate(answers) if i not in used and a.source == e.source]
        if not candidates:
            problems.append(f"no answer from {e.source} (expected {e.what})")
            continue
        for i in candidates:
            msg = answers[i].msg
            if msg is not None and e.check(msg):
                used.add(i)
                break
        else:
            got = answers[candidates[0]]
            used.add(candidates[0])
            problems.append(f"{e.source}: expected {e.what}, got "
                            f"{one_line(got.msg) if got.msg else got.decode_error}")
    for i, a in enumerate(answers):
        if i not in used:
            problems.append(f"unexpected answer from {a.source}: {one_line(a.msg)}")
    return problems


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v not in (None, [], {}, False)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def compact_json(msg: Message) -> str:
    """The canonical JSON without its empty fields (the wire carries them all)."""
    return json.dumps(_pruned(json.loads(dumps(msg))), separators=(",", ":"))


def _hex(data: bytes, n: int = 20) -> str:
    return data[:n].hex(" ") + (" ..." if len(data) > n else "")


# ---------------------------------------------------------------------- scenario


class Scenario:
    """Runs the steps against a started :class:`DemoNetwork`."""

    def __init__(self, net: DemoNetwork, tr: Transcript) -> None:
        self.net = net
        self.tr = tr
        self.results: list[StepResult] = []
        self.answers_seen = 0

    # ---- helpers

    async def collect(self, peer: Peer, link: str, codec: str, count: int, start: float,
                      timeout: float, *, settle: float = 0.3) -> list[Answer]:
        """Up to ``count`` answers within ``timeout``, then ``settle`` s for strays; each one
        decoded, attributed and printed."""
        answers: list[Answer] = []
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic() if len(answers) < count else settle
            if left <= 0:
                break
            try:
                raw, at = await peer.receive(left)
            except TimeoutError:
                break
            a = decode_answer(codec, raw, at)
            await self.net.attribute(link, a)
            answers.append(a)
            self.show(a, start)
        self.answers_seen += len(answers)
        return answers

    def show(self, a: Answer, start: float, where: str = "") -> None:
        ms = max(0.0, (a.at - start) * 1000)
        self.tr.line(f"   <- {a.source:<6} {ms:6.0f} ms  {one_line(a.msg)}{where}")
        if a.msg is not None and a.msg.format == "json":
            self.tr.detail(f"      json {len(a.raw)} B from {a.msg.origin or '?'} "
                           f"control {a.msg.control} status {a.msg.status}"
                           + (f" warnings {a.msg.warnings}" if a.msg.warnings else ""))
        else:
            self.tr.detail(f"      wire {len(a.raw)} B: {wire_preview(a.raw)}")

    def show_forwarded(self, msn: int | None, dmv_from: tuple[int, int]) -> None:
        if msn is None:
            return
        sw = self.net.switch
        assert sw is not None
        parts = []
        for r in self.net.forwarded(msn):
            dest = sw.config.destinations.get(str(r.get("destination")))
            codec = dest.encode.get(str(r.get("mke")), dest.codec) if dest else "?"
            enc = f"/{dest.encoding}" if dest and dest.encoding else ""
            parts.append(f"{r.get('destination')} ({codec}{enc}, {r.get('bytes')} B)")
        if parts:
            self.tr.detail(f"      switch msn {msn} forwarded to: {', '.join(parts)}")
        tap = self.net.dmv_tap
        if tap is not None:
            tx, rx = tap.tx_log[dmv_from[0]:], tap.rx_log[dmv_from[1]:]
            for frame in tx[:1]:
                self.tr.detail(f"      switch -> DMV {frame[:4].decode('cp037')} record "
                               f"{len(frame)} B cp037: {_hex(frame)}")
            for frame in rx[:1]:
                self.tr.detail(f"      DMV -> switch {frame[:4].decode('cp037')} record "
                               f"{len(frame)} B cp037: {_hex(frame)}")

    def _dmv_mark(self) -> tuple[int, int]:
        tap = self.net.dmv_tap
        return (len(tap.tx_log), len(tap.rx_log)) if tap is not None else (0, 0)

    async def terminal_query(self, text: str, count: int, timeout: float) -> list[Answer]:
        term = self.net.terminal
        assert term is not None
        payload = text.encode("ascii")
        frame = make_framer("stx-etx+lrc").encode(payload)
        self.tr.line(f"   -> TERM1  {text}")
        self.tr.detail(f"      wire {len(frame)} B (serial, stx-etx+lrc): <STX>{text}<ETX>"
                       f"<LRC {frame[-1]:02x}>")
        mark = self._dmv_mark()
        start = await term.send(payload)
        answers = await self.collect(term, "tty", "ncic", count, start, timeout)
        self.show_forwarded(self.net.received_msn("tty", payload), mark)
        return answers

    async def cad_query(self, msg: Message) -> tuple[bytes, float]:
        client = self.net.client
        assert client is not None
        raw, start = await client.send(msg)
        self.tr.line(f"   -> LAPD   {msg.mke} control {msg.control} (canonical JSON over "
                     "mutual TLS)")
        self.tr.detail(f"      wire {len(raw)} B, empty fields left out here: "
                       f"{compact_json(msg)}")
        return raw, start

    # ---- steps

    async def step1(self) -> list[str]:
        answers = await self.terminal_query(f"QV.{ORIS['TERM']}.LIC/7ABC123.LIS/CA", 3, 8.0)
        return match(answers, [
            Expect("SVS", "stolen-vehicle hit NIC V123456789",
                   stolen_vehicle("7ABC123", "V123456789")),
            Expect("NCIC", "stolen-vehicle hit NIC V123456789",
                   stolen_vehicle("7ABC123", "V123456789")),
            Expect("DMV", "registration of 7ABC123 to JOHNSON, marked stolen",
                   registration("7ABC123", stolen=True, owner="JOHNSON")),
        ])

    async def step2(self) -> list[str]:
        client = self.net.client
        assert client is not None
        msg = Message(format="json", mke="QW", origin=ORIS["CAD"], control="CAD0002",
                      person=Person(name=Name("SMITH", "JOHN", "J"), dob="1975-10-12",
                                    sex="M", race="W"))
        mark = self._dmv_mark()
        raw, start = await self.cad_query(msg)
        answers = await self.collect(client, "cad", "json", 4, start, 8.0)
        self.show_forwarded(self.net.received_msn("cad", raw), mark)
        return match(answers, [
            Expect("SWITCH", "ACK after the journal commit", ack),
            Expect("WPS", "wanted hit NIC W123456789 with caution", wanted("W123456789")),
            Expect("NCIC", "wanted hit W123456789 and protection order 0342024001234",
                   wanted("W123456789", also_order="0342024001234")),
            Expect("CARPOS", "restraining order FCN 0342024001234",
                   protection_order("0342024001234")),
        ])

    async def step3(self) -> list[str]:
        answers = await self.terminal_query(f"DQ.{ORIS['TERM']}.OLN/A1234567", 1, 8.0)
        return match(answers, [
            Expect("DMV", "valid licence A1234567 (GARCIA)", licence("A1234567", "VA"))])

    async def step4(self) -> list[str]:
        client = self.net.client
        assert client is not None
        await self.net.sim.set_outage("DMV", True)
        down_at = time.monotonic()
        self.tr.line("   !! DMV simulator taken DOWN (connections refused); "
                     f"DMV answer deadline {DMV_DEADLINE:g} s")
        msg = Message(format="json", mke="RQ", origin=ORIS["CAD"], control="CAD0004",
                      vehicle=Vehicle(plate="8XYZ789", plate_state="CA"))
        mark = self._dmv_mark()
        raw, start = await self.cad_query(msg)
        first = await self.collect(client, "cad", "json", 2, start, DMV_DEADLINE + 6.0,
                                   settle=0.1)
        await self.net.sim.set_outage("DMV", False)
        self.tr.line(f"   !! DMV simulator back UP after {time.monotonic() - down_at:.1f} s; "
                     "the switch still holds the request in its journal")
        later = await self.collect(client, "cad", "json", 1, start, 15.0)
        self.show_forwarded(self.net.received_msn("cad", raw), mark)
        return match(first + later, [
            Expect("SWITCH", "ACK after the journal commit", ack),
            Expect("SWITCH", ".02. DMV NOT RESPONDING, WILL FORWARD", not_responding("DMV")),
            Expect("DMV", "late registration answer for 8XYZ789 (fees 123.45)",
                   registration("8XYZ789", fees="123.45", late=True)),
        ])

    async def step5(self) -> list[str]:
        text = f"QW.{ORIS['TERM']}.NAM/SMITH, JOHN J.DOB/19751302.SEX/M"
        answers = await self.terminal_query(text, 1, 5.0)
        problems = match(answers, [
            Expect("SWITCH", ".21. INVALID FIELD DOB", error(21, "INVALID FIELD DOB"))])
        if self.net.received_msn("tty", text.encode()) is not None:
            problems.append("the malformed query was journaled (it must be rejected first)")
        return problems

    RMS_BATCH = (
        ("QV.{ori}.LIC/5GHJ234.LIS/CA", [
            Expect("SVS", "no record", no_hit), Expect("NCIC", "no record", no_hit),
            Expect("DMV", "registration of 5GHJ234, not stolen",
                   registration("5GHJ234", stolen=False))]),
        ("QR.{ori}.FBI/701234JB5", [
            Expect("CCH", "criminal history with 3 cycles", history(3)),
            Expect("NCIC", "III record with 3 cycles", history(3))]),
        ("RQ.{ori}.LIC/ABC1234.LIS/NV", [
            Expect("NLETS", "Nevada registration of ABC1234 (OLSEN)",
                   registration("ABC1234", owner="OLSEN"))]),
        ("QW.{ori}.NAM/ZZYZX, ALAN.DOB/19800101", [
            Expect("WPS", "no want", no_hit), Expect("NCIC", "no want", no_hit),
            Expect("CARPOS", "no order", no_hit)]),
    )

    async def step6(self) -> list[str]:
        ori = ORIS["RMS"]
        lines = [q.format(ori=ori) for q, _ in self.RMS_BATCH]
        expected = sum(len(e) for _, e in self.RMS_BATCH)
        inbox, outbox = self.net.spool / "inbox", self.net.spool / "outbox"
        part = inbox / ".rms-batch-0001.txt.part"
        part.write_text("\n".join(lines) + "\n")
        part.rename(inbox / "rms-batch-0001.txt")  # rename-complete: never read half-written
        start = time.monotonic()
        self.tr.line(f"   -> SFPD   dropped inbox/rms-batch-0001.txt ({len(lines)} inquiries):")
        for line in lines:
            self.tr.line(f"             {line}")
        seen: dict[str, float] = {}
        end = start + 15.0
        while time.monotonic() < end:
            if outbox.is_dir():
                for p in outbox.iterdir():
                    if not p.name.startswith(".") and p.name not in seen:
                        seen[p.name] = time.monotonic()
            if len(seen) >= expected:
                await asyncio.sleep(0.3)  # strays
                continue_ = [p for p in outbox.iterdir() if not p.name.startswith(".")
                             and p.name not in seen]
                for p in continue_:
                    seen[p.name] = time.monotonic()
                break
            await asyncio.sleep(0.05)
        by_msn: dict[int | None, list[Answer]] = {}
        for name in sorted(seen):
            a = decode_answer("ncic", (outbox / name).read_bytes(), seen[name])
            a.name = name
            await self.net.attribute("rms", a)
            by_msn.setdefault(a.msn, []).append(a)
        self.answers_seen += len(seen)
        problems: list[str] = []
        for line, expects in ((q.format(ori=ori), e) for q, e in self.RMS_BATCH):
            msn = self.net.received_msn("rms", line.encode())
            self.tr.line(f"   -- {line}  (msn {msn})")
            answers = by_msn.pop(msn, []) if msn is not None else []
            for a in answers:
                self.show(a, start, f"  -> outbox/{a.name}")
            problems += [f"{line}: {p}" for p in match(answers, expects)]
        for stray in by_msn.values():
            problems += [f"unexpected file outbox/{a.name} from {a.source}" for a in stray]
        archived = list((self.net.spool / "archive").glob("*rms-batch-0001.txt"))
        self.tr.detail(f"      batch file now in archive/: "
                       f"{', '.join(p.name for p in archived) or '(not yet)'}")
        if not archived:
            problems.append("the batch file was not archived")
        return problems

    async def step7(self) -> list[str]:
        """The hit of step 2 started NCIC's confirmation clock in the switch; the CAD asks
        the entering agency to confirm it (YQ, urgent), the YR stops the clock, and the
        audit trail holds each step."""
        client = self.net.client
        assert client is not None
        nic = "W123456789"
        msg = Message(format="json", mke="YQ", origin=ORIS["CAD"], control="CAD0007",
                      destinations=["CA0349999"], case=Case(oca="24-001234", nic=nic),
                      fields={"RTY": "WP", "RNO": "1", "PRI": "U"})
        head = self.net.audit_head()
        raw, start = await self.cad_query(msg)
        answers = await self.collect(client, "cad", "json", 2, start, 8.0)
        self.show_forwarded(self.net.received_msn("cad", raw), self._dmv_mark())
        problems = match(answers, [
            Expect("SWITCH", "ACK after the journal commit", ack),
            Expect("NLETS", f"YR confirming {nic}",
                   lambda m: m.mke == "YR" and m.status == "hit"
                   and (m.text or "").startswith("CONFIRMED")),
        ])
        steps: list[str] = []
        end = time.monotonic() + 3.0
        while time.monotonic() < end and "confirmed" not in steps:
            steps = [str(r.get("outcome")) for r in self.net.audit_records(after=0)
                     if r.get("event") == "hit_confirmation" and nic in str(r.get("reason"))]
            await asyncio.sleep(0.05)
        new = [str(r.get("outcome")) for r in self.net.audit_records(after=head)
               if r.get("event") == "hit_confirmation"]
        self.tr.line(f"   -- audit hit_confirmation for {nic}: {', '.join(steps) or '(none)'}")
        if "clock_started" not in steps:
            problems.append(f"no confirmation clock was started by the hit on {nic} (step 2)")
        if new[:2] != ["requested", "confirmed"]:
            problems.append(f"expected the YQ and the YR audited, got {new}")
        return problems

    async def step8(self) -> list[str]:
        """A body-worn-camera platform on the HTTP API: a client of its own (OAuth 2.0
        client credentials over HTTPS), a warrant check posted as JSON, and the hits it
        brings on the platform's event stream -- which it resumes, after hanging up, from
        the journal."""
        import httpx

        from clets.api.clients import ClientStore

        api, pki = self.net.api, self.net.pki
        assert api is not None and pki is not None and api.api.clients is not None
        client, secret = ClientStore(api.api.clients).add("BWC", client_id="bwc-platform-01")
        self.tr.line(f"   -- clets api client add BWC: client {client.id} (its secret shown "
                     "once, kept as an Argon2 hash)")
        tls = ssl.create_default_context(cafile=str(pki.ca))
        async with httpx.AsyncClient(base_url=f"https://{api.address()}", verify=tls,
                                     timeout=10.0) as http:
            r = await http.post("/v1/token", data={
                "grant_type": "client_credentials", "client_id": client.id,
                "client_secret": secret})
            if r.status_code != 200:
                return [f"token request: HTTP {r.status_code} {r.text[:200]}"]
            http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
            self.tr.line(f"   -> BWC    POST /v1/token (client credentials over HTTPS): a "
                         f"bearer token for {r.json().get('expires_in')} s")
            events: list[tuple[dict[str, Any], float]] = []
            # from id 0: everything the journal holds for this platform, then live
            reading = asyncio.create_task(self._read_events(http, events, 3, "0"))
            body = {"format": "json", "mke": "QW", "origin": ORIS["BWC"],
                    "control": "BWC0008", "operator": "OFC-4711",
                    "person": {"name": {"last": "SMITH", "first": "JOHN", "middle": "J"},
                               "dob": "1975-10-12", "sex": "M", "race": "W"}}
            start = time.monotonic()
            r = await http.post("/v1/messages", json=body)
            if r.status_code != 202:
                reading.cancel()
                return [f"POST /v1/messages: HTTP {r.status_code} {r.text[:200]}"]
            msn = int(r.json()["msn"])
            self.tr.line(f"   -> BWC    POST /v1/messages QW control BWC0008 operator OFC-"
                         f"4711: 202, msn {msn}, to {', '.join(r.json()['destinations'])}")
            try:
                await asyncio.wait_for(reading, 8.0)
            except TimeoutError:
                pass
            answers: list[Answer] = []
            problems: list[str] = []
            for ev, at in events:
                row_frame = self._event_frame(int(ev["id"]))
                a = decode_answer("json", row_frame, at)
                await self.net.attribute("api", a)
                answers.append(a)
                self.show(a, start, f"  (event {ev['id']} on GET /v1/events)")
                if ev.get("msn") != msn:
                    problems.append(f"event {ev['id']} names msn {ev.get('msn')}, not {msn}")
            self.answers_seen += len(answers)
            problems += match(answers, [
                Expect("WPS", "wanted hit NIC W123456789 on the event stream",
                       wanted("W123456789")),
                Expect("NCIC", "wanted hit W123456789 and protection order on the stream",
                       wanted("W123456789", also_order="0342024001234")),
                Expect("CARPOS", "restraining order FCN 0342024001234 on the stream",
                       protection_order("0342024001234")),
            ])
            if len(events) == 3:
                ids = [int(e["id"]) for e, _ in events]
                again: list[tuple[dict[str, Any], float]] = []
                await asyncio.wait_for(self._read_events(http, again, 2, str(ids[0])), 5.0)
                replayed = [int(e["id"]) for e, _ in again]
                self.tr.line(f"   -- hung up; reconnected with Last-Event-ID {ids[0]}: "
                             f"events {', '.join(map(str, replayed))} replayed from the "
                             "journal, none twice")
                if replayed != ids[1:]:
                    problems.append(f"resumed after {ids[0]}: got {replayed}, "
                                    f"expected {ids[1:]}")
        return problems

    async def _read_events(self, http: Any, out: list[tuple[dict[str, Any], float]],
                           count: int, last_id: str) -> None:
        """Read ``GET /v1/events`` from ``last_id`` until ``count`` events, then hang up."""
        from clets.api import sse

        async with http.stream("GET", "/v1/events",
                               headers={"Last-Event-ID": last_id}) as r:
            if r.status_code != 200:
                raise RuntimeError(f"GET /v1/events: HTTP {r.status_code}")
            buf = b""
            async for chunk in r.aiter_raw():
                got, buf = sse.parse(buf + chunk)
                for ev in got:
                    out.append((json.loads(ev.data), time.monotonic()))
                if len(out) >= count:
                    return

    def _event_frame(self, event_id: int) -> bytes:
        """The frame of an event as the switch delivered it (its journal row)."""
        sw = self.net.switch
        assert sw is not None
        return sw.journal.row(event_id).frame or b""

    STEPS = (
        ("plate check with a stolen hit (teletype, NCIC text over a serial line)", "step1"),
        ("warrant check fanned out to WPS + NCIC + CARPOS (CAD, JSON over mutual TLS)",
         "step2"),
        ("driver licence (teletype)", "step3"),
        ("DMV outage: store-and-forward, .02., late delivery (CAD)", "step4"),
        ("malformed query rejected at once (teletype)", "step5"),
        ("RMS batch file in a spool directory", "step6"),
        ("hit confirmation: YQ to the entering agency, YR, clock audited (CAD)", "step7"),
        ("body-worn-camera platform on the HTTP API: token, warrant check, hits on its "
         "event stream, resumed from the journal", "step8"),
    )

    async def run(self) -> bool:
        for number, (title, method) in enumerate(self.STEPS, 1):
            self.tr.line("")
            self.tr.line(f"== step {number}: {title}")
            result = StepResult(number, title)
            try:
                result.problems = await getattr(self, method)()
            except (CletsError, OSError, ValueError, RuntimeError, LookupError) as exc:
                result.problems = [f"{type(exc).__name__}: {exc}"]
            self.results.append(result)
            if result.ok:
                self.tr.line(f"   step {number}: ok")
            for p in result.problems:
                self.tr.line(f"   STEP {number} FAILED: {p}")
        return all(r.ok for r in self.results)

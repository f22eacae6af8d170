"""What each simulated back-end answers: canonical message in, canonical messages out.

Why pure: decoding and encoding happen in :mod:`clets.sim.server` through the codec registry,
so the same answer logic serves every wire format (EBCDIC copybook records for DMV, NCIC text,
NIEM XML for Nlets, canonical JSON for tests) and can be tested without a socket.  The only
inputs are the request, the :class:`~clets.sim.dataset.Dataset` (which simulated entries such
as ``EW`` or ``CW`` edit, as a real file would), a seeded RNG and the fault settings.

Every answer echoes the request's ``control`` (the switch correlates on it), its operator and
terminal, and is addressed to the request's origin.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar

from clets.errors import INVALID_FORMAT, MISSING_FIELD, UNKNOWN_MESSAGE_KEY
from clets.model import (
    Address,
    Case,
    ErrorInfo,
    License,
    Message,
    Name,
    Person,
    Record,
    Registration,
    Vehicle,
    clone,
    replace,
)

from .dataset import (
    CriminalHistoryRow,
    Dataset,
    LicenseRow,
    PersonRow,
    ProtectionOrderRow,
    RegistrationRow,
    StolenVehicleRow,
    VehicleRow,
    WarrantRow,
)

__all__ = [
    "ACK_KEY",
    "BACKENDS",
    "Backend",
    "CarposBackend",
    "CchBackend",
    "DmvBackend",
    "Faults",
    "NcicBackend",
    "NletsBackend",
    "Reply",
    "Responder",
    "SvsBackend",
    "WpsBackend",
    "make_backend",
    "response_key",
]

#: The DMV mainframe answers its own transaction codes.
DMV_RESPONSE_KEYS: dict[str, str] = {"RGQ1": "RGR1", "DLQ1": "DLR1"}
#: Nlets query -> response keys (domain.md §2.4), used by the NLETS back-end.
NLETS_RESPONSE_KEYS: dict[str, str] = {
    "RQ": "RR", "RQG": "RR", "DQ": "DR", "DQG": "DR", "KQ": "KR", "IQ": "IR", "FQ": "FR",
    "AQ": "AR", "YQ": "YR", "SWQ": "SWR", "RNQ": "RNR", "DNQ": "DNR",
}
#: Response key of entry acknowledgements (EW, CV, EPO, ...).
ACK_KEY = "ACK"


@cache
def hit_banner() -> str:
    """The warning banner of a hit (codecs/responses.toml), written before the records."""
    try:
        from clets.codecs.tagged import default_profile
    except ImportError:  # pragma: no cover - codec not installed
        return "WARNING - CONFIRM WITH THE ENTERING AGENCY BEFORE ANY ACTION"
    return default_profile().banner


@cache
def _ncic_response_keys() -> dict[str, str]:
    """The response-key table of the ncic/nlets text codecs (codecs/responses.toml), so that
    the simulator answers with keys those codecs recognise as responses."""
    try:
        from clets.codecs.tagged import default_profile
    except ImportError:  # pragma: no cover - codec not installed
        return {}
    return dict(default_profile().response_keys)


def response_key(mke: str, *, nlets: bool = False) -> str:
    """The response key for an inquiry key (``QW`` -> ``QWR``; Nlets ``RQ`` -> ``RR``)."""
    if mke in DMV_RESPONSE_KEYS:
        return DMV_RESPONSE_KEYS[mke]
    if nlets and mke in NLETS_RESPONSE_KEYS:
        return NLETS_RESPONSE_KEYS[mke]
    table = _ncic_response_keys()
    if mke in table:
        return table[mke]
    return mke + "R" if len(mke) < 4 else mke


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault settings of one back-end.

    ``latency_ms`` + a uniform draw in ``[0, jitter_ms]`` delays every answer; ``error_rate``
    answers that share of requests with ``.<error_code>. <error_reason>`` instead of the real
    answer; ``drop_rate`` never answers (the switch's deadline must fire); ``duplicate_rate``
    sends the answer twice (the switch must suppress it).  Draws come from the responder's
    seeded RNG, so a run is reproducible for a given request order.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_code: int = INVALID_FORMAT
    error_reason: str = "INVALID MESSAGE FORMAT"
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class Reply:
    """What a back-end does with one request: these messages, after ``delay_s`` seconds."""

    messages: list[Message]
    delay_s: float = 0.0
    #: None, or the injected fault: "error", "drop", "duplicate"
    fault: str | None = None


# ----------------------------------------------------------------------------- model builders


def person_model(p: PersonRow, *, address: bool = False, license: LicenseRow | None = None,
                 ids: bool = True) -> Person:
    """A Person from a row; identifiers (SSN, FBI, CII) only where the file would show them."""
    person = Person(
        name=Name(last=p.last, first=p.first, middle=p.middle, suffix=p.suffix),
        dob=p.dob or None, sex=p.sex or None, race=p.race or None,
        height_in=p.height_in or None, weight_lb=p.weight_lb or None,
        eyes=p.eyes or None, hair=p.hair or None, skin=p.skin or None,
        ssn=(p.ssn or None) if ids else None, fbi=p.fbi if ids else None,
        cii=p.cii if ids else None,
    )
    if license is not None:
        person.license = License(number=license.number, state=license.state,
                                 expires_year=int(license.expires[:4]), class_=license.class_,
                                 status=license.status, expires=license.expires)
    if address and p.street:
        person.address = Address(street=p.street, city=p.city, state=p.state, zip=p.zip)
    return person


def vehicle_model(v: VehicleRow) -> Vehicle:
    return Vehicle(plate=v.plate or None, plate_state=v.plate_state or None,
                   plate_year=v.plate_year or None, plate_type=v.plate_type or None,
                   vin=v.vin or None, year=v.year or None, make=v.make or None,
                   model=v.model or None, style=v.style or None, color=v.color or None)


def _yyyymmdd(date: str) -> str:
    return date.replace("-", "")


def wanted_record(ds: Dataset, w: WarrantRow) -> Record:
    return Record(file="wanted", person=person_model(ds.person(w.person)),
                  case=Case(oca=w.oca, nic=w.nic), caution=w.caution, cmc=w.cmc, ori=w.ori,
                  offense=w.offense, remarks=w.remarks, fields={"DOW": _yyyymmdd(w.warrant_date)})


def order_record(ds: Dataset, o: ProtectionOrderRow) -> Record:
    return Record(file="protection_order", person=person_model(ds.person(o.person), ids=False),
                  case=Case(oca=o.oca, nic=o.nic, fcn=o.fcn), ori=o.ori, remarks=o.remarks,
                  fields={"PPN": o.protected_name, "ISD": _yyyymmdd(o.issued),
                          "EXP": _yyyymmdd(o.expires)})


def stolen_record(ds: Dataset, s: StolenVehicleRow) -> Record:
    return Record(file="vehicle", vehicle=vehicle_model(ds.vehicle(s.vehicle)),
                  case=Case(oca=s.oca, nic=s.nic), ori=s.ori, caution=s.caution,
                  offense="STOLEN VEHICLE", remarks=s.remarks,
                  fields={"DOT": _yyyymmdd(s.theft_date)})


def registration_record(ds: Dataset, v: VehicleRow, reg: RegistrationRow) -> Record:
    owner = None
    if v.owner:
        p = ds.person(v.owner)
        owner = Person(name=Name(last=p.last, first=p.first, middle=p.middle, suffix=p.suffix),
                       address=Address(street=p.street, city=p.city, state=p.state, zip=p.zip))
    return Record(file="registration", vehicle=vehicle_model(v), owner=owner,
                  registration=Registration(expires=reg.expires, status=reg.status,
                                            fees_due=reg.fees_due, stolen=ds.is_stolen(v.id)))


def driver_record(ds: Dataset, lic: LicenseRow) -> Record:
    p = ds.person(lic.person)
    person = person_model(p, address=True, license=lic, ids=False)
    return Record(file="driver", person=person,
                  fields={"PTS": str(lic.points), "FTA": str(lic.fta)})


def history_records(ds: Dataset, p: PersonRow, *, full: bool) -> list[Record]:
    """The identity (index) record, then one record per arrest cycle when ``full``."""
    cycles: list[CriminalHistoryRow] = ds.history_of(p.id)
    identity = person_model(p)
    out = [Record(file="criminal_history", person=identity,
                  fields={"CYC": str(len(cycles))})]
    if full:
        for c in cycles:
            out.append(Record(file="criminal_history",
                              person=Person(name=identity.name, dob=p.dob, cii=p.cii, fbi=p.fbi),
                              ori=c.ori, offense=c.offense, remarks=c.disposition,
                              fields={"DOA": _yyyymmdd(c.arrest_date), "DIS": c.disposition}))
    return out


# ----------------------------------------------------------------------------- back-ends


class _Reject(Exception):
    """Raised inside answer logic: answer the request with ``.NN. REASON``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _missing(tag: str) -> _Reject:
    return _Reject(MISSING_FIELD, f"MISSING MANDATORY FIELD {tag}")


@dataclass
class _PersonQuery:
    name: Name | None = None
    dob: str | None = None
    sex: str | None = None
    ssn: str | None = None
    oln: str | None = None
    fbi: str | None = None
    cii: str | None = None


def person_query(msg: Message) -> _PersonQuery:
    """The search keys of a person inquiry; NAM needs DOB or a numeric identifier with it."""
    p = msg.person or Person()
    q = _PersonQuery(
        name=p.name if p.name is not None and p.name.last else None, dob=p.dob, sex=p.sex,
        ssn=p.ssn, oln=p.license.number if p.license else None, fbi=p.fbi, cii=p.cii)
    numeric = q.ssn or q.oln or q.fbi or q.cii
    if q.name is None and not numeric:
        raise _missing("NAM")
    if q.name is not None and not (q.dob or numeric):
        raise _missing("DOB")
    return q


def _find_people(ds: Dataset, q: _PersonQuery) -> list[PersonRow]:
    return ds.find_people(name=q.name, dob=q.dob, sex=q.sex, ssn=q.ssn, oln=q.oln, fbi=q.fbi,
                          cii=q.cii)


def _vehicle_keys(msg: Message) -> Vehicle:
    v = msg.vehicle or Vehicle()
    if not v.plate and not v.vin:
        raise _missing("LIC")
    return v


def _entry_family(mke: str) -> tuple[str, str, bool] | None:
    """(action, family, caution) of an entry-type key: EW-C -> ("E", "W", True)."""
    if len(mke) < 2 or mke[0] not in "EMCXL":
        return None
    action, rest = mke[0], mke[1:]
    caution = rest.endswith("-C") or (len(rest) > 1 and rest.endswith("C"))
    rest = rest.split("-")[0]
    if rest.startswith(("PO", "TO")):
        return action, "PO", caution
    if rest[:1] in ("W", "T"):
        return action, "W", caution
    if rest[:1] == "V":
        return action, "V", caution
    return None


class Backend:
    """One simulated back-end: its name, its own ORI and its answer logic."""

    name: ClassVar[str] = ""
    ori: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: message keys it answers (documentation and ``clets sim --list``)
    keys: ClassVar[tuple[str, ...]] = ()
    no_hit_text: ClassVar[str] = "NO RECORD"
    #: answer with Nlets response keys (RQ -> RR) instead of the NCIC table (RQ -> RQR)
    nlets_keys: ClassVar[bool] = False
    #: hits start with the warning banner (NCIC-style files); DMV and Nlets records do not
    banner: ClassVar[bool] = True

    def __init__(self, dataset: Dataset) -> None:
        self.ds = dataset

    # ---- helpers shared by every back-end
    def reply(self, req: Message, mke: str | None = None, **kw: object) -> Message:
        msg = Message(format=req.format, mke=mke or response_key(req.mke, nlets=self.nlets_keys),
                      origin=self.ori,
                      destinations=[req.origin] if req.origin else [], control=req.control,
                      operator=req.operator, terminal=req.terminal)
        for k, v in kw.items():
            setattr(msg, k, v)
        return msg

    def hit_or_miss(self, req: Message, records: list[Record], *,
                    no_hit_text: str | None = None) -> Message:
        if records:
            return self.reply(req, status="hit", records=records,
                              text=hit_banner() if self.banner else None)
        # a miss echoes the search keys, as the files do ("NO RECORD LIC/7ABC123 LIS/CA")
        return self.reply(req, status="no_hit", text=no_hit_text or self.no_hit_text,
                          person=clone(req.person), vehicle=clone(req.vehicle))

    def error(self, req: Message, code: int, reason: str, raw: str | None = None) -> Message:
        """``.NN. REASON`` answer; ``echo`` is the first 100 characters of the input."""
        return self.reply(req, status="error",
                          error=ErrorInfo(code=code, reason=reason,
                                          echo=raw[:100] if raw is not None else None))

    def answer(self, req: Message, raw: str | None = None) -> list[Message]:
        """The answers to one request (no faults applied)."""
        try:
            return self.dispatch(req)
        except _Reject as rej:
            return [self.error(req, rej.code, rej.reason, raw)]

    def dispatch(self, req: Message) -> list[Message]:
        raise _Reject(UNKNOWN_MESSAGE_KEY, "UNKNOWN MESSAGE KEY")

    # ---- entries (EW/MW/CW/XW/LW, EV..., EPO...) shared by WPS, NCIC, SVS, CARPOS
    entry_files: ClassVar[dict[str, list[str]]] = {}

    def entry(self, req: Message) -> list[Message] | None:
        fam = _entry_family(req.mke)
        if fam is None or fam[1] not in self.entry_files:
            return None
        action, family, caution = fam
        files = self.entry_files[family]
        if action == "E":
            return [self._enter(req, family, files, caution)]
        return [self._change(req, action, family, files)]

    def _ack(self, req: Message, what: str, case: Case) -> Message:
        # the numbers travel in ``case`` (the OCA/NIC/FCN fields of the text layouts), not in
        # the text: an ncic status line cannot hold ``TAG/value`` words
        return self.reply(req, mke=ACK_KEY, case=case,
                          text=f"{self.name} ACKNOWLEDGED {req.mke} {what}")

    def _entry_person(self, req: Message) -> PersonRow:
        p = req.person
        if p is None or p.name is None or not p.name.last:
            raise _missing("NAM")
        if not p.dob:
            raise _missing("DOB")
        found = self.ds.find_people(name=p.name, dob=p.dob)
        if found:
            return found[0]
        row = PersonRow(
            id=f"P{len(self.ds.people) + 9001:04d}", last=p.name.last, first=p.name.first or "",
            middle=p.name.middle, suffix=p.name.suffix, dob=p.dob, sex=p.sex or "U",
            race=p.race or "U", height_in=p.height_in or 0, weight_lb=p.weight_lb or 0,
            eyes=p.eyes or "", hair=p.hair or "", skin=p.skin, ssn=p.ssn or "", street="",
            city="", state="", zip="", fbi=p.fbi, cii=p.cii)
        self.ds.add_person(row)
        return row

    def _enter(self, req: Message, family: str, files: list[str], caution: bool) -> Message:
        ori = req.origin or ""
        oca = req.case.oca if req.case else None
        if not oca:
            raise _missing("OCA")
        cmc = req.fields.get("CMC")
        if family == "W":
            dup = next((w for w in self.ds.warrants if w.ori == ori and w.oca == oca), None)
            if dup is not None:
                return self.reply(req, mke=ACK_KEY, status="error",
                                  error=ErrorInfo(code=30, reason="REJECT ON FILE"),
                                  records=[wanted_record(self.ds, dup)])
            person = self._entry_person(req)
            w = WarrantRow(id=f"W{len(self.ds.warrants) + 9001}", person=person.id,
                           files=list(files), nic=self.ds.next_number("W"), oca=oca, ori=ori,
                           offense=req.fields.get("OFF", "WARRANT"), caution=caution or bool(cmc),
                           cmc=cmc, warrant_date=self.ds.reference_date, remarks=req.remarks)
            self.ds.warrants.append(w)
            return self._ack(req, "WANTED PERSON", Case(oca=w.oca, nic=w.nic))
        if family == "V":
            keys = _vehicle_keys(req)
            dup_v = next((s for s in self.ds.stolen_vehicles if s.ori == ori and s.oca == oca),
                         None)
            if dup_v is not None:
                return self.reply(req, mke=ACK_KEY, status="error",
                                  error=ErrorInfo(code=30, reason="REJECT ON FILE"),
                                  records=[stolen_record(self.ds, dup_v)])
            found = self.ds.find_vehicles(plate=keys.plate, plate_state=keys.plate_state,
                                          vin=keys.vin)
            if found:
                vrow = found[0]
            else:
                vrow = VehicleRow(
                    id=f"V{len(self.ds.vehicles) + 9001}", plate=keys.plate or "",
                    plate_state=keys.plate_state or "", plate_year=keys.plate_year or "",
                    plate_type=keys.plate_type or "", vin=keys.vin or "", year=keys.year or 0,
                    make=keys.make or "", model=keys.model or "", style=keys.style or "",
                    color=keys.color or "", owner="")
                self.ds.add_vehicle(vrow)
            s = StolenVehicleRow(id=f"S{len(self.ds.stolen_vehicles) + 9001}", vehicle=vrow.id,
                                 files=list(files), nic=self.ds.next_number("V"), oca=oca,
                                 ori=ori, theft_date=self.ds.reference_date, caution=caution,
                                 remarks=req.remarks)
            self.ds.stolen_vehicles.append(s)
            return self._ack(req, "STOLEN VEHICLE", Case(oca=s.oca, nic=s.nic))
        person = self._entry_person(req)
        fcn = req.case.fcn if req.case and req.case.fcn else \
            f"{ori[2:5] or '000'}{9000000000 + len(self.ds.protection_orders):010d}"
        o = ProtectionOrderRow(id=f"R{len(self.ds.protection_orders) + 9001}", person=person.id,
                               files=list(files), fcn=fcn, nic=self.ds.next_number("H"), oca=oca,
                               ori=ori, protected_name=req.fields.get("PPN", ""),
                               issued=self.ds.reference_date,
                               expires=req.fields.get("EXP", "99991231")[:4] + "-12-31",
                               remarks=req.remarks)
        self.ds.protection_orders.append(o)
        return self._ack(req, "PROTECTION ORDER", Case(oca=o.oca, nic=o.nic, fcn=o.fcn))

    def _change(self, req: Message, action: str, family: str, files: list[str]) -> Message:
        nic = req.case.nic if req.case else None
        oca = req.case.oca if req.case else None
        if not nic and not oca:
            raise _missing("NIC")
        table: list[WarrantRow] | list[StolenVehicleRow] | list[ProtectionOrderRow]
        if family == "W":
            table = self.ds.warrants
        elif family == "V":
            table = self.ds.stolen_vehicles
        else:
            table = self.ds.protection_orders
        row = next((r for r in table if any(f in r.files for f in files)
                    and ((nic and r.nic == nic) or (not nic and r.oca == oca
                                                    and r.ori == req.origin))), None)
        if row is None:
            return self.reply(req, mke=ACK_KEY, status="no_hit", text="NO RECORD",
                              case=clone(req.case))
        what = {"M": "MODIFIED", "C": "CLEARED", "X": "CANCELLED", "L": "LOCATED"}[action]
        if action in ("C", "X"):
            table.remove(row)  # type: ignore[arg-type]
        elif action == "L" and isinstance(row, WarrantRow):
            row.located = True
        elif action == "M":
            if req.remarks:
                row.remarks = req.remarks
            if isinstance(row, WarrantRow) and "CMC" in req.fields:
                row.cmc, row.caution = req.fields["CMC"], True
        case = Case(oca=row.oca, nic=row.nic, fcn=getattr(row, "fcn", None))
        return self._ack(req, what, case)


class DmvBackend(Backend):
    """California DMV mainframe: registrations (RGQ1/RQ/QV) and driver licences (DLQ1/DQ)."""

    name = "DMV"
    ori = "CADMV0000"
    description = "DMV registrations and driver licences (EBCDIC copybook records over rdw)"
    keys = ("RGQ1", "DLQ1", "RQ", "QV", "DQ", "KQ")
    vehicle_keys = frozenset({"RGQ1", "RQ", "RQG", "QV", "ZV"})
    driver_keys = frozenset({"DLQ1", "DQ", "DQG", "KQ"})
    state = "CA"
    banner = False

    def dispatch(self, req: Message) -> list[Message]:
        if req.mke in self.vehicle_keys:
            return [self._registration(req)]
        if req.mke in self.driver_keys:
            return [self._driver(req)]
        raise _Reject(UNKNOWN_MESSAGE_KEY, "UNKNOWN MESSAGE KEY")

    def error(self, req: Message, code: int, reason: str, raw: str | None = None) -> Message:
        # the copybook has no error-code field: RR-MESSAGE carries ".NN. REASON" as text
        msg = super().error(req, code, reason, raw)
        msg.mke = self._rkey(req)
        msg.text = f".{code:02d}. {reason}"[:40]
        msg.person, msg.vehicle = clone(req.person), clone(req.vehicle)
        return msg

    def _rkey(self, req: Message) -> str:
        # a request that came as a DMV record is answered with the DMV's own record
        if req.format == "dmv-dl-request":
            return "DLR1"
        if req.format.startswith("dmv-"):
            return "RGR1"
        if req.mke in self.vehicle_keys or req.mke in self.driver_keys:
            return response_key(req.mke)
        return "DLR1" if req.person is not None and req.vehicle is None else "RGR1"

    def _registration(self, req: Message) -> Message:
        keys = _vehicle_keys(req)
        if keys.plate_state and keys.plate_state != self.state:
            found: list[VehicleRow] = []
        else:
            found = self.ds.find_vehicles(plate=keys.plate, plate_state=self.state,
                                          vin=keys.vin)
        records = []
        for v in found[:1]:
            reg = self.ds.registration(v.id)
            if reg is not None:
                records.append(registration_record(self.ds, v, reg))
        msg = self.hit_or_miss(req, records)
        msg.mke = self._rkey(req)
        return msg

    def _driver(self, req: Message) -> Message:
        p = req.person or Person()
        lic_state = p.license.state if p.license else None
        number = p.license.number if p.license else None
        lics: list[LicenseRow] = []
        if lic_state and lic_state != self.state:
            pass
        elif number:
            found = self.ds.license_by_number(number, self.state)
            lics = [found] if found is not None else []
        elif p.name is not None and p.name.last and p.dob:
            for row in self.ds.find_people(name=p.name, dob=p.dob, sex=p.sex):
                lics += [lic for lic in self.ds.licenses_of(row.id) if lic.state == self.state]
        elif p.name is not None and p.name.last:
            raise _missing("DOB")
        else:
            raise _missing("OLN")
        msg = self.hit_or_miss(req, [driver_record(self.ds, lic) for lic in lics[:1]])
        msg.mke = self._rkey(req)
        return msg


class WpsBackend(Backend):
    """CA DOJ Wanted Persons System: QW, and wanted-person entries (forwarded to NCIC)."""

    name = "WPS"
    ori = "CADOJWPS0"
    description = "state wanted persons (ncic text over len2)"
    keys = ("QW", "ZW", "EW", "MW", "CW", "XW", "LW")
    entry_files = {"W": ["WPS", "NCIC"]}

    def dispatch(self, req: Message) -> list[Message]:
        if req.mke in ("QW", "ZW", "QWA", "QWI"):
            q = person_query(req)
            records = [wanted_record(self.ds, w) for p in _find_people(self.ds, q)
                       for w in self.ds.warrants_of(p.id, "WPS") if not w.located]
            return [self.hit_or_miss(req, records)]
        return self.entry(req) or super().dispatch(req)


class NcicBackend(Backend):
    """FBI NCIC: wanted persons (QW also cross-searches protection orders), stolen vehicles,
    protection orders, III criminal history, and entries."""

    name = "NCIC"
    ori = "DCFBIWA00"
    description = "NCIC hot files and III (ncic text over len2)"
    keys = ("QW", "ZW", "QV", "ZV", "QPO", "QH", "QR", "EW", "MW", "CW", "XW", "LW", "EV",
            "CV", "XV", "LV", "EPO", "CPO", "XPO")
    entry_files = {"W": ["NCIC"], "V": ["NCIC"], "PO": ["NCIC"]}

    def dispatch(self, req: Message) -> list[Message]:
        mke = req.mke
        if mke in ("QW", "ZW", "QWA", "QWI"):
            q = person_query(req)
            people = _find_people(self.ds, q)
            records = [wanted_record(self.ds, w) for p in people
                       for w in self.ds.warrants_of(p.id, "NCIC") if not w.located]
            records += [order_record(self.ds, o) for p in people
                        for o in self.ds.orders_of(p.id, "NCIC")]
            return [self.hit_or_miss(req, records, no_hit_text="NO NCIC WANT")]
        if mke in ("QV", "ZV"):
            keys = _vehicle_keys(req)
            records = [stolen_record(self.ds, s)
                       for v in self.ds.find_vehicles(plate=keys.plate,
                                                      plate_state=keys.plate_state, vin=keys.vin)
                       for s in self.ds.thefts_of(v.id, "NCIC")]
            return [self.hit_or_miss(req, records)]
        if mke == "QPO":
            q = person_query(req)
            records = [order_record(self.ds, o) for p in _find_people(self.ds, q)
                       for o in self.ds.orders_of(p.id, "NCIC")]
            return [self.hit_or_miss(req, records)]
        if mke in ("QH", "QR", "ZR", "ZI"):
            q = person_query(req)
            people = [p for p in _find_people(self.ds, q) if p.fbi]  # III is FBI-number keyed
            records = [r for p in people for r in history_records(self.ds, p, full=mke == "QR")]
            return [self.hit_or_miss(req, records)]
        return self.entry(req) or super().dispatch(req)


class SvsBackend(Backend):
    """CA DOJ Stolen Vehicle System: QV and vehicle entries."""

    name = "SVS"
    ori = "CADOJSVS0"
    description = "state stolen vehicles (ncic text over len2)"
    keys = ("QV", "ZV", "EV", "MV", "CV", "XV", "LV")
    entry_files = {"V": ["SVS", "NCIC"]}

    def dispatch(self, req: Message) -> list[Message]:
        if req.mke in ("QV", "ZV"):
            keys = _vehicle_keys(req)
            records = [stolen_record(self.ds, s)
                       for v in self.ds.find_vehicles(plate=keys.plate,
                                                      plate_state=keys.plate_state, vin=keys.vin)
                       for s in self.ds.thefts_of(v.id, "SVS")]
            return [self.hit_or_miss(req, records)]
        return self.entry(req) or super().dispatch(req)


class CarposBackend(Backend):
    """California Restraining and Protective Order System: QW (name + DOB) and QPO."""

    name = "CARPOS"
    ori = "CADOJPO00"
    description = "restraining and protective orders (ncic text over len2)"
    keys = ("QW", "QPO", "EPO", "MPO", "CPO", "XPO")
    entry_files = {"PO": ["CARPOS", "NCIC"]}

    def dispatch(self, req: Message) -> list[Message]:
        if req.mke in ("QW", "ZW", "QWA", "QPO"):
            q = person_query(req)
            records = [order_record(self.ds, o) for p in _find_people(self.ds, q)
                       for o in self.ds.orders_of(p.id, "CARPOS")]
            return [self.hit_or_miss(req, records)]
        return self.entry(req) or super().dispatch(req)


class CchBackend(Backend):
    """CA DOJ Automated Criminal History System: index (QH, IQ) and record (QR, FQ), by CII."""

    name = "CCH"
    ori = "CADOJCCH0"
    description = "state criminal history (ncic text over len2)"
    keys = ("QH", "QR", "IQ", "FQ")

    def dispatch(self, req: Message) -> list[Message]:
        if req.mke in ("QH", "QR", "IQ", "FQ"):
            q = person_query(req)
            people = [p for p in _find_people(self.ds, q) if p.cii]
            full = req.mke in ("QR", "FQ")
            records = [r for p in people for r in history_records(self.ds, p, full=full)]
            return [self.hit_or_miss(req, records)]
        return super().dispatch(req)


class NletsBackend(Backend):
    """Nlets, standing in for the other states: RQ, DQ, IQ/FQ, YQ hit confirmation, AM.

    Each answer comes from the addressed state's own ORI (``NVLIC0000`` registrations,
    ``NVOLN0000`` licences, ``NVSIR0000`` identification bureau); errors from ``NL0000000``.
    """

    name = "NLETS"
    ori = "NL0000000"
    description = "other states through Nlets (niem XML over len4)"
    keys = ("RQ", "DQ", "IQ", "FQ", "YQ", "AM")
    no_hit_text = "NOT ON FILE"
    nlets_keys = True
    banner = False

    def error(self, req: Message, code: int, reason: str, raw: str | None = None) -> Message:
        msg = super().error(req, code, reason, raw)
        msg.mke, msg.origin = "ER", self.ori
        return msg

    def _states(self, req: Message, fallback: str | None) -> list[str]:
        states = [d[:2] for d in req.destinations if len(d) in (2, 9) and d[:2] != "NL"]
        if not states and fallback:
            states = [fallback]
        if not states:
            raise _Reject(12, "INVALID DESTINATION")
        return list(dict.fromkeys(states))

    def dispatch(self, req: Message) -> list[Message]:
        mke = req.mke
        if mke in ("RQ", "RQG"):
            keys = _vehicle_keys(req)
            out = []
            for st in self._states(req, keys.plate_state):
                recs = []
                for v in self.ds.find_vehicles(plate=keys.plate, plate_state=st, vin=keys.vin):
                    reg = self.ds.registration(v.id)
                    if reg is not None and v.plate_state == st:
                        recs.append(registration_record(self.ds, v, reg))
                out.append(replace(self.hit_or_miss(req, recs[:1]), origin=f"{st}LIC0000"))
            return out
        if mke in ("DQ", "DQG"):
            p = req.person or Person()
            out = []
            for st in self._states(req, p.license.state if p.license else None):
                if p.license and p.license.number:
                    found = self.ds.license_by_number(p.license.number, st)
                    lics = [found] if found is not None else []
                elif p.name is not None and p.name.last and p.dob:
                    lics = [lic for row in self.ds.find_people(name=p.name, dob=p.dob, sex=p.sex)
                            for lic in self.ds.licenses_of(row.id) if lic.state == st]
                else:
                    raise _missing("OLN")
                recs = [driver_record(self.ds, lic) for lic in lics[:1]]
                out.append(replace(self.hit_or_miss(req, recs), origin=f"{st}OLN0000"))
            return out
        if mke in ("IQ", "FQ", "AQ"):
            q = person_query(req)
            out = []
            for st in self._states(req, None):
                people = [p for p in _find_people(self.ds, q) if p.state == st and p.cii]
                recs = [r for p in people
                        for r in history_records(self.ds, p, full=mke != "IQ")]
                out.append(replace(self.hit_or_miss(req, recs), origin=f"{st}SIR0000"))
            return out
        if mke == "YQ":
            return [self._confirm(req)]
        if mke in ("AM", "AML"):
            if not req.destinations:
                raise _Reject(12, "INVALID DESTINATION")
            return [self.reply(req, mke="AM", origin=d if len(d) == 9 else f"{d[:2]}0000000",
                               text=f"ACK {req.control or ''} MESSAGE RECEIVED".replace("  ", " "))
                    for d in req.destinations]
        return super().dispatch(req)

    def _confirm(self, req: Message) -> Message:
        nic = req.case.nic if req.case else None
        oca = req.case.oca if req.case else None
        if not nic and not oca:
            raise _missing("NIC")
        rows: list[WarrantRow | StolenVehicleRow | ProtectionOrderRow] = [
            *self.ds.warrants, *self.ds.stolen_vehicles, *self.ds.protection_orders]
        row = next((r for r in rows if (nic and r.nic == nic) or (not nic and r.oca == oca)),
                   None)
        dest = req.destinations[0] if req.destinations and len(req.destinations[0]) == 9 \
            else self.ori
        fields = {k: v for k, v in req.fields.items() if k in ("RTY", "RNO", "PRI")}
        if row is None:
            return self.reply(req, origin=dest, status="no_hit", fields=fields,
                              case=clone(req.case),
                              text="NOT CONFIRMED - NO RECORD ON FILE")
        if isinstance(row, WarrantRow):
            record = wanted_record(self.ds, row)
            text = "CONFIRMED - WARRANT ACTIVE, WILL EXTRADITE"
        elif isinstance(row, StolenVehicleRow):
            record = stolen_record(self.ds, row)
            text = "CONFIRMED - VEHICLE STILL OUTSTANDING"
        else:
            record = order_record(self.ds, row)
            text = "CONFIRMED - ORDER IN EFFECT AND SERVED"
        return self.reply(req, origin=row.ori, status="hit", records=[record], text=text,
                          fields=fields, case=Case(oca=row.oca, nic=row.nic))


BACKENDS: dict[str, type[Backend]] = {
    cls.name: cls
    for cls in (DmvBackend, NcicBackend, WpsBackend, SvsBackend, CarposBackend, CchBackend,
                NletsBackend)
}


def make_backend(name: str, dataset: Dataset) -> Backend:
    from clets.errors import ConfigError

    cls = BACKENDS.get(name.upper())
    if cls is None:
        raise ConfigError(f"unknown back-end {name!r}; known: {', '.join(BACKENDS)}")
    return cls(dataset)


# ----------------------------------------------------------------------------- faults


@dataclass
class Responder:
    """A back-end plus its faults and its own seeded RNG (one per back-end, so adding a
    back-end does not change the draws of the others)."""

    backend: Backend
    seed: int = 0
    faults: Faults = field(default_factory=Faults)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(zlib.crc32(f"{self.seed}:{self.backend.name}".encode()))

    def handle(self, req: Message, raw: str | None = None) -> Reply:
        f = self.faults
        r = self.rng
        # draw every number every time, so a change of one rate does not shift the others
        delay = (f.latency_ms + r.random() * f.jitter_ms) / 1000.0
        u_error, u_drop, u_dup = r.random(), r.random(), r.random()
        if u_drop < f.drop_rate:
            return Reply([], delay, "drop")
        if u_error < f.error_rate:
            return Reply([self.backend.error(req, f.error_code, f.error_reason, raw)], delay,
                         "error")
        messages = self.backend.answer(req, raw)
        if u_dup < f.duplicate_rate:
            return Reply(messages + [clone(m) for m in messages], delay, "duplicate")
        return Reply(messages, delay)

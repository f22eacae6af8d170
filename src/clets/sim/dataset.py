"""The synthetic data set behind the simulated back-ends (``clets sim``).

Why synthetic and deterministic: the demo, the tests and the benchmarks need back-ends that
answer like real files (hits, misses, cautions, suspended licences, stolen plates) without one
byte of real criminal-justice information, and a failing test must be reproducible.  So the
whole data set is a function of one integer seed (plus a fixed reference date, never the
clock), and a handful of well-known records (``WELL_KNOWN``) are always present whatever the
seed, so that docs/sim.md, the demo and the tests can name them.

Everything here is plain rows (dataclasses of strings and ints).  The back-ends turn rows into
canonical :class:`~clets.model.Record` objects; this module knows nothing of wire formats.
SSNs all start with 9 (never issued), names come from short common-name lists, VINs carry a
valid ISO 3779 check digit.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clets.errors import ConfigError
from clets.model import Name, vin_check_digit_ok

__all__ = [
    "DEFAULT_SEED",
    "REFERENCE_DATE",
    "WELL_KNOWN",
    "CriminalHistoryRow",
    "Dataset",
    "LicenseRow",
    "PersonRow",
    "ProtectionOrderRow",
    "RegistrationRow",
    "StolenVehicleRow",
    "VehicleRow",
    "WarrantRow",
    "generate",
    "load_dataset",
    "make_vin",
    "vin_check_digit",
]

#: Seed of the shipped data set (fixtures/dataset/dataset.json).
DEFAULT_SEED = 1975
#: "Today" for the generator: expiry dates, ages and warrant dates are relative to it, so the
#: data set does not change with the clock.
REFERENCE_DATE = _dt.date(2025, 6, 1)
FORMAT_VERSION = 1

#: Identifiers of the fixed records present in every generated data set (docs/sim.md).
WELL_KNOWN: dict[str, str] = {
    "stolen_plate": "7ABC123",
    "stolen_plate_nic": "V123456789",
    "wanted_person": "SMITH, JOHN J",
    "wanted_dob": "1975-10-12",
    "wanted_nic": "W123456789",
    "wanted_oca": "24-001234",
    "protection_order_fcn": "0342024001234",
    "protection_order_nic": "H123456789",
    "smith_oln": "B7654321",
    "smith_cii": "A09876543",
    "smith_fbi": "701234JB5",
    "valid_oln": "A1234567",
    "suspended_oln": "S7654321",
    "fees_due_plate": "8XYZ789",
    "refund_plate": "6DEF456",
    "clean_plate": "5GHJ234",
    "out_of_state_plate": "ABC1234",
    "out_of_state_plate_state": "NV",
    "out_of_state_oln": "D12345678",
    "out_of_state_oln_state": "AZ",
    "absent_plate": "1AAA000",
    "absent_oln": "Z0000000",
    "entering_ori": "CA0349999",
}

# ----------------------------------------------------------------------------- rows


@dataclass(slots=True)
class PersonRow:
    id: str
    last: str
    first: str
    middle: str | None
    suffix: str | None
    dob: str
    sex: str
    race: str
    height_in: int
    weight_lb: int
    eyes: str
    hair: str
    skin: str | None
    ssn: str
    street: str
    city: str
    state: str
    zip: str
    fbi: str | None = None
    cii: str | None = None

    @property
    def name(self) -> Name:
        return Name(last=self.last, first=self.first, middle=self.middle, suffix=self.suffix)


@dataclass(slots=True)
class VehicleRow:
    id: str
    plate: str
    plate_state: str
    plate_year: str
    plate_type: str
    vin: str
    year: int
    make: str
    model: str
    style: str
    color: str
    owner: str  # PersonRow.id


@dataclass(slots=True)
class RegistrationRow:
    vehicle: str  # VehicleRow.id
    expires: str
    status: str  # registration_status table: AC EX SU CA
    fees_due: str  # decimal string; negative = refund owed to the owner


@dataclass(slots=True)
class LicenseRow:
    person: str
    number: str
    state: str
    class_: str
    status: str  # license_status table: VA SU RE EX CA
    expires: str
    points: int
    fta: int


@dataclass(slots=True)
class WarrantRow:
    id: str
    person: str
    files: list[str]  # "WPS" (state) and/or "NCIC"
    nic: str
    oca: str
    ori: str
    offense: str
    caution: bool
    cmc: str | None
    warrant_date: str
    remarks: str | None = None
    located: bool = False


@dataclass(slots=True)
class ProtectionOrderRow:
    id: str
    person: str  # the restrained person
    files: list[str]  # "CARPOS" and/or "NCIC"
    fcn: str
    nic: str
    ori: str
    oca: str
    protected_name: str  # "LAST, FIRST M"
    issued: str
    expires: str
    remarks: str | None = None


@dataclass(slots=True)
class StolenVehicleRow:
    id: str
    vehicle: str
    files: list[str]  # "SVS" and/or "NCIC"
    nic: str
    oca: str
    ori: str
    theft_date: str
    caution: bool = False
    remarks: str | None = None


@dataclass(slots=True)
class CriminalHistoryRow:
    """One arrest cycle of one person (state CCH keyed by CII; NCIC III by FBI number)."""

    id: str
    person: str
    arrest_date: str
    ori: str
    offense: str
    disposition: str


# ----------------------------------------------------------------------------- data set

_TABLES: dict[str, type] = {
    "people": PersonRow,
    "vehicles": VehicleRow,
    "registrations": RegistrationRow,
    "licenses": LicenseRow,
    "warrants": WarrantRow,
    "protection_orders": ProtectionOrderRow,
    "stolen_vehicles": StolenVehicleRow,
    "criminal_history": CriminalHistoryRow,
}


def _norm(text: str | None) -> str:
    return (text or "").upper().replace(" ", "").replace("-", "")


@dataclass
class Dataset:
    """All rows plus lookups.  Mutable on purpose: simulated entries (EW, CW, ...) edit it."""

    seed: int
    reference_date: str
    people: list[PersonRow] = field(default_factory=list)
    vehicles: list[VehicleRow] = field(default_factory=list)
    registrations: list[RegistrationRow] = field(default_factory=list)
    licenses: list[LicenseRow] = field(default_factory=list)
    warrants: list[WarrantRow] = field(default_factory=list)
    protection_orders: list[ProtectionOrderRow] = field(default_factory=list)
    stolen_vehicles: list[StolenVehicleRow] = field(default_factory=list)
    criminal_history: list[CriminalHistoryRow] = field(default_factory=list)
    _person_by_id: dict[str, PersonRow] = field(default_factory=dict, repr=False)
    _vehicle_by_id: dict[str, VehicleRow] = field(default_factory=dict, repr=False)
    #: people by normalized surname, and the (list, length) it was built from
    _people_by_last: dict[str, list[PersonRow]] = field(default_factory=dict, repr=False)
    _people_indexed: tuple[int, int] = field(default=(0, -1), repr=False)
    _counter: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self._person_by_id = {p.id: p for p in self.people}
        self._vehicle_by_id = {v.id: v for v in self.vehicles}

    # ---- lookups (linear scans over a few hundred rows that entries change at run time;
    # name searches, the hot path, go through a surname index: _by_last)
    def person(self, pid: str) -> PersonRow:
        return self._person_by_id[pid]

    def vehicle(self, vid: str) -> VehicleRow:
        return self._vehicle_by_id[vid]

    def find_people(
        self,
        *,
        name: Name | None = None,
        dob: str | None = None,
        sex: str | None = None,
        ssn: str | None = None,
        oln: str | None = None,
        fbi: str | None = None,
        cii: str | None = None,
    ) -> list[PersonRow]:
        """People matching every identifier given.

        A name matches on the surname and the first name (or just its initial when the inquiry
        gives only an initial); middle names are ignored, as name searches do.
        """
        out = []
        candidates = self.people if name is None else self._by_last(name.last)
        olns = {lic.person for lic in self.licenses if _norm(lic.number) == _norm(oln)} if oln \
            else None
        for p in candidates:
            if name is not None and not _name_matches(name, p):
                continue
            if dob and p.dob != dob:
                continue
            if sex and sex not in ("U", p.sex):
                continue
            if ssn and _norm(ssn) != p.ssn:
                continue
            if fbi and _norm(fbi) != _norm(p.fbi):
                continue
            if cii and _norm(cii) != _norm(p.cii):
                continue
            if olns is not None and p.id not in olns:
                continue
            out.append(p)
        return out

    def _by_last(self, last: str | None) -> list[PersonRow]:
        """People with this surname (normalized).  Name searches are the simulators' hot path
        (every QW of the benchmark): a dict instead of a scan of every row.  Rebuilt when the
        list grows (entries append people); surnames of existing rows are never edited."""
        key = (id(self.people), len(self.people))
        if key != self._people_indexed:
            index: dict[str, list[PersonRow]] = {}
            for p in self.people:
                index.setdefault(_norm(p.last), []).append(p)
            self._people_by_last, self._people_indexed = index, key
        return self._people_by_last.get(_norm(last), [])

    def find_vehicles(self, *, plate: str | None = None, plate_state: str | None = None,
                      vin: str | None = None) -> list[VehicleRow]:
        out = []
        for v in self.vehicles:
            if plate and _norm(plate) != v.plate:
                continue
            if plate and plate_state and plate_state != v.plate_state:
                continue
            if vin and _norm(vin) != v.vin:
                continue
            if plate or vin:
                out.append(v)
        return out

    def registration(self, vid: str) -> RegistrationRow | None:
        return next((r for r in self.registrations if r.vehicle == vid), None)

    def licenses_of(self, pid: str) -> list[LicenseRow]:
        return [lic for lic in self.licenses if lic.person == pid]

    def license_by_number(self, number: str, state: str | None = None) -> LicenseRow | None:
        return next((lic for lic in self.licenses if lic.number == _norm(number)
                     and (not state or lic.state == state)), None)

    def warrants_of(self, pid: str, file: str) -> list[WarrantRow]:
        return [w for w in self.warrants if w.person == pid and file in w.files]

    def orders_of(self, pid: str, file: str) -> list[ProtectionOrderRow]:
        return [o for o in self.protection_orders if o.person == pid and file in o.files]

    def thefts_of(self, vid: str, file: str) -> list[StolenVehicleRow]:
        return [s for s in self.stolen_vehicles if s.vehicle == vid and file in s.files]

    def history_of(self, pid: str) -> list[CriminalHistoryRow]:
        return [c for c in self.criminal_history if c.person == pid]

    def is_stolen(self, vid: str) -> bool:
        return any(s.vehicle == vid for s in self.stolen_vehicles)

    def next_number(self, prefix: str) -> str:
        """A fresh record number (NIC) for a simulated entry: letter + 9 digits, never reused."""
        taken = {w.nic for w in self.warrants} | {s.nic for s in self.stolen_vehicles} | {
            o.nic for o in self.protection_orders}
        while True:
            self._counter += 1
            nic = f"{prefix}{900000000 + self._counter:09d}"
            if nic not in taken:
                return nic

    def add_person(self, row: PersonRow) -> None:
        self.people.append(row)
        self._person_by_id[row.id] = row

    def add_vehicle(self, row: VehicleRow) -> None:
        self.vehicles.append(row)
        self._vehicle_by_id[row.id] = row

    # ---- JSON
    def to_json_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "_doc": "Synthetic data set of clets sim (docs/sim.md). Generated by "
                    "fixtures/dataset/make_dataset.py; do not edit by hand.",
            "version": FORMAT_VERSION,
            "seed": self.seed,
            "reference_date": self.reference_date,
            "well_known": dict(WELL_KNOWN),
        }
        for table in _TABLES:
            out[table] = [_row_to_json(r) for r in getattr(self, table)]
        return out

    def to_json_text(self) -> str:
        """Stable text (one row per line) so that a regenerated file diffs cleanly."""
        data = self.to_json_dict()
        lines = ["{"]
        keys = list(data)
        for i, key in enumerate(keys):
            comma = "," if i < len(keys) - 1 else ""
            value = data[key]
            if isinstance(value, list):
                lines.append(f" {json.dumps(key)}: [")
                for j, row in enumerate(value):
                    sep = "," if j < len(value) - 1 else ""
                    lines.append(f"  {json.dumps(row, ensure_ascii=True)}{sep}")
                lines.append(f" ]{comma}")
            else:
                lines.append(f" {json.dumps(key)}: {json.dumps(value)}{comma}")
        lines.append("}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_json_dict(cls, data: Any) -> Dataset:
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ConfigError(f"not a clets sim data set of version {FORMAT_VERSION}")
        kwargs: dict[str, Any] = {"seed": data.get("seed", 0),
                                  "reference_date": data.get("reference_date", "")}
        for table, row_type in _TABLES.items():
            rows = []
            for i, item in enumerate(data.get(table, [])):
                try:
                    rows.append(_row_from_json(row_type, item))
                except (TypeError, ValueError) as exc:
                    raise ConfigError(f"{table}[{i}]: {exc}") from None
            kwargs[table] = rows
        return cls(**kwargs)


def _row_to_json(row: Any) -> dict[str, Any]:
    return {k.rstrip("_"): v for k, v in dataclasses.asdict(row).items()}


def _row_from_json(row_type: type, item: Any) -> Any:
    if not isinstance(item, dict):
        raise TypeError("expected an object")
    names = {f.name.rstrip("_"): f.name for f in dataclasses.fields(row_type)}
    unknown = set(item) - set(names)
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    return row_type(**{names[k]: v for k, v in item.items()})


def load_dataset(path: str | Path) -> Dataset:
    """A data set from its JSON file (e.g. fixtures/dataset/dataset.json)."""
    try:
        text = Path(path).read_text("utf-8")
        return Dataset.from_json_dict(json.loads(text))
    except OSError as exc:
        raise ConfigError(f"cannot read data set: {exc.strerror}", source=str(path)) from None
    except ValueError as exc:
        raise ConfigError(f"data set is not JSON: {exc}", source=str(path)) from None


def _name_matches(q: Name, p: PersonRow) -> bool:
    if not q.last or _norm(q.last) != _norm(p.last):
        return False
    if q.first:
        qf = _norm(q.first)
        if len(qf) == 1:
            return p.first.startswith(qf)
        return qf == _norm(p.first)
    return True


# ----------------------------------------------------------------------------- VINs

_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q
_VIN_VALUE = {**{str(d): d for d in range(10)},
              **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
              **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
              **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"  # 1980..2009, then repeats from 2010


def vin_check_digit(vin17: str) -> str:
    """The check digit (position 9) that makes a 17-character VIN valid."""
    total = sum(_VIN_VALUE[c] * w for c, w in zip(vin17, _VIN_WEIGHTS, strict=True))
    digit = total % 11
    return "X" if digit == 10 else str(digit)


def make_vin(rng: random.Random, wmi: str, year: int) -> str:
    """A plausible VIN: maker prefix, random descriptor, check digit, model-year code, serial."""
    vds = "".join(rng.choice(_VIN_CHARS) for _ in range(5))
    year_code = _YEAR_CODES[(year - 1980) % 30]
    plant = rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")
    serial = f"{rng.randrange(1000000):06d}"
    draft = f"{wmi}{vds}0{year_code}{plant}{serial}"
    vin = draft[:8] + vin_check_digit(draft) + draft[9:]
    assert vin_check_digit_ok(vin), vin
    return vin


# ----------------------------------------------------------------------------- vocabulary


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_LAST = _words(
    "SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ "
    "GONZALEZ WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON WHITE HARRIS "
    "SANCHEZ CLARK RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT TORRES NGUYEN HILL "
    "FLORES GREEN ADAMS NELSON BAKER HALL RIVERA CAMPBELL MITCHELL CARTER ROBERTS CHEN WONG KIM "
    "PATEL SINGH OKAFOR NAKAMURA OLSEN FITZGERALD O'BRIEN MORALES REYES CRUZ ORTIZ GUTIERREZ "
    "CHAVEZ RAMOS MENDOZA VASQUEZ CASTILLO JIMENEZ"
)
_FIRST_M = _words(
    "JAMES ROBERT JOHN MICHAEL DAVID WILLIAM RICHARD JOSEPH THOMAS CHARLES CHRISTOPHER DANIEL "
    "MATTHEW ANTHONY MARK DONALD STEVEN PAUL ANDREW JOSHUA KENNETH KEVIN BRIAN GEORGE TIMOTHY "
    "RONALD JASON EDWARD JEFFREY RYAN JACOB GARY NICHOLAS ERIC JONATHAN STEPHEN LARRY JUSTIN "
    "SCOTT BRANDON CARLOS JOSE LUIS MIGUEL JUAN WEI MINH TREVOR"
)
_FIRST_F = _words(
    "MARY PATRICIA JENNIFER LINDA ELIZABETH BARBARA SUSAN JESSICA SARAH KAREN LISA NANCY BETTY "
    "MARGARET SANDRA ASHLEY KIMBERLY EMILY DONNA MICHELLE CAROL AMANDA DOROTHY MELISSA DEBORAH "
    "STEPHANIE REBECCA SHARON LAURA CYNTHIA KATHLEEN AMY ANGELA SHIRLEY ANNA BRENDA PAMELA EMMA "
    "NICOLE HELEN SAMANTHA KATHERINE MARIA ROSA GUADALUPE MEI LINH PRIYA"
)
_STREETS = _words(
    "OAK MAPLE PINE CEDAR ELM WALNUT MAIN PARK LAKE HILL SUNSET RIVER MARKET MISSION VALLEY "
    "BROADWAY LINCOLN WASHINGTON JEFFERSON MADISON FOLSOM STOCKTON FRANKLIN HIGHLAND ORCHARD"
)
_STREET_SUFFIX = ("ST", "AVE", "BLVD", "DR", "WAY", "CT", "LN", "RD")
_CA_CITIES = (
    ("SACRAMENTO", "958"), ("ELK GROVE", "957"), ("ROSEVILLE", "956"), ("LOS ANGELES", "900"),
    ("LONG BEACH", "908"), ("SAN DIEGO", "921"), ("FRESNO", "937"), ("OAKLAND", "946"),
    ("SAN JOSE", "951"), ("STOCKTON", "952"), ("MODESTO", "953"), ("RIVERSIDE", "925"),
    ("BAKERSFIELD", "933"), ("SANTA ROSA", "954"), ("REDDING", "960"),
)
_OTHER_STATES = (
    ("NV", "LAS VEGAS", "891"), ("NV", "RENO", "895"), ("AZ", "PHOENIX", "850"),
    ("AZ", "TUCSON", "857"), ("OR", "PORTLAND", "972"), ("OR", "MEDFORD", "975"),
    ("WA", "SEATTLE", "981"), ("WA", "SPOKANE", "992"),
)
#: entering agencies (synthetic ORIs in the CA pattern: state + county + agency)
CA_ORIS = ("CA0349999", "CA0340000", "CA0190000", "CA0190099", "CA0370000", "CA0380100",
           "CA0010000", "CA0100000", "CA0430000", "CA0390000")
OTHER_ORIS = ("NV0020000", "NV0160000", "AZ0070000", "OR0260000", "WA0170000")
#: (make code, WMIs, [(model, style)]) -- NCIC VMA/VMO-style codes
_MAKES: tuple[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    ("HOND", ("1HG", "2HG", "JHM"), (("ACC", "4D"), ("CIV", "4D"), ("CRV", "UT"))),
    ("TOYT", ("4T1", "JTD", "5YF"), (("CAM", "4D"), ("COR", "4D"), ("RAV", "UT"), ("TAC", "PU"))),
    ("FORD", ("1FA", "1FT", "3FA"), (("F15", "PU"), ("FOC", "4D"), ("ESC", "UT"), ("MUS", "2D"))),
    ("CHEV", ("1G1", "1GC", "3GN"), (("SIL", "PU"), ("MAL", "4D"), ("EQU", "UT"))),
    ("NISS", ("1N4", "JN8"), (("ALT", "4D"), ("SEN", "4D"), ("ROG", "UT"))),
    ("TESL", ("5YJ",), (("MD3", "4D"), ("MDY", "UT"))),
    ("BMW", ("WBA",), (("328", "4D"), ("X5", "UT"))),
    ("VOLK", ("3VW", "WVW"), (("JET", "4D"), ("GOL", "HB"))),
    ("HYUN", ("5NP", "KMH"), (("ELA", "4D"), ("SON", "4D"))),
    ("SUBA", ("4S3", "JF1"), (("OUT", "SW"), ("FOR", "UT"))),
    ("DODG", ("2C3", "1C6"), (("RAM", "PU"), ("CHA", "4D"))),
    ("KIA", ("KNA", "5XY"), (("SOR", "UT"), ("OPT", "4D"))),
    ("MAZD", ("JM1",), (("MZ3", "4D"), ("CX5", "UT"))),
    ("JEEP", ("1C4",), (("WRN", "UT"), ("GRC", "UT"))),
)
_COLORS = ("BLK", "WHI", "SIL", "GRY", "BLU", "RED", "GRN", "TAN", "BRO", "MAR", "GLD", "BGE")
_OFFENSES_FELONY = ("ROBBERY", "AGGRAVATED ASSAULT", "BURGLARY", "VEHICLE THEFT",
                    "GRAND THEFT", "POSS CONTROLLED SUBST SALE", "FELONY EVADING",
                    "PAROLE VIOLATION", "IDENTITY THEFT", "ARSON")
_OFFENSES_MISD = ("FAILURE TO APPEAR", "DUI", "PETTY THEFT", "PROBATION VIOLATION",
                  "DRIVING ON SUSPENDED LIC", "VANDALISM", "TRESPASS")
_CMC = ("00", "05", "10", "20", "25", "60")  # armed, violent, martial arts, drugs, escape, suicidal
_DISPOSITIONS = ("CONVICTED", "CONVICTED", "DISMISSED", "ACQUITTED", "DIVERSION", "PENDING")
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # plate letters: no I, O, Q


# ----------------------------------------------------------------------------- generator


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ds = Dataset(seed=seed, reference_date=REFERENCE_DATE.isoformat())
        self.used: set[str] = set(WELL_KNOWN.values())
        self.n = {"P": 0, "V": 0, "W": 0, "R": 0, "S": 0, "C": 0}

    # ---- helpers
    def unique(self, make: Any) -> str:
        for _ in range(1000):
            value = str(make())
            if value not in self.used:
                self.used.add(value)
                return value
        raise RuntimeError("could not draw a unique identifier")  # pragma: no cover

    def next_id(self, kind: str) -> str:
        self.n[kind] += 1
        return f"{kind}{self.n[kind]:04d}"

    def date_between(self, start: _dt.date, end: _dt.date) -> str:
        return (start + _dt.timedelta(days=self.rng.randrange((end - start).days + 1))).isoformat()

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def ca_plate(self) -> str:
        r = self.rng
        return self.unique(lambda: f"{r.randrange(1, 10)}"
                                   f"{''.join(r.choice(_LETTERS) for _ in range(3))}"
                                   f"{r.randrange(1000):03d}")

    def other_plate(self) -> str:
        r = self.rng
        return self.unique(lambda: f"{''.join(r.choice(_LETTERS) for _ in range(3))}"
                                   f"{r.randrange(10000):04d}")

    def nic(self, prefix: str) -> str:
        return self.unique(lambda: f"{prefix}{self.rng.randrange(10**8, 10**9):09d}")

    def oca(self, date: str) -> str:
        return self.unique(lambda: f"{date[2:4]}-{self.rng.randrange(10**6):06d}")

    # ---- people
    def person(self, *, state: str = "CA", sex: str | None = None, **fixed: Any) -> PersonRow:
        r = self.rng
        sex = sex or r.choice("MF")
        if state == "CA":
            city, zip3 = r.choice(_CA_CITIES)
        else:
            _, city, zip3 = r.choice([c for c in _OTHER_STATES if c[0] == state])
        height = r.randrange(62, 76) if sex == "M" else r.randrange(58, 70)
        row = PersonRow(
            id=self.next_id("P"),
            last=r.choice(_LAST),
            first=r.choice(_FIRST_M if sex == "M" else _FIRST_F),
            middle=r.choice(_LETTERS) if r.random() < 0.7 else None,
            suffix=("JR" if r.random() < 0.5 else "III") if sex == "M" and r.random() < 0.04
            else None,
            dob=self.date_between(_dt.date(1940, 1, 1), _dt.date(2005, 12, 31)),
            sex=sex,
            race=r.choices("WHBAIPU", weights=(36, 38, 7, 14, 1, 1, 3))[0],
            height_in=height,
            weight_lb=r.randrange(110, 260) if sex == "M" else r.randrange(95, 210),
            eyes=r.choices(("BRO", "BLU", "HAZ", "GRN", "GRY", "BLK"), (55, 20, 10, 8, 3, 4))[0],
            hair=r.choices(("BLK", "BRO", "BLN", "RED", "GRY", "WHI", "SDY"),
                           (35, 35, 10, 4, 8, 4, 4))[0],
            skin=r.choice(("LGT", "MED", "DRK", "FAR", "OLV", "MBR", "LBR")),
            ssn=self.unique(lambda: "9" + self.digits(8)),
            street=f"{r.randrange(100, 9999)} {r.choice(_STREETS)} {r.choice(_STREET_SUFFIX)}",
            city=city,
            state=state,
            zip=f"{zip3}{r.randrange(100):02d}",
        )
        for k, v in fixed.items():
            setattr(row, k, v)
        self.used.add(row.ssn)
        self.ds.add_person(row)
        return row

    def license(self, p: PersonRow, **fixed: Any) -> LicenseRow:
        r = self.rng
        ref = REFERENCE_DATE
        status = r.choices(("VA", "SU", "RE", "EX"), (80, 8, 3, 9))[0]
        if status == "EX":
            expires = self.date_between(ref - _dt.timedelta(days=1500),
                                        ref - _dt.timedelta(days=1))
        else:
            expires = self.date_between(ref + _dt.timedelta(days=30),
                                        ref + _dt.timedelta(days=1800))
        if p.state == "CA":
            number = self.unique(lambda: f"{r.choice(_LETTERS)}{self.digits(7)}")
        elif p.state == "AZ":
            number = self.unique(lambda: f"{r.choice('ABDS')}{self.digits(8)}")
        elif p.state == "NV":
            number = self.unique(lambda: self.digits(10))
        elif p.state == "WA":
            number = self.unique(lambda: f"WDL{''.join(r.choice(_VIN_CHARS) for _ in range(9))}")
        else:
            number = self.unique(lambda: self.digits(7))
        row = LicenseRow(
            person=p.id, number=number, state=p.state,
            class_=r.choices(("C", "M1", "A", "B"), (88, 5, 4, 3))[0], status=status,
            expires=expires,
            points=r.choices(range(7), (55, 15, 10, 8, 6, 3, 3))[0] if status != "SU"
            else r.randrange(4, 9),
            fta=r.choices(range(3), (90, 8, 2))[0],
        )
        for k, v in fixed.items():
            setattr(row, k, v)
        self.ds.licenses.append(row)
        return row

    # ---- vehicles
    def vehicle(self, owner: PersonRow, *, state: str | None = None, **fixed: Any) -> VehicleRow:
        r = self.rng
        make, wmis, models = r.choice(_MAKES)
        model, style = r.choice(models)
        year = r.randrange(2005, 2026)
        state = state or owner.state
        expires_year = REFERENCE_DATE.year + r.choice((-1, 0, 0, 1, 1))
        row = VehicleRow(
            id=self.next_id("V"),
            plate=self.ca_plate() if state == "CA" else self.other_plate(),
            plate_state=state,
            plate_year=str(expires_year),
            plate_type="CO" if style == "PU" and r.random() < 0.3 else "PC",
            vin="",
            year=year,
            make=make,
            model=model,
            style=style,
            color=r.choice(_COLORS) if r.random() < 0.9
            else f"{r.choice(_COLORS)}/{r.choice(_COLORS)}",
            owner=owner.id,
        )
        for k, v in fixed.items():
            setattr(row, k, v)
        wmis = next(m[1] for m in _MAKES if m[0] == row.make)
        if not row.vin:
            row.vin = self.unique(lambda: make_vin(r, r.choice(wmis), row.year))
        self.used.add(row.plate)
        self.ds.add_vehicle(row)
        return row

    def registration(self, v: VehicleRow, **fixed: Any) -> RegistrationRow:
        r = self.rng
        status = r.choices(("AC", "EX", "SU", "CA"), (84, 10, 4, 2))[0]
        ref = REFERENCE_DATE
        if status == "EX":
            expires = self.date_between(ref - _dt.timedelta(days=700), ref - _dt.timedelta(days=1))
        else:
            expires = self.date_between(ref + _dt.timedelta(days=1), ref + _dt.timedelta(days=365))
        fees = "0.00"
        if status == "EX" or r.random() < 0.08:
            fees = f"{r.randrange(2500, 90000) / 100:.2f}"
        elif r.random() < 0.03:
            fees = f"-{r.randrange(100, 6000) / 100:.2f}"
        row = RegistrationRow(vehicle=v.id, expires=expires, status=status, fees_due=fees)
        for k, val in fixed.items():
            setattr(row, k, val)
        v.plate_year = row.expires[:4]
        self.ds.registrations.append(row)
        return row

    # ---- records
    def warrant(self, p: PersonRow, **fixed: Any) -> WarrantRow:
        r = self.rng
        ori = r.choice(CA_ORIS) if r.random() < 0.8 else r.choice(OTHER_ORIS)
        felony = r.random() < 0.6
        files = (["WPS", "NCIC"] if felony else ["WPS"]) if ori.startswith("CA") else ["NCIC"]
        date = self.date_between(_dt.date(2016, 1, 1), REFERENCE_DATE - _dt.timedelta(days=10))
        caution = r.random() < 0.25
        row = WarrantRow(
            id=self.next_id("W"), person=p.id, files=files, nic=self.nic("W"), oca=self.oca(date),
            ori=ori, offense=r.choice(_OFFENSES_FELONY if felony else _OFFENSES_MISD),
            caution=caution, cmc=r.choice(_CMC) if caution else None, warrant_date=date,
            remarks=f"{'FELONY' if felony else 'MISDEMEANOR'} WARRANT {r.choice('FM')}"
                    f"{self.digits(6)} BAIL {r.choice((5, 10, 25, 50, 100))}000",
        )
        for k, v in fixed.items():
            setattr(row, k, v)
        self.ds.warrants.append(row)
        return row

    def protection_order(self, p: PersonRow, **fixed: Any) -> ProtectionOrderRow:
        r = self.rng
        ori = r.choice(CA_ORIS)
        issued = self.date_between(REFERENCE_DATE - _dt.timedelta(days=900),
                                   REFERENCE_DATE - _dt.timedelta(days=5))
        expires = self.date_between(REFERENCE_DATE + _dt.timedelta(days=30),
                                    REFERENCE_DATE + _dt.timedelta(days=1500))
        protected_sex = "F" if p.sex == "M" else "M"
        protected = (f"{r.choice(_LAST)}, "
                     f"{r.choice(_FIRST_F if protected_sex == 'F' else _FIRST_M)}")
        row = ProtectionOrderRow(
            id=self.next_id("R"), person=p.id,
            files=["CARPOS", "NCIC"] if r.random() < 0.85 else ["CARPOS"],
            fcn=self.unique(lambda: f"{ori[2:5]}{self.digits(10)}"),
            nic=self.nic("H"), oca=self.oca(issued), ori=ori, protected_name=protected,
            issued=issued, expires=expires,
            remarks=r.choice(("STAY AWAY 100 YARDS", "NO CONTACT", "MOVE OUT ORDER",
                              "NO FIREARMS")),
        )
        for k, v in fixed.items():
            setattr(row, k, v)
        self.ds.protection_orders.append(row)
        return row

    def theft(self, v: VehicleRow, **fixed: Any) -> StolenVehicleRow:
        r = self.rng
        ori = r.choice(CA_ORIS) if v.plate_state == "CA" else r.choice(OTHER_ORIS)
        date = self.date_between(REFERENCE_DATE - _dt.timedelta(days=400),
                                 REFERENCE_DATE - _dt.timedelta(days=1))
        row = StolenVehicleRow(
            id=self.next_id("S"), vehicle=v.id,
            files=(["SVS", "NCIC"] if r.random() < 0.9 else ["SVS"]) if v.plate_state == "CA"
            else ["NCIC"],
            nic=self.nic("V"), oca=self.oca(date), ori=ori, theft_date=date,
            caution=r.random() < 0.1,
            remarks=r.choice(("TAKEN FROM DRIVEWAY", "KEYS LEFT IN VEHICLE", "TAKEN FROM LOT",
                              None)),
        )
        for k, val in fixed.items():
            setattr(row, k, val)
        self.ds.stolen_vehicles.append(row)
        return row

    def history(self, p: PersonRow, cycles: int, **fixed: Any) -> None:
        r = self.rng
        if not p.cii:
            p.cii = self.unique(lambda: f"A{self.digits(8)}")
        if not p.fbi and r.random() < 0.7:
            p.fbi = self.unique(lambda: f"{self.digits(6)}{r.choice(_LETTERS)}"
                                        f"{r.choice(_LETTERS)}{r.randrange(10)}")
        start = max(_dt.date.fromisoformat(p.dob) + _dt.timedelta(days=18 * 366),
                    _dt.date(1995, 1, 1))
        dates = sorted(self.date_between(start, REFERENCE_DATE - _dt.timedelta(days=20))
                       for _ in range(cycles))
        for date in dates:
            offense = r.choice(_OFFENSES_FELONY + _OFFENSES_MISD)
            row = CriminalHistoryRow(id=self.next_id("C"), person=p.id, arrest_date=date,
                                     ori=r.choice(CA_ORIS), offense=offense,
                                     disposition=r.choice(_DISPOSITIONS))
            for k, v in fixed.items():
                setattr(row, k, v)
            self.ds.criminal_history.append(row)

    # ---- the well-known records (docs/sim.md); drawn first so they never move
    def well_known(self) -> None:
        wk = WELL_KNOWN
        smith = self.person(sex="M", last="SMITH", first="JOHN", middle="J", suffix=None,
                            dob=wk["wanted_dob"], race="W", height_in=70, weight_lb=180,
                            eyes="BRO", hair="BLK", skin="MED", ssn="900451012",
                            street="4120 FOLSOM BLVD", city="SACRAMENTO", zip="95819",
                            fbi=wk["smith_fbi"], cii=wk["smith_cii"])
        self.license(smith, number=wk["smith_oln"], class_="C", status="SU",
                     expires="2027-10-12", points=8, fta=2)
        self.warrant(smith, files=["WPS", "NCIC"], nic=wk["wanted_nic"], oca=wk["wanted_oca"],
                     ori=wk["entering_ori"], offense="AGGRAVATED ASSAULT", caution=True,
                     cmc="00", warrant_date="2024-03-01",
                     remarks="FELONY WARRANT F123456 NO BAIL - EXTRADITE")
        victim = "SMITH, JANE M"
        self.protection_order(smith, files=["CARPOS", "NCIC"], fcn=wk["protection_order_fcn"],
                              nic=wk["protection_order_nic"], ori=wk["entering_ori"],
                              oca="24-001240", protected_name=victim, issued="2024-03-05",
                              expires="2027-03-05", remarks="STAY AWAY 100 YARDS - NO FIREARMS")
        self.history(smith, 0)
        for date, offense, dispo in (("1996-07-14", "PETTY THEFT", "CONVICTED"),
                                     ("2009-02-20", "DUI", "CONVICTED"),
                                     ("2024-02-28", "AGGRAVATED ASSAULT", "PENDING")):
            self.ds.criminal_history.append(CriminalHistoryRow(
                id=self.next_id("C"), person=smith.id, arrest_date=date, ori=wk["entering_ori"],
                offense=offense, disposition=dispo))

        garcia = self.person(sex="F", last="GARCIA", first="MARIA", middle="L", suffix=None,
                             dob="1988-04-23", race="H", height_in=64, weight_lb=135,
                             eyes="BRO", hair="BRO", skin="MED", ssn="900230423",
                             street="2215 MAPLE AVE", city="ELK GROVE", zip="95758")
        self.license(garcia, number=wk["valid_oln"], class_="C", status="VA",
                     expires="2028-04-23", points=0, fta=0)
        suspended = self.person(sex="M", last="NGUYEN", first="DAVID", middle="T", suffix=None,
                                dob="1969-01-30", race="A", height_in=67, weight_lb=160,
                                eyes="BRO", hair="BLK", skin="LGT", ssn="900130169",
                                street="77 RIVER WAY", city="STOCKTON", zip="95202")
        self.license(suspended, number=wk["suspended_oln"], class_="C", status="SU",
                     expires="2026-01-30", points=7, fta=1)
        johnson = self.person(sex="M", last="JOHNSON", first="ROBERT", middle="T", suffix=None,
                              dob="1982-06-02", race="B", height_in=72, weight_lb=200,
                              eyes="BRO", hair="BLK", skin="DRK", ssn="900060282",
                              street="905 LINCOLN ST", city="ROSEVILLE", zip="95678")
        self.license(johnson, status="VA")
        stolen = self.vehicle(johnson, plate=wk["stolen_plate"], plate_state="CA",
                              plate_type="PC", vin="1HGCV1F39KA012345", year=2019,
                              make="HOND", model="ACC", style="4D", color="BLK")
        self.registration(stolen, expires="2026-02-14", status="AC", fees_due="0.00")
        self.theft(stolen, files=["SVS", "NCIC"], nic=wk["stolen_plate_nic"], oca="24-005678",
                   ori="CA0340000", theft_date="2024-04-02", caution=False,
                   remarks="TAKEN FROM DRIVEWAY - KEYS MISSING")
        fees = self.vehicle(garcia, plate=wk["fees_due_plate"], plate_state="CA",
                            plate_type="PC", year=2016, make="TOYT", model="COR", style="4D",
                            color="SIL")
        self.registration(fees, expires="2025-03-31", status="EX", fees_due="123.45")
        refund = self.vehicle(suspended, plate=wk["refund_plate"], plate_state="CA",
                              plate_type="PC", year=2021, make="TESL", model="MD3", style="4D",
                              color="WHI")
        self.registration(refund, expires="2026-01-15", status="AC", fees_due="-18.07")
        clean = self.vehicle(garcia, plate=wk["clean_plate"], plate_state="CA", plate_type="PC",
                             year=2022, make="SUBA", model="OUT", style="SW", color="GRN")
        self.registration(clean, expires="2026-04-23", status="AC", fees_due="0.00")
        nevada = self.person(sex="F", state="NV", last="OLSEN", first="KAREN", middle="A",
                             suffix=None, dob="1979-09-09", ssn="900090979")
        self.license(nevada, status="VA")
        nv_car = self.vehicle(nevada, plate=wk["out_of_state_plate"],
                              state=wk["out_of_state_plate_state"], plate_type="PC", year=2018,
                              make="FORD", model="F15", style="PU", color="RED")
        self.registration(nv_car, expires="2026-09-30", status="AC", fees_due="0.00")
        arizona = self.person(sex="M", state="AZ", last="REYES", first="CARLOS", middle="M",
                              suffix=None, dob="1990-12-01", ssn="900011290")
        self.license(arizona, number=wk["out_of_state_oln"], state="AZ", status="VA",
                     class_="D")
        for row in (smith, garcia, suspended, johnson, nevada, arizona):
            self.used.add(row.ssn)


def generate(seed: int = DEFAULT_SEED, *, people: int = 320) -> Dataset:
    """The synthetic data set for ``seed``: same seed, same rows, byte for byte."""
    g = _Gen(seed)
    g.well_known()
    r = g.rng
    fixed_people = len(g.ds.people)
    for _ in range(max(0, people - fixed_people)):
        state = "CA" if r.random() < 0.88 else r.choice(("NV", "AZ", "OR", "WA"))
        p = g.person(state=state)
        if r.random() < 0.9:
            g.license(p)
    generated = g.ds.people[fixed_people:]
    # vehicles: about 0.8 per person, some people own two
    for p in generated:
        for _ in range(r.choices((0, 1, 2), (30, 55, 15))[0]):
            v = g.vehicle(p)
            g.registration(v)
    vehicles = [v for v in g.ds.vehicles if v.plate not in WELL_KNOWN.values()]
    for v in r.sample(vehicles, k=min(len(vehicles), 28)):
        g.theft(v)
    # criminal histories first (warrant subjects mostly have one), then wants and orders
    offenders = r.sample(generated, k=min(len(generated), 90))
    for p in offenders:
        g.history(p, r.randrange(1, 5))
    for p in r.sample(offenders, k=min(len(offenders), 40)):
        g.warrant(p)
    for p in r.sample(generated, k=min(len(generated), 16)):
        g.protection_order(p)
    g.ds.reindex()
    return g.ds


def vins(ds: Dataset) -> Iterable[str]:
    return (v.vin for v in ds.vehicles)

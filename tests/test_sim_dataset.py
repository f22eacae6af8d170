"""The synthetic data set of clets sim: deterministic, shipped copy current, values valid."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from clets.model import Message, Name, check, vin_check_digit_ok
from clets.sim import backends as b
from clets.sim.dataset import (
    DEFAULT_SEED,
    REFERENCE_DATE,
    WELL_KNOWN,
    Dataset,
    generate,
    load_dataset,
    vin_check_digit,
)
from tests.conftest import FIXTURES, ROOT

SHIPPED = FIXTURES / "dataset" / "dataset.json"


def test_same_seed_same_bytes_other_seed_other_rows() -> None:
    assert generate(7).to_json_text() == generate(7).to_json_text()
    assert generate(7).to_json_text() != generate(8).to_json_text()


def test_shipped_file_matches_the_generator() -> None:
    script = FIXTURES / "dataset" / "make_dataset.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert load_dataset(SHIPPED).to_json_text() == generate(DEFAULT_SEED).to_json_text()


def test_make_dataset_check_detects_a_stale_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stale = tmp_path / "dataset.json"
    stale.write_text(SHIPPED.read_text("utf-8").replace("7ABC123", "7ABC124", 1), "utf-8")
    script = FIXTURES / "dataset" / "make_dataset.py"
    done = subprocess.run([sys.executable, str(script), "--check", "--out", str(stale)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "differs" in done.stderr


def test_json_round_trip_is_exact() -> None:
    ds = generate()
    again = Dataset.from_json_dict(json.loads(ds.to_json_text()))
    assert again.to_json_text() == ds.to_json_text()


def test_sizes_are_a_few_hundred() -> None:
    ds = generate()
    assert 250 <= len(ds.people) <= 400
    assert len(ds.vehicles) >= 200 and len(ds.registrations) == len(ds.vehicles)
    assert len(ds.licenses) >= 200
    assert len(ds.warrants) >= 30 and len(ds.protection_orders) >= 10
    assert len(ds.stolen_vehicles) >= 20 and len(ds.criminal_history) >= 100


def test_every_vin_has_a_valid_check_digit_and_is_unique() -> None:
    ds = generate()
    vins = [v.vin for v in ds.vehicles]
    assert all(vin_check_digit_ok(v) for v in vins), [v for v in vins if not vin_check_digit_ok(v)]
    assert len(set(vins)) == len(vins)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=2**31))
def test_any_seed_gives_valid_vins_and_unique_identifiers(seed: int) -> None:
    ds = generate(seed, people=60)
    assert all(vin_check_digit_ok(v.vin) for v in ds.vehicles)
    plates = [(v.plate, v.plate_state) for v in ds.vehicles]
    assert len(set(plates)) == len(plates)
    nics = [r.nic for r in (*ds.warrants, *ds.stolen_vehicles, *ds.protection_orders)]
    assert len(set(nics)) == len(nics)
    assert len({lic.number for lic in ds.licenses}) == len(ds.licenses)


def test_vin_check_digit_helper_agrees_with_the_model() -> None:
    # the well-known public example VIN of spec/formats.md
    assert vin_check_digit("1HGCM82633A004352") == "3"
    assert vin_check_digit_ok("1HGCM82633A004352")


def test_identifier_shapes() -> None:
    ds = generate()
    for v in ds.vehicles:
        if v.plate_state == "CA":
            assert re.fullmatch(r"[1-9][A-Z]{3}[0-9]{3}", v.plate), v.plate
    for lic in ds.licenses:
        if lic.state == "CA":
            assert re.fullmatch(r"[A-Z][0-9]{7}", lic.number), lic.number
    for p in ds.people:
        assert dt.date.fromisoformat(p.dob) < REFERENCE_DATE
        assert re.fullmatch(r"9[0-9]{8}", p.ssn)
        assert re.fullmatch(r"[0-9]{5}", p.zip)
    for w in ds.warrants:
        assert re.fullmatch(r"[A-Z]{2}[A-Z0-9]{7}", w.ori)
        assert re.fullmatch(r"W[0-9]{9}", w.nic)
    for o in ds.protection_orders:
        assert re.fullmatch(r"[0-9]{13}", o.fcn) and o.fcn[:3] == o.ori[2:5]


def test_every_record_passes_the_field_edits() -> None:
    """Codes come from the code tables: the model's own edits find nothing to reject."""
    ds = generate()
    records = [b.wanted_record(ds, w) for w in ds.warrants]
    records += [b.order_record(ds, o) for o in ds.protection_orders]
    records += [b.stolen_record(ds, s) for s in ds.stolen_vehicles]
    records += [b.registration_record(ds, ds.vehicle(r.vehicle), r) for r in ds.registrations]
    records += [b.driver_record(ds, lic) for lic in ds.licenses]
    records += [r for p in ds.people if p.cii for r in b.history_records(ds, p, full=True)]
    msg = Message(format="json", mke="QWR", origin="DCFBIWA00", records=records)
    findings = check(msg, today=REFERENCE_DATE)
    assert findings == [], findings[:5]


def test_well_known_records() -> None:
    ds = generate(12345)  # present whatever the seed
    wk = WELL_KNOWN
    (smith,) = [p for p in ds.people if (p.last, p.first, p.dob) == ("SMITH", "JOHN",
                                                                      wk["wanted_dob"])]
    wants = ds.warrants_of(smith.id, "WPS")
    assert [w.nic for w in wants] == [wk["wanted_nic"]] and wants[0].caution
    assert ds.warrants_of(smith.id, "NCIC") == wants
    assert [o.fcn for o in ds.orders_of(smith.id, "CARPOS")] == [wk["protection_order_fcn"]]
    (stolen,) = ds.find_vehicles(plate=wk["stolen_plate"], plate_state="CA")
    assert ds.is_stolen(stolen.id) and ds.registration(stolen.id) is not None
    assert vin_check_digit_ok(stolen.vin)
    assert ds.license_by_number(wk["valid_oln"]).status == "VA"  # type: ignore[union-attr]
    assert ds.license_by_number(wk["suspended_oln"]).status == "SU"  # type: ignore[union-attr]
    fees = ds.registration(ds.find_vehicles(plate=wk["fees_due_plate"])[0].id)
    refund = ds.registration(ds.find_vehicles(plate=wk["refund_plate"])[0].id)
    assert fees is not None and float(fees.fees_due) > 0
    assert refund is not None and refund.fees_due == "-18.07"
    clean = ds.find_vehicles(plate=wk["clean_plate"])[0]
    assert not ds.is_stolen(clean.id)
    assert ds.find_vehicles(plate=wk["absent_plate"]) == []
    assert ds.license_by_number(wk["absent_oln"]) is None
    assert ds.find_vehicles(plate=wk["out_of_state_plate"], plate_state="NV")
    assert ds.license_by_number(wk["out_of_state_oln"], "AZ") is not None


def _scan(ds: Dataset, name: Name) -> list[str]:
    """The name search written as the plain scan of every row it replaced."""
    def norm(t: str | None) -> str:
        return (t or "").upper().replace(" ", "").replace("-", "")

    out = []
    for p in ds.people:
        if not name.last or norm(name.last) != norm(p.last):
            continue
        if name.first:
            qf = norm(name.first)
            if not (p.first.startswith(qf) if len(qf) == 1 else qf == norm(p.first)):
                continue
        out.append(p.id)
    return out


def test_name_search_by_index_finds_what_a_scan_finds() -> None:
    ds = generate(DEFAULT_SEED)
    queries = [Name(p.last, p.first) for p in ds.people]
    queries += [Name(p.last.lower(), p.first[:1]) for p in ds.people[:50]]
    queries += [Name(p.last) for p in ds.people[:50]] + [Name("ZZYZX", "NOBODY"), Name(None)]
    for q in queries:
        assert [p.id for p in ds.find_people(name=q)] == _scan(ds, q), q


def test_name_search_sees_people_added_later() -> None:
    ds = generate(DEFAULT_SEED)
    assert ds.find_people(name=Name("QUUXLEY", "ANN")) == []  # the index is built now
    row = dataclasses.replace(ds.people[0], id="P9999", last="QUUXLEY", first="ANN")
    ds.add_person(row)
    assert ds.find_people(name=Name("QUUXLEY", "ANN")) == [row]
    other = dataclasses.replace(row, id="P9998", first="BOB")
    ds.people.append(other)  # even appended by hand
    assert ds.find_people(name=Name("Quuxley")) == [row, other]

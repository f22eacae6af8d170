"""The answer logic of the simulated back-ends, in the canonical model (no sockets)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from clets.model import Case, License, Message, Name, Person, Vehicle
from clets.sim.backends import (
    ACK_KEY,
    BACKENDS,
    Faults,
    Responder,
    make_backend,
    response_key,
)
from clets.sim.dataset import WELL_KNOWN, Dataset, generate

WK = WELL_KNOWN
ORI = "CA0349999"
SMITH = Person(name=Name("SMITH", "JOHN", "J"), dob=WK["wanted_dob"], sex="M", race="W")
NOBODY = Person(name=Name("ZZYZX", "NOBODY"), dob="1950-01-01")


def q(mke: str, *, control: str = "CTL0000042", **kw: object) -> Message:
    msg = Message(format="json", mke=mke, origin=ORI, control=control, operator="OPR7",
                  terminal="T001")
    for k, v in kw.items():
        setattr(msg, k, v)
    return msg


@pytest.fixture()
def ds() -> Dataset:
    return generate()


Check = Callable[[Message], bool]


def nics(m: Message) -> list[str | None]:
    return [r.case.nic if r.case else None for r in m.records]


# (back-end, request, expected status, extra check)
CASES: list[tuple[str, Message, str, Check]] = [
    ("WPS", q("QW", person=SMITH), "hit",
     lambda m: (nics(m) == [WK["wanted_nic"]] and m.records[0].caution
                and m.records[0].cmc == "00")),
    ("WPS", q("QW", person=NOBODY), "no_hit", lambda m: True),
    ("NCIC", q("QW", person=SMITH), "hit",
     lambda m: sorted(r.file or "" for r in m.records) == ["protection_order", "wanted"]),
    ("NCIC", q("QW", person=NOBODY), "no_hit",
     lambda m: m.text == "NO NCIC WANT"),
    ("NCIC", q("QV", vehicle=Vehicle(plate=WK["stolen_plate"], plate_state="CA")), "hit",
     lambda m: nics(m) == [WK["stolen_plate_nic"]]),
    ("NCIC", q("QV", vehicle=Vehicle(plate=WK["clean_plate"], plate_state="CA")), "no_hit",
     lambda m: m.vehicle is not None and m.vehicle.plate == WK["clean_plate"]),
    ("NCIC", q("QPO", person=SMITH), "hit",
     lambda m: m.records[0].case is not None
     and m.records[0].case.nic == WK["protection_order_nic"]),
    ("NCIC", q("QH", person=Person(fbi=WK["smith_fbi"])), "hit",
     lambda m: len(m.records) == 1 and m.records[0].fields["CYC"] == "3"),
    ("NCIC", q("QR", person=Person(fbi=WK["smith_fbi"])), "hit",
     lambda m: len(m.records) == 4),
    ("NCIC", q("QR", person=Person(fbi="999999ZZ9")), "no_hit", lambda m: True),
    ("SVS", q("QV", vehicle=Vehicle(vin="1HGCV1F39KA012345")), "hit",
     lambda m: m.records[0].vehicle is not None
     and m.records[0].vehicle.plate == WK["stolen_plate"]),
    ("SVS", q("QV", vehicle=Vehicle(plate=WK["absent_plate"])), "no_hit", lambda m: True),
    ("CARPOS", q("QW", person=SMITH), "hit",
     lambda m: m.records[0].case is not None
     and m.records[0].case.fcn == WK["protection_order_fcn"]
     and m.records[0].fields["PPN"] == "SMITH, JANE M"),
    ("CARPOS", q("QPO", person=NOBODY), "no_hit", lambda m: True),
    ("CCH", q("QR", person=Person(cii=WK["smith_cii"])), "hit",
     lambda m: [r.fields.get("DOA") for r in m.records[1:]] == ["19960714", "20090220",
                                                                "20240228"]),
    ("CCH", q("QH", person=SMITH), "hit",
     lambda m: m.records[0].person is not None
     and m.records[0].person.cii == WK["smith_cii"]),
    ("CCH", q("QH", person=NOBODY), "no_hit", lambda m: True),
    ("DMV", q("RGQ1", format="dmv-reg-request",
              vehicle=Vehicle(plate=WK["stolen_plate"], plate_state="CA")), "hit",
     lambda m: m.mke == "RGR1" and m.records[0].registration is not None
     and m.records[0].registration.stolen is True
     and m.records[0].owner is not None),
    ("DMV", q("RGQ1", format="dmv-reg-request", vehicle=Vehicle(plate=WK["refund_plate"])),
     "hit", lambda m: m.records[0].registration is not None
     and m.records[0].registration.fees_due == "-18.07"),
    ("DMV", q("RGQ1", format="dmv-reg-request", vehicle=Vehicle(plate=WK["fees_due_plate"])),
     "hit", lambda m: m.records[0].registration is not None
     and m.records[0].registration.fees_due == "123.45"
     and m.records[0].registration.status == "EX"),
    ("DMV", q("RGQ1", format="dmv-reg-request", vehicle=Vehicle(plate=WK["absent_plate"])),
     "no_hit", lambda m: m.mke == "RGR1"),
    ("DMV", q("QV", vehicle=Vehicle(plate=WK["out_of_state_plate"], plate_state="NV")),
     "no_hit", lambda m: True),  # the CA DMV holds CA plates only
    ("DMV", q("DLQ1", format="dmv-dl-request", person=Person(license=License(WK["valid_oln"]))),
     "hit", lambda m: m.mke == "DLR1" and m.records[0].person is not None
     and m.records[0].person.license is not None
     and m.records[0].person.license.status == "VA"
     and m.records[0].fields == {"PTS": "0", "FTA": "0"}),
    ("DMV", q("DLQ1", format="dmv-dl-request",
              person=Person(license=License(WK["suspended_oln"]))), "hit",
     lambda m: m.records[0].person is not None and m.records[0].person.license is not None
     and m.records[0].person.license.status == "SU"),
    ("DMV", q("DQ", person=SMITH), "hit",
     lambda m: m.mke == response_key("DQ") and m.records[0].person is not None
     and m.records[0].person.license is not None
     and m.records[0].person.license.number == WK["smith_oln"]),
    ("DMV", q("DLQ1", format="dmv-dl-request", person=Person(license=License(WK["absent_oln"]))),
     "no_hit", lambda m: True),
    ("NLETS", q("RQ", destinations=["NV"],
                vehicle=Vehicle(plate=WK["out_of_state_plate"], plate_state="NV")), "hit",
     lambda m: m.mke == "RR" and m.origin == "NVLIC0000"),
    ("NLETS", q("RQ", destinations=["AZ"], vehicle=Vehicle(plate=WK["out_of_state_plate"])),
     "no_hit", lambda m: m.text == "NOT ON FILE"),
    ("NLETS", q("DQ", destinations=["AZ"],
                person=Person(license=License(WK["out_of_state_oln"], "AZ"))), "hit",
     lambda m: m.mke == "DR" and m.origin == "AZOLN0000"),
    ("NLETS", q("YQ", destinations=[ORI], case=Case(nic=WK["wanted_nic"])), "hit",
     lambda m: m.mke == "YR" and m.origin == ORI and (m.text or "").startswith("CONFIRMED")),
    ("NLETS", q("YQ", destinations=[ORI], case=Case(nic="W000000000")), "no_hit",
     lambda m: (m.text or "").startswith("NOT CONFIRMED")),
]


@pytest.mark.parametrize("backend,req,status,extra", CASES,
                         ids=[f"{c[0]}-{c[1].mke}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_hit_and_no_hit(ds: Dataset, backend: str, req: Message, status: str,
                        extra: Check) -> None:
    answers = make_backend(backend, ds).answer(req)
    assert len(answers) == 1
    (ans,) = answers
    assert ans.status == status, (ans.status, ans.error, ans.text)
    assert ans.control == req.control
    assert ans.destinations == [ORI]
    assert ans.operator == "OPR7" and ans.terminal == "T001"
    if status == "hit":
        assert ans.records
    else:
        assert ans.records == []
    assert extra(ans), ans


def test_am_is_acknowledged_by_each_destination(ds: Dataset) -> None:
    answers = make_backend("NLETS", ds).answer(
        q("AM", destinations=["WA0170000", "OR0260000"], text="PLEASE CALL"))
    assert [(a.mke, a.origin, a.destinations, a.control) for a in answers] == [
        ("AM", "WA0170000", [ORI], "CTL0000042"), ("AM", "OR0260000", [ORI], "CTL0000042")]


def test_nlets_errors_come_from_the_nlets_switch(ds: Dataset) -> None:
    (ans,) = make_backend("NLETS", ds).answer(q("ZZQ"), raw="ZZQ.CA0349999.TXT")
    assert (ans.mke, ans.origin, ans.status) == ("ER", "NL0000000", "error")
    assert ans.error is not None and ans.error.code == 1 and ans.error.echo == "ZZQ.CA0349999.TXT"


@pytest.mark.parametrize("backend,req,code,reason", [
    ("NCIC", q("QW", person=Person(name=Name("SMITH", "JOHN"))), 20,
     "MISSING MANDATORY FIELD DOB"),
    ("WPS", q("QW", person=None), 20, "MISSING MANDATORY FIELD NAM"),
    ("SVS", q("QV", vehicle=Vehicle(plate_state="CA")), 20, "MISSING MANDATORY FIELD LIC"),
    ("CCH", q("ZZ"), 1, "UNKNOWN MESSAGE KEY"),
    ("DMV", q("DQ", person=Person(name=Name("SMITH", "JOHN"))), 20,
     "MISSING MANDATORY FIELD DOB"),
])
def test_bad_requests_are_answered_with_an_error(ds: Dataset, backend: str, req: Message,
                                                 code: int, reason: str) -> None:
    (ans,) = make_backend(backend, ds).answer(req, raw="RAW INPUT")
    assert ans.status == "error" and ans.control == req.control
    assert ans.error is not None and (ans.error.code, ans.error.reason) == (code, reason)
    assert ans.error.echo == "RAW INPUT"


def test_dmv_errors_are_written_into_the_message_field(ds: Dataset) -> None:
    req = q("RGQ1", format="dmv-reg-request", vehicle=Vehicle(plate_state="CA"))
    (ans,) = make_backend("DMV", ds).answer(req)
    assert ans.mke == "RGR1" and ans.status == "error"
    assert ans.text == ".20. MISSING MANDATORY FIELD LIC"


def test_wanted_entry_is_visible_to_ncic_then_cleared(ds: Dataset) -> None:
    wps, ncic = make_backend("WPS", ds), make_backend("NCIC", ds)
    doe = Person(name=Name("DOE", "JANE"), dob="1980-02-02", sex="F", race="W")
    assert ncic.answer(q("QW", person=doe))[0].status == "no_hit"
    (ack,) = wps.answer(q("EW", person=doe, case=Case(oca="24-777777"), remarks="FTA"))
    assert ack.mke == ACK_KEY and ack.case is not None and ack.case.nic
    assert ack.control == "CTL0000042" and ack.destinations == [ORI]
    hit = ncic.answer(q("QW", person=doe))[0]
    assert hit.status == "hit" and nics(hit) == [ack.case.nic]
    (dup,) = wps.answer(q("EW", person=doe, case=Case(oca="24-777777")))
    assert dup.status == "error" and dup.error is not None
    assert dup.error.reason == "REJECT ON FILE" and nics(dup) == [ack.case.nic]
    (cleared,) = wps.answer(q("CW", case=Case(nic=ack.case.nic)))
    assert cleared.mke == ACK_KEY and "CLEARED" in (cleared.text or "")
    assert ncic.answer(q("QW", person=doe))[0].status == "no_hit"
    (gone,) = wps.answer(q("CW", case=Case(nic=ack.case.nic)))
    assert gone.status == "no_hit"


def test_locate_hides_a_want_and_stolen_vehicle_entry(ds: Dataset) -> None:
    wps = make_backend("WPS", ds)
    (ack,) = wps.answer(q("LW", case=Case(nic=WK["wanted_nic"])))
    assert "LOCATED" in (ack.text or "")
    assert wps.answer(q("QW", person=SMITH))[0].status == "no_hit"
    svs = make_backend("SVS", ds)
    car = Vehicle(plate="4NEW001", plate_state="CA", vin="1HGCM82633A004352", make="HOND")
    (ack_v,) = svs.answer(q("EV", vehicle=car, case=Case(oca="24-555")))
    assert ack_v.case is not None and (ack_v.case.nic or "").startswith("V")
    assert make_backend("NCIC", ds).answer(q("QV", vehicle=Vehicle(plate="4NEW001")))[
        0].status == "hit"


def test_every_answer_echoes_control_for_every_backend_and_key(ds: Dataset) -> None:
    for name, cls in BACKENDS.items():
        backend = make_backend(name, ds)
        for mke in cls.keys:
            req = q(mke, control=f"C{name}{mke}"[:10], destinations=["NV"], person=SMITH,
                    vehicle=Vehicle(plate=WK["stolen_plate"], plate_state="CA"),
                    case=Case(oca="25-000001", nic="W000000001"))
            for ans in backend.answer(req):
                assert ans.control == req.control, (name, mke)
                assert ans.destinations == [ORI], (name, mke)


# ----------------------------------------------------------------------------- faults

def test_error_rate_one_answers_every_request_with_the_configured_error(ds: Dataset) -> None:
    r = Responder(make_backend("NCIC", ds), seed=1, faults=Faults(error_rate=1.0))
    for i in range(20):
        reply = r.handle(q("QW", person=SMITH, control=f"C{i}"), raw="QW...")
        assert reply.fault == "error"
        (ans,) = reply.messages
        assert ans.status == "error" and ans.control == f"C{i}"
        assert ans.error is not None and ans.error.code == 22


def test_error_rate_share_and_determinism(ds: Dataset) -> None:
    def run() -> list[str | None]:
        r = Responder(make_backend("SVS", ds), seed=5, faults=Faults(error_rate=0.25))
        return [r.handle(q("QV", vehicle=Vehicle(plate="7ABC123"))).fault for _ in range(400)]

    first = run()
    assert first == run()  # same seed, same faults
    errors = Counter(first)["error"]
    assert 60 <= errors <= 140, errors


def test_drop_and_duplicate(ds: Dataset) -> None:
    dropped = Responder(make_backend("WPS", ds), faults=Faults(drop_rate=1.0)).handle(
        q("QW", person=SMITH))
    assert dropped.messages == [] and dropped.fault == "drop"
    dup = Responder(make_backend("WPS", ds), faults=Faults(duplicate_rate=1.0)).handle(
        q("QW", person=SMITH))
    assert dup.fault == "duplicate" and len(dup.messages) == 2
    assert dup.messages[0] == dup.messages[1] and dup.messages[0] is not dup.messages[1]


def test_latency_is_fixed_plus_seeded_jitter(ds: Dataset) -> None:
    def delays(seed: int) -> list[float]:
        r = Responder(make_backend("CCH", ds), seed=seed,
                      faults=Faults(latency_ms=100, jitter_ms=50))
        return [r.handle(q("QH", person=SMITH)).delay_s for _ in range(50)]

    d = delays(3)
    assert all(0.1 <= x <= 0.15 for x in d)
    assert len(set(d)) > 10
    assert d == delays(3) and d != delays(4)


def test_backends_have_their_own_random_streams(ds: Dataset) -> None:
    f = Faults(jitter_ms=100)
    a = Responder(make_backend("NCIC", ds), seed=9, faults=f).handle(q("QW", person=SMITH))
    b = Responder(make_backend("WPS", ds), seed=9, faults=f).handle(q("QW", person=SMITH))
    assert a.delay_s != b.delay_s


def test_response_keys() -> None:
    assert response_key("QW") == "QWR"
    assert response_key("QPO") == "QPOR"
    assert response_key("RGQ1") == "RGR1" and response_key("DLQ1") == "DLR1"
    assert response_key("RQ", nlets=True) == "RR" and response_key("YQ", nlets=True) == "YR"

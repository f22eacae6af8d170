"""The switch between real codecs: NCIC text origin, EBCDIC DMV records, Nlets text, JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.codecs.base import get_codec
from clets.errors import ValidationError
from clets.model import Message, Record, Vehicle, dumps, loads
from clets.switch.audit import records
from tests._switch_kit import Harness, run_async

pytestmark = pytest.mark.timeout(30)

CONFIG = """\
[switch]
name = "FMT"
home_state = "CA"
journal = "{journal}"

[[peer]]
mnemonic = "LAPD"
oris = ["CA0194200"]
access = "full"

[[link]]
name = "lapd"
url = "memory://lapd"
codec = "ncic"
role = "origin"
peer = "LAPD"

[[link]]
name = "ncic"
url = "memory://ncic"
codec = "ncic"
role = "destination"

[[link]]
name = "dmv"
url = "memory://dmv"
codec = "dmv-reg-request"
encoding = "cp037"
role = "destination"

[[link]]
name = "nlets"
url = "memory://nlets"
codec = "nlets"
role = "destination"

[[link]]
name = "svs"
url = "memory://svs"
codec = "json"
role = "destination"

[[destination]]
name = "NCIC"
link = "ncic"

[[destination]]
name = "SVS"
link = "svs"

[[destination]]
name = "NLETS"
link = "nlets"

[[destination]]
name = "DMV"
link = "dmv"
codec = "dmv-reg-request"
encoding = "cp037"
encode = {{ QV = "dmv-reg-request", RQ = "dmv-reg-request", DQ = "dmv-dl-request" }}
decode = ["dmv-reg-response", "dmv-dl-response"]
mke_out = {{ QV = "RGQ1", RQ = "RGQ1", DQ = "DLQ1" }}
"""

NCIC = get_codec("ncic")
NLETS = get_codec("nlets")
REGQ = get_codec("dmv-reg-request")
REGR = get_codec("dmv-reg-response")


@run_async
async def test_ncic_origin_fans_out_to_three_formats_and_gets_ncic_answers(
        tmp_path: Path) -> None:
    async with Harness(tmp_path, text=CONFIG) as h:
        await h.far["lapd"].send(b"QV.CA0194200.LIC/7ABC123.LIS/CA")
        to_ncic = NCIC.decode(await h.recv_raw("ncic"))
        assert to_ncic.mke == "QV" and to_ncic.control is not None  # the switch's control
        dmv_raw = await h.recv_raw("dmv")
        assert len(dmv_raw) == 80 and dmv_raw[:4] == "RGQ1".encode("cp037")
        to_dmv = REGQ.decode(dmv_raw)
        assert to_dmv.control is not None and to_dmv.origin == "CA0194200"
        to_svs = loads(await h.recv_raw("svs"))
        assert len({to_svs.control, to_dmv.control, to_ncic.control}) == 3
        # NCIC echoes the switch's control in its response header
        await h.far["ncic"].send(f"QVR.CA0194200.*{to_ncic.control}.\nNO RECORD".encode())
        ans = NCIC.decode(await h.recv_raw("lapd"))
        assert (ans.mke, ans.status, ans.destinations) == ("QVR", "no_hit", ["CA0194200"])
        # DMV answers with an EBCDIC record echoing the switch control
        rec = Message(format="dmv-reg-response", mke="RGR1", destinations=["CA0194200"],
                      control=to_dmv.control, status="no_hit",
                      vehicle=Vehicle(plate="7ABC123", plate_state="CA"))
        await h.far["dmv"].send(REGR.encode(rec))
        ans = NCIC.decode(await h.recv_raw("lapd"))
        assert ans.mke == "QVR" and ans.status == "no_hit"  # RGR1 has no ncic form: QVR
        # the JSON destination answers too
        resp = Message(format="json", mke="QVR", destinations=["CA0194200"],
                       control=to_svs.control, status="hit",
                       records=[Record(file="vehicle", ori="CA0190000",
                                       vehicle=Vehicle(plate="7ABC123", plate_state="CA"))])
        await h.far["svs"].send(dumps(resp).encode())
        ans = NCIC.decode(await h.recv_raw("lapd"))
        assert ans.status == "hit" and ans.records[0].vehicle is not None
        assert ans.records[0].vehicle.plate == "7ABC123"


@run_async
async def test_ncic_reject_is_an_er_in_the_response_layout(tmp_path: Path) -> None:
    async with Harness(tmp_path, text=CONFIG) as h:
        bad = b"QW.CA0194200.NAM/SMITH, JOHN.DOB/29990101.SEX/M"
        await h.far["lapd"].send(bad)
        raw = await h.recv_raw("lapd")
        er = NCIC.decode(raw)
        assert er.mke == "ER" and er.status == "error" and er.error is not None
        assert (er.error.code, er.error.reason) == (21, "INVALID FIELD DOB")
        assert raw.startswith(b"ER.CA0194200.\n.21. INVALID FIELD DOB\nQW.CA0194200.NAM/")


@run_async
async def test_reject_of_undecodable_input_keeps_the_senders_control(tmp_path: Path) -> None:
    """The control is read from the raw header, so the sender can correlate the ``ER``."""
    async with Harness(tmp_path, text=CONFIG) as h:
        await h.far["lapd"].send(b"QW.CA0194200.*C2.NAM/SMITH, JOHN.DOB/19750231.SEX/M")
        raw = await h.recv_raw("lapd")
        assert raw.startswith(b"ER.CA0194200.*C2.\n.21. INVALID FIELD DOB\n"), raw
        er = NCIC.decode(raw)
        assert er.control == "C2"


@run_async
async def test_ncic_malformed_origin_ori_is_answered_invalid_origin(tmp_path: Path) -> None:
    """The codec rejects the ORI as an invalid field (21, formats.md §1); the switch answers
    the sender with its own code for an origin it cannot accept (10, switch.md)."""
    async with Harness(tmp_path, text=CONFIG) as h:
        bad = b"QW.CA019420.NAM/SMITH, JOHN.DOB/19751012.SEX/M"
        try:
            NCIC.decode(bad)
        except ValidationError as exc:
            assert (exc.code, exc.field) == (21, "ORI")
        else:
            raise AssertionError("the codec accepted a malformed ORI")
        await h.far["lapd"].send(bad)
        raw = await h.recv_raw("lapd")  # addressed to the ORI as the sender wrote it
        assert raw.startswith(b"ER.CA019420.\n.10. INVALID ORIGIN ORI\nQW.CA019420.NAM/")


@run_async
async def test_ncic_origin_ori_with_other_characters_is_answered_invalid_origin(
        tmp_path: Path) -> None:
    """A lower-case ORI is no token of the grammar (DecodeError, code 21 too): still ``.10.``,
    audited, and the answer is not lost although it cannot be addressed to that ORI."""
    async with Harness(tmp_path, text=CONFIG) as h:
        bad = b"QW.ca0194200.NAM/SMITH, JOHN.DOB/19751012.SEX/M"
        await h.far["lapd"].send(bad)
        raw = await h.recv_raw("lapd")
        assert b".10. INVALID ORIGIN ORI\nQW.ca0194200.NAM/" in raw, raw


@run_async
async def test_out_of_state_registration_goes_to_nlets_and_back(tmp_path: Path) -> None:
    async with Harness(tmp_path, text=CONFIG) as h:
        await h.far["lapd"].send(b"RQ.CA0194200.LIC/ABC123.LIS/NV")
        out = NLETS.decode(await h.recv_raw("nlets"))
        assert out.mke == "RQ" and out.destinations == ["NV"] and out.control
        rr = Message(format="nlets", mke="RR", origin="NV0000000",
                     destinations=["CA0194200"], control=out.control, status="no_hit",
                     text="NOT ON FILE")
        await h.far["nlets"].send(NLETS.encode(rr))
        ans = NCIC.decode(await h.recv_raw("lapd"))
        assert ans.mke == "RQR" and ans.status == "no_hit"
        assert h.far["dmv"].receive_nowait() is None


NLETS_ORIGIN = CONFIG.replace('''[[link]]
name = "ncic"''', '''[[peer]]
mnemonic = "RMS"
oris = ["CA0194201"]
access = "full"

[[link]]
name = "rms"
url = "memory://rms"
codec = "nlets"
role = "origin"
peer = "RMS"

[[link]]
name = "ncic"''')


@run_async
async def test_ncic_answer_without_a_sender_reaches_an_nlets_origin(tmp_path: Path) -> None:
    """ncic response text names no sender; Nlets output must: the relaying switch is it."""
    async with Harness(tmp_path, text=NLETS_ORIGIN) as h:
        await h.far["rms"].send(b"QW.CA0194201.CA.*R31.TXTNAM/SMITH, JOHN.DOB/19751012")
        fwd = NCIC.decode(await h.recv_raw("ncic"))
        assert fwd.mke == "QW" and fwd.control
        await h.far["ncic"].send(f"QWR.CA0194201.*{fwd.control}.\nNO NCIC WANT".encode())
        ans = NLETS.decode(await h.recv_raw("rms"))
        assert (ans.mke, ans.control, ans.destinations) == ("QWR", "R31", ["CA0194201"])
        assert ans.origin == "CA0000000" and ans.text == "NO NCIC WANT"


@run_async
async def test_answer_the_origin_cannot_carry_is_a_dead_letter_and_a_22(tmp_path: Path) -> None:
    """An answer the origin's codec refuses is not dropped quietly: the origin gets ``.22.``
    at once (no ``.02.`` later) and the audit trail has the dead letter."""
    async with Harness(tmp_path, text=CONFIG) as h:
        await h.far["lapd"].send(b"QV.CA0194200.*C7.LIC/7ABC123.LIS/CA")
        fwd = loads(await h.recv_raw("svs"))
        # a status text ncic cannot put on a response's status line
        bad = Message(format="json", mke="QVR", origin="CA0000SVS", destinations=["CA0194200"],
                      control=fwd.control, status="no_hit", text="NOT\nONE LINE")
        await h.far["svs"].send(dumps(bad).encode())
        raw = await h.recv_raw("lapd")
        assert raw.startswith(b"ER.CA0194200.*C7.\n.22. INVALID MESSAGE FORMAT\n"), raw
        dead = [r for r in records(h.switch.journal.conn) if r["event"] == "dead_letter"]
        assert len(dead) == 1 and dead[0]["error_code"] == 22, dead
        assert "not convertible to ncic" in (dead[0]["reason"] or "")


@run_async
async def test_a_destination_format_that_cannot_carry_the_inquiry_is_named_in_the_audit(
        tmp_path: Path) -> None:
    """ncic text has no destination field; Nlets input needs one.  The sender gets ``.22.``;
    the audit record says why, so the operator can fix the config."""
    routed = CONFIG + '''
[[route]]
mke = ["QW"]
[[route.to]]
destination = "NLETS"
'''
    async with Harness(tmp_path, text=routed) as h:
        await h.far["lapd"].send(b"QW.CA0194200.*C5.NAM/SMITH, JOHN.DOB/19751012")
        raw = await h.recv_raw("lapd")
        assert raw.startswith(b"ER.CA0194200.*C5.\n.22. INVALID MESSAGE FORMAT\n"), raw
        (rec,) = [r for r in records(h.switch.journal.conn) if r["event"] == "rejected"]
        assert "cannot encode for a destination" in rec["reason"]
        assert "needs a destination" in rec["reason"]

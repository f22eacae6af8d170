"""NCIC files and transactions as data (model/transactions.toml) and the switch's step 2.

Every file has its keys by kind; every rule names tags the field dictionary knows; a message
that lacks a mandatory field or an identifying set is refused with NCIC's reason, and the
switch's step 2 refuses it too when the table is enforced.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from clets.codecs import get_codec
from clets.errors import MISSING_FIELD, ValidationError
from clets.model import default_dictionary
from clets.model.transactions import (
    KINDS,
    Transactions,
    check_transaction,
    default_transactions,
)
from clets.switch.authz import Rejected, authorize
from clets.switch.config import PeerConfig
from clets.switch.routing import builtin_table

NCIC = get_codec("ncic")
TABLE = default_transactions()

# entries, modifications, cancels, locates, clears that carry what their rule asks
VALID = [
    b"EW.CA0349999.NAM/DOE, JANE.SEX/F.RAC/W.DOB/19800202.HGT/505.WGT/130.HAI/BRO"
    b".OFF/ROBBERY.DOW/20240301.OCA/24-001234",
    b"EW-C.CA0349999.NAM/DOE, JANE.SEX/F.RAC/W.SOC/123456789.HGT/505.WGT/130.HAI/BRO"
    b".OFF/ROBBERY.DOW/20240301.OCA/24-001234.CMC/05",
    b"EV.CA0349999.VIN/1HGCM82633A004352.VYR/2003.VMA/HOND.VST/4D.VCO/SIL.OCA/24-009876"
    b".DOT/20240115",
    b"EG.CA0349999.SER/A123456.MAK/COLT.CAL/45.TYP/PI.OCA/24-1.DOT/20240115",
    b"MW.CA0349999.NAM/DOE, JANE.NIC/W123456789.MIS/SUBJECT MAY BE IN NEVADA",
    b"XW.CA0349999.NAM/DOE, JANE.OCA/24-001234",
    b"LW.CA0349999.NAM/DOE, JANE.NIC/W123456789.DOL/20240410",
    b"CV.CA0349999.VIN/1HGCM82633A004352.NIC/V123456789.DOR/20240410",
    b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012.SEX/M",
    b"QW.CA0349999.SOC/123456789",
    b"QG.CA0349999.SER/A123456",
    b"EN.CA0349999.NAM/DOE, JANE.NIC/W123456789.AKA/ROE, JANE.AKA/DOE, JANIE",
]

INVALID = [
    (b"EW.CA0349999.NAM/DOE, JANE.SEX/F.RAC/W.DOB/19800202.OCA/24-001234", "HGT"),
    (b"EW.CA0349999.NAM/DOE, JANE.SEX/F.RAC/W.HGT/505.WGT/130.HAI/BRO.OFF/ROBBERY"
     b".DOW/20240301.OCA/24-1", "DOB"),
    (b"EW-C.CA0349999.NAM/DOE, JANE.SEX/F.RAC/W.DOB/19800202.HGT/505.WGT/130.HAI/BRO"
     b".OFF/ROBBERY.DOW/20240301.OCA/24-001234", "CMC"),
    (b"EV.CA0349999.VYR/2003.VMA/HOND.VST/4D.VCO/SIL.OCA/24-009876", "VIN"),
    (b"CW.CA0349999.OCA/24-001234.NIC/W123456789", "NAM"),
    (b"XV.CA0349999.VYR/2003", "VIN"),
    (b"QW.CA0349999.NAM/SMITH, JOHN", "DOB"),
    (b"YQ.CA0349999.RTY/WP.RNO/1.OCA/24-1.NIC/W123456789", "PRI"),
]


def test_every_file_has_its_keys_and_every_rule_known_tags() -> None:
    assert len(TABLE.files) >= 20
    dictionary = default_dictionary()
    for f in TABLE.files.values():
        assert f.keys.get("inquiry"), f.id
        assert set(f.keys) <= set(KINDS)
        for keys in f.keys.values():
            for key in keys:
                assert 1 <= len(key) <= 4, key  # an NCIC message key is 1-4 characters
    for key, rule in TABLE.rules.items():
        tags = set(rule.require) | {t for s in rule.one_of + rule.identify for t in s}
        for tag in tags:
            assert dictionary.row_for(tag, key) is not None, (key, tag)
    # entry, modify, cancel and clear of every file that has entries carry a rule
    for f in TABLE.files.values():
        for kind in ("entry", "modify", "cancel", "clear", "locate"):
            for key in f.keys.get(kind, ()):
                assert key in TABLE.rules, (f.id, kind, key)


@pytest.mark.parametrize("wire", VALID, ids=[w[:12].decode() for w in VALID])
def test_complete_transactions_pass(wire: bytes) -> None:
    check_transaction(NCIC.decode(wire))


@pytest.mark.parametrize(("wire", "tag"), INVALID, ids=[t for _, t in INVALID])
def test_missing_mandatory_fields_are_refused_with_the_tag(wire: bytes, tag: str) -> None:
    msg = (get_codec("nlets") if wire.startswith(b"YQ") else NCIC).decode(
        wire.replace(b"YQ.CA0349999.", b"YQ.CA0349999.WA0170000.TXT") if wire.startswith(b"YQ")
        else wire)
    with pytest.raises(ValidationError) as err:
        check_transaction(msg)
    assert err.value.code == MISSING_FIELD
    assert err.value.reason == f"MISSING MANDATORY FIELD {tag}"
    assert err.value.field == tag


def test_the_record_type_lines_of_the_files_are_in_the_response_profile() -> None:
    from clets.codecs.tagged import default_profile

    profile = default_profile()
    for f in TABLE.files.values():
        for line in f.types:
            assert line in profile.text_file, line
            assert TABLE.file_of_type(line) is not None


def test_the_switch_step_2_refuses_what_ncic_refuses_unless_turned_off() -> None:
    """The shipped table is enforced (issue 17); a table with ``enforce = false`` (what
    ``[switch] ncic_transactions = false`` gives the engine) lets the short entry through."""
    assert TABLE.enforce
    relaxed = dataclasses.replace(TABLE, enforce=False)
    peer = PeerConfig("LAPD", frozenset({"CA0349999"}), access="full")
    msg = NCIC.decode(INVALID[0][0])
    kwargs = dict(peer=peer, transport_oris=frozenset(), routes=builtin_table(),
                  today=dt.date(2026, 1, 1))
    with pytest.raises(Rejected) as err:
        authorize(msg, **kwargs)  # type: ignore[arg-type]  # the shipped table: enforced
    assert err.value.code == MISSING_FIELD
    assert "MISSING MANDATORY FIELD HGT" in str(err.value)
    authorize(msg, transactions=relaxed, **kwargs)  # type: ignore[arg-type]
    authorize(NCIC.decode(VALID[0]), **kwargs)  # type: ignore[arg-type]


def test_a_table_without_keys_or_with_an_unknown_file_is_a_layout_error() -> None:
    from clets.errors import LayoutError

    with pytest.raises(LayoutError):
        Transactions.from_toml('[[rule]]\nfile = "nope"\nkind = "entry"\nrequire = ["NAM"]')
    with pytest.raises(LayoutError):
        Transactions.from_toml('[[rule]]\nrequire = ["NAM"]')


@pytest.mark.parametrize("setting", ["", "ncic_transactions = true\n",
                                     "ncic_transactions = false\n"])
def test_a_switch_refuses_a_short_entry_unless_configured_off(tmp_path: object,
                                                              setting: str) -> None:
    """By default (and with ``ncic_transactions = true``) step 2 answers .20. naming the
    missing tag; ``ncic_transactions = false`` forwards the short entry."""
    from pathlib import Path

    from clets.model import Case, Message, Name, Person, dumps
    from tests._switch_kit import Harness, config_text, run_async

    tmp = Path(str(tmp_path))
    text = config_text(tmp / "journal.db").replace("[switch]\n", f"[switch]\n{setting}", 1)

    @run_async
    async def scenario() -> None:
        async with Harness(tmp, text=text) as h:
            entry = Message(format="json", mke="EW", origin="CA0194200", control="E1",
                            person=Person(name=Name("DOE", "JANE"), dob="1980-02-02",
                                          sex="F", race="W"), case=Case(oca="24-1"))
            await h.send("lapd", dumps(entry).encode())
            er = await h.recv("lapd")
            if setting.endswith("false\n"):
                assert er.error is None or er.error.code != 20, er
            else:
                assert er.mke == "ER" and er.error is not None
                assert (er.error.code, er.error.reason) == (20, "MISSING MANDATORY FIELD HGT")

    scenario()


def test_the_untagged_data_of_a_locate_is_named_and_checked() -> None:
    """transactions.toml ``[untagged]``: a locate's values after its identifiers are DOL,
    LCA (and EXT for a wanted person), the names' rows check them; a clear's stay unnamed."""
    from clets.errors import INVALID_FIELD
    from clets.model.transactions import untagged_fields

    lw = NCIC.decode(b"LW.MD1012600.NAM/SMITH, JOHN J.NIC/W146203706.19990205"
                     b".CASE 1234567890.EXTR")
    assert lw.fields["POS"] == "19990205\nCASE 1234567890\nEXTR"  # the wire form is kept
    assert untagged_fields(lw) == {"DOL": "19990205", "LCA": "CASE 1234567890", "EXT": "EXTR"}
    check_transaction(lw)
    assert NCIC.encode(lw) == (b"LW.MD1012600.NAM/SMITH, JOHN J.NIC/W146203706.19990205"
                               b".CASE 1234567890.EXTR")
    lv = NCIC.decode(b"LV.MD1012600.VIN/1HGCM82633A004352.NIC/V146203706.19990205.CASE 9")
    assert untagged_fields(lv) == {"DOL": "19990205", "LCA": "CASE 9"}
    bad = NCIC.decode(b"LW.MD1012600.NAM/SMITH, JOHN J.NIC/W146203706.1999025.CASE 1.EXTR")
    with pytest.raises(ValidationError) as err:
        check_transaction(bad)
    assert (err.value.code, err.value.field) == (INVALID_FIELD, "DOL")
    cw = NCIC.decode(b"CW.MD1012600.NAM/SMITH, JOHN J.NIC/W146203706.19990205.CASE 1")
    assert cw.fields["POS"] and untagged_fields(cw) == {}
    assert TABLE.untagged_names("QW") == ()


def test_an_untagged_list_of_an_unknown_file_or_kind_is_a_layout_error() -> None:
    from clets.errors import LayoutError

    with pytest.raises(LayoutError):
        Transactions.from_toml('[untagged.nope]\nlocate = ["DOL"]')
    with pytest.raises(LayoutError):
        Transactions.from_toml('[untagged]\nlocatex = ["DOL"]')
    with pytest.raises(LayoutError):
        Transactions.from_toml('[untagged]\nlocate = ["DATE"]')

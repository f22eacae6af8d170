"""`clets copybook layout|decode|encode`, run as a real process on real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "copybook_corpus"
MULTI = str(CORPUS / "C13MULTI.cpy")
RULES = ["--record-type", "M-H-TYPE=H:M-HEADER", "--record-type", "M-H-TYPE=D:M-DETAIL",
         "--record-type", "M-H-TYPE=T:M-TRAILER"]
LINES = [
    {"M-HEADER": {"M-H-TYPE": "H", "M-H-DATE": 20261203, "M-H-BATCH": 42}},
    {"M-DETAIL": {"M-D-TYPE": "D", "M-D-COUNT": 2, "M-D-LINE": [
        {"M-D-SKU": "AB-001", "M-D-QTY": 5}, {"M-D-SKU": "ZZ-999", "M-D-QTY": -12}]}},
    {"M-DETAIL": {"M-D-TYPE": "D", "M-D-COUNT": 0, "M-D-LINE": []}},
    {"M-TRAILER": {"M-T-TYPE": "T", "M-T-TOTAL": -1234.56}},
]


def clets(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "clets.cli", *args], input=stdin,
                          capture_output=True, timeout=120, check=False)


def test_layout_table() -> None:
    res = clets("copybook", "layout", str(CORPUS / "C06ODO.cpy"))
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    # 9 fixed bytes, 1-10 items of 7, 2, 0-4 notes of 5, 3
    assert "record ODO-REC: 21 to 104 bytes (OCCURS DEPENDING ON)" in out
    row = next(ln for ln in out.splitlines() if " D-ITEMS " in ln)
    assert row.split()[:4] == ["5", "D-ITEMS", "9", "7"]
    assert row.endswith("OCCURS 1 TO 10 DEPENDING ON D-N1")
    dup = clets("copybook", "layout", str(CORPUS / "C11DUPS.cpy")).stdout.decode()
    assert "STREET (STREET OF WORK OF DUP-REC)" in dup


@pytest.mark.parametrize("fmt", ["F", "FB", "V", "VB", "VS", "VBS"])
def test_encode_then_decode_a_mixed_file(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    data = tmp_path / "out.dat"
    res = clets("copybook", "encode", MULTI, str(src), "-r", fmt, "-o", str(data), *RULES)
    assert res.returncode == 0, res.stderr
    raw = data.read_bytes()
    if fmt == "V":
        assert raw[:4] == (4 + 11).to_bytes(2, "big") + b"\0\0"
    res = clets("copybook", "decode", MULTI, str(data), "-r", fmt, *RULES)
    assert res.returncode == 0, res.stderr
    got = [json.loads(x) for x in res.stdout.decode().splitlines()]
    assert got == LINES
    if fmt in ("F", "FB"):  # one slot of the longest record's length each, padded
        assert len(raw) == 4 * 84


def test_bad_record_stops_with_its_number_and_offset(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in LINES))
    data = tmp_path / "out.dat"
    assert clets("copybook", "encode", MULTI, str(src), "-r", "V", "-o", str(data),
                 *RULES).returncode == 0
    good = data.read_bytes()
    bad = (4 + 3).to_bytes(2, "big") + b"\0\0" + "D99".encode("cp037")  # count 99 > 9
    data.write_bytes(good[:15] + bad + good[15:])
    res = clets("copybook", "decode", MULTI, str(data), "-r", "V", *RULES)
    assert res.returncode == 2
    err = res.stderr.decode()
    assert "record 2 at byte 19" in err  # its first data byte, after the RDW and "M-D-COUNT" in err
    assert len(res.stdout.decode().splitlines()) == 1  # the record before it was written
    rej = tmp_path / "rejects.dat"
    res = clets("copybook", "decode", MULTI, str(data), "-r", "V", *RULES, "--skip-bad",
                str(rej))
    assert res.returncode == 1
    assert "4 records decoded, 1 bad records skipped" in res.stderr.decode()
    assert rej.read_bytes() == bad
    assert len(res.stdout.decode().splitlines()) == 4


def test_stdin_and_a_bad_copybook() -> None:
    res = clets("copybook", "decode", str(CORPUS / "C10FRAG.cpy"), "-",
                stdin="12320261203".encode("cp037") + bytes.fromhex("0000012C0001999F")
                + "WIDGET".encode("cp037").ljust(20, b"\x40"))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"F-KEY": {"F-STORE": 123, "F-DATE": 20261203},
                                      "F-QTY": 12, "F-PRICE": 19.99, "F-DESC": "WIDGET"}
    res = clets("copybook", "layout", str(CORPUS / "README.md"))
    assert res.returncode == 2 and b"Traceback" not in res.stderr


def test_one_record_of_several(tmp_path: Path) -> None:
    data = tmp_path / "t.dat"
    data.write_bytes("T".encode("cp037") + bytes.fromhex("0000000012345D"))
    res = clets("copybook", "decode", MULTI, str(data), "--record", "m-trailer", "--lrecl", "8")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"M-TRAILER": {"M-T-TYPE": "T", "M-T-TOTAL": -123.45}}


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """stderr on a real pty: the progress line appears; stdout (a pipe) has only JSON."""
    import os

    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(LINES[1]) + "\n" for _ in range(2000)))
    data = tmp_path / "out.dat"
    assert clets("copybook", "encode", MULTI, str(src), "-r", "VB", "-o", str(data),
                 *RULES).returncode == 0
    master, slave = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "clets.cli", "copybook", "decode", MULTI,
                               str(data), "-r", "VB", *RULES], stdout=subprocess.PIPE,
                              stderr=slave, timeout=120, check=False)
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    err = b"".join(chunks).decode()
    assert "100.0%" in err and "2000 records" in err
    assert len(proc.stdout.splitlines()) == 2000


def test_layout_json_matches_gnucobol() -> None:
    res = clets("copybook", "layout", "--json", str(CORPUS / "C02USAGE.cpy"))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    oracle = json.loads((CORPUS / "oracle.json").read_text())["C02USAGE.cpy"]
    got = {".".join(i["path"]): [i["offset"], i["length"]] for i in doc["records"][0]["items"]}
    assert {k: got[k] for k in oracle} == oracle


def test_field_options(tmp_path: Path) -> None:
    cpy = tmp_path / "B.cpy"
    cpy.write_text("       01  B.\n           05  N PIC S9(4) COMP.\n           05  T PIC X(4).\n")
    data = tmp_path / "b.dat"
    data.write_bytes(b"\x7f\xff" + b"\xc1\x00\x00\x40")
    res = clets("copybook", "decode", str(cpy), str(data))
    assert res.returncode == 2 and b"N" in res.stderr  # 32767 > 4 digits: TRUNC(STD)
    res = clets("copybook", "decode", str(cpy), str(data), "--field", "trunc=bin",
                "--field", "low_values=keep", "--field", "trim=none")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"B": {"N": 32767, "T": "A\x00\x00 "}}
    res = clets("copybook", "decode", str(cpy), str(data), "--field", "nope=1")
    assert res.returncode == 2 and b"--field" in res.stderr


def test_text_lines_in_ascii(tmp_path: Path) -> None:
    cpy = tmp_path / "T.cpy"
    cpy.write_text("       01  T.\n           05  N PIC 9(2).\n"
                   "           05  V PIC X(3) OCCURS 0 TO 3 DEPENDING ON N.\n")
    data = tmp_path / "t.txt"
    data.write_bytes(b"02AAABBB\n01CCC\n00\n")
    res = clets("copybook", "decode", str(cpy), str(data), "-r", "D", "-e", "ascii")
    assert res.returncode == 0, res.stderr
    assert [json.loads(x)["T"]["V"] for x in res.stdout.splitlines()] == [
        ["AAA", "BBB"], ["CCC"], []]
    back = tmp_path / "back.txt"
    src = tmp_path / "t.jsonl"
    src.write_bytes(res.stdout)
    assert clets("copybook", "encode", str(cpy), str(src), "-r", "D", "-e", "ascii", "-o",
                 str(back)).returncode == 0
    assert back.read_bytes() == data.read_bytes()


def test_record_options_little_endian_rdw_and_a_file_header(tmp_path: Path) -> None:
    cpy = tmp_path / "T.cpy"
    cpy.write_text("       01  T.\n           05  A PIC X(3).\n")
    data = tmp_path / "t.dat"
    data.write_bytes(b"HDR!" + b"\x07\x00\x00\x00" + "ABC".encode("cp037"))
    res = clets("copybook", "decode", str(cpy), str(data), "-r", "V", "--record-option",
                "rdw_byteorder=little", "--record-option", "start_offset=4")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"T": {"A": "ABC"}}
    res = clets("copybook", "decode", str(cpy), str(data), "--record-option", "bogus=1")
    assert res.returncode == 2 and b"--record-option" in res.stderr

"""The codec commands through the real ``clets`` entry point (a subprocess, as a user runs it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT

CLETS = [sys.executable, "-m", "clets.cli"]
MESSAGES = FIXTURES / "messages"


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLETS, *args], input=stdin, capture_output=True, timeout=60,
                          cwd=ROOT)


def test_formats_lists_every_builtin_codec() -> None:
    out = run("formats").stdout.decode()
    for name in ("json", "ncic", "nlets", "niem", "dmv-reg-request", "dmv-reg-response",
                 "dmv-dl-request", "dmv-dl-response"):
        assert f"\n{name} " in "\n" + out


def test_decode_spec_example_prints_the_spec_json() -> None:
    done = run("decode", "--format", "ncic",
               stdin=b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["person"]["name"] == {"last": "SMITH", "first": "JOHN", "middle": "J",
                                     "suffix": None}
    assert got["person"]["dob"] == "1975-10-12" and got["vehicle"] is None


@pytest.mark.parametrize("name", ["hit-stolen", "hit-negative-fees", "no-hit", "error"])
def test_decode_binary_cp037_record(name: str) -> None:
    wire = MESSAGES / "dmv-reg-response" / f"{name}.cp037.bin"
    done = run("decode", "--format", "dmv-reg-response", str(wire))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == json.loads(wire.with_name(f"{name}.json").read_text())


def test_decode_rdw_stream_prints_one_object_per_record() -> None:
    wire = MESSAGES / "dmv-reg-response" / "stream.rdw.cp037.bin"
    done = run("decode", "-f", "dmv-reg-response", str(wire))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert [json.loads(x) for x in lines] == json.loads((wire.parent / "stream.json").read_text())


def test_encode_json_to_ebcdic_record_and_back() -> None:
    expected = MESSAGES / "dmv-reg-response" / "hit-stolen.json"
    done = run("encode", "-f", "dmv-reg-response", str(expected))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (MESSAGES / "dmv-reg-response" / "hit-stolen.cp037.bin").read_bytes()


def test_convert_ncic_to_nlets_to_niem_and_back() -> None:
    ncic = b"RQ.CA0349999.LIC/ABC1234.LIS/NV"
    # ncic has no destinations; add one through JSON so nlets can address it
    msg = json.loads(run("decode", "-f", "ncic", stdin=ncic).stdout)
    msg["destinations"] = ["NV"]
    nlets = run("encode", "-f", "nlets", stdin=json.dumps(msg).encode())
    assert nlets.returncode == 0, nlets.stderr
    xml = run("convert", "--from", "nlets", "--to", "niem", stdin=nlets.stdout)
    assert xml.returncode == 0 and xml.stdout.startswith(b"<?xml"), xml.stderr
    back = run("convert", "--from", "niem", "--to", "nlets", stdin=xml.stdout)
    assert back.stdout.rstrip(b"\n") == nlets.stdout.rstrip(b"\n")


def test_validate_reports_rejects_and_warnings() -> None:
    done = run("validate", "-f", "ncic",
               stdin=b"QW.CA0349999.SEX/Q.DOB/20990101.VIN/1HGCM82643A004352")
    out = done.stdout.decode()
    assert done.returncode == 1
    assert "reject DOB" in out and "reject SEX" in out and "VIN check digit mismatch" in out
    ok = run("validate", "-f", "ncic", stdin=b"QV.CA0349999.LIC/7ABC123.LIS/CA")
    assert ok.returncode == 0 and ": ok" in ok.stdout.decode()


@pytest.mark.parametrize(("args", "stdin", "needle"), [
    (("decode", "-f", "ncic"), b"QW.CA0349999.DOB/19751302", b"field DOB"),
    (("decode", "-f", "ncic"), b"\xff\xfe garbage", b"offset 0"),
    (("decode", "-f", "dmv-reg-response"), b"\x40" * 100, b"256-byte"),
    (("decode", "-f", "niem"), b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", b"niem"),
    (("decode", "-f", "nosuch"), b"", b"unknown format"),
    (("encode", "-f", "ncic"), b'{"format": "ncic", "mke": "QV", "plates": 1}', b"plates"),
    (("encode", "-f", "ncic"), b"not json", b"json"),
])
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], stdin: bytes,
                                         needle: bytes) -> None:
    done = run(*args, stdin=stdin)
    assert done.returncode == 2
    assert b"Traceback" not in done.stderr
    assert done.stderr.count(b"\n") == 1 and needle in done.stderr


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    done = run("decode", "-f", "ncic", str(tmp_path / "nope.txt"))
    assert done.returncode == 2 and b"Traceback" not in done.stderr


def test_decode_json_reads_objects_written_over_several_lines(tmp_path: Path) -> None:
    """model.md prints its JSON over several lines: the json codec's streams take that as
    well as JSON Lines (any whitespace between objects); errors give a byte offset."""
    one = (FIXTURES / "messages" / "ncic" / "qw_person.json").read_text("utf-8")
    pretty = json.dumps(json.loads(one), indent=2)
    assert pretty.count("\n") > 5
    src = tmp_path / "two.json"
    src.write_text(pretty + "\n\n" + one.strip() + "\n", "utf-8")
    out = run("decode", "--format", "json", str(src))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert len(lines) == 2 and json.loads(lines[0]) == json.loads(lines[1]) == json.loads(one)
    tail = '{"format": '
    src.write_text(pretty + "\n" + tail, "utf-8")
    bad = run("decode", "--format", "json", str(src))
    assert bad.returncode == 2 and b"not JSON" in bad.stderr
    assert f"offset {len(pretty.encode()) + 1 + len(tail)}".encode() in bad.stderr

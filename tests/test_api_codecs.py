"""The codec service (``/v1/decode|encode|convert|validate``) gives what ``clets decode|encode|
convert|validate`` give, for every codec of ``clets formats``; bad input is a 4xx problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from clets.cli import cli
from clets.codecs import available, get_codec
from clets.model.jsonform import dump
from tests._api_kit import running_api
from tests._switch_kit import run_async

pytestmark = pytest.mark.timeout(60)

FIX = Path(__file__).parent.parent / "fixtures"
NCIC = b"QW.CA0194200.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W"


@run_async
async def test_decode_encode_convert_validate_match_the_cli(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        r = await h.http.post("/v1/decode?codec=ncic", content=NCIC,
                              headers={"Content-Type": "text/x-ncic"})
        assert r.status_code == 200, r.text
        msgs = r.json()["messages"]
        cli_out = CliRunner().invoke(cli, ["decode", "-f", "ncic", "-"], input=NCIC)
        assert cli_out.exit_code == 0
        assert msgs == [json.loads(line) for line in cli_out.output.splitlines() if line]

        # every codec of ``clets formats``: a fixture of it decoded, encoded, converted
        for name in available():
            codec = get_codec(name)
            wire = _fixture(name)
            lib = [dump(m) for m in codec.decode_stream(wire)]
            r = await h.http.post(f"/v1/decode?codec={name}", content=wire,
                                  headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 200, (name, r.text)
            got = r.json()["messages"]
            assert [json.loads(m) for m in lib] == got, name
            r = await h.http.post(f"/v1/encode?codec={name}", json=got[0])
            assert r.status_code == 200, (name, r.text)
            assert r.content == codec.encode(codec.decode_stream(wire).__next__()), name
            r = await h.http.post(f"/v1/convert?from={name}&to=json", content=wire)
            assert r.status_code == 200, (name, r.text)
            assert r.content.split(b"\n")[0] == lib[0], name

        for bad in (b"QW.CA0194200.NAM/SMITH, JOHN.DOB/20991012.SEX/M",  # edit: future
                    b"QW.CA0194200.NAM/SMITH, JOHN.DOB/19751399.SEX/M"):  # no date at all
            r = await h.http.post("/v1/validate?codec=ncic", content=bad)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["valid"] is False
            finding = body["messages"][0]["findings"][0]
            assert finding["severity"] == "reject" and "dob" in finding["path"].lower()
        r = await h.http.post("/v1/validate?codec=ncic", content=NCIC)
        assert r.json()["valid"] is True


@run_async
async def test_codec_service_refusals_are_problems(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        r = await h.http.post("/v1/decode?codec=nope", content=NCIC)
        assert r.status_code == 400 and "ncic" in r.json()["codecs"]
        r = await h.http.post("/v1/decode", content=NCIC)
        assert r.status_code == 400
        r = await h.http.post("/v1/decode?codec=ncic&encoding=klingon", content=NCIC)
        assert r.status_code == 400
        r = await h.http.post("/v1/decode?codec=json", content=b'{"mke": "QW", "zz": 1}')
        p = r.json()
        assert r.status_code == 422 and p["field"] == "zz" and p["code"] == 22
        r = await h.http.post("/v1/decode?codec=niem", content=b"<!DOCTYPE x [<!ENTITY a "
                              b"'b'>]><x>&a;</x>")
        assert r.status_code == 422
        r = await h.http.post("/v1/encode?codec=ncic", content=b"[]")
        assert r.status_code == 422
        r = await h.http.post("/v1/encode?codec=ncic", content=b"not json at all")
        assert r.status_code == 422
        r = await h.http.post("/v1/decode?codec=dmv-reg-response", content=b"\x00" * 7)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def _fixture(name: str) -> bytes:
    """The first wire-form fixture of a codec (fixtures/messages, else the corpus)."""
    for base in (FIX / "messages" / name, FIX / "corpus" / name):
        if base.is_dir():
            files = sorted(f for f in base.iterdir() if f.suffix != ".json")
            if files:
                return files[0].read_bytes()
    raise AssertionError(f"no fixture for codec {name}")

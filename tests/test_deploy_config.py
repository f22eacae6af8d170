"""docs/deploy.md's adapter-box config, as printed, carries the box's traffic.

The config is read out of the guide itself, so the guide cannot drift from what works: its
links become memory pairs (no serial port, TLS or spool needed), everything else is as
written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clets.codecs.base import get_codec
from tests._switch_kit import Harness, run_async

pytestmark = pytest.mark.timeout(30)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"
NCIC = get_codec("ncic")
NLETS = get_codec("nlets")


def box_config() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", GUIDE.read_text("utf-8"), re.S)
    (text,) = [b for b in blocks if "[switch]" in b and "[[link]]" in b]
    text = text.replace("{", "{{").replace("}", "}}")
    return re.sub(r'(?m)^journal = "[^"]*"', 'journal = "{journal}"', text)


@run_async
async def test_the_teletypes_inquiry_goes_to_the_state_and_its_answer_comes_back(
        tmp_path: Path) -> None:
    async with Harness(tmp_path, text=box_config()) as h:
        await h.far["teletype"].send(b"QW.CA0349900.NAM/SMITH, JOHN J.DOB/19751012")
        up = NCIC.decode(await h.recv_raw("state"))
        assert (up.mke, up.origin) == ("QW", "CA0349900") and up.control
        await h.far["state"].send(f"QWR.CA0349900.*{up.control}.\nNO NCIC WANT".encode())
        ans = NCIC.decode(await h.recv_raw("teletype"))
        assert (ans.mke, ans.destinations, ans.text) == ("QWR", ["CA0349900"], "NO NCIC WANT")


@run_async
async def test_the_rms_nlets_line_goes_up_and_its_answer_comes_back_in_nlets(
        tmp_path: Path) -> None:
    async with Harness(tmp_path, text=box_config()) as h:
        await h.far["rms"].send(b"QV.CA0349901.CA.*R1.TXTLIC/7ABC123.LIS/CA")
        up = NCIC.decode(await h.recv_raw("state"))
        assert (up.mke, up.origin) == ("QV", "CA0349901") and up.control
        await h.far["state"].send(f"QVR.CA0349901.*{up.control}.\nNO RECORD".encode())
        ans = NLETS.decode(await h.recv_raw("rms"))
        assert (ans.mke, ans.control, ans.destinations) == ("QVR", "R1", ["CA0349901"])
        assert ans.origin == "CA0349900"  # the box's ori: ncic answers name no sender


@run_async
async def test_the_inquiry_only_teletype_cannot_enter_a_warrant(tmp_path: Path) -> None:
    async with Harness(tmp_path, text=box_config()) as h:
        await h.far["teletype"].send(
            b"EW.CA0349900.NAM/SMITH, JOHN J.SEX/M.RAC/W.DOB/19751012.OCA/26-1")
        er = NCIC.decode(await h.recv_raw("teletype"))
        assert er.error is not None and er.error.code == 11

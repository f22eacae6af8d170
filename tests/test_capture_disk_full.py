"""Capture files on a real full tmpfs: a write the disk refuses leaves no half line (the file
stays readable), the switch's traffic goes on, /healthz lists the capture as degraded, and
recording resumes by itself when space is back (the gap is audited)."""

from __future__ import annotations

from pathlib import Path

import pytest

from clets.errors import StorageError
from clets.switch.audit import records
from clets.testing.capture import CaptureWriter, read_capture
from tests._smallfs import small_fs
from tests._switch_kit import Harness, config_text, eventually, qw, run_async
from tests.test_switch_capture import _with_capture

pytestmark = [pytest.mark.realpeer, pytest.mark.timeout(120)]


def test_writer_cuts_a_partly_written_line_and_goes_on() -> None:
    with small_fs(1 << 20) as fs:
        path = fs.root / "cap.jsonl"
        writer = CaptureWriter(path, links={"x": {"role": "origin"}})
        writer.write_event(link="x", direction="in", raw=b"BEFORE")
        fs.fill()
        fs.leave(4096)  # room for part of the next line only
        with pytest.raises(StorageError) as failed:
            writer.write_event(link="x", direction="in", raw=b"L" * 20000)
        assert failed.value.kind == "full" and failed.value.store == "capture"
        assert [e.raw for e in read_capture(path).events] == [b"BEFORE"]
        fs.free()
        writer.write_event(link="x", direction="out", raw=b"AFTER")
        writer.close()
        assert [e.raw for e in read_capture(path).events] == [b"BEFORE", b"AFTER"]


@run_async
async def test_switch_capture_on_a_full_disk_pauses_and_resumes(tmp_path: Path) -> None:
    with small_fs(1 << 20) as fs:
        text = _with_capture(config_text(Path("{journal}")), "lapd",
                             f'"{fs.root / "lapd.jsonl"}"')
        async with Harness(tmp_path, text=text) as h:
            sw = h.switch
            await h.send("lapd", qw(control="K1"))
            assert (await h.recv("lapd")).mke == "ACK"
            fs.fill()
            for n in (2, 3):  # the traffic goes on while nothing can be recorded
                await h.send("lapd", qw(control=f"K{n}"))
                ack = await h.recv("lapd")
                assert ack.mke == "ACK" and ack.control == f"K{n}"
            health = sw.health()
            assert health["ok"] and list(health["degraded"]) == ["capture lapd"], health
            assert "capture lapd full since" in health["reason"]
            fs.free()
            await h.send("lapd", qw(control="K4"))
            assert (await h.recv("lapd")).mke == "ACK"
            await eventually(lambda: sw.health()["degraded"] == {})
            events = [r for r in records(sw.journal.conn) if r["event"] == "storage"]
        cap = read_capture(fs.root / "lapd.jsonl")
        controls = [e.message["control"] for e in cap.events
                    if e.direction == "in" and e.message]
        assert controls == ["K1", "K4"]
    assert [(r["link"], r["outcome"]) for r in events] == [("lapd", "failed"),
                                                            ("lapd", "recovered")]
    assert "events not recorded" in events[1]["reason"]

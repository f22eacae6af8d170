"""``bench/bench_ncic_full.py`` compares like with like: its hand-written baselines build the
same model as the codec from the same 40-field entry and 5-record response, and refuse what the
codec's edits refuse (a baseline that skipped work would overstate the codec's cost)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from clets.codecs.ncic import NcicCodec
from clets.errors import ValidationError
from clets.model import to_dict

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_ncic_full", BENCH / "bench_ncic_full.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_ncic_full"] = module
    spec.loader.exec_module(module)
    return module


def test_the_baselines_build_the_codecs_model() -> None:
    b = _bench()
    codec = NcicCodec()
    assert len(b.ENTRY40.split(b".")) - 2 == 40
    assert to_dict(b.baseline_entry(b.ENTRY40)) == to_dict(codec.decode(b.ENTRY40))
    resp = codec.decode(b.RESP5)
    assert len(resp.records) == 5 and resp.records[0].caution
    assert to_dict(b.baseline_response(b.RESP5)) == to_dict(resp)


@pytest.mark.parametrize(("old", "new"), [(b"POB/TX", b"POB/TEX"), (b"EXL/1", b"EXL/9"),
                                          (b"CTI/CA019015J", b"CTI/CA01"),
                                          (b"EYE/BRO", b"EYE/XYZ")])
def test_the_entry_baseline_refuses_what_the_codec_refuses(old: bytes, new: bytes) -> None:
    b = _bench()
    bad = b.ENTRY40.replace(old, new)
    with pytest.raises(ValidationError):
        NcicCodec().decode(bad)
    with pytest.raises(b.Reject):
        b.baseline_entry(bad)

"""The four built-in DMV record codecs (spec/formats.md §4), built from the shipped copybooks.

Each is nothing but a copybook (``copybooks/*.cpy``, copied from the spec) and a mapping table
(``copybooks/*.toml``): the same route an agency takes for its own records
(``CopybookCodec.from_files``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from .copybook import CopybookCodec

__all__ = ["dmv_dl_request", "dmv_dl_response", "dmv_reg_request", "dmv_reg_response"]

_RECORDS = {
    "dmv-reg-request": ("DMVREGQ.cpy", "vehicle registration inquiry to the DMV (80 bytes)"),
    "dmv-reg-response": ("DMVREGR.cpy", "vehicle registration response (256 bytes)"),
    "dmv-dl-request": ("DMVDLQ.cpy", "driver licence inquiry to the DMV (80 bytes)"),
    "dmv-dl-response": ("DMVDLR.cpy", "driver licence response (200 bytes)"),
}


@cache
def _text(filename: str) -> str:
    return resources.files("clets.codecs").joinpath("copybooks", filename).read_text("utf-8")


def _make(name: str, options: dict[str, Any]) -> CopybookCodec:
    cpy, what = _RECORDS[name]
    options.setdefault("encoding", "cp037")
    options.setdefault("rdw", None)
    options.setdefault("edits", True)
    return CopybookCodec(name, _text(cpy), _text(f"{name}.toml"),
                         description=f"DMV {what}, EBCDIC {options['encoding']}",
                         copybook_source=cpy, mapping_source=f"{name}.toml", **options)


def dmv_reg_request(**options: Any) -> CopybookCodec:
    return _make("dmv-reg-request", options)


def dmv_reg_response(**options: Any) -> CopybookCodec:
    return _make("dmv-reg-response", options)


def dmv_dl_request(**options: Any) -> CopybookCodec:
    return _make("dmv-dl-request", options)


def dmv_dl_response(**options: Any) -> CopybookCodec:
    return _make("dmv-dl-response", options)

"""JUnit XML for a replay, so CI servers show one test case per request with its diff.

Written with the standard library's ElementTree (always well-formed XML); characters XML 1.0
cannot carry (control bytes from teletype frames) are replaced by ``\\xNN`` text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from clets.testing.session import SessionReport

__all__ = ["junit_xml", "write_junit"]

_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _BAD_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def junit_xml(report: SessionReport, suite: str = "clets.replay") -> bytes:
    """The report as a JUnit ``<testsuites>`` document (UTF-8 bytes with declaration)."""
    results = list(report.results)
    failures = sum(1 for r in results if not r.ok)
    per_case = report.elapsed / len(results) if results else 0.0
    root = ET.Element("testsuites", name=_clean(suite), tests=str(len(results)),
                      failures=str(failures), errors="0", time=f"{report.elapsed:.3f}")
    ts = ET.SubElement(root, "testsuite", name=_clean(suite), tests=str(len(results)),
                       failures=str(failures), errors="0", skipped="0",
                       time=f"{report.elapsed:.3f}")
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="masks", value=_clean(",".join(report.masks.masks)))
    for r in results:
        tc = ET.SubElement(ts, "testcase", classname=_clean(suite), name=_clean(r.name),
                           time=f"{per_case:.3f}")
        if not r.ok:
            statuses = sorted({a.status for a in r.answers if a.status != "identical"})
            msg = ", ".join(statuses) or "request differs"
            fail = ET.SubElement(tc, "failure", message=_clean(msg), type="ReplayDifference")
            fail.text = _clean(r.describe())
    tree = ET.ElementTree(root)
    ET.indent(tree)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def write_junit(path: str | Path, report: SessionReport, suite: str = "clets.replay") -> None:
    Path(path).write_bytes(junit_xml(report, suite))

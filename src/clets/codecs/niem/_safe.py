"""Hostile-input-safe XML parsing for the niem codec (reference/reliability.md 4.2).

Why this order of checks: everything that can be refused by looking at the bytes is refused
before libxml2 sees them (size, any DTD/DOCTYPE -- which is where entities, external
references and billion-laughs live), so no entity is ever declared, no file is opened and no
connection is attempted.  The parser that runs next is hardened anyway (no entity resolution,
no network, no DTD loading, no huge trees) and forced to UTF-8, so the byte scan sees the same
characters the parser does (a UTF-16 or EBCDIC document cannot hide a DOCTYPE from it).

Depth and element count are checked without building an oversized tree: libxml2 itself stops
at depth 256 without ``huge_tree`` (so a 10,000-deep document fails in C after 256 levels), a
document whose ``<`` count could exceed ``max_elements`` is parsed incrementally with the
element count checked between chunks, and the profile's smaller ``max_depth`` is checked with
one compiled XPath on the (at most 256-deep) tree.  Processing instructions and XInclude
elements are refused; nothing ever calls ``xinclude()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from lxml import etree

from clets.errors import CharacterError, DecodeError, XMLSecurityError

__all__ = ["DEFAULT_LIMITS", "Limits", "parse", "syntax_error"]

#: The hardened parser, built once (lxml serialises concurrent use of one parser).  The
#: incremental parser of ``_parse_counting`` is built with exactly the same options.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                         huge_tree=False, dtd_validation=False, encoding="utf-8")

#: Anything only a DTD can contain.  Case-insensitive: a lower-case variant is malformed anyway.
DTD_RE = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY|ATTLIST|ELEMENT|NOTATION)", re.IGNORECASE)
_XINCLUDE_NS = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
_SECURITY_MESSAGES = ("Excessive depth", "amplification", "entity reference loop",
                      "Detected an entity", "huge input lookup", "Huge input")
_CHUNK = 16 * 1024
_PI_XPATH = etree.XPath("//processing-instruction()")


@dataclass(frozen=True, slots=True)
class Limits:
    """Refusal thresholds; the defaults fit any real Nlets message with room to spare."""

    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_elements: int = 10_000


DEFAULT_LIMITS = Limits()


@cache
def _too_deep(max_depth: int) -> etree.XPath:
    # True when an element exists at depth max_depth + 1 (the root is depth 1).
    return etree.XPath("boolean(/*" + "/*" * max_depth + ")")


def _line_offset(data: bytes, line: int, column: int) -> int:
    if line <= 1:
        return max(column - 1, 0)
    pos = 0
    for _ in range(line - 1):
        nxt = data.find(b"\n", pos)
        if nxt < 0:
            return len(data)
        pos = nxt + 1
    return pos + max(column - 1, 0)


def syntax_error(exc: etree.XMLSyntaxError, data: bytes) -> DecodeError:
    """The typed error for a libxml2 parse failure (security refusals stay security refusals)."""
    msg = (exc.msg or str(exc)).strip()
    line, column = exc.position if exc.position else (exc.lineno or 0, 0)
    offset = _line_offset(data, line, column) if line else None
    if any(s in msg for s in _SECURITY_MESSAGES):
        return XMLSecurityError(f"refused at line {line}: {msg}", offset=offset)
    return DecodeError(f"malformed XML at line {line}, column {column}: {msg}", format="niem",
                       offset=offset)


def _parse_counting(data: bytes, limits: Limits) -> etree._Element:
    """Incremental parse that stops as soon as the element count or depth passes its limit."""
    parser = etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, no_network=True, load_dtd=False,
        huge_tree=False, dtd_validation=False, encoding="utf-8")
    depth = count = 0
    try:
        for start in range(0, len(data), _CHUNK):
            parser.feed(data[start:start + _CHUNK])
            for event, _ in parser.read_events():
                if event == "start":
                    depth += 1
                    count += 1
                    if count > limits.max_elements:
                        raise XMLSecurityError(
                            f"more than {limits.max_elements} elements", offset=start)
                    if depth > limits.max_depth:
                        raise XMLSecurityError(
                            f"nesting deeper than {limits.max_depth}", offset=start)
                else:
                    depth -= 1
        root: etree._Element = parser.close()
    except etree.XMLSyntaxError as exc:
        _check_characters(data)
        raise syntax_error(exc, data) from None
    return root


#: bytes that are no XML 1.0 character in any position (C0 controls but TAB, LF, CR)
_XML_BAD_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _check_characters(data: bytes) -> None:
    """The parser reads UTF-8 only: a byte that is not UTF-8, or no XML character, is a
    :class:`CharacterError` at its byte offset (libxml2 would say "Document is empty" for a
    run of NULs, or report a line and column past a non-XML first line).  Run when the parser
    failed (it refuses every such byte itself), so a good document costs nothing more."""
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CharacterError(f"byte 0x{data[exc.start]:02x} is not UTF-8", format="niem",
                                 offset=exc.start) from None
    bad = _XML_BAD_BYTES.search(data)
    if bad is not None:
        raise CharacterError(f"byte 0x{bad.group()[0]:02x} is not an XML character",
                             format="niem", offset=bad.start())


def parse(data: bytes, limits: Limits = DEFAULT_LIMITS) -> etree._Element:
    """The root element of ``data``, or XMLSecurityError / DecodeError.  Never resolves anything."""
    if len(data) > limits.max_bytes:
        raise XMLSecurityError(
            f"document of {len(data)} bytes is larger than the limit of {limits.max_bytes}",
            offset=limits.max_bytes)
    m = DTD_RE.search(data)
    if m is not None:
        raise XMLSecurityError("DTD/DOCTYPE declarations are refused (no entities, no external"
                               " references)", offset=m.start())
    if data.count(b"<") > limits.max_elements:
        root = _parse_counting(data, limits)
    else:
        try:
            root = etree.fromstring(data, PARSER)
        except etree.XMLSyntaxError as exc:
            _check_characters(data)
            raise syntax_error(exc, data) from None
        except ValueError as exc:  # e.g. an empty document
            _check_characters(data)
            raise DecodeError(f"malformed XML: {exc}", format="niem") from None
        if _too_deep(limits.max_depth)(root):
            raise XMLSecurityError(f"nesting deeper than {limits.max_depth}")
    docinfo = root.getroottree().docinfo
    if (getattr(docinfo, "doctype", "") or docinfo.internalDTD is not None
            or docinfo.externalDTD is not None):
        raise XMLSecurityError("DTD/DOCTYPE declarations are refused")  # defence in depth
    if data.count(b"<?") > (1 if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml") else 0):
        pis = _PI_XPATH(root.getroottree())
        if pis:
            pi = pis[0]
            raise XMLSecurityError(
                f"processing instruction <?{pi.target}?> refused (line {pi.sourceline})")
    if b"XInclude" in data:
        for el in root.iter():
            tag = el.tag
            if isinstance(tag, str) and tag[1:].split("}")[0] in _XINCLUDE_NS:
                raise XMLSecurityError(f"XInclude element refused (line {el.sourceline})")
    return root

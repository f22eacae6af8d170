"""The ``niem`` codec: Nlets NIEM XML (spec/formats.md 3) <-> the canonical model.

One pass each way, driven by ``niem_mapping.toml``: decoding walks the children of each element
once and dispatches on their Clark names; encoding walks the table rows in order, which is the
XSD's element order, so what it writes validates without reordering.  Every document is
checked against the shipped XSD on both sides (``validate=True``), and decoded messages get the
same field edits as the text codecs (``edits=True``).  Parsing is in ``_safe``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lxml import etree

from clets.errors import (
    INVALID_FIELD,
    INVALID_FORMAT,
    ConfigError,
    DecodeError,
    EncodeError,
    LayoutError,
    ValidationError,
)
from clets.model import Message, apply_edits, default_dictionary

from . import _safe
from ._mapping import (
    BRANCH,
    FIELDS,
    GROUP,
    GROUP_CLASSES,
    IGNORE,
    LIST,
    PAIR,
    SIMPLE,
    Mapping,
    Row,
    Trie,
    join_datetime,
    load_mapping,
    split_datetime,
)

__all__ = ["NiemCodec", "default_mapping", "load_schema"]

_PACKAGE = "clets.codecs"
_MAPPING_FILE = "niem_mapping.toml"
_DECL = re.compile(rb"<\?xml[ \t\r\n]")
_VALUE_IN_MESSAGE = re.compile(r"[Vv]alue '([^']*)'")
_VALUE_ERRORS = ("FACET", "DATATYPE", "PATTERN", "ENUMERATION", "LENGTH", "CVC_TYPE",
                 "ATTRIBUTE_3", "_VALUE")


@cache
def default_mapping() -> Mapping:
    """The built-in table shipped in the package."""
    text = resources.files(_PACKAGE).joinpath(_MAPPING_FILE).read_text("utf-8")
    return load_mapping(text, default_dictionary())


@cache
def load_schema(path: str) -> etree.XMLSchema:
    """The XSD at ``path`` (imports resolved next to it), compiled once per path."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.XMLSchema(etree.parse(path, parser))
    except (OSError, etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise LayoutError(f"cannot load the XSD: {exc}", source=path) from None


def _default_schema_path(mapping: Mapping) -> str:
    return str(resources.files(_PACKAGE).joinpath(mapping.doc["schema"]))


_DTD_TEXT = re.compile(_safe.DTD_RE.pattern.decode(), re.IGNORECASE)
#: Characters XML 1.0 cannot carry at all (C0 controls but TAB/LF/CR, lone surrogates, FFFE/F).
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_INDENT = ["  " * i for i in range(256)]


def _cdata_ok(text: str) -> bool:
    # CDATA cannot hold "]]>", turns CR into LF on parse, and text that looks like a DTD would
    # be refused by our own decoder's byte scan: such text is written escaped instead.
    return "]]>" not in text and "\r" not in text and (
        "<!" not in text or _DTD_TEXT.search(text) is None)


def _esc(text: str) -> str:
    """Text content escaped as libxml2 writes it (CR as a reference, so it survives parsing)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _esc_attr(text: str) -> str:
    text = _esc(text)
    for ch, ref in (('"', "&quot;"), ("\n", "&#10;"), ("\t", "&#9;")):
        if ch in text:
            text = text.replace(ch, ref)
    return text


def _blocks(rows: list[Row]) -> list[tuple[str | None, list[Row]]]:
    """Rows in order, adjacent two-step paths under the same object gathered in one block."""
    out: list[tuple[str | None, list[Row]]] = []
    for row in rows:
        first = row.attrs[0] if row.tail is not None else None
        if out and out[-1][0] == first:  # same object, or both plain rows
            out[-1][1].append(row)
        else:
            out.append((first, [row]))
    return out


class NiemCodec:
    """Nlets NIEM XML, profile ``n2:NLETS`` 4.00, validated against the shipped XSD."""

    name = "niem"
    description = "Nlets NIEM XML (n2:NLETS 4.00 profile), XSD-validated, hostile-input safe"

    def __init__(self, edits: bool = True, validate: bool = True,
                 max_bytes: int = _safe.DEFAULT_LIMITS.max_bytes,
                 max_depth: int = _safe.DEFAULT_LIMITS.max_depth,
                 max_elements: int = _safe.DEFAULT_LIMITS.max_elements,
                 mapping: str | Path | None = None, schema: str | Path | None = None) -> None:
        for label, value in (("max_bytes", max_bytes), ("max_depth", max_depth),
                             ("max_elements", max_elements)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"niem: {label} must be a positive integer, not {value!r}")
        self.edits = edits
        self.validate = validate
        self.limits = _safe.Limits(max_bytes, max_depth, max_elements)
        if mapping is None:
            m = default_mapping()
        else:
            try:
                text = Path(mapping).read_text("utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read {mapping}: {exc}") from None
            m = load_mapping(text, default_dictionary(), source=str(mapping))
        self._m = m
        self._schema = load_schema(str(schema) if schema is not None
                                   else _default_schema_path(m))
        c = m.clark
        self._root = c(m.doc["root"])
        self._version_attr = c(m.doc["version_attribute"])
        self._version = str(m.doc["version"])
        self._header = c(m.doc["header"])
        self._inquiry = c(m.doc["inquiry"])
        self._response = c(m.doc["response"])
        self._mail = c(m.doc["mail"])
        self._containers = frozenset({self._inquiry, self._response, self._mail})
        self._key_attr = c(m.doc["mail_key_attribute"])
        self._tag_attr = c(m.doc["field_tag_attribute"])
        self._nsmap = dict(m.ns)
        decls = " ".join(f'xmlns:{p}="{_esc_attr(uri)}"' for p, uri in m.ns.items())
        self._prolog = (f"<?xml version='1.0' encoding='UTF-8'?>\n<{m.doc['root']} {decls} "
                        f'{m.doc["version_attribute"]}="{_esc_attr(self._version)}">\n')
        self._epilog = f"</{m.doc['root']}>\n"
        self._qheader = m.doc["header"]
        self._qname_of = {self._inquiry: m.doc["inquiry"], self._response: m.doc["response"],
                          self._mail: m.doc["mail"]}
        self._qkey_attr = m.doc["mail_key_attribute"]
        self._qtag_attr = m.doc["field_tag_attribute"]
        self._prefix_of = {uri: p for p, uri in m.ns.items()}
        self._header_keys = [r.key for r in m.groups["header"] if r.key is not None]
        self._blocks = {g: _blocks(rows) for g, rows in m.groups.items()}
        self._rows = {row.index: row for rows in m.groups.values() for row in rows}
        self._tolerate = {uri: (to, only) for uri, to, only in m.tolerate}
        self._tolerate_markers = tuple(uri.encode() for uri in self._tolerate)

    # ------------------------------------------------------------------ decode

    def decode(self, data: bytes) -> Message:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DecodeError("niem decodes bytes", format="niem")
        data = bytes(data)
        root = _safe.parse(data, self.limits)
        if any(marker in data for marker in self._tolerate_markers):
            self._normalise(root)
        if self.validate and not self._schema.validate(root):
            raise self._invalid(self._schema.error_log, encoding=False)
        # after XSD validation a leaf holds only text -- and comments, if there are any
        msg = self._read(root, mixed=not self.validate or b"<!--" in data)
        if self.edits:
            try:
                apply_edits(msg)
            except ValidationError as exc:
                exc.format = "niem"
                raise
        return msg

    def decode_stream(self, data: bytes) -> Iterator[Message]:
        """Concatenated documents, each starting with its XML declaration."""
        data = bytes(data)
        starts = [m.start() for m in _DECL.finditer(data)]
        if not starts or (starts[0] != 0 and data[:starts[0]].strip(b" \t\r\n\xef\xbb\xbf")):
            starts.insert(0, 0)
        bounds = [*starts, len(data)]
        for a, b in itertools.pairwise(bounds):
            chunk = data[a:b]
            if not chunk.strip():
                continue
            try:
                yield self.decode(chunk)
            except DecodeError as exc:
                if exc.offset is not None or a:
                    exc.offset = a + (exc.offset or 0)
                raise

    def _normalise(self, root: etree._Element) -> None:
        """Rename tolerated namespaces (NIEM 3.0, jxdm 5.0) into the profile's nc 2.0."""
        for el in root.iter():
            tag = el.tag
            if not isinstance(tag, str) or tag[0] != "{":
                continue
            uri, _, local = tag[1:].partition("}")
            rule = self._tolerate.get(uri)
            if rule is not None and (rule[1] is None or local in rule[1]):
                el.tag = f"{{{rule[0]}}}{local}"

    def _qname(self, tag: Any) -> str:
        if not isinstance(tag, str) or tag[0] != "{":
            return str(tag)
        uri, _, local = tag[1:].partition("}")
        prefix = self._prefix_of.get(uri)
        return f"{prefix}:{local}" if prefix else tag

    def _read(self, root: etree._Element, mixed: bool = True) -> Message:
        if root.tag != self._root:
            raise DecodeError(f"root element must be {self._m.doc['root']}, not "
                              f"{self._qname(root.tag)}", format="niem",
                              field=self._qname(root.tag))
        header = body = None
        for child in root:
            if child.tag == self._header and header is None:
                header = child
            elif child.tag in self._containers and body is None:
                body = child
            elif isinstance(child.tag, str):
                raise self._unexpected(child)
        if header is None:
            raise DecodeError(f"no {self._m.doc['header']}", format="niem")
        msg = Message(format="niem")
        parts: dict[int, list[str | None]] = {}
        self._walk(header, self._m.tries["header"], msg, parts, mixed)
        if parts:
            self._finish(msg, parts)
            # header pseudo-tags in table order (ODT before OSN), as the text header has them
            msg.fields = {k: msg.fields[k] for k in self._header_keys if k in msg.fields}
        if not msg.mke:
            raise DecodeError("no message key", format="niem", field="MessageKeyCodeText")
        if body is not None:
            parts = {}
            self._walk(body, self._m.tries["body"], msg, parts, mixed)
            if parts:
                self._finish(msg, parts)
        return msg

    def _unexpected(self, el: etree._Element) -> DecodeError:
        return DecodeError(f"unexpected element {self._qname(el.tag)} (line {el.sourceline})",
                           format="niem", field=el.getroottree().getpath(el))

    def _walk(self, el: etree._Element, trie: Trie, obj: Any,
              parts: dict[int, list[str | None]], mixed: bool) -> None:
        # mixed: a leaf may hold comments or (unvalidated) elements, so len() must be asked
        for child in el:
            node = trie.get(child.tag)  # type: ignore[arg-type]
            if node is None:
                if isinstance(child.tag, str):
                    raise self._unexpected(child)
                continue  # a comment
            kind, row, part = node
            if kind == BRANCH:
                self._walk(child, row, obj, parts, mixed)
                continue
            if kind == GROUP:
                sub = GROUP_CLASSES[row.child]()
                sub_parts: dict[int, list[str | None]] = {}
                self._walk(child, self._m.tries[row.child], sub, sub_parts, mixed)
                if sub_parts:
                    self._finish(sub, sub_parts)
                if row.repeat:
                    getattr(obj, row.attrs[0]).append(sub)
                else:
                    row.set(obj, sub)
                continue
            if kind == IGNORE:
                continue
            text = self._text(child) if mixed and len(child) else (child.text or "")
            if kind == SIMPLE:
                parse = row.parse
                value = text if parse is None else parse(text)
                if row.single is not None:
                    setattr(obj, row.single, value)
                else:
                    row.set(obj, value)
            elif kind == FIELDS:
                key = child.get(self._tag_attr)
                if key is None:
                    raise DecodeError(f"{self._qname(child.tag)} without its tag attribute",
                                      format="niem", field=child.getroottree().getpath(child))
                if key in obj.fields:
                    raise DecodeError(f"field {key} appears twice", format="niem", field=key)
                obj.fields[key] = text
            elif kind == LIST:
                getattr(obj, row.attrs[0]).append(row.parse(text))
            elif kind == PAIR:
                parts.setdefault(row.index, [None, None])[part] = text
            else:  # KEYED: a pseudo-tag of `fields` with its own element
                if row.key in obj.fields:
                    raise DecodeError(f"field {row.key} appears twice", format="niem",
                                      field=row.key)
                obj.fields[row.key] = text if row.parse is None else row.parse(text)

    def _text(self, el: etree._Element) -> str:
        """Text of a leaf that also holds comments (elements inside a leaf are refused)."""
        for sub in el:
            if isinstance(sub.tag, str):
                raise DecodeError(f"{self._qname(el.tag)} must hold text, not elements",
                                  format="niem", field=el.getroottree().getpath(el))
        return "".join(str(t) for t in el.itertext())

    def _finish(self, obj: Any, parts: dict[int, list[str | None]]) -> None:
        """Join the values that span two elements (date + time, primary + secondary colour)."""
        for index, (first, second) in parts.items():
            row = self._rows[index]
            if first is None:
                raise DecodeError(f"{row.path}: the second element without the first",
                                  format="niem", field=row.path)
            if row.type == "datetime":
                if second is None:
                    raise DecodeError(f"{row.path}: a date without its time", format="niem",
                                      field=row.path)
                value: Any = join_datetime(first, second, row.tag or row.path)
            else:
                joined = first.strip() if second is None else \
                    f"{first.strip()}{row.sep}{second.strip()}"
                value = row.parse(joined) if row.parse else joined
            if row.key is not None and row.key in obj.fields:
                raise DecodeError(f"field {row.key} appears twice", format="niem", field=row.key)
            row.set(obj, value)

    def _invalid(self, log: Any, *, encoding: bool) -> DecodeError:
        err = log[0]
        message = err.message or "not valid"
        for uri, prefix in self._prefix_of.items():
            message = message.replace(f"{{{uri}}}", f"{prefix}:")
        path = err.path or None
        value_error = any(s in (err.type_name or "") for s in _VALUE_ERRORS)
        if encoding:
            return EncodeError(f"XSD: {message}", format="niem", field=path,
                               code=INVALID_FIELD if value_error else INVALID_FORMAT)
        reason = f"XSD: {message} (line {err.line})"
        if value_error:
            m = _VALUE_IN_MESSAGE.search(message)
            return ValidationError(reason, field=path, value=m.group(1) if m else None,
                                   format="niem", code=INVALID_FIELD)
        return DecodeError(reason, format="niem", field=path)

    # ------------------------------------------------------------------ encode
    #
    # The encoder writes the document text directly from the table (escaping every value),
    # in exactly the form lxml's pretty printer gives, and -- with validate=True -- parses
    # that text with the hardened parser and validates it: so what leaves the codec is what a
    # receiver will parse, and it is several times faster than building an lxml tree.

    def encode(self, msg: Message) -> bytes:
        out = [self._prolog]
        consumed: set[str] = set()
        header: list[str] = []
        self._emit(header, "header", msg, 2, consumed, None)
        self._element(out, self._qheader, "", header, 1)
        container = self._container(msg)
        body: list[str] = []
        if container == self._mail:
            self._emit(body, "body", msg, 2, consumed, msg.mke)
            attr = f' {self._qkey_attr}="{_esc_attr(self._check(msg.mke, "mke"))}"'
        else:
            self._emit(body, "body", msg, 2, consumed, None)
            attr = ""
        self._element(out, self._qname_of[container], attr, body, 1)
        out.append(self._epilog)
        data = "".join(out).encode("utf-8")
        if self.validate:
            try:
                root = etree.fromstring(data, _safe.PARSER)
            except etree.XMLSyntaxError as exc:  # a bug in the writer, never the message
                raise EncodeError(f"wrote malformed XML: {exc}", format="niem") from None
            if not self._schema.validate(root):
                raise self._invalid(self._schema.error_log, encoding=True)
        return data

    def _container(self, msg: Message) -> str:
        err = msg.error
        if msg.status is not None or msg.records or (
                err is not None and (err.code, err.reason, err.echo) != (None, None, None)):
            return self._response
        if msg.mke in self._m.mail_keys:
            return self._mail
        if self._m.response_keys.fullmatch(msg.mke or ""):
            return self._response
        return self._inquiry

    @staticmethod
    def _element(out: list[str], qname: str, attr: str, content: list[str], depth: int) -> None:
        pad = _INDENT[depth]
        if content:
            out.append(f"{pad}<{qname}{attr}>\n")
            out.extend(content)
            out.append(f"{pad}</{qname}>\n")
        else:
            out.append(f"{pad}<{qname}{attr}/>\n")

    @staticmethod
    def _check(value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise EncodeError(f"{path} must be a string, not {type(value).__name__}",
                              format="niem", field=path)
        bad = _XML_BAD.search(value)
        if bad is not None:
            raise EncodeError(f"{path} cannot be written in XML: character "
                              f"U+{ord(bad.group()):04X}", format="niem", field=path)
        return value

    def _emit(self, out: list[str], gname: str, obj: Any, depth: int, consumed: set[str],
              mail_key: str | None) -> None:
        """Append the lines of ``obj``'s elements (group ``gname``) at ``depth``."""
        opened: list[str] = []  # intermediate elements currently open (rows share parents)
        for first, rows in self._blocks[gname]:
            if first is None:
                for row in rows:
                    value = getattr(obj, row.single) if row.single is not None else row.get(obj)
                    if value is not None:
                        self._row(out, opened, depth, row, value, consumed, mail_key)
                continue
            # rows under one sub-object (name.*, license.*, error.*) are skipped together when
            # it is absent -- most of a person's thirty rows, most of the time
            base = getattr(obj, first)
            if base is not None:
                for row in rows:
                    value = getattr(base, row.tail)  # type: ignore[arg-type]
                    if value is not None:
                        self._row(out, opened, depth, row, value, consumed, mail_key)
        while opened:
            q = opened.pop()
            out.append(f"{_INDENT[depth + len(opened)]}</{q}>\n")

    @staticmethod
    def _place(out: list[str], opened: list[str], depth: int, steps: tuple[str, ...]) -> str:
        """Close the open parents the next element does not share, open the ones it needs;
        return its indentation."""
        if len(steps) == 1 and not opened:
            return _INDENT[depth]
        k = 0
        last = len(steps) - 1
        while k < len(opened) and k < last and opened[k] == steps[k]:
            k += 1
        while len(opened) > k:
            q = opened.pop()
            out.append(f"{_INDENT[depth + len(opened)]}</{q}>\n")
        for q in steps[k:last]:
            out.append(f"{_INDENT[depth + len(opened)]}<{q}>\n")
            opened.append(q)
        return _INDENT[depth + len(opened)]

    def _leaf(self, out: list[str], opened: list[str], depth: int, steps: tuple[str, ...],
              text: Any, path: str, cdata: bool = False, attr: str = "") -> None:
        self._check(text, path)
        body = f"<![CDATA[{text}]]>" if cdata and _cdata_ok(text) else _esc(text)
        q = steps[-1]
        out.append(f"{self._place(out, opened, depth, steps)}<{q}{attr}>{body}</{q}>\n")

    def _row(self, out: list[str], opened: list[str], depth: int, row: Row, value: Any,
             consumed: set[str], mail_key: str | None) -> None:
        rtype = row.type
        steps = row.qelements[0]
        if rtype == "group":
            for item in (value if row.repeat else (value,)):
                self._place(out, opened, depth, steps)
                inner = depth + len(opened)
                sub: list[str] = []
                self._emit(sub, row.child or "", item, inner + 1, set(), None)
                if sub or row.repeat:  # an empty object is absent; a list keeps its length
                    self._element(out, steps[-1], "", sub, inner)
            return
        if rtype == "fields":
            for key, field_value in value.items():
                if key not in consumed:
                    attr = f' {self._qtag_attr}="{_esc_attr(self._check(key, "fields"))}"'
                    self._leaf(out, opened, depth, steps, field_value, row.path, row.cdata,
                               attr)
            return
        if rtype == "list":
            for item in value:
                self._leaf(out, opened, depth, steps, item, row.path)
            return
        if row.key is not None:
            # a pseudo-tag with its own element: only a value of the right form goes there;
            # anything else stays in n2:AdditionalField, so nothing is lost
            if not isinstance(value, str) or (row.pattern is not None
                                              and not row.pattern.fullmatch(value)):
                return
            consumed.add(row.key)
        if rtype == "datetime":
            pair = split_datetime(value) if isinstance(value, str) else None
            if pair is None:
                raise EncodeError(f"{row.path} must be YYYY-MM-DDTHH:MM[:SS]", format="niem",
                                  field=row.path)
            self._leaf(out, opened, depth, row.qelements[0], pair[0], row.path)
            self._leaf(out, opened, depth, row.qelements[1], pair[1], row.path)
            return
        if rtype == "split":
            first, sep, second = self._check(value, row.path).partition(row.sep)
            self._leaf(out, opened, depth, row.qelements[0], first, row.path)
            if sep:
                self._leaf(out, opened, depth, row.qelements[1], second, row.path)
            return
        if rtype == "bool":
            if not isinstance(value, bool):
                raise EncodeError(f"{row.path} must be true or false", format="niem",
                                  field=row.path)
            if not value and row.omit_false:
                return
            value = "true" if value else "false"
        elif rtype == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise EncodeError(f"{row.path} must be an integer", format="niem",
                                  field=row.path)
            value = f"{value:0{row.width}d}" if row.width else str(value)
        if mail_key is not None and mail_key in row.qmail_element:
            steps = row.qmail_element[mail_key]
        self._leaf(out, opened, depth, steps, value, row.path, row.cdata)
        for csteps, cvalue in row.qconst:
            self._leaf(out, opened, depth, csteps, cvalue, row.path)

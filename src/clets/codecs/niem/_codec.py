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
    INVALID_ORIGIN_ORI,
    ConfigError,
    DecodeError,
    EncodeError,
    LayoutError,
    ValidationError,
)
from clets.model import Message, apply_edits, default_dictionary, is_empty

from . import _safe
from ._mapping import (
    BRANCH,
    GROUP_CLASSES,
    IGNORE,
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


def _cdata_ok(text: str) -> bool:
    # CDATA cannot hold "]]>", turns CR into LF on parse, and text that looks like a DTD would
    # be refused by our own decoder's byte scan: such text is written escaped instead.
    return "]]>" not in text and "\r" not in text and _safe.DTD_RE.search(
        text.encode("utf-8", "surrogatepass")) is None


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
        self._prefix_of = {uri: p for p, uri in m.ns.items()}
        self._header_keys = [r.key for r in m.groups["header"] if r.key is not None]
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
        msg = self._read(root)
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

    def _read(self, root: etree._Element) -> Message:
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
        self._walk(header, self._m.tries["header"], msg, parts)
        if parts:
            self._finish(msg, parts)
            # header pseudo-tags in table order (ODT before OSN), as the text header has them
            msg.fields = {k: msg.fields[k] for k in self._header_keys if k in msg.fields}
        if not msg.mke:
            raise DecodeError("no message key", format="niem", field="MessageKeyCodeText")
        if body is not None:
            parts = {}
            self._walk(body, self._m.tries["body"], msg, parts)
            if parts:
                self._finish(msg, parts)
        return msg

    def _unexpected(self, el: etree._Element) -> DecodeError:
        return DecodeError(f"unexpected element {self._qname(el.tag)} (line {el.sourceline})",
                           format="niem", field=el.getroottree().getpath(el))

    def _walk(self, el: etree._Element, trie: Trie, obj: Any,
              parts: dict[int, list[str | None]]) -> None:
        for child in el:
            node = trie.get(child.tag)  # type: ignore[arg-type]
            if node is None:
                if isinstance(child.tag, str):
                    raise self._unexpected(child)
                continue
            kind, row, part = node
            if kind == BRANCH:
                self._walk(child, row, obj, parts)
                continue
            if kind == IGNORE:
                continue
            rtype = row.type
            if rtype == "group":
                sub = GROUP_CLASSES[row.child]()
                sub_parts: dict[int, list[str | None]] = {}
                self._walk(child, self._m.tries[row.child], sub, sub_parts)
                if sub_parts:
                    self._finish(sub, sub_parts)
                if row.repeat:
                    getattr(obj, row.attrs[0]).append(sub)
                elif not is_empty(sub):
                    row.set(obj, sub)
                continue
            if len(child):
                raise DecodeError(f"{self._qname(child.tag)} must hold text, not elements",
                                  format="niem", field=child.getroottree().getpath(child))
            text = child.text or ""
            if rtype == "fields":
                key = child.get(self._tag_attr)
                if key is None:
                    raise DecodeError(f"{self._qname(child.tag)} without its tag attribute",
                                      format="niem", field=child.getroottree().getpath(child))
                if key in obj.fields:
                    raise DecodeError(f"field {key} appears twice", format="niem", field=key)
                obj.fields[key] = text
            elif rtype == "list":
                getattr(obj, row.attrs[0]).append(row.parse(text))
            elif rtype == "datetime" or rtype == "split":
                parts.setdefault(row.index, [None, None])[part] = text
            else:
                value = text if row.parse is None else row.parse(text)
                if row.key is not None and row.key in obj.fields:
                    raise DecodeError(f"field {row.key} appears twice", format="niem",
                                      field=row.key)
                row.set(obj, value)

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
            code = INVALID_ORIGIN_ORI if path and path.endswith("OriginatingORIID") \
                else INVALID_FIELD
            return ValidationError(reason, field=path, value=m.group(1) if m else None,
                                   format="niem", code=code)
        return DecodeError(reason, format="niem", field=path)

    # ------------------------------------------------------------------ encode

    def encode(self, msg: Message) -> bytes:
        root = self._build(msg)
        if self.validate and not self._schema.validate(root):
            raise self._invalid(self._schema.error_log, encoding=True)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def _container(self, msg: Message) -> str:
        if msg.status is not None or msg.records or not is_empty(msg.error):
            return self._response
        if msg.mke in self._m.mail_keys:
            return self._mail
        if self._m.response_keys.fullmatch(msg.mke or ""):
            return self._response
        return self._inquiry

    def _build(self, msg: Message) -> etree._Element:
        root = etree.Element(self._root, nsmap=self._nsmap)  # type: ignore[arg-type]
        root.set(self._version_attr, self._version)
        header = etree.SubElement(root, self._header)
        consumed: set[str] = set()
        self._write(header, "header", msg, consumed, None)
        container = self._container(msg)
        body = etree.SubElement(root, container)
        mail_key = None
        if container == self._mail:
            body.set(self._key_attr, msg.mke)
            mail_key = msg.mke
        self._write(body, "body", msg, consumed, mail_key)
        return root

    @staticmethod
    def _sub(parent: etree._Element, steps: tuple[str, ...],
             made: dict[tuple[str, ...], etree._Element]) -> etree._Element:
        if len(steps) > 1:
            p = made.get(steps[:-1])
            if p is None:
                p = parent
                for i in range(1, len(steps)):
                    q = made.get(steps[:i])
                    if q is None:
                        q = etree.SubElement(p, steps[i - 1])
                        made[steps[:i]] = q
                    p = q
            parent = p
        return etree.SubElement(parent, steps[-1])

    def _leaf(self, parent: etree._Element, steps: tuple[str, ...],
              made: dict[tuple[str, ...], etree._Element], text: Any, row: Row,
              cdata: bool = False) -> etree._Element:
        if not isinstance(text, str):
            raise EncodeError(f"{row.path} must be a string, not {type(text).__name__}",
                              format="niem", field=row.path)
        el = self._sub(parent, steps, made)
        try:
            el.text = etree.CDATA(text) if cdata and _cdata_ok(text) else text
        except ValueError as exc:
            raise EncodeError(f"{row.path} cannot be written in XML: {exc}", format="niem",
                              field=row.path) from None
        return el

    def _write(self, parent: etree._Element, gname: str, obj: Any, consumed: set[str],
               mail_key: str | None) -> None:
        made: dict[tuple[str, ...], etree._Element] = {}
        for row in self._m.groups[gname]:
            value = row.get(obj)
            if value is None:
                continue
            rtype = row.type
            steps = row.elements[0]
            if rtype == "group":
                if row.repeat:
                    for item in value:
                        self._write(self._sub(parent, steps, made), row.child or "", item,
                                    set(), None)
                elif not is_empty(value):
                    self._write(self._sub(parent, steps, made), row.child or "", value,
                                set(), None)
                continue
            if rtype == "fields":
                for key, field_value in value.items():
                    if key in consumed:
                        continue
                    if not isinstance(key, str):
                        raise EncodeError("field names must be strings", format="niem",
                                          field=str(key))
                    el = self._leaf(parent, steps, made, field_value, row, cdata=row.cdata)
                    el.set(self._tag_attr, key)
                continue
            if rtype == "list":
                for item in value:
                    self._leaf(parent, steps, made, item, row)
                continue
            if row.key is not None:
                # a pseudo-tag with its own element: only a value of the right form goes there;
                # anything else stays in n2:AdditionalField, so nothing is lost
                if not isinstance(value, str) or (row.pattern is not None
                                                  and not row.pattern.fullmatch(value)):
                    continue
                consumed.add(row.key)
            if rtype == "datetime":
                pair = split_datetime(value) if isinstance(value, str) else None
                if pair is None:
                    raise EncodeError(f"{row.path} must be YYYY-MM-DDTHH:MM[:SS]",
                                      format="niem", field=row.path)
                self._leaf(parent, row.elements[0], made, pair[0], row)
                self._leaf(parent, row.elements[1], made, pair[1], row)
                continue
            if rtype == "split":
                if not isinstance(value, str):
                    raise EncodeError(f"{row.path} must be a string", format="niem",
                                      field=row.path)
                first, sep, second = value.partition(row.sep)
                self._leaf(parent, row.elements[0], made, first, row)
                if sep:
                    self._leaf(parent, row.elements[1], made, second, row)
                continue
            if rtype == "bool":
                if not isinstance(value, bool):
                    raise EncodeError(f"{row.path} must be true or false", format="niem",
                                      field=row.path)
                if not value and row.omit_false:
                    continue
                text: Any = "true" if value else "false"
            elif rtype == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise EncodeError(f"{row.path} must be an integer", format="niem",
                                      field=row.path)
                text = f"{value:0{row.width}d}" if row.width else str(value)
            else:
                text = value
            if mail_key is not None and mail_key in row.mail_element:
                steps = row.mail_element[mail_key]
            self._leaf(parent, steps, made, text, row, cdata=row.cdata)
            for csteps, cvalue in row.const:
                self._leaf(parent, csteps, made, cvalue, row)

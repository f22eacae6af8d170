"""Field-tagged text (``TAG/value``), shared by the ``ncic`` and ``nlets`` codecs.

Why one module: NCIC inquiries, Nlets bodies and the response profile all carry the same
``TAG/value`` fields, bound to the canonical model by the ONE field dictionary
(``clets/model/fields.toml``).  Keeping the tokenizer, the tag -> slot binding and the response
body grammar here means both codecs agree on every edge case (dots in ``MIS``, ignored CR/LF/DEL,
repeated tags, record blocks) and a new tag is a dictionary row, never code.

Two field layouts:

* *inquiry* fields: ``TAG/value.TAG/value`` -- only a ``.`` followed by ``TAG/`` ends a value,
  so free text may hold dots (``MIS/FTA. NO BAIL``).
* *response line* fields: ``TAG/value TAG/value`` -- a value ends where a run of spaces or
  periods is followed by ``TAG/``, or at the end of the line.

Everything raises only :class:`~clets.errors.DecodeError` subclasses, with format, field and a
character offset into the text the caller handed in.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, NamedTuple

from clets.errors import CharacterError, DecodeError, EncodeError, LayoutError, ValidationError
from clets.model import ErrorInfo, Message, Record, default_dictionary, is_model, model_fields
from clets.model.dictionary import FieldDef, FieldDictionary
from clets.model.edits import decode_guard

_Plan = tuple[tuple[tuple[str, ...], tuple[tuple[int, str, FieldDef, str], ...]], ...]

__all__ = [
    "CONTROL_RE",
    "ResponseProfile",
    "TaggedText",
    "TextCodec",
    "check_encoding",
    "default_profile",
    "normalize",
    "original_offset",
]

#: a tag at the start of a string
TAG_AT = re.compile(r"[A-Z0-9]{3}/")
TAG_FULL = re.compile(r"[A-Z0-9]{3}")
#: inquiry separator: a period followed by a tag
REQ_SEP = re.compile(r"\.(?=[A-Z0-9]{3}/)")
#: a control field (``*CONTROL``): 1-10 characters, no period or line break
CONTROL_RE = re.compile(r"[^.\n]{1,10}")
_TAG_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def split_fields(body: str) -> list[str]:
    """``TAG/value.TAG/value`` split at each ``.`` that starts a tag (``REQ_SEP``).

    The common case -- no ``.`` inside a value -- is a plain ``str.split``; only when a piece
    does not start with a tag (``MIS/FTA. NO BAIL``) does the regex decide.
    """
    parts = body.split(".")
    for part in parts[1:]:
        if (len(part) < 4 or part[3] != "/" or part[0] not in _TAG_CHARS
                or part[1] not in _TAG_CHARS or part[2] not in _TAG_CHARS):
            return REQ_SEP.split(body)
    return parts


def line_bounds(line: str) -> tuple[list[int], list[int]]:
    """Where each ``TAG/value`` piece of a response line starts and ends (``line[start:end]``).

    A value ends where a run of spaces or periods is followed by ``TAG/`` (``LINE_SEP``).
    Without a period in the line, the separators are spaces, so it is enough to look at each
    ``/`` (one per field, usually): a tag starts three characters before it if a space precedes
    those three and they are capitals or digits.  Lines with a period take the regex.  (An
    end may keep the leading spaces of a run of separators: callers strip values.)
    """
    if "." in line:
        parts = LINE_SEP_KEEP.split(line)  # separators are the odd items
        starts = []
        ends = []
        pos = 0
        for i in range(0, len(parts), 2):
            starts.append(pos)
            pos += len(parts[i])
            ends.append(pos)
            if i + 1 < len(parts):
                pos += len(parts[i + 1])
        return starts, ends
    starts = [0]
    find = line.find
    i = find("/", 4)
    while i > 0:
        j = i - 3
        if line[j - 1] == " ":
            t = line[j:i]
            if t.isascii() and t.isalnum() and (t.isupper() or t.isdigit()):
                starts.append(j)
        i = find("/", i + 1)
    ends = [j - 1 for j in starts[1:]]
    ends.append(len(line))
    return starts, ends


#: response-line separator: spaces/periods followed by a tag
LINE_SEP = re.compile(r"[ .]+(?=[A-Z0-9]{3}/)")
LINE_SEP_KEEP = re.compile(r"([ .]+)(?=[A-Z0-9]{3}/)")
#: where the echoed fields of a status line begin
LINE_FIELDS = re.compile(r"(?:^|[ .]+)(?=[A-Z0-9]{3}/)")
ERROR_LINE = re.compile(r"\.([0-9]{2})\.(.*)")
MKE_RE = re.compile(r"\$\.[A-Z0-9]{1,2}|[A-Z0-9$\-]{1,4}")
TOKEN_RE = re.compile(r"[A-Z0-9]+")
#: characters a text message may hold (CR, LF, DEL and EBCDIC NL are ignored or line ends)
BAD_IN = re.compile(r"[^\x20-\x7e\r\n\x7f\x85]")
BAD_OUT = re.compile(r"[^\x20-\x7e\n]")
_CONTROLS = re.compile(r"[\r\x7f\x85]")
_STRIP_ALL = str.maketrans("", "", "\r\n\x7f\x85")


# --------------------------------------------------------------------------- text handling

def decode_bytes(data: bytes, encoding: str, fmt: str) -> str:
    """Bytes to text, refusing anything but printable characters and CR/LF/DEL."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"expected bytes, got {type(data).__name__}", format=fmt)
    try:
        text = bytes(data).decode(encoding)
    except UnicodeDecodeError as exc:
        raise CharacterError(f"byte 0x{data[exc.start]:02x} is not {encoding} text",
                             format=fmt, offset=exc.start) from None
    if text.isascii() and text.isprintable():  # the common case, in two C passes
        return text
    bad = BAD_IN.search(text)
    if bad is not None:
        # every supported encoding is one byte a character: the index is the byte offset
        raise CharacterError(f"character {bad.group()!r} not allowed", format=fmt,
                             offset=bad.start())
    return text


def encode_text(text: str, encoding: str, fmt: str) -> bytes:
    bad = BAD_OUT.search(text)
    if bad is not None:
        raise EncodeError(f"character {bad.group()!r} cannot be written", format=fmt,
                          offset=bad.start())
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:  # pragma: no cover - printable ASCII is in every page
        raise EncodeError(f"not {encoding} text", format=fmt, offset=exc.start) from None


def normalize(text: str, *, join_lines: bool = False) -> str:
    """Line ends to LF (CR LF, CR, EBCDIC NL) and DEL removed; ``join_lines`` drops LF too."""
    if join_lines:
        return text.translate(_STRIP_ALL)
    if _CONTROLS.search(text) is None:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n").replace(
        "\x7f", "")


def original_offset(original: str, offset: int, *, join_lines: bool = False) -> int:
    """Map an offset in ``normalize(original)`` back to ``original`` (error path only)."""
    k = 0  # position in the normalized text
    i = 0
    n = len(original)
    while i < n:
        c = original[i]
        if c == "\x7f" or (join_lines and c in "\r\n\x85"):
            i += 1
            continue
        if k == offset:
            return i
        if c == "\r" and i + 1 < n and original[i + 1] == "\n":
            i += 1
        k += 1
        i += 1
    return n if k == offset else min(offset, n)


def relocate(exc: DecodeError, original: str, base: int, *, join_lines: bool = False) -> None:
    """Turn an offset into the normalized text into one into the caller's text."""
    if exc.offset is not None:
        exc.offset = base + original_offset(original, exc.offset, join_lines=join_lines)


# --------------------------------------------------------------------------- response profile

@dataclass(frozen=True)
class ResponseProfile:
    """The data of ``responses.toml``: response keys, status phrases, record types."""

    response_keys: dict[str, str]
    phrases: tuple[tuple[str, str], ...]
    status_default: dict[str, str]
    banner: str
    caution_suffix: str
    record_text: dict[str, str]
    text_file: dict[str, str]
    free_text_keys: frozenset[str]
    #: keys that are always answers (ER, SM, ACK): written by a switch or a back-end
    switch_keys: frozenset[str] = frozenset()
    #: ``.NN.`` code -> status when it is not "error" (02 pending, 04 unavailable)
    error_status: tuple[tuple[int, str], ...] = ()

    def status_of_code(self, code: int) -> str:
        return dict(self.error_status).get(code, "error")

    @classmethod
    def from_toml(cls, text: str, source: str = "responses.toml") -> ResponseProfile:
        try:
            data = tomllib.loads(text)
            record_text = dict(data["record_files"])
            text_file = {v: k for k, v in record_text.items()}
            text_file.update(data.get("record_aliases", {}))
            phrases = sorted(data["status_phrases"].items(), key=lambda kv: -len(kv[0]))
            return cls(
                response_keys=dict(data["response_keys"]),
                phrases=tuple(phrases),
                status_default=dict(data.get("status_default", {})),
                banner=str(data.get("banner", "WARNING")),
                caution_suffix=str(data.get("caution_suffix", " - CAUTION")),
                record_text=record_text,
                text_file=text_file,
                free_text_keys=frozenset(data.get("nlets", {}).get("free_text_keys", [])),
                switch_keys=frozenset(data.get("switch_keys", [])),
                error_status=tuple((int(k), str(v))
                                   for k, v in data.get("error_status", {}).items()),
            )
        except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError,
                ValueError) as exc:
            raise LayoutError(f"bad response profile: {exc}", source=source) from None

    @functools.cached_property
    def response_set(self) -> frozenset[str]:
        return frozenset(self.response_keys.values()) | self.switch_keys

    def is_response_key(self, mke: str) -> bool:
        """Response layout: a response key, an inquiry key + ``R``, or an unsolicited ``$.``."""
        return (mke in self.response_set or mke.startswith("$.")
                or (mke.endswith("R") and mke[:-1] in self.response_keys))

    def status_of(self, text: str | None) -> str | None:
        if not text:
            return None
        for phrase, status in self.phrases:
            if text.startswith(phrase):
                return status
        return None

    def file_of(self, type_text: str) -> str:
        return self.text_file.get(type_text, "other")


# ResponseProfile holds dicts, so hash it by identity for the cache above.
ResponseProfile.__hash__ = object.__hash__  # type: ignore[assignment]


@cache
def default_profile() -> ResponseProfile:
    text = resources.files("clets.codecs").joinpath("responses.toml").read_text("utf-8")
    return ResponseProfile.from_toml(text)


# --------------------------------------------------------------------------- slots

class Slot(NamedTuple):
    """Where a tag's value lives on a target type, with its parser and setter built once.

    ``store`` parses a raw value and sets it, creating absent parents, generated as one
    function (the decode hot path: one call per field).
    """

    fd: FieldDef
    attrs: tuple[str, ...]
    classes: tuple[type, ...]
    parse: Callable[[str], Any]
    store: Callable[..., None]  # (obj, raw, bad=None): the third argument is ignored
    #: ``store`` plus the field edits of the value (``edits.decode_guard``): appends to its
    #: third argument when an edit would find anything
    store_checked: Callable[..., None]


#: parsers written inline in a generated ``store`` (same as ``FieldDef.parser()``'s)
_INLINE_PARSE = {
    "text": "raw.strip()",
    "code": "raw.strip().upper()",
    "color": "raw.strip().upper()",
    "plate_year": "raw.strip().upper()",
    "ident": 'raw.upper().replace(" ", "").replace("-", "")',
}


def _storer(fd: FieldDef, attrs: tuple[str, ...], classes: tuple[type, ...],
            parse: Callable[[str], Any], guards: tuple[FieldDef, ...] = (),
            ) -> Callable[..., None]:
    """Generate ``store(obj, raw)``: parse ``raw`` and set it, creating absent parents.

    With ``guards`` (the rows whose edits apply to this value) it is
    ``store(obj, raw, bad)`` and appends to ``bad`` when one of their edits would find anything.
    """
    head = "def store(obj, raw, bad):" if guards else "def store(obj, raw, bad=None):"
    lines = [head, f"    v = {_INLINE_PARSE.get(fd.type, 'parse(raw)')}"]
    namespace: dict[str, Any] = {"parse": parse}
    var = "obj"
    for depth, attr in enumerate(attrs[:-1]):
        namespace[f"C{depth}"] = classes[depth]
        lines += [f"    o{depth} = {var}.{attr}",
                  f"    if o{depth} is None:",
                  f"        o{depth} = {var}.{attr} = C{depth}()"]
        var = f"o{depth}"
    lines.append(f"    {var}.{attrs[-1]} = v")
    for i, row in enumerate(guards):
        lines += decode_guard(row, f"g{i}", namespace)
    exec(compile("\n".join(lines), f"<clets store {fd.tag}>", "exec"), namespace)
    store: Callable[..., None] = namespace["store"]
    return store


def _hint_class(cls: type, attr: str) -> type | None:
    import typing

    hint = typing.get_type_hints(cls).get(attr)
    for arg in typing.get_args(hint) or (hint,):
        if isinstance(arg, type) and is_model(arg):
            return arg
    return None


def _slot(cls: type, fd: FieldDef, dictionary: FieldDictionary,
          short_dates: bool = False) -> Slot | None:
    attrs = tuple("class_" if p == "class" else p for p in fd.path.split("."))
    classes: list[type] = []
    current: type | None = cls
    for attr in attrs:
        if current is None or attr not in model_fields(current):
            return None
        nxt = _hint_class(current, attr)
        classes.append(nxt if nxt is not None else object)
        current = nxt
    parents = tuple(classes[:-1])
    parse = fd.parser(short_dates=short_dates)
    # The edits that apply to this value: its own row, and for a record's owner the person
    # row of the same field too (``edits.check`` walks ``records[i].owner`` as a person).
    guards = [fd]
    if cls is Record and fd.path.startswith("owner."):
        same = dictionary.by_path.get("person." + fd.path[len("owner."):])
        if same is not None:
            guards.append(same)
    return Slot(fd, attrs, parents, parse,
                _storer(fd, attrs, parents, parse),
                _storer(fd, attrs, parents, parse, tuple(guards)))


def _leaf_paths(cls: type, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name in model_fields(cls):
        sub = _hint_class(cls, name)
        if sub is not None:
            out.append((*prefix, name))
            out += _leaf_paths(sub, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


@cache
def _bindings(dictionary: FieldDictionary, cls: type, short_dates: bool = False
              ) -> tuple[dict[str, Slot | None],
                                                               tuple[tuple[str, ...], ...]]:
    """tag -> Slot (None: no slot, goes to ``fields``) and the slot paths no tag can carry."""
    slots = {fd.tag: _slot(cls, fd, dictionary, short_dates) for fd in dictionary.rows}
    covered = {s.attrs for s in slots.values() if s is not None}
    untagged: list[tuple[str, ...]] = []
    special = {"format", "mke", "origin", "destinations", "control", "sequence", "sent_at",
               "status", "records", "error", "text", "fields", "warnings", "file", "caution"}
    for path in _leaf_paths(cls):
        if path[0] in special:
            continue
        # a path is carried if it, or one of its ancestors (e.g. person.name), has a tag
        if any(path[:i] in covered for i in range(1, len(path) + 1)):
            continue
        # a path with tagged descendants is a container, not a leaf
        if any(c[: len(path)] == path for c in covered):
            continue
        untagged.append(path)
    return slots, tuple(untagged)


def _get(obj: Any, attrs: tuple[str, ...]) -> Any:
    for attr in attrs:
        obj = getattr(obj, attr)
        if obj is None:
            return None
    return obj


# --------------------------------------------------------------------------- the tokenizer

class TaggedText:
    """Tag <-> slot binding and the field/response grammars, for one dictionary and profile."""

    def __init__(self, dictionary: FieldDictionary, profile: ResponseProfile, fmt: str, *,
                 short_dates: bool = False) -> None:
        self.dictionary = dictionary
        self.profile = profile
        self.fmt = fmt
        self._msg_slots, self._msg_untagged = _bindings(dictionary, Message, short_dates)
        self._rec_slots, self._rec_untagged = _bindings(dictionary, Record, short_dates)
        #: tag -> store(obj, raw, bad): plain and with the field edits (decode hot paths)
        self._stores: dict[tuple[type, bool], dict[str, Callable[..., None]]] = {
            (cls, checked): {tag: slot.store_checked if checked else slot.store
                             for tag, slot in slots.items() if slot is not None}
            for cls, slots in ((Message, self._msg_slots), (Record, self._rec_slots))
            for checked in (False, True)}
        #: tags whose value is free text (may hold ". "): type text without a character class
        self.free_text = frozenset(fd.tag for fd in dictionary.rows
                                   if fd.type == "text" and fd.chars is None)
        self._order: dict[tuple[type, str], _Plan] = {}

    # ---------------------------------------------------------------- decoding

    def inquiry_fields(self, text: str, start: int, target: Message,
                       offsets: dict[str, int], *, tail_text: bool = False,
                       bad: list[Any] | None = None) -> str | None:
        """Parse ``TAG/value.TAG/value`` from ``text[start:]`` (no CR/LF left) onto ``target``.

        With ``tail_text`` (Nlets bodies), free text after the last structured field
        (``OCA/24-001234. CONFIRMED ...``) is returned instead of joining that field's value.
        ``bad``: see :meth:`line_fields`.
        """
        if TAG_AT.match(text, start) is None:
            raise DecodeError("expected TAG/ (three letters or digits and '/')",
                              format=self.fmt, offset=start)
        parts = split_fields(text[start:])
        tail: str | None = None
        if tail_text and parts[-1][:3] not in self.free_text:
            cut = parts[-1].find(". ", 4)
            if cut >= 0:
                tail = parts[-1][cut + 2:].strip()
                parts[-1] = parts[-1][:cut]
                if not tail:
                    raise DecodeError("message ends with '.'", format=self.fmt,
                                      offset=len(text) - 1)
        pos = start
        stores = self._stores[Message, bad is not None]
        fields = target.fields
        # This loop is the decode hot path: ``store`` is inlined for the Message target.
        for part in parts:
            tag = part[:3]
            value = part[4:]
            if not value or value.isspace():
                raise DecodeError("empty field (leave it out, tag included)", format=self.fmt,
                                  field=tag, offset=pos)
            if tag in offsets:
                raise DecodeError("field repeated", format=self.fmt, field=tag, offset=pos + 4)
            offsets[tag] = pos + 4
            store = stores.get(tag)
            if store is None:
                fields[tag] = value
            else:
                try:
                    store(target, value, bad)
                except ValidationError as exc:
                    exc.format = self.fmt
                    exc.offset = pos + 4
                    raise
            pos += len(part) + 1
        if tail is None and text.endswith("."):
            raise DecodeError("message ends with '.'", format=self.fmt, offset=len(text) - 1)
        return tail

    def line_fields(self, line: str, base: int, target: Message | Record,
                    offsets: dict[str, int], bad: list[Any] | None = None) -> None:
        """Parse a response line ``TAG/value TAG/value`` onto ``target``.

        A tag may appear once per target (``offsets``: tag -> offset, belongs to ``target``),
        because neither a slot nor ``fields`` can hold two values.  With ``bad``, each value's
        field edits run as it is stored and append to ``bad`` when they would find anything
        (the caller then runs ``apply_edits`` for the findings themselves).

        This loop and the one of :meth:`inquiry_fields` are the decode hot paths: each keeps the
        store of one field inline rather than calling a shared helper per field.
        """
        if TAG_AT.match(line) is None:
            raise DecodeError("expected TAG/ at the start of a record line", format=self.fmt,
                              offset=base)
        stores = self._stores[type(target), bad is not None]
        fields = target.fields
        line = line.rstrip(" .")  # a final '.' separates too (wrapped lines)
        starts, ends = line_bounds(line)
        # This loop is the decode hot path of responses: ``store`` is inlined.
        for start, end in zip(starts, ends, strict=True):
            tag = line[start:start + 3]
            value = line[start + 4:end].strip()
            pos = base + start
            if not value:
                raise DecodeError("empty field", format=self.fmt, field=tag, offset=pos)
            if tag in offsets:
                raise DecodeError("field repeated", format=self.fmt, field=tag, offset=pos + 4)
            offsets[tag] = pos + 4
            store = stores.get(tag)
            if store is None:
                fields[tag] = value
                continue
            try:
                store(target, value, bad)
            except ValidationError as exc:
                exc.format = self.fmt
                exc.offset = pos + 4
                raise

    def response_body(self, msg: Message, body: str, base: int, seen: dict[str, int],
                      offsets: dict[str, int], bad: list[Any] | None = None) -> None:
        """Status line, record blocks, or ``.NN. REASON`` + echo (formats.md §1 profile).

        ``seen`` collects the message-level tags; ``offsets`` gets every record tag's first
        offset, so an edit failure can point at it.  ``bad``: see :meth:`line_fields`.
        """
        lines = body.split("\n")
        while lines and not lines[-1].strip():
            lines.pop()
        if not lines:
            return
        first = lines[0]
        m = ERROR_LINE.match(first) if first.startswith(".") else None
        if m is not None:
            reason = m.group(2).strip()
            echo = "\n".join(lines[1:])
            code = int(m.group(1))
            msg.status = self.profile.status_of_code(code)
            msg.error = ErrorInfo(code=code, reason=reason or None,
                                  echo=echo or None)
            return
        pos = base  # where the current line starts
        rest = lines
        if not first.startswith("MKE/"):
            fm = LINE_FIELDS.search(first) if "/" in first else None
            text = (first if fm is None else first[:fm.start()]).strip()
            msg.text = text or None
            if fm is not None:
                self.line_fields(first[fm.end():], pos + fm.end(), msg, seen, bad)
            pos += len(first) + 1
            rest = lines[1:]
        rec: Record | None = None
        rec_offsets: dict[str, int] = {}
        every: list[dict[str, int]] = []  # each record's tag offsets, merged at the end
        records = msg.records
        line_fields = self.line_fields
        for line in rest:
            at = pos
            pos += len(line) + 1
            if line.startswith("MKE/"):
                # the record type, alone on its line (as written) or followed by its first
                # fields (``MKE/WANTED PERSON NAM/SMITH, JOHN ...``, as some files send it)
                starts, ends = line_bounds(line.rstrip(" ."))
                rec = self._record_head(line[4:ends[0]].strip())
                rec_offsets = {}
                every.append(rec_offsets)
                records.append(rec)
                if len(starts) > 1:
                    line_fields(line[starts[1]:], at + starts[1], rec, rec_offsets, bad)
                continue
            if not line.strip():
                rec = None
                continue
            if rec is None:
                rec = Record(file="other")
                rec_offsets = {}
                every.append(rec_offsets)
                records.append(rec)
            line_fields(line, at, rec, rec_offsets, bad)
        for found in every:
            for tag, off in found.items():
                offsets.setdefault(tag, off)
        status = self.profile.status_of(msg.text)
        msg.status = status if status is not None else ("hit" if records else None)

    def _record_head(self, type_text: str) -> Record:
        rec = Record()
        suffix = self.profile.caution_suffix
        if suffix and type_text.endswith(suffix):
            rec.caution = True
            type_text = type_text[: -len(suffix)].rstrip()
        rec.file = self.profile.file_of(type_text)
        if self.profile.record_text.get(rec.file) != type_text:
            rec.fields["MKE"] = type_text
        return rec

    # ---------------------------------------------------------------- encoding

    def _ordered(self, cls: type, mke: str) -> _Plan:
        """Slots for ``mke``'s wire order, grouped by parent object (read each parent once)."""
        key = (cls, mke)
        cached = self._order.get(key)
        if cached is None:
            slots = self._msg_slots if cls is Message else self._rec_slots
            groups: dict[tuple[str, ...], list[tuple[int, str, FieldDef, str]]] = {}
            position = 0
            for fd in self.dictionary.order_for(mke):
                slot = slots.get(fd.tag)
                if slot is not None:
                    groups.setdefault(slot.attrs[:-1], []).append(
                        (position, fd.tag, fd, slot.attrs[-1]))
                    position += 1
            cached = tuple((parent, tuple(rows)) for parent, rows in groups.items())
            if len(self._order) > 512:
                self._order.clear()
            self._order[key] = cached
        return cached

    def emit(self, target: Message | Record, mke: str, where: str,
             skip: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        """``(tag, wire value)`` in dictionary order for ``mke``, then ``fields`` in order."""
        cls = type(target)
        found: list[tuple[int, str, str]] = []
        for parent_attrs, rows in self._ordered(cls, mke):
            parent: Any = target
            for attr in parent_attrs:
                parent = getattr(parent, attr)
                if parent is None:
                    break
            if parent is None:
                continue
            for position, tag, fd, leaf in rows:
                value = getattr(parent, leaf)
                if value is None:
                    continue
                try:
                    text = fd.format(value)
                except (TypeError, ValueError, AttributeError) as exc:
                    raise EncodeError(f"cannot write {where}{fd.path}: {exc}",
                                      format=self.fmt, field=tag) from None
                if text:
                    found.append((position, tag, text))
        found.sort()
        out = [(tag, text) for _, tag, text in found]
        slots = self._msg_slots if cls is Message else self._rec_slots
        for path in self._msg_untagged if cls is Message else self._rec_untagged:
            if _get(target, path) is not None:
                raise EncodeError(f"{where}{'.'.join(path)} has no tag in the field "
                                  "dictionary (add a row to fields.toml)", format=self.fmt)
        for tag, value in target.fields.items():
            if tag in skip:
                continue
            if not isinstance(tag, str) or TAG_FULL.fullmatch(tag) is None:
                raise EncodeError("field tags are three letters or digits", format=self.fmt,
                                  field=f"{where}fields.{tag}")
            owner = slots.get(tag)
            if owner is not None and _get(target, owner.attrs) is not None:
                raise EncodeError(f"tag {tag} both in fields and in {where}{owner.fd.path}",
                                  format=self.fmt, field=tag)
            if not isinstance(value, str):
                raise EncodeError("field values are strings", format=self.fmt, field=tag)
            if value:
                out.append((tag, value))
        return out

    def join_inquiry(self, pairs: list[tuple[str, str]]) -> str:
        """``TAG/value.TAG/value``, refusing values the decoder would read differently."""
        for tag, value in pairs:
            if "\n" in value or REQ_SEP.search(value) or not value.strip():
                raise EncodeError("value holds a line break or '.TAG/' separator",
                                  format=self.fmt, field=tag)
        return ".".join(f"{tag}/{value}" for tag, value in pairs)

    def join_line(self, pairs: list[tuple[str, str]]) -> str:
        """``TAG/value TAG/value`` (one line, single spaces), the canonical record line."""
        for tag, value in pairs:
            if ("\n" in value or value != value.strip() or LINE_SEP.search(value)
                    or not value or value.endswith(".")):
                raise EncodeError("value cannot be written on a response line (line break, "
                                  "' TAG/' inside, edge spaces, or a final '.')",
                                  format=self.fmt, field=tag)
        return " ".join(f"{tag}/{value}" for tag, value in pairs)

    def encode_response(self, msg: Message) -> list[str]:
        """Body lines of the response layout (status line, record blocks, or error)."""
        mke = msg.mke
        if msg.error is not None:
            expected = self.profile.status_of_code(msg.error.code or 0)
            if (msg.status not in (None, expected) or msg.records
                    or msg.text is not None):
                raise EncodeError("an error response carries only the error", format=self.fmt,
                                  field="error")
            if self.emit(msg, mke, ""):
                raise EncodeError("an error response carries no fields", format=self.fmt,
                                  field="error")
            err = msg.error
            if err.code is None or not 0 <= err.code <= 99:
                raise EncodeError("error code must be 0-99", format=self.fmt, field="error.code")
            reason = err.reason or ""
            if "\n" in reason or reason != reason.strip():
                raise EncodeError("error reason must be one trimmed line", format=self.fmt,
                                  field="error.reason")
            out = [f".{err.code:02d}." + (f" {reason}" if reason else "")]
            if err.echo:
                out += err.echo.split("\n")
            return out
        if msg.status == "error":
            raise EncodeError("status error needs an error", format=self.fmt, field="status")
        text = msg.text
        if text is None:
            text = self.profile.status_default.get(msg.status or "")
        if "MKE" in msg.fields:
            raise EncodeError("MKE is not a field of a message", format=self.fmt, field="MKE")
        echo = self.join_line(self.emit(msg, mke, ""))
        if text is not None and (
                "\n" in text or text != text.strip() or not text or text.startswith("MKE/")
                or ERROR_LINE.match(text) or LINE_FIELDS.search(text)):
            raise EncodeError("text cannot be a response status line", format=self.fmt,
                                  field="text")
        derived = self.profile.status_of(text) or ("hit" if msg.records else None)
        if derived != msg.status:
            raise EncodeError(f"status {msg.status!r} does not match the status line "
                              f"{text!r} (it reads as {derived!r})", format=self.fmt,
                              field="status")
        status_line = " ".join(p for p in (text, echo) if p)
        lines: list[str] = [status_line] if status_line else []
        for i, rec in enumerate(msg.records):
            block = self._encode_record(rec, mke, f"records[{i}].")
            if not lines and not block[0].startswith("MKE/"):
                lines.append("")  # an empty status line: the block is not an echo
            if lines:
                lines.append("")
            lines += block
        return lines

    def _encode_record(self, rec: Record, mke: str, where: str) -> list[str]:
        file = rec.file or "other"
        type_text = rec.fields.get("MKE") or self.profile.record_text.get(file)
        lines: list[str] = []
        if type_text is not None:
            suffix = self.profile.caution_suffix
            if ("\n" in type_text or type_text != type_text.strip()
                    or (suffix and type_text.endswith(suffix))):
                raise EncodeError("bad record type text", format=self.fmt, field=f"{where}MKE")
            if self.profile.file_of(type_text) != file:
                raise EncodeError(f"record type {type_text!r} reads as file "
                                  f"{self.profile.file_of(type_text)!r}, not {file!r}",
                                  format=self.fmt, field=f"{where}file")
            lines.append(f"MKE/{type_text}{suffix if rec.caution else ''}")
        elif rec.caution:
            raise EncodeError("a caution record needs a record type", format=self.fmt,
                              field=f"{where}caution")
        line = self.join_line(self.emit(rec, mke, where, skip=frozenset({"MKE"})))
        if line:
            lines.append(line)
        if not lines:
            raise EncodeError("empty record", format=self.fmt, field=where.rstrip("."))
        return lines

    # ---------------------------------------------------------------- edits

    def locate(self, exc: DecodeError, offsets: dict[str, int]) -> DecodeError:
        """Give a ValidationError from the edits this codec's name and the field's offset."""
        exc.format = self.fmt
        if exc.offset is None and exc.field is not None:
            exc.offset = offsets.get(exc.field)
        return exc


# --------------------------------------------------------------------------- streams

def split_stream(text: str, starts_message: Callable[[str, list[str]], bool]
                 ) -> Iterator[tuple[int, str]]:
    """Chunks of a normalized stream: ``(offset, text)``, trailing blank lines removed.

    ``starts_message(line, current_lines)`` says whether ``line`` begins a new message.
    """
    current: list[str] = []
    start = 0
    pos = 0
    for line in text.split("\n"):
        if line.strip() and (not current or starts_message(line, current)):
            while current and not current[-1].strip():
                current.pop()
            if current:
                yield start, "\n".join(current)
            current = [line]
            start = pos
        elif current:
            current.append(line)
        pos += len(line) + 1
    while current and not current[-1].strip():
        current.pop()
    if current:
        yield start, "\n".join(current)


class TextCodec:
    """What ``ncic`` and ``nlets`` share: options, the tag binding, bytes -> text."""

    name = ""
    #: dates may also be ``MMDDYY`` on input (Nlets; NCIC text is ``CCYYMMDD`` only)
    short_dates = False

    def __init__(self, encoding: str = "ascii", edits: bool = True, *,
                 dictionary: FieldDictionary | None = None,
                 profile: ResponseProfile | None = None) -> None:
        self.encoding = check_encoding(encoding)
        self.edits = edits
        self.dictionary = dictionary or default_dictionary()
        self.profile = profile or default_profile()
        self.tagged = TaggedText(self.dictionary, self.profile, self.name,
                                 short_dates=self.short_dates)

    def decode(self, data: bytes) -> Message:
        return self.decode_text(decode_bytes(data, self.encoding, self.name))

    def decode_text(self, text: str, base: int = 0) -> Message:
        raise NotImplementedError

    def encode(self, msg: Message) -> bytes:
        return encode_text(self.encode_text(msg), self.encoding, self.name)

    def encode_text(self, msg: Message) -> str:
        raise NotImplementedError

    def encode_stream(self, msgs: Iterable[Message]) -> bytes:
        """Messages separated by one blank line (what ``decode_stream`` reads)."""
        return encode_text("\n\n".join(self.encode_text(m) for m in msgs), self.encoding,
                           self.name)

    def control_text(self, control: str) -> str:
        """A control field as it may be written: 1-10 characters, no ``.`` or line break."""
        if CONTROL_RE.fullmatch(control) is None:
            raise EncodeError("control field is 1-10 characters without '.' or a line break",
                              format=self.name, field="control")
        return control


_ENCODINGS = {"ascii": "ascii", "usascii": "ascii", "cp037": "cp037", "ibm037": "cp037",
              "cp500": "cp500", "ibm500": "cp500"}


def check_encoding(encoding: str) -> str:
    """The Python codec for a text link's encoding: ASCII or EBCDIC cp037/cp500."""
    enc = _ENCODINGS.get(encoding.lower().replace("-", "").replace("_", ""))
    if enc is None:
        raise DecodeError(f"unsupported encoding {encoding!r} (ascii, cp037, cp500)")
    return enc

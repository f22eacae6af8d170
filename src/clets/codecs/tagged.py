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
#: a period that does not start a tag (then ``REQ_SEP`` decides where fields end)
_DOT_IN_VALUE = re.compile(r"\.(?![A-Z0-9]{3}/)")
#: a control field (``*CONTROL``): 1-10 characters, no period or line break
CONTROL_RE = re.compile(r"[^.\n]{1,10}")


def split_fields(body: str) -> list[str]:
    """``TAG/value.TAG/value`` split at each ``.`` that starts a tag (``REQ_SEP``).

    The common case -- every ``.`` starts a tag, none inside a value -- is a plain
    ``str.split``, after one regex search for a ``.`` that does not (``_DOT_IN_VALUE``, in C:
    it was a Python test of each piece); only then (``MIS/FTA. NO BAIL``) does ``REQ_SEP``
    split.
    """
    if _DOT_IN_VALUE.search(body) is None:
        return body.split(".")
    return REQ_SEP.split(body)


def line_pieces(line: str) -> list[str]:
    """A response line cut into its ``TAG/value`` pieces, one character cut out between two.

    A value ends where a run of spaces or periods is followed by ``TAG/`` (``LINE_SEP``): the
    cut is the run's last character, so the rest of the run stays at the end of the piece
    before (callers take a value as ``piece[4:].rstrip(" .").lstrip(" ")``; a value never
    ends with a space or period, those belong to the separator).  Piece ``k`` starts at
    ``sum(len(p) + 1 for p in pieces[:k])``: offsets need no second pass.  One ``re.split``
    in C (was: a scan of each ``/`` in Python, three times slower on a record line).
    """
    return LINE_CUT.split(line)


#: response-line separator: spaces/periods followed by a tag
LINE_SEP = re.compile(r"[ .]+(?=[A-Z0-9]{3}/)")
#: the last character of such a run: where ``line_pieces`` cuts
LINE_CUT = re.compile(r"[ .](?=[A-Z0-9]{3}/)")
#: the same for a line without a period (a literal first character: a faster scan)
SPACE_CUT = re.compile(r" (?=[A-Z0-9]{3}/)")
#: where the echoed fields of a status line begin
LINE_FIELDS = re.compile(r"(?:^|[ .]+)(?=[A-Z0-9]{3}/)")
ERROR_LINE = re.compile(r"\.([0-9]{2})\.(.*)")
MKE_RE = re.compile(r"\$\.[A-Z0-9]{1,2}|[A-Z0-9$\-]{1,4}")
TOKEN_RE = re.compile(r"[A-Z0-9]+")
#: characters a text message may hold (CR, LF, DEL and EBCDIC NL are ignored or line ends)
BAD_IN = re.compile(r"[^\x20-\x7e\r\n\x7f\x85]")
BAD_OUT = re.compile(r"[^\x20-\x7e\n]")
#: in field-tagged text, a run of line breaks that a tag follows and no ``.`` precedes: it
#: ends the value before it, as ``.`` does (see ``normalize``)
BREAK_AT_TAG = re.compile(r"(?<=[^.\n])\n+(?=[A-Z0-9]{3}/)")


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
    """Line ends to LF (CR LF, CR, EBCDIC NL) and DEL removed.

    ``join_lines`` (field-tagged text, read as one logical line) drops line breaks too, as a
    teletype wraps a line anywhere -- except a run of them that ``TAG/`` follows and no ``.``
    precedes (``BREAK_AT_TAG``): that is written ``.``, a field separator.  A line that starts
    with a tag is never the rest of the value before it (the same rule as in a response body):
    ``MAM/SMITH\nNAM/JONES`` is two fields, not ``MAM`` = ``SMITHNAM/JONES``, which no one
    wrote and whose ``NAM/`` an encoder would write back where it reads differently.
    """
    if join_lines:
        if "\n" not in text and "\r" not in text and "\x85" not in text:
            return text.replace("\x7f", "")
        flat = normalize(text)
        return BREAK_AT_TAG.sub(".", flat).replace("\n", "")
    if "\r" not in text and "\x7f" not in text and "\x85" not in text:
        return text  # three C scans: faster than one regex search
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x85", "\n").replace(
        "\x7f", "")


def original_offset(original: str, offset: int, *, join_lines: bool = False) -> int:
    """Map an offset in ``normalize(original)`` back to ``original`` (error path only)."""
    if join_lines:
        # joined offset -> offset in the text with line ends kept, then -> original
        flat = normalize(original)
        kept = {m.start() for m in BREAK_AT_TAG.finditer(flat)}
        k = 0
        at = 0
        for i, c in enumerate(flat):
            if c == "\n" and i not in kept:
                continue
            if k == offset:
                at = i
                break
            k += 1
        else:
            at = len(flat) if k == offset else min(offset, len(flat))
        offset = at
    k = 0  # position in the normalized text
    i = 0
    n = len(original)
    while i < n:
        c = original[i]
        if c == "\x7f":
            i += 1
            continue
        if k == offset:
            return i
        if c == "\r" and i + 1 < n and original[i + 1] == "\n":
            i += 1
        k += 1
        i += 1
    return n if k == offset else min(offset, n)


#: the blank lines (empty, or spaces only) that a body after its header may start with
_LEADING_BLANK = re.compile(r"(?:[ ]*\n)*")


def body_start(text: str, at: int = 0) -> int:
    """Where a body that starts at ``at`` (normalized text) has its first line of text.

    Lines before it that are empty or hold only spaces are skipped alike: a response body
    reads a line of spaces as a blank line everywhere else (it ends a record), so here too.
    Skipping only empty lines made ``TXT\n \nJLP/1\n\nMKE/X`` a status line of spaces and a
    record ``JLP``, and ``TXT\n\nJLP/1...`` the status line's echoed field ``JLP`` (fuzz).
    """
    m = _LEADING_BLANK.match(text, at)
    assert m is not None  # the pattern matches the empty string
    return m.end()


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
    #: record type lines that are cautions without the marker (``... - OCCUPANTS ARMED``)
    caution_types: frozenset[str] = frozenset()
    #: message key of a response read without its header (``ncic-lenient``)
    headless_key: str = "RESP"
    #: Nlets keys whose output header puts the destination on the TXT line (``DEST.TXT``)
    #: and a ``.`` after the origin (Nlets' GVR), instead of after the second time stamp
    dest_on_txt: frozenset[str] = frozenset()

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
                headless_key=str(data.get("lenient", {}).get("headless_key", "RESP")),
                caution_types=frozenset(data.get("caution_types", [])),
                dest_on_txt=frozenset(data.get("nlets", {}).get("dest_on_txt_line", [])),
            )
        except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError,
                ValueError) as exc:
            raise LayoutError(f"bad response profile: {exc}", source=source) from None

    @functools.cached_property
    def response_set(self) -> frozenset[str]:
        return frozenset(self.response_keys.values()) | self.switch_keys | {self.headless_key}

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

    def read_type(self, type_text: str) -> tuple[str, bool]:
        """(file, caution) of a record type text as NCIC prints it.

        The caution marker may end the first line (``WANTED PERSON - CAUTION``) or sit inside
        it, before the caution's own words (``... - CAUTION - POTENTIALLY DANGEROUS ...``);
        the file is named by the text before it (``record_files`` / ``record_aliases``).
        """
        known = self.text_file.get(type_text)
        if known is not None and self.caution_suffix not in type_text:
            # the common case: a type line as the profile writes it
            return known, type_text in self.caution_types
        first = type_text.split("\n", 1)[0].strip()
        marker = self.caution_suffix.strip()
        caution = False
        base = first
        if marker:
            at = first.find(self.caution_suffix)
            if at < 0 and first.endswith(marker) and first != marker:
                at = len(first) - len(marker)
            if at >= 0:
                caution = True
                base = first[:at].strip(" -")
        file = self.text_file.get(base)
        if file is None:
            file = self.text_file.get(first, "other")
        return file, caution or first in self.caution_types or base in self.caution_types


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
    namespace: dict[str, Any] = {"parse": parse, "VE": ValidationError, "TAG": fd.tag}
    if fd.type in ("ident", "digits"):
        # '-' and spaces are dropped: a value of only those is empty, and an empty value is
        # written as nothing (property test: LIC/- read as plate '', lost on the next trip)
        lines += ['    if not v:',
                  '        raise VE("no value once spaces and \'-\' are dropped", field=TAG,'
                  ' value=raw)']
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


def _free(fd: FieldDef) -> bool:
    """Free text: may hold ``. `` and wrap (MIS, remarks, names of things); a short coded or
    numbered value (SER, REG: at most 20 characters) is not, nor a field without a slot that
    the dictionary does not say is free (``free = true``): its form is not known."""
    if fd.free is not None:
        return fd.free
    return (bool(fd.path) and fd.type == "text" and fd.chars is None and fd.table is None
            and (fd.max is None or fd.max > 20))


#: row types whose model value is the wire text (edits.py checks them as such)
_WIRE_TYPES = frozenset({"text", "ident", "code", "color", "plate_year", "digits"})


def _never(value: str) -> bool:
    """The guard of a row whose value is parsed before it is checked: the edits decide."""
    return False


def _value_guard(fd: FieldDef) -> Callable[[str], bool]:
    """True when ``fd``'s edits find nothing in a wire value kept in ``fields``.

    Generated per row with only the tests the row has (a length, a character class, a code
    table, the code before `` - `` of a translated value): it runs once per such value on
    every decode.
    """
    from clets.model.edits import code_table

    namespace: dict[str, Any] = {}
    tests: list[str] = []
    if fd.max is not None:
        tests.append(f"len(v) <= {int(fd.max)}")
    if fd.min is not None:
        tests.append(f"len(v) >= {int(fd.min)}")
    if fd.chars is not None:
        namespace["chars"] = fd.chars.fullmatch
        tests.append("chars(v) is not None")
    if fd.table is not None:
        namespace["codes"] = code_table(fd.table).codes
        tests.append("v in codes")
    lines = ["def ok(value):", "    v = value.strip()"]
    if fd.expands:
        lines += ["    if ' - ' in v:", "        v = v.split(' - ', 1)[0].rstrip()"]
    lines.append(f"    return {' and '.join(tests) or 'True'}")
    exec(compile("\n".join(lines), f"<clets guard {fd.tag}>", "exec"), namespace)
    ok: Callable[[str], bool] = namespace["ok"]
    return ok


#: key of ``Record.fields`` for a record's lines without a tag, one a line
TEXT_KEY = "TXT"
#: key of ``Message.fields`` for untagged fields after the last tagged one, one a line
POS_KEY = "POS"


def _append(fields: dict[str, str], key: str, text: str) -> None:
    prev = fields.get(key)
    fields[key] = text if prev is None else f"{prev}\n{text}"


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
        self.free_text = frozenset(fd.tag for fd in dictionary.rows if _free(fd))
        self._order: dict[tuple[type, str], _Plan] = {}
        self._keyed_stores: dict[tuple[str, type, bool], dict[str, Callable[..., None]]] = {}
        self._short_dates = short_dates
        #: mke -> tag -> whether a value kept in ``fields`` passes its row's edits
        self._guards: dict[str, dict[str, Callable[[str], bool]]] = {}
        self._wrapping: dict[str, dict[str, bool]] = {}

    def stores(self, mke: str, cls: type, checked: bool) -> dict[str, Callable[..., None]]:
        """tag -> store for a message with key ``mke`` (keyed rows of fields.toml apply)."""
        keyed = self.dictionary.keyed.get(mke)
        base = self._stores[cls, checked]
        if keyed is None:
            return base
        key = (mke, cls, checked)
        found = self._keyed_stores.get(key)
        if found is None:
            found = dict(base)
            for tag, fd in keyed.items():
                slot = _slot(cls, fd, self.dictionary, self._short_dates) if fd.path else None
                if slot is None:
                    found.pop(tag, None)  # read into ``fields`` under this key
                else:
                    found[tag] = slot.store_checked if checked else slot.store
            self._keyed_stores[key] = found
        return found

    def field_guards(self, mke: str) -> dict[str, Callable[[str], bool]]:
        """tag -> whether a value kept in ``fields`` passes its row's edits, for ``mke``
        (only tags whose row has an edit, or a type that is not a string).

        A value of a non-string type (a name, date, flag kept in ``fields``: ``OWN``, ``REX``
        at message level) is parsed before it is checked, and a date against today: its
        guard always fires, so :func:`apply_edits` decides, as it does on every later decode
        (fuzz: a length-only guard passed ``OWN/`` at message level, the edits refused it when
        another guard fired in the message's own encoding).
        """
        found = self._guards.get(mke)
        if found is None:
            found = {}
            for tag in set(self.dictionary.by_tag) | set(self.dictionary.keyed.get(mke, {})):
                fd = self.dictionary.row_for(tag, mke)
                if fd is None:
                    continue
                if fd.type in _WIRE_TYPES:
                    if (fd.max is not None or fd.min is not None or fd.chars is not None
                            or fd.table is not None):
                        found[tag] = _value_guard(fd)
                else:
                    found[tag] = _never
            if len(self._guards) > 512:
                self._guards.clear()
            self._guards[mke] = found
        return found

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
        if tail_text and not self.free_in(parts[-1][:3], target.mke):
            cut = parts[-1].find(". ", 4)
            if cut >= 0:
                tail = parts[-1][cut + 2:].strip()
                parts[-1] = parts[-1][:cut]
                if not tail:
                    raise DecodeError("message ends with '.'", format=self.fmt,
                                      offset=len(text) - 1)
        mke = target.mke
        positional = self._positional(parts, mke) if "." in parts[-1] else None
        pos = start
        stores = (self._stores[Message, bad is not None] if mke not in self.dictionary.keyed
                  else self.stores(mke, Message, bad is not None))
        guards: dict[str, Callable[[str], bool]] | None = None  # looked up when needed
        fields = target.fields
        # This loop is the decode hot path: ``store`` is inlined for the Message target.
        for part in parts:
            tag = part[:3]
            value = part[4:]
            if not value or value.isspace():
                raise DecodeError("empty field (leave it out, tag included)", format=self.fmt,
                                  field=tag, offset=pos)
            if tag in offsets:
                # a repeated tag (NCIC supplemental data: AKA, SMT, DOB ... up to nine times):
                # its later values go to ``fields`` one a line, after any there already
                prev = fields.get(tag)
                fields[tag] = value if prev is None else f"{prev}\n{value}"
                if bad is not None:
                    bad.append(value)  # apply_edits checks each line of fields[tag]
                pos += len(part) + 1
                continue
            offsets[tag] = pos + 4
            store = stores.get(tag)
            if store is None:
                fields[tag] = value
                if bad is not None:
                    if guards is None:
                        guards = self.field_guards(mke)
                    guard = guards.get(tag)
                    if guard is not None and not guard(value):
                        bad.append(value)
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
        if positional:
            if not all(p.strip() for p in positional):
                raise DecodeError("empty untagged field", format=self.fmt, field=POS_KEY,
                                  offset=pos - 1)
            offsets.setdefault(POS_KEY, pos - 1 - len(".".join(positional)))
            _append(fields, POS_KEY, "\n".join(positional))
        return tail

    def _positional(self, parts: list[str], mke: str) -> list[str]:
        """Untagged fields after the last tagged one (NCIC's positional data of a locate or
        a clear: ``NIC/W146203706.19990205.CASE 1234.EXTR``), cut from that field's value.

        Only where the last field has a character class that its whole value breaks and the
        text before the first ``.`` keeps: a value the edit accepts is never cut, so this
        reads messages that would otherwise be refused and changes nothing else.
        """
        last = parts[-1]
        value = last[4:]
        if "." not in value:
            return []
        fd = self.dictionary.row_for(last[:3], mke)
        if fd is None or fd.chars is None or fd.chars.fullmatch(value.strip()) is not None:
            return []
        head, _, rest = value.partition(".")
        if not head.strip() or fd.chars.fullmatch(head.strip()) is None:
            return []
        parts[-1] = last[:4] + head
        return rest.split(".")

    def line_fields(self, line: str, base: int, target: Message | Record,
                    offsets: dict[str, int], bad: list[Any] | None = None,
                    mke: str = "", stores: dict[str, Callable[..., None]] | None = None,
                    guards: dict[str, Callable[[str], bool]] | None = None) -> str:
        """Parse a response line ``TAG/value TAG/value`` onto ``target``; return the last tag.

        ``offsets`` (tag -> offset of its first value) belongs to ``target``.  A tag that
        repeats (supplemental data: a second DOB, AKA, SMT) keeps its later values in
        ``fields`` one a line.  With ``bad``, each value's field edits run as it is stored
        and append to ``bad`` when they would find anything (the caller then runs
        ``apply_edits`` for the findings themselves).

        This loop and the one of :meth:`inquiry_fields` are the decode hot paths: each keeps the
        store of one field inline rather than calling a shared helper per field.
        """
        if stores is None:  # a caller that passes its stores has matched the tag already
            if TAG_AT.match(line) is None:
                raise DecodeError("expected TAG/ at the start of a record line",
                                  format=self.fmt, offset=base)
            stores = self.stores(mke, type(target), bad is not None)
        if guards is None and bad is not None:
            guards = self.field_guards(mke)
        fields = target.fields
        # a final '.' separates too (wrapped lines)
        if line[-1:] in " .":
            line = line.rstrip(" .")
        plain = "." not in line  # then every separator is spaces: a faster regex, strip()
        # one field (no second '/'): no cut to look for
        pieces = ((SPACE_CUT if plain else LINE_CUT).split(line) if line.find("/", 4) > 0
                  else [line])
        pos = base
        tag = ""
        # This loop is the decode hot path of responses: ``store`` is inlined.
        for piece in pieces:
            tag = piece[:3]
            value = piece[4:].strip() if plain else piece[4:].rstrip(" .").lstrip(" ")
            if not value:
                raise DecodeError("empty field", format=self.fmt, field=tag, offset=pos)
            if tag in offsets:
                prev = fields.get(tag)
                fields[tag] = value if prev is None else f"{prev}\n{value}"
                if bad is not None:
                    bad.append(value)
                pos += len(piece) + 1
                continue
            offsets[tag] = pos + 4
            store = stores.get(tag)
            if store is None:
                fields[tag] = value
                if guards is not None:
                    guard = guards.get(tag)
                    if guard is not None and not guard(value):
                        bad.append(value)  # type: ignore[union-attr]
            else:
                try:
                    store(target, value, bad)
                except ValidationError as exc:
                    exc.format = self.fmt
                    exc.offset = pos + 4
                    raise
            pos += len(piece) + 1
        return tag

    def free_in(self, tag: str, mke: str = "") -> bool:
        """Whether ``tag`` holds free text in a message with key ``mke`` (a known row)."""
        fd = self.dictionary.row_for(tag, mke)
        return fd is not None and _free(fd)

    def wraps(self, tag: str, mke: str = "") -> bool:
        """Whether a line without a tag after ``tag``'s value continues it (free text)."""
        fd = self.dictionary.row_for(tag, mke)
        return fd is None or _free(fd)

    def wrapping(self, mke: str) -> dict[str, bool]:
        """tag -> :meth:`wraps` for the known tags of ``mke`` (an unknown tag wraps)."""
        found = self._wrapping.get(mke)
        if found is None:
            tags = set(self.dictionary.by_tag) | set(self.dictionary.keyed.get(mke, {}))
            found = {tag: self.wraps(tag, mke) for tag in tags}
            if len(self._wrapping) > 512:
                self._wrapping.clear()
            self._wrapping[mke] = found
        return found

    def _continue(self, target: Message | Record, tag: str, line: str,
                  bad: list[Any] | None = None,
                  guards: dict[str, Callable[[str], bool]] | None = None) -> None:
        """Append a wrapped line to ``tag``'s value (its slot, or ``fields``).

        With ``bad`` the value's edits run on what it now is, as on a value read whole (a
        slot's value as one, a value of ``fields`` a line at a time, as ``apply_edits``
        checks them): a wrapped value is no way past them (fuzz: ``OAD/5`` and a wrapped
        line was 33 characters long, read without its edit, then refused on reading back).
        """
        text = line.strip()
        if tag in target.fields:
            target.fields[tag] = f"{target.fields[tag]}\n{text}"
            if guards is not None:
                guard = guards.get(tag)
                if guard is not None and not guard(text):
                    bad.append(text)  # type: ignore[union-attr]
            return
        slots = self._msg_slots if isinstance(target, Message) else self._rec_slots
        slot = slots.get(tag)
        if slot is not None and slot.fd.type == "text":
            parent: Any = target
            for attr in slot.attrs[:-1]:
                parent = getattr(parent, attr)
            value = f"{getattr(parent, slot.attrs[-1])}\n{text}"
            if bad is None:
                setattr(parent, slot.attrs[-1], value)
            else:
                slot.store_checked(target, value, bad)  # a text value: stored as it is
            return
        _append(target.fields, TEXT_KEY, text)

    def response_body(self, msg: Message, body: str, base: int, seen: dict[str, int],
                      offsets: dict[str, int], bad: list[Any] | None = None) -> None:
        """Banner lines, record blocks, or ``.NN. REASON`` + echo (formats.md §1 profile).

        Lines before the first record that carry no tag are banner lines (``msg.text``, one
        a line; the first may end with the echoed search fields).  Inside a record, a line
        without a tag continues the value before it when that value is free text (a wrapped
        ``MIS``, a record type over two lines), else it is a text line of the record
        (``fields["TXT"]``, one a line: ``ORI IS ...``, ``IMMED CONFIRM ...``).
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
        mke = msg.mke
        pos = base  # where the current line starts
        rest = lines
        banner: list[str] = []
        last: str | None = None  # the tag of the value a wrapped line continues
        echo_open = False  # the status line's echoed fields may go on over the next line
        if not first.startswith("MKE/"):
            fm = LINE_FIELDS.search(first) if "/" in first else None
            text = (first if fm is None else first[:fm.start()]).strip()
            if text:
                banner.append(text)
            if fm is not None:
                self.line_fields(first[fm.end():], pos + fm.end(), msg, seen, bad, mke)
                echo_open = True
            pos += len(first) + 1
            rest = lines[1:]
        rec: Record | None = None
        rec_offsets: dict[str, int] = {}
        every: list[dict[str, int]] = []  # each record's tag offsets, merged at the end
        records = msg.records
        line_fields = self.line_fields
        rec_stores = self.stores(mke, Record, bad is not None)
        guards = self.field_guards(mke) if bad is not None else None
        wraps = self.wrapping(mke)
        # Consecutive tag lines of one record are read in one call, as one line with their
        # line breaks as spaces (the same length: offsets are unchanged, and a line break
        # before a tag separates as a space does): ``run`` is where the run starts.
        run = run_end = -1
        for line in rest:
            at = pos
            pos += len(line) + 1
            if line[3:4] == "/" and TAG_AT.match(line) is not None:
                if line.startswith("MKE/"):
                    # the record type, alone on its line (as written) or followed by its
                    # first fields (``MKE/WANTED PERSON NAM/SMITH, JOHN ...``, as some files
                    # send it)
                    if run >= 0:
                        line_fields(body[run - base:run_end - base].replace("\n", " "), run,
                                    rec, rec_offsets, bad, mke, rec_stores, guards)  # type: ignore[arg-type]
                        run = -1
                    if rec is not None:
                        # the record before, not closed by a blank line: its file and
                        # caution from its type text now (it was left with file None)
                        self._record_head(rec)
                    head = line
                    if "/" in line[4:]:
                        cut = LINE_CUT.search(line.rstrip(" ."))
                        if cut is not None:
                            head = line[:cut.start()]
                    type_text = head[4:].rstrip(" .").strip()
                    if not type_text:
                        # an empty field, as anywhere else (fuzz: ``MKE/ VCO/BLU`` was read
                        # as a record with no type, written back without its MKE/ line)
                        raise DecodeError("empty record type (MKE/ with no text)",
                                          format=self.fmt, field="MKE", offset=at)
                    rec = Record()
                    rec.fields["MKE"] = type_text
                    rec_offsets = {}
                    every.append(rec_offsets)
                    records.append(rec)
                    last = "MKE"
                    if head is not line:
                        run, run_end = at + len(head) + 1, pos - 1
                    continue
                if rec is None:
                    if echo_open and not records:
                        # the echo of a status line, continued on the next line
                        line_fields(line, at, msg, seen, bad, mke)
                        continue
                    rec = Record(file="other")
                    rec_offsets = {}
                    every.append(rec_offsets)
                    records.append(rec)
                if run < 0:
                    run = at
                run_end = pos - 1
                continue
            if run >= 0:
                last = line_fields(body[run - base:run_end - base].replace("\n", " "), run,
                                   rec, rec_offsets, bad, mke, rec_stores, guards)  # type: ignore[arg-type]
                run = -1
            if not line.strip():
                if rec is not None:
                    self._record_head(rec)
                rec = None
                last = None
                echo_open = False
            elif rec is not None and last is not None and (
                    last == "MKE" or wraps.get(last, True)):
                self._continue(rec, last, line, bad, guards)
            elif rec is not None:
                _append(rec.fields, TEXT_KEY, line.strip())
            else:
                banner.append(line.strip())
                echo_open = False
        if run >= 0:
            line_fields(body[run - base:run_end - base].replace("\n", " "), run, rec,  # type: ignore[arg-type]
                        rec_offsets, bad, mke, rec_stores, guards)
        if rec is not None:
            self._record_head(rec)
        if every:
            # first offset of each tag: the message's own first, then record by record
            merged: dict[str, int] = {}
            for found in reversed(every):
                merged.update(found)
            merged.update(offsets)
            offsets.update(merged)
        msg.text = "\n".join(banner) if banner else None
        status = self.profile.status_of(msg.text)
        msg.status = status if status is not None else ("hit" if records else None)

    def _record_head(self, rec: Record) -> None:
        """File and caution from the record type text held in ``rec.fields["MKE"]``.

        The text is dropped from ``fields`` when the profile writes it back as it was
        (``WANTED PERSON``, ``WANTED PERSON - CAUTION``); any other text stays there,
        exactly, with the file it names (``other`` when the profile does not know it).
        """
        type_text = rec.fields.get("MKE")
        if type_text is None:
            return
        profile = self.profile
        rec.file, rec.caution = profile.read_type(type_text)
        suffix = profile.caution_suffix
        if rec.caution and suffix and "\n" not in type_text and type_text.endswith(suffix):
            type_text = type_text[: -len(suffix)].rstrip()  # written back from ``caution``
        if profile.record_text.get(rec.file) == type_text:
            del rec.fields["MKE"]
        else:
            rec.fields["MKE"] = type_text

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
        for path in self._msg_untagged if cls is Message else self._rec_untagged:
            if _get(target, path) is not None:
                raise EncodeError(f"{where}{'.'.join(path)} has no tag in the field "
                                  "dictionary (add a row to fields.toml)", format=self.fmt)
        for tag, value in target.fields.items():
            if tag in skip or (tag == TEXT_KEY and cls is Record):
                continue
            if not isinstance(tag, str) or TAG_FULL.fullmatch(tag) is None:
                raise EncodeError("field tags are three letters or digits", format=self.fmt,
                                  field=f"{where}fields.{tag}")
            if not isinstance(value, str):
                raise EncodeError("field values are strings", format=self.fmt, field=tag)
            # one value a line: a tag's repeated occurrences (after its slot's value, if any)
            for piece in value.split("\n") if "\n" in value else (value,):
                if not piece.strip():
                    raise EncodeError("a value line of fields is empty", format=self.fmt,
                                      field=f"{where}fields.{tag}")
                out.append((tag, piece))
        if target.fields:
            # the key's listed wire order holds for tags kept in ``fields`` too (YQ: RTY RNO
            # PRI OCA NIC ...); unlisted tags keep their place after the listed ones
            rank = self.dictionary.rank_for(mke)
            if rank is not None:
                last = len(rank)
                out.sort(key=lambda pair: rank.get(pair[0], last))
        return out

    def join_inquiry(self, pairs: list[tuple[str, str]], mke: str = "") -> str:
        """``TAG/value.TAG/value``, refusing values the decoder would read differently."""
        for tag, value in pairs:
            if "\n" in value or REQ_SEP.search(value) or not value.strip():
                raise EncodeError("value holds a line break or '.TAG/' separator",
                                  format=self.fmt, field=tag)
        if pairs and "." in pairs[-1][1]:
            tag, value = pairs[-1]
            if self._positional([f"{tag}/{value}"], mke):
                # the decoder would cut it into untagged fields (``_positional``): a value
                # its character class refuses whole and takes up to its first '.' (fuzz:
                # ``LIC/A-..A`` read as ``A..A``, then cut at ``A.``)
                raise EncodeError("the last value would read as a value and untagged fields "
                                  "('.' after text its character class takes)",
                                  format=self.fmt, field=tag)
        return ".".join(f"{tag}/{value}" for tag, value in pairs)

    def join_line(self, pairs: list[tuple[str, str]]) -> str:
        """``TAG/value TAG/value`` (one line, single spaces), the canonical record line.

        A value may hold line breaks only as the last pair (a wrapped free-text value):
        each further line must read back as a continuation (no tag at its start).
        """
        for i, (tag, value) in enumerate(pairs):
            if "\n" not in value:  # the common case: one line
                if (value != value.strip() or LINE_SEP.search(value) or not value
                        or value.endswith(".")):
                    raise EncodeError("value cannot be written on a response line (' TAG/' "
                                      "inside, edge spaces, or a final '.')", format=self.fmt,
                                      field=tag)
                continue
            lines = value.split("\n")
            if i != len(pairs) - 1:
                raise EncodeError("a wrapped value ends its line", format=self.fmt, field=tag)
            for k, line in enumerate(lines):
                if (line != line.strip() or LINE_SEP.search(line) or not line
                        or (k == len(lines) - 1 and line.endswith("."))
                        or (k and (TAG_AT.match(line) or line.startswith("MKE/")))):
                    raise EncodeError("value cannot be written on a response line (' TAG/' "
                                      "inside, edge spaces, an empty line, a final '.', or a "
                                      "wrapped line that starts with a tag)",
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
        text_lines = text.split("\n") if text is not None else []
        if text_lines and (
                text_lines[0] != text_lines[0].strip() or not text_lines[0]
                or text_lines[0].startswith("MKE/") or ERROR_LINE.match(text_lines[0])
                or LINE_FIELDS.search(text_lines[0])):
            raise EncodeError("text cannot be a response status line", format=self.fmt,
                              field="text")
        for line in text_lines[1:]:
            if line != line.strip() or not line or TAG_AT.match(line):
                raise EncodeError("a banner line of text must be trimmed, not empty and not "
                                  "start with a tag", format=self.fmt, field="text")
        if "\n" in echo:
            raise EncodeError("echoed fields cannot wrap", format=self.fmt, field="fields")
        derived = self.profile.status_of(text) or ("hit" if msg.records else None)
        if derived != msg.status:
            raise EncodeError(f"status {msg.status!r} does not match the status line "
                              f"{text!r} (it reads as {derived!r})", format=self.fmt,
                              field="status")
        if text_lines and echo and text_lines[0].endswith("."):
            # ``TEXT. TAG/...`` would read the '.' as part of the separator before the echo:
            # the echo goes on a line of its own first, the text on the next (it reads back
            # the same: a status line of fields only, then banner lines)
            lines: list[str] = [echo, *text_lines]
        else:
            status_line = " ".join(p for p in (text_lines[0] if text_lines else None, echo)
                                   if p)
            lines = [status_line] if status_line else []
            lines += text_lines[1:]
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
        profile = self.profile
        suffix = profile.caution_suffix
        kept = rec.fields.get("MKE")
        type_text = kept if kept is not None else profile.record_text.get(file)
        lines: list[str] = []
        if type_text is not None:
            type_lines = type_text.split("\n") if "\n" in type_text else [type_text]
            for k, t in enumerate(type_lines):
                if t != t.strip() or not t or (k and TAG_AT.match(t)):
                    raise EncodeError("bad record type text", format=self.fmt,
                                      field=f"{where}MKE")
            read_file, marked = profile.read_type(type_text)
            if read_file != file:
                raise EncodeError(f"record type {type_text!r} reads as file "
                                  f"{read_file!r}, not {file!r}", format=self.fmt,
                                  field=f"{where}file")
            if marked and (not rec.caution or (kept is not None and "\n" not in kept
                                               and kept.endswith(suffix))):
                raise EncodeError("record type text holds the caution marker: set caution",
                                  format=self.fmt, field=f"{where}MKE")
            if rec.caution and not marked:
                if len(type_lines) > 1:
                    raise EncodeError("a wrapped record type of a caution record holds its "
                                      "caution marker", format=self.fmt, field=f"{where}MKE")
                type_text += suffix
            lines.append(f"MKE/{type_text}")
        elif rec.caution:
            raise EncodeError("a caution record needs a record type", format=self.fmt,
                              field=f"{where}caution")
        pairs = self.emit(rec, mke, where, skip=frozenset({"MKE"}))
        text = rec.fields.get(TEXT_KEY)
        if not text and all("\n" not in v for _, v in pairs):
            line = self.join_line(pairs)
            if line:
                lines.append(line)
        else:
            # wrapped values and text lines: structured fields first (a text line after them
            # cannot read as a continuation), then the text lines, then each free-text field
            # on a line of its own
            fixed = [p for p in pairs if not self.wraps(p[0], mke)]
            free = [p for p in pairs if self.wraps(p[0], mke)]
            if fixed:
                lines.append(self.join_line(fixed))
            if text:
                if not fixed:
                    raise EncodeError("a record's text lines follow a field that is not free "
                                      "text", format=self.fmt, field=f"{where}fields.TXT")
                for t in text.split("\n"):
                    if t != t.strip() or not t or TAG_AT.match(t) or t.startswith("MKE/"):
                        raise EncodeError("a text line of a record must be trimmed, not empty "
                                          "and not start with a tag", format=self.fmt,
                                          field=f"{where}fields.TXT")
                    lines.append(t)
            lines += [self.join_line([p]) for p in free]
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

"""Format-preserving, consistent scrubbing of captures (names, DOBs, SSNs, OLNs, plates, VINs,
addresses, case numbers).

Why format-preserving: a scrubbed capture is only useful if it still decodes, passes the field
edits and replays.  So every fake has the real value's length and character class (letters stay
letters, digits stay digits, punctuation stays put), dates stay calendar dates in the past,
VINs get a recomputed check digit (valid where the real one was valid), NICs keep their file
prefix letter, and code-table codes are not touched.

Why consistent: the same real value must become the same fake everywhere (a plate in a query
and in three answers; the same person as subject and as owner), or pairing and diffs break.
Each fake is drawn from a deterministic stream seeded by HMAC-SHA256(secret key, category +
value), so one key gives one mapping -- across files and runs -- and without the key the
mapping cannot be reversed or rebuilt by guessing values.

What is scrubbed where:

* structured fields of every Person (``name``, ``dob``, ``ssn``, ``fbi``, ``cii``, ``mnu``,
  ``license.number``, ``address.street/city/zip``), Vehicle (``plate``, ``vin``) and Case
  (``oca``, ``nic``, ``fcn``), in the message and in every record (``person``, ``owner``);
* free text (``text``, ``remarks``, ``attention``, ``error.echo``, ``fields`` values, record
  ``remarks``/``offense``/``fields``, decode errors): sensitive ``TAG/value`` pairs are scrubbed
  like the structured field of that tag, then every real value seen anywhere in the capture is
  replaced by its fake (whole words only), then SSN-shaped numbers (dashed, or nine digits
  standing alone);
* raw text frames are scrubbed in place (same substitutions) when that decodes to exactly the
  scrubbed message, so the byte layout stays as captured; otherwise (binary records, or a
  layout the substitution cannot keep) they are re-encoded from the scrubbed message with the
  same codec.  Either way raw and canonical agree.  An undecodable frame keeps its raw only
  if it is text (scrubbed by tag and known values), else its raw is dropped -- real data never
  stays in raw bytes.

Not scrubbed (documented limits): ORIs, operator and terminal ids (they route the message),
codes, vehicle make/model/year/colour, dates other than DOB, and free text a scrubber cannot
recognise (a name in a remark that never appears in a structured field).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from clets.errors import CletsError, ConfigError
from clets.model import code_table, from_dict, to_dict, vin_check_digit_ok

__all__ = [
    "ScrubReport",
    "Scrubber",
    "open_codec",
    "scrub_capture",
    "scrub_dataset",
    "scrubbed_dataset",
]

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
VIN_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # ISO 3779: no I, O, Q
_CONSONANTS = "BCDFGHJKLMNPRSTVWZ"
_VOWELS = "AEIOU"
_STREET_WORDS = frozenset({
    "ST", "AVE", "AV", "RD", "DR", "BLVD", "LN", "WAY", "CT", "PL", "HWY", "PKWY", "CIR", "TER",
    "TRL", "SQ", "LOOP", "N", "S", "E", "W", "NE", "NW", "SE", "SW", "APT", "UNIT", "STE", "NO"})
_SUFFIXES = frozenset({"JR", "SR", "II", "III", "IV", "V", "VI"})


# --------------------------------------------------------------------------- random stream

class _Stream:
    """Deterministic numbers from HMAC-SHA256(key, label || counter): portable across Python
    versions (unlike ``random.Random``'s algorithms) and unpredictable without the key."""

    def __init__(self, key: bytes, label: str) -> None:
        self._key = key
        self._label = label.encode("utf-8")
        self._counter = 0
        self._pool = b""

    def _more(self) -> None:
        block = hmac.new(self._key, self._label + b"\x00" + self._counter.to_bytes(8, "big"),
                         hashlib.sha256).digest()
        self._counter += 1
        self._pool += block

    def below(self, n: int) -> int:
        """Uniform integer in [0, n) by rejection sampling on 32-bit draws."""
        if n <= 1:
            return 0
        limit = (1 << 32) - ((1 << 32) % n)
        while True:
            if len(self._pool) < 4:
                self._more()
            x = int.from_bytes(self._pool[:4], "big")
            self._pool = self._pool[4:]
            if x < limit:
                return x % n

    def choice(self, seq: str) -> str:
        return seq[self.below(len(seq))]


# --------------------------------------------------------------------------- value fakers

def _pattern(value: str, s: _Stream, letters: str = UPPER, keep: str = "") -> str:
    """Same length; digits -> digits, letters -> letters; everything else unchanged."""
    out = []
    for ch in value:
        if ch in keep:
            out.append(ch)
        elif ch.isdigit():
            out.append(s.choice(DIGITS))
        elif "A" <= ch <= "Z":
            out.append(s.choice(letters))
        elif "a" <= ch <= "z":
            out.append(s.choice(letters).lower())
        else:
            out.append(ch)
    return "".join(out)


def _word(n: int, s: _Stream) -> str:
    """A pronounceable synthetic word of exactly n letters (consonant-vowel alternation)."""
    if n == 1:
        return s.choice(UPPER)
    vowel = s.below(3) == 0
    out = []
    for _ in range(n):
        out.append(s.choice(_VOWELS if vowel else _CONSONANTS))
        vowel = not vowel if s.below(6) else vowel
    return "".join(out)


def _letters_as_words(value: str, s: _Stream, keep_words: frozenset[str] = frozenset()) -> str:
    """Each run of letters becomes a synthetic word of the same length; digits become digits;
    punctuation and spaces stay; words in ``keep_words`` (ST, AVE, JR) are kept."""
    def repl(m: re.Match[str]) -> str:
        w = m.group()
        if w.isdigit():
            return "".join(s.choice(DIGITS) for _ in w)
        if w.upper() in keep_words:
            return w
        return _word(len(w), s)
    return re.sub(r"[A-Z]+|[0-9]+", repl, value)


def _fake_date(value: str, s: _Stream, today: _dt.date) -> str:
    """A different valid date in the past, near the real one (within 5 years); same layout
    (``YYYY-MM-DD``, ``CCYYMMDD`` or ``MMDDYY``).  An invalid date stays invalid."""
    layout, d = _parse_date_layout(value)
    if d is None:
        # keep it invalid (it is a reject under test); scramble the digits that are not
        # what makes it invalid by re-rolling until it is still not a date
        for _ in range(50):
            fake = _pattern(value, s)
            if _parse_date_layout(fake)[1] is None and fake != value:
                return fake
        return value.translate(str.maketrans(DIGITS, "0000000000"))
    lo = max(d.year - 5, 1941 if d.year >= 1941 else 1900)
    hi = min(d.year + 5, today.year - 1)
    if hi < lo:
        lo = hi
    for _ in range(50):
        year = lo + s.below(hi - lo + 1)
        month = 1 + s.below(12)
        day = 1 + s.below(calendar.monthrange(year, month)[1])
        fake_d = _dt.date(year, month, day)
        if fake_d != d and fake_d < today:
            break
    if layout == "iso":
        return fake_d.isoformat()
    if layout == "ccyymmdd":
        return fake_d.strftime("%Y%m%d")
    return fake_d.strftime("%m%d%y")


def _parse_date_layout(value: str) -> tuple[str, _dt.date | None]:
    try:
        if len(value) == 10 and value[4] == "-" and value[7] == "-":
            return "iso", _dt.date.fromisoformat(value)
        if len(value) == 8 and value.isdigit():
            return "ccyymmdd", _dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        if len(value) == 6 and value.isdigit():
            yy = int(value[4:])
            return "mmddyy", _dt.date(1900 + yy if yy > 40 else 2000 + yy, int(value[:2]),
                                      int(value[2:4]))
    except ValueError:
        pass
    return ("ccyymmdd" if len(value) == 8 else "other"), None


def _fake_ssn(value: str, s: _Stream) -> str:
    digits = [c for c in value if c.isdigit()]
    if len(digits) != 9:
        return _pattern(value, s)
    while True:
        area = 1 + s.below(899)
        if area != 666:
            break
    new = f"{area:03d}{1 + s.below(99):02d}{1 + s.below(9999):04d}"
    it = iter(new)
    return "".join(next(it) if c.isdigit() else c for c in value)


def _fake_vin(value: str, s: _Stream) -> str:
    if len(value) != 17:
        return _pattern(value, s, VIN_LETTERS)
    valid = vin_check_digit_ok(value)
    for _ in range(200):
        fake = _pattern(value, s, VIN_LETTERS)
        if valid:
            digit = _vin_digit(fake)
            fake = fake[:8] + digit + fake[9:]
            if (digit == "X") != (value[8] == "X"):
                continue  # keep the class of position 9 (digit / X) like the real one
        if vin_check_digit_ok(fake) == valid and fake != value:
            return fake
    return fake


def _vin_digit(vin: str) -> str:
    for d in "0123456789X":
        if vin_check_digit_ok(vin[:8] + d + vin[9:]):
            return d
    return vin[8]


def _fake_name_part(value: str, s: _Stream) -> str:
    return _letters_as_words(value, s)


def _fake_nic(value: str, s: _Stream) -> str:
    # the first letter is the NCIC file (W wanted, V vehicle, H protection order): keep it
    return value[:1] + _pattern(value[1:], s) if value else value


def _fake_mnu(value: str, s: _Stream) -> str:
    # "SS-123456789": the two-letter number type stays, the number changes
    if len(value) > 3 and value[2] == "-":
        return value[:3] + _pattern(value[3:], s)
    return _pattern(value, s)


#: category -> faker.  Categories are semantic (a name part is a name part wherever it is),
#: so the same real value gets the same fake in every field of that kind.
_FAKERS: dict[str, Callable[[str, _Stream, _dt.date], str]] = {
    "name": lambda v, s, t: _fake_name_part(v, s),
    "dob": _fake_date,
    "ssn": lambda v, s, t: _fake_ssn(v, s),
    "oln": lambda v, s, t: _pattern(v, s, keep="*"),
    "plate": lambda v, s, t: _pattern(v, s),
    "vin": lambda v, s, t: _fake_vin(v, s),
    "street": lambda v, s, t: _letters_as_words(v, s, _STREET_WORDS),
    "city": lambda v, s, t: _letters_as_words(v, s),
    "zip": lambda v, s, t: _pattern(v, s),
    "oca": lambda v, s, t: _pattern(v, s),
    "nic": lambda v, s, t: _fake_nic(v, s),
    "fcn": lambda v, s, t: _pattern(v, s),
    "fbi": lambda v, s, t: _pattern(v, s),
    "cii": lambda v, s, t: _pattern(v, s),
    "mnu": lambda v, s, t: _fake_mnu(v, s),
}

# Paths inside a Person / Vehicle / Case object and their category.
_PERSON_PATHS = (
    (("name", "last"), "name"), (("name", "first"), "name"), (("name", "middle"), "name"),
    (("dob",), "dob"), (("ssn",), "ssn"), (("fbi",), "fbi"), (("cii",), "cii"),
    (("mnu",), "mnu"), (("license", "number"), "oln"), (("address", "street"), "street"),
    (("address", "city"), "city"), (("address", "zip"), "zip"),
)
_VEHICLE_PATHS = ((("plate",), "plate"), (("vin",), "vin"))
_CASE_PATHS = ((("oca",), "oca"), (("nic",), "nic"), (("fcn",), "fcn"))

# Sensitive NCIC tags met in free text (echoes, unparsed lines) -> category.
_TAG_CATEGORY = {
    "NAM": "name", "DOB": "dob", "SOC": "ssn", "FBI": "fbi", "CII": "cii", "MNU": "mnu",
    "OLN": "oln", "LIC": "plate", "VIN": "vin", "OCA": "oca", "NIC": "nic", "FCN": "fcn",
    "AKA": "name", "PPN": "name",
}
# A tag starts a value after a separator, or right after Nlets' ``TXT`` body marker.
_TAGGED = re.compile(r"(?:(?<![A-Z0-9])|(?<=TXT))(" + "|".join(_TAG_CATEGORY) + r")/(.*?)"
                     r"(?=[.\s]+[A-Z0-9]{3}/|[\r\n]|$)", re.DOTALL)
#: ``fields`` tags whose value is a person's name (no model slot): scrubbed word by word.
_NAME_TAGS = frozenset({"NAM", "AKA", "PPN", "PNM"})
#: ``123-45-6789``, or nine digits standing alone (NCIC's own SOC layout): a 9-digit number in
#: free text is taken for an SSN, since scrubbing a ZIP+4 too costs nothing and missing an
#: SSN leaks one
_SSN_SHAPED = re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9])"
                         r"|(?<![A-Za-z0-9])[0-9]{9}(?![A-Za-z0-9])")

_FREE_TEXT_KEYS = ("text", "remarks", "attention")
_RECORD_TEXT_KEYS = ("remarks", "offense")


@cache
def _code_words() -> frozenset[str]:
    words: set[str] = set()
    for t in ("states", "sex", "race", "eyes", "hair", "skin", "plate_types", "colors",
              "vehicle_styles", "license_status", "registration_status"):
        try:
            words |= code_table(t).codes
        except (OSError, KeyError, ValueError):
            continue
    return frozenset(words)


def _pathify(path: str) -> str:
    return re.sub(r"\[\d+\]", "[*]", path)


@dataclass
class ScrubReport:
    """What was replaced, by canonical path (``records[*]`` for any record), never values."""

    replaced: Counter[str] = field(default_factory=Counter)
    free_text: Counter[str] = field(default_factory=Counter)
    raw_reencoded: int = 0
    raw_in_place: int = 0
    raw_dropped: list[str] = field(default_factory=list)
    raw_text_scrubbed: list[str] = field(default_factory=list)
    canonical_adjusted: list[str] = field(default_factory=list)
    events: int = 0

    def render(self) -> str:
        lines = [f"events: {self.events}", "replaced (structured fields):"]
        lines += [f"  {p}: {n}" for p, n in sorted(self.replaced.items())] or ["  (none)"]
        lines.append("replaced in free text:")
        lines += [f"  {p}: {n}" for p, n in sorted(self.free_text.items())] or ["  (none)"]
        lines.append(f"raw text frames scrubbed in place (layout kept, decode checked): "
                     f"{self.raw_in_place}")
        lines.append(f"raw frames re-encoded from the scrubbed message: {self.raw_reencoded}")
        if self.canonical_adjusted:
            lines.append("canonical message replaced by the decode of the re-encoded raw "
                         "(codec normalises): " + ", ".join(self.canonical_adjusted))
        if self.raw_text_scrubbed:
            lines.append("undecodable text frames scrubbed by tag and known values: "
                         + ", ".join(self.raw_text_scrubbed))
        if self.raw_dropped:
            lines.append("raw DROPPED (could not be re-encoded; message kept):")
            lines += [f"  {d}" for d in self.raw_dropped]
        return "\n".join(lines)


class Scrubber:
    """One secret key, one consistent mapping (real -> fake) per category.

    Typical use: :func:`scrub_capture`.  To keep a data set (e.g. a simulator's) consistent
    with scrubbed captures, pass its values through the same scrubber (:meth:`fake`), and call
    :meth:`learn` on every message before scrubbing free text, so that names seen only in a
    later message are also replaced in earlier free text.
    """

    def __init__(self, key: bytes, *, today: _dt.date | None = None) -> None:
        if len(key) < 16:
            raise ConfigError("scrub key must be at least 16 bytes")
        self._key = key
        self._today = today or _dt.date.today()
        self._map: dict[tuple[str, str], str] = {}
        self._known: dict[str, str] = {}
        self._known_re: re.Pattern[str] | None = None

    # ---- single values ---------------------------------------------------------------
    def fake(self, category: str, value: str) -> str:
        """The fake for one real value (same for the same key, category and value)."""
        if not value:
            return value
        cached = self._map.get((category, value))
        if cached is not None:
            return cached
        if category == "dob":
            fake = self._fake_dob(value)
            self._map[(category, value)] = fake
            return fake
        faker = _FAKERS[category]
        fake = value
        for attempt in range(20):
            stream = _Stream(self._key, f"{category}\x00{value}\x00{attempt}")
            fake = faker(value, stream, self._today)
            if fake != value or not any(c.isalnum() for c in value):
                break
        self._map[(category, value)] = fake
        self._remember(category, value, fake)
        return fake

    def _fake_dob(self, value: str) -> str:
        """Dates are keyed by the calendar date, not its layout, so ``1975-10-12`` in a field
        and ``19751012`` in an echo get the same fake date (each in its own layout)."""
        layout, d = _parse_date_layout(value)
        if d is None:
            fake = _fake_date(value, _Stream(self._key, f"dob\x00{value}"), self._today)
            if len(value) >= 6:
                self._add_known(value, fake)  # e.g. quoted back in a decode error
            return fake
        iso = d.isoformat()
        fake_iso = self._map.get(("dob", iso))
        if fake_iso is None:
            fake_iso = _fake_date(iso, _Stream(self._key, f"dob\x00{iso}"), self._today)
            self._map[("dob", iso)] = fake_iso
            self._remember("dob", iso, fake_iso)
        fd = _dt.date.fromisoformat(fake_iso)
        if layout == "ccyymmdd":
            return fd.strftime("%Y%m%d")
        if layout == "mmddyy":
            return fd.strftime("%m%d%y")
        return fake_iso

    def _remember(self, category: str, value: str, fake: str) -> None:
        if category == "dob":
            _, d = _parse_date_layout(value)
            _, fd = _parse_date_layout(fake)
            if d is not None and fd is not None:
                for fmt in ("%Y-%m-%d", "%Y%m%d", "%m/%d/%Y", "%m%d%y"):
                    self._add_known(d.strftime(fmt), fd.strftime(fmt))
            return
        if len(value) < 3 or value in _code_words():
            return
        if value.isdigit() and len(value) < 5:
            return
        self._add_known(value, fake)
        if category == "ssn" and len(value) == 9 and value.isdigit():
            self._add_known(f"{value[:3]}-{value[3:5]}-{value[5:]}",
                            f"{fake[:3]}-{fake[3:5]}-{fake[5:]}")

    def _add_known(self, real: str, fake: str) -> None:
        if real != fake and self._known.get(real) != fake:
            self._known[real] = fake
            self._known_re = None

    def fake_name(self, formatted: str) -> str:
        """``LAST, FIRST MIDDLE`` wire form, each word faked as a name part."""
        return re.sub(r"[A-Z][A-Z'\-]*", lambda m: self.fake("name", m.group())
                      if m.group().rstrip(".") not in _SUFFIXES else m.group(), formatted)

    # ---- free text -------------------------------------------------------------------
    def scrub_text(self, text: str) -> tuple[str, int]:
        """Free text with sensitive tagged values, known real values and SSN-shaped numbers
        replaced; returns the new text and how many replacements were made.

        All three passes look at the ORIGINAL text and the first claim on a span wins, so a
        fake is never scrubbed a second time (which would break consistency)."""
        spans: list[tuple[int, int, str]] = []

        def free(a: int, b: int) -> bool:
            return all(b <= s0 or a >= s1 for s0, s1, _ in spans)

        for m in _TAGGED.finditer(text):
            tag, value = m.group(1), m.group(2)
            if not value:
                continue
            cat = _TAG_CATEGORY[tag]
            new = self.fake_name(value) if cat == "name" else self.fake(cat, value)
            if new != value:
                spans.append((m.start(2), m.end(2), new))
        if self._known:
            if self._known_re is None:
                alts = sorted(self._known, key=len, reverse=True)
                self._known_re = re.compile(
                    r"(?<![A-Z0-9])(?:" + "|".join(re.escape(a) for a in alts) + r")(?![A-Z0-9])")
            for m in self._known_re.finditer(text):
                if free(m.start(), m.end()):
                    spans.append((m.start(), m.end(), self._known[m.group()]))
        for m in _SSN_SHAPED.finditer(text):
            if free(m.start(), m.end()):
                spans.append((m.start(), m.end(), self.fake("ssn", m.group())))
        if not spans:
            return text, 0
        spans.sort()
        out, pos = [], 0
        for a, b, new in spans:
            out.append(text[pos:a])
            out.append(new)
            pos = b
        out.append(text[pos:])
        return "".join(out), len(spans)

    # ---- canonical messages ------------------------------------------------------------
    def _scrub_obj(self, obj: dict[str, Any] | None, paths: tuple[tuple[tuple[str, ...], str],
                   ...], prefix: str, report: ScrubReport | None) -> None:
        if not obj:
            return
        for steps, cat in paths:
            parent: Any = obj
            for step in steps[:-1]:
                parent = parent.get(step) if isinstance(parent, dict) else None
            if not isinstance(parent, dict):
                continue
            value = parent.get(steps[-1])
            if isinstance(value, str) and value:
                parent[steps[-1]] = self.fake(cat, value)
                if report is not None:
                    report.replaced[_pathify(prefix + ".".join(steps))] += 1

    def _holders(self, msg: dict[str, Any]) -> Iterator[tuple[dict[str, Any] | None, str,
                                                              str]]:
        yield msg.get("person"), "person", "person"
        yield msg.get("vehicle"), "vehicle", "vehicle"
        yield msg.get("case"), "case", "case"
        for i, rec in enumerate(msg.get("records") or []):
            if not isinstance(rec, dict):
                continue
            for key, kind in (("person", "person"), ("owner", "person"), ("vehicle", "vehicle"),
                              ("case", "case")):
                yield rec.get(key), kind, f"records[{i}].{key}"

    def learn(self, msg: dict[str, Any]) -> None:
        """Map every structured value of a message (so free text anywhere can use it)."""
        self.scrub_structured(_copy(msg), None)

    def scrub_structured(self, msg: dict[str, Any], report: ScrubReport | None) -> None:
        """Replace the structured sensitive fields of a canonical JSON dict in place."""
        table = {"person": _PERSON_PATHS, "vehicle": _VEHICLE_PATHS, "case": _CASE_PATHS}
        for obj, kind, prefix in self._holders(msg):
            self._scrub_obj(obj, table[kind], prefix + ".", report)

    def scrub_free_text(self, msg: dict[str, Any], report: ScrubReport | None) -> None:
        def do(holder: dict[str, Any], key: str, path: str) -> None:
            value = holder.get(key)
            if isinstance(value, str) and value:
                new, n = self.scrub_text(value)
                if n:
                    holder[key] = new
                    if report is not None:
                        report.free_text[_pathify(path)] += n

        for key in _FREE_TEXT_KEYS:
            do(msg, key, key)
        if isinstance(msg.get("error"), dict):
            do(msg["error"], "echo", "error.echo")
            do(msg["error"], "reason", "error.reason")
        def do_fields(holder: dict[str, Any], prefix: str) -> None:
            for k in list(holder):
                value = holder[k]
                if k in _NAME_TAGS and isinstance(value, str) and value:
                    # a name without a slot (protected person, alias): every word is a name
                    new = self.fake_name(value)
                    if new != value:
                        holder[k] = new
                        if report is not None:
                            report.replaced[_pathify(f"{prefix}.{k}")] += 1
                else:
                    do(holder, k, f"{prefix}.{k}")

        do_fields(msg.get("fields") or {}, "fields")
        for i, rec in enumerate(msg.get("records") or []):
            for key in _RECORD_TEXT_KEYS:
                do(rec, key, f"records[{i}].{key}")
            do_fields(rec.get("fields") or {}, f"records[{i}].fields")

    def scrub_message(self, msg: dict[str, Any], report: ScrubReport | None = None
                      ) -> dict[str, Any]:
        """A scrubbed copy of a canonical JSON dict (structured fields, then free text)."""
        out: dict[str, Any] = _copy(msg)
        self.scrub_structured(out, report)
        self.scrub_free_text(out, report)
        return out


def _copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj


def open_codec(spec: str) -> Any:
    """A codec from a capture's ``codec`` string: ``name`` or ``name?option=value&...``
    (e.g. ``ncic?encoding=cp037``)."""
    from clets.codecs import get_codec

    name, _, query = spec.partition("?")
    options: dict[str, object] = {}
    for part in filter(None, query.split("&")):
        k, _, v = part.partition("=")
        options[k] = v
    return get_codec(name, **options)


def _is_text(raw: bytes) -> bool:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t\x02\x03" for c in text)


def scrub_capture(capture: Any, key: bytes, *, today: _dt.date | None = None,
                  scrubber: Scrubber | None = None) -> tuple[Any, ScrubReport]:
    """A scrubbed copy of a :class:`~clets.testing.capture.Capture` and its report."""
    from clets.testing.capture import Capture, CaptureEvent, CaptureHeader

    assert isinstance(capture, Capture)
    sc = scrubber or Scrubber(key, today=today)
    report = ScrubReport()
    for ev in capture.events:
        if ev.message is not None:
            sc.learn(ev.message)
    codecs: dict[str, Any] = {}
    events: list[CaptureEvent] = []
    for n, ev in enumerate(capture.events, start=1):
        report.events += 1
        where = f"event {n} ({ev.link} {ev.direction})"
        new = CaptureEvent(t=ev.t, link=ev.link, direction=ev.direction, raw=None, message=None,
                           decode_error=None, kind=ev.kind, conn=ev.conn, peer=ev.peer,
                           framing=ev.framing, codec=ev.codec, note=ev.note)
        if ev.message is not None:
            new.message = sc.scrub_message(ev.message, report)
            if ev.raw is not None:
                try:
                    if not ev.codec:
                        raise ConfigError("no codec recorded for this frame")
                    codec = codecs.get(ev.codec) or codecs.setdefault(ev.codec,
                                                                      open_codec(ev.codec))
                    kept = _same_layout(sc, codec, ev.raw, new.message)
                    if kept is not None:
                        # text frame: substituted in place, byte layout as captured (an echo
                        # of it by the peer then matches on replay)
                        new.raw = kept
                        report.raw_in_place += 1
                    else:
                        new.raw = codec.encode(from_dict(new.message))
                        back = to_dict(codec.decode(new.raw))
                        report.raw_reencoded += 1
                        if back != new.message:
                            new.message = back
                            report.canonical_adjusted.append(where)
                except CletsError as exc:
                    new.raw = None
                    new.note = _join_note(ev.note, "raw dropped by scrub: cannot re-encode")
                    report.raw_dropped.append(f"{where}: {sc.scrub_text(exc.one_line())[0]}")
        elif ev.raw is not None:
            if _is_text(ev.raw):
                text, _n = sc.scrub_text(ev.raw.decode("ascii"))
                new.raw = text.encode("ascii")
                report.raw_text_scrubbed.append(where)
            else:
                new.note = _join_note(ev.note, "raw dropped by scrub: undecodable binary")
                report.raw_dropped.append(f"{where}: undecodable binary frame")
        if ev.decode_error is not None:
            # after the raw frame: its tagged values are now known, and error texts quote them
            new.decode_error = sc.scrub_text(ev.decode_error)[0]
        events.append(new)
    extra = dict(capture.header.extra)
    extra["scrubbed"] = {"key_id": hashlib.sha256(b"clets-scrub-key-id" + sc._key).hexdigest()[:16],
                         "tool": "clets scrub"}
    header = CaptureHeader(created=capture.header.created, links=capture.header.links,
                           notes=capture.header.notes, version=capture.header.version,
                           extra=extra)
    return Capture(header, events), report


def _same_layout(sc: Scrubber, codec: Any, raw: bytes, message: dict[str, Any]
                 ) -> bytes | None:
    """The raw text frame with its real values substituted in place, if that decodes to
    exactly the scrubbed message (else None: the caller re-encodes)."""
    if not _is_text(raw):
        return None
    candidate = sc.scrub_text(raw.decode("ascii"))[0].encode("ascii")
    try:
        return candidate if to_dict(codec.decode(candidate)) == message else None
    except CletsError:
        return None


def _join_note(old: str | None, new: str) -> str:
    return f"{old}; {new}" if old else new


# --------------------------------------------------------------------------- sim data sets

def scrub_dataset(ds: Any, key: bytes | Scrubber) -> Any:
    """Scrub a simulator data set (:class:`clets.sim.Dataset`) in place, every sensitive value
    replaced exactly as ``clets scrub`` replaces it with this key, so that the requests of a
    scrubbed capture find the scrubbed records (``clets sim --scrub-key``).  Returns ``ds``."""
    sc = key if isinstance(key, Scrubber) else Scrubber(key)

    def f(cat: str, v: str | None) -> str | None:
        return sc.fake(cat, v) if v else v

    for p in ds.people:
        p.last, p.first, p.middle = f("name", p.last), f("name", p.first), f("name", p.middle)
        p.dob, p.ssn = f("dob", p.dob), f("ssn", p.ssn)
        p.street, p.city, p.zip = f("street", p.street), f("city", p.city), f("zip", p.zip)
        p.fbi, p.cii = f("fbi", p.fbi), f("cii", p.cii)
    for v in ds.vehicles:
        v.plate, v.vin = f("plate", v.plate), f("vin", v.vin)
    for lic in ds.licenses:
        lic.number = f("oln", lic.number)
    for w in ds.warrants:
        w.nic, w.oca = f("nic", w.nic), f("oca", w.oca)
    for o in ds.protection_orders:
        o.nic, o.oca, o.fcn = f("nic", o.nic), f("oca", o.oca), f("fcn", o.fcn)
        o.protected_name = sc.fake_name(o.protected_name)
    for t in ds.stolen_vehicles:
        t.nic, t.oca = f("nic", t.nic), f("oca", t.oca)
    for rows in (ds.warrants, ds.protection_orders, ds.stolen_vehicles):
        for row in rows:
            if row.remarks:
                row.remarks = sc.scrub_text(row.remarks)[0]
    ds.reindex()
    return ds


def scrubbed_dataset(key: bytes, seed: int | None = None) -> Any:
    """The simulator's generated data set (``seed``, default the shipped one), scrubbed with
    ``key`` (:func:`scrub_dataset`)."""
    from clets.sim import DEFAULT_SEED, generate

    return scrub_dataset(generate(DEFAULT_SEED if seed is None else seed), key)

"""``nlets``: Nlets legacy text (spec/formats.md §2), both header forms.

Input form (what a sender writes)::

    MKE.SENDERORI.DEST1,DEST2.[*CONTROL.]TXT
    <body>

Output form (what a receiver gets)::

    MKE.ORIGINORI
    HH:MM MM/DD/YYYY NNNNN              -> sent_at, sequence
    HH:MM MM/DD/YYYY NNNNN DESTORI      -> fields["ODT"], fields["OSN"], destinations
    [*CONTROL.]TXT
    <body>

The body is, by its first line: free text for the keys in ``responses.toml``
``[nlets] free_text_keys`` (AM, SM, ...); an error (``.NN. REASON`` + echo); a response (a
status line from the profile, or ``MKE/`` record blocks, as in ``ncic``); field-tagged text
(``TAG/value.TAG/value``, CR/LF ignored, free text after the last structured field ->
``text``); or else free text.  Encode writes the output form when ``sent_at`` or ``sequence``
is set, else the input form.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterator
from typing import Any

from clets.errors import (
    INVALID_DESTINATION,
    INVALID_FIELD,
    DecodeError,
    EncodeError,
    ValidationError,
)
from clets.model import Message, apply_edits, replace
from clets.model.edits import header_ok

from .ncic import split_mke
from .tagged import (
    CONTROL_RE,
    ERROR_LINE,
    LINE_FIELDS,
    MKE_RE,
    REQ_SEP,
    TAG_AT,
    TOKEN_RE,
    TextCodec,
    body_start,
    decode_bytes,
    normalize,
    relocate,
    split_stream,
)

__all__ = ["NletsCodec"]

_STAMP = re.compile(r"([0-9]{2}):([0-9]{2}) ([0-9]{2})/([0-9]{2})/([0-9]{4}) ([0-9]{5})")
_ISO_MINUTE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})")
_ORI_TOKEN = re.compile(r"[^.\n]*")
_SPACED = re.compile(r" [A-Z0-9]{3}/")
_DEST_DOT = re.compile(r"([A-Z0-9]{2,9})\.(?=\*|TXT)")
#: pseudo-tags in ``fields`` for line 3 of the output header (time and number)
ODT, OSN = "ODT", "OSN"


def _stamp(line: str, base: int, fmt: str) -> tuple[str, str, str]:
    """``HH:MM MM/DD/YYYY NNNNN[ rest]`` -> (ISO minute, number, rest)."""
    m = _STAMP.match(line)
    if m is None:
        raise DecodeError("expected 'HH:MM MM/DD/YYYY NNNNN'", format=fmt, field="header",
                          offset=base)
    hh, mi, mo, dd, yy, num = m.groups()
    try:
        when = _dt.datetime(int(yy), int(mo), int(dd), int(hh), int(mi))
    except ValueError:
        raise DecodeError("not a real date and time", format=fmt, field="header",
                          offset=base) from None
    return when.strftime("%Y-%m-%dT%H:%M"), num, line[m.end():]


def _unstamp(iso: str | None, number: str, field: str, fmt: str) -> str:
    m = _ISO_MINUTE.fullmatch(iso or "")
    if m is None:
        raise EncodeError("expected YYYY-MM-DDTHH:MM", format=fmt, field=field)
    y, mo, d, h, mi = m.groups()
    return f"{h}:{mi} {mo}/{d}/{y} {number}"


class NletsCodec(TextCodec):
    """Nlets legacy text; ``encoding`` is ``ascii`` or ``cp037``/``cp500`` (EBCDIC)."""

    name = "nlets"
    short_dates = True  # model.md: "Nlets also accepts MMDDYY on input"
    description = "Nlets legacy text (input MKE.ORI.DEST.*CTL.TXT and output header forms)"

    # ------------------------------------------------------------------ decode

    def decode_text(self, text: str, base: int = 0) -> Message:
        if not text.strip():
            raise DecodeError("empty message", format=self.name, offset=base)
        s = normalize(text)
        # with edits, values are checked as they are parsed (see NcicCodec.decode_text)
        bad: list[Any] | None = [] if self.edits else None
        try:
            msg, offsets = self._decode(s, bad)
            if bad is not None:
                self._edits(msg, offsets, bad)
        except DecodeError as exc:
            relocate(exc, text, base)
            raise
        return msg

    def _decode(self, s: str, bad: list[Any] | None = None
                ) -> tuple[Message, dict[str, int]]:
        end = split_mke(s, self.name)
        p = end + 1
        m = _ORI_TOKEN.match(s, p)
        assert m is not None
        ori = m.group()
        if ori.endswith(" ") and s.startswith("\n", m.end()):
            ori = ori.rstrip(" ")  # the output header's first line, with trailing blanks
        if not ori or "/" in ori:
            raise DecodeError("missing sender ORI", format=self.name, field="ORI", offset=p)
        if TOKEN_RE.fullmatch(ori) is None:
            # an ORI that breaks the pattern is a reject, code 21 (formats.md section 1)
            raise DecodeError("sender ORI must be capital letters and digits", format=self.name,
                              field="ORI", offset=p, code=INVALID_FIELD, data=ori)
        msg = Message(format=self.name, mke=s[:end], origin=ori)
        offsets: dict[str, int] = {"MKE": 0, "ORI": p}
        q = m.end()
        if q < len(s) and s[q] == "." and not s.startswith("\n", q + 1):
            body_at = self._input_header(s, q + 1, msg, offsets)
        else:
            if s.startswith(".\n", q):  # ``GVR.NL0000000.`` (destination on the TXT line)
                q += 1
            body_at = self._output_header(s, q, msg, offsets)
        start = body_start(s, body_at)  # blank lines after TXT are not the body
        self._body(msg, s[start:], start, offsets, bad)
        return msg, offsets

    def _input_header(self, s: str, p: int, msg: Message, offsets: dict[str, int]) -> int:
        dot = s.find(".", p)
        dests = s[p:dot] if dot >= 0 else s[p:]
        if dot < 0 or not dests:
            raise DecodeError("missing destination (MKE.ORI.DEST.TXT)", format=self.name,
                              field="destinations", offset=p)
        pos = p
        for i, dest in enumerate(dests.split(",")):
            if TOKEN_RE.fullmatch(dest) is None:
                raise DecodeError("destination must be letters and digits", format=self.name,
                                  field=f"destinations[{i}]", offset=pos)
            offsets[f"destinations[{i}]"] = pos
            msg.destinations.append(dest)
            pos += len(dest) + 1
        q = dot + 1
        if s.startswith("*", q):
            cut = s.find(".", q)
            control = s[q + 1:cut] if cut >= 0 else ""
            if CONTROL_RE.fullmatch(control) is None:
                raise DecodeError("control field is 1-10 characters and ends with '.'",
                                  format=self.name, field="control", offset=q)
            msg.control = control
            q = cut + 1
        if not s.startswith("TXT", q):
            raise DecodeError("expected TXT", format=self.name, field="TXT", offset=q)
        return q + 3

    def _output_header(self, s: str, q: int, msg: Message, offsets: dict[str, int]) -> int:
        if q >= len(s):
            raise DecodeError("expected '.' (input form) or a line break (output form)",
                              format=self.name, offset=q)
        lines = s[q + 1:].split("\n", 3)
        if len(lines) < 3:
            raise DecodeError("output header needs two time lines and TXT", format=self.name,
                              field="header", offset=len(s))
        at2 = q + 1
        at3 = at2 + len(lines[0]) + 1
        at4 = at3 + len(lines[1]) + 1
        # trailing blanks on a header line are not text (copies of printed output keep them)
        sent, seq, rest = _stamp(lines[0].rstrip(" "), at2, self.name)
        if rest:
            raise DecodeError("unexpected text after the sequence number", format=self.name,
                              field="header", offset=at2 + len(lines[0]) - len(rest))
        msg.sent_at, msg.sequence = sent, int(seq)
        odt, osn, rest = _stamp(lines[1].rstrip(" "), at3, self.name)
        msg.fields[ODT], msg.fields[OSN] = odt, osn
        if rest:
            dest = rest.strip(" ")
            if not rest.startswith(" ") or TOKEN_RE.fullmatch(dest) is None:
                raise DecodeError("expected ' DESTORI' after the sequence number",
                                  format=self.name, field="destinations",
                                  offset=at3 + len(lines[1]) - len(rest))
            msg.destinations.append(dest)
            offsets["destinations[0]"] = at3 + len(lines[1]) - len(dest)
        line4 = lines[2]
        k = 0
        if not msg.destinations:
            # the destination on the TXT line, ended by a period (``AZNLETS46.TXT``), as Nlets
            # prints the output header of some services (GVR)
            dm = _DEST_DOT.match(line4)
            if dm is not None:
                msg.destinations.append(dm.group(1))
                offsets["destinations[0]"] = at4
                k = dm.end()
        if line4.startswith("*", k):
            cut = line4.find(".", k)
            control = line4[k + 1:cut] if cut >= 0 else ""
            if CONTROL_RE.fullmatch(control) is None:
                raise DecodeError("control field is 1-10 characters and ends with '.'",
                                  format=self.name, field="control", offset=at4 + k)
            msg.control = control
            k = cut + 1
        if not line4.startswith("TXT", k):
            raise DecodeError("expected TXT", format=self.name, field="TXT", offset=at4 + k)
        return at4 + k + 3

    def _kind(self, mke: str, body: str) -> str:
        """What a body is: ``text``, ``response`` or ``tagged`` (see the module doc)."""
        if mke in self.profile.free_text_keys:
            return "text"
        first = body.split("\n", 1)[0]
        if ERROR_LINE.match(first) or first.startswith("MKE/"):
            return "response"
        fm = LINE_FIELDS.search(first)
        head = (first if fm is None else first[:fm.start()]).strip()
        if self.profile.status_of(head) is not None or "\nMKE/" in body:
            return "response"
        if TAG_AT.match(body):
            # fields separated by spaces, not periods, on the first line: a response's
            # record line (``LIC/ABC123 EID/1234567890 DAT/20120612``), read as such
            if _SPACED.search(first) and not REQ_SEP.search(first):
                return "response"
            return "tagged"
        return "text"

    def _body(self, msg: Message, body: str, at: int, offsets: dict[str, int],
              bad: list[Any] | None = None) -> None:
        if not body:
            return
        kind = self._kind(msg.mke, body)
        seen: dict[str, int] = {}
        if kind == "text":
            msg.text = body.rstrip("\n")  # blank lines that end a message are not text
        elif kind == "response":
            self.tagged.response_body(msg, body, at, seen, offsets, bad)
        else:
            flat = normalize(body, join_lines=True)
            try:
                msg.text = self.tagged.inquiry_fields(flat, 0, msg, seen, tail_text=True,
                                                      bad=bad)
            except DecodeError as exc:
                if exc.offset is not None:
                    relocate(exc, body, at, join_lines=True)
                raise
            if len(flat) != len(body):  # offsets of edits point into the joined body
                seen = {k: at + _orig(body, v) for k, v in seen.items()}
            else:
                seen = {k: at + v for k, v in seen.items()}
        for k, v in seen.items():
            offsets.setdefault(k, v)

    def _edits(self, msg: Message, offsets: dict[str, int], bad: list[Any] | None = None
               ) -> None:
        """Nlets' destination rule, then the field edits.

        ``bad`` (from a guarded decode): ``apply_edits`` runs only if a guard fired or the
        header would fail; without it (``None``) it always runs.
        """
        dests = msg.destinations
        if dests:
            short = all(len(d) == 2 for d in dests)
            full = all(len(d) == 9 for d in dests)
            if not ((short and len(dests) <= 5) or (full and len(dests) <= 3)):
                exc = ValidationError("up to five 2-letter codes or up to three ORIs",
                                      field="destinations", value=",".join(dests),
                                      code=INVALID_DESTINATION)
                raise self.tagged.locate(exc, {"destinations": offsets.get("destinations[0]",
                                                                          0)})
        if bad is not None and not bad and header_ok(msg):
            return
        try:
            apply_edits(msg, dictionary=self.dictionary)
        except ValidationError as exc:
            raise self.tagged.locate(exc, offsets) from None

    def decode_stream(self, data: bytes) -> Iterator[Message]:
        """Messages separated by blank lines: a header line after a blank line starts one."""
        text = decode_bytes(data, self.encoding, self.name)
        norm = normalize(text)

        def starts(line: str, current: list[str]) -> bool:
            return not current[-1].strip() and _looks_like_header(line)

        for start, chunk in split_stream(norm, starts):
            try:
                yield self.decode_text(chunk, start)
            except DecodeError as exc:
                relocate(exc, text, 0)
                raise

    # ------------------------------------------------------------------ encode

    def encode_text(self, msg: Message) -> str:
        mke = msg.mke
        if not isinstance(mke, str) or MKE_RE.fullmatch(mke) is None:
            raise EncodeError("message key must be 1-4 of A-Z 0-9 $ -", format=self.name,
                              field="MKE")
        if msg.origin is None or TOKEN_RE.fullmatch(msg.origin) is None:
            raise EncodeError("Nlets messages need an origin ORI", format=self.name,
                              field="ORI")
        for i, d in enumerate(msg.destinations):
            if TOKEN_RE.fullmatch(d) is None:
                raise EncodeError("destination must be letters and digits", format=self.name,
                                  field=f"destinations[{i}]")
        control = ""
        if msg.control:
            control = f"*{self.control_text(msg.control)}."
        output = msg.sent_at is not None or msg.sequence is not None
        body = self._encode_body(msg, frozenset({ODT, OSN}) if output else frozenset())
        if output:
            if msg.sequence is None or not 0 <= msg.sequence <= 99999:
                raise EncodeError("output form needs a sequence 0-99999", format=self.name,
                                  field="sequence")
            if len(msg.destinations) > 1:
                raise EncodeError("output form has one destination", format=self.name,
                                  field="destinations")
            seq = f"{msg.sequence:05d}"
            line2 = _unstamp(msg.sent_at, seq, "sent_at", self.name)
            osn = msg.fields.get(OSN, seq)
            if not (len(osn) == 5 and osn.isdigit()):
                raise EncodeError("OSN is a 5-digit number", format=self.name, field=OSN)
            line3 = _unstamp(msg.fields.get(ODT, msg.sent_at), osn, ODT, self.name)
            if mke in self.profile.dest_on_txt and msg.destinations:
                # as Nlets prints it for these services: ``GVR.NL0000000.`` ... ``DEST.TXT``
                head = (f"{mke}.{msg.origin}.\n{line2}\n{line3}\n"
                        f"{msg.destinations[0]}.{control}TXT")
            else:
                if msg.destinations:
                    line3 += " " + msg.destinations[0]
                head = f"{mke}.{msg.origin}\n{line2}\n{line3}\n{control}TXT"
        else:
            if not msg.destinations:
                raise EncodeError("input form needs a destination", format=self.name,
                                  field="destinations")
            head = f"{mke}.{msg.origin}.{','.join(msg.destinations)}.{control}TXT"
        return f"{head}\n{body}" if body else head

    def _encode_body(self, msg: Message, skip: frozenset[str]) -> str:
        t = self.tagged
        if msg.mke in self.profile.free_text_keys:
            if (t.emit(msg, msg.mke, "", skip) or msg.records or msg.error is not None
                    or msg.status is not None):
                raise EncodeError(f"{msg.mke} carries free text only", format=self.name,
                                  field="text")
            return self._plain_text(msg.text, msg.mke)
        if msg.error is not None or msg.status is not None or msg.records:
            lines = t.encode_response(_without(msg, skip))
            if lines and not lines[0]:
                # an empty status line (no text, no echoed fields, a first record without
                # MKE/) is a blank line after TXT, which the decoder skips: the record would
                # read back as the status line's echo (fuzz), as in ncic-lenient's headless form
                raise EncodeError("an Nlets response whose first record has no record type "
                                  "needs a status line (text or echoed fields)",
                                  format=self.name, field="text")
            body = "\n".join(lines)
            if self._kind(msg.mke, body) != "response":
                raise EncodeError("an Nlets response body must start with a status line, "
                                  "MKE/ or .NN. (set text or a record type)", format=self.name,
                                  field="text")
            return body
        pairs = t.emit(msg, msg.mke, "", skip)
        if pairs and self._kind(msg.mke, pairs[0][0] + "/") != "tagged":
            raise EncodeError("MKE is not a field tag", format=self.name, field="MKE")
        if not pairs:
            text = self._plain_text(msg.text, msg.mke)
            if text and self._kind(msg.mke, text) != "text":
                raise EncodeError("text would read as fields or a response", format=self.name,
                                  field="text")
            return text
        body = t.join_inquiry(pairs, msg.mke)
        last_tag, last_value = pairs[-1]
        structured = not t.free_in(last_tag, msg.mke)
        if structured and ". " in last_value:
            raise EncodeError("the last field's value holds '. ' (reads as free text)",
                              format=self.name, field=last_tag)
        if msg.text:
            text = msg.text
            if (not structured or "\n" in text or text != text.strip()
                    or REQ_SEP.search(text)):
                raise EncodeError("free text after the fields needs a structured last field "
                                  "and one line without '.TAG/'", format=self.name,
                                  field="text")
            body = f"{body}. {text}"
        elif body.endswith("."):
            raise EncodeError("message would end with '.'", format=self.name,
                              field=last_tag)
        if self._kind(msg.mke, body) != "tagged":
            # one line of fields with ' TAG/' in it and no '.TAG/' (a value or the free text
            # holds ' NAM/...'): a decoder takes it for a response's record line
            raise EncodeError("the fields would read as a response record line (' TAG/' in "
                              "a value, no '.TAG/' separator)", format=self.name,
                              field=last_tag if not msg.text else "text")
        return body

    def _plain_text(self, text: str | None, mke: str) -> str:
        if not text:
            return ""
        if body_start(text) or text != text.rstrip("\n"):
            # the decoder skips blank lines (empty or spaces only) before the body
            raise EncodeError("text may not start with a blank line or end with a line break",
                              format=self.name, field="text")
        return text


def _without(msg: Message, skip: frozenset[str]) -> Message:
    if not skip or not any(k in msg.fields for k in skip):
        return msg
    return replace(msg, fields={k: v for k, v in msg.fields.items() if k not in skip})


def _orig(body: str, k: int) -> int:
    from .tagged import original_offset

    return original_offset(body, k, join_lines=True)


def _looks_like_header(line: str) -> bool:
    end = line.find(".", 2 if line.startswith("$.") else 0)
    if end < 0 or MKE_RE.fullmatch(line, 0, end) is None:
        return False
    ori = re.split(r"[.]", line[end + 1:], maxsplit=1)[0]
    return len(ori) == 9 and TOKEN_RE.fullmatch(ori) is not None

"""``ncic``: NCIC field-tagged text (spec/formats.md §1).

Two layouts, chosen by the message key (``responses.toml``):

* inquiry/entry: ``MKE.ORI.TAG/value.TAG/value`` -- one logical line; CR, LF and DEL anywhere
  are ignored (teletype wraps), only ``.`` + ``TAG/`` ends a value (or a line break + ``TAG/``:
  a line that starts with a tag starts a field), never a trailing ``.``;
* response (``QWR``, ``QVR``, ... any inquiry key + ``R``, unsolicited ``$.`` keys)::

      <RMKE>.<destination ORI>.[*<control>.]
      <status line: text, then echoed TAG/value fields>
      <blank line>
      MKE/<record type>[ - CAUTION]
      TAG/value TAG/value ...

Tags bind to the canonical model through the ONE field dictionary; a tag with no slot on its
target (Message or Record) lands in ``fields`` in wire order, so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from clets.errors import INVALID_FIELD, DecodeError, EncodeError, ValidationError
from clets.model import Message, apply_edits
from clets.model.edits import header_ok

from .tagged import (
    CONTROL_RE,
    MKE_RE,
    POS_KEY,
    TOKEN_RE,
    TextCodec,
    body_start,
    decode_bytes,
    normalize,
    relocate,
    split_stream,
)

__all__ = ["NcicCodec"]

_CONTROL_CHARS = re.compile(r"[\r\n\x7f\x85]")
#: NCIC's transaction header (1N01 NCIC 2000, 1L01 legacy, 2L01 III, 6L01 NICS, TN01/TL01
#: test; domain.md 1.1) and up to 19 characters of the sender's own, before the message key
_NCIC_HEADER = re.compile(r"([0-9T][A-Z][0-9]{2}[A-Z0-9]{0,19})\.(?=\$?\.?[A-Z0-9\-]{1,4}\.)")
_HEADER_FIRST = frozenset("0123456789T")
#: key of ``Message.fields`` holding that header
HDR_KEY = "HDR"


def split_mke(text: str, fmt: str) -> int:
    """Index of the ``.`` that ends the message key (``$.L`` keys hold a dot)."""
    start = 2 if text.startswith("$.") else 0
    end = text.find(".", start)
    line_end = text.find("\n")
    if end < 0 or (0 <= line_end < end):
        raise DecodeError("missing ORI (expected MKE.ORI)", format=fmt, field="ORI",
                          offset=len(text) if end < 0 and line_end < 0 else max(end, line_end))
    if MKE_RE.fullmatch(text, 0, end) is None:
        raise DecodeError("message key must be 1-4 of A-Z 0-9 $ - (or $.X)", format=fmt,
                          field="MKE", offset=0)
    return end


class NcicCodec(TextCodec):
    """NCIC field-tagged text; ``encoding`` is ``ascii`` or ``cp037``/``cp500`` (EBCDIC).

    ``lenient``: also read a response printed without its header line, as a state prints an
    NCIC answer for its operators (banner lines, then the records).  It gets the message key
    ``responses.toml`` names (``[lenient] headless_key``) and no destination, and is written
    back the same way.  Strict (the default) refuses it: a switch needs the header to route
    and correlate, so only a link that receives such copies (a printer feed, a capture of
    operator screens) should choose ``ncic-lenient``.
    """

    name = "ncic"
    description = "NCIC field-tagged text (MKE.ORI.TAG/value...; responses with record blocks)"

    def __init__(self, encoding: str = "ascii", edits: bool = True, *,
                 lenient: bool = False, **options: Any) -> None:
        super().__init__(encoding, edits, **options)
        self.lenient = lenient

    # ------------------------------------------------------------------ decode

    def decode_text(self, text: str, base: int = 0) -> Message:
        """Decode one message held in ``text``; error offsets are ``base`` + index."""
        if not text or text.isspace():
            raise DecodeError("empty message", format=self.name, offset=base)
        hdr = _NCIC_HEADER.match(text) if text[0] in _HEADER_FIRST else None
        if hdr is not None:
            # NCIC's transaction header before the key (``1N01HEADER.EW.MD1012600...``, as
            # the NCIC 2000 manual writes its examples): kept in fields["HDR"], written back
            msg = self.decode_text(text[hdr.end():], base + hdr.end())
            msg.fields = {HDR_KEY: hdr.group(1), **msg.fields}
            return msg
        if self.lenient and not _looks_like_header(normalize(text).lstrip("\n")
                                                   .split("\n")[0]):
            return self._decode_headless(text, base)
        # the common case: one printable line, nothing to ignore (isprintable is one C pass)
        plain = text.isprintable() or _CONTROL_CHARS.search(text) is None
        probe = text if plain else normalize(text)
        try:
            end = split_mke(probe, self.name)
        except DecodeError as exc:
            if ("\nMKE/" in text or text.startswith("MKE/")) and not _looks_like_header(
                    normalize(text).lstrip("\n").split("\n")[0]):
                raise DecodeError("no header line (MKE.ORI.): a response printed without its "
                                  "header is read by the ncic-lenient codec", format=self.name,
                                  field="MKE", offset=base) from None
            relocate(exc, text, base)
            raise
        response = self.profile.is_response_key(probe[:end])
        clean = probe if response or plain else normalize(text, join_lines=True)
        # With edits, each value is checked as it is parsed (one pass); only when a check
        # fired, or the header would fail, does apply_edits run for the findings themselves
        # (same findings, order and warnings as apply_edits on the decoded message).
        bad: list[Any] | None = [] if self.edits else None
        try:
            if response:
                msg, offsets = self._decode_response(clean, end, bad)
            else:
                msg, seen = self._decode_inquiry(clean, end, bad)
            if bad is not None and (bad or not header_ok(msg)):
                try:
                    apply_edits(msg, dictionary=self.dictionary)
                except ValidationError as exc:
                    if not response:  # offsets are only needed now
                        offsets = {"MKE": 0, "ORI": end + 1,
                                   **{k: v for k, v in seen.items() if k != "ORI"}}
                    raise self.tagged.locate(exc, offsets) from None
        except DecodeError as exc:
            if not plain:
                relocate(exc, text, base, join_lines=not response)
            elif exc.offset is not None:
                exc.offset += base
            raise
        return msg

    def _decode_headless(self, text: str, base: int) -> Message:
        """A response body without its header line (``lenient``): banners, then records."""
        s = normalize(text)
        lead = body_start(s)  # blank lines (empty or spaces only) before it, as in nlets
        msg = Message(format=self.name, mke=self.profile.headless_key)
        bad: list[Any] | None = [] if self.edits else None
        seen: dict[str, int] = {}
        offsets: dict[str, int] = {}
        try:
            self.tagged.response_body(msg, s[lead:], lead, seen, offsets, bad)
            for k, v in seen.items():
                offsets.setdefault(k, v)
            if bad is not None and (bad or not header_ok(msg)):
                try:
                    apply_edits(msg, dictionary=self.dictionary)
                except ValidationError as exc:
                    raise self.tagged.locate(exc, offsets) from None
        except DecodeError as exc:
            relocate(exc, text, base)
            raise
        return msg

    def _decode_inquiry(self, s: str, end: int, bad: list[Any] | None = None
                        ) -> tuple[Message, dict[str, int]]:
        p = end + 1
        dot = s.find(".", p)
        ori = s[p:] if dot < 0 else s[p:dot]
        if not ori or "/" in ori:
            raise DecodeError("missing ORI (expected MKE.ORI.TAG/value)", format=self.name,
                              field="ORI", offset=p)
        if TOKEN_RE.fullmatch(ori) is None:
            # an ORI that breaks the pattern is a reject, code 21 (formats.md section 1)
            raise DecodeError("ORI must be capital letters and digits", format=self.name,
                              field="ORI", offset=p, code=INVALID_FIELD, data=ori)
        msg = Message(format=self.name, mke=s[:end], origin=ori)
        seen: dict[str, int] = {}
        if dot >= 0 and s.startswith("*", dot + 1):
            # Optional control field after the ORI (``QW.CA0349999.*D000000042.NAM/...``),
            # as in the response header: a switch correlates answers on it.
            p = dot + 2
            dot = s.find(".", p)
            control = s[p:] if dot < 0 else s[p:dot]
            if CONTROL_RE.fullmatch(control) is None:
                raise DecodeError("control must be 1-10 characters after '*'",
                                  format=self.name, field="control", offset=p)
            msg.control = control
        if dot >= 0:
            if dot == len(s) - 1:
                raise DecodeError("message ends with '.'", format=self.name, offset=dot)
            self.tagged.inquiry_fields(s, dot + 1, msg, seen, bad=bad)
        return msg, seen

    def _decode_response(self, s: str, end: int, bad: list[Any] | None = None
                         ) -> tuple[Message, dict[str, int]]:
        nl = s.find("\n")
        header = (s if nl < 0 else s[:nl]).rstrip(" ")  # trailing blanks are not a field
        p = end + 1
        rest = header[p:]
        ori, _, tail = rest.partition(".")
        if not ori or "/" in ori:
            raise DecodeError("missing destination ORI (expected RMKE.ORI.)", format=self.name,
                              field="ORI", offset=p)
        if TOKEN_RE.fullmatch(ori) is None:
            raise DecodeError("ORI must be capital letters and digits", format=self.name,
                              field="ORI", offset=p, code=INVALID_FIELD, data=ori)
        control = None
        if tail:
            if not (tail.startswith("*") and tail.endswith(".") and len(tail) > 2
                    and "." not in tail[1:-1]):
                raise DecodeError("header must end ORI. or ORI.*CONTROL.", format=self.name,
                                  field="control", offset=p + len(ori) + 1)
            control = tail[1:-1]
        msg = Message(format=self.name, mke=s[:end], destinations=[ori], control=control)
        seen: dict[str, int] = {}
        offsets: dict[str, int] = {"MKE": 0, "destinations[0]": p}
        if nl >= 0:
            self.tagged.response_body(msg, s[nl + 1:], nl + 1, seen, offsets, bad)
        for k, v in seen.items():
            offsets.setdefault(k, v)
        return msg, offsets

    def decode_stream(self, data: bytes) -> Iterator[Message]:
        """Messages one per line (inquiries) or separated by blank lines (responses).

        A line that starts with a message header (``MKE.ORI``) begins a new message when it
        follows a blank line or an inquiry; inside a response (record lines, error echo) it
        does not, so an error's echoed inquiry stays with its error.
        """
        text = decode_bytes(data, self.encoding, self.name)
        norm = normalize(text)

        def starts(line: str, current: list[str]) -> bool:
            if not _looks_like_header(line):
                return False
            if not current[-1].strip():
                return True
            head = current[0]
            cut = head.find(".", 2 if head.startswith("$.") else 0)
            return not self.profile.is_response_key(head[:cut] if cut >= 0 else head)

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
            raise EncodeError("message key must be 1-4 of A-Z 0-9 $ - (or $.X)",
                              format=self.name, field="MKE")
        if mke == self.profile.headless_key and not msg.destinations and self.lenient:
            lines = self.tagged.encode_response(msg)
            if not lines or not lines[0]:
                raise EncodeError("a response without its header starts with a banner line or "
                                  "a record", format=self.name, field="text")
            return "\n".join(lines)
        if self.profile.is_response_key(mke):
            if len(msg.destinations) != 1 or TOKEN_RE.fullmatch(msg.destinations[0]) is None:
                raise EncodeError("a response goes to exactly one destination ORI",
                                  format=self.name, field="destinations")
            header = f"{mke}.{msg.destinations[0]}."
            if msg.control:
                header += f"*{self.control_text(msg.control)}."
            return "\n".join([header, *self.tagged.encode_response(msg)])
        if msg.origin is None or TOKEN_RE.fullmatch(msg.origin) is None:
            raise EncodeError("an inquiry needs an origin ORI", format=self.name, field="ORI")
        if msg.status is not None or msg.records or msg.error is not None or msg.text:
            raise EncodeError(f"{mke} is not a response key (responses.toml): it cannot carry "
                              "status, records, error or text", format=self.name, field="MKE")
        prefix = msg.fields.get(HDR_KEY)
        checked = _NCIC_HEADER.match(f"{prefix}.{mke}.") if prefix is not None else None
        if prefix is not None and (checked is None or checked.group(1) != prefix):
            raise EncodeError("HDR is NCIC's transaction header (1N01 and up to 19 letters "
                              "or digits)", format=self.name, field=HDR_KEY)
        pairs = self.tagged.emit(msg, mke, "", skip=frozenset({HDR_KEY}))
        untagged = [v for t, v in pairs if t == POS_KEY]
        if untagged:
            # untagged fields go back after the last tagged one, where the decoder cuts them
            # (tagged._positional); when it would not, they stay tagged POS/
            rest = [(t, v) for t, v in pairs if t != POS_KEY]
            fd = self.dictionary.row_for(rest[-1][0], mke) if rest else None
            joined = ".".join(untagged)
            if (fd is not None and fd.chars is not None
                    and fd.chars.fullmatch(rest[-1][1]) is not None
                    and fd.chars.fullmatch(f"{rest[-1][1]}.{joined}") is None
                    and all(v and "." not in v and v == v.strip() for v in untagged)):
                pairs = [*rest[:-1], (rest[-1][0], f"{rest[-1][1]}.{joined}")]
                body = ".".join(f"{tag}/{value}" for tag, value in pairs)
                self.tagged.join_inquiry(rest, mke)  # the tagged values' own checks
            else:
                body = self.tagged.join_inquiry(pairs, mke)
        else:
            body = self.tagged.join_inquiry(pairs, mke)
        out = f"{mke}.{msg.origin}" if prefix is None else f"{prefix}.{mke}.{msg.origin}"
        if msg.control:
            out += f".*{self.control_text(msg.control)}"
        out += f".{body}" if body else ""
        if out.endswith("."):
            raise EncodeError("message would end with '.'", format=self.name,
                              offset=len(out) - 1)
        return out


def _looks_like_header(line: str) -> bool:
    start = 2 if line.startswith("$.") else 0
    end = line.find(".", start)
    if end < 0 or MKE_RE.fullmatch(line, 0, end) is None:
        return False
    rest = line[end + 1:]
    ori = rest.split(".", 1)[0]
    return 1 <= len(ori) <= 9 and TOKEN_RE.fullmatch(ori) is not None




def lenient_ncic(**options: Any) -> NcicCodec:
    """``ncic-lenient``: ``ncic`` that also reads responses printed without a header."""
    codec = NcicCodec(lenient=True, **options)
    codec.description = ("NCIC text as ncic, and responses printed without their header "
                         "(operator copies: banner lines, then the records)")
    return codec

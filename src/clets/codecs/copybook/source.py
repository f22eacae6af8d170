"""Copybook source text -> tokens: reference format, free format, literals, COPY, REPLACE.

Mainframe teams hand over copybooks exactly as they sit in their libraries, so this reader
follows the IBM Enterprise COBOL reference format to the column rather than guessing from the
text: columns 1-6 are the sequence area (anything, letters too), column 7 the indicator
(``*`` and ``/`` comment lines, ``-`` continuation, ``D`` debugging lines, skipped as a
compile without WITH DEBUGGING MODE does), columns 8-72 the code, and columns 73-80 are never
read.  Free format is used only when the source says ``>>SOURCE FORMAT FREE`` (or ``IS FREE``)
or the caller asks for it: guessing from the text is what made sequence numbers holding
letters turn into level numbers before.

Tokens keep their file and line so that every :class:`~clets.errors.LayoutError` the parser
raises points at the copybook line a person has to change, even inside a COPY member.
Everything here is pure: COPY members are looked up through a ``resolve`` callable that the
caller provides (the CLI gives one that searches ``--copy-path`` directories).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clets.errors import LayoutError

__all__ = ["Token", "copy_resolver", "decode_source", "split_entries", "tokenize"]


@dataclass(frozen=True, slots=True)
class Token:
    """One COBOL text word: a word, a literal (quotes kept), pseudo-text (``==..==``) or ``.``."""

    text: str
    line: int
    source: str

    @property
    def upper(self) -> str:
        return self.text.upper()

    @property
    def is_literal(self) -> bool:
        t = self.text
        return bool(t) and (t[0] in "'\"" or (
            len(t) > 1 and t[1] in "'\"" and t[0] in "XxNnGgZzBbUu"))


Resolver = Callable[[str, str | None], tuple[str, str] | None]
"""(member name, library or None) -> (text, source name), or None when not found."""

_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def decode_source(data: bytes | str, source: str = "<copybook>") -> str:
    """Copybook bytes as text: UTF-8 (BOM allowed), else cp1252 (which covers Latin-1's
    printable range); anything holding control characters (an EBCDIC or binary file) is a
    LayoutError naming the first one, never a UnicodeDecodeError."""
    if isinstance(data, str):
        text = data
    elif _looks_ebcdic(data):
        # a library member sent in binary: 80-byte EBCDIC card images, no line ends
        text = "\n".join(data[i:i + 80].decode("cp037").rstrip()
                         for i in range(0, len(data), 80)) + "\n"
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
                raise LayoutError(
                    "copybook is not text in UTF-8, Latin-1 or cp1252 (byte "
                    f"0x{data[exc.start]:02X} at offset {exc.start})", source=source,
                    line=line) from None
    text = text.rstrip("\x1a")  # a DOS end-of-file mark
    bad = _BAD_CHARS.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise LayoutError(f"copybook holds control character {bad.group()!r} (offset "
                          f"{bad.start()}): not copybook text (EBCDIC or binary?)",
                          source=source, line=line)
    return text


def _looks_ebcdic(data: bytes) -> bool:
    """Fixed 80-byte EBCDIC lines: no LF, a multiple of 80 bytes, EBCDIC spaces everywhere
    (0x40 is '@' in ASCII, so ASCII text never looks like this), and it reads in cp037."""
    if not data or len(data) % 80 or b"\n" in data or data.count(0x40) < len(data) // 4:
        return False
    text = data.decode("cp037")
    return _BAD_CHARS.search(text) is None


_DIRECTIVE = re.compile(r">>\s*SOURCE(?:\s+FORMAT)?(?:\s+IS)?\s+(FREE|FIXED)\b", re.I)
_MF_FORMAT = re.compile(r"\$\s*SET\b.*SOURCEFORMAT\s*[\"'(]?\s*(FREE|FIXED|VARIABLE)", re.I)


@dataclass(slots=True)
class _Logical:
    """The code text of a source, with continuation lines joined, and where each line starts."""

    text: list[str]
    starts: list[int]  # offset in the joined text where each physical line's code begins
    lines: list[int]
    length: int = 0

    def add(self, code: str, line: int, sep: str = " ") -> None:
        piece = sep + code
        self.starts.append(self.length + len(sep))
        self.lines.append(line)
        self.text.append(piece)
        self.length += len(piece)


def _open_quote(code: str, q: str | None = None) -> str | None:
    """The quote a line leaves open, starting inside literal ``q`` (doubled quotes toggle
    twice, so they cancel).  Continuation lines scan only their own text, so a literal
    continued over many lines costs linear time."""
    i = 0
    n = len(code)
    while i < n:
        c = code[i]
        if q is None:
            if c in "'\"":
                q = c
            elif c == "*" and code.startswith("*>", i):
                return None
        elif c == q:
            q = None
        i += 1
    return q


def _strip_inline_comment(code: str) -> str:
    """Cut a ``*>`` floating comment that is outside every literal."""
    if "*>" not in code:
        return code
    q: str | None = None
    for i, c in enumerate(code):
        if q is None:
            if c in "'\"":
                q = c
            elif c == "*" and code.startswith("*>", i):
                return code[:i]
        elif c == q:
            q = None
    return code


def _logical(text: str, source: str, fmt: str) -> _Logical:
    """Join the code areas of every line; comments, sequence and identification areas gone."""
    out = _Logical([], [], [])
    pending: str | None = None  # the quote the logical line so far leaves open
    prev_len = 0  # length of the previous physical line's code area
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.expandtabs(8).rstrip("\r\n\x0c")
        m = _DIRECTIVE.search(line) or _MF_FORMAT.search(line)
        if m is not None and (fmt == "free" or len(line) <= 6 or line[6] not in "*/"):
            fmt = "free" if m.group(1).upper() == "FREE" else "fixed"
            continue
        if fmt == "fixed":
            if len(line) <= 6:
                continue
            ind = line[6]
            code = line[7:72]
            if ind in "*/":
                continue
            if ind in "Dd":
                continue  # debugging line: compiled only WITH DEBUGGING MODE
            if ind == "$":
                continue  # Micro Focus directive line
            if ind not in " -Dd" and not line[:6].strip() and ind.isalnum():
                # code one column to the left of area A (a digit or letter cannot be an
                # indicator, so no reference-format text reads differently): from column 7
                code = line[6:72]
                ind = " "
            if ind not in " -":
                if not line[7:72].strip() and not line[:7].strip(" 0123456789"):
                    continue
                if line.lstrip().startswith("*"):
                    continue  # a comment written from column 1 (common by hand; never code)
                raise LayoutError(f"column 7 holds {ind!r}: the indicator area takes only "
                                  "space, '*', '/', '-' or 'D' (is this file in free format? "
                                  "add '>>SOURCE FORMAT FREE' or ask for free format)",
                                  source=source, line=number)
            if ind == "-":
                body = code.lstrip()
                if not body or not out.text:
                    continue
                q = pending
                if q is not None:
                    if body[0] != q:
                        raise LayoutError(f"continuation of a literal must start with {q}",
                                          source=source, line=number)
                    # the continued literal runs to column 72 of the line before
                    pad = " " * max(0, 65 - prev_len)
                    out.text[-1] += pad
                    out.length += len(pad)
                    body = _strip_inline_comment_after_literal(body[1:], q)
                else:
                    body = _strip_inline_comment(body)
                    last = out.text[-1].rstrip()
                    out.length -= len(out.text[-1]) - len(last)
                    out.text[-1] = last
                pending = _open_quote(body, q)
                if pending is None:
                    body = body.rstrip()
                prev_len = len(code)
                out.add(body, number, sep="")
                continue
            if not code.strip():
                continue
            pending = _open_quote(code)
            prev_len = len(code)
            code = _strip_inline_comment(code)
            if _open_quote(code) is None:
                code = code.rstrip()
            out.add(code, number)
        else:
            stripped = line.lstrip()
            if not stripped or stripped.startswith("*"):
                continue  # blank, '*>' comment line, or a '*' comment line
            code = _strip_inline_comment(line)
            if not code.strip():
                continue
            pending = _open_quote(code)
            out.add(code.rstrip(), number)
    return out


def _strip_inline_comment_after_literal(body: str, q: str) -> str:
    """The rest of a continuation line that starts inside a literal."""
    end = 0
    while True:
        end = body.find(q, end)
        if end < 0:
            return body
        if body.startswith(q * 2, end):
            end += 2
            continue
        return body[: end + 1] + _strip_inline_comment(body[end + 1:])


_TOKEN = re.compile(r"""
    (?P<sp>[\s]+)
  | (?P<pseudo>==.*?==)
  | (?P<lit>[XxNnGgZzBbUu]?(?:'(?:[^']|'')*'|"(?:[^"]|"")*"))
  | (?P<open>[XxNnGgZzBbUu]?['"])
  | (?P<word>[^\s'"]+)
""", re.X | re.S)


def tokenize(text: str, source: str = "<copybook>", *, fmt: str = "fixed") -> list[Token]:
    """Every text word of a copybook with its line; separators (``,`` ``;`` before a space)
    are dropped and an entry-ending period is its own ``.`` token."""
    if fmt not in ("fixed", "free"):
        raise LayoutError(f"source format {fmt!r}: fixed or free", source=source)
    lg = _logical(text, source, fmt)
    joined = "".join(lg.text)
    starts, lines = lg.starts, lg.lines
    out: list[Token] = []
    li = 0
    for m in _TOKEN.finditer(joined):
        kind = m.lastgroup
        if kind == "sp":
            continue
        pos = m.start()
        while li + 1 < len(starts) and starts[li + 1] <= pos:
            li += 1
        line = lines[li] if lines else 1
        tok = m.group()
        if kind == "open":
            raise LayoutError("literal is not closed (a continued literal needs '-' in column "
                              "7 and a quote on the next line)", source=source, line=line)
        if kind == "lit":
            out.append(Token(tok, line, source))
            # a period right after a literal ends the entry
            continue
        if kind == "pseudo":
            out.append(Token(tok, line, source))
            continue
        # word: strip separators; a final period ends the entry
        if tok in (".", ",", ";"):
            if tok == ".":
                out.append(Token(".", line, source))
            continue
        end = False
        while tok and tok[-1] in ".,;":
            if tok[-1] == ".":
                end = True
                tok = tok[:-1]
                break
            tok = tok[:-1]
        if tok.startswith(".") and tok != "." and not tok[1:2].isdigit():
            # a period glued to the start of the next word (".05 X") ends the entry before it
            out.append(Token(".", line, source))
            tok = tok[1:]
        if tok:
            out.append(Token(tok, line, source))
        if end:
            out.append(Token(".", line, source))
    return out


_SKIPPED = {"EJECT", "SKIP1", "SKIP2", "SKIP3"}


def _split_pseudo(tok: Token) -> list[Token]:
    """The text words inside ``==...==`` (empty pseudo-text is an empty list)."""
    inner = tok.text[2:-2]
    return [t for t in tokenize(inner, tok.source, fmt="free") if t.text != "."] + (
        [Token(".", tok.line, tok.source)] if inner.rstrip().endswith(".") else [])


def _operand(tokens: list[Token], i: int) -> tuple[list[Token], int]:
    """A REPLACING operand: pseudo-text, a literal or a (possibly qualified) word."""
    t = tokens[i]
    if t.text.startswith("=="):
        return _split_pseudo(t), i + 1
    return [t], i + 1


def _apply_replacing(body: list[Token], pairs: list[tuple[list[Token], list[Token]]]
                     ) -> list[Token]:
    """Replace token sequences (case-insensitive words); a single word delimited by colons or
    parentheses (``:TAG:``) is also replaced inside longer words, as IBM does for partial
    words.  Pairs are indexed by their first word, so the cost stays linear in the text."""
    if not pairs:
        return body
    by_first: dict[str, list[tuple[list[Token], list[Token]]]] = {}
    for old, new in pairs:
        if old:
            by_first.setdefault(old[0].upper, []).append((old, new))
    partial = [(re.compile(re.escape(old[0].text), re.I), " ".join(t.text for t in new))
               for old, new in pairs
               if len(old) == 1 and not old[0].is_literal and len(old[0].text) > 2
               and old[0].text[0] in ":(" and old[0].text[-1] in ":)"]
    ends: list[tuple[str, str, str]] = []  # REPLACING LEADING/TRAILING ==x== BY ==y==
    for old, new in pairs:
        if len(old) == 1 and old[0].text.startswith("\0"):
            _, mode, part = old[0].text.split("\0", 2)
            ends.append((mode, part.upper(), "".join(t.text for t in new)))
    out: list[Token] = []
    i = 0
    n = len(body)
    while i < n:
        tok = body[i]
        for old, new in by_first.get(tok.upper, ()):
            k = len(old)
            if i + k <= n and all(body[i + j].upper == old[j].upper for j in range(1, k)):
                out.extend(Token(t.text, tok.line, tok.source) for t in new)
                i += k
                break
        else:
            text = tok.text
            if ends and not tok.is_literal:
                up = text.upper()
                for mode, part, rep in ends:
                    if mode == "LEADING" and up.startswith(part) and len(up) > len(part):
                        text = rep + text[len(part):]
                        break
                    if mode == "TRAILING" and up.endswith(part) and len(up) > len(part):
                        text = text[: len(text) - len(part)] + rep
                        break
            if partial and not tok.is_literal and (":" in text or "(" in text):
                for pattern, rep in partial:
                    text = pattern.sub(rep.replace("\\", "\\\\"), text)
            out.append(tok if text == tok.text else Token(text, tok.line, tok.source))
            i += 1
    return out


def _parse_replacing(tokens: list[Token], i: int, what: str
                     ) -> tuple[list[tuple[list[Token], list[Token]]], int]:
    pairs: list[tuple[list[Token], list[Token]]] = []
    while i < len(tokens) and tokens[i].text != ".":
        mode = ""
        if tokens[i].upper in ("LEADING", "TRAILING"):
            mode = tokens[i].upper  # partial-word replacement of the start or end of words
            i += 1
        old, i = _operand(tokens, i)
        if mode and len(old) == 1:
            old = [Token(f"\0{mode}\0{old[0].text}", old[0].line, old[0].source)]
        if i >= len(tokens) or tokens[i].upper != "BY":
            where = tokens[min(i, len(tokens) - 1)]
            raise LayoutError(f"{what} REPLACING: BY expected", source=where.source,
                              line=where.line)
        new, i = _operand(tokens, i + 1)
        pairs.append((old, new))
    return pairs, i


def _expand(tokens: list[Token], resolve: Resolver | None, fmt: str, depth: int,
            chain: tuple[str, ...]) -> list[Token]:
    """Directives dropped, COPY members spliced in (REPLACING applied), REPLACE applied."""
    out: list[Token] = []
    replace: list[tuple[list[Token], list[Token]]] = []
    i = 0
    n = len(tokens)
    while i < n:
        t = tokens[i]
        u = t.upper
        if u in _SKIPPED:
            i += 1
            if i < n and tokens[i].text == ".":
                i += 1
            continue
        if u == "TITLE":
            i += 1
            if i < n and tokens[i].is_literal:
                i += 1
            if i < n and tokens[i].text == ".":
                i += 1
            continue
        if u == "EXEC":
            # EXEC SQL / EXEC CICS blocks (DCLGEN's DECLARE TABLE, INCLUDE SQLCA) describe
            # no record bytes: skipped to END-EXEC
            j = i + 1
            while j < n and tokens[j].upper != "END-EXEC":
                j += 1
            if j >= n:
                raise LayoutError("EXEC without END-EXEC", source=t.source, line=t.line)
            i = j + 1
            if i < n and tokens[i].text == ".":
                i += 1
            continue
        if u in ("FD", "SD", "RD", "CD") and (not out or out[-1].text == "."):
            while i < n and tokens[i].text != ".":  # a file description entry: no bytes
                i += 1
            i += 1
            continue
        if u in ("SECTION", "DIVISION") and out and out[-1].text != ".":
            while out and out[-1].text != ".":
                out.pop()  # "WORKING-STORAGE SECTION." and the like
            i += 1
            if i < n and tokens[i].text == ".":
                i += 1
            continue
        if u in ("CBL", "PROCESS") and (not out or out[-1].text == "."):
            while i < n and tokens[i].line == t.line:
                i += 1
            continue
        if u == "REPLACE":
            if i + 1 < n and tokens[i + 1].upper == "OFF":
                replace = []
                i += 2
            else:
                replace, i = _parse_replacing(tokens, i + 1, "REPLACE")
            if i < n and tokens[i].text == ".":
                i += 1
            continue
        if u == "COPY":
            i += 1
            if i >= n:
                raise LayoutError("COPY: member name expected", source=t.source, line=t.line)
            member = tokens[i].text.strip("'\"")
            i += 1
            library = None
            if i < n and tokens[i].upper in ("OF", "IN"):
                library = tokens[i + 1].text.strip("'\"") if i + 1 < n else None
                i += 2
            if i < n and tokens[i].upper == "SUPPRESS":
                i += 1
            pairs: list[tuple[list[Token], list[Token]]] = []
            if i < n and tokens[i].upper == "REPLACING":
                pairs, i = _parse_replacing(tokens, i + 1, "COPY")
            if i < n and tokens[i].text == ".":
                i += 1
            if depth >= 16 or member.upper() in chain:
                raise LayoutError(f"COPY {member}: copied from itself (COPY chain "
                                  f"{' -> '.join(chain)})", source=t.source, line=t.line)
            found = resolve(member, library) if resolve is not None else None
            if found is None:
                raise LayoutError(f"COPY {member}: member not found (give the folder that "
                                  "holds it with --copy-path)", source=t.source, line=t.line)
            text, src = found
            sub = tokenize(decode_source(text, src), src, fmt=fmt)
            sub = _expand(sub, resolve, fmt, depth + 1, (*chain, member.upper()))
            out.extend(_apply_replacing(sub, pairs))
            continue
        out.append(t)
        i += 1
    return _apply_replacing(out, replace) if replace else out


def split_entries(text: str, source: str = "<copybook>", *, fmt: str = "fixed",
                  resolve: Resolver | None = None) -> list[list[Token]]:
    """The data description entries of a copybook: token lists, each ended by its period."""
    tokens = _expand(tokenize(text, source, fmt=fmt), resolve, fmt, 0, ())
    entries: list[list[Token]] = []
    current: list[Token] = []
    for t in tokens:
        if t.text == ".":
            if current:
                entries.append(current)
                current = []
            continue
        current.append(t)
    if current:
        entries.append(current)
    return entries


def copy_resolver(paths: list[str | Path], base: str | Path | None = None) -> Resolver:
    """A resolver that looks for a COPY member in folders, as ``NAME``, ``NAME.cpy``,
    ``NAME.cbl``, ``NAME.cob``, ``NAME.copy`` in the case written, upper and lower case."""
    folders = [Path(p) for p in paths]
    if base is not None:
        folders.append(Path(base))

    def resolve(member: str, library: str | None) -> tuple[str, str] | None:
        names = []
        for stem in (member, member.upper(), member.lower()):
            for ext in ("", ".cpy", ".CPY", ".cbl", ".CBL", ".cob", ".COB", ".copy", ".txt"):
                names.append(stem + ext)
        for folder in folders:
            for sub in ([folder / library, folder] if library else [folder]):
                for name in names:
                    p = sub / name
                    if p.is_file():
                        data = p.read_bytes()
                        return decode_source(data, str(p)), str(p)
        return None

    return resolve

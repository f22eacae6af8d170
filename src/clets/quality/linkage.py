"""Name search that survives misspellings: Fellegi–Sunter linkage with EM-learned weights.

Why this and not NCIC's rule: NCIC finds a person by a surname that *sounds* alike (Soundex)
and an *exact* date of birth.  One mistyped DOB digit, a day and month swapped, a first letter
mistyped (Soundex keeps it), a nickname or first and last swapped, and the rule misses a true
match.  Here each field is compared at several levels (exact, typo-close, sounds alike,
nickname, transposed, one digit off ...), each level has a weight ``log2(m/u)`` learned from
the data without labels by EM (m: how often true matches agree at that level; u: how often
non-matches do), and a pair's match weight is the sum.  Its posterior probability decides:
``match`` (a duplicate, a hit candidate) above ``match_p``, ``review`` (POSSIBLE MATCH) above
``review_p`` (docs/quality.md: how to tune them).

Candidates come from blocking with phonetic keys (Soundex, NYSIIS, Metaphone via jellyfish),
a union of keys each robust to a different error, so that a pair missed by one key is found
by another.  Pure: no I/O; numpy holds the comparison vectors for EM.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

import jellyfish
import numpy as np
import numpy.typing as npt

from clets.model.types import Person

from .catalogue import table

__all__ = [
    "FIELDS",
    "NAME_DOB",
    "Features",
    "Model",
    "block_keys",
    "blocked_pairs",
    "candidate_pairs",
    "compare",
    "comparison_matrix",
    "dob_shortlist",
    "features",
    "fit",
    "ncic_rule_pairs",
    "nick_group",
    "weight_bound",
]

Matrix = npt.NDArray[np.int8]

#: field -> its levels (0 = strongest agreement); a missing value on either side is -1
FIELDS: dict[str, tuple[str, ...]] = {
    "surname": ("exact", "typo", "phonetic", "close", "differs"),
    "given": ("exact", "nickname", "typo", "phonetic", "close", "initial", "differs"),
    # one_digit: one digit mistyped, or two adjacent digits transposed
    "dob": ("exact", "day_month_swapped", "one_digit", "year_1", "differs"),
    "middle": ("agree", "differs"),
    "sex": ("agree", "differs"),
    "ssn": ("agree", "one_digit", "differs"),
    "oln": ("agree", "differs"),
    "fbi": ("agree", "differs"),
}
#: the fields of a name + date-of-birth search (what NCIC's rule sees)
NAME_DOB = ("surname", "given", "dob")
TYPO_JW = 0.93
#: the expected precision (mean posterior) of the pairs called matches that the match
#: threshold is chosen for (``Model.tuned``): the issue's target, 0.98
MATCH_PRECISION = 0.98
#: the lowest match threshold (posterior) ``Model.tuned`` chooses
MATCH_P_FLOOR = 0.7
CLOSE_JW = 0.85


class Features(NamedTuple):
    """What comparison needs of one person, computed once (names upper-case).  A named
    tuple: the inline path builds one per candidate read from the index, and a tuple is
    made several times faster than a frozen dataclass."""

    last: str
    first: str
    middle: str
    dob: str  # YYYYMMDD or ""
    sex: str
    ssn: str
    oln: str
    fbi: str
    sx_last: str
    sx_first: str
    ny_last: str
    ny_first: str
    mp_last: str
    mp_first: str
    canon_first: frozenset[str]


@cache
def _nick_groups() -> dict[str, frozenset[str]]:
    """name -> the set of names it is a nickname or formal form of (itself included)."""
    groups: dict[str, set[str]] = {}
    for nick, formals in table("nicknames")["names"].items():
        for f in formals:
            groups.setdefault(nick, {nick}).add(f)
            groups.setdefault(f, {f}).add(nick)
    return {k: frozenset(v) for k, v in groups.items()}


def nick_group(first: str) -> frozenset[str]:
    """The given names a name is interchangeable with (nickname table), itself included."""
    return _nick_groups().get(first, frozenset((first,)))


def _clean(s: str | None) -> str:
    if not s:
        return ""
    return "".join(ch for ch in s.upper() if ch.isalpha())


def _phon(fn: Any, s: str) -> str:
    return str(fn(s)) if s else ""


def features(p: Person) -> Features:
    """The comparison features of a person (canonical model)."""
    n = p.name
    last = _clean(n.last if n else None)
    first = _clean(n.first if n else None)
    middle = _clean(n.middle if n else None)[:1]
    dob = (p.dob or "").replace("-", "")[:8]
    lic = p.license
    return Features(last, first, middle, dob if len(dob) == 8 else "", p.sex or "",
                    p.ssn or "", (lic.number or "") if lic else "", p.fbi or "",
                    _phon(jellyfish.soundex, last), _phon(jellyfish.soundex, first),
                    _phon(jellyfish.nysiis, last), _phon(jellyfish.nysiis, first),
                    _phon(jellyfish.metaphone, last), _phon(jellyfish.metaphone, first),
                    _nick_groups().get(first, frozenset((first,))))


# ---- blocking ----------------------------------------------------------------------------

def _sorted_digits(dob: str) -> str:
    return "".join(sorted(dob))


def block_keys(f: Features) -> list[str]:
    """The blocking keys of a record: a union, each robust to other errors.

    - Soundex(surname) + birth year and month, + year and day, + month and day: a DOB with
      the day, the month or the year wrong;
    - Soundex(given) + birth year and month: a surname changed beyond its sound, and the day;
    - exact DOB + Soundex(given): a surname mistyped in its first letter, or replaced;
    - NYSIIS(surname) + NYSIIS(given): any DOB error, when both names sound alike;
    - Metaphone(surname) + sorted DOB digits: day/month swapped plus a given-name change;
    - the two Soundex codes in sorted order + birth year: first and last swapped;
    - nickname-canonical given name + exact DOB: a nickname with a misspelled surname;
    - the two Metaphone codes in sorted order: names swapped and the DOB wrong;
    - exact DOB + the first two letters of the surname, or of the given name: a name
      misspelled beyond its sound (its first letters kept);
    - given name + birth month and day: the year mistyped and the surname misspelled;
    - exact DOB + the first two letters of either name, in one namespace: first and last
      swapped with one of them misspelled;
    - exact surname + the given name's first two letters, in both orientations: a DOB that
      is wrong beyond one digit, a swapped day and month or a year;
    - ``open_keys``: a record missing its DOB or a name (FEBRL's copies lose fields).
    """
    if not f.last and not f.first:
        return []
    y = f.dob[:4]
    keys = []
    if f.sx_last and y:
        keys.append(f"a{f.sx_last}{f.dob[:6]}")
        keys.append(f"g{f.sx_last}{y}{f.dob[6:]}")
        keys.append(f"i{f.sx_last}{f.dob[4:]}")
    if f.sx_first and y:
        keys.append(f"j{f.sx_first}{f.dob[:6]}")
    if f.dob and f.sx_first:
        keys.append(f"b{f.dob}{f.sx_first}")
    if f.ny_last and f.ny_first:
        keys.append(f"c{f.ny_last}|{f.ny_first}")
    if f.mp_last and f.dob:
        keys.append(f"d{f.mp_last}|{_sorted_digits(f.dob)}")
    if f.sx_last and f.sx_first and y:
        a, b = sorted((f.sx_last, f.sx_first))
        keys.append(f"e{a}{b}{y}")
    if f.dob and f.canon_first:
        keys.append(f"f{min(f.canon_first)}{f.dob}")
    if f.mp_last and f.mp_first:
        a, b = sorted((f.mp_last, f.mp_first))
        keys.append(f"h{a}|{b}")
    if f.dob:
        if f.last:
            keys.append(f"k{f.dob}{f.last[:2]}")
            keys.append(f"n{f.dob}{f.last[:2]}")
        if f.first:
            keys.append(f"l{f.dob}{f.first[:2]}")
            keys.append(f"m{f.first}{f.dob[4:]}")
            if f.first[:2] != f.last[:2]:
                keys.append(f"n{f.dob}{f.first[:2]}")
    if f.last and f.first:
        keys.append(f"r{f.last}|{f.first[:2]}")
        keys.append(f"r{f.first}|{f.last[:2]}")
    return keys


def open_keys(f: Features) -> list[str]:
    """Keys that pair a record missing its DOB or a name with records that have it: the
    surname's Soundex code, and the given name's (either may be the surname, swapped).  Only
    pairs in which one side misses the DOB or a name are kept (``candidate_pairs``), so the
    blocks are not all pairs of a common surname."""
    return [f"o{s}" for s in {f.sx_last, f.sx_first} if s]


def _incomplete(f: Features) -> bool:
    return not (f.dob and f.last and f.first)


#: blocks larger than this are not paired whole: each record is paired with its
#: ``WINDOW`` neighbours in name order within the block (sorted neighbourhood)
MAX_BLOCK = 50
WINDOW = 10
#: a block of the missing-field keys larger than this is skipped
MAX_OPEN_BLOCK = 4000


def kind_bit(letter: str) -> int:
    """The bit of a blocking key's kind (its first letter) in a pair's kind mask."""
    return 1 << (ord(letter) - ord("a"))


def _name_order(feats: Sequence[Features]) -> npt.NDArray[np.int64]:
    """Each record's rank in the order of its two names (sorted, so that first and last
    swapped sort together) then its DOB: within a large block, a true match (names nearly
    the same) sits next to its record."""
    keys = [" ".join(sorted((f.last, f.first))) + " " + f.dob for f in feats]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    rank = np.empty(len(keys), dtype=np.int64)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(keys), dtype=np.int64)
    return rank


def candidate_pairs(feats: Sequence[Features], max_block: int = MAX_BLOCK,
                    window: int = WINDOW) -> npt.NDArray[np.int64]:
    """Candidate pairs ``(i, j)``, i < j, of records sharing a blocking key (n × 2 array)."""
    return blocked_pairs(feats, max_block, window)[0]


def blocked_pairs(feats: Sequence[Features], max_block: int = MAX_BLOCK, window: int = WINDOW
                  ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Candidate pairs ``(i, j)``, i < j, sorted, and for each the mask of the kinds of the
    keys its records share (``kind_bit``; the learning sessions select pairs by it).

    Bounded per block, so that the number of pairs grows with the file, not with the
    square of a common name's count: a block of at most ``max_block`` records gives all its
    pairs; a larger one (a common name in one year, a name alone in a large file) pairs
    each record with its ``window`` next in name order (sorted neighbourhood, Hernández &
    Stolfo), as users of Splink and recordlinkage cap their blocking rules.  Vectorised:
    the work is sorts and array slices, not a loop over pairs."""
    n = len(feats)
    letters: list[int] = []
    codes: dict[str, int] = {}
    rec_idx: list[int] = []
    key_idx: list[int] = []
    ocodes: dict[str, int] = {}
    orec: list[int] = []
    okey: list[int] = []
    for i, f in enumerate(feats):
        for k in dict.fromkeys(block_keys(f)):  # once per record (SMITH SMITH: one r key)
            c = codes.get(k)
            if c is None:
                c = codes[k] = len(codes)
                letters.append(ord(k[0]) - 97)
            rec_idx.append(i)
            key_idx.append(c)
        for k in open_keys(f):
            orec.append(i)
            okey.append(ocodes.setdefault(k, len(ocodes)))
    del codes
    rank = _name_order(feats)
    kbits = np.left_shift(1, np.asarray(letters, dtype=np.int32)).astype(np.int32)
    rec_a = np.asarray(rec_idx, dtype=np.int64)
    key_a = np.asarray(key_idx, dtype=np.int64)
    del rec_idx, key_idx
    a, b, bits = _pairs_from_keys(rec_a, key_a, rank, max_block, window)
    parts = [(a, b, kbits[bits])]
    incomplete = np.asarray([_incomplete(f) for f in feats], dtype=bool)
    if incomplete.any():
        # a record missing a field pairs with every record of its names' Soundex blocks (few
        # records miss one): only pairs with such a record, so the work is the incomplete
        # records times their blocks, not the blocks' squares
        oa, ob = _open_pairs(np.asarray(orec, dtype=np.int64),
                             np.asarray(okey, dtype=np.int64), incomplete)
        parts.append((oa, ob, np.full(len(oa), kind_bit("o"), dtype=np.int32)))
    return _merge(parts, n)


def _merge(parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                             npt.NDArray[np.int32]]], n: int
           ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """Unique pairs (i < j) and the OR of the kind bits of their copies."""
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    bits = np.concatenate([p[2] for p in parts])
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    code = lo * n + hi
    bits = bits[keep]
    del a, b, lo, hi, keep
    if code.size == 0:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int32)
    order = np.argsort(code, kind="stable")
    code, bits = code[order], bits[order]
    first = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    mask = np.bitwise_or.reduceat(bits, first).astype(np.int32)
    code = code[first]
    return np.stack([code // n, code % n], axis=1), mask


def _pairs_from_keys(rec: npt.NDArray[np.int64], key: npt.NDArray[np.int64],
                     rank: npt.NDArray[np.int64], max_block: int, window: int
                     ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64],
                                npt.NDArray[np.int64]]:
    """Pairs ``(a, b, key)`` of records sharing a key: all pairs of a block up to
    ``max_block`` records, each record's ``window`` next (in ``rank`` order) in a larger
    one."""
    empty = np.empty(0, dtype=np.int64)
    if rec.size == 0:
        return empty, empty, empty
    order = np.lexsort((rank[rec], key))
    rec, key = rec[order], key[order]
    del order
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, key.size])
    pa, pb, pk = [], [], []
    for s in np.unique(sizes):
        if s < 2 or s > max_block:
            continue
        st = starts[sizes == s]
        members = rec[st[:, None] + np.arange(s)[None, :]]  # (groups, s)
        i, j = np.triu_indices(int(s), 1)
        pa.append(members[:, i].ravel())
        pb.append(members[:, j].ravel())
        pk.append(np.repeat(key[st], len(i)))
    big = np.repeat(sizes > max_block, sizes)
    if big.any():
        idx = np.flatnonzero(big)
        for d in range(1, window + 1):
            x, y = idx[:-d], idx[d:]
            same = key[x] == key[y]
            pa.append(rec[x[same]])
            pb.append(rec[y[same]])
            pk.append(key[x[same]])
    if not pa:
        return empty, empty, empty
    return np.concatenate(pa), np.concatenate(pb), np.concatenate(pk)


def _open_pairs(rec: npt.NDArray[np.int64], key: npt.NDArray[np.int64],
                incomplete: npt.NDArray[np.bool_]
                ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pairs of each incomplete record with every other record of its open-key blocks (a
    block over ``MAX_OPEN_BLOCK`` records is skipped)."""
    empty = np.empty(0, dtype=np.int64)
    if rec.size == 0:
        return empty, empty
    order = np.lexsort((rec, key))
    rec, key = rec[order], key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sizes = np.diff(np.r_[starts, key.size])
    block_of = np.repeat(np.arange(len(starts)), sizes)
    ok = (sizes >= 2) & (sizes <= MAX_OPEN_BLOCK)
    inc = np.flatnonzero(incomplete[rec] & ok[block_of])
    if inc.size == 0:
        return empty, empty
    # each incomplete record's position repeated once per member of its block
    blk = block_of[inc]
    counts = sizes[blk]
    src = np.repeat(inc, counts)
    offs = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    dst = starts[np.repeat(blk, counts)] + offs
    return rec[src], rec[dst]


def ncic_rule_pairs(feats: Sequence[Features]) -> npt.NDArray[np.int64]:
    """Pairs NCIC's rule finds: Soundex(surname) equal and DOB exact (and sex, when both
    have one, equal)."""
    codes: dict[str, int] = {}
    rec_idx, key_idx = [], []
    for i, f in enumerate(feats):
        if f.sx_last and f.dob:
            rec_idx.append(i)
            key_idx.append(codes.setdefault(f"{f.sx_last}{f.dob}", len(codes)))
    n = len(feats)
    a, b, _ = _pairs_from_keys(np.asarray(rec_idx, dtype=np.int64),
                               np.asarray(key_idx, dtype=np.int64),
                               np.zeros(n, dtype=np.int64), 10 ** 6, 0)
    pairs, _ = _merge([(a, b, np.zeros(len(a), dtype=np.int32))], n)
    keep = [k for k, (i, j) in enumerate(pairs.tolist())
            if not (feats[i].sex and feats[j].sex and feats[i].sex != feats[j].sex)]
    return pairs[keep]


# ---- comparison --------------------------------------------------------------------------

_jw = jellyfish.jaro_winkler_similarity


def _surname_level(a: str, b: str, sa: tuple[str, str, str], sb: tuple[str, str, str]) -> int:
    if a == b:
        return 0
    jw = _jw(a, b)
    if jw >= TYPO_JW:
        return 1
    if sa[0] == sb[0] or sa[1] == sb[1] or sa[2] == sb[2]:
        return 2
    return 3 if jw >= CLOSE_JW else 4


def _given_level(a: str, b: str, ca: frozenset[str], cb: frozenset[str],
                 sa: tuple[str, str, str], sb: tuple[str, str, str]) -> int:
    if a == b:
        return 0
    if len(a) == 1 or len(b) == 1:
        return 5 if a[0] == b[0] else 6
    if not ca.isdisjoint(cb):
        return 1
    jw = _jw(a, b)
    if jw >= TYPO_JW:
        return 2
    if sa[0] == sb[0] or sa[1] == sb[1] or sa[2] == sb[2]:
        return 3
    return 4 if jw >= CLOSE_JW else 6


def _dob_level(a: str, b: str) -> int:
    if a == b:
        return 0
    if a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]:
        return 1
    diff = [k for k in range(8) if a[k] != b[k]]
    if len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                          and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]):
        return 2  # one digit mistyped, or two adjacent digits transposed (1945 -> 1954)
    if a[4:] == b[4:] and abs(int(a[:4]) - int(b[:4])) == 1:
        return 3
    return 4


def _digits_level(a: str, b: str) -> int:
    if a == b:
        return 0
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                              and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]):
            return 1
    return 2


def compare(a: Features, b: Features) -> tuple[int, ...]:
    """The comparison vector of two people, in FIELDS order (-1: missing on a side).

    Names are compared in both orientations (first/last swapped) and the closer one kept."""
    if a.last and b.last and a.first and b.first:
        sa = (a.sx_last, a.ny_last, a.mp_last)
        sb = (b.sx_last, b.ny_last, b.mp_last)
        fa = (a.sx_first, a.ny_first, a.mp_first)
        fb = (b.sx_first, b.ny_first, b.mp_first)
        s1 = _surname_level(a.last, b.last, sa, sb)
        g1 = _given_level(a.first, b.first, a.canon_first, b.canon_first, fa, fb)
        if s1 + g1 > 2 and a.last != b.last:
            s2 = _surname_level(a.last, b.first, sa, fb)
            g2 = _given_level(a.first, b.last, a.canon_first, _nick_groups().get(
                b.last, frozenset((b.last,))), fa, sb)
            if s2 + g2 < s1 + g1:
                s1, g1 = s2, g2
        surname, given = s1, g1
    else:  # a name missing on a side: the other is still compared (FEBRL's copies lose one)
        surname = _surname_level(a.last, b.last, (a.sx_last, a.ny_last, a.mp_last),
                                 (b.sx_last, b.ny_last, b.mp_last)) if a.last and b.last \
            else -1
        given = _given_level(a.first, b.first, a.canon_first, b.canon_first,
                             (a.sx_first, a.ny_first, a.mp_first),
                             (b.sx_first, b.ny_first, b.mp_first)) if a.first and b.first \
            else -1
    dob = _dob_level(a.dob, b.dob) if a.dob and b.dob else -1
    middle = -1 if not (a.middle and b.middle) else (0 if a.middle == b.middle else 1)
    sex = -1 if not (a.sex and b.sex) or "U" in (a.sex, b.sex) else int(a.sex != b.sex)
    ssn = _digits_level(a.ssn, b.ssn) if a.ssn and b.ssn else -1
    oln = -1 if not (a.oln and b.oln) else int(a.oln != b.oln)
    fbi = -1 if not (a.fbi and b.fbi) else int(a.fbi != b.fbi)
    return (surname, given, dob, middle, sex, ssn, oln, fbi)


def weight_bound(model: Model, a: Features, b: Features) -> float:
    """An upper bound of ``model.weight(compare(a, b))`` that compares no names: the
    cheap fields (DOB, middle initial, sex, identifiers) at their real levels, the names at
    their best weights.  The inline duplicate search compares the names (Jaro–Winkler,
    phonetic codes, both orientations: most of ``compare``'s cost) only of candidates whose
    bound reaches the match weight -- most candidates share a name key but not the DOB."""
    w = model.weights
    total = 0.0
    if a.last and b.last and "surname" in w:
        total += max(w["surname"])
    if a.first and b.first and "given" in w:
        total += max(w["given"])
    if a.dob and b.dob and "dob" in w:
        total += w["dob"][_dob_level(a.dob, b.dob)]
    if a.middle and b.middle and "middle" in w:
        total += w["middle"][a.middle != b.middle]
    if a.sex and b.sex and "U" not in (a.sex, b.sex) and "sex" in w:
        total += w["sex"][a.sex != b.sex]
    if a.ssn and b.ssn and "ssn" in w:
        total += w["ssn"][_digits_level(a.ssn, b.ssn)]
    if a.oln and b.oln and "oln" in w:
        total += w["oln"][a.oln != b.oln]
    if a.fbi and b.fbi and "fbi" in w:
        total += w["fbi"][a.fbi != b.fbi]
    return total


def dob_shortlist(model: Model, f: Features, threshold: float) -> frozenset[str] | None:
    """The DOBs a record on file must have for a pair with ``f`` to reach ``threshold``,
    unless the record agrees exactly on an identifier or has no DOB; None when any DOB may
    (the rest of the fields alone can reach it, or ``f`` has no DOB).

    Why: inline, most candidates of a large file share a name key but not the DOB, and
    cannot reach the match weight (``weight_bound``); the index filters them in SQL with
    this list, and Python never builds them.  Exact: the bound takes every other field at its
    best (identifiers at their best level short of exact agreement, which the index lets
    through), so no pair that could reach the threshold is left out."""
    w = model.weights
    if not f.dob or "dob" not in w:
        return None
    rest = 0.0
    for fld in ("surname", "given", "middle", "sex"):
        if fld in w:
            rest += max(0.0, *w[fld])
    for fld, have in (("ssn", f.ssn), ("oln", f.oln), ("fbi", f.fbi)):
        if have and fld in w:
            rest += max(0.0, *w[fld][1:])
    allowed = {lv for lv, x in enumerate(w["dob"]) if rest + x >= threshold}
    if len(w["dob"]) - 1 in allowed:  # "differs" can reach it: no shortlist
        return None
    # the strings at levels 0-3 by construction: the DOB; day and month swapped (1); one
    # digit changed or two adjacent swapped (1 when that is the swap, else 2); a year off
    # (2 when that changes one digit, else 3) -- only the few ambiguous ones are leveled
    d = f.dob
    out: set[str] = set()
    if 0 in allowed:
        out.add(d)
    swap = d[:4] + d[6:8] + d[4:6]
    near = {d[:k] + c + d[k + 1:] for k in range(8) for c in "0123456789"}
    near.update(d[:k] + d[k + 1] + d[k] + d[k + 2:] for k in range(7))
    near.discard(d)
    if 2 in allowed:
        out |= near
    y = int(d[:4])
    few = {swap, *(f"{y + dy:04d}{d[4:]}" for dy in (-1, 1) if 0 <= y + dy <= 9999)}
    out -= few
    # (the swap is in ``few``, at its own level: 1, or 0 when day and month are equal --
    # 2000-01-01 swapped is itself, and discarding it dropped the DOB's exact match)
    out.update(x for x in few if _dob_level(d, x) in allowed)
    return frozenset(out)


def comparison_matrix(feats: Sequence[Features], pairs: npt.NDArray[np.int64]) -> Matrix:
    """Comparison vectors of many pairs (pairs × fields, int8)."""
    rows = [compare(feats[i], feats[j]) for i, j in pairs.tolist()]
    if not rows:
        return np.empty((0, len(FIELDS)), dtype=np.int8)
    return np.asarray(rows, dtype=np.int8)


# ---- the model ---------------------------------------------------------------------------

@dataclass(slots=True)
class Model:
    """m and u probabilities per field and level, the prior λ, and the decision thresholds
    (posterior probabilities: portable across files, unlike raw weights)."""

    fields: tuple[str, ...]
    m: dict[str, list[float]]
    u: dict[str, list[float]]
    prior: float
    match_p: float = 0.9
    review_p: float = 0.01
    weights: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a level of partial agreement (a nickname, a swapped day and month, an initial) is
        # never weaker evidence than the field's outright disagreement (its last level): a
        # file in which EM saw no such error (m ~ 0) must not make one count against a
        # match -- the next file, or the next message, may have it
        self.weights = {}
        for f in self.fields:
            w = [math.log2(max(m, 1e-9) / max(u, 1e-9))
                 for m, u in zip(self.m[f], self.u[f], strict=True)]
            self.weights[f] = [max(x, w[-1]) for x in w[:-1]] + [w[-1]]

    def weight(self, gamma: Sequence[int]) -> float:
        """Match weight of one comparison vector (FIELDS order)."""
        w = 0.0
        for f, g in zip(FIELDS, gamma, strict=True):
            if g >= 0 and f in self.weights:
                w += self.weights[f][g]
        return w

    def weights_of(self, gammas: Matrix) -> npt.NDArray[np.float64]:
        total = np.zeros(len(gammas), dtype=np.float64)
        for col, f in enumerate(FIELDS):
            if f not in self.weights:
                continue
            w = np.asarray([*self.weights[f], 0.0])  # index -1: missing, weight 0
            total += w[gammas[:, col]]
        return total

    def probability(self, weight: float | npt.NDArray[np.float64]) -> Any:
        prior_w = math.log2(self.prior / (1 - self.prior))
        if isinstance(weight, float | int):  # one pair (inline): math, not numpy
            x = -(weight + prior_w)
            return 0.0 if x > 1000 else 1.0 / (1.0 + 2.0 ** x)
        return 1.0 / (1.0 + np.power(2.0, -(weight + prior_w)))

    @property
    def match_weight(self) -> float:
        """The weight at which the posterior reaches ``match_p``."""
        return _logit2(self.match_p) - _logit2(self.prior)

    @property
    def review_weight(self) -> float:
        return _logit2(self.review_p) - _logit2(self.prior)

    def restricted(self, fields: Iterable[str]) -> Model:
        """The same weights over fewer fields (a name + DOB search): m and u of a field do
        not depend on which other fields are compared (the model's independence)."""
        keep = tuple(f for f in self.fields if f in set(fields))
        return Model(keep, {f: self.m[f] for f in keep}, {f: self.u[f] for f in keep},
                     self.prior, self.match_p, self.review_p)

    def tuned(self, gammas: Matrix, precision: float = MATCH_PRECISION) -> Model:
        """The same model with its match threshold chosen from its own posteriors: the
        lowest ``match_p`` (``MATCH_P_FLOOR`` to 0.99, by 0.01) at which the pairs it would
        call matches have a mean posterior -- the model's expected precision, no labels --
        of at least ``precision``.

        Why: a fixed posterior (0.9) leaves every true match between 0.5 and 0.9 below the
        line although the model finds it more likely a match than not; where the file's
        matches are clear the line can come down, where many pairs are doubtful it stays
        up.  Never below ``MATCH_P_FLOOR`` (0.7): the model's posteriors are not exact (its
        fields are not independent), and below 0.7 a clump of doubtful pairs -- twins,
        common names with one DOB -- could enter at once (measured: on a small synthetic
        file name + DOB precision fell to 0.978 at 0.5, and to 0.967-0.990 on FEBRL1-3;
        docs/quality.md).  ``gammas``: the file's candidate pairs (a uniform sample will
        do)."""
        match_p = self.match_p
        if len(gammas):
            p = np.sort(np.asarray(self.probability(self.weights_of(gammas))))[::-1]
            mean = np.cumsum(p) / np.arange(1, len(p) + 1)
            match_p = 0.99
            for t in np.round(np.arange(0.99, MATCH_P_FLOOR - 0.005, -0.01), 2).tolist():
                k = int(np.searchsorted(-p, -t, side="right"))  # pairs with p >= t
                if k and mean[k - 1] < precision:
                    break
                match_p = t
        return Model(self.fields, self.m, self.u, self.prior, match_p, self.review_p)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": list(self.fields), "m": self.m, "u": self.u, "prior": self.prior,
                "match_p": self.match_p, "review_p": self.review_p}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        return cls(tuple(d["fields"]), d["m"], d["u"], d["prior"], d["match_p"], d["review_p"])


#: training sessions (Splink's way): pairs blocked on some fields, EM over the others with u
#: fixed; a field's m comes from a session whose blocking did not force it to agree
SESSIONS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("bfjlm", ("given", "dob"), ("surname", "middle", "sex", "ssn", "oln", "fbi")),
    ("agik", ("surname", "dob"), ("given", "middle", "sex", "ssn", "oln", "fbi")),
    ("chr", ("surname", "given"), ("dob",)),
)


def fit_sessions(gammas: Matrix, kinds: npt.NDArray[np.int32], random_gammas: Matrix,
                 fields: Iterable[str] = tuple(FIELDS), iterations: int = 40,
                 n_records: int | None = None, learn_u: bool = False,
                 scale: float = 1.0) -> Model:
    """m by EM per session with u fixed from random pairs (Splink's way); then the prior.

    The prior is the probability that two records *drawn at random* are a match, as u is
    the agreement among random pairs: the expected number of matches M among the candidate
    pairs (all matches are assumed blocked together) over all n(n-1)/2 pairs, found as the
    fixed point M = sum of the candidates' posteriors at prior M / (n(n-1)/2).  With
    ``learn_u`` (not the default, measured worse) u is then re-learned on the candidates.
    ``kinds``: each pair's mask of shared key kinds (``blocked_pairs``).  ``gammas`` may be
    a uniform sample of the candidates, ``scale`` times fewer: the expected number of
    matches is then the sample's times ``scale``.
    """
    fields = tuple(fields)
    base = fit(gammas[:0], fields, random_gammas=random_gammas, iterations=0)
    m = dict(base.m)
    learned: dict[str, list[list[float]]] = {}
    for letters, excluded, targets in SESSIONS:
        sel = (kinds & sum(kind_bit(c) for c in letters)) != 0
        if sel.sum() < 50:
            continue
        use = tuple(f for f in fields if f not in excluded)
        if not use:
            continue
        session = fit(gammas[sel], use, random_gammas=random_gammas, iterations=iterations)
        for f in targets:
            if f in session.m:
                learned.setdefault(f, []).append(session.m[f])
    for f, ms in learned.items():
        m[f] = list(np.mean(np.asarray(ms), axis=0))
    if learn_u:
        return fit(gammas, fields, random_gammas=random_gammas, iterations=iterations,
                   learn_u=True, start_m=m, learn_m=False)
    model = Model(fields, m, base.u, 0.5)
    n = n_records or int(gammas.shape[0] ** 0.5) + 2
    total = n * (n - 1) / 2
    w = model.weights_of(gammas)
    matches = max(1.0, len(w) * scale * 0.1)
    for _ in range(200):
        lam = min(max(matches / total, 1e-12), 0.5)
        post = 1.0 / (1.0 + np.power(2.0, -np.clip(w + _logit2(lam), -60, 60)))
        new = float(post.sum()) * scale
        if abs(new - matches) < 1e-3 * max(1.0, matches):
            matches = new
            break
        matches = new
    return Model(fields, m, base.u, min(max(matches / total, 1e-12), 0.5)).tuned(gammas)


def _logit2(p: float) -> float:
    return math.log2(p / (1 - p))


def _initial_m(levels: int) -> list[float]:
    # most true matches agree exactly; the rest spread over the lesser levels
    rest = 0.2 / max(levels - 1, 1)
    return [0.8] + [rest] * (levels - 1)


def fit(gammas: Matrix, fields: Iterable[str] = tuple(FIELDS), *, random_gammas: Matrix |
        None = None, iterations: int = 40, prior: float = 0.1, tol: float = 1e-6,
        learn_u: bool = False, start_m: dict[str, list[float]] | None = None,
        learn_m: bool = True) -> Model:
    """Learn m, u and λ by EM from comparison vectors of candidate pairs (no labels).

    ``random_gammas`` (vectors of random pairs, almost all non-matches) give u, as Splink
    estimates it; EM learns m and λ on the candidates.  ``learn_u`` lets EM refine u as well
    (recordlinkage's ECM): measured worse here (docs/quality.md), as EM then may settle on
    another split of the pairs than match / non-match."""
    fields = tuple(fields)
    cols = [list(FIELDS).index(f) for f in fields]
    start_u = random_gammas if random_gammas is not None else gammas
    m = {f: list(start_m[f]) if start_m and f in start_m else _initial_m(len(FIELDS[f]))
         for f in fields}
    u: dict[str, list[float]] = {}
    for f, c in zip(fields, cols, strict=True):
        col = start_u[:, c]
        col = col[col >= 0]
        k = len(FIELDS[f])
        counts = np.bincount(col, minlength=k).astype(float) + 0.5
        u[f] = list(counts / counts.sum())
    lam = prior
    n = len(gammas)
    for _ in range(iterations):
        lw = np.full(n, math.log(lam / (1 - lam)))
        for f, c in zip(fields, cols, strict=True):
            g = gammas[:, c]
            ok = g >= 0
            lm = np.log(np.asarray(m[f]))
            lu = np.log(np.asarray(u[f]))
            lw[ok] += lm[g[ok]] - lu[g[ok]]
        post = 1.0 / (1.0 + np.exp(-np.clip(lw, -50, 50)))
        new_lam = float(post.mean())
        for f, c in zip(fields, cols, strict=True):
            g = gammas[:, c]
            ok = g >= 0
            k = len(FIELDS[f])
            mc = np.bincount(g[ok], weights=post[ok], minlength=k) + 1e-3
            uc = np.bincount(g[ok], weights=1 - post[ok], minlength=k) + 1e-3
            if learn_m:
                m[f] = list(mc / mc.sum())
            if learn_u:
                u[f] = list(uc / uc.sum())
        done = abs(new_lam - lam) < tol
        lam = min(max(new_lam, 1e-6), 1 - 1e-6)
        if done:
            break
    return Model(fields, m, u, lam)


#: EM learns from at most this many candidate pairs, drawn at random: the weights converge
#: long before all pairs of a large file are seen (Splink samples too)
EM_SAMPLE = 400_000


def learn(feats: Sequence[Features], fields: Iterable[str] = tuple(FIELDS), *, seed: int = 1,
          random_pairs: int = 200_000, pairs: npt.NDArray[np.int64] | None = None,
          gammas: Matrix | None = None, kinds: npt.NDArray[np.int32] | None = None,
          sample: int = EM_SAMPLE) -> Model:
    """A model learned from a file's own records, without labels: blocking, u from random
    pairs, m by EM per session on a sample of at most ``sample`` candidate pairs, then λ.

    ``pairs`` (sorted, as ``blocked_pairs`` gives them; a subset will do) and their
    ``gammas`` may be given when the caller has them; the kinds of given pairs without
    ``kinds`` are found by blocking again."""
    n = len(feats)
    if pairs is None:
        pairs, kinds = blocked_pairs(feats)
    elif kinds is None:
        kinds = pair_kinds(feats, pairs)
    assert kinds is not None
    rng = np.random.default_rng(seed)
    scale = 1.0
    if len(pairs) > sample:
        pick = np.sort(rng.choice(len(pairs), size=sample, replace=False))
        scale = len(pairs) / sample
        kinds = kinds[pick]
        gammas = gammas[pick] if gammas is not None else comparison_matrix(feats, pairs[pick])
    elif gammas is None:
        gammas = comparison_matrix(feats, pairs)
    rand = rng.integers(0, n, (min(random_pairs, n * 20), 2)) if n > 1 else \
        np.empty((0, 2), dtype=np.int64)
    rand = rand[rand[:, 0] != rand[:, 1]]
    return fit_sessions(gammas, kinds, comparison_matrix(feats, rand), fields, n_records=n,
                        scale=scale)


def pair_kinds(feats: Sequence[Features], pairs: npt.NDArray[np.int64]
               ) -> npt.NDArray[np.int32]:
    """The kind masks of ``pairs`` (candidate pairs of ``feats``), by blocking again."""
    n = len(feats)
    allp, allk = blocked_pairs(feats)
    codes = allp[:, 0] * n + allp[:, 1]
    want = np.minimum(pairs[:, 0], pairs[:, 1]) * n + np.maximum(pairs[:, 0], pairs[:, 1])
    at = np.clip(np.searchsorted(codes, want), 0, max(len(codes) - 1, 0))
    if not len(codes):
        return np.zeros(len(pairs), dtype=np.int32)
    return np.where(codes[at] == want, allk[at], 0).astype(np.int32)

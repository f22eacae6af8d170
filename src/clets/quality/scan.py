"""The monthly validation of a whole file: every record's flags and its duplicate clusters.

``scan`` takes records already read (the CLI reads CSV or JSON lines, ``read_records``
turns rows into the canonical model) and returns a :class:`ScanResult`; no file, no clock.
The linkage model is learned from the file itself (EM needs no labels), so the scan works on
a file it has never seen.  On more than one core the pair comparisons, the costliest part,
run in forked workers.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from clets.errors import DecodeError
from clets.model import from_dict
from clets.model.types import Case, License, Name, Person, Record, Vehicle

from .catalogue import Check, Flag, catalogue
from .crossrecord import (
    SAME_PERSON_BITS,
    mismatch_identifiers,
    record_numbers,
    same_person,
    stale_flags,
)
from .linkage import EM_SAMPLE, Features, Model, blocked_pairs, comparison_matrix, features, learn
from .rules import Subject, check_subject

__all__ = ["CSV_COLUMNS", "ScanRecord", "ScanResult", "read_records", "scan"]

#: the CSV form of a record: one row per person (and vehicle); absent columns are empty
CSV_COLUMNS = ("id", "mke", "file", "last", "first", "middle", "dob", "sex", "race",
               "height_in", "weight_lb", "ssn", "fbi", "cii", "oln", "oln_state",
               "oln_class", "oln_expires", "plate", "plate_state", "vin", "vehicle_year",
               "oca", "nic", "fcn", "DTE", "VLD", "PGD")

Progress = Callable[[str, int], None]


@dataclass(slots=True)
class ScanRecord:
    rid: str
    mke: str
    record: Record


@dataclass(slots=True)
class Cluster:
    members: list[int]  # record positions, first = the earliest entry
    pairs: list[tuple[int, int, float]]  # (i, j, weight) of the links inside

    @property
    def score(self) -> float:
        return max(w for _, _, w in self.pairs)


@dataclass(slots=True)
class ScanResult:
    records: list[ScanRecord]
    flags: list[list[Flag]]
    clusters: list[Cluster]
    model: Model | None
    weights: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    review_pairs: int = 0
    candidate_pairs: int = 0
    #: the candidate pairs (positions in ``person_positions``) and their comparison vectors
    pairs: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty((0, 2), np.int64))
    gammas: npt.NDArray[np.int8] = field(default_factory=lambda: np.empty((0, 8), np.int8))
    person_positions: list[int] = field(default_factory=list)

    def flag_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for fl in self.flags:
            for f in fl:
                out[f.check] = out.get(f.check, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# ---- reading -----------------------------------------------------------------------------

def _int(v: str | None) -> int | None:
    return int(v) if v and v.strip().lstrip("-").isdigit() else None


def _from_csv_row(row: Mapping[str, str]) -> tuple[str | None, str, Record]:
    g = {k: (v.strip() or None) if isinstance(v, str) else None for k, v in row.items()}
    person = Person(name=Name(g.get("last"), g.get("first"), g.get("middle")),
                    dob=g.get("dob"), sex=g.get("sex"), race=g.get("race"),
                    height_in=_int(g.get("height_in")), weight_lb=_int(g.get("weight_lb")),
                    ssn=g.get("ssn"), fbi=g.get("fbi"), cii=g.get("cii"))
    if g.get("oln"):
        person.license = License(number=g.get("oln"), state=g.get("oln_state"),
                                 class_=g.get("oln_class"), expires=g.get("oln_expires"))
    vehicle = None
    if g.get("plate") or g.get("vin"):
        vehicle = Vehicle(plate=g.get("plate"), plate_state=g.get("plate_state"),
                          vin=g.get("vin"), year=_int(g.get("vehicle_year")))
    case = Case(g.get("oca"), g.get("nic"), g.get("fcn")) \
        if g.get("oca") or g.get("nic") or g.get("fcn") else None
    rec = Record(file=g.get("file"), person=person if g.get("last") or g.get("first")
                 or g.get("dob") else None, vehicle=vehicle, case=case,
                 fields={k: str(g[k]) for k in ("DTE", "VLD", "PGD") if g.get(k)})
    return g.get("id"), g.get("mke") or "", rec


def _from_json(obj: Any, line: int) -> tuple[str | None, str, Record]:
    if not isinstance(obj, dict):
        raise DecodeError("a line must be a JSON object", format="jsonl", offset=None,
                          field=f"line {line}")
    obj = dict(obj)
    rid = obj.pop("id", None)
    mke = obj.pop("mke", "") if "format" not in obj else obj.get("mke", "")
    if "format" in obj:  # a whole canonical message: its subject is the record
        msg = from_dict(obj)
        rec = msg.records[0] if msg.records else Record(person=msg.person,
                                                        vehicle=msg.vehicle, case=msg.case)
        return rid, mke, rec
    try:
        msg = from_dict({"format": "jsonl", "mke": "REC", "records": [obj]})
    except DecodeError as exc:
        raise DecodeError(f"line {line}: {exc.reason}", format="jsonl",
                          field=getattr(exc, "field", None)) from None
    return rid, mke, msg.records[0]


def read_records(text: str, kind: str | None = None) -> Iterator[ScanRecord]:
    """Records from CSV (header row of CSV_COLUMNS names) or JSON lines (canonical Record
    objects, with optional ``id`` and ``mke``; or whole canonical messages)."""
    if kind is None:
        kind = "jsonl" if text.lstrip().startswith("{") else "csv"
    n = 0
    if kind == "csv":
        reader = csv.DictReader(io.StringIO(text))
        unknown = [c for c in reader.fieldnames or () if c not in CSV_COLUMNS]
        if unknown:
            raise DecodeError(f"unknown CSV column {unknown[0]!r}", format="csv",
                              field=unknown[0])
        for row in reader:
            n += 1
            rid, mke, rec = _from_csv_row(row)
            yield ScanRecord(rid or f"#{n}", mke, rec)
        return
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        n += 1
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DecodeError(f"line {line_no}: not JSON: {exc}", format="jsonl") from None
        rid, mke, rec = _from_json(obj, line_no)
        yield ScanRecord(str(rid) if rid is not None else f"#{n}", mke, rec)


# ---- scanning ----------------------------------------------------------------------------

_FEATS: list[Features] = []


def _compare_chunk(pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
    return comparison_matrix(_FEATS, pairs)


def _parallel_compare(feats: list[Features], pairs: npt.NDArray[np.int64],
                      jobs: int, done: Callable[[int], None] = lambda n: None
                      ) -> npt.NDArray[np.int8]:
    """Comparison vectors of all pairs, in forked workers when there are many; ``done`` is
    told the pairs of each chunk as it is finished (the progress bar of the longest phase:
    minutes at a million records)."""
    if jobs <= 1 or len(pairs) < 200_000:
        out = comparison_matrix(feats, pairs)
        done(len(pairs))
        return out
    global _FEATS
    _FEATS = feats  # inherited by the forked workers, not pickled
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    chunks = np.array_split(pairs, max(jobs * 4, len(pairs) // 250_000))
    parts = []
    with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        for chunk, part in zip(chunks, pool.map(_compare_chunk, chunks), strict=True):
            parts.append(part)
            done(len(chunk))
    _FEATS = []
    return np.concatenate(parts)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def scan(records: Sequence[ScanRecord], today: _dt.date, *,
         checks: Mapping[str, Check] | None = None, sealed: Iterable[str] = (),
         jobs: int | None = None, progress: Progress | None = None,
         model: Model | None = None) -> ScanResult:
    """Flags for every record and the duplicate clusters of a file."""
    checks = checks if checks is not None else catalogue()
    sealed = set(sealed)
    jobs = jobs or min(2, os.cpu_count() or 1)
    say = progress or (lambda phase, n: None)
    flags: list[list[Flag]] = []
    stale = checks.get("stale_record")
    sealed_check = checks.get("sealed_record")
    for r in records:
        s = Subject("", r.record.person, r.record.vehicle, mke=r.mke, file=r.record.file,
                    fields=r.record.fields, record=r.record)
        fl = check_subject(s, checks, today)
        if stale is not None:
            fl.extend(stale_flags(s, stale, today))
        if sealed_check is not None and sealed:
            fl.extend(Flag(sealed_check.id, sealed_check.kind, sealed_check.policy,
                           kind.lower(), f"{kind} is on the sealed list", num)
                      for kind, num in record_numbers(r.record) if num in sealed)
        flags.append(fl)
        say("checks", 1)
    positions = [i for i, r in enumerate(records) if r.record.person is not None]
    feats = []
    for i in positions:
        p = records[i].record.person
        assert p is not None
        feats.append(features(p))
    say("features", len(positions))
    result = ScanResult(list(records), flags, [], model)
    if len(feats) < 2:
        return result
    pairs, kinds = blocked_pairs(feats)
    say("blocking", len(pairs))
    gammas = _parallel_compare(feats, pairs, jobs, lambda n: say("comparing", n))
    if model is None:
        model = learn(feats, pairs=pairs, gammas=gammas, kinds=kinds)
        say("learning", min(len(pairs), EM_SAMPLE))  # pairs EM learned from
    weights = model.weights_of(gammas)
    result.model, result.weights, result.candidate_pairs = model, weights, len(pairs)
    result.pairs, result.gammas, result.person_positions = pairs, gammas, positions
    result.review_pairs = int((weights >= model.review_weight).sum())
    # duplicate clusters: links at the match threshold, joined transitively
    uf = _UnionFind()
    links: dict[int, list[tuple[int, int, float]]] = {}
    strong = np.flatnonzero(weights >= model.match_weight)
    for k in strong.tolist():
        a, b = int(pairs[k, 0]), int(pairs[k, 1])
        uf.union(a, b)
    for k in strong.tolist():
        a, b = int(pairs[k, 0]), int(pairs[k, 1])
        links.setdefault(uf.find(a), []).append((positions[a], positions[b],
                                                  float(weights[k])))
    dup = checks.get("duplicate_entry")
    for _root, plist in links.items():
        members = sorted({x for a, b, _ in plist for x in (a, b)})
        cluster = Cluster(members, plist)
        result.clusters.append(cluster)
        if dup is not None:
            first = members[0]
            for m in members[1:]:
                w = max(wt for a, b, wt in plist if m in (a, b))
                flags[m].append(Flag(dup.id, dup.kind, dup.policy, "person",
                                     f"duplicate of {records[first].rid} "
                                     f"(p={float(model.probability(w)):.3f})",
                                     records[first].rid, score=w))
    result.clusters.sort(key=lambda c: -c.score)
    say("clusters", len(result.clusters))
    _identifier_mismatches(records, positions, feats, model, flags, checks)
    return result


def _identifier_mismatches(records: Sequence[ScanRecord], positions: list[int],
                           feats: list[Features], model: Model,
                           flags: list[list[Flag]], checks: Mapping[str, Check]) -> None:
    c = checks.get("id_mismatch")
    if c is not None:
        bits = float(c.params.get("same_person_bits", SAME_PERSON_BITS))
        paths = {"ssn": "person.ssn", "oln": "person.license.number", "fbi": "person.fbi"}
        groups: dict[tuple[str, str], list[int]] = {}
        for k, f in enumerate(feats):
            for ident in mismatch_identifiers(f):
                groups.setdefault(ident, []).append(k)
        shared = [(ident, m) for ident, m in groups.items() if len(m) > 1]
        shared.sort(key=lambda kv: list(paths).index(kv[0][0]))  # SSN flags first, as before
        for (kind, value), members in shared:
            path = paths[kind]
            first = members[0]
            for k in members[1:]:
                if not same_person(feats[k], feats[first], model, bits):
                    other = records[positions[first]]
                    flags[positions[k]].append(Flag(
                        c.id, c.kind, c.policy, path,
                        f"{kind.upper()} also on {other.rid}, another person", value))
    c = checks.get("vin_two_plates")
    if c is not None:
        seen: dict[str, tuple[int, str]] = {}
        for i, r in enumerate(records):
            v = r.record.vehicle
            if v is None or not v.vin or not v.plate:
                continue
            plate = f"{v.plate_state or ''} {v.plate}"
            if v.vin in seen and seen[v.vin][1] != plate:
                flags[i].append(Flag(c.id, c.kind, c.policy, "vehicle.vin",
                                     f"VIN also on {records[seen[v.vin][0]].rid} under "
                                     f"plate {seen[v.vin][1]}", v.vin))
            else:
                seen.setdefault(v.vin, (i, plate))

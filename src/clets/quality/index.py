"""The quality index: what the file already holds, in a SQLite file beside the journal.

The cross-record checks need the identifiers and linkage blocks of every record seen in
entries and answers, and of the reference extract the agency loads; the sealed list; the
linkage model's weights.  They live here, in one SQLite file (``quality.db`` next to
``journal.db``), so they survive restarts; ``clets quality index rebuild`` makes it again
from the reference extract.  This is the package's adapter part: the only module that
touches a file.  Reads are indexed point lookups (a few per message); writes are one
transaction per record.

Schema 2 (``PRAGMA user_version``) keeps each block entry's DOB beside its key, so that the
inline duplicate search filters on the DOB shortlist inside the block index and reads only
the people that pass (docs/quality.md, "The quality index").  A file of schema 1 (no
version, blocks without DOBs) is migrated in place when opened: its entries, answers and
sealed list are kept, which a rebuild from the reference extracts would lose.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from clets.errors import ConfigError
from clets.model.types import Record, Vehicle

from .linkage import Features, Model, block_keys, features, nick_group

__all__ = ["SCHEMA_VERSION", "IndexedPerson", "QualityIndex", "read_sealed_list"]

log = logging.getLogger("clets.quality")

#: the file's layout (``PRAGMA user_version``); 1 (stored as 0) had no DOB in ``block``
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS person (
    rid TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    last TEXT, first TEXT, middle TEXT, dob TEXT, sex TEXT,
    ssn TEXT, oln TEXT, fbi TEXT, cii TEXT,
    sx_last TEXT, sx_first TEXT, ny_last TEXT, ny_first TEXT, mp_last TEXT, mp_first TEXT
);
CREATE TABLE IF NOT EXISTS block (
    key TEXT NOT NULL, dob TEXT NOT NULL, rid TEXT NOT NULL, PRIMARY KEY (key, dob, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS block_rid ON block (rid);
CREATE TABLE IF NOT EXISTS blocksize (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ident (kind TEXT NOT NULL, value TEXT NOT NULL, rid TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ident_value ON ident (kind, value);
CREATE INDEX IF NOT EXISTS ident_rid ON ident (rid);
CREATE TABLE IF NOT EXISTS vehicle (
    rid TEXT NOT NULL, vin TEXT, plate TEXT, plate_state TEXT
);
CREATE INDEX IF NOT EXISTS vehicle_vin ON vehicle (vin);
CREATE INDEX IF NOT EXISTS vehicle_rid ON vehicle (rid);
CREATE TABLE IF NOT EXISTS sealed (
    number TEXT PRIMARY KEY, kind TEXT, source TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_COLS = ("rid, source, last, first, middle, dob, sex, ssn, oln, fbi, sx_last, sx_first, "
         "ny_last, ny_first, mp_last, mp_first")
#: a blocking key with more records than this is not used to find candidates (a very common
#: name in one block), as the scan's ``max_block``
CANDIDATES_MAX = 400
#: records added after which the set of large blocks is read again
_BIG_REFRESH = 1000
#: the B-trees the inline checks read (``warm``): each scanned once, in file order
_WARM = ("SELECT count(*) FROM block NOT INDEXED",
         "SELECT count(rid) FROM person WHERE rid > ''",
         "SELECT count(*) FROM person NOT INDEXED",
         "SELECT count(value) FROM ident WHERE kind > ''",
         "SELECT count(*) FROM ident NOT INDEXED",
         "SELECT count(vin) FROM vehicle WHERE vin > ''",
         "SELECT count(*) FROM vehicle NOT INDEXED",
         "SELECT count(*) FROM blocksize")


class IndexedPerson(NamedTuple):
    rid: str
    source: str
    features: Features

    @property
    def label(self) -> str:
        """LAST, FIRST DOB: what a flag shows of the other record."""
        f = self.features
        d = f"{f.dob[:4]}-{f.dob[4:6]}-{f.dob[6:]}" if f.dob else ""
        return f"{f.last}, {f.first} {d}".strip()


def read_sealed_list(lines: Iterable[str], source: str = "sealed list") -> list[tuple[str, str]]:
    """``(kind, number)`` pairs from a sealed/expunged/purged batch file.

    One record number per line, optionally after its kind (``CII A12345678``, ``FCN ...``,
    ``NIC W123456789``); ``#`` starts a comment; blank lines are skipped."""
    out: list[tuple[str, str]] = []
    for n, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.replace(",", " ").split()
        if len(parts) == 1:
            kind, number = "", parts[0]
        elif len(parts) == 2 and parts[0].upper() in ("CII", "FCN", "NIC", "FBI", "OCA"):
            kind, number = parts[0].upper(), parts[1]
        else:
            raise ConfigError(f"not a record number line: {raw.strip()!r}", source=source,
                              line=n)
        number = number.upper().replace("-", "")
        if not number.isalnum() or len(number) > 20:
            raise ConfigError(f"not a record number: {number!r}", source=source, line=n)
        out.append((kind, number))
    return out


class QualityIndex:
    """The SQLite index.  One connection; the switch uses it from its loop thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.db = sqlite3.connect(str(self.path), isolation_level=None,
                                  check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # reads are point lookups over a file of ~1.4 GB at a million records: map it and
        # keep the B-trees' upper pages in a larger cache (a lookup is then no read call)
        self.db.execute("PRAGMA mmap_size=4294967296")
        self.db.execute("PRAGMA cache_size=-65536")
        self._migrate()
        self.db.executescript(_SCHEMA)
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if self.db.execute("SELECT 1 FROM block LIMIT 1").fetchone() and \
                not self.db.execute("SELECT 1 FROM blocksize LIMIT 1").fetchone():
            # an index made before block sizes were kept: count them once
            self.db.execute("INSERT INTO blocksize SELECT key, count(*) FROM block "
                            "GROUP BY key")
        self._features: dict[str, IndexedPerson] = {}
        self._sealed: set[str] | None = None
        self._model: Model | None = None
        self._big: set[str] | None = None
        self._added = 0

    def close(self) -> None:
        self.db.close()

    def warm(self) -> float:
        """Touch every page of the B-trees the inline checks read, once; the seconds taken.

        Why: the file is memory-mapped, and the first touch of a page by this process is a
        page fault, however warm the OS's cache -- at a million records those faults were
        most of the inline step's cost in a process that had just opened the index (CPU per
        candidate query 0.42 ms on first touch, 0.22 ms after one scan; 2026-12-04).  One
        scan in file order faults the pages in large runs instead (about a second at a
        million records, 2.6 GB).  The switch calls it when it starts."""
        t = time.monotonic()
        for sql in _WARM:
            self.db.execute(sql).fetchone()
        return time.monotonic() - t

    def _migrate(self) -> None:
        """Bring a file of an older schema to ``SCHEMA_VERSION`` in one transaction (the
        block table of schema 1 is copied with each entry's DOB from its person; at a
        million records, ~18 M entries, this takes minutes, once, and is logged)."""
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise ConfigError(f"quality index of schema {version}, newer than this clets "
                              f"reads ({SCHEMA_VERSION}): upgrade clets, or make the index "
                              "again with 'clets quality index rebuild'", source=str(self.path))
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(block)")}
        if not cols or "dob" in cols:
            return
        n = int(self.db.execute("SELECT count(*) FROM block").fetchone()[0])
        log.warning("quality index %s: schema 1 -> %d (block entries keep their DOB), "
                    "%d entries to copy; once", self.path, SCHEMA_VERSION, n)
        t = time.monotonic()
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("CREATE TABLE block_v2 (key TEXT NOT NULL, dob TEXT NOT NULL, "
                        "rid TEXT NOT NULL, PRIMARY KEY (key, dob, rid)) WITHOUT ROWID")
            # sorted, so that the new B-tree is written in order (a random order is several
            # times slower at a million records); an entry without a person is dropped
            cur.execute("INSERT OR IGNORE INTO block_v2 SELECT b.key, coalesce(p.dob, ''), "
                        "b.rid FROM block b JOIN person p ON p.rid = b.rid ORDER BY 1, 2, 3")
            cur.execute("DROP TABLE block")
            cur.execute("ALTER TABLE block_v2 RENAME TO block")
            cur.execute("CREATE INDEX block_rid ON block (rid)")
            cur.execute("CREATE TABLE IF NOT EXISTS blocksize (key TEXT PRIMARY KEY, "
                        "n INTEGER NOT NULL) WITHOUT ROWID")
            cur.execute("DELETE FROM blocksize")
            cur.execute("INSERT INTO blocksize SELECT key, count(*) FROM block GROUP BY key")
            cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        log.warning("quality index %s: migrated in %.1f s", self.path, time.monotonic() - t)

    # ---- writes --------------------------------------------------------------------------

    def add(self, rid: str, record: Record, source: str = "entry") -> None:
        """Index one record (its person and vehicle) under ``rid``, replacing an older one."""
        self.add_many([(rid, record, source)])

    def add_many(self, items: Iterable[tuple[str, Record, str]], *, fresh: bool = False
                 ) -> int:
        """Index records in one transaction.  ``fresh``: the index is empty and the ids are
        unique (a rebuild): nothing is deleted first and the block sizes are counted once at
        the end instead of per record -- a million records load several times faster."""
        if fresh and self.db.execute("SELECT 1 FROM person LIMIT 1").fetchone():
            raise ConfigError("a fresh load needs an empty index", source=str(self.path))
        n = 0
        cur = self.db.cursor()
        cur.execute("BEGIN")
        try:
            for rid, rec, source in items:
                if not fresh:
                    self._delete(cur, rid)
                p = rec.person
                if p is not None:
                    f = features(p)
                    cur.execute("INSERT INTO person VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                (rid, source, f.last, f.first, f.middle, f.dob, f.sex,
                                 f.ssn, f.oln, f.fbi, p.cii or "", f.sx_last, f.sx_first,
                                 f.ny_last, f.ny_first, f.mp_last, f.mp_first))
                    keys = list(dict.fromkeys(block_keys(f)))  # SMITH SMITH: one r key
                    cur.executemany("INSERT OR IGNORE INTO block VALUES (?,?,?)",
                                    [(k, f.dob, rid) for k in keys])
                    if not fresh:
                        cur.executemany("INSERT INTO blocksize VALUES (?, 1) ON CONFLICT(key) "
                                        "DO UPDATE SET n = n + 1", [(k,) for k in keys])
                    ids = [("ssn", f.ssn), ("oln", f.oln), ("fbi", f.fbi)]
                    cur.executemany("INSERT INTO ident VALUES (?,?,?)",
                                    [(k, v, rid) for k, v in ids if v])
                    self._features.pop(rid, None)
                v = rec.vehicle
                if v is not None and (v.vin or v.plate):
                    cur.execute("INSERT INTO vehicle VALUES (?,?,?,?)",
                                (rid, v.vin or "", v.plate or "", v.plate_state or ""))
                n += 1
            if fresh:
                cur.execute("DELETE FROM blocksize")
                cur.execute("INSERT INTO blocksize SELECT key, count(*) FROM block GROUP BY key")
            cur.execute("COMMIT")
            self._added += n
            if fresh:
                self._big = None
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return n

    @staticmethod
    def _delete(cur: sqlite3.Cursor, rid: str) -> None:
        cur.execute("UPDATE blocksize SET n = n - 1 WHERE key IN "
                    "(SELECT key FROM block WHERE rid = ?)", (rid,))
        for table in ("person", "block", "ident", "vehicle"):
            cur.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))

    def clear(self) -> None:
        """Empty the index of records (the sealed list and the model stay)."""
        self.db.executescript("DELETE FROM person; DELETE FROM block; DELETE FROM ident;"
                              "DELETE FROM vehicle; DELETE FROM blocksize;")
        self._features.clear()
        self._big = None

    def load_sealed(self, pairs: Iterable[tuple[str, str]], source: str,
                    replace: bool = False) -> int:
        cur = self.db.cursor()
        cur.execute("BEGIN")
        if replace:
            cur.execute("DELETE FROM sealed")
        rows = [(num, kind, source) for kind, num in pairs]
        cur.executemany("INSERT OR REPLACE INTO sealed VALUES (?,?,?)", rows)
        cur.execute("COMMIT")
        self._sealed = None
        return len(rows)

    def set_model(self, model: Model) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('model', ?)",
                        (json.dumps(model.to_dict()),))
        self._model = model

    # ---- reads ---------------------------------------------------------------------------

    def model(self) -> Model | None:
        if self._model is None:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
            if row is not None:
                self._model = Model.from_dict(json.loads(row[0]))
        return self._model

    def sealed(self) -> set[str]:
        if self._sealed is None:
            self._sealed = {r[0] for r in self.db.execute("SELECT number FROM sealed")}
        return self._sealed

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM person").fetchone()[0])

    def person(self, rid: str) -> IndexedPerson | None:
        hit = self._features.get(rid)
        if hit is not None:
            return hit
        row = self.db.execute(f"SELECT {_COLS} FROM person WHERE rid = ?", (rid,)).fetchone()
        if row is None:
            return None
        return self._remember(row)

    def _remember(self, row: tuple[Any, ...]) -> IndexedPerson:
        (rid, source, last, first, middle, dob, sex, ssn, oln, fbi, sx_l, sx_f, ny_l, ny_f,
         mp_l, mp_f) = row
        f = Features(last, first, middle, dob, sex, ssn, oln, fbi, sx_l, sx_f, ny_l, ny_f,
                     mp_l, mp_f, nick_group(first))
        ip = IndexedPerson(rid, source, f)
        if len(self._features) > 200_000:
            self._features.clear()
        self._features[rid] = ip
        return ip

    def candidates(self, f: Features, dobs: Collection[str] | None = None
                   ) -> list[IndexedPerson]:
        """Records sharing a blocking key with ``f``.

        A key whose block holds more than ``CANDIDATES_MAX`` records (a common name in one
        year, or a name alone in a large file) is skipped, as the scan skips it: its pairs
        come from the other keys, and the cost of a message stays bounded by the blocks it
        can use instead of growing with the file.  The large keys are held in memory
        (``_big_keys``); one query reads the people of the others (those already in memory
        are not rebuilt).

        ``dobs`` (``linkage.dob_shortlist``): only records with one of these DOBs, without
        a DOB, or with an identifier of ``f`` exactly are returned.  The DOB is tested on
        the block entries themselves (schema 2: the block index holds it), so a record that
        fails it costs a step along the index and no person lookup -- at a million records
        a message's keys hold 50-200 entries of which a handful pass.  (The tests carry a
        ``+``: SQLite is not to seek each key and DOB pair, 17 keys times ~80 DOBs, when a
        walk along each key's entries is cheaper.)"""
        big = self._big_keys()
        keys = [k for k in dict.fromkeys(block_keys(f)) if k not in big]
        if not keys:
            return []
        args: list[str] = list(keys)
        where = ""
        if dobs is not None:
            alts = ["+dob = ''"]
            if dobs:
                alts.append(f"+dob IN ({','.join('?' * len(dobs))})")
                args.extend(dobs)
            ids = [(k, v) for k, v in (("ssn", f.ssn), ("oln", f.oln), ("fbi", f.fbi)) if v]
            if ids:
                alts.append("+rid IN (SELECT rid FROM ident WHERE "
                            + " OR ".join("(kind = ? AND value = ?)" for _ in ids) + ")")
                args.extend(x for pair in ids for x in pair)
            where = f" AND ({' OR '.join(alts)})"
        cached = self._features
        out = []
        for row in self.db.execute(
                f"SELECT {_COLS} FROM person WHERE rid IN (SELECT rid FROM block WHERE key IN "
                f"({','.join('?' * len(keys))}){where})", args):
            ip = cached.get(row[0])
            out.append(ip if ip is not None else self._remember(row))
        return out

    def _big_keys(self) -> set[str]:
        """The keys whose blocks are larger than ``CANDIDATES_MAX``, read again after every
        ``_BIG_REFRESH`` records added (a block that has just grown past the limit is read
        whole until then: slower, never wrong)."""
        if self._big is None or self._added >= _BIG_REFRESH:
            self._big = {r[0] for r in self.db.execute(
                "SELECT key FROM blocksize WHERE n > ?", (CANDIDATES_MAX,))}
            self._added = 0
        return self._big

    def with_identifier(self, kind: str, value: str) -> list[IndexedPerson]:
        return self.with_identifiers([(kind, value)]).get((kind, value), [])

    def with_identifiers(self, pairs: list[tuple[str, str]]
                         ) -> dict[tuple[str, str], list[IndexedPerson]]:
        """People on file under each ``(kind, value)`` (SSN, OLN, FBI), in one query for the
        identifiers and one for the people not yet in memory (the inline path)."""
        if not pairs:
            return {}
        where = " OR ".join("(kind = ? AND value = ?)" for _ in pairs)
        args = [x for pair in pairs for x in pair]
        hits = self.db.execute(f"SELECT kind, value, rid FROM ident WHERE {where} LIMIT 150",
                               args).fetchall()
        missing = [rid for _, _, rid in hits if rid not in self._features]
        if missing:
            marks = ",".join("?" * len(missing))
            for row in self.db.execute(f"SELECT {_COLS} FROM person WHERE rid IN ({marks})",
                                       missing):
                self._remember(row)
        out: dict[tuple[str, str], list[IndexedPerson]] = {}
        for kind, value, rid in hits:
            ip = self._features.get(rid)
            if ip is not None:
                out.setdefault((kind, value), []).append(ip)
        return out

    def plates_of_vin(self, vin: str) -> list[tuple[str, str, str]]:
        """``(rid, plate, plate_state)`` of indexed vehicles with this VIN."""
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            "SELECT rid, plate, plate_state FROM vehicle WHERE vin = ? LIMIT 50", (vin,))]

    def rids(self) -> Iterator[str]:
        for r in self.db.execute("SELECT rid FROM person"):
            yield r[0]


def vehicle_key(v: Vehicle) -> tuple[str, str]:
    return (v.plate or "", v.plate_state or "")

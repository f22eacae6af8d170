"""Data quality: checks across fields, records and time, and name search that survives typos.

Field edits (``clets.model.edits``) test each field's form on its own; this package holds what
they cannot see: an SSN that is nine digits but was never issued, a licence expiring before its
holder could drive, the same SSN on two people, an entry the file already holds under a
misspelled name, a record number that was sealed last night.

- ``checks.toml`` and ``tables/``: the checks as data (kind, fields, default policy) and the
  tables they read (plate and licence forms per state, nicknames, licence classes).
- ``rules``: the per-message checks (identifier validity, plausibility); pure functions of a
  message and a date.
- ``linkage``: Fellegi–Sunter scoring with m/u weights learned by EM, phonetic blocking.
- ``population``: a labelled synthetic population (deterministic from a seed) to measure them.
- ``index``: the SQLite store beside the journal that the cross-record checks read (an adapter:
  the only module here that touches a file).
- ``crossrecord``: mismatched identifiers, duplicate entries, sealed and stale records.
- ``scan`` and ``report``: the monthly validation of a whole file, and its HTML report.
- ``gate``: the switch's quality step (checks with their policies, sealed records cut from
  answers); ``search``: name search over a set of people (the simulators' possible matches).
"""

"""Checks across records: they read the index of what the file already holds."""

from __future__ import annotations

CROSS_CHECKS = frozenset({"id_mismatch", "vin_two_plates", "duplicate_entry", "sealed_record",
                          "stale_record"})

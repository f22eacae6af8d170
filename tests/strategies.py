"""Hypothesis strategies for canonical messages, built from the code tables and field patterns."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from clets.model import (
    Case,
    Message,
    Name,
    Person,
    Vehicle,
    code_table,
)

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"


def codes(table: str) -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(code_table(table).codes))


def word(min_size: int = 1, max_size: int = 10) -> st.SearchStrategy[str]:
    return st.text(UPPER, min_size=min_size, max_size=max_size)


oris = st.builds(lambda s, r: s + r, codes("states"),
                 st.text(UPPER + DIGITS, min_size=7, max_size=7))
dates = st.dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2020, 12, 31)).map(
    lambda d: d.isoformat())
names = st.builds(Name, last=word(2, 12), first=st.none() | word(2, 9),
                  middle=st.none() | word(1, 1)).map(
    lambda n: Name(n.last, n.first, n.middle if n.first else None, None))
persons = st.builds(
    Person, name=names, dob=st.none() | dates, sex=st.none() | codes("sex"),
    race=st.none() | codes("race"),
    height_in=st.none() | st.integers(4 * 12, 7 * 12 + 11),
    weight_lb=st.none() | st.integers(80, 400), eyes=st.none() | codes("eyes"),
    hair=st.none() | codes("hair"))
vehicles = st.builds(
    Vehicle, plate=st.text(UPPER + DIGITS, min_size=2, max_size=8),
    plate_state=codes("states"), plate_year=st.none() | st.sampled_from(["2026", "26", "NX"]),
    plate_type=st.none() | codes("plate_types"))
cases = st.builds(Case, oca=st.none() | st.text(UPPER + DIGITS, min_size=1, max_size=12))


@st.composite
def inquiries(draw: st.DrawFn, fmt: str = "ncic") -> Message:
    """A person or vehicle inquiry that passes the field edits."""
    if draw(st.booleans()):
        return Message(format=fmt, mke="QW", origin=draw(oris), person=draw(persons))
    return Message(format=fmt, mke="QV", origin=draw(oris), vehicle=draw(vehicles))

"""The simulated wanted files answer a misspelled name with scored POSSIBLE MATCH lines,
never as a confirmed hit; an exact hit stays a hit."""

from __future__ import annotations

import pytest

from clets.model import Message, Name, Person
from clets.sim.backends import make_backend
from clets.sim.dataset import generate


def ask(file: str, last: str, first: str, dob: str) -> Message:
    backend = make_backend(file, generate(1975))
    req = Message(format="ncic", mke="QW", origin="CA0349999",
                  person=Person(name=Name(last, first), dob=dob))
    return backend.answer(req)[0]


@pytest.mark.parametrize("file", ["NCIC", "WPS"])
def test_exact_hit_stays_a_hit(file: str) -> None:
    answer = ask(file, "SMITH", "JOHN", "1975-10-12")
    assert answer.status == "hit" and "POSSIBLE" not in (answer.text or "")


@pytest.mark.parametrize(("last", "first", "dob", "differs"), [
    ("SMYTH", "JOHN", "1975-10-12", "NAM"),
    ("SMITH", "JOHNNY", "1975-12-10", "NAM,DOB"),
    ("JOHN", "SMITH", "1975-10-12", "NAM"),
    ("SMITH", "JOHN", "1975-10-13", "DOB"),
])
def test_misspelled_name_is_a_possible_match(last: str, first: str, dob: str,
                                             differs: str) -> None:
    answer = ask("NCIC", last, first, dob)
    assert answer.status == "no_hit" and not answer.records
    lines = [x for x in (answer.text or "").splitlines() if x.startswith("POSSIBLE MATCH")]
    assert lines and "NAM/SMITH, JOHN" in lines[0] and f"DIFFERS/{differs}" in lines[0]
    score = float(lines[0].split("SCORE/")[1].split()[0])
    assert 0 < score <= 1


def test_someone_else_is_no_possible_match() -> None:
    answer = ask("NCIC", "SMITH", "JOHN", "1980-01-01")
    assert answer.status == "no_hit" and "POSSIBLE" not in (answer.text or "")

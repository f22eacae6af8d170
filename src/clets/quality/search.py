"""Name search over a set of people: exact hits, and scored possible matches.

What the simulated state files (and any library user) call for a person inquiry: the
candidates share a phonetic blocking key with the query, each is scored by the linkage
model, and comes back with its match weight, posterior probability and the fields that
differ.  ``default_model()`` is a model learned by EM on a synthetic population (no labels)
and shipped as data (``tables/default_model.json``; ``python -m clets.quality.search`` writes
it again), for callers without a file of their own to learn from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

from clets.model.types import Person

from .linkage import FIELDS, Features, Model, block_keys, compare, features

__all__ = ["Match", "NameSearch", "default_model"]

_LABELS = {"surname": "NAM", "given": "NAM", "dob": "DOB", "middle": "NAM", "sex": "SEX",
           "ssn": "SOC", "oln": "OLN", "fbi": "FBI"}


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    weight: float
    probability: float
    differs: tuple[str, ...]  # NCIC tags of the fields that do not agree exactly

    @property
    def exact(self) -> bool:
        return not self.differs


@cache
def default_model() -> Model:
    text = resources.files("clets.quality").joinpath("tables", "default_model.json") \
        .read_text("utf-8")
    return Model.from_dict(json.loads(text))


class NameSearch:
    """An in-memory index of people by blocking key."""

    def __init__(self, people: Iterable[tuple[str, Person]], model: Model | None = None) -> None:
        self.model = model or default_model()
        self._feats: dict[str, Features] = {}
        self._blocks: dict[str, list[str]] = {}
        for key, p in people:
            f = features(p)
            self._feats[key] = f
            for b in block_keys(f):
                self._blocks.setdefault(b, []).append(key)

    def search(self, query: Person, *, limit: int = 5) -> list[Match]:
        """Candidates at or above the review threshold, best first."""
        q = features(query)
        seen: set[str] = set()
        out: list[Match] = []
        m = self.model
        for b in block_keys(q):
            for key in self._blocks.get(b, ()):
                if key in seen:
                    continue
                seen.add(key)
                gamma = compare(q, self._feats[key])
                w = m.weight(gamma)
                if w < m.review_weight:
                    continue
                other = self._feats[key]
                named = ["NAM"] if (q.last, q.first) != (other.last, other.first) else []
                differs = tuple(dict.fromkeys(named + [
                    _LABELS[f] for f, g in zip(FIELDS, gamma, strict=True) if g > 0]))
                out.append(Match(key, w, float(m.probability(w)), differs))
        out.sort(key=lambda x: -x.weight)
        return out[:limit]


def _write_default(size: int = 60_000, seed: int = 1975) -> None:
    """Learn the default model on a synthetic population and write it (package data).

    The population draws its names from the common pools only (no synthetic tail): the
    default model serves the simulated files and searches without a file of their own, whose
    names are common ones, where an exact SMITH is weaker evidence than the average name of
    a file with a long tail.  A real file's model is learned from the file itself."""
    from pathlib import Path

    from .linkage import learn
    from .population import Spec, generate

    pop = generate(Spec(size=size, seed=seed, surname_tail=0.0, given_tail=0.0))
    model = learn([features(r.record.person) for r in pop.records if r.record.person])
    path = Path(__file__).with_name("tables") / "default_model.json"
    path.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path} (prior {model.prior:.4f})")


if __name__ == "__main__":
    _write_default()

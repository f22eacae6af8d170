"""A snapshot's dedup keys, packed (``DedupKeys.packed`` / ``load_packed``): the same keys,
values and expiry order come back, whether the keys are new or known already."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.switch.dedupkeys import DedupKeys

_entry = st.tuples(st.text(min_size=1, max_size=12), st.integers(0, 2**62),
                   st.binary(min_size=32, max_size=32).map(bytes.hex),
                   st.floats(0, 2e9, allow_nan=False))


@given(st.lists(_entry, max_size=40), st.lists(_entry, max_size=10))
def test_packed_keys_load_back_as_they_were(entries: list[tuple[str, int, str, float]],
                                             known: list[tuple[str, int, str, float]]) -> None:
    src = DedupKeys()
    for key, msn, sha, at in entries:
        src.set(key, msn, sha, at)
    keys, blob = src.packed([*src.keys(), "not-a-key-longer-than-12"])
    assert keys == src.keys()
    dst, ref = DedupKeys(), DedupKeys()
    for key, msn, sha, at in known:  # a fold may know some keys already
        dst.set(key, msn, sha, at)
        ref.set(key, msn, sha, at)
    dst.load_packed(keys, blob)
    for key in keys:
        got = src.get(key)
        assert got is not None
        ref.set(key, *got)
    assert dict(dst.items()) == dict(ref.items())
    # the same expiry: what each forgets, step by step in time
    for t in sorted({at for *_, at in entries + known}):
        assert dst.expire(t) == ref.expire(t)
        assert dict(dst.items()) == dict(ref.items())


def test_a_blob_that_does_not_match_its_keys_is_refused() -> None:
    with pytest.raises(ValueError, match="do not match"):
        DedupKeys().load_packed(["a", "b"], b"\0" * 48)

"""The dedup keys of the log journal, in memory and compact.

Why not a dict of tuples: 600 s at 2,000 inquiries/s is 1.2 M keys, and a tuple of an int, a
64-character hex string and a float, in an ordered map, took ~360 bytes a key (430 MB).  Here
the value is one 48-byte ``bytes`` (msn, time, the SHA-256 digest) in a plain dict, and the
expiry order is a deque of the keys themselves (the order they were first set in: times only
grow).  A key set again while it is known (a retransmission) is noted; when it comes to the
front not yet due it goes to the back instead of holding the keys behind it.  (check_duplicate
compares the time as well, so a key past its window never counts, even before it is dropped.)
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator

__all__ = ["DedupKeys"]

_PACK = struct.Struct("<qd32s")
_AT = struct.Struct("<d")


class DedupKeys:
    def __init__(self) -> None:
        self._d: dict[str, bytes] = {}
        self._order: deque[str] = deque()
        #: keys set again while known: moved to the back when they reach the front
        self._again: set[str] = set()

    def __len__(self) -> int:
        return len(self._d)

    def get(self, key: str) -> tuple[int, str, float] | None:
        v = self._d.get(key)
        if v is None:
            return None
        msn, at, digest = _PACK.unpack(v)
        return msn, digest.hex(), at

    def set(self, key: str, msn: int, sha: str, at: float) -> None:
        """``sha``: a SHA-256 as 64 hex digits (what the switch computes)."""
        if key in self._d:
            self._again.add(key)
        else:
            self._order.append(key)
        self._d[key] = _PACK.pack(msn, at, bytes.fromhex(sha))

    def pop(self, key: str) -> tuple[int, str, float] | None:
        old = self.get(key)
        self._d.pop(key, None)
        self._again.discard(key)
        return old

    def expire(self, before: float) -> int:
        """Forget the keys set before ``before``; how many."""
        d, order, n = self._d, self._order, 0
        while order:
            key = order[0]
            v = d.get(key)
            if v is None:
                order.popleft()
                continue
            order.popleft()
            if _AT.unpack_from(v, 8)[0] < before:
                del d[key]
                self._again.discard(key)
                n += 1
            elif key in self._again:  # set again: its place is further back
                self._again.discard(key)
                order.append(key)
            else:
                order.appendleft(key)
                break
        return n

    def keys(self) -> list[str]:
        return list(self._d)

    def packed(self, keys: list[str]) -> tuple[list[str], bytes]:
        """Those of ``keys`` still known and their values, as one blob of 48-byte values:
        what a snapshot writes (no per-key record to encode, nor to fold at a restart)."""
        d = self._d
        kept = [k for k in keys if k in d]
        return kept, b"".join([d[k] for k in kept])

    def load_packed(self, keys: list[str], blob: bytes) -> None:
        """``packed``'s output back in (a snapshot's keys, in their order)."""
        size = _PACK.size
        if len(blob) != size * len(keys):
            raise ValueError("packed dedup keys: blob and keys do not match")
        values = [blob[i:i + size] for i in range(0, len(blob), size)]
        d = self._d
        if d.keys().isdisjoint(keys):  # the usual case: a restart's first snapshot block
            self._order.extend(keys)
        else:
            for k in keys:
                if k in d:
                    self._again.add(k)
                else:
                    self._order.append(k)
        d.update(zip(keys, values, strict=True))

    def reorder(self) -> None:
        """The expiry order rebuilt from the keys' times (after a fold).  A snapshot writes
        its keys one block per timer tick, after the blocks of the keys set meanwhile: folded
        in log order, the older keys came behind newer ones and ``expire``, which stops at the
        first key not due, never reached them -- each restart kept them for good."""
        d, at = self._d, _AT.unpack_from
        self._order = deque(sorted(d, key=lambda k: at(d[k], 8)[0]))
        self._again.clear()

    def items(self) -> Iterator[tuple[str, tuple[int, str, float]]]:
        for key, v in self._d.items():
            msn, at, digest = _PACK.unpack(v)
            yield key, (msn, digest.hex(), at)

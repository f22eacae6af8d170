"""Split a process's CPU samples (``perf record -g``) by kind: the interpreter, SQLite,
hashlib/OpenSSL, msgspec, the compiled build, libc, and the kernel by system call.

Why by kind and not by function: it bounds what a compiler could save.  Only the
interpreter's share (libpython: the eval loop and the object code it calls) is what mypyc or
Cython could shrink; SQLite, OpenSSL, msgspec and the kernel stay as they are.

    .venv/bin/python bench/switch.py --variants log,log+compiled --perf /tmp/p ...
    perf script -i /tmp/p.log | .venv/bin/python bench/perf_kinds.py

Kernel samples are named by the system call they are under (``pwrite64``, ``fdatasync``,
``sendto`` ...), a page fault or an interrupt; the leaf's shared object names the rest.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable

FRAME = re.compile(r"\s*[0-9a-f]+ (.*) \((.*)\)\s*$")

#: (substring of the shared object's path, kind), first match wins
KINDS = (
    ("libpython", "interpreter (libpython: eval loop, objects)"),
    ("__mypyc", "compiled clets (mypyc)"),
    ("/build/compiled/", "compiled clets (mypyc)"),
    ("libc.so", "libc (malloc, memmove)"),
    ("msgspec", "msgspec"),
    ("_core.cpython", "msgspec"),
    ("libcrypto", "hashlib/OpenSSL"),
    ("_hashlib", "hashlib/OpenSSL"),
    ("sqlite", "SQLite"),
    ("vdso", "vdso (clock)"),
)


def kernel_kind(frames: list[tuple[str, str]]) -> str:
    calls = [s for s, _ in frames if s.startswith("__x64_sys_")]
    if calls:
        return "kernel: " + calls[-1].removeprefix("__x64_sys_")
    if any("page_fault" in s for s, _ in frames):
        return "kernel: page fault"
    if any(s.startswith(("asm_common_interrupt", "asm_sysvec", "irq_exit", "handle_softirqs",
                         "__do_softirq")) for s, _ in frames):
        return "kernel: interrupts"
    return "kernel: other"


def kind(frames: list[tuple[str, str]]) -> str:
    _sym, dso = frames[0]
    if "kernel" in dso:
        return kernel_kind(frames)
    for needle, name in KINDS:
        if needle in dso:
            return name
    return "other: " + dso.rsplit("/", 1)[-1]


def samples(lines: Iterable[str]) -> Iterable[list[tuple[str, str]]]:
    """Each sample's stack (leaf first) as (symbol, shared object) pairs."""
    frames: list[tuple[str, str]] = []
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        m = FRAME.match(line) if line[0] in " \t" else None
        if m:
            frames.append((re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)), m.group(2)))
    if frames:
        yield frames


def main() -> None:
    counts: Counter[str] = Counter()
    for frames in samples(sys.stdin):
        counts[kind(frames)] += 1
    total = sum(counts.values()) or 1
    kernel = sum(v for k, v in counts.items() if k.startswith("kernel"))
    print(f"{total} samples")
    for name, n in counts.most_common():
        if not name.startswith("kernel"):
            print(f"{n * 100 / total:5.1f} %  {name}")
    print(f"{kernel * 100 / total:5.1f} %  kernel, of which:")
    for name, n in counts.most_common():
        if name.startswith("kernel") and n * 1000 >= total:
            print(f"   {n * 100 / total:5.1f} %  {name.removeprefix('kernel: ')}")


if __name__ == "__main__":
    main()

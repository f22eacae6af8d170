"""Linear-time check of the fuzz targets: time over doublings of crafted inputs.

    python fuzz/scaling.py [TARGET ...]          # exit 1 when a case grows faster than linear

A coverage-guided fuzzer finds inputs that crash; it rarely finds inputs that are slow only
when they are *large*, because it keeps inputs small.  So each target also has crafted inputs
that grow with a count ``k`` (many fields, one long value, many frames, a frame fed one byte at
a time, deep nesting...).  Each case is doubled until one run takes 10 ms, then timed at three
sizes, each doubling the last (the best of three runs, CPU time); a linear parser takes about
twice as long at each doubling.  A
case is flagged when the last doubling took more than ``--ratio`` (3.0) times as long: a
quadratic one takes four times as long.  Cases whose largest input takes under 20 ms are
reported but not judged (too short to time on a shared machine).

Timing is noisy on a shared machine, so this is a tool of ``make fuzz``, not a test: what it
finds gets a test of its own that counts operations or compares sizes
(tests/test_fuzz_findings.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import targets  # noqa: E402

Case = tuple[str, str, Callable[[int], bytes], Callable[[bytes], None], int]

NCIC_HEAD = b"QW.CA0349999.NAM/SMITH, JOHN J.DOB/19751012"


def _framer_bytewise(spec: str) -> Callable[[bytes], None]:
    """Feed a stream to a framer one byte at a time (a slow serial line, a slowloris)."""
    def run(data: bytes) -> None:
        from clets.framing import make_framer

        framer = make_framer(spec, 1 << 24)
        for i in range(len(data)):
            if framer.broken is not None:
                return
            framer.feed(data[i:i + 1])
    return run


def _framer_whole(spec: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        from clets.framing import make_framer

        make_framer(spec, 1 << 24).feed(data)
    return run


def _one_frame(spec: str) -> Callable[[int], bytes]:
    def build(k: int) -> bytes:
        from clets.framing import make_framer

        return make_framer(spec, 1 << 24).encode(b"A" * k)
    return build


def _many_frames(spec: str) -> Callable[[int], bytes]:
    def build(k: int) -> bytes:
        from clets.framing import make_framer

        framer = make_framer(spec, 1 << 24)
        return b"".join(framer.encode(b"QW.CA0349999.NAM/SMITH, JOHN") for _ in range(k))
    return build


def _run(name: str) -> Callable[[bytes], None]:
    return lambda data: targets.run_one(name, data)


def _seed(name: str, i: int = 0) -> bytes:
    return list(targets.seeds(name))[i]


def _rdw_stream(k: int) -> bytes:
    """k registration inquiries, each behind its RDW (selector byte 0: dmv-reg-request)."""
    record = next(s for s in targets.seeds("dmv") if s[0] == 0)[1:]
    rdw = (len(record) + 4).to_bytes(2, "big") + b"\0\0"
    return b"\0" + (rdw + record) * k


def cases() -> list[Case]:
    """(target, case, build(k), run(data), k0): inputs of about k0 * 2**n units."""
    niem_seed = _seed("niem")
    out: list[Case] = [
        ("ncic", "many fields", lambda k: NCIC_HEAD + b".SOC/123456789" * k, _run("ncic"), 200),
        ("ncic", "one long value", lambda k: NCIC_HEAD + b".MIS/" + b"A" * k, _run("ncic"), 4000),
        ("ncic", "many messages", lambda k: (NCIC_HEAD + b"\n\n") * k, _run("ncic"), 100),
        ("ncic", "many dots", lambda k: NCIC_HEAD + b"." * k, _run("ncic"), 4000),
        ("ncic", "many lines", lambda k: NCIC_HEAD + b"\nMIS/A" * k, _run("ncic"), 500),
        ("ncic", "response records", lambda k: b"QWR.CA0349999.*Q0000124.\nWARNING\n"
         + b"\n\nNAM/SMITH, JOHN J CMC/05 ORI/CA0349999" * k, _run("ncic"), 50),
        ("nlets", "seed repeated", lambda k: _seed("nlets") * k, _run("nlets"), 20),
        ("nlets", "one long value",
         lambda k: b"ALQ.CA0349999.NY0303000.TXT\n" + b"A" * k, _run("nlets"), 4000),
        ("nlets", "many fields", lambda k: b"DQ.CA0349999.NY0303000.TXT\n"
         + b"NAM/SMITH, JOHN.DOB/19751012." * k, _run("nlets"), 100),
        ("niem", "many documents", lambda k: niem_seed * k, _run("niem"), 8),
        ("niem", "long text", lambda k: niem_seed.replace(b"LINE ONE", b"LINE " * k, 1),
         _run("niem"), 1000),
        ("niem", "many text lines", lambda k: niem_seed.replace(b"LINE ONE", b"A&#13;\n" * k, 1),
         _run("niem"), 1000),
        ("niem", "long comment", lambda k: niem_seed + b"<!--" + b"a" * k + b"-->",
         _run("niem"), 4000),
        ("json", "many lines", lambda k: _seed("json") * k, _run("json"), 20),
        ("json", "many fields", lambda k: b'{"format":"ncic","mke":"QW","fields":{'
         + b",".join(b'"F%d":"x"' % i for i in range(k)) + b"}}", _run("json"), 200),
        ("json", "long string", lambda k: b'{"format":"ncic","mke":"QW","text":"'
         + b"\\u00e9" * k + b'"}', _run("json"), 1000),
        ("json", "deep nesting", lambda k: b"[" * k + b"]" * k, _run("json"), 500),
        ("dmv", "RDW stream", _rdw_stream, _run("dmv"), 10),
        ("copybook", "many fields", lambda k: b"01 R.\n" + b"".join(
            b" 05 F%d PIC X(2).\n" % i for i in range(k)), _run("copybook"), 100),
        ("copybook", "long comment", lambda k: b"      *" + b"-" * k + b"\n       01 R PIC X.\n",
         _run("copybook"), 4000),
        ("copybook", "one long line", lambda k: b"01 R. " + b" ".join(
            b"05 F%d PIC X." % i for i in range(k)), _run("copybook"), 100),
        ("config", "many links", lambda k: _seed("config") + b"".join(
            b'\n[[link]]\nname = "x%d"\nurl = "tcp://127.0.0.1:%d?plain=1"\ncodec = "ncic"\n'
            b'role = "origin"\npeer = "AGENCY"\n' % (i, 1000 + i) for i in range(k)),
         _run("config"), 25),
        ("config", "long string", lambda k: b'[switch]\nname = "' + b"a" * k + b'"\n',
         _run("config"), 4000),
        ("url", "many parameters", lambda k: b"tcp://h:1?" + b"&".join(
            b"p%d=1" % i for i in range(k)), _run("url"), 200),
        ("url", "long path", lambda k: b"spool:///" + b"a/" * k, _run("url"), 2000),
    ]
    # ascii-len:9, not :4 -- four digits cannot announce the frames of the larger sizes
    for spec in ("len2", "len4", "ascii-len:9", "ascii-len:6:cp037", "rdw", "stx-etx",
                 "stx-etx+lrc", "mllp", "line"):
        out += [
            ("framing", f"{spec} one frame, bytewise", _one_frame(spec), _framer_bytewise(spec),
             2000),
            ("framing", f"{spec} many frames", _many_frames(spec), _framer_whole(spec), 200),
            ("framing", f"{spec} garbage, bytewise", lambda k: b"\x03\x1c\r" * k,
             _framer_bytewise(spec), 1000),
        ]
    return out


def _time(run: Callable[[bytes], None], data: bytes) -> float:
    best = math.inf
    for _ in range(3):
        t0 = time.process_time()
        try:
            run(data)
        except targets.ALLOWED:
            pass
        best = min(best, time.process_time() - t0)
    return best


#: the first size measured is the first doubling of k0 that takes this long (or MAX_BYTES)
MIN_SECONDS = 0.01
MAX_BYTES = 4 << 20


def measure(case: Case, steps: int = 3) -> tuple[list[int], list[float]]:
    """Sizes and best times at ``steps`` doublings, from the first size that is timeable."""
    _, _, build, run, k = case
    data = build(k)
    while len(data) < MAX_BYTES and _time(run, data) < MIN_SECONDS:
        k *= 2
        data = build(k)
    sizes, times = [], []
    for n in range(steps):
        data = build(k * 2 ** n)
        sizes.append(len(data))
        times.append(_time(run, data))
    return sizes, times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*")
    ap.add_argument("--ratio", type=float, default=3.0)
    args = ap.parse_args()
    chosen = [c for c in cases() if not args.targets or c[0] in args.targets]
    flagged = 0
    for case in chosen:
        try:
            sizes, times = measure(case)
        except Exception as exc:  # an untyped error: the fuzz oracle's finding, reported here
            flagged += 1
            print(f"{case[0]:9} {case[1]:34} ERROR {type(exc).__name__}: {exc}")
            continue
        last = times[-1] / times[-2] if times[-2] > 0 else math.inf
        judged = times[-1] >= 0.02
        bad = judged and last > args.ratio
        flagged += bad
        verdict = "SUPERLINEAR" if bad else ("ok" if judged else "too fast to judge")
        print(f"{case[0]:9} {case[1]:34} bytes {sizes[0]:>8}..{sizes[-1]:<9} "
              f"ms {' '.join(f'{t * 1000:8.1f}' for t in times)}  x{last:4.1f}  {verdict}")
    print(f"{len(chosen)} cases, {flagged} superlinear")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())

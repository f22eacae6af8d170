"""Run the fuzz targets of ``fuzz/targets.py`` under atheris (libFuzzer), each for a set time.

    python fuzz/run.py [--seconds N] [--dir .fuzz] [TARGET ...]      # all targets by default

For each target a *parent* loop starts a *child* fuzzer (this file with ``--child``) for the
time that is left.  The child replays the saved regression inputs of the target first, and an
input that still fails there is *known*: later inputs failing with the same signature (error
type and the line that raised it) are not reported again, so one unfixed bug does not stop the
search for the next.  A new failure makes libFuzzer write the input and exit; the parent copies
it to ``tests/fuzz_regressions/<target>/`` (where ``tests/test_fuzz_regressions.py`` replays it
in every ``make test``) and starts the child again until the time is used.

The growing corpus lives in ``<dir>/corpus/<target>`` (outside git, default ``.fuzz/``), seeded
from ``targets.seeds()`` at every start; a run's log with libFuzzer's statistics is in
``<dir>/log/<target>.log``, and the summary line of each target is printed at the end.

The oracle (issue 12): only typed errors (``clets.errors``) may escape, checks of the target
must hold, and no input may take more than linear time: an input that takes longer than
``--cap-base`` seconds plus ``--cap-per-kib`` seconds per KiB (three tries, the fastest
counts) is a ``Superlinear`` failure.  Inputs are at most ``--max-len`` bytes (16 KiB).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REGRESSIONS = ROOT / "tests" / "fuzz_regressions"


class Superlinear(AssertionError):
    """An input that took longer than the time cap for its length."""


def signature(exc: BaseException) -> tuple[str, str]:
    """Error type and the innermost line of clets (or of the target) that it passed through."""
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if "/clets/" in frame.filename or "/fuzz/" in frame.filename:
            where = f"{Path(frame.filename).name}:{frame.lineno}"
    return type(exc).__name__, where


# ------------------------------------------------------------------------------ child


def child(name: str, args: argparse.Namespace, libfuzzer_args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["clets", "targets", "tomllib", "urllib"]):
        sys.path.insert(0, str(HERE))
        import targets

        # import what the target imports lazily, inside the instrumented block
        targets.warm()
        for s in targets.seeds(name):
            targets.run_one(name, s)
            break
        import clets.adapters.drop
        import clets.adapters.serial
        import clets.adapters.sftp
        import clets.adapters.spool
        import clets.adapters.tcp
        import clets.adapters.url
        import clets.codecs.copybook
        import clets.framing
        import clets.switch.config  # noqa: F401

    # The copybook and JSON codecs generate their decoders at run time (exec, file names
    # "<clets ...>"), out of reach of the import hook: instrument those functions by hand
    # (instrument_all() would too, but takes minutes over the whole standard library).
    import gc
    import types

    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and obj.__code__.co_filename.startswith("<clets"):
            atheris.instrument_func(obj)
    target = targets.TARGETS[name]
    allowed = targets.ALLOWED
    def cap(n: int) -> float:
        return float(args.cap_base + args.cap_per_kib * n / 1024)

    def too_slow(data: bytes, took: float) -> float | None:
        """The best of three times when over the cap (None when not)."""
        best = took
        for _ in range(2):
            if best <= cap(len(data)):
                return None
            t0 = time.perf_counter()
            try:
                target(data)
            except allowed:
                pass
            best = min(best, time.perf_counter() - t0)
        return best if best > cap(len(data)) else None

    known: set[tuple[str, str]] = set()
    for path in sorted((REGRESSIONS / name).glob("*")) if (REGRESSIONS / name).is_dir() else []:
        data = path.read_bytes()
        t0 = time.perf_counter()
        try:
            target(data)
        except allowed:
            pass
        except BaseException as exc:
            known.add(signature(exc))
            continue
        if too_slow(data, time.perf_counter() - t0) is not None:
            known.add(("Superlinear", name))
    if known:
        print(f"fuzz {name}: known, unfixed: {sorted(known)}", file=sys.stderr)

    def one(data: bytes) -> None:
        t0 = time.perf_counter()
        try:
            target(data)
        except allowed:
            pass
        except BaseException as exc:
            if signature(exc) in known:
                return
            raise
        best = too_slow(data, time.perf_counter() - t0)
        if best is not None and ("Superlinear", name) not in known:
            raise Superlinear(f"{name}: {len(data)} bytes took {best:.3f}s "
                              f"(cap {cap(len(data)):.3f}s)")

    atheris.Setup([sys.argv[0], *libfuzzer_args], one)
    atheris.Fuzz()


# ------------------------------------------------------------------------------ parent


def _seed(name: str, corpus: Path) -> int:
    sys.path.insert(0, str(HERE))
    import targets

    corpus.mkdir(parents=True, exist_ok=True)
    n = 0
    for data in targets.seeds(name):
        path = corpus / ("seed-" + hashlib.sha1(data).hexdigest())
        if not path.exists():
            path.write_bytes(data)
        n += 1
    return n


_STAT = re.compile(r"stat::(\w+):\s*(\d+)")


def parent(name: str, args: argparse.Namespace) -> str:
    base = Path(args.dir).resolve()
    corpus = base / "corpus" / name
    crashes = base / "crashes" / name
    log = base / "log" / f"{name}.log"
    for d in (crashes, log.parent):
        d.mkdir(parents=True, exist_ok=True)
    seeded = _seed(name, corpus)
    regress = REGRESSIONS / name
    deadline = time.monotonic() + args.seconds
    execs = 0
    found: list[str] = []
    runs = 0
    with log.open("a") as out:
        out.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {name} "
                  f"{args.seconds}s\n")
        while (left := int(deadline - time.monotonic())) > 0:
            runs += 1
            for old in crashes.glob("*"):
                old.unlink()
            dirs = [str(corpus)] + ([str(regress)] if regress.is_dir() else [])
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name,
                   "--cap-base", str(args.cap_base), "--cap-per-kib", str(args.cap_per_kib),
                   "--", *dirs, f"-max_total_time={left}", f"-artifact_prefix={crashes}/",
                   f"-max_len={args.max_len}", f"-timeout={args.timeout}",
                   f"-rss_limit_mb={args.rss_limit_mb}", "-print_final_stats=1"]
            start = out.tell()
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                  check=False)
            out.flush()
            with log.open("rb") as fh:
                fh.seek(start)
                this_run = fh.read().decode(errors="replace")
            execs += sum(int(v) for k, v in _STAT.findall(this_run)
                         if k == "number_of_executed_units")
            artifacts = sorted(crashes.glob("*"))
            for art in artifacts:
                regress.mkdir(parents=True, exist_ok=True)
                data = art.read_bytes()
                kind = art.name.split("-", 1)[0]
                dest = regress / f"{kind}-{hashlib.sha1(data).hexdigest()[:16]}"
                dest.write_bytes(data)
                found.append(dest.name)
                out.write(f"--- saved {art.name} as {dest.relative_to(ROOT)}\n")
            if proc.returncode != 0 and not artifacts:
                out.write(f"--- child exit {proc.returncode} without an artifact\n")
                found.append(f"child exit {proc.returncode} (see {log})")
            if proc.returncode == 0 or not artifacts:
                break
    size = len(list(corpus.glob("*")))
    return (f"{name}: {args.seconds}s, {runs} run(s), {execs} execs, corpus {size} "
            f"({seeded} seeds), new findings: {', '.join(found) or 'none'}")


def main() -> int:
    """0, or 1 when a target found something (saved under tests/fuzz_regressions/)."""
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*")
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 180)))
    ap.add_argument("--dir", default=os.environ.get("FUZZ_DIR", str(ROOT / ".fuzz")))
    ap.add_argument("--max-len", type=int, default=16384)
    ap.add_argument("--timeout", type=int, default=60, help="libFuzzer's hard per-input cap")
    ap.add_argument("--rss-limit-mb", type=int, default=1536)
    ap.add_argument("--cap-base", type=float, default=1.0)
    ap.add_argument("--cap-per-kib", type=float, default=0.25)
    ap.add_argument("--child", metavar="TARGET")
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args, extra)
        return 0
    sys.path.insert(0, str(HERE))
    import targets

    names = args.targets or list(targets.TARGETS)
    unknown = [n for n in names if n not in targets.TARGETS]
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(targets.TARGETS)}")
    summary = [parent(n, args) for n in names]
    print("\n".join(summary))
    return 1 if any(not line.endswith("new findings: none") for line in summary) else 0


if __name__ == "__main__":
    sys.exit(main())

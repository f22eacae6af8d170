"""Build the switch's hot modules with mypyc into ``build/compiled`` (``make compiled``).

A prototype for issue 14's "switch at 0.7x the relay" (docs/performance.md, session 9): the
same source, compiled to C extension modules by mypyc (it ships with mypy), measured against
the pure-Python switch in the same run (``bench/switch.py --variants log,log+compiled``).

Why a directory of its own and not the installed package: the compiled build is optional.
``make test`` and the editable install stay pure Python; this script copies ``src/clets`` to
``build/compiled/clets`` and puts an extension module beside each compiled ``.py`` (Python's
import system prefers the extension), so ``PYTHONPATH=build/compiled`` runs the same package
with its hot modules compiled and everything else as it is.

    .venv/bin/python bench/build_compiled.py            # build (a few minutes on 2 cores)
    .venv/bin/python bench/build_compiled.py --check    # which modules are compiled, by import
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "compiled"

#: what mypyc compiles: the modules an inquiry's path runs through (bench/switch.py --perf
#: and --py-spy say which), in the order of the time they take
MODULES = [
    "switch/engine.py",
    "switch/logjournal.py",
    "switch/logstore.py",
    "switch/batch.py",
    "switch/audit.py",
    "switch/logformat.py",
    "switch/hitconfirm.py",
    "switch/routing.py",
    "switch/authz.py",
    "switch/dedupkeys.py",
    "switch/metrics.py",
    "switch/clock.py",
    "switch/storage.py",
    "model/jsonform.py",
    "model/dictionary.py",
    "model/edits.py",
    "model/transactions.py",
    "codecs/jsoncodec.py",
    "framing/length.py",
    "framing/base.py",
    "framing/delimited.py",  # its framers subclass base's Framer: compiled alike or not at all
]

#: on the path too, but left to the interpreter, and why (what mypyc 2.4 refuses)
EXCLUDED = {
    "switch/journal.py": "OutRow, StoredMessage, Delivery are msgspec.Structs: compiled, their "
                         "class keywords (frozen, array_like, gc) are silently dropped, so a "
                         "row image is written as a map and the fold of the log fails "
                         "(KeyError: 0, found by the crash test)",
    "model/types.py": "msgspec.Struct subclasses: a field set to msgspec.field() fails at "
                      "import (TypeError: None object expected; got msgspec._core.Field)",
    "codecs/base.py": "Codec is a @runtime_checkable Protocol: a compiled Protocol is no "
                      "longer one (TypeError at import)",
    "errors.py": "multiple inheritance (XMLSecurityError(SecurityError, DecodeError)) is "
                 "not supported",
    "adapters/tcp.py": "compiles and runs, but the slow-reader test then loses answers: the "
                       "engine asks inspect.signature() whether a link's send takes on_lost, "
                       "and a mypyc-compiled method's signature reads as () -- so answers on "
                       "the request's own connection went untracked and a cut lost them",
    "adapters/base.py": "an async generator (unimplemented in mypyc)",
    "switch/links.py": "async generators (unimplemented in mypyc)",
    "switch/messages.py": "surrogate code points in a string literal (would need chr())",
}


def build(out: Path, modules: list[str], jobs: int) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(ROOT / "src" / "clets", out / "clets",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    setup = out / "setup_compiled.py"
    paths = [f"clets/{m}" for m in modules]
    setup.write_text(
        "from setuptools import setup\n"
        "from mypyc.build import mypycify\n"
        f"setup(name='clets_compiled', ext_modules=mypycify({paths!r}, opt_level='3', "
        "multi_file=True))\n")
    env = dict(os.environ)
    subprocess.run([sys.executable, setup.name, "build_ext", "--inplace", "-j", str(jobs),
                    "--build-temp", "build/tmp"], cwd=out, env=env, check=True)
    shutil.rmtree(out / "build", ignore_errors=True)


def check(out: Path, modules: list[str]) -> list[str]:
    """Import every listed module from the build (in a child, the build first on its path)
    and return those that did NOT load as an extension module."""
    code = ("import importlib, sys\nimport clets.cli, clets.daemon\n"
            f"mods = {[('clets.' + m[:-3].replace('/', '.')) for m in modules]!r}\n"
            "bad = [m for m in mods if not importlib.import_module(m).__file__.endswith('.so')]\n"
            "print('\\n'.join(bad))\n")
    env = dict(os.environ, PYTHONPATH=str(out))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only check an existing build")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=OUT, help=f"where to build (default {OUT})")
    ap.add_argument("--skip", action="append", default=[], metavar="MODULE",
                    help="leave this module of the list interpreted (to bisect a difference)")
    args = ap.parse_args()
    importlib.import_module("mypyc")  # the dev extra's mypy brings it
    modules = [m for m in MODULES if m not in args.skip]
    if not args.check:
        build(args.out, modules, args.jobs)
    bad = check(args.out, modules)
    if bad:
        raise SystemExit(f"not compiled: {', '.join(bad)}")
    print(f"{len(modules)} modules compiled in {args.out}; interpreted on purpose: "
          f"{', '.join([*EXCLUDED, *args.skip])}")


if __name__ == "__main__":
    main()

"""The floor under the switch benchmark: the CPU one inquiry's contract work costs, alone.

``bench/switch.py`` measures the whole switch.  This script measures only what the contract
(switch.md) makes the switch do for one ``QW`` fanned out to three destinations, with no
sockets, no event loop, no routing and no metrics, so it is a LOWER bound on the switch's CPU
per inquiry:

* **codecs** -- decode the request, write its canonical JSON, encode three forwards, decode
  three answers and encode them for the origin (the real ``json`` codec), and the SHA-256 of
  each frame the audit records; measured twice in the same run, on the model as it is
  (msgspec Structs) and on the model it replaced (dataclasses + stdlib ``json``, kept in
  ``tests/model_baseline.py``), the ratio being the figure to quote;
* **journal** -- the same ``Journal`` calls, in the same order, as the switch makes them: the
  dedup check, message, dedup key and three forward rows (accept); the workers' read and
  claim of the forwards; per answer the correlation by switch control, the answer mark and a
  delivery row; the delivery marked done.  Group transactions of ``--batch`` inquiries per
  step kind, in a real file with WAL and ``synchronous=FULL`` and the switch's background
  checkpointer (its CPU counts: it is the switch's too);
* **audit** -- the same, plus the 11 hash-chained records (``received``, ``journaled``, 3
  ``forwarded``, 3 ``responded``, 3 ``delivered``) made and written as the switch does.

CPU is ``time.process_time()`` (every thread of this process).  The budget it is compared with:
2,000 inquiries/s on two cores is 1.0 ms of CPU per inquiry for everything on the machine --
the switch AND the simulated back-ends and the client that ``bench/switch.py`` runs beside it
(``--rig-ms``, default 0.35: what that benchmark measures for them, see docs/performance.md).

    .venv/bin/python bench/journal_floor.py            # 20,000 inquiries, batches of 32
    .venv/bin/python bench/journal_floor.py --batch 8 --n 10000 --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.model_baseline
sys.path.insert(0, str(Path(__file__).resolve().parent))

import tests.model_baseline

import clets.model
from clets.codecs import get_codec
from clets.model import dumps, replace
from clets.sim.server import answer_offline
from clets.switch.audit import AuditEvent
from clets.switch.engine import encode_for_origin
from clets.switch.journal import Journal, control_of
from clets.switch.logjournal import LogJournal
from switch import inquiry

DESTINATIONS = ("WPS", "NCIC", "CARPOS")


def request(i: int) -> bytes:
    """The inquiry ``bench/switch.py`` sends (a QW by name and DOB), with its own control."""
    return inquiry(f"F{i:09d}")


def answers(req: bytes) -> list[bytes]:
    """The three back-ends' answers to ``req`` (as the simulator writes them), once."""
    codec = get_codec("json")
    msg = codec.decode(req)
    out = []
    for name in DESTINATIONS:
        (ans, *_rest) = answer_offline(name, msg)
        out.append(codec.encode(replace(ans, control="0000000001")))
    return out


class _ModelCodec:
    """The ``json`` codec over a given model module (``clets.model`` or the old one)."""

    name = "json"

    def __init__(self, model: Any) -> None:
        self.decode, self.encode = model.load, model.dump


def codec_work(frames: list[bytes], replies: list[bytes],
               model: Any = clets.model) -> Callable[[], None]:
    """One inquiry's codec work, per call (cycling over ``frames``), on ``model``."""
    codec: Any = get_codec("json") if model is clets.model else _ModelCodec(model)
    dumps, replace = model.dumps, model.replace
    state = {"i": 0}

    def one() -> None:
        payload = frames[state["i"] % len(frames)]
        state["i"] += 1
        hashlib.sha256(payload).hexdigest()
        msg = codec.decode(payload)
        dumps(msg)
        for n in range(len(DESTINATIONS)):
            fwd = codec.encode(replace(msg, control=control_of(n + 1)))
            hashlib.sha256(fwd).hexdigest()
        for reply in replies:
            ans = codec.decode(reply)
            hashlib.sha256(reply).hexdigest()
            out = encode_for_origin(codec, replace(ans, control=msg.control), msg.mke, "answer")
            hashlib.sha256(out).hexdigest()

    return one


def journal_work(path: Path, batch: int, with_audit: bool, frames: list[bytes],
                 replies: list[bytes], fmt: str = "sqlite"
                 ) -> tuple[Callable[[], None], Journal | LogJournal]:
    """``batch`` inquiries through the journal per call, in one transaction per step kind
    (``fmt``: the log journal, or the SQLite tables it replaced)."""
    j: Journal | LogJournal = (LogJournal(path, checkpoint_every=0.2) if fmt == "log"
                               else Journal(path, checkpoint_every=0.2))
    canonical = [dumps(get_codec("json").decode(f)) for f in frames]
    seq = {"n": 0}

    def audit(event: str, frame: bytes, now: float, **kw: Any) -> None:
        if with_audit:
            j.audit(AuditEvent.for_payload(event, frame, **kw), now)

    def run() -> None:
        now = time.time()
        accepted: list[tuple[int, bytes]] = []
        with j.tx():  # intake
            for _ in range(batch):
                i = seq["n"] = seq["n"] + 1
                payload = frames[i % len(frames)]
                sha = hashlib.sha256(payload).hexdigest()
                key = f"client|c|F{i:09d}"
                j.check_duplicate(key, sha, now, 600.0)
                msn = j.insert_message(now=now, kind="request", link="client", peer="AGENCY",
                                       origin="CA0194200", control=f"F{i:09d}", sequence=None,
                                       mke="QW", operator=None, codec="json", sha256=sha,
                                       payload=payload, canonical=canonical[i % len(frames)])
                j.remember(key, msn, sha, now)
                audit("received", payload, now, msn=msn, link="client", peer="AGENCY",
                      origin="CA0194200", mke="QW", outcome="ok")
                for d in DESTINATIONS:
                    j.add_forward(msn, d, "QW", (), now, now + 30.0, now + 600.0)
                audit("journaled", payload, now, msn=msn, link="client", peer="AGENCY",
                      origin="CA0194200", mke="QW", outcome="accepted",
                      destination=",".join(DESTINATIONS))
                accepted.append((msn, payload))
        rows = [r for d in DESTINATIONS for r in j.due_rows(d, now, batch)]
        with j.tx():  # the workers' claims, and each forward sent
            for d in DESTINATIONS:
                j.mark_claimed([r.id for r in rows if r.target == d], now)
            for r in rows:
                audit("forwarded", frames[r.msn % len(frames)], now, msn=r.msn, link=r.target,
                      origin="CA0194200", destination=r.target, mke="QW", outcome="sent",
                      reason=f"attempt 1 control {r.control}")
        deliveries: list[tuple[int, int]] = []
        with j.tx():  # the answers: correlated, counted, queued for the origin
            for n, r in enumerate(rows):
                reply = replies[n % len(replies)]
                row = j.find_forward(r.control or "")
                assert row is not None
                j.mark_response(row.id, now)
                audit("responded", reply, now, msn=row.msn, link=row.target, peer=row.target,
                      origin="CA0194200", destination=row.target, mke="QWR", outcome="answer")
                deliveries.append((row.msn, j.add_delivery(row.msn, "client", "AGENCY", "QWR",
                                                          reply, now, now + 600.0)))
        with j.tx():  # each answer handed to the origin's link
            for n, (msn, oid) in enumerate(deliveries):
                j.mark_delivered(oid, 1, now)
                audit("delivered", replies[n % len(replies)], now, msn=msn, link="client",
                      peer="AGENCY", origin="CA0194200", destination="client", mke="QWR",
                      outcome="sent", reason="attempt 1")

    return run, j


def cpu_ms_per_inquiry(fn: Callable[[], None], calls: int, per_call: int) -> float:
    t0 = time.process_time()
    for _ in range(calls):
        fn()
    return (time.process_time() - t0) * 1000.0 / (calls * per_call)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20000, help="inquiries per measured part")
    ap.add_argument("--batch", type=int, default=32,
                    help="inquiries per group transaction (the switch's batches under load)")
    ap.add_argument("--rig-ms", type=float, default=0.35,
                    help="CPU ms per inquiry of the simulator + client beside the switch")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv[1:])
    frames = [request(i) for i in range(64)]
    replies = answers(frames[0])
    rounds = max(1, args.n // args.batch)
    result: dict[str, Any] = {"n": rounds * args.batch, "batch": args.batch,
                              "python": sys.version.split()[0]}
    result["codecs_ms"] = cpu_ms_per_inquiry(codec_work(frames, replies), args.n, 1)
    result["codecs_before_ms"] = cpu_ms_per_inquiry(
        codec_work(frames, replies, tests.model_baseline), args.n, 1)
    result["codecs_ratio"] = result["codecs_ms"] / result["codecs_before_ms"]
    with tempfile.TemporaryDirectory(prefix="clets-floor-") as tmp:
        for fmt, prefix in (("log", ""), ("sqlite", "sqlite_")):
            for name, with_audit in (("journal_ms", False), ("journal_audit_ms", True)):
                run, journal = journal_work(Path(tmp) / f"{prefix}{name}.db", args.batch,
                                            with_audit, frames, replies, fmt)
                run()  # warm: statement cache, pages
                result[prefix + name] = cpu_ms_per_inquiry(run, rounds, args.batch)
                journal.close()
    result["audit_ms"] = result["journal_audit_ms"] - result["journal_ms"]
    result["sqlite_audit_ms"] = result["sqlite_journal_audit_ms"] - result["sqlite_journal_ms"]
    result["floor_ms"] = result["codecs_ms"] + result["journal_audit_ms"]
    result["sqlite_floor_ms"] = result["codecs_ms"] + result["sqlite_journal_audit_ms"]
    result["journal_ratio"] = result["journal_audit_ms"] / result["sqlite_journal_audit_ms"]
    result["budget_ms"] = 2 * 1000.0 / 2000 - args.rig_ms
    if args.json:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in result.items()}))
        return 0
    print(f"python {result['python']}, {result['n']} inquiries per part, group transactions "
          f"of {args.batch} inquiries, WAL synchronous=FULL")
    print("CPU ms per inquiry (QW fanned out to 3 destinations, 3 answers):")
    print(f"  codecs (decode, canonical, 3 forwards, 3 answers, sha256)  "
          f"{result['codecs_ms']:.3f}")
    print(f"    the same on the model before msgspec (dataclasses, json)  "
          f"{result['codecs_before_ms']:.3f}  (ratio {result['codecs_ratio']:.2f})")
    print(f"  log journal without audit (images, one block per commit)   "
          f"{result['journal_ms']:.3f}")
    print(f"  the 11 audit records on top                                "
          f"{result['audit_ms']:.3f}")
    print(f"  floor: codecs + journal + audit                            "
          f"{result['floor_ms']:.3f}")
    print(f"  the SQLite journal it replaced, without audit (~20 stmts)  "
          f"{result['sqlite_journal_ms']:.3f}")
    print(f"    with the 11 audit rows                                   "
          f"{result['sqlite_journal_audit_ms']:.3f}  (log / SQLite "
          f"{result['journal_ratio']:.2f})")
    print(f"  floor on the SQLite journal                                "
          f"{result['sqlite_floor_ms']:.3f}")
    print(f"budget for the switch at 2,000/s on 2 cores (2 x 1000 ms / 2000 - rig "
          f"{args.rig_ms}): {result['budget_ms']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

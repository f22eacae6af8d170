"""``POST /v1/messages`` and ``GET /v1/messages/{msn}`` against a switch in this process (the
app over httpx's ASGI transport, the simulator over TCP): outcomes, idempotency, waiting,
the codecs' media types, the operator in the audit, and a problem for every bad request."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clets.switch.audit import records
from tests._api_kit import DESTS, running_api, server_nodelay
from tests._api_kit import qw as qw_json
from tests._switch_kit import run_async

if TYPE_CHECKING:
    from clets.switch.logjournal import LogJournal

pytestmark = pytest.mark.timeout(60)

PROBLEM = "application/problem+json"


@run_async
async def test_accepted_held_read_back_and_audited_with_the_operator(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        r = await h.http.post("/v1/messages?wait=10", json=qw_json("W1", operator="JDOE"))
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["complete"] and len(body["answers"]) == 3
        assert sorted(body["destinations"]) == sorted(DESTS)
        assert {s["destination"] for s in body["states"]} == set(DESTS)
        msn = body["msn"]
        view = (await h.http.get(body["location"])).json()
        assert view["operator"] == "JDOE" and view["message"]["control"] == "W1"
        assert [d["state"] for d in view["destinations"]] == ["done"] * 3
        # every audit record of the message names its end user
        await asyncio.sleep(0.2)  # the deliveries' records commit after the sends
    conn = sqlite3.connect(tmp_path / "journal.db")
    try:
        recs = [r for r in records(conn) if r.get("msn") == msn]
    finally:
        conn.close()
    kinds = {r["event"] for r in recs}
    assert {"received", "journaled", "forwarded", "responded", "delivered"} <= kinds
    assert all(r.get("operator") == "JDOE" for r in recs), recs


@run_async
async def test_responses_are_not_held_by_nagle(tmp_path: Path) -> None:
    """Every connection of the served API has TCP_NODELAY: uvicorn writes a response's head
    and body apart, and with Nagle the body waited for the client's delayed ACK (~40 ms per
    request; the listening socket had proto 0, so asyncio did not set it)."""
    async with running_api(tmp_path, serve=True) as h:
        r = await h.http.post("/v1/messages?wait=10", json=qw_json("N1"))
        assert r.status_code == 202, r.text
        assert server_nodelay(h.server) == [1]


@run_async
async def test_idempotency_key_repeats_the_first_outcome_or_409(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        key = {"Idempotency-Key": "cad-4711"}
        first = await h.http.post("/v1/messages", json=qw_json(None), headers=key)
        again = await h.http.post("/v1/messages", json=qw_json(None), headers=key)
        assert first.status_code == again.status_code == 202
        assert first.json()["msn"] == again.json()["msn"]
        other = await h.http.post("/v1/messages", json=qw_json(None, operator="X"),
                                  headers=key)
        assert other.status_code == 409
        assert other.headers["content-type"] == PROBLEM
        assert other.json()["code"] == 30
        bad = await h.http.post("/v1/messages", json=qw_json(None),
                                headers={"Idempotency-Key": "x" * 300})
        assert bad.status_code == 400 and bad.headers["content-type"] == PROBLEM


@run_async
async def test_switch_refusals_are_problems_with_code_and_field(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        r = await h.http.post("/v1/messages", json=qw_json("E1", person={
            "name": {"last": "SMITH", "first": "JOHN"}, "dob": "1975-13-45"}))
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
        p = r.json()
        assert p["code"] == 21 and p["field"] == "person.dob"
        assert p["title"] == "INVALID FIELD DOB" and p["status"] == 422
        r = await h.http.post("/v1/messages", json=qw_json("E2", origin="CA0380100"))
        assert r.status_code == 403 and r.json()["code"] == 10
        r = await h.http.post("/v1/messages", json=qw_json("E3", bogus=1))
        p = r.json()
        assert r.status_code == 400 and p["code"] == 22 and p["field"] == "bogus"
        r = await h.http.post("/v1/messages", json=qw_json("E4", origin=7))
        assert r.status_code == 400 and r.json()["field"] == "origin"
        r = await h.http.post("/v1/messages", content=b'{"mke": "QW",',
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] == 22


@run_async
async def test_requests_refused_before_the_switch(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        http = h.http
        r = await http.post("/v1/messages", content=b"QW.CA0194200",
                            headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and r.headers["content-type"] == PROBLEM
        assert "application/json" in r.json()["accepted"]
        r = await http.post("/v1/messages", content=b"{}")
        assert r.status_code == 415  # no Content-Type at all
        big = b"{" + b" " * 70000 + b"}"
        r = await http.post("/v1/messages", content=big,
                            headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["limit"] == 65536

        async def chunks():  # no Content-Length: refused while it streams in
            for _ in range(100):
                yield b" " * 1000

        r = await http.post("/v1/messages", content=chunks(),
                            headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        r = await http.post("/v1/messages?wait=9999", json=qw_json("Q1"))
        assert r.status_code == 400 and r.json()["errors"][0]["where"] == "query.wait"
        r = await http.post("/v1/messages?wait=abc", json=qw_json("Q2"))
        assert r.status_code == 400
        r = await http.get("/v1/messages/999999")
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
        r = await http.get("/v1/messages/abc")
        assert r.status_code == 400
        r = await http.get("/v1/nothing")
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
        r = await http.delete("/v1/messages")
        assert r.status_code == 405 and r.headers["content-type"] == PROBLEM
        # the dispatcher in front of the app (ApiApp) leaves a big head to the header limit
        r = await http.post("/v1/messages", json=qw_json("Q3"),
                            headers={"X-Pad": "x" * 20000})
        assert r.status_code == 431 and r.headers["content-type"] == PROBLEM


@run_async
async def test_an_internal_error_on_the_message_route_is_a_500_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``POST /v1/messages`` skips the app's middleware (ApiApp): what fails in it is still
    a problem, logged, never a traceback to the client."""
    async with running_api(tmp_path) as h:
        def broken(request: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(h.server.ctx.auth, "identify", broken)
        r = await h.http.post("/v1/messages", json=qw_json("E1"))
        assert r.status_code == 500 and r.headers["content-type"] == PROBLEM
        assert "boom" not in r.text and r.json()["type"].endswith("internal")


@run_async
async def test_ncic_text_in_ncic_text_out(tmp_path: Path) -> None:
    async with running_api(tmp_path) as h:
        text = b"QW.CA0194200.NAM/SMITH, JOHN J.DOB/19751012.SEX/M.RAC/W"
        r = await h.http.post("/v1/messages?wait=10", content=text,
                              headers={"Content-Type": "text/x-ncic"})
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["complete"] and len(body["answers"]) == 3
        assert all("text" in a and "message" not in a for a in body["answers"])


@pytest.mark.parametrize("codec_name", ["json", "ncic", "nlets", "niem"])
def test_reply_read_in_every_codec_and_an_echo_is_never_an_ack(codec_name: str) -> None:
    from clets.api.messages import read_reply
    from clets.codecs.base import get_codec
    from clets.switch.engine import encode_for_origin
    from clets.switch.messages import ack_message, error_message

    codec = get_codec(codec_name)
    ack = encode_for_origin(codec, ack_message(
        fmt=codec_name, switch_ori="CA0000000", origin="CA0194200", control="H1",
        sequence=None, msn=42), "QW", "ack")
    got = read_reply(ack, codec)
    assert (got.msn, got.control) == (42, "H1")
    refused = encode_for_origin(codec, error_message(
        fmt=codec_name, switch_ori="CA0000000", code=21, reason="INVALID FIELD DOB",
        echo="QW ACCEPTED MSN 0000000007", origin="CA0194200", control="H1"), "QW", "reject")
    got = read_reply(refused, codec)
    assert (got.msn, got.code, got.reason) == (None, 21, "INVALID FIELD DOB")


@run_async
async def test_a_body_that_trickles_is_cut_with_408(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import clets.api.app as app_module

    monkeypatch.setattr(app_module, "BODY_DEADLINE", 0.3)

    async def trickle():  # type: ignore[no-untyped-def]
        yield b'{"mke": '
        await asyncio.sleep(1.0)
        yield b'"QW"}'

    async with running_api(tmp_path) as h:
        r = await h.http.post("/v1/messages", content=trickle(),
                              headers={"Content-Type": "application/json"})
        assert r.status_code == 408 and r.headers["content-type"] == PROBLEM


@settings(max_examples=150, deadline=None)
@given(codec_name=st.sampled_from(["json", "ncic", "nlets", "niem"]),
       msn=st.integers(min_value=1, max_value=9_999_999_999),
       control=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1,
                       max_size=10),
       echo=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                    max_size=100),
       code=st.sampled_from([1, 10, 11, 12, 20, 21, 22, 23, 30]))
def test_reply_property(codec_name: str, msn: int, control: str, echo: str,
                        code: int) -> None:
    """Any ACK reads back as its msn and control; any ER -- whatever its echo says --
    reads as its code, never as an ACK."""
    from clets.api.messages import read_reply
    from clets.codecs.base import get_codec
    from clets.switch.engine import encode_for_origin
    from clets.switch.messages import REASONS, ack_message, error_message

    codec = get_codec(codec_name)
    ack = encode_for_origin(codec, ack_message(
        fmt=codec_name, switch_ori="CA0000000", origin="CA0194200", control=control,
        sequence=None, msn=msn), "QW", "ack")
    got = read_reply(ack, codec)
    assert got.msn == msn and got.control == control
    refused = encode_for_origin(codec, error_message(
        fmt=codec_name, switch_ori="CA0000000", code=code, reason=REASONS[code],
        echo=echo + " ACCEPTED MSN 0000000007", origin="CA0194200", control=control),
        "QW", "reject")
    got = read_reply(refused, codec)
    assert got.msn is None and got.code == code


@settings(max_examples=300, deadline=None)
@given(wait=st.text(max_size=20), key=st.text(max_size=300), reason=st.text(max_size=80))
def test_parameter_parsers_answer_a_value_or_a_400(wait: str, key: str, reason: str) -> None:
    """``?wait=``, ``Idempotency-Key`` and the field of a switch reason: any input gives a
    value or a 400 problem, never another exception."""
    from urllib.parse import quote

    from starlette.requests import Request

    from clets.api.app import idempotency_key, wait_of_query, wait_param
    from clets.api.problems import ApiProblem, field_path

    scope = {"type": "http", "method": "POST", "path": "/v1/messages",
             "query_string": f"wait={quote(wait)}".encode(),
             "headers": [(b"idempotency-key", key.encode("utf-8", "surrogatepass"))]}
    request = Request(scope)
    try:
        value = wait_param(request, 30.0)
        assert value is not None and 0 <= value <= 30
    except ApiProblem as exc:
        assert exc.status == 400
        value = exc
    # the dispatcher's parse (kept by query string) gives the same, the first time and again
    for _ in range(2):
        try:
            assert wait_of_query(scope["query_string"], 30.0) == value
        except ApiProblem as exc:
            assert isinstance(value, ApiProblem) and exc.detail == value.detail
    try:
        assert idempotency_key(request) is not None
    except ApiProblem as exc:
        assert exc.status == 400
    path = field_path(reason)
    assert path is None or isinstance(path, str)


@run_async
async def test_metrics_on_the_api_port_for_loopback_or_clients_only(tmp_path: Path) -> None:
    import httpx

    api = '[api]\nlisten = "127.0.0.1:0"\nplain = true\n'  # no peer: nobody is anonymous
    async with running_api(tmp_path, api=api) as h:
        r = await h.http.get("/metrics")  # httpx's ASGI client is 127.0.0.1
        assert r.status_code == 200 and "clets_messages_total" in r.text
        far = httpx.AsyncClient(transport=httpx.ASGITransport(app=h.app,
                                                              client=("203.0.113.9", 4000)),
                                base_url="http://api")
        async with far:
            r = await far.get("/metrics")
            assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
            assert (await far.get("/healthz")).status_code == 200


@pytest.mark.parametrize("fmt", ["log", "sqlite"])
@run_async
async def test_a_message_is_read_back_after_its_rows_left_memory(
        tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``GET /v1/messages/{msn}`` answers for as long as the journal retains the message:
    on the log journal its done rows leave memory after ``late_horizon`` (here made 0, so
    the next change evicts them, with no waiting) and are read back from the log."""
    monkeypatch.setenv("CLETS_JOURNAL_FORMAT", fmt)
    async with running_api(tmp_path) as h:
        r = await h.http.post("/v1/messages?wait=10", json=qw_json("M1"))
        assert r.status_code == 202 and r.json()["complete"], r.text
        msn = r.json()["msn"]

        async def delivered() -> dict[str, object] | None:
            view = (await h.http.get(f"/v1/messages/{msn}")).json()
            return view if all(a["delivered"] for a in view["answers"]) else None

        async with asyncio.timeout(10):  # the answers are marked sent after the 202
            while (before := await delivered()) is None:
                await asyncio.sleep(0.02)
        j = h.switch.journal
        assert (type(j).__name__ == "LogJournal") == (fmt == "log")
        if fmt == "log":
            j.late_horizon = 0.0
        r = await h.http.post("/v1/messages?wait=10", json=qw_json("M2"))  # a later change
        assert r.status_code == 202 and r.json()["complete"], r.text
        if fmt == "log":
            j.forget_before(0.0)
            assert j.message(msn) is None and j.message_rows(msn) == []
        after = await h.http.get(f"/v1/messages/{msn}")
        assert after.status_code == 200, after.text
        assert after.json() == before
        if fmt == "log":  # read from the log once; a client that polls it hits the cache
            assert h.server.ctx is not None
            assert (await h.http.get(f"/v1/messages/{msn}")).json() == before
            assert h.server.ctx.log_reads.reads == 1
        assert len(before["answers"]) == 3 and before["complete"]  # type: ignore[arg-type]


def _request_and_forward(j: LogJournal, i: int, now: float) -> tuple[int, int]:
    """Request ``i`` of an API client and its forward to WPS, in the caller's transaction of
    log journal ``j``: the message number and the forward's row id."""
    msn = j.insert_message(now=now, kind="request", link="api", peer="CAD", origin="X",
                           control=f"C{i}", sequence=None, mke="QW", operator="OP",
                           codec="json", sha256=f"{i:064x}", payload=b"p", canonical="{}")
    return msn, j.add_forward(msn, "WPS", "QW", (), now, now + 30, now + 3600)


def test_log_journal_message_from_log_with_a_fake_clock(tmp_path: Path) -> None:
    """The log read on its own, on the switch's times given by the test: a message whose
    rows all left memory; one whose answer left while a forward still retries (memory and
    log merged); one compacted away (retention: then none)."""
    import time

    from clets.switch.logjournal import LogJournal

    j = LogJournal(tmp_path / "j.db", late_horizon=30.0)

    def accept(i: int, now: float) -> tuple[int, int, int]:
        with j.tx():
            msn, f = _request_and_forward(j, i, now)
            d = j.add_delivery(msn, "api", "CAD", "ACK", b"ack%d" % i, now, now + 3600)
        return msn, f, d

    msn, f, d = accept(1, 100.0)
    with j.tx():
        j.mark_claimed([f], 100.1)
        j.mark_delivered(d, 1, 100.2)
    with j.tx():
        j.mark_response(f, 101.0)
        answer = j.add_delivery(msn, "api", "CAD", "QWR", b"answer", 101.0, 4000.0)
    with j.tx():
        j.mark_delivered(answer, 1, 101.5)
    msn2, f2, d2 = accept(2, 102.0)  # its forward never answers (it retries)
    with j.tx():
        j.mark_claimed([f2], 102.1)
        j.mark_delivered(d2, 1, 102.2)
    for i in range(3, 40):
        accept(i, 100.0 + i * 2)  # the clock moves on: 178 s
    j.forget_before(0.0)
    assert j.message(msn) is None and j.memory_counts()["messages"] < 40
    got, rows = j.message_from_log(msn)
    assert got is not None and got.control == "C1" and got.operator == "OP"
    assert [(r.id, r.kind, r.state, r.frame) for r in rows] == [
        (f, "forward", "done", None), (d, "deliver", "done", b"ack1"),
        (answer, "deliver", "done", b"answer")]
    # the second: in memory (its forward is open), its ACK delivery not
    assert j.message(msn2) is not None and [r.id for r in j.message_rows(msn2)] == [f2]
    assert j.may_have_left_memory(msn2)
    merged = j.merge_rows(msn2, j.message_from_log(msn2)[1])
    assert [(r.id, r.state) for r in merged] == [(f2, "in_flight"), (d2, "done")]
    assert j.message_from_log(10_000) == (None, [])
    # compaction (retention) removes it: then it is gone
    assert j.snapshot(whole=True) > 0
    with j.tx():
        j.purge_delivered(time.time() + 1)
    assert j.message_from_log(msn) == (None, [])
    j.close()


@run_async
async def test_a_held_request_is_woken_by_its_deliveries_not_by_a_tick() -> None:
    """``?wait=`` ends when the answers are delivered, with no poll to fall back on (here an
    hour): the waiter is woken by the hub's deliveries of its message, once as many came as
    forwards were open -- not at each one, not by another message's."""
    from msgspec.structs import replace

    from clets.api.events import EventHub
    from clets.api.messages import wait_settled
    from clets.switch.journal import OutRow

    def forward(oid: int) -> OutRow:
        return OutRow(oid, 7, "forward", "WPS", None, None, "QW", (), "in_flight", 1, 0.0,
                      None, 9.0, 0.0, 0.0, "", 0, None, None)

    rows = [forward(1), forward(2), forward(3)]
    reads = 0

    def read() -> list[OutRow]:
        nonlocal reads
        reads += 1
        return list(rows)

    hub = EventHub(resolve=lambda event_id: event_id // 100)  # row id 7xx: message 7
    with hub.waiting("CAD", 7, None) as waiter:
        task = asyncio.ensure_future(wait_settled(read, waiter, 3600.0, poll=3600.0))
        await asyncio.sleep(0)
        assert reads == 1 and not task.done()
        await hub.publish("CAD", 801, b"{}")  # another message's answer
        for i in range(3):
            rows[i] = replace(rows[i], responses=1, state="done")
            await hub.publish("CAD", 701 + i, b"{}")
            await asyncio.sleep(0)
            assert task.done() == (i == 2)
        async with asyncio.timeout(5):
            got = await task
    assert all(r.responses == 1 for r in got) and reads == 2  # woken once, at the third


def test_log_read_finds_a_late_answer_and_a_purge_among_other_blocks(tmp_path: Path) -> None:
    """The log read decodes only blocks whose bytes name the message (its number as
    MessagePack writes it, or an ``x`` record): a second answer 20 s after the first, with
    hundreds of other messages' blocks between, is read; a row purged later (an ``x``
    record, which names the row only) is gone; the result is the same as folding every
    block of the span, for message numbers of every MessagePack width."""
    from clets.switch import logformat
    from clets.switch.logjournal import LogJournal

    j = LogJournal(tmp_path / "j.db", late_horizon=30.0)

    def accept(i: int, now: float) -> tuple[int, int]:
        with j.tx():
            msn, f = _request_and_forward(j, i, now)
        with j.tx():
            j.mark_claimed([f], now)
        return msn, f

    def answer(msn: int, f: int, now: float) -> int:
        with j.tx():
            j.mark_response(f, now)
            d = j.add_delivery(msn, "api", "CAD", "QWR", b"answer %d" % now, now, now + 9e9)
        with j.tx():
            j.mark_delivered(d, 1, now)
        return d

    clock = 100.0
    watched: dict[int, tuple[int, int]] = {}
    for i in range(1, 340):
        clock += 0.1
        msn, f = accept(i, clock)
        if msn in (5, 127, 128, 300):
            watched[msn] = (f, answer(msn, f, clock + 0.05))
        elif msn == 200:  # its forward dies, and is purged a little later
            with j.tx():
                j.set_state(f, "dead", clock)
            watched[msn] = (f, 0)
        elif msn == 250:
            with j.tx():
                j.purge_dead()
        else:
            answer(msn, f, clock + 0.05)
        if msn == 310:  # a second answer to 300, 1 s (and 10 messages) later
            watched[300] = (watched[300][0], answer(300, watched[300][0], clock))
    for i in range(340, 700):  # the clock passes every horizon
        accept(i, 200.0 + i * 0.1)
    j.forget_before(0.0)

    def folded(msn: int) -> list[tuple[int, str, str, bytes | None]]:
        """Every block of the log folded for ``msn`` (the read without its shortcuts)."""
        images: dict[int, list[object]] = {}
        with j._log_reader() as conn:
            assert conn is not None
            for _p, data in logformat.read_blocks(conn, 0):
                j._log_images(logformat.decode(data)[1], msn, images, {})
        return sorted((int(v[0]), str(v[2]), str(v[8]), None)  # type: ignore[call-overload]
                      for v in images.values())

    for msn in (5, 127, 128, 200, 300):
        got, rows = j.message_from_log(msn)
        assert got is not None and got.msn == msn
        assert [(r.id, r.kind, r.state, None) for r in rows] == folded(msn)
    rows = j.message_from_log(300)[1]  # both answers, the second's frame too
    answers = [r for r in rows if r.kind == "deliver"]
    assert [r.id for r in answers][-1] == watched[300][1] and len(answers) == 2
    assert all(r.frame and r.frame.startswith(b"answer ") for r in answers)
    assert [r.responses for r in rows if r.kind == "forward"] == [2]
    assert [r.kind for r in j.message_from_log(200)[1]] == []  # its forward was purged
    j.close()

"""Standard Webhooks signatures (clets.api.webhooks): the specification's test vector, and
properties: what is signed verifies, any change to id, timestamp, body or secret does not,
and no header value makes ``verify`` raise anything but its own error."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clets.api import webhooks as wh
from clets.api.webhooks import WebhookVerificationError

# the reference libraries' test vector (standard-webhooks, libraries/*/tests)
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_vector() -> None:
    assert wh.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG
    # the prefix is optional, as in the reference libraries
    assert wh.sign(VECTOR_SECRET.removeprefix("whsec_"), VECTOR_ID, VECTOR_TS,
                   VECTOR_BODY) == VECTOR_SIG
    hdr = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
           "webhook-signature": VECTOR_SIG}
    assert wh.verify(VECTOR_SECRET, hdr, VECTOR_BODY, now=VECTOR_TS + 10) == VECTOR_ID


def test_several_signatures_one_of_which_matches() -> None:
    sigs = ["v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
            "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", VECTOR_SIG]
    hdr = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
           "webhook-signature": " ".join(sigs)}
    assert wh.verify(VECTOR_SECRET, hdr, VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


@pytest.mark.parametrize("change, why", [
    ({"webhook-id": None}, "missing header webhook-id"),
    ({"webhook-timestamp": None}, "missing header webhook-timestamp"),
    ({"webhook-signature": None}, "missing header webhook-signature"),
    ({"webhook-timestamp": "hello"}, "not Unix seconds"),
    ({"webhook-timestamp": str(VECTOR_TS - 301)}, "more than 300 s"),
    ({"webhook-timestamp": str(VECTOR_TS + 301)}, "more than 300 s"),
    ({"webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}, "no webhook-sig"),
    ({"webhook-signature": " ".join(["v1,x"] * 17)}, "17 signatures"),
])
def test_refusals_name_what_is_wrong(change: dict[str, str | None], why: str) -> None:
    hdr: dict[str, str] = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
                           "webhook-signature": VECTOR_SIG}
    for k, v in change.items():
        if v is None:
            del hdr[k]
        else:
            hdr[k] = v
    with pytest.raises(WebhookVerificationError, match=why):
        wh.verify(VECTOR_SECRET, hdr, VECTOR_BODY, now=VECTOR_TS)


def test_a_secret_that_is_not_base64_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="base64"):
        wh.sign("whsec_not base64!", "m", 1, b"")


def test_new_secrets_are_distinct_and_usable() -> None:
    a, b = wh.new_secret(), wh.new_secret()
    assert a != b and a.startswith("whsec_") and len(wh.secret_bytes(a)) == 32


_secrets = st.binary(min_size=24, max_size=64).map(
    lambda b: "whsec_" + base64.b64encode(b).decode())
_ids = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@given(secret=_secrets, msg_id=_ids, ts=st.integers(0, 10**11), body=st.binary(max_size=300))
def test_what_is_signed_verifies(secret: str, msg_id: str, ts: int, body: bytes) -> None:
    assert wh.verify(secret, wh.headers(secret, msg_id, ts, body), body, now=ts) == msg_id


@given(secret=_secrets, other=_secrets, msg_id=_ids, ts=st.integers(10**6, 10**10),
       body=st.binary(max_size=200), which=st.sampled_from(["id", "ts", "body", "secret"]),
       data=st.data())
def test_any_change_breaks_the_signature(secret: str, other: str, msg_id: str, ts: int,
                                         body: bytes, which: str, data: st.DataObject) -> None:
    hdr = wh.headers(secret, msg_id, ts, body)
    key = secret
    if which == "id":
        hdr["webhook-id"] = data.draw(_ids.filter(lambda s: s != msg_id))
    elif which == "ts":
        hdr["webhook-timestamp"] = str(ts + data.draw(st.integers(1, 300)))
    elif which == "body":
        body = data.draw(st.binary(max_size=200).filter(lambda b2: b2 != body))
    else:
        if wh.secret_bytes(other) == wh.secret_bytes(secret):
            return
        key = other
    with pytest.raises(WebhookVerificationError):
        wh.verify(key, hdr, body, now=ts)


@given(hdr=st.dictionaries(st.sampled_from(["webhook-id", "webhook-timestamp",
                                            "webhook-signature", "other"]),
                           st.text(max_size=80)),
       body=st.binary(max_size=50), now=st.floats(0, 10**11))
def test_any_headers_are_refused_by_name_or_accepted(hdr: dict[str, str], body: bytes,
                                                     now: float) -> None:
    try:
        wh.verify(VECTOR_SECRET, hdr, body, now=now)
    except WebhookVerificationError as exc:
        assert exc.reason


def test_the_verification_code_of_docs_api_md_works() -> None:
    """docs/api.md shows webhook verification in a few lines of Python: run them against
    the switch's signer (and the specification's vector), genuine and tampered."""
    import re
    import time
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "api.md").read_text("utf-8")
    section = doc[doc.index("## Webhooks"):]
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "def verify" in b]
    ns: dict[str, object] = {}
    exec(code, ns)
    verify = ns["verify"]
    assert callable(verify)
    now = int(time.time())
    body = b'{"type":"clets.delivery","data":{"id":7}}'
    hdr = wh.headers(VECTOR_SECRET, "7", now, body)
    assert verify(VECTOR_SECRET, hdr, body) == "7"
    for bad_body, bad_hdr in ((body + b" ", hdr), (body, {**hdr, "webhook-id": "8"}),
                              (body, {**hdr, "webhook-timestamp": str(now - 301)})):
        with pytest.raises(ValueError):
            verify(VECTOR_SECRET, bad_hdr, bad_body)
    vector = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS),
              "webhook-signature": VECTOR_SIG}
    assert verify(VECTOR_SECRET, vector, VECTOR_BODY, tolerance=10**10) == VECTOR_ID

"""Hostile XML against the niem codec (reference/reliability.md 4.2).

Each attack is refused with XMLSecurityError (a DecodeError), before any entity is declared.
"No file read" is proven with a canary file whose text must never come back AND with a FIFO
that has no writer: opening it for reading would block, so a decode that returns has not
opened it.  "No connection" is proven with a loopback TCP listener the test owns: after the
attacks its backlog is empty (the kernel completes a handshake even when nobody accepts).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from clets.codecs import get_codec
from clets.codecs.niem import NiemCodec, _safe
from clets.errors import DecodeError, XMLSecurityError
from tests.conftest import FIXTURES

GOOD = (FIXTURES / "messages" / "niem" / "qw_person.xml").read_bytes()
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'


@pytest.fixture()
def codec() -> NiemCodec:
    c = get_codec("niem")
    assert isinstance(c, NiemCodec)
    return c


@pytest.fixture()
def listener() -> Iterator[tuple[socket.socket, int]]:
    """A loopback TCP port nobody should ever connect to."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.5)
    try:
        yield srv, srv.getsockname()[1]
    finally:
        srv.close()


def _no_connection(srv: socket.socket) -> None:
    with pytest.raises(TimeoutError):
        conn, peer = srv.accept()
        conn.close()
        pytest.fail(f"the parser connected from {peer}")


@pytest.fixture()
def canary(tmp_path: Path) -> tuple[Path, str]:
    token = "CANARY-" + os.urandom(8).hex()
    path = tmp_path / "secret.txt"
    path.write_text(token)
    return path, token


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def _returns(fn: object, timeout: float = 20.0) -> BaseException | None:
    """Run fn in a thread and return its exception; fails if it blocked (a FIFO open)."""
    box: list[BaseException | None] = [None]

    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:
            box[0] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "decode blocked: something opened the FIFO"
    return box[0]


def _refused(codec: NiemCodec, data: bytes) -> XMLSecurityError:
    with pytest.raises(XMLSecurityError) as info:
        codec.decode(data)
    return info.value


# ----------------------------------------------------------------------------- entity attacks

def test_billion_laughs_refused_before_parsing(codec: NiemCodec) -> None:
    lol = [b'<!ENTITY lol0 "lol">']
    lol += [b'<!ENTITY lol%d "%s">' % (i, b"&lol%d;" % (i - 1) * 10) for i in range(1, 10)]
    doc = HEAD + b"<!DOCTYPE n [" + b"".join(lol) + b"]>\n<n>&lol9;</n>"
    err = _refused(codec, doc)
    assert err.offset == len(HEAD)
    assert "DOCTYPE" in str(err)


def test_quadratic_blowup_refused(codec: NiemCodec) -> None:
    big = b"A" * 50_000
    doc = HEAD + b'<!DOCTYPE n [<!ENTITY a "' + big + b'">]><n>' + b"&a;" * 10_000 + b"</n>"
    _refused(codec, doc)


def test_external_file_entity_never_read(codec: NiemCodec, canary: tuple[Path, str],
                                         fifo: Path) -> None:
    path, token = canary
    for target in (path, fifo):
        doc = HEAD + (f'<!DOCTYPE n [<!ENTITY x SYSTEM "file://{target}">]>'
                      f"<n>&x;</n>").encode()
        err = _returns(lambda doc=doc: codec.decode(doc))
        assert isinstance(err, XMLSecurityError)
        assert token not in str(err)
        # the same with a parameter entity and an external DTD subset
        for doc in (HEAD + f'<!DOCTYPE n [<!ENTITY % p SYSTEM "file://{target}"> %p;]><n/>'
                    .encode(), HEAD + f'<!DOCTYPE n SYSTEM "file://{target}"><n/>'.encode()):
            err = _returns(lambda doc=doc: codec.decode(doc))
            assert isinstance(err, XMLSecurityError)


def test_network_entities_never_fetched(codec: NiemCodec,
                                        listener: tuple[socket.socket, int]) -> None:
    srv, port = listener
    url = f"http://127.0.0.1:{port}/x"
    docs = [
        f'<!DOCTYPE n [<!ENTITY x SYSTEM "{url}">]><n>&x;</n>',
        f'<!DOCTYPE n SYSTEM "{url}"><n/>',
        f'<!DOCTYPE n [<!ENTITY % p SYSTEM "{url}"> %p;]><n/>',
        f'<!DOCTYPE n PUBLIC "-//X//Y" "{url}"><n/>',
    ]
    for doc in docs:
        _refused(codec, HEAD + doc.encode())
    _no_connection(srv)


def test_second_layer_parser_alone_resolves_nothing(canary: tuple[Path, str], fifo: Path,
                                                    listener: tuple[socket.socket, int]) -> None:
    """Even without the byte scan, the hardened parser opens no file and no socket."""
    path, token = canary
    srv, port = listener
    for target in (f"file://{path}", f"file://{fifo}", f"http://127.0.0.1:{port}/x"):
        doc = f'<!DOCTYPE n [<!ENTITY x SYSTEM "{target}">]><n>&x;</n>'.encode()

        def parse(doc: bytes = doc) -> None:
            root = etree.fromstring(doc, _safe.PARSER)
            assert token not in etree.tostring(root).decode()
            assert root.getroottree().docinfo.internalDTD is not None  # so layer 3 sees it

        err = _returns(parse)
        assert err is None or isinstance(err, etree.XMLSyntaxError)
    _no_connection(srv)


def test_utf16_cannot_hide_a_doctype(codec: NiemCodec, canary: tuple[Path, str]) -> None:
    path, token = canary
    doc = (f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE n [<!ENTITY x SYSTEM '
           f'"file://{path}">]><n>&x;</n>').encode("utf-16")
    with pytest.raises(DecodeError) as info:
        codec.decode(doc)
    assert token not in str(info.value)


# ----------------------------------------------------------------------------- other vectors

def test_xinclude_refused(codec: NiemCodec, canary: tuple[Path, str],
                          listener: tuple[socket.socket, int]) -> None:
    path, token = canary
    srv, port = listener
    for href in (f"file://{path}", f"http://127.0.0.1:{port}/x"):
        doc = GOOD.replace(
            b"<n2:NLETSInquiryData>",
            b'<n2:NLETSInquiryData><xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
            b'href="' + href.encode() + b'" parse="text"/>', 1)
        err = _refused(codec, doc)
        assert "XInclude" in str(err) and token not in str(err)
    _no_connection(srv)


def test_processing_instructions_refused(codec: NiemCodec,
                                         listener: tuple[socket.socket, int]) -> None:
    srv, port = listener
    pi = f'<?xml-stylesheet type="text/xsl" href="http://127.0.0.1:{port}/x.xsl"?>\n'.encode()
    err = _refused(codec, GOOD.replace(b"?>\n", b"?>\n" + pi, 1))
    assert "xml-stylesheet" in str(err)
    _refused(codec, GOOD.replace(b"<nc:Person>", b"<nc:Person><?php x?>", 1))
    _no_connection(srv)
    # "<?" inside text is not a processing instruction
    ok = GOOD.replace(b"</nc:Person>", b"</nc:Person><n2:RemarksText>A&lt;?B</n2:RemarksText>")
    assert codec.decode(ok).remarks == "A<?B"


def test_schema_location_hints_are_not_followed(codec: NiemCodec,
                                                listener: tuple[socket.socket, int]) -> None:
    srv, port = listener
    hint = (f' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation='
            f'"http://www.nlets.org/niem/1.0 http://127.0.0.1:{port}/evil.xsd"').encode()
    doc = GOOD.replace(b' n2:version="4.00"', b' n2:version="4.00"' + hint, 1)
    assert codec.decode(doc).mke == "QW"
    _no_connection(srv)


def test_ten_thousand_deep_nesting_refused(codec: NiemCodec) -> None:
    deep = b"<a>" * 10_000 + b"</a>" * 10_000
    err = _refused(codec, deep)
    assert "depth" in str(err).lower()
    # the same inside a real document, and through the counting (many-elements) path
    inner = GOOD.replace(b"<nc:Person>", b"<nc:Person>" + b"<x>" * 10_000 + b"</x>" * 10_000)
    _refused(codec, inner)
    _refused(get_codec("niem", max_elements=50), inner)  # type: ignore[arg-type]


def test_depth_limit_is_the_configured_one() -> None:
    nested = b"<n>" + b"<a>" * 40 + b"</a>" * 40 + b"</n>"
    with pytest.raises(XMLSecurityError, match="deeper than 32"):
        get_codec("niem").decode(nested)
    with pytest.raises(XMLSecurityError, match="deeper than 4"):
        get_codec("niem", max_depth=4).decode(GOOD)
    with pytest.raises(XMLSecurityError, match="deeper than 4"):
        get_codec("niem", max_depth=4, max_elements=20).decode(GOOD)
    # within the limit: the usual validation error, not a security one
    with pytest.raises(DecodeError) as info:
        get_codec("niem", max_depth=64).decode(nested)
    assert not isinstance(info.value, XMLSecurityError)


def test_element_count_limit_aborts_early() -> None:
    flood = b"<n>" + b"<a/>" * 200_000 + b"</n>"
    with pytest.raises(XMLSecurityError, match="more than 10000 elements") as info:
        get_codec("niem").decode(flood)
    # stopped at the chunk where the count passed the limit, not at the end
    assert info.value.offset is not None and info.value.offset < len(flood) // 4
    with pytest.raises(XMLSecurityError, match="more than 10 elements"):
        get_codec("niem", max_elements=10).decode(GOOD)
    # "<" in text can push the cheap count over the limit; the exact count then lets it pass
    text = GOOD.replace(b"</nc:Person>",
                        b"</nc:Person><n2:RemarksText>" + b"&lt;" * 50 + b"</n2:RemarksText>")
    assert get_codec("niem", max_elements=40).decode(text).remarks == "<" * 50


def test_size_limit_checked_before_parsing() -> None:
    with pytest.raises(XMLSecurityError, match="larger than the limit"):
        get_codec("niem").decode(b"<" * (1024 * 1024 + 1))
    with pytest.raises(XMLSecurityError, match="larger than the limit of 100"):
        get_codec("niem", max_bytes=100).decode(GOOD)


def test_malformed_xml_is_decode_error_with_line(codec: NiemCodec) -> None:
    broken = GOOD.replace(b"</nc:PersonName>", b"</nc:PersonNam>", 1)
    with pytest.raises(DecodeError) as info:
        codec.decode(broken)
    line = broken[:broken.index(b"</nc:PersonNam>")].count(b"\n") + 1
    assert f"line {line}" in str(info.value)
    assert not isinstance(info.value, XMLSecurityError)
    for bad in (b"", b"   ", b"<", b"not xml", b"<n2:NLETS>", b"<a>&undefined;</a>",
                b"\xff\xfe<\x00a\x00/\x00>\x00", b"<a>\x00</a>"):
        with pytest.raises(DecodeError):
            codec.decode(bad)


# ----------------------------------------------------------------------------- the probes work

def test_probes_detect_a_leak(canary: tuple[Path, str],
                              listener: tuple[socket.socket, int]) -> None:
    """The canary and the listener would catch a parser that reads or connects."""
    path, token = canary
    leaky = etree.XMLParser(resolve_entities=True, load_dtd=True)
    doc = f'<!DOCTYPE n [<!ENTITY x SYSTEM "file://{path}">]><n>&x;</n>'.encode()
    assert token in etree.tostring(etree.fromstring(doc, leaky)).decode()
    srv, port = listener
    with socket.create_connection(("127.0.0.1", port), timeout=5), \
            pytest.raises(pytest.fail.Exception):
        _no_connection(srv)

"""parse_wire: the one header parser for live traffic (keepalive replies, the engine's
provisionals and capture, a call's Reason), lenient where parse_message is strict."""

from __future__ import annotations

import pytest

from guestgate.sip.message import parse_wire

CASES: list[tuple[str, bytes, str | None, dict[str, tuple[str, ...]]]] = [
    # (name, data, start line or None, {header: values})
    ("a response with CRLF", b"SIP/2.0 183 Session Progress\r\nRSeq: 1\r\nRequire: 100rel\r\n\r\nv=0",
     "SIP/2.0 183 Session Progress", {"RSeq": ("1",), "Require": ("100rel",)}),
    ("bare LF line ends", b"BYE sip:x SIP/2.0\ni: lf@x\n\n", "BYE sip:x SIP/2.0", {"Call-ID": ("lf@x",)}),
    ("compact names and any case", b"SIP/2.0 200 OK\r\ni: a@b\r\nCALL-ID: second\r\nk: timer\r\n\r\n",
     "SIP/2.0 200 OK", {"Call-ID": ("a@b", "second"), "Supported": ("timer",)}),
    ("list headers split, Reason kept per value",
     b"BYE sip:x SIP/2.0\r\nReason: SIP;cause=200, Q.850;cause=65;text=\"x, y\"\r\n\r\n",
     "BYE sip:x SIP/2.0", {"Reason": ("SIP;cause=200", 'Q.850;cause=65;text="x, y"')}),
    ("a line that is no header is skipped", b"SIP/2.0 100 Trying\r\n\x00garbage\r\nCSeq: 1 OPTIONS\r\n\r\n",
     "SIP/2.0 100 Trying", {"CSeq": ("1 OPTIONS",)}),
    ("folded header continues", b"OPTIONS sip:x SIP/2.0\r\nSubject: one\r\n two\r\n\r\n",
     "OPTIONS sip:x SIP/2.0", {"Subject": ("one two",)}),
    ("no headers at all", b"SIP/2.0 200 OK\r\n\r\n", "SIP/2.0 200 OK", {"Call-ID": ()}),
    ("binary junk is no message", b"\x00\xff\xfe garbage", None, {}),
    ("HTTP is no SIP", b"HTTP/1.1 200 OK\r\nCall-ID: x\r\n\r\n", None, {}),
    ("empty", b"", None, {}),
]


@pytest.mark.parametrize(("name", "data", "start", "headers"), CASES, ids=[c[0] for c in CASES])
def test_parse_wire(name: str, data: bytes, start: str | None, headers: dict[str, tuple[str, ...]]) -> None:
    message = parse_wire(data)
    if start is None:
        assert message is None
        return
    assert message is not None and message.start_line == start
    for header, values in headers.items():
        assert message.values(header) == values


def test_status_reason_phrase_and_body() -> None:
    message = parse_wire(b"SIP/2.0 183 Session Progress\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n")
    assert message is not None
    assert (message.status, message.reason_phrase, message.body) == (183, "Session Progress", "v=0\r\n")
    request = parse_wire(b"INVITE sip:2001@x SIP/2.0\r\n\r\n")
    assert request is not None and (request.method, request.status, request.reason_phrase) == ("INVITE", None, "")

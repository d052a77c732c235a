"""Bencode as rtpengine's ng protocol uses it: tables of values and of malformed input."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.media.bencode import BencodeError, decode, encode

ROUND_TRIPS: list[tuple[str, Any, bytes]] = [
    ("integer", 42, b"i42e"),
    ("negative integer", -7, b"i-7e"),
    ("text", "ping", b"4:ping"),
    ("empty text", "", b"0:"),
    ("utf-8 text counts bytes", "é", b"2:\xc3\xa9"),
    ("list", ["a", 1], b"l1:ai1ee"),
    ("dictionary keys sorted", {"sdp": "x", "command": "offer"}, b"d7:command5:offer3:sdp1:xe"),
    ("nested flags", {"rtcp-mux": ["demux"]}, b"d8:rtcp-muxl5:demuxee"),
]


@pytest.mark.parametrize(("case", "value", "wire"), ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_round_trip(case: str, value: Any, wire: bytes) -> None:
    assert encode(value) == wire
    assert decode(wire) == value


def test_booleans_are_yes_no_strings_as_rtpengine_reads_flags() -> None:
    assert encode({"x": True, "y": False}) == b"d1:x3:yes1:y2:noe"


def test_binary_that_is_not_utf8_stays_bytes() -> None:
    assert decode(b"2:\xff\xfe") == b"\xff\xfe"


MALFORMED = [
    ("empty", b""),
    ("unterminated integer", b"i12"),
    ("integer without digits", b"ie"),
    ("truncated string", b"5:abc"),
    ("unterminated list", b"l1:a"),
    ("dictionary key not text", b"di1ei2ee"),
    ("trailing bytes", b"i1ei2e"),
    ("unknown lead byte", b"x"),
    ("too deep", b"l" * 100 + b"e" * 100),
]


@pytest.mark.parametrize(("case", "wire"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_is_refused(case: str, wire: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(wire)


def test_unencodable_value_is_refused() -> None:
    with pytest.raises(BencodeError):
        encode({"x": 1.5})

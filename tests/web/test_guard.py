"""Tables for the web guard (pure parts): the visitor's address behind trusted proxies, bounded
JSON, and a refunded rate-limit attempt."""

from __future__ import annotations

import pytest

from guestgate.web.guard import BadJSON, forwarded_client, json_depth, parse_json
from guestgate.web.ratelimit import RateLimiter

REMOTE = "192.0.2.1"  # the connection's own address: the nearest proxy, or the client itself

FORWARDED: list[tuple[str, list[str], int, str]] = [
    ("no proxies trusted: the header is ignored", ["203.0.113.9"], 0, REMOTE),
    ("one proxy: the entry it appended", ["203.0.113.9"], 1, "203.0.113.9"),
    ("one proxy: what the client wrote before it is ignored", ["10.0.0.1, 203.0.113.9"], 1, "203.0.113.9"),
    ("two proxies: the entry the first one appended", ["10.0.0.1, 203.0.113.9, 198.51.100.2"], 2, "203.0.113.9"),
    ("two proxies, the header split over two lines", ["10.0.0.1, 203.0.113.9", "198.51.100.2"], 2, "203.0.113.9"),
    ("two proxies but one entry: not through both, the connection counts", ["203.0.113.9"], 2, REMOTE),
    ("no header behind a proxy: the connection counts", [], 1, REMOTE),
    ("an entry that is no address: the connection counts", ["10.0.0.1, evil"], 1, REMOTE),
    ("an IPv6 entry", ["2001:db8::1"], 1, "2001:db8::1"),
    ("a bracketed IPv6 entry", ["[2001:db8::1]"], 1, "2001:db8::1"),
    ("empty entries are skipped", ["203.0.113.9,, "], 1, "203.0.113.9"),
    ("non-ASCII garbage", ["\u00e4\u00f6, \udcff"], 1, REMOTE),
]


@pytest.mark.parametrize(("name", "headers", "hops", "client"), FORWARDED, ids=[c[0] for c in FORWARDED])
def test_forwarded_client(name: str, headers: list[str], hops: int, client: str) -> None:
    assert forwarded_client(REMOTE, headers, hops) == client


DEPTHS: list[tuple[str, bytes, int]] = [
    ("a scalar", b"5", 0),
    ("an object", b'{"a": 1}', 1),
    ("nested", b'{"a": [{"b": []}]}', 4),
    ("brackets inside strings do not count", b'{"a": "[[[[{{{{"}', 1),
    ("an escaped quote does not end the string", b'{"a": "\\"[[[["}', 1),
    ("60,000 open brackets", b"[" * 60_000, 60_000),
]


@pytest.mark.parametrize(("name", "data", "depth"), DEPTHS, ids=[c[0] for c in DEPTHS])
def test_json_depth(name: str, data: bytes, depth: int) -> None:
    assert json_depth(data) == depth


BAD_JSON: list[tuple[str, bytes, str]] = [
    ("too large", b'{"a": "' + b"x" * 100 + b'"}', "larger than 64 bytes"),
    ("too deep", b"[" * 17 + b"]" * 17, "nested deeper than 16"),
    ("not JSON", b"{", "not JSON"),
    ("not UTF-8", b'"\xff"', "not JSON"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_JSON, ids=[c[0] for c in BAD_JSON])
def test_parse_json_refuses(name: str, data: bytes, message: str) -> None:
    with pytest.raises(BadJSON, match=message):
        parse_json(data, max_bytes=64)


def test_parse_json_reads_what_fits() -> None:
    assert parse_json(b"[" * 16 + b"]" * 16, max_bytes=64) == [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]
    assert parse_json(b'{"path": "/call/x"}', max_bytes=64) == {"path": "/call/x"}


def test_a_refunded_attempt_is_not_counted() -> None:
    limiter = RateLimiter(window=60)
    assert limiter.check("k", 1, 100.0).allowed
    assert not limiter.check("k", 1, 101.0).allowed
    limiter.refund("k", 100.0)
    assert limiter.check("k", 1, 102.0).allowed
    limiter.refund("other", 1.0)  # nothing to refund: no error

"""Tables for the pure parts of the browser leg: tokens, TURN credentials, limits, link rules,
origins, visitor wording."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from guestgate.config.schema import AccessConfig, IceConfig, LinkConfig, LinksFile, WithdrawnLink
from guestgate.engine.calls import CallHandle
from guestgate.sip.capture import CapturedMessage
from guestgate.web.ice import ice_servers, turn_credentials
from guestgate.web.ratelimit import ConcurrencyLimiter, RateLimiter
from guestgate.web.rules import decide, origin_allowed, origin_of
from guestgate.web.session import reason_header
from guestgate.web.tokens import sign, verify
from guestgate.web.visitor import end_reason, q850_cause

KEY = b"k" * 32
NOW = 1_800_000_000

# ---- tokens ----------------------------------------------------------------------------------

TOKEN_CASES: list[tuple[str, str | None, str, int, str | None]] = [
    ("valid token opens its link", sign(KEY, "ns/a", NOW + 60), "ns/a", NOW, None),
    ("one second before expiry still opens", sign(KEY, "ns/a", NOW + 1), "ns/a", NOW, None),
    ("at expiry it is closed", sign(KEY, "ns/a", NOW), "ns/a", NOW, "expired"),
    ("a token for another link does not open this one", sign(KEY, "ns/b", NOW + 60), "ns/a", NOW, "wrong-link"),
    ("another key's token is refused", sign(b"x" * 32, "ns/a", NOW + 60), "ns/a", NOW, "bad-signature"),
    (
        "a stretched expiry breaks the MAC",
        sign(KEY, "ns/a", NOW + 99999).split(".")[0] + "." + sign(KEY, "ns/a", NOW + 60).split(".")[1],
        "ns/a",
        NOW,
        "bad-signature",
    ),
    ("no token", None, "ns/a", NOW, "missing"),
    ("empty token", "", "ns/a", NOW, "missing"),
    ("no dot", "abcdef", "ns/a", NOW, "malformed"),
    ("nothing after the dot", "abc.", "ns/a", NOW, "malformed"),
    ("huge token", "a" * 3000 + ".b", "ns/a", NOW, "malformed"),
    ("non-ASCII payload", "\u00e4\u00f6.abc", "ns/a", NOW, "malformed"),
    ("non-ASCII MAC: compare_digest takes ASCII only", sign(KEY, "ns/a", NOW + 9) + "\u00e9", "ns/a", NOW, "malformed"),
    ("surrogates of undecodable bytes", "\udcff.\udcfe", "ns/a", NOW, "malformed"),
]


@pytest.mark.parametrize(("name", "token", "link", "now", "problem"), TOKEN_CASES, ids=[c[0] for c in TOKEN_CASES])
def test_token(name: str, token: str | None, link: str, now: int, problem: str | None) -> None:
    check = verify(KEY, token, link, now)
    assert (check.ok, check.problem) == (problem is None, problem)


def test_token_with_a_valid_mac_but_bad_payload_is_malformed() -> None:
    payload = base64.urlsafe_b64encode(b'{"link": 5}').rstrip(b"=").decode()
    mac = base64.urlsafe_b64encode(hmac.new(KEY, payload.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    assert verify(KEY, f"{payload}.{mac}", "ns/a", NOW).problem == "malformed"


# ---- TURN --------------------------------------------------------------------------------------


def test_turn_credentials_follow_the_turn_rest_convention() -> None:
    username, password = turn_credentials(b"secret", "ns/a", NOW, ttl=3600)
    assert username == f"{NOW + 3600}:ns/a"
    assert password == base64.b64encode(hmac.new(b"secret", username.encode(), hashlib.sha1).digest()).decode()


ICE_CASES = [
    ("nothing configured", IceConfig(), None, []),
    ("stun only", IceConfig(stun_urls=("stun:s:3478",)), None, [{"urls": ["stun:s:3478"]}]),
    ("turn without a secret is left out", IceConfig(turn_urls=("turn:t:3478",)), None, []),
    ("turn with a secret carries credentials", IceConfig(turn_urls=("turn:t:3478",)), b"s", ["turn:t:3478"]),
]


@pytest.mark.parametrize(("name", "ice", "secret", "expected"), ICE_CASES, ids=[c[0] for c in ICE_CASES])
def test_ice_servers(name: str, ice: IceConfig, secret: bytes | None, expected: list[object]) -> None:
    servers = ice_servers(ice, secret, "ns/a", NOW)
    if expected and isinstance(expected[0], str):
        assert servers[0]["urls"] == expected and servers[0]["username"].endswith(":ns/a")
        assert servers[0]["credential"]
    else:
        assert servers == expected


# ---- limits ------------------------------------------------------------------------------------

RATE_CASES = [
    # name, attempts (time), limit, expected allowed list, last retry-after
    ("under the limit", [0, 1], 2, [True, True], 0),
    ("third in the minute is refused until the first leaves the window", [0, 10, 20], 2, [True, True, False], 40),
    ("the window slides", [0, 10, 61], 2, [True, True, True], 0),
    ("limit 0 refuses all", [0], 0, [False], 60),
    ("refused attempts do not count", [0, 1, 2, 60.5], 1, [True, False, False, True], 0),
]


@pytest.mark.parametrize(("name", "times", "limit", "allowed", "retry"), RATE_CASES, ids=[c[0] for c in RATE_CASES])
def test_rate_limiter(name: str, times: list[float], limit: int, allowed: list[bool], retry: int) -> None:
    limiter = RateLimiter()
    decisions = [limiter.check("ip", limit, t) for t in times]
    assert [d.allowed for d in decisions] == allowed
    assert decisions[-1].retry_after == retry


def test_rate_limiter_keys_are_independent_and_pruned() -> None:
    limiter = RateLimiter()
    assert limiter.check("a", 1, 0).allowed and limiter.check("b", 1, 0).allowed
    assert not limiter.check("a", 1, 1).allowed
    limiter.prune(100)
    assert not limiter._events


def test_concurrency_limiter_releases_slots() -> None:
    caps = ConcurrencyLimiter(retry_after=7)
    assert caps.acquire("l", 1).allowed
    refused = caps.acquire("l", 1)
    assert (refused.allowed, refused.retry_after) == (False, 7)
    caps.release("l")
    assert caps.active("l") == 0 and caps.acquire("l", 1).allowed
    caps.release("l")
    caps.release("l")  # one release too many never goes negative
    assert caps.active("l") == 0


# ---- link rules ------------------------------------------------------------------------------

T0 = datetime(2027, 3, 1, 12, tzinfo=UTC)


def link(path: str, **fields: object) -> LinkConfig:
    values: dict[str, object] = {
        "id": f"ns{path}",
        "namespace": "ns",
        "name": "n",
        "path": path,
        "url": f"https://c.example.com{path}",
        "trunk": "ns/t",
        "destination": "2001",
        "display_name": "Sales",
    }
    values.update(fields)
    return LinkConfig.model_validate(values)


LINKS = LinksFile(
    links=(
        link("/call/open"),
        link("/call/later", valid_from=T0 + timedelta(hours=1)),
        link("/call/window", valid_from=T0 - timedelta(hours=1), valid_until=T0 + timedelta(hours=1)),
        link("/call/over", valid_until=T0),
        link("/call/vip", access=AccessConfig(require_token=True)),
    ),
    withdrawn=(WithdrawnLink(path="/call/old", display_name="Old"),),
)

RULE_CASES = [
    ("published link opens", "/call/open", None, KEY, "open", 200),
    ("trailing slash is the same link", "/call/open/", None, KEY, "open", 200),
    ("unknown path is 404", "/call/nope", None, KEY, "unknown", 404),
    ("withdrawn link is 403", "/call/old", None, KEY, "disabled", 403),
    ("before validFrom is 410", "/call/later", None, KEY, "not-yet-valid", 410),
    ("inside the window opens", "/call/window", None, KEY, "open", 200),
    ("at validUntil it has expired", "/call/over", None, KEY, "expired", 410),
    ("token link without token is 403", "/call/vip", None, KEY, "token", 403),
    (
        "token link with a valid token opens",
        "/call/vip",
        sign(KEY, "ns/call/vip", int(T0.timestamp()) + 9),
        KEY,
        "open",
        200,
    ),
    ("token link without a mounted key stays closed", "/call/vip", sign(KEY, "ns/call/vip", 2**40), None, "token", 403),
]


@pytest.mark.parametrize(
    ("name", "path", "token", "key", "verdict", "status"), RULE_CASES, ids=[c[0] for c in RULE_CASES]
)
def test_link_rules(name: str, path: str, token: str | None, key: bytes | None, verdict: str, status: int) -> None:
    decision = decide(LINKS, path, T0, key, token)
    assert (decision.verdict, decision.status) == (verdict, status)


ORIGIN_CASES = [
    ("the page's own origin", "https://c.example.com", (), (), True),
    ("default port is dropped", "https://c.example.com:443", (), (), True),
    ("case does not matter", "HTTPS://C.Example.com", (), (), True),
    ("link's allowed site", "https://www.example.com", ("https://www.example.com/",), (), True),
    ("cluster's allowed site", "https://shop.example.com", (), ("https://shop.example.com",), True),
    ("http is not https", "http://c.example.com", (), (), False),
    ("another port is another origin", "https://c.example.com:8443", (), (), False),
    ("a foreign site", "https://evil.example", (), (), False),
    ("no Origin header (not a browser)", None, (), (), False),
    ("opaque origin", "null", (), (), False),
]


@pytest.mark.parametrize(
    ("name", "origin", "link_origins", "cluster_origins", "ok"), ORIGIN_CASES, ids=[c[0] for c in ORIGIN_CASES]
)
def test_origins(
    name: str, origin: str | None, link_origins: tuple[str, ...], cluster_origins: tuple[str, ...], ok: bool
) -> None:
    the_link = link("/call/open", access=AccessConfig(allowed_origins=link_origins))
    assert origin_allowed(origin, the_link, cluster_origins, "https://c.example.com/") is ok


@pytest.mark.parametrize(
    "url", ["not a url", "http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://[", "http://[::1", "http://:80"]
)
def test_origin_of_garbage_is_empty(url: str) -> None:
    assert origin_of(url) == ""


# ---- visitor wording ---------------------------------------------------------------------------

END_CASES = [
    # name, status, Reason header, answered, by visitor -> key, words in the text, detail
    ("visitor hung up", 200, None, True, True, "hangup", "You ended", ""),
    (
        "far end hung up normally",
        200,
        "Q.850;cause=16",
        True,
        False,
        "remote-hangup",
        "other side hung up",
        "Q.850 cause 16",
    ),
    ("BYE without Reason", 200, None, True, False, "remote-hangup", "other side hung up", "SIP 200"),
    (
        "cause 65 after answer is a network drop",
        200,
        'Q.850;cause=65;text="x"',
        True,
        False,
        "network-dropped",
        "dropped by the phone network",
        "Q.850 cause 65",
    ),
    (
        "cause 65 before answer is unavailable",
        503,
        "Q.850 ; cause = 65",
        False,
        False,
        "unavailable",
        "could not connect",
        "Q.850 cause 65",
    ),
    ("busy", 486, None, False, False, "busy", "busy", "SIP 486"),
    ("busy everywhere", 600, None, False, False, "busy", "busy", "SIP 600"),
    ("cause 17 is busy", 480, "Q.850;cause=17", False, False, "busy", "busy", "Q.850 cause 17"),
    ("not found", 404, None, False, False, "not-found", "cannot be reached", "SIP 404"),
    ("no answer", 480, None, False, False, "no-answer", "Nobody answered", "SIP 480"),
    ("declined", 603, None, False, False, "rejected", "declined", "SIP 603"),
    ("server error", 503, None, False, False, "unavailable", "could not connect", "SIP 503"),
    ("odd 4xx", 488, None, False, False, "failed", "could not be connected", "SIP 488"),
]


@pytest.mark.parametrize(
    ("name", "status", "reason", "answered", "by_visitor", "key", "words", "detail"),
    END_CASES,
    ids=[c[0] for c in END_CASES],
)
def test_end_reason(
    name: str, status: int, reason: str | None, answered: bool, by_visitor: bool, key: str, words: str, detail: str
) -> None:
    ended = end_reason(status, reason, answered=answered, by_visitor=by_visitor)
    assert ended.key == key
    assert words in ended.text
    assert ended.detail.startswith(detail)


@pytest.mark.parametrize(
    ("header", "cause"), [("Q.850;cause=65", 65), ("SIP;cause=200", None), (None, None), ("q.850;CAUSE=1", 1)]
)
def test_q850_cause(header: str | None, cause: int | None) -> None:
    assert q850_cause(header) == cause


# ---- what ended the call ---------------------------------------------------------------------


def _handle_with(*messages: tuple[str, bytes]) -> CallHandle:
    handle = CallHandle(call_id="c", trunk_id="t", number="2001", target="sip:2001@p")
    captured = [
        CapturedMessage(time=0.0, direction=d, transport="udp", local="a:1", remote="b:2", data=m)  # type: ignore[arg-type]
        for d, m in messages
    ]
    handle._messages = lambda: captured
    return handle


REASON_CASES = [
    (
        "the peer's BYE with a cause",
        [("received", b"BYE sip:x SIP/2.0\r\nReason: Q.850;cause=65\r\n\r\n")],
        "Q.850;cause=65",
    ),
    (
        "our own BYE is not the reason",
        [("received", b"SIP/2.0 200 OK\r\n\r\n"), ("sent", b"BYE sip:x SIP/2.0\r\nReason: Q.850;cause=16\r\n\r\n")],
        None,
    ),
    (
        "a final error response with a cause",
        [("received", b"SIP/2.0 503 Unavailable\r\nreason: Q.850;cause=34\r\n\r\n")],
        "Q.850;cause=34",
    ),
    ("a BYE without Reason", [("received", b"BYE sip:x SIP/2.0\r\nVia: x\r\n\r\n")], None),
    ("a provisional is no end", [("received", b"SIP/2.0 183 Progress\r\nReason: Q.850;cause=1\r\n\r\n")], None),
    ("nothing captured", [], None),
]


@pytest.mark.parametrize(("name", "messages", "expected"), REASON_CASES, ids=[c[0] for c in REASON_CASES])
def test_reason_header(name: str, messages: list[tuple[str, bytes]], expected: str | None) -> None:
    assert reason_header(_handle_with(*messages)) == expected

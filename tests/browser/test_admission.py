"""Who may start a call, checked on the wire (no browser needed): tokens, origins, the per-IP
rate, the per-link cap, and a client that asks for another number."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from browser.harness import ADMIN_TOKEN, ALLOWED_SITE, SIGNING_KEY, Bench, offer
from guestgate.web.tokens import sign

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


async def post_call(
    http: aiohttp.ClientSession, bench: Bench, path: str, origin: str | None = None, **extra: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Origin": origin or bench.server.web_url}
    body = {"path": path, "sdp": await offer(), **extra}
    async with http.post(f"{bench.server.web_url}/_gg/calls", json=body, headers=headers) as reply:
        return reply.status, await reply.json(), dict(reply.headers)


async def hang_up(http: aiohttp.ClientSession, bench: Bench, call_id: str, origin: str | None = None) -> list[str]:
    """Open the call's event socket, hang up, return the states seen until the end."""
    url = f"{bench.server.web_url.replace('http', 'ws', 1)}/_gg/calls/{call_id}/events"
    states = []
    async with http.ws_connect(url, headers={"Origin": origin or bench.server.web_url}) as ws:
        await ws.send_json({"type": "hangup"})
        async for message in ws:
            event = message.json()
            if event.get("type") != "state":
                continue  # media events of a relayed call (answer, ringback)
            states.append(event["state"])
            if event["state"] == "ended":
                break
    return states


async def page_status(http: aiohttp.ClientSession, bench: Bench, path: str) -> int:
    async with http.get(f"{bench.server.web_url}{path}") as reply:
        return reply.status


TOKENS = [
    # name, token, expected page status
    ("valid", sign(SIGNING_KEY, "demo/vip", int(time.time()) + 600), 200),
    ("expired", sign(SIGNING_KEY, "demo/vip", int(time.time()) - 1), 403),
    ("other-link", sign(SIGNING_KEY, "demo/phone", int(time.time()) + 600), 403),
    ("wrong-key", sign(b"not the cluster's key", "demo/vip", int(time.time()) + 600), 403),
    ("garbage", "abc.def", 403),
]


@pytest.mark.parametrize(("name", "token", "status"), TOKENS, ids=[t[0] for t in TOKENS])
async def test_token_links_open_only_with_a_valid_signed_token(
    http: aiohttp.ClientSession, bench: Bench, name: str, token: str, status: int
) -> None:
    assert await page_status(http, bench, f"/call/vip?token={token}") == status
    if status != 200:
        code, body, _ = await post_call(http, bench, "/call/vip", token=token)
        assert (code, body["error"]) == (403, "token")


async def test_unknown_disabled_and_expired_links_refuse_calls_too(http: aiohttp.ClientSession, bench: Bench) -> None:
    for path, status in (("/call/nobody", 404), ("/call/old", 403), ("/call/later", 410), ("/call/over", 410)):
        code, _, _ = await post_call(http, bench, path)
        assert code == status, path


async def test_a_foreign_origin_cannot_start_a_call(http: aiohttp.ClientSession, bench: Bench) -> None:
    code, body, _ = await post_call(http, bench, "/call/phone", origin="https://evil.example")
    assert (code, body["error"]) == (403, "origin")
    code, body, _ = await post_call(http, bench, "/call/phone", origin="null")
    assert code == 403


async def test_over_the_concurrent_cap_is_429_and_the_number_sent_by_the_client_is_ignored(
    http: aiohttp.ClientSession, bench: Bench
) -> None:
    before = len(bench.phone.events())
    # An allowed embedding site, asking for a premium-rate number: the call goes to 2001 only.
    code, first, _ = await post_call(http, bench, "/call/capped", origin=ALLOWED_SITE, number="+19005550199")
    assert code == 200, first
    code, body, headers = await post_call(http, bench, "/call/capped", origin=ALLOWED_SITE)
    assert (code, body["error"]) == (429, "concurrency")
    assert int(headers["Retry-After"]) >= 1
    incoming = bench.phone.wait_event(
        "incoming", count=1 + sum(e["event"] == "incoming" for e in bench.phone.events()[:before])
    )
    assert incoming[-1]["number"] == "2001"
    assert (await hang_up(http, bench, first["id"], ALLOWED_SITE))[-1] == "ended"
    code, second, _ = await post_call(http, bench, "/call/capped", origin=ALLOWED_SITE)
    assert code == 200, "the slot was not released at the end of the call"
    await hang_up(http, bench, second["id"], ALLOWED_SITE)


async def test_over_the_per_ip_rate_is_429_with_retry_after_and_counted(
    http: aiohttp.ClientSession, bench: Bench
) -> None:
    code, first, _ = await post_call(http, bench, "/call/limited")  # 1 call per minute per IP
    assert code == 200, first
    await hang_up(http, bench, first["id"])
    code, body, headers = await post_call(http, bench, "/call/limited")
    assert (code, body["error"]) == (429, "rate")
    assert 1 <= int(headers["Retry-After"]) <= 60
    async with http.get(f"{bench.server.web_url}/_gg/metrics") as reply:
        metrics = await reply.text()
    for reason in ("rate", "concurrency", "origin", "token"):
        assert f'guestgate_browser_refused_total{{reason="{reason}"}}' in metrics, reason
    assert 'guestgate_browser_calls_ended_total{link="demo/capped",reason="hangup"}' in metrics
    assert "guestgate_browser_call_setup_seconds_bucket" in metrics
    # The pod's admin port (what Prometheus scrapes) carries them too, next to the SIP metrics.
    async with http.get(f"http://127.0.0.1:{bench.ports.admin}/metrics") as reply:
        admin = await reply.text()
    assert 'guestgate_browser_refused_total{reason="rate"}' in admin
    assert "guestgate_browser_calls_active" in admin


async def test_a_page_that_goes_away_ends_the_sip_call(http: aiohttp.ClientSession, bench: Bench) -> None:
    ended = sum(e["event"] == "ended" for e in bench.phone.events())
    code, call, _ = await post_call(http, bench, "/call/phone")
    assert code == 200, call
    url = f"{bench.server.web_url.replace('http', 'ws', 1)}/_gg/calls/{call['id']}/events"
    async with http.ws_connect(url, headers={"Origin": bench.server.web_url}) as ws:
        first = await ws.receive_json(timeout=10)
        assert first["state"] == "connecting"
    # The socket closed without a hang-up (a closed tab): the server ends the call itself (a
    # CANCEL while it rings: the phone ends it with 487).
    last = bench.phone.wait_event("ended", count=ended + 1, timeout=20)[-1]
    assert last["status"] == 487, last


async def test_calls_follow_the_keepalive_failover_to_the_next_peer(http: aiohttp.ClientSession, bench: Bench) -> None:
    # The failover trunk's first peer has nobody listening: keepalive marks it down within seconds.
    admin = f"http://127.0.0.1:{bench.ports.admin}/v1/trunks/demo/failover"
    token = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    deadline = time.monotonic() + 15
    while True:
        async with http.get(admin, headers=token) as reply:
            state = await reply.json()
        if state.get("activePeer") == f"127.0.0.1:{bench.ports.phone}":
            break
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.3)
    before = sum(e["event"] == "incoming" for e in bench.phone.events())
    code, call, _ = await post_call(http, bench, "/call/failover")
    assert code == 200, call
    incoming = bench.phone.wait_event("incoming", count=before + 1)
    assert incoming[-1]["number"] == "2002"
    await hang_up(http, bench, call["id"])


async def test_the_page_runs_only_its_own_code_and_is_framed_only_by_allowed_sites(
    http: aiohttp.ClientSession, bench: Bench
) -> None:
    async with http.get(f"{bench.server.web_url}/call/capped") as reply:
        assert reply.status == 200
        policy = reply.headers["Content-Security-Policy"]
        assert reply.headers["Cache-Control"] == "no-store"
        assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self'" in policy
    assert f"frame-ancestors 'self' {ALLOWED_SITE}" in policy

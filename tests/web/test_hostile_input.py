"""Malformed and hostile input against a real `guestgate.pod.serve`: each class is answered with a
4xx and a short message (never aiohttp's 500 page), and the server still serves afterwards; the
limits are checked in the order that keeps one visitor from locking out the rest; the visitor's
address behind two appending proxies is the one they wrote, not the one the client claims."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from browser.harness import ADMIN_TOKEN, Ports, Server, offer, published, start_server, write_config
from guestgate.config.schema import AccessConfig, LimitsConfig, PublishedConfig
from guestgate.media.ng import NgClient
from guestgate.web.session import BadOffer, BrowserCall, RelayUnavailable
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import LocalRelay, start_relay
from support.mutate import fuzz_seed, mutate, mutate_json, mutations
from web.test_session import LINK, FakeEngine, profile

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROXY_1, PROXY_2 = "192.0.2.10", "192.0.2.20"  # the two trusted proxies in front (TEST-NET-1)


def config(ports: Ports) -> PublishedConfig:
    """The browser tests' links; the pod takes one new call a second, /call/limited one a minute
    per address, /call/silent (nobody answers its trunk) many."""
    base = published(ports)
    links = tuple(
        link.model_copy(update={"access": AccessConfig(calls_per_minute_per_ip=100, max_concurrent_calls=10)})
        if link.name == "silent"
        else link
        for link in base.links.links
    )
    cluster = base.cluster.model_copy(update={"limits": LimitsConfig(new_calls_per_second_per_pod=1)})
    return base.model_copy(update={"cluster": cluster, "links": base.links.model_copy(update={"links": links})})


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRelay]:
    """The server's rtpengine; it holds no session once the module is done with it."""
    relay = start_relay(tmp_path_factory.mktemp("hostile-relay") / "rtpengine.log")
    try:
        yield relay
        assert relay.wait_no_sessions() == [], "rtpengine still holds sessions after the hostile input"
    finally:
        relay.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, relay: LocalRelay) -> Iterator[tuple[Server, Ports]]:
    root = tmp_path_factory.mktemp("hostile")
    ports = Ports()
    config_dir, secrets = write_config(root, config(ports))
    # Behind two proxies that each append to X-Forwarded-For.
    server = start_server(
        config_dir, secrets, root / "server.log", "--trust-forwarded-for", "2", "--rtpengine", relay.ng
    )
    try:
        yield server, ports
    finally:
        stop_process(server.process, 20)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


def via_proxies(client: str, claimed: str = "") -> dict[str, str]:
    """X-Forwarded-For as two appending proxies write it for `client` (after what it claimed)."""
    entries = [claimed] if claimed else []
    return {"X-Forwarded-For": ", ".join([*entries, client, PROXY_1])}


async def raw_request(url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.1 request written byte for byte (headers that are no UTF-8, which no client
    library sends): the status and the body."""
    host, _, port = url.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def still_serves(http: aiohttp.ClientSession, server: Server) -> None:
    async with http.get(f"{server.web_url}/call/phone") as reply:
        assert reply.status == 200
    assert server.process.poll() is None
    assert "Error handling request" not in server.output()  # aiohttp's 500 path was never taken


async def post(
    http: aiohttp.ClientSession, server: Server, data: bytes | str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Origin": server.web_url, "Content-Type": "application/json", **(headers or {})}
    async with http.post(f"{server.web_url}/_gg/calls", data=data, headers=headers) as reply:
        return reply.status, await reply.json()


async def start_call(http: aiohttp.ClientSession, server: Server, path: str, client: str) -> tuple[int, dict[str, Any]]:
    body = {"path": path, "sdp": await offer()}
    headers = {"Origin": server.web_url, **via_proxies(client)}
    async with http.post(f"{server.web_url}/_gg/calls", json=body, headers=headers) as reply:
        return reply.status, await reply.json()


async def hang_up(http: aiohttp.ClientSession, server: Server, call_id: str) -> None:
    """End the call (its trunk's peer may have ended it already: nobody listens there)."""
    url = f"{server.web_url.replace('http', 'ws', 1)}/_gg/calls/{call_id}/events"
    try:
        async with http.ws_connect(url, headers={"Origin": server.web_url}) as ws:
            await ws.send_json({"type": "hangup"})
            async for message in ws:
                if message.json().get("state") == "ended":
                    break
    except aiohttp.WSServerHandshakeError as error:
        assert error.status == 404, error  # the call has ended


async def next_second() -> None:
    """The pod takes one new call a second: let the last one's second pass."""
    await asyncio.sleep(1.1)


PAGE_TOKENS = [
    ("non-ASCII token", "%C3%A4%C3%B6.abc"),
    ("non-ASCII MAC (hmac.compare_digest)", "eyJsaW5rIjoiZGVtby92aXAifQ.%C3%A9t%C3%A9"),
    ("undecodable percent escape", "%FF%FE.%FF"),
]


@pytest.mark.parametrize(("name", "token"), PAGE_TOKENS, ids=[t[0] for t in PAGE_TOKENS])
async def test_malformed_tokens_on_the_page_are_403(
    http: aiohttp.ClientSession, server: tuple[Server, Ports], name: str, token: str
) -> None:
    web, _ = server
    async with http.get(f"{web.web_url}/call/vip?token={token}") as reply:
        assert reply.status == 403
        assert "needs a valid invitation" in await reply.text()
    await still_serves(http, web)


BODIES: list[tuple[str, bytes, int, str]] = [
    ("non-ASCII token", '{"path": "/call/vip", "token": "äö.ü", "sdp": "v=0"}'.encode(), 403, "token"),
    ("non-ASCII MAC", '{"path": "/call/vip", "token": "abc.dé", "sdp": "v=0"}'.encode(), 403, "token"),
    ("JSON nested 60,000 deep", b"[" * 60_000, 400, "bad-request"),
    ("a path nested deep", b'{"path": ' + b"[" * 5000 + b"]" * 5000 + b', "sdp": "v=0"}', 400, "bad-request"),
    ("not UTF-8", b'{"path": "/call/phone", "sdp": "\xff\xfe"}', 400, "bad-request"),
    ("not JSON", b"path=/call/phone", 400, "bad-request"),
    ("a JSON list", b'["/call/phone", "v=0"]', 400, "bad-request"),
    ("a path that is a number", b'{"path": 5, "sdp": "v=0"}', 400, "bad-request"),
    ("SDP that is no text", b'{"path": "/call/silent", "sdp": {"v": 0}}', 400, "bad-request"),
    ("non-ASCII SDP", '{"path": "/call/silent", "sdp": "v=0\\r\\ns=\u00e9"}'.encode(), 400, "bad-request"),
    ("SDP that is no offer", b'{"path": "/call/silent", "sdp": "v=0\\r\\nm=audio x"}', 400, "bad-offer"),
]


@pytest.mark.parametrize(("name", "body", "status", "error"), BODIES, ids=[b[0] for b in BODIES])
async def test_malformed_call_requests_are_4xx(
    http: aiohttp.ClientSession, server: tuple[Server, Ports], name: str, body: bytes, status: int, error: str
) -> None:
    web, _ = server
    if error == "bad-offer":
        await next_second()  # it passes every limit: the offer itself is refused
    code, answer = await post(http, web, body, via_proxies("198.51.100.7"))
    assert (code, answer["error"]) == (status, error), answer
    assert answer["text"]
    await still_serves(http, web)


ORIGINS = ["http://127.0.0.1:abc", "http://127.0.0.1:99999", "http://[", "http://[::1", "https://ex\u00e4mple.com"]


@pytest.mark.parametrize("origin", ORIGINS)
async def test_malformed_origins_cannot_start_a_call(
    http: aiohttp.ClientSession, server: tuple[Server, Ports], origin: str
) -> None:
    web, _ = server
    body = b'{"path": "/call/silent", "sdp": "v=0"}'
    code, answer = await post(http, web, body, {"Origin": origin})
    assert (code, answer["error"]) == (403, "origin")
    await still_serves(http, web)


async def test_malformed_origins_cannot_open_the_event_socket(
    http: aiohttp.ClientSession, server: tuple[Server, Ports]
) -> None:
    web, _ = server
    await next_second()
    code, call = await start_call(http, web, "/call/silent", "198.51.100.8")
    assert code == 200, call
    url = f"{web.web_url}/_gg/calls/{call['id']}/events"
    handshake = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    for origin in ORIGINS:
        headers = {**handshake, "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": origin}
        async with http.get(url, headers=headers) as reply:
            assert reply.status == 403, origin
    status, _ = await raw_request(
        web.web_url,
        b"GET /_gg/calls/" + call["id"].encode() + b"/events HTTP/1.1\r\nHost: x\r\nOrigin: http://\xff\xfe:1",
    )
    assert status == 403
    await hang_up(http, web, call["id"])
    await still_serves(http, web)


async def test_an_admin_authorization_that_is_no_utf8_is_401(
    http: aiohttp.ClientSession, server: tuple[Server, Ports]
) -> None:
    web, ports = server
    admin = f"http://127.0.0.1:{ports.admin}"
    for value in (b"Bearer \xff\xfe\xfd", b"\xc3\x28", b"Bearer " + ADMIN_TOKEN.encode() + b"\x80"):
        status, body = await raw_request(admin, b"GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: " + value)
        assert status == 401, body
    async with http.get(f"{admin}/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as reply:
        assert reply.status == 200
    async with http.post(
        f"{admin}/v1/trunks/demo/phone/health-check",
        data=b"[" * 16_000,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as reply:
        assert reply.status == 400
    await still_serves(http, web)


async def test_one_addresss_refused_attempts_do_not_spend_the_pods_budget(
    http: aiohttp.ClientSession, server: tuple[Server, Ports]
) -> None:
    """The pod takes one new call a second and /call/limited one call a minute per address. A
    visitor over the per-address limit keeps trying: every attempt is 429, and the next visitor,
    from another address within the same second, still gets a call (before, the refused attempts
    spent the pod's budget and everyone else got 503 pod-busy)."""
    web, _ = server
    await next_second()
    code, call = await start_call(http, web, "/call/limited", "203.0.113.1")
    assert code == 200, call
    await hang_up(http, web, call["id"])
    await next_second()
    for _ in range(5):
        code, refused = await start_call(http, web, "/call/limited", "203.0.113.1")
        assert (code, refused["error"]) == (429, "rate")
    code, other = await start_call(http, web, "/call/limited", "203.0.113.2")
    assert code == 200, other
    await hang_up(http, web, other["id"])


async def test_behind_two_proxies_the_client_cannot_choose_its_address(
    http: aiohttp.ClientSession, server: tuple[Server, Ports]
) -> None:
    """The per-address limit follows the address the first proxy wrote (two entries from the
    right), whatever the client put in front of it; a request that did not come through both
    proxies counts as the connection's own address."""
    web, _ = server
    await next_second()
    sdp = await offer()

    async def attempt(forwarded: str) -> int:
        headers = {"Origin": web.web_url, "X-Forwarded-For": forwarded}
        async with http.post(
            f"{web.web_url}/_gg/calls", json={"path": "/call/limited", "sdp": sdp}, headers=headers
        ) as reply:
            answer = await reply.json()
            if reply.status == 200:
                await hang_up(http, web, answer["id"])
            return reply.status

    assert await attempt(f"203.0.113.50, {PROXY_1}") == 200
    await next_second()
    for claimed in ("10.0.0.1", "10.0.0.2, 10.0.0.3", "not-an-address"):
        assert await attempt(f"{claimed}, 203.0.113.50, {PROXY_1}") == 429, claimed
    # Through one proxy only (one entry) the header proves nothing: the connection's address
    # (127.0.0.1) is the visitor, with an allowance of its own.
    assert await attempt("203.0.113.51") == 200
    await next_second()
    assert await attempt("203.0.113.52") == 429  # 127.0.0.1 again
    await still_serves(http, web)


async def test_the_server_log_names_each_refusal_and_shows_no_traceback(server: tuple[Server, Ports]) -> None:
    web, _ = server
    output = web.output()
    assert "Traceback" not in output, output[-3000:]
    assert "call refused: body nested deeper than 16" in output


FUZZ_REQUESTS = 1500
ALLOWED_REFUSALS = {400, 403, 404, 410, 413, 429, 503}


async def test_fuzzed_call_requests_are_never_a_500(http: aiohttp.ClientSession, server: tuple[Server, Ports]) -> None:
    """Mutated JSON (types swapped, keys dropped and added, strings mangled, deep nesting) and
    mutated SDP offers into the call API: every answer is a refusal with a reason or a call; the
    server serves on. The pod takes one call a second, so few mutated offers reach the media
    relay here; test_fuzzed_offers_into_the_relay takes them there directly."""
    web, _ = server
    seed = fuzz_seed()
    rng = random.Random(seed)
    sdp = await offer()
    base: dict[str, Any] = {"path": "/call/silent", "sdp": sdp, "token": "x.y"}
    seen: dict[int, int] = {}
    for case in range(FUZZ_REQUESTS):
        if case % 3 == 0:
            body = json.dumps({**base, "sdp": mutate(rng, sdp.encode(), [sdp.encode()]).decode("utf-8", "replace")})
        else:
            body = json.dumps(mutate_json(rng, base))
        code, answer = await post(
            http, web, body.encode("utf-8", "surrogatepass"), via_proxies(f"198.51.100.{case % 200}")
        )
        seen[code] = seen.get(code, 0) + 1
        assert code == 200 or (code in ALLOWED_REFUSALS and answer.get("error")), (
            f"GUESTGATE_FUZZ_SEED={seed} case {case}: {code} {answer} for {body[:300]!r}"
        )
        if code == 200:
            await hang_up(http, web, answer["id"])
    assert seen.get(400, 0) > FUZZ_REQUESTS // 4, seen  # the mutations did reach the checks
    await still_serves(http, web)


async def test_fuzzed_offers_into_the_relay(relay: LocalRelay) -> None:
    """The offer path of the call API (BrowserCall.offer: the SDP checks, the link's video policy,
    the codec flags, then rtpengine's ng `offer`) with mutated offers, against a real rtpengine:
    each is relayed or refused (the API then says 400 bad-offer or 503 media-unavailable) within a
    bounded time, rtpengine still answers afterwards, and every session made is deleted."""
    seed = fuzz_seed()
    sdp = (await offer()).encode()
    host, _, port = relay.ng.rpartition(":")
    client = await NgClient.connect(host, int(port))
    outcomes = {"relayed": 0, "refused": 0}
    try:
        for case, data in mutations(seed, [sdp], 300):
            call = BrowserCall(FakeEngine(), LINK, profile(), "198.51.100.1", client)
            try:
                await asyncio.wait_for(call.offer(data.decode("ascii", "replace")), 10)
                outcomes["relayed"] += 1
            except TimeoutError as error:
                hung = f"GUESTGATE_FUZZ_SEED={seed} case {case}: the offer hung: {data[:300]!r}"
                raise AssertionError(hung) from error
            except (BadOffer, RelayUnavailable):
                outcomes["refused"] += 1
            finally:
                await call.teardown()
        assert await client.ping()  # rtpengine still answers
        assert outcomes["relayed"] and outcomes["refused"], outcomes
        assert relay.process.poll() is None
    finally:
        client.close()

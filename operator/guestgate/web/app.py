"""HTTP side of the browser leg: link pages, call admission, the event socket, static files.

`build_link_routes(state)` returns the routes for any aiohttp application (the signalling server
adds them to its own); `build_app(state)` makes a stand-alone one. Every rule a visitor can hit
is enforced here, on the server: the page's JavaScript is a convenience, never a gate.

  GET  /call/...                         the link page, or a friendly 403/404/410 page
  POST /_gg/calls                        {path, token, sdp} -> {id, sdp}; 403/404/410/429
  GET  /_gg/calls/{id}/events            WebSocket: call states out; dtmf and hangup in
  GET  /_gg/static/...                   the page's JS and CSS
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from guestgate.config.schema import LinkConfig, PeerConfig, PublishedConfig, TrunkProfile
from guestgate.web import metrics
from guestgate.web.ice import ice_servers
from guestgate.web.ratelimit import ConcurrencyLimiter, Decision, RateLimiter
from guestgate.web.rules import LinkDecision, decide, origin_allowed
from guestgate.web.session import BrowserCall, Engine
from guestgate.web.visitor import PAGE_TEXT, STATE_TEXT

log = logging.getLogger("guestgate.web")

STATIC = Path(__file__).parent / "static"
MAX_OFFER_BYTES = 64 * 1024
DTMF_KEYS = frozenset("0123456789*#")


@dataclass
class WebState:
    """What the routes read. Calls in progress keep the link they started with."""

    source: Callable[[], PublishedConfig]  # the configuration in force (the server reloads it)
    engine: Engine | None = None
    signing_key: bytes | None = None
    turn_secret: bytes | None = None
    clock: Callable[[], float] = time.time
    rates: RateLimiter = field(default_factory=RateLimiter)
    pod_rate: RateLimiter = field(default_factory=lambda: RateLimiter(window=1.0))
    concurrency: ConcurrencyLimiter = field(default_factory=ConcurrencyLimiter)
    calls: dict[str, BrowserCall] = field(default_factory=dict)
    trust_forwarded_for: bool = False  # behind a load balancer that sets X-Forwarded-For
    expose_metrics: bool = False  # /_gg/metrics on this port (the demo; pods use the admin port)
    peer_for: Callable[[str], PeerConfig | None] = lambda _trunk: None  # failover: the peer to call now

    @property
    def config(self) -> PublishedConfig:
        return self.source()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def trunk(self, trunk_id: str) -> TrunkProfile | None:
        return next((t for t in self.config.trunks.trunks if t.id == trunk_id), None)

    def decide(self, path: str, token: str | None) -> LinkDecision:
        return decide(self.config.links, path, self.now(), self.signing_key, token)

    async def close_calls(self) -> None:
        await asyncio.gather(*(call.close() for call in list(self.calls.values())), return_exceptions=True)


STATE_KEY = web.AppKey("guestgate_web_state", WebState)


def client_address(request: web.Request, state: WebState) -> str:
    if state.trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


# ---- pages -----------------------------------------------------------------------------------


def _template(name: str) -> Template:
    return Template((STATIC / name).read_text(encoding="utf-8"))


def _json_for_html(value: Any) -> str:
    # Inside <script>: "</script>" or "<!--" in a display name must not end the element.
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def message_page(
    status: int, title: str, text: str, name: str = "", headers: dict[str, str] | None = None
) -> web.Response:
    body = _template("message.html").substitute(
        title=html.escape(title), text=html.escape(text), name=html.escape(name), status=status
    )
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=headers)


def link_page(state: WebState, link: LinkConfig, token: str | None) -> web.Response:
    settings = {
        "path": link.path,
        "token": token or "",
        "displayName": link.display_name,
        "autoCallAfterSeconds": link.auto_call_after_seconds,
        "iceServers": ice_servers(state.config.cluster.ice, state.turn_secret, link.id, state.clock()),
        "iceTransportPolicy": state.config.cluster.ice.ice_transport_policy,
        "stateText": STATE_TEXT,
    }
    body = _template("page.html").substitute(name=html.escape(link.display_name), settings=_json_for_html(settings))
    frame_ancestors = " ".join(["'self'", *link.access.allowed_origins, *state.config.cluster.web.allowed_origins])
    headers = {
        # The page holds time-limited TURN credentials and maybe a token: never cache it.
        "Cache-Control": "no-store",
        # Only our own script and style run; only the allowed websites may frame the page (an
        # iframe there also needs allow="microphone").
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            f"base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}"
        ),
        "Referrer-Policy": "no-referrer",  # the URL may carry a token
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=headers)


def refusal(decision: LinkDecision) -> web.Response:
    metrics.REFUSED.labels(decision.verdict).inc()
    title, text = PAGE_TEXT[decision.verdict]
    return message_page(decision.status, title, text, decision.display_name)


async def page(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    token = request.query.get("token")
    decision = state.decide(request.path, token)
    if decision.verdict != "open" or decision.link is None:
        log.info(
            "link page refused path=%s verdict=%s token=%s", request.path, decision.verdict, decision.token_problem
        )
        return refusal(decision)
    return link_page(state, decision.link, token)


# ---- calls -----------------------------------------------------------------------------------


def _json_error(status: int, reason: str, text: str, retry_after: int = 0) -> web.Response:
    metrics.REFUSED.labels(reason).inc()
    headers = {"Retry-After": str(retry_after)} if retry_after else None
    return web.json_response(
        {"error": reason, "text": text, "retryAfter": retry_after or None}, status=status, headers=headers
    )


async def create_call(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
        return _json_error(413, "too-large", "The request is too large.")
    try:
        body = await request.json()
        path, offer = str(body["path"]), str(body["sdp"])
    except (ValueError, KeyError, TypeError):
        return _json_error(400, "bad-request", "The request is not a call offer.")
    decision = state.decide(path, body.get("token") if isinstance(body.get("token"), str) else None)
    if decision.verdict != "open" or decision.link is None:
        title, _ = PAGE_TEXT[decision.verdict]
        return _json_error(decision.status, decision.verdict, title)
    link = decision.link
    cluster = state.config.cluster
    if not origin_allowed(request.headers.get("Origin"), link, cluster.web.allowed_origins, cluster.public_url):
        log.warning("call refused: origin origin=%s link=%s", request.headers.get("Origin"), link.id)
        return _json_error(403, "origin", "Calls to this link cannot be made from this website.")
    asked = body.get("number") or body.get("destination")
    if asked is not None and asked != link.destination:
        # Toll fraud is the classic attack on click-to-call: whatever the client asks for, the
        # call goes to the link's destination; the attempt is logged for whoever watches.
        log.warning(
            "client asked for another number; ignored link=%s asked=%r client=%s",
            link.id,
            asked,
            client_address(request, state),
        )
    client = client_address(request, state)
    # The pod's own budget (limits.newCallsPerSecondPerPod) protects the trunk from a burst that
    # no single visitor causes; the load balancer sends the retry to another pod.
    burst = state.pod_rate.check("pod", cluster.limits.new_calls_per_second_per_pod, state.clock())
    if not burst.allowed:
        return _json_error(503, "pod-busy", PAGE_TEXT["busy"][0] + ". " + PAGE_TEXT["busy"][1], burst.retry_after)
    # The limit is the link's, so it is counted per link and address: a visitor who used up one
    # link's allowance can still use another link with its own.
    rate = state.rates.check(f"{link.id} {client}", link.access.calls_per_minute_per_ip, state.clock())
    if not rate.allowed:
        return _json_error(429, "rate", "You have made too many calls. Please wait a moment.", rate.retry_after)
    slot: Decision = state.concurrency.acquire(link.id, link.access.max_concurrent_calls)
    if not slot.allowed:
        return _json_error(429, "concurrency", PAGE_TEXT["busy"][0] + ". " + PAGE_TEXT["busy"][1], slot.retry_after)
    profile = state.trunk(link.trunk)
    if state.engine is None or profile is None:
        state.concurrency.release(link.id)
        log.error("link has no working trunk link=%s trunk=%s", link.id, link.trunk)
        return _json_error(503, "unavailable", "Calls cannot be made right now. Please try again later.", 30)

    def on_end(call: BrowserCall) -> None:
        state.concurrency.release(link.id)
        state.calls.pop(call.id, None)

    call = BrowserCall(state.engine, link, profile, client, cluster.ice.stun_urls, on_end, state.peer_for(link.trunk))
    state.calls[call.id] = call
    try:
        answer = await call.answer(offer)
    except Exception as exc:
        log.warning("bad offer link=%s error=%s", link.id, exc)
        await call.hangup()
        return _json_error(400, "bad-offer", "Your browser's call offer could not be used.")
    await call.start_sip()
    return web.json_response({"id": call.id, "sdp": answer})


async def call_events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    call = state.calls.get(request.match_info["id"])
    if call is None:
        return _json_error(404, "no-call", "This call has ended.")
    cluster = state.config.cluster
    if not origin_allowed(request.headers.get("Origin"), call.link, cluster.web.allowed_origins, cluster.public_url):
        return _json_error(403, "origin", "Calls to this link cannot be made from this website.")
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096)  # commands are a few bytes
    await ws.prepare(request)
    events = call.subscribe()

    async def send_events() -> None:
        while True:
            event = await events.get()
            await ws.send_json(event)
            if event.get("state") == "ended":
                await ws.close()
                return

    sender = asyncio.ensure_future(send_events())
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                command = json.loads(message.data)
            except ValueError:
                continue
            kind = command.get("type") if isinstance(command, dict) else None
            if kind == "hangup":
                await call.hangup()
            elif kind == "dtmf":
                digits = str(command.get("digits", ""))[:1]
                if digits in DTMF_KEYS and digits:
                    try:
                        await call.dtmf(digits)
                    except Exception as exc:
                        log.warning("dtmf failed call=%s error=%s", call.id, exc)
    finally:
        if not sender.done():
            sender.cancel()
        # The page went away (closed tab, lost network): nobody is listening, so end the call.
        if not call.ended:
            await call.hangup()
    return ws


# ---- assembly --------------------------------------------------------------------------------


async def metrics_page(request: web.Request) -> web.Response:
    if not request.app[STATE_KEY].expose_metrics:
        raise web.HTTPNotFound()
    return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})


def build_link_routes(state: WebState) -> list[web.AbstractRouteDef]:
    """The routes of the browser leg. The application they are added to must hold
    `app[STATE_KEY] = state` (use `install(app, state)`)."""
    routes = [
        web.get("/call/{tail:.+}", page),
        web.post("/_gg/calls", create_call),
        web.get("/_gg/calls/{id}/events", call_events),
        web.static("/_gg/static", STATIC, append_version=False),
    ]
    if state.expose_metrics:
        routes.append(web.get("/_gg/metrics", metrics_page))
    return routes


def install(app: web.Application, state: WebState) -> None:
    app[STATE_KEY] = state
    app.add_routes(build_link_routes(state))

    async def close_calls(_app: web.Application) -> None:
        await state.close_calls()

    app.on_shutdown.append(close_calls)


def build_app(state: WebState) -> web.Application:
    app = web.Application(client_max_size=MAX_OFFER_BYTES)
    install(app, state)
    return app

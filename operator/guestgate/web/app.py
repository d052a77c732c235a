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
import contextlib
import html
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import WSMsgType, web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from guestgate.config.schema import BrandingConfig, LinkConfig, PeerConfig, PublishedConfig, TrunkProfile
from guestgate.web import metrics
from guestgate.web.guard import BadJSON, error_middleware, forwarded_client, parse_json
from guestgate.web.i18n import DEFAULT_LANGUAGE, catalogue, choose_language, text
from guestgate.web.ice import ice_servers
from guestgate.web.look import (
    BRAND_PATH,
    THEME_PATH,
    branding_for,
    image_sources,
    logo_file,
    logo_src,
    theme_css,
    theme_href,
)
from guestgate.web.ratelimit import ConcurrencyLimiter, Decision, RateLimiter
from guestgate.web.rules import LinkDecision, decide, origin_allowed, origin_of
from guestgate.web.session import BadOffer, BrowserCall, Engine, Relay, RelayUnavailable, watch_relay
from guestgate.web.visitor import PAGE_TEXT, STATE_TEXT, page_text

log = logging.getLogger("guestgate.web")

STATIC = Path(__file__).parent / "static"
MAX_OFFER_BYTES = 64 * 1024
MAX_LOGO_BYTES = 256 * 1024  # as the GuestCluster's branding.logo.configMap says
DTMF_KEYS = frozenset("0123456789*#")


@dataclass
class WebState:
    """What the routes read. Calls in progress keep the link they started with."""

    source: Callable[[], PublishedConfig]  # the configuration in force (the server reloads it)
    engine: Engine | None = None
    # The pod's rtpengine (ng): it carries every browser call's media. None: no call can be made
    # (the page says the media server is unavailable); the pod never carries media itself.
    relay: Relay | None = None
    media_up: Callable[[bool], None] = lambda _up: None  # the relay answers or not (the pod's readiness)
    signing_key: bytes | None = None
    turn_secret: bytes | None = None
    clock: Callable[[], float] = time.time
    rates: RateLimiter = field(default_factory=RateLimiter)
    pod_rate: RateLimiter = field(default_factory=lambda: RateLimiter(window=1.0))
    concurrency: ConcurrencyLimiter = field(default_factory=ConcurrencyLimiter)
    calls: dict[str, BrowserCall] = field(default_factory=dict)
    # Proxies in front that append to X-Forwarded-For (0: none, the connection's address is the
    # visitor's; True counts as 1): the visitor is that many entries from the right.
    trust_forwarded_for: int = 0
    expose_metrics: bool = False  # /_gg/metrics on this port (the demo; pods use the admin port)
    peer_for: Callable[[str], PeerConfig | None] = lambda _trunk: None  # failover: the peer to call now
    config_dir: Path | None = None  # where logos kept in ConfigMaps are projected (brand/...)

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
    remote = request.remote or "unknown"
    return forwarded_client(remote, request.headers.getall("X-Forwarded-For", []), int(state.trust_forwarded_for))


# ---- pages -----------------------------------------------------------------------------------


def _template(name: str) -> Template:
    return Template((STATIC / name).read_text(encoding="utf-8"))


def _json_for_html(value: Any) -> str:
    # Inside <script>: "</script>" or "<!--" in a display name must not end the element.
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _branding(state: WebState, link: LinkConfig | None) -> BrandingConfig:
    """The look of a link's pages; a ConfigMap logo that is not there (yet) is left out rather
    than shown as a broken image."""
    branding = branding_for(state.config.cluster, link)
    if branding.logo_file and (state.config_dir is None or not (state.config_dir / branding.logo_file).is_file()):
        return branding.model_copy(update={"logo_file": None})
    return branding


def _texts(language: str) -> dict[str, str]:
    """The catalogue as template fields: ${t_button_call} is "button.call", escaped for HTML."""
    return {
        "t_" + key.replace(".", "_").replace("-", "_"): html.escape(value)
        for key, value in catalogue(language).items()
    }


def _brand_html(branding: BrandingConfig) -> str:
    """The enterprise's logo and title above the link's name (text, never markup)."""
    parts: list[str] = []
    src = logo_src(branding)
    if src:
        alt = branding.logo_alt or branding.title or ""
        parts.append(f'<img class="logo" src="{html.escape(src)}" alt="{html.escape(alt)}">')
    if branding.title:
        parts.append(f'<p class="brand-title">{html.escape(branding.title)}</p>')
    return f'<header class="brand">{"".join(parts)}</header>' if parts else ""


def _theme_link(branding: BrandingConfig) -> str:
    href = theme_href(branding)
    return f'<link rel="stylesheet" href="{html.escape(href)}">' if href else ""


def _allowed_origins(state: WebState, link: LinkConfig | None) -> list[str]:
    """Sites that may frame the page and talk to it: the page's own origin, the link's and the
    cluster's allowed origins (the same set the call API checks)."""
    cluster = state.config.cluster
    own = link.access.allowed_origins if link is not None else ()
    origins = [origin_of(cluster.public_url), *(origin_of(o) for o in (*own, *cluster.web.allowed_origins))]
    return list(dict.fromkeys(o for o in origins if o))


def _page_headers(state: WebState, link: LinkConfig | None, branding: BrandingConfig) -> dict[str, str]:
    # 'self' is the page's own origin (the public URL's, first in the list); the link's and the
    # cluster's allowed sites follow.
    frame_ancestors = " ".join(["'self'", *_allowed_origins(state, link)[1:]])
    images = " ".join(["'self'", "data:", *image_sources(branding)])
    return {
        # The page holds time-limited TURN credentials and maybe a token: never cache it.
        "Cache-Control": "no-store",
        # Only our own script and style run; images only from us and the logo's origin; only the
        # allowed websites may frame the page (an iframe there also needs allow="microphone").
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src {images}; "
            f"base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}"
        ),
        "Referrer-Policy": "no-referrer",  # the URL may carry a token
        "X-Content-Type-Options": "nosniff",
    }


def message_page(
    status: int,
    title: str,
    text: str,
    name: str = "",
    headers: dict[str, str] | None = None,
    *,
    language: str = DEFAULT_LANGUAGE,
    widget: bool = False,
    branding: BrandingConfig | None = None,
    code: str = "",
    origins: tuple[str, ...] = (),
) -> web.Response:
    """A friendly refusal page. In widget mode it tells the host page why (an `error` event)."""
    branding = branding or BrandingConfig()
    script = ""
    if widget:
        settings = {"widget": True, "allowedOrigins": list(origins), "error": {"code": code, "text": title}}
        script = (
            f'<script type="application/json" id="gg-settings">{_json_for_html(settings)}</script>\n'
            '<script src="/_gg/static/widget.js"></script>'
        )
    body = _template("message.html").substitute(
        title=html.escape(title),
        text=html.escape(text),
        name=html.escape(name),
        status=status,
        lang=language,
        mode="widget" if widget else "page",
        theme=_theme_link(branding),
        brand=_brand_html(branding),
        script=script,
    )
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=headers)


def _media_settings(state: WebState, link: LinkConfig) -> dict[str, Any]:
    """What the page's media.js needs: the trunk's DTMF method (RFC 4733 goes out from the page)
    and the link's video policy (camera and self view for sendrecv, receive-only video for recvonly)."""
    profile = state.trunk(link.trunk)
    return {
        "dtmf": profile.dtmf if profile is not None else "rfc4733",
        "video": link.video_policy,
    }


def link_page(
    state: WebState, link: LinkConfig, token: str | None, language: str = DEFAULT_LANGUAGE, widget: bool = False
) -> web.Response:
    branding = _branding(state, link)
    settings = {
        "path": link.path,
        "token": token or "",
        "displayName": link.display_name,
        "autoCallAfterSeconds": link.auto_call_after_seconds,
        "iceServers": ice_servers(state.config.cluster.ice, state.turn_secret, link.id, state.clock()),
        "iceTransportPolicy": state.config.cluster.ice.ice_transport_policy,
        "language": language,
        "texts": catalogue(language),
        "stateText": {state_: text(language, f"state.{state_}") for state_ in STATE_TEXT},
        "widget": widget,
        "allowedOrigins": _allowed_origins(state, link),
        "media": _media_settings(state, link),
    }
    body = _template("page.html").substitute(
        name=html.escape(link.display_name),
        settings=_json_for_html(settings),
        lang=language,
        mode="widget" if widget else "page",
        theme=_theme_link(branding),
        brand=_brand_html(branding),
        brand_text=f'<p class="brand-text">{html.escape(branding.text)}</p>' if branding.text else "",
        **_texts(language),
    )
    return web.Response(
        text=body, content_type="text/html", charset="utf-8", headers=_page_headers(state, link, branding)
    )


def _widget(request: web.Request) -> bool:
    return request.query.get("widget", "").lower() in ("true", "1", "yes")


def refusal(
    decision: LinkDecision, state: WebState | None = None, request: web.Request | None = None
) -> web.Response:
    metrics.REFUSED.labels(decision.verdict).inc()
    link = decision.link
    language = choose_language(
        request.headers.get("Accept-Language") if request is not None else None, link.language if link else None
    )
    title, text_ = page_text(decision.verdict, language)
    if state is None or request is None:
        return message_page(decision.status, title, text_, decision.display_name, language=language)
    branding = _branding(state, link)
    return message_page(
        decision.status,
        title,
        text_,
        decision.display_name,
        _page_headers(state, link, branding),
        language=language,
        widget=_widget(request),
        branding=branding,
        code=decision.verdict,
        origins=tuple(_allowed_origins(state, link)),
    )


async def page(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    token = request.query.get("token")
    decision = state.decide(request.path, token)
    if decision.verdict != "open" or decision.link is None:
        log.info(
            "link page refused path=%s verdict=%s token=%s", request.path, decision.verdict, decision.token_problem
        )
        return refusal(decision, state, request)
    language = choose_language(request.headers.get("Accept-Language"), decision.link.language)
    return link_page(state, decision.link, token, language, _widget(request))


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
        body = parse_json(await request.read(), MAX_OFFER_BYTES)
    except BadJSON as exc:
        log.info("call refused: body %s", exc)
        return _json_error(400, "bad-request", "The request is not a call offer.")
    if not isinstance(body, dict):
        return _json_error(400, "bad-request", "The request is not a call offer.")
    path, offer = body.get("path"), body.get("sdp")
    if not isinstance(path, str) or not isinstance(offer, str) or not offer.isascii():
        # An SDP offer is ASCII text (RFC 8866 allows UTF-8 only in a few free-text fields,
        # which browsers leave out): anything else never reaches the WebRTC stack.
        return _json_error(400, "bad-request", "The request is not a call offer.")
    token = body.get("token")
    decision = state.decide(path, token if isinstance(token, str) else None)
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
    now = state.clock()
    # The visitor's own limits first: the link's limit is counted per link and address (a visitor
    # who used up one link's allowance can still use another link with its own), then the link's
    # cap on calls in progress. Only then the pod's budget, so that one address's refused
    # attempts never spend what the next visitor needs.
    rate_key = f"{link.id} {client}"
    rate = state.rates.check(rate_key, link.access.calls_per_minute_per_ip, now)
    if not rate.allowed:
        return _json_error(429, "rate", "You have made too many calls. Please wait a moment.", rate.retry_after)
    slot: Decision = state.concurrency.acquire(link.id, link.access.max_concurrent_calls)
    if not slot.allowed:
        state.rates.refund(rate_key, now)  # no call was made
        return _json_error(429, "concurrency", PAGE_TEXT["busy"][0] + ". " + PAGE_TEXT["busy"][1], slot.retry_after)
    profile = state.trunk(link.trunk)
    if state.relay is None:
        state.concurrency.release(link.id)
        state.rates.refund(rate_key, now)
        log.error("no media relay: browser calls cannot be made link=%s", link.id)
        return _json_error(503, "media-unavailable", text(DEFAULT_LANGUAGE, "error.media-unavailable"), 30)
    if state.engine is None or profile is None:
        state.concurrency.release(link.id)
        state.rates.refund(rate_key, now)
        log.error("link has no working trunk link=%s trunk=%s", link.id, link.trunk)
        return _json_error(503, "unavailable", "Calls cannot be made right now. Please try again later.", 30)
    # The pod's own budget (limits.newCallsPerSecondPerPod) protects the trunk from a burst that
    # no single visitor causes; the load balancer sends the retry to another pod. It is spent
    # only by a call that passed every other check.
    burst = state.pod_rate.check("pod", cluster.limits.new_calls_per_second_per_pod, now)
    if not burst.allowed:
        state.concurrency.release(link.id)
        state.rates.refund(rate_key, now)
        return _json_error(503, "pod-busy", PAGE_TEXT["busy"][0] + ". " + PAGE_TEXT["busy"][1], burst.retry_after)

    def on_end(call: BrowserCall) -> None:
        state.concurrency.release(link.id)
        state.calls.pop(call.id, None)

    call = BrowserCall(state.engine, link, profile, client, state.relay, on_end, state.peer_for(link.trunk))
    state.calls[call.id] = call
    try:
        await call.offer(offer)
    except RelayUnavailable as exc:
        log.error("media relay unavailable link=%s error=%s", link.id, exc)
        await call.hangup()
        state.pod_rate.refund("pod", now)
        return _json_error(503, "media-unavailable", text(DEFAULT_LANGUAGE, "error.media-unavailable"), 10)
    except (BadOffer, Exception) as exc:
        log.warning("bad offer link=%s error=%s", link.id, str(exc)[:200])
        await call.hangup()
        state.pod_rate.refund("pod", now)  # nothing reached the trunk
        return _json_error(400, "bad-offer", "Your browser's call offer could not be used.")
    await call.start_sip()
    # The answer comes as an event once the far end's SDP is known ("sdp": null, as before).
    return web.json_response({"id": call.id, "sdp": None})


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
                command = json.loads(message.data)  # at most 4 KiB; too deep is a RecursionError
            except (ValueError, RecursionError):
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
    except Exception:
        # The socket is open: no HTTP answer can be sent any more (the middleware could not
        # help), so the failure is logged and the call ended below.
        log.exception("event socket failed call=%s", call.id)
    finally:
        if not sender.done():
            sender.cancel()
        # The page went away (closed tab, lost network): nobody is listening, so end the call.
        if not call.ended:
            with contextlib.suppress(Exception):
                await call.hangup()
    return ws


# ---- assembly --------------------------------------------------------------------------------


async def theme(request: web.Request) -> web.Response:
    """The branding's colours as a style sheet (style-src 'self': no inline style on the page)."""
    css = theme_css(request.query.get("accent"), request.query.get("background"))
    if css is None:
        raise web.HTTPBadRequest(text="accent and background are six hex digits")
    return web.Response(
        text=css, content_type="text/css", headers={"Cache-Control": "public, max-age=86400"}
    )


async def brand_logo(request: web.Request) -> web.Response:
    """A logo kept in a ConfigMap (projected into the config dir): only files the published
    configuration names, served so that even an SVG cannot run anything."""
    state = request.app[STATE_KEY]
    logo = logo_file(request.match_info["tail"], state.config.logo_files())
    if logo is None or state.config_dir is None:
        raise web.HTTPNotFound()
    path = state.config_dir / logo.file
    try:
        if path.stat().st_size > MAX_LOGO_BYTES:
            log.warning("logo larger than %d bytes: %s", MAX_LOGO_BYTES, path)
            raise web.HTTPNotFound()
        data = path.read_bytes()
    except OSError as exc:
        raise web.HTTPNotFound() from exc
    headers = {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=300",
    }
    return web.Response(body=data, content_type=logo.content_type, headers=headers)


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
        web.get(THEME_PATH, theme),
        web.get(BRAND_PATH + "{tail:.+}", brand_logo),
    ]
    if state.expose_metrics:
        routes.append(web.get("/_gg/metrics", metrics_page))
    return routes


def install(app: web.Application, state: WebState) -> None:
    app[STATE_KEY] = state
    if error_middleware not in app.middlewares:
        app.middlewares.append(error_middleware)  # no handler raises into aiohttp's 500 page
    app.add_routes(build_link_routes(state))

    async def close_calls(_app: web.Application) -> None:
        await state.close_calls()

    app.on_shutdown.append(close_calls)
    if state.relay is not None:
        relay = state.relay

        async def relay_watch(_app: web.Application) -> AsyncIterator[None]:
            task = asyncio.ensure_future(watch_relay(relay, state.calls, on_up=state.media_up))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.cleanup_ctx.append(relay_watch)


def build_app(state: WebState) -> web.Application:
    app = web.Application(client_max_size=MAX_OFFER_BYTES)
    install(app, state)
    return app

"""The visitor's page as visitors and host sites meet it, in headless Chromium with a real call to
the pjsua2 phone: widget mode embedded by an allowed site (events in order, ended by message),
refused to any other site, auto-call's countdown, German from Accept-Language, keyboard-only
use, a 360x640 phone, and axe-core's WCAG 2.1 A/AA check in every state of page and widget mode.
Screenshots of each state land in tests/artifacts/browser/visitor-*.png."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web

from browser.chromium import Chromium
from browser.harness import (
    REPO,
    Bench,
    Ports,
    _link,
    published,
    running_bench,
)
from browser.pagecheck import (
    DESKTOP,
    PHONE,
    WIDGET,
    WIDGET_SMALL,
    Viewport,
    axe_violations,
    press,
    set_accept_language,
    set_viewport,
    tab_to,
)
from guestgate.config.schema import AccessConfig, BrandingConfig, PublishedConfig
from guestgate_dev.support.ports import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

RING_MS = 5000  # long enough to look at the ringing state
LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">'
    '<rect width="40" height="40" rx="8" fill="#0b5cad"/><circle cx="20" cy="20" r="9" fill="#fff"/>'
    '<text x="48" y="27" font-family="sans-serif" font-size="16" fill="#0b5cad">EXCO</text></svg>'
)
EXAMPLE_WIDGET_URL = "https://call.example.com/call/sales?widget=true"


@dataclass
class Hosts:
    allowed: int = field(default_factory=free_port)  # a site in the widget link's allowedOrigins
    foreign: int = field(default_factory=free_port)  # any other site

    @property
    def allowed_origin(self) -> str:
        return f"http://127.0.0.1:{self.allowed}"

    @property
    def foreign_origin(self) -> str:
        return f"http://127.0.0.1:{self.foreign}"


def visitor_config(ports: Ports, hosts: Hosts) -> PublishedConfig:
    base = published(ports)
    web = ports.web
    open_access = AccessConfig(calls_per_minute_per_ip=60, max_concurrent_calls=4)
    allowed = hosts.allowed_origin
    links = (
        *base.links.links,
        _link("widget", "phone", web, access=AccessConfig(calls_per_minute_per_ip=60, allowed_origins=(allowed,))),
        _link("countdown", "silent", web, auto_call_after_seconds=3, access=open_access),
        _link("branded", "phone", web, access=open_access, display_name="Talk to sales"),
        _link(
            "night",
            "phone",
            web,
            access=open_access,
            display_name="Night service",
            branding=BrandingConfig(title="Example Corp at night", background="#101820", accent="#ffcc00"),
        ),
    )
    cluster = base.cluster.model_copy(
        update={
            "branding": BrandingConfig(
                title="Example Corp",
                logo_file="brand/brand/logo.svg",
                logo_alt="Example Corp",
                accent="#0b5cad",
                text="We answer weekdays from 8 to 18.",
            )
        }
    )
    return base.model_copy(update={"cluster": cluster, "links": base.links.model_copy(update={"links": links})})


@pytest.fixture(scope="module")
def hosts() -> Hosts:
    return Hosts()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, hosts: Hosts) -> Iterator[Bench]:
    root = tmp_path_factory.mktemp("visitor")
    brand = root / "config" / "brand" / "brand"
    brand.mkdir(parents=True)
    (brand / "logo.svg").write_text(LOGO)  # where a ConfigMap logo is projected
    ports = Ports()
    with running_bench(root, ports, visitor_config(ports, hosts), "visitor", ring_ms=RING_MS) as bench:
        yield bench


def host_page(widget_url: str) -> str:
    """examples/widget-host.html pointed at this bench's widget link."""
    example = (REPO / "examples" / "widget-host.html").read_text(encoding="utf-8")
    assert EXAMPLE_WIDGET_URL in example
    return example.replace(EXAMPLE_WIDGET_URL, widget_url)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def host_sites(bench: Bench, hosts: Hosts) -> AsyncIterator[None]:
    """The example host page on an allowed site and on a foreign one."""
    page = host_page(f"{bench.server.web_url}/call/widget?widget=true")

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    runners = []
    for port in (hosts.allowed, hosts.foreign):
        app = web.Application()
        app.router.add_get("/", serve)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    try:
        yield
    finally:
        for runner in runners:
            await runner.cleanup()


async def snap(browser: Chromium, name: str, viewports: tuple[Viewport, ...]) -> None:
    for viewport in viewports:
        await set_viewport(browser, viewport)
        await asyncio.sleep(0.15)  # a layout pass at the new size
        await browser.screenshot(f"visitor-{name}-{viewport.name}")


async def accessible(browser: Chromium, where: str) -> None:
    violations = await axe_violations(browser)
    assert violations == [], f"{where}: axe-core WCAG 2.1 A/AA violations:\n{json.dumps(violations, indent=1)}"


async def host_events(browser: Chromium) -> list[dict[str, Any]]:
    return list(await browser.eval("window.guestgateEvents || []"))


# ---- widget mode on a host site --------------------------------------------------------------


async def test_an_allowed_site_embeds_the_widget_gets_the_events_in_order_and_ends_the_call(
    bench: Bench, browser: Chromium, hosts: Hosts, host_sites: None
) -> None:
    await set_viewport(browser, DESKTOP)
    await browser.open(f"{hosts.allowed_origin}/")
    await browser.wait_for("window.guestgateEvents.some((e) => e.type === 'ready')", 15)
    await snap(browser, "host-ready", (DESKTOP, PHONE))
    before = len([e for e in bench.phone.events() if e["event"] == "incoming"])
    await set_viewport(browser, DESKTOP)
    await browser.eval("guestgateSend({type: 'start'})")
    await browser.wait_for("window.guestgateEvents.some((e) => e.type === 'ringing')", 20)
    await snap(browser, "host-ringing", (DESKTOP, PHONE))
    await browser.wait_for("window.guestgateEvents.some((e) => e.type === 'connected')", 20)
    await snap(browser, "host-connected", (DESKTOP, PHONE))
    incoming = bench.phone.wait_event("incoming", count=before + 1)
    assert incoming[-1]["number"] == "2001"  # the link's destination, whoever asked
    digits_before = len([e for e in bench.phone.events() if e["event"] == "dtmf"])
    await browser.eval("guestgateSend({type: 'dtmf', digits: '7'})")
    dtmf = bench.phone.wait_event("dtmf", count=digits_before + 1, timeout=10)
    assert dtmf[-1]["digit"] == "7"
    await browser.eval("guestgateSend({type: 'end'})")
    await browser.wait_for("window.guestgateEvents.some((e) => e.type === 'ended')", 15)
    await snap(browser, "host-ended", (DESKTOP, PHONE))
    bench.phone.wait_event("bye-received")
    events = await host_events(browser)
    assert [e["type"] for e in events] == ["ready", "ringing", "connected", "ended"], events
    assert all(e["source"] == "guestgate" and e["version"] == 1 and e["link"] == "/call/widget" for e in events)
    ended = events[-1]
    assert (ended["reason"], ended["text"]) == ("hangup", "You ended the call."), ended


async def test_another_site_can_neither_frame_the_widget_nor_drive_it(
    bench: Bench, browser: Chromium, hosts: Hosts, host_sites: None
) -> None:
    await set_viewport(browser, DESKTOP)
    calls_before = len([e for e in bench.phone.events() if e["event"] == "incoming"])
    await browser.open(f"{hosts.foreign_origin}/")
    # frame-ancestors: the browser does not load the link into the frame, so nothing answers.
    await asyncio.sleep(3)
    await browser.eval("guestgateSend({type: 'start'})")
    await asyncio.sleep(2)
    assert await host_events(browser) == []
    frames = await browser.send("Page.getFrameTree")
    (child,) = frames["frameTree"]["childFrames"]
    assert child["frame"]["url"].startswith("chrome-error://"), child  # the browser refused to show it
    assert child["frame"]["unreachableUrl"].endswith("/call/widget?widget=true"), child
    await browser.screenshot("visitor-foreign-host-blocked")
    # Opened in a window of its own (frame-ancestors does not apply there), it still takes no
    # command from that site: it only listens to the site that frames it, from an allowed origin.
    widget = f"{bench.server.web_url}/call/widget?widget=true"
    await browser.eval(f"window.popup = window.open({json.dumps(widget)}, 'gg'); true")
    await asyncio.sleep(3)  # the popup loads
    for _ in range(5):
        await browser.eval("popup.postMessage({target: 'guestgate', type: 'start'}, '*'); true")
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)
    await browser.eval("popup.close(); true")
    calls_after = len([e for e in bench.phone.events() if e["event"] == "incoming"])
    assert calls_after == calls_before, "a foreign site started a call"


async def test_the_accessibility_check_finds_what_it_is_there_to_find(bench: Bench, browser: Chromium) -> None:
    """axe-core really runs in the page: an image without a text alternative and a button
    without a name, added on purpose, are reported."""
    await browser.open(f"{bench.server.web_url}/call/branded")
    await browser.eval(
        "document.querySelector('main').append(Object.assign(document.createElement('img'), {src: 'data:,'}),"
        " document.createElement('button')); true"
    )
    found = {v["id"] for v in await axe_violations(browser)}
    assert {"image-alt", "button-name"} <= found, found


# ---- auto-call -------------------------------------------------------------------------------


async def test_auto_call_counts_down_visibly_then_calls(bench: Bench, browser: Chromium) -> None:
    await set_viewport(browser, DESKTOP)
    await browser.open(f"{bench.server.web_url}/call/countdown")
    assert await browser.eval("document.getElementById('auto').hidden") is False
    first = await browser.eval("document.getElementById('auto-text').innerText")
    assert first == "Calling automatically in 3 s.", first
    await snap(browser, "countdown", (DESKTOP, PHONE))
    await accessible(browser, "auto-call countdown")
    await browser.wait_for("document.getElementById('auto-text').innerText.includes('1 s')", 5)
    await browser.wait_for("gg.autoCall.started && gg.events.length > 0", 10)  # the call was placed
    assert await browser.eval("document.getElementById('auto').hidden") is True
    await browser.click("#hangup")
    await browser.wait_for("gg.state === 'ended'", 10)


async def test_auto_call_can_be_cancelled_from_the_keyboard(bench: Bench, browser: Chromium) -> None:
    await browser.open(f"{bench.server.web_url}/call/countdown")
    await tab_to(browser, "auto-cancel")
    await press(browser, "Enter")
    assert await browser.eval("gg.autoCall.cancelled") is True
    await asyncio.sleep(4)  # past the countdown
    assert await browser.eval("gg.state") == "idle" and await browser.eval("gg.events.length") == 0
    assert await browser.eval("document.activeElement.id") == "call"
    reason = await browser.eval("document.getElementById('reason').innerText")
    assert reason.startswith("Automatic call cancelled"), reason
    await snap(browser, "countdown-cancelled", (DESKTOP,))


# ---- language --------------------------------------------------------------------------------


async def test_accept_language_de_gives_german_texts_through_the_call(bench: Bench, browser: Chromium) -> None:
    await set_accept_language(browser, "de-DE,de;q=0.9")
    try:
        await set_viewport(browser, PHONE)
        await browser.open(f"{bench.server.web_url}/call/branded")
        assert await browser.eval("document.documentElement.lang") == "de"
        assert await browser.state_text() == "Bereit zum Anrufen"
        assert await browser.eval("document.getElementById('call').innerText") == "Anrufen"
        await browser.screenshot("visitor-de-ready-mobile")
        await browser.click("#call")
        await browser.wait_for("gg.state === 'ringing'", 15)
        assert await browser.state_text() == "Es klingelt…"
        await browser.click("#hangup")
        await browser.wait_for("gg.state === 'ended'", 10)
        assert await browser.eval("document.getElementById('reason').innerText") == "Sie haben den Anruf beendet."
        assert await browser.eval("document.getElementById('call').innerText") == "Erneut anrufen"
        await browser.screenshot("visitor-de-ended-mobile")
        await browser.open(f"{bench.server.web_url}/call/over")
        assert await browser.state_text() == "Dieser Anruf-Link ist abgelaufen"
    finally:
        await set_accept_language(browser, None)


# ---- every state: accessible, screenshotted, usable on a phone and from the keyboard -----------


async def fits(browser: Chromium, viewport: Viewport, element_ids: tuple[str, ...]) -> None:
    """No sideways scrolling, and the controls are on screen without scrolling."""
    await set_viewport(browser, viewport)
    await asyncio.sleep(0.15)
    width = await browser.eval("document.documentElement.scrollWidth")
    assert width <= viewport.width, f"{viewport.name}: the page is {width}px wide"
    for element in element_ids:
        box = await browser.eval(
            f"(() => {{ const r = document.getElementById('{element}').getBoundingClientRect();"
            " return [r.left, r.top, r.right, r.bottom, r.height]; })()"
        )
        left, _top, right, bottom, height = box
        on_screen = left >= 0 and right <= viewport.width and bottom <= viewport.height
        assert on_screen, f"{viewport.name} #{element}: {box}"
        assert height >= 40, f"{viewport.name} #{element}: a {height}px target is too small for a finger"


async def test_page_mode_every_state_accessible_by_keyboard_on_desktop_and_phone(
    bench: Bench, browser: Chromium
) -> None:
    await set_viewport(browser, DESKTOP)
    await browser.open(f"{bench.server.web_url}/call/branded")
    assert await browser.eval("document.querySelector('.brand .logo').naturalWidth") > 0  # the ConfigMap logo
    await fits(browser, PHONE, ("call",))
    await snap(browser, "page-1-ready", (DESKTOP, PHONE))
    await accessible(browser, "page: ready")
    # Keyboard only: Tab to Call (its focus ring shows), Enter calls.
    await set_viewport(browser, DESKTOP)
    await tab_to(browser, "call")
    outline = await browser.eval("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", f"no visible focus on Call: outline {outline}"
    await browser.screenshot("visitor-page-focus-call-desktop")
    await press(browser, "Enter")
    await browser.wait_for("gg.state === 'ringing'", 15)
    await snap(browser, "page-2-ringing", (DESKTOP, PHONE))
    await accessible(browser, "page: ringing")
    await browser.wait_for("gg.state === 'connected'", 15)
    await fits(browser, PHONE, ("hangup",))
    await snap(browser, "page-3-connected", (DESKTOP, PHONE))
    await accessible(browser, "page: connected")
    # The state is announced (a live region holds it); the call timer is not (it would be read
    # out every second).
    assert await browser.eval("document.getElementById('state-text').getAttribute('aria-live')") == "polite"
    assert await browser.eval("document.getElementById('timer').closest('[aria-live]')") is None
    await set_viewport(browser, DESKTOP)
    await tab_to(browser, "hangup")
    await press(browser, "Enter")
    await browser.wait_for("gg.state === 'ended'", 10)
    await snap(browser, "page-4-ended", (DESKTOP, PHONE))
    await accessible(browser, "page: ended")


async def test_widget_mode_every_state_accessible_at_448x322_and_320x240(bench: Bench, browser: Chromium) -> None:
    await set_viewport(browser, WIDGET)
    await browser.open(f"{bench.server.web_url}/call/branded?widget=true")
    assert await browser.eval("document.body.classList.contains('widget')")
    await fits(browser, WIDGET_SMALL, ("call",))
    await snap(browser, "widget-1-ready", (WIDGET, WIDGET_SMALL))
    await accessible(browser, "widget: ready")
    await set_viewport(browser, WIDGET)
    await browser.click("#call")
    await browser.wait_for("gg.state === 'ringing'", 15)
    await snap(browser, "widget-2-ringing", (WIDGET, WIDGET_SMALL))
    await accessible(browser, "widget: ringing")
    await browser.wait_for("gg.state === 'connected'", 15)
    await fits(browser, WIDGET_SMALL, ("hangup", "mute", "keys"))
    # The keypad opens from its button, and its keys send digits.
    await browser.click("#keys")
    assert await browser.eval("document.getElementById('keys').getAttribute('aria-expanded')") == "true"
    await snap(browser, "widget-3-connected-keypad", (WIDGET,))
    await accessible(browser, "widget: connected, keypad open")
    digits_before = len([e for e in bench.phone.events() if e["event"] == "dtmf"])
    await browser.click("button[data-digit='5']")
    assert bench.phone.wait_event("dtmf", count=digits_before + 1, timeout=10)[-1]["digit"] == "5"
    await browser.click("#keys")
    await snap(browser, "widget-3-connected", (WIDGET, WIDGET_SMALL))
    await browser.click("#hangup")
    await browser.wait_for("gg.state === 'ended'", 10)
    await snap(browser, "widget-4-ended", (WIDGET, WIDGET_SMALL))
    await accessible(browser, "widget: ended")
    # Standing alone (no host frame) it posts to nobody but keeps its record.
    assert [m["type"] for m in await browser.eval("gg.posted")] == ["ready", "ringing", "connected", "ended"]


async def test_a_dark_branding_and_the_visitors_dark_mode_stay_readable(bench: Bench, browser: Chromium) -> None:
    """A link's own colours (dark background, yellow accent): the page picks white text on the
    background and black on the accent; axe-core's contrast check agrees. The same for a visitor
    whose system is in dark mode."""
    await set_viewport(browser, DESKTOP)
    await browser.open(f"{bench.server.web_url}/call/night")
    colours = await browser.eval(
        "[getComputedStyle(document.body).color, getComputedStyle(document.getElementById('call')).color]"
    )
    assert colours == ["rgb(255, 255, 255)", "rgb(0, 0, 0)"], colours
    await snap(browser, "night-ready", (DESKTOP, PHONE))
    await accessible(browser, "dark branding: ready")
    await browser.send("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
    try:
        for path in ("/call/branded", "/call/branded?widget=true", "/call/over"):
            await set_viewport(browser, DESKTOP)
            await browser.open(f"{bench.server.web_url}{path}")
            await accessible(browser, f"dark mode: {path}")
        await snap(browser, "dark-mode-refused", (DESKTOP,))
    finally:
        await browser.send("Emulation.setEmulatedMedia", features=[])


REFUSED = ["nobody", "old", "later", "over", "vip"]


@pytest.mark.parametrize("mode", ["page", "widget"])
async def test_refused_pages_are_accessible(bench: Bench, browser: Chromium, mode: str) -> None:
    viewports = (DESKTOP, PHONE) if mode == "page" else (WIDGET, WIDGET_SMALL)
    for name in REFUSED:
        url = f"{bench.server.web_url}/call/{name}" + ("?widget=true" if mode == "widget" else "")
        await set_viewport(browser, viewports[0])
        await browser.open(url)
        assert await browser.eval("document.body.dataset.state") == "refused"
        await accessible(browser, f"{mode}: refused {name}")
        await snap(browser, f"{mode}-refused-{name}", viewports)
        if mode == "widget":
            posted = await browser.eval("window.gg && window.gg.posted")
            assert posted and posted[0]["type"] == "error", posted

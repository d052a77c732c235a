"""What the visitor-page tests do to a page besides clicking: axe-core's WCAG 2.1 A/AA check,
viewports (desktop, phone, widget sizes), the Accept-Language header and keyboard presses, all
over the DevTools protocol of tests/browser/chromium.py.

axe-core comes from npm (hack/install-deps.sh puts the version in hack/axe-core.version into
the cache outside the repository); it is evaluated in the page like a DevTools snippet, so the
page's own Content-Security-Policy stays as strict as visitors get it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from browser.chromium import Chromium
from browser.harness import REPO
from guestgate_dev.cluster.layout import default_cache_root

AXE_VERSION = (REPO / "hack" / "axe-core.version").read_text().strip()
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_script() -> Path:
    path = default_cache_root() / "npm" / f"axe-core-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"
    assert path.exists(), f"axe-core {AXE_VERSION} is not installed at {path}: run `make deps`"
    return path


async def axe_violations(browser: Chromium) -> list[dict[str, Any]]:
    """WCAG 2.1 A and AA violations axe-core finds in the page as it is now (each with the
    elements and what is wrong with them)."""
    if not await browser.eval("typeof window.axe === 'object'"):
        await browser.eval(axe_script().read_text(encoding="utf-8") + "\n;true")
    options = json.dumps({"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]})
    found = await browser.eval(
        f"axe.run(document, {options}).then((r) => r.violations.map((v) => ({{id: v.id, impact: v.impact,"
        " help: v.help, nodes: v.nodes.map((n) => n.target.join(' ') + ': ' + n.failureSummary)})))",
        timeout=60,
    )
    return list(found or [])


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    mobile: bool = False
    scale: float = 1.0


DESKTOP = Viewport("desktop", 1280, 800)
PHONE = Viewport("mobile", 360, 640, mobile=True, scale=2.0)
WIDGET = Viewport("widget", 448, 322)  # Jabber Guest's smallest widget
WIDGET_SMALL = Viewport("widget-small", 320, 240)


async def set_viewport(browser: Chromium, viewport: Viewport) -> None:
    await browser.send(
        "Emulation.setDeviceMetricsOverride",
        width=viewport.width,
        height=viewport.height,
        deviceScaleFactor=viewport.scale,
        mobile=viewport.mobile,
    )
    await browser.send("Emulation.setTouchEmulationEnabled", enabled=viewport.mobile)


async def set_accept_language(browser: Chromium, value: str | None) -> None:
    await browser.send("Network.enable")
    await browser.send("Network.setExtraHTTPHeaders", headers={"Accept-Language": value} if value else {})


KEYS = {"Tab": 9, "Enter": 13, "Space": 32}


async def press(browser: Chromium, key: str, shift: bool = False) -> None:
    """A real key press (keyDown/keyUp), as a keyboard-only visitor makes it."""
    code = KEYS[key]
    text = {"Enter": "\r", "Space": " "}.get(key, "")
    common: dict[str, Any] = {"key": " " if key == "Space" else key, "code": key, "windowsVirtualKeyCode": code}
    if shift:
        common["modifiers"] = 8
    await browser.send("Input.dispatchKeyEvent", type="keyDown", text=text, **common)
    await browser.send("Input.dispatchKeyEvent", type="keyUp", **common)


async def tab_to(browser: Chromium, element_id: str, limit: int = 30) -> int:
    """Tab until the element has the focus; the number of presses it took."""
    for count in range(1, limit + 1):
        await press(browser, "Tab")
        if await browser.eval(f"document.activeElement && document.activeElement.id === {json.dumps(element_id)}"):
            return count
    raise AssertionError(f"#{element_id} not reached with {limit} Tab presses")

"""The enterprise's look on a link page (pure): branding merged per link, a theme style sheet
with readable text colours, and the image sources the page's CSP allows.

Colours come from the GuestCluster (a link may override each field). Text colours are not
configurable: each is black or white, whichever contrasts more with what it sits on, which is
always at least 4.58:1 (WCAG AA asks 4.5:1), so no branding can make the page unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from guestgate.config.schema import BrandingConfig, ClusterConfig, LinkConfig
from guestgate.web.rules import origin_of

HEX = re.compile(r"^[0-9a-f]{6}$")
THEME_PATH = "/_gg/theme.css"
BRAND_PATH = "/_gg/brand/"
LOGO_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "svg": "image/svg+xml",
}


def branding_for(cluster: ClusterConfig, link: LinkConfig | None) -> BrandingConfig:
    """The link's fields over the cluster's; an empty BrandingConfig when neither has any."""
    base = cluster.branding
    if link is not None and link.branding is not None:
        return link.branding.over(base)
    return base or BrandingConfig()


def luminance(colour: str) -> float:
    """Relative luminance (WCAG 2.1) of #rrggbb."""
    channels = []
    for index in (1, 3, 5):
        value = int(colour[index : index + 2], 16) / 255
        channels.append(value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two #rrggbb colours (1 to 21)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_on(colour: str) -> str:
    """Black or white, whichever reads better on `colour` (never below 4.58:1)."""
    return "#000000" if contrast(colour, "#000000") >= contrast(colour, "#ffffff") else "#ffffff"


def theme_href(branding: BrandingConfig) -> str:
    """The theme style sheet's URL for the branding's colours ("" when it sets none)."""
    query = {
        name: value.lstrip("#")
        for name, value in (("accent", branding.accent), ("background", branding.background))
        if value
    }
    return f"{THEME_PATH}?{urlencode(query)}" if query else ""


def theme_css(accent: str | None, background: str | None) -> str | None:
    """The style sheet for validated colours (hex without '#'); None when a value is not one."""
    for value in (accent, background):
        if value is not None and not HEX.fullmatch(value):
            return None
    rules: list[str] = []
    if background is not None:
        bg = f"#{background}"
        fg = text_on(bg)
        scheme = "light" if fg == "#000000" else "dark"
        rules.append(f":root {{ color-scheme: {scheme}; --bg: {bg}; --fg: {fg}; --focus: {fg}; }}")
    if accent is not None:
        colour = f"#{accent}"
        rules.append(f":root {{ --accent: {colour}; --on-accent: {text_on(colour)}; }}")
    return "\n".join(rules) + "\n"


def logo_src(branding: BrandingConfig) -> str:
    """Where the page loads the logo from ("" without one)."""
    if branding.logo_file:
        return BRAND_PATH + branding.logo_file.removeprefix("brand/")
    return branding.logo_url or ""


def image_sources(branding: BrandingConfig) -> list[str]:
    """CSP img-src beyond 'self' and data: the logo URL's origin, nothing else."""
    origin = origin_of(branding.logo_url) if branding.logo_url else ""
    return [origin] if origin else []


@dataclass(frozen=True, slots=True)
class Logo:
    file: str  # relative to the config dir
    content_type: str


def logo_file(path: str, served: tuple[str, ...]) -> Logo | None:
    """The logo file a /_gg/brand/<configmap>/<key> request may read: only one the published
    configuration names (no other file of the config dir is ever served)."""
    wanted = "brand/" + path
    if wanted not in served:
        return None
    extension = wanted.rsplit(".", 1)[-1].lower()
    kind = LOGO_TYPES.get(extension)
    return Logo(wanted, kind) if kind else None

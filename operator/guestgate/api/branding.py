"""The enterprise's look on its link pages: per GuestCluster, overridable per GuestLink."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from guestgate.api.common import DNS_SUBDOMAIN, Model, schema_extra

HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"
# Only images a browser shows in <img>; the extension gives the Content-Type the pods serve.
LOGO_KEY = r"^[-._a-zA-Z0-9]{1,200}\.(png|jpg|jpeg|gif|webp|svg)$"
# An absolute http(s) URL without quotes, spaces or angle brackets (it lands in an attribute and
# in the page's Content-Security-Policy).
LOGO_URL = r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[^\s\"'<>;,\\]*)?$"
MAX_LOGO_BYTES = 256 * 1024

LOGO_RULES = (
    ("has(self.url) != has(self.configMap)", "logo needs exactly one of url and configMap"),
)


class LogoConfigMap(Model):
    """A logo kept in a ConfigMap of the GuestCluster's namespace (binaryData or data)."""

    name: str = Field(pattern=DNS_SUBDOMAIN, max_length=253, description="Name of the ConfigMap.")
    key: str = Field(
        pattern=LOGO_KEY,
        max_length=205,
        description="Key holding the image; its extension (png, jpg, jpeg, gif, webp, svg) gives the "
        f"image type. At most {MAX_LOGO_BYTES // 1024} KiB.",
    )


class Logo(Model):
    """The logo above the link's name: a URL, or an image in a ConfigMap served by the pods."""

    model_config = ConfigDict(json_schema_extra=schema_extra(*LOGO_RULES))

    url: str | None = Field(
        default=None,
        pattern=LOGO_URL,
        max_length=2048,
        description="Image URL (https for an https page). Its origin is added to the page's img-src, "
        "nothing else.",
    )
    config_map: LogoConfigMap | None = Field(
        default=None, description="An image in a ConfigMap; the pods serve it from their own origin."
    )
    alt: str | None = Field(
        default=None,
        max_length=128,
        description="Text alternative read by screen readers (default: the title).",
    )


class Colors(Model):
    """Colours of the page. Text colours are chosen by the page (black or white, whichever
    contrasts more), so every pair stays readable (WCAG AA, at least 4.5:1)."""

    accent: str | None = Field(
        default=None, pattern=HEX_COLOUR, description="The Call button and highlights, #rrggbb."
    )
    background: str | None = Field(default=None, pattern=HEX_COLOUR, description="Page background, #rrggbb.")


class Branding(Model):
    """Title, logo, colours and a short text on the link page (a link's own fields win)."""

    title: str | None = Field(
        default=None, min_length=1, max_length=80, description="The enterprise's name above the link's name."
    )
    logo: Logo | None = Field(default=None, description="The enterprise's logo.")
    colors: Colors | None = Field(default=None, description="The page's colours.")
    text: str | None = Field(
        default=None, min_length=1, max_length=280, description="A short text under the link's name."
    )

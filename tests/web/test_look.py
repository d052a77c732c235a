"""The enterprise's look (pure): a link's branding over the cluster's, readable text colours on
any branding colour, the theme style sheet and which logo files the pods may serve."""

from __future__ import annotations

import pytest

from guestgate.config.schema import BrandingConfig, ClusterConfig, LinkConfig
from guestgate.web.look import (
    branding_for,
    contrast,
    image_sources,
    logo_file,
    logo_src,
    text_on,
    theme_css,
    theme_href,
)

CLUSTER = ClusterConfig(
    namespace="ns",
    name="c",
    public_url="https://c.example.com",
    branding=BrandingConfig(title="Corp", logo_file="brand/cm/logo.png", accent="#0b5cad", text="Hello"),
)


def link(branding: BrandingConfig | None) -> LinkConfig:
    return LinkConfig(
        id="ns/l", namespace="ns", name="l", path="/call/l", url="u", trunk="ns/t", destination="1",
        display_name="L", branding=branding,
    )


MERGE_CASES: list[tuple[str, BrandingConfig | None, BrandingConfig]] = [
    ("no link branding: the cluster's", None, CLUSTER.branding or BrandingConfig()),
    (
        "a link's title and colour win, the rest is the cluster's",
        BrandingConfig(title="Sales", accent="#7a1f1f"),
        BrandingConfig(title="Sales", logo_file="brand/cm/logo.png", accent="#7a1f1f", text="Hello"),
    ),
    (
        "a link's logo URL replaces the cluster's ConfigMap logo",
        BrandingConfig(logo_url="https://cdn.example.com/s.png"),
        BrandingConfig(title="Corp", logo_url="https://cdn.example.com/s.png", accent="#0b5cad", text="Hello"),
    ),
]


@pytest.mark.parametrize(("name", "own", "expected"), MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_branding_for(name: str, own: BrandingConfig | None, expected: BrandingConfig) -> None:
    assert branding_for(CLUSTER, link(own)) == expected


def test_no_branding_anywhere_is_an_empty_one() -> None:
    bare = ClusterConfig(namespace="ns", name="c", public_url="https://c.example.com")
    assert branding_for(bare, link(None)) == BrandingConfig()
    assert theme_href(BrandingConfig()) == "" and logo_src(BrandingConfig()) == ""


@pytest.mark.parametrize("colour", ["#000000", "#ffffff", "#777777", "#767676", "#0b5cad", "#ffcc00", "#ff0000",
                                    "#00ff00", "#0000ff", "#7a1f1f", "#888888", "#5a5a5a", "#b3261e"])
def test_text_on_any_colour_reads_at_aa(colour: str) -> None:
    assert contrast(colour, text_on(colour)) >= 4.5


def test_contrast_matches_wcag_figures() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54
    assert contrast("#123456", "#123456") == 1.0


THEME_CASES: list[tuple[str, str | None, str | None, list[str] | None]] = [
    ("light background: black text", None, "ffffff", ["--bg: #ffffff", "--fg: #000000", "color-scheme: light"]),
    ("dark background: white text", None, "101820", ["--fg: #ffffff", "color-scheme: dark"]),
    ("yellow accent: black on it", "ffcc00", None, ["--accent: #ffcc00", "--on-accent: #000000"]),
    ("navy accent: white on it", "0b2c5a", None, ["--on-accent: #ffffff"]),
    ("anything but six hex digits is refused", "red;}body{x", None, None),
    ("a short colour is refused", "fff", None, None),
    ("upper case hex is refused (the operator lowers it)", "FFCC00", None, None),
]


@pytest.mark.parametrize(("name", "accent", "background", "wanted"), THEME_CASES, ids=[c[0] for c in THEME_CASES])
def test_theme_css(name: str, accent: str | None, background: str | None, wanted: list[str] | None) -> None:
    css = theme_css(accent, background)
    if wanted is None:
        assert css is None
        return
    assert css is not None
    for fragment in wanted:
        assert fragment in css


def test_theme_href_carries_the_colours_without_hash() -> None:
    href = theme_href(BrandingConfig(accent="#0b5cad", background="#fafafa"))
    assert href == "/_gg/theme.css?accent=0b5cad&background=fafafa"


def test_images_come_from_us_or_the_logo_urls_origin_only() -> None:
    assert image_sources(BrandingConfig(logo_url="https://cdn.example.com:8443/a/b.png?x=1")) == [
        "https://cdn.example.com:8443"
    ]
    assert image_sources(BrandingConfig(logo_file="brand/cm/logo.png")) == []
    assert logo_src(BrandingConfig(logo_file="brand/cm/logo.png")) == "/_gg/brand/cm/logo.png"


LOGO_CASES: list[tuple[str, str, str | None]] = [
    ("a published logo is served with its type", "cm/logo.png", "image/png"),
    ("an SVG is served as an image", "cm/mark.svg", "image/svg+xml"),
    ("a file the config does not name is not", "cm/other.png", None),
    ("the config files themselves are not", "../cluster.json", None),
    ("no traversal", "cm/../../secrets/signing/key", None),
]


@pytest.mark.parametrize(("name", "path", "kind"), LOGO_CASES, ids=[c[0] for c in LOGO_CASES])
def test_logo_file(name: str, path: str, kind: str | None) -> None:
    served = ("brand/cm/logo.png", "brand/cm/mark.svg")
    found = logo_file(path, served)
    assert (found.content_type if found else None) == kind

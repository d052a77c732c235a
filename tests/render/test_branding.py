"""Branding of the API -> what the pods read, and the projected logo files (pure)."""

from __future__ import annotations

import pytest

from guestgate.api.branding import Branding, Colors, Logo, LogoConfigMap
from guestgate.config.schema import BrandingConfig
from guestgate.render.branding import logo_sources, render_branding

CASES: list[tuple[str, Branding | None, BrandingConfig | None]] = [
    ("no branding renders nothing", None, None),
    ("an empty branding renders nothing", Branding(), None),
    (
        "a ConfigMap logo becomes a file under brand/",
        Branding(logo=Logo(config_map=LogoConfigMap(name="brand", key="logo.png"), alt="Corp")),
        BrandingConfig(logo_file="brand/brand/logo.png", logo_alt="Corp"),
    ),
    (
        "a URL logo stays a URL",
        Branding(title="Corp", logo=Logo(url="https://cdn.example.com/l.png")),
        BrandingConfig(title="Corp", logo_url="https://cdn.example.com/l.png"),
    ),
    (
        "colours are lower case (the theme style sheet takes nothing else)",
        Branding(colors=Colors(accent="#0B5CAD", background="#FFFFFF"), text="Hi"),
        BrandingConfig(accent="#0b5cad", background="#ffffff", text="Hi"),
    ),
]


@pytest.mark.parametrize(("name", "branding", "expected"), CASES, ids=[c[0] for c in CASES])
def test_render_branding(name: str, branding: Branding | None, expected: BrandingConfig | None) -> None:
    assert render_branding(branding) == expected


def test_logo_sources_project_one_key_each_optionally() -> None:
    def source(name: str, key: str) -> dict[str, object]:
        return {"configMap": {"name": name, "optional": True, "items": [{"key": key, "path": f"brand/{name}/{key}"}]}}

    assert logo_sources(("brand/brand/logo.png", "brand/sales/mark.svg")) == [
        source("brand", "logo.png"),
        source("sales", "mark.svg"),
    ]


def test_a_bad_colour_or_logo_key_is_refused_by_the_model_too() -> None:
    with pytest.raises(ValueError, match="accent"):
        Colors(accent="red")
    with pytest.raises(ValueError, match="key"):
        LogoConfigMap(name="brand", key="page.html")

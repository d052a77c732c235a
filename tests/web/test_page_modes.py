"""The link page over HTTP: its language, widget mode, the enterprise's look and the CSP that
keeps it strict, the theme style sheet and the logos served from ConfigMaps."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from guestgate.config.schema import (
    AccessConfig,
    BrandingConfig,
    ClusterConfig,
    LinkConfig,
    LinksFile,
    PublishedConfig,
    WebConfig,
    WithdrawnLink,
)
from guestgate.web.app import WebState, build_app

SITE = "https://www.example.com"
SHOP = "https://shop.example.com"


def link(name: str, **fields: object) -> LinkConfig:
    values: dict[str, object] = {
        "id": f"ns/{name}", "namespace": "ns", "name": name, "path": f"/call/{name}", "url": f"u/{name}",
        "trunk": "ns/t", "destination": "1", "display_name": f"Call {name}",
    }
    values.update(fields)
    return LinkConfig(**values)


CONFIG = PublishedConfig(
    cluster=ClusterConfig(
        namespace="ns",
        name="c",
        public_url="https://call.example.com",
        web=WebConfig(allowed_origins=(SITE,)),
        branding=BrandingConfig(
            title="Example Corp", logo_file="brand/brand/logo.svg", accent="#0b5cad", text="Weekdays 8-18"
        ),
    ),
    links=LinksFile(
        links=(
            link("sales"),
            link("french", language="fr"),
            link("shop", access=AccessConfig(allowed_origins=(SHOP,)), auto_call_after_seconds=5,
                 branding=BrandingConfig(title="Shop", logo_url="https://cdn.example.com/shop.png",
                                         background="#101820")),
        ),
        withdrawn=(WithdrawnLink(path="/call/old", display_name="Old"),),
    ),
)


@pytest_asyncio.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    (tmp_path / "brand" / "brand").mkdir(parents=True)
    (tmp_path / "brand" / "brand" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (tmp_path / "cluster.json").write_text("{}")
    state = WebState(source=lambda: CONFIG, clock=lambda: 1_800_000_000.0, config_dir=tmp_path)
    async with TestClient(TestServer(build_app(state))) as test_client:
        yield test_client


def settings_of(body: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="gg-settings">(.*?)</script>', body, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


async def test_accept_language_de_gives_the_page_in_german(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/call/sales", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    body = await reply.text()
    assert reply.status == 200
    assert '<html lang="de">' in body
    assert ">Anrufen</button>" in body and ">Auflegen</button>" in body and "Bereit zum Anrufen" in body
    settings = settings_of(body)
    assert settings["language"] == "de"
    assert dict(settings["texts"])["end.busy"].startswith("Die Leitung ist besetzt")  # type: ignore[call-overload]


async def test_the_links_language_wins_and_english_is_the_default(client: TestClient) -> None:  # type: ignore[type-arg]
    french = await (await client.get("/call/french", headers={"Accept-Language": "de"})).text()
    assert '<html lang="fr">' in french and ">Appeler</button>" in french
    plain = await (await client.get("/call/sales")).text()
    assert '<html lang="en">' in plain and ">Call</button>" in plain


async def test_refusal_pages_speak_the_visitors_language(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/call/nobody", headers={"Accept-Language": "es"})
    body = await reply.text()
    assert reply.status == 404 and '<html lang="es">' in body and "Este enlace de llamada no existe" in body
    gone = await client.get("/call/old", headers={"Accept-Language": "fr"})
    assert gone.status == 403 and "est désactivé" in await gone.text()


async def test_widget_mode_is_compact_and_knows_who_may_talk_to_it(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/call/shop?widget=true")
    body = await reply.text()
    assert 'class="widget"' in body
    settings = settings_of(body)
    assert settings["widget"] is True
    assert settings["allowedOrigins"] == ["https://call.example.com", SHOP, SITE]
    assert settings["autoCallAfterSeconds"] == 5
    policy = reply.headers["Content-Security-Policy"]
    assert policy.endswith(f"frame-ancestors 'self' {SHOP} {SITE}")
    page = await (await client.get("/call/sales")).text()
    assert 'class="page"' in page and settings_of(page)["widget"] is False


async def test_a_refused_widget_tells_the_host_why(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/call/nobody?widget=true")
    body = await reply.text()
    assert reply.status == 404 and 'class="widget"' in body
    assert settings_of(body)["error"] == {"code": "unknown", "text": "This call link does not exist"}
    assert '<script src="/_gg/static/widget.js"></script>' in body
    assert reply.headers["Content-Security-Policy"].endswith("frame-ancestors 'self' https://www.example.com")


async def test_the_clusters_look_and_a_links_override(client: TestClient) -> None:  # type: ignore[type-arg]
    sales = await client.get("/call/sales")
    body = await sales.text()
    assert '<img class="logo" src="/_gg/brand/brand/logo.svg" alt="Example Corp">' in body
    assert '<p class="brand-title">Example Corp</p>' in body and '<p class="brand-text">Weekdays 8-18</p>' in body
    assert '<link rel="stylesheet" href="/_gg/theme.css?accent=0b5cad">' in body
    assert "img-src 'self' data:;" in sales.headers["Content-Security-Policy"]
    shop = await client.get("/call/shop")
    body = await shop.text()
    assert 'src="https://cdn.example.com/shop.png"' in body and "Shop</p>" in body
    assert "theme.css?accent=0b5cad&amp;background=101820" in body
    # The logo's origin may serve images, nothing else; script and style stay our own.
    policy = shop.headers["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.example.com;" in policy
    assert "script-src 'self';" in policy and "style-src 'self';" in policy


async def test_a_configmap_logo_not_there_is_left_out(tmp_path: Path) -> None:
    state = WebState(source=lambda: CONFIG, clock=lambda: 1_800_000_000.0, config_dir=tmp_path)
    async with TestClient(TestServer(build_app(state))) as bare:
        body = await (await bare.get("/call/sales")).text()
    assert "<img" not in body and '<p class="brand-title">Example Corp</p>' in body


async def test_the_theme_style_sheet_takes_only_colours(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/_gg/theme.css?accent=ffcc00&background=101820")
    css = await reply.text()
    assert reply.status == 200 and reply.content_type == "text/css"
    assert "--on-accent: #000000" in css and "--fg: #ffffff" in css
    bad = await client.get("/_gg/theme.css", params={"accent": "fff;}body{background:url(//evil)"})
    assert bad.status == 400


async def test_a_configmap_logo_is_served_harmless_and_nothing_else_is(client: TestClient) -> None:  # type: ignore[type-arg]
    reply = await client.get("/_gg/brand/brand/logo.svg")
    assert reply.status == 200 and reply.content_type == "image/svg+xml"
    assert "sandbox" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    paths = ("/_gg/brand/brand/other.svg", "/_gg/brand/../cluster.json", "/_gg/brand/brand/%2e%2e/%2e%2e/cluster.json")
    for path in paths:
        assert (await client.get(path)).status == 404, path


@pytest.mark.parametrize("language", ["en", "de", "fr", "es"])
async def test_no_english_is_left_on_a_translated_page(client: TestClient, language: str) -> None:  # type: ignore[type-arg]
    body = await (await client.get("/call/sales", headers={"Accept-Language": language})).text()
    assert "${" not in body and "$t_" not in body
    if language != "en":
        visible = re.sub(r"<script.*?</script>", "", body, flags=re.S)
        for english in (">Call<", ">Hang up<", ">Mute<", "Ready to call", ">Keypad<"):
            assert english not in visible, f"{language}: {english}"

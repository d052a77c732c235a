"""What the pages put in front of a visitor: names from the configuration are text, never markup."""

from __future__ import annotations

import json
import re

from guestgate.config.schema import ClusterConfig, LinkConfig, LinksFile, PublishedConfig
from guestgate.web.app import WebState, link_page, message_page

EVIL = '</script><script>alert(1)</script><img src=x onerror=alert(2)> & "quotes"'


def state(link: LinkConfig) -> WebState:
    config = PublishedConfig(
        cluster=ClusterConfig(namespace="ns", name="c", public_url="https://c.example.com"),
        links=LinksFile(links=(link,)),
    )
    return WebState(source=lambda: config, clock=lambda: 1_800_000_000.0)


def test_a_display_name_with_markup_is_shown_as_text_and_cannot_end_the_settings_script() -> None:
    link = LinkConfig(
        id="ns/l", namespace="ns", name="l", path="/call/l", url="u", trunk="ns/t", destination="1", display_name=EVIL
    )
    body = link_page(state(link), link, token=None).text or ""
    assert "<script>alert" not in body and "<img" not in body
    settings = re.search(r'<script type="application/json" id="gg-settings">(.*?)</script>', body, re.S)
    assert settings is not None, "the settings element was cut short"
    assert json.loads(settings.group(1))["displayName"] == EVIL


def test_refusal_pages_escape_the_name_and_carry_the_status() -> None:
    response = message_page(403, "This call link is switched off", "It has been withdrawn.", EVIL)
    body = response.text or ""
    assert response.status == 403 and 'data-status="403"' in body
    assert "<script>alert" not in body and "&lt;/script&gt;" in body

"""The visitor's languages: every catalogue has every key, the placeholders match, and the page's
language follows the link's `language` or the visitor's Accept-Language."""

from __future__ import annotations

import json
import re
import string

import pytest

from guestgate.web.i18n import CATALOGUES, LANGUAGES, catalogue, choose_language, parse_accept_language, text
from guestgate.web.visitor import REFUSALS, STATE_TEXT, end_reason

FILES = sorted(CATALOGUES.glob("*.json"))
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_there_is_one_catalogue_file_per_language_and_no_other() -> None:
    assert sorted(p.stem for p in FILES) == sorted(LANGUAGES)
    assert {"en", "de", "fr", "es"} <= set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_exists_in_every_language(language: str) -> None:
    english = json.loads((CATALOGUES / "en.json").read_text(encoding="utf-8"))
    other = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    assert sorted(set(english) - set(other)) == [], f"{language}.json lacks these keys"
    assert sorted(set(other) - set(english)) == [], f"{language}.json has keys English does not"
    for key, value in other.items():
        assert isinstance(value, str) and value.strip(), f"{language}.json {key} is empty"
        assert sorted(PLACEHOLDER.findall(value)) == sorted(PLACEHOLDER.findall(english[key])), (
            f"{language}.json {key}: placeholders differ from English"
        )
        list(string.Formatter().parse(value))  # str.format can fill it (no stray braces)


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_a_translation_is_not_english_left_in_place(language: str) -> None:
    english, other = catalogue("en"), catalogue(language)
    spelled_alike = {"mic.label", "mic.numbered"}  # "Microphone" is French too
    same = [key for key in english if english[key] == other[key] and key not in spelled_alike]
    assert same == [], f"{language}: still English: {same}"


def test_every_text_the_server_names_is_in_the_catalogue() -> None:
    keys = set(catalogue("en"))
    assert {f"state.{s}" for s in STATE_TEXT} <= keys
    assert {f"refused.{v}.{part}" for v in REFUSALS for part in ("title", "text")} <= keys
    statuses = [0, 200, 403, 404, 408, 480, 484, 486, 487, 500, 503, 600, 603, 499]
    causes = [None, "Q.850;cause=16", "Q.850;cause=17", "Q.850;cause=1", "Q.850;cause=21", "Q.850;cause=34"]
    for status in statuses:
        for cause in causes:
            for answered in (False, True):
                assert end_reason(status, cause, answered=answered).message in keys
    assert end_reason(0, answered=False, by_visitor=True).message in keys
    assert end_reason(200, "Q.850;cause=65", answered=True).message in keys


ACCEPT_CASES: list[tuple[str, str | None, str | None, str]] = [
    # name, Accept-Language, link language, page language
    ("nothing asked gives English", None, None, "en"),
    ("German browser gets German", "de", None, "de"),
    ("a region falls back to its language", "de-AT,de;q=0.9,en;q=0.8", None, "de"),
    ("the first language we have wins", "it-IT,it;q=0.9,fr;q=0.8,en;q=0.5", None, "fr"),
    ("weights order the ranges, not their place", "en;q=0.3, es;q=0.9", None, "es"),
    ("q=0 means not this one", "fr;q=0, de;q=0.1", None, "de"),
    ("only languages we lack give English", "ja,zh-CN;q=0.8", None, "en"),
    ("the link's language wins over the browser's", "de", "fr", "fr"),
    ("garbage is ignored", ";;;,de-;q=x,,es", None, "es"),
    ("a wildcard picks nothing in particular", "*", None, "en"),
    ("upper case tags are fine", "ES-mx", None, "es"),
]


@pytest.mark.parametrize(("name", "header", "link", "expected"), ACCEPT_CASES, ids=[c[0] for c in ACCEPT_CASES])
def test_choose_language(name: str, header: str | None, link: str | None, expected: str) -> None:
    assert choose_language(header, link) == expected


def test_a_huge_accept_language_header_is_read_only_so_far() -> None:
    assert len(parse_accept_language(",".join(["xx"] * 10_000))) == 32


def test_text_fills_placeholders_and_falls_back_to_english() -> None:
    assert text("de", "error.retry-after", seconds=5) == "Bitte versuchen Sie es in 5 s erneut."
    assert text("xx", "state.idle") == "Ready to call"
    assert text("de", "no.such.key") == "no.such.key"

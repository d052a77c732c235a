"""The visitor's language: one catalogue file per language, chosen per request (pure).

`catalogues/<code>.json` holds every text the visitor reads (states, buttons, end reasons,
errors, refusal pages), flat keys to strings, `{name}` placeholders. English is the reference:
every language has exactly its keys (a test says so). The page's language is the link's
`language` when set, else the best of the visitor's `Accept-Language` we have, else English.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

CATALOGUES = Path(__file__).parent / "catalogues"
DEFAULT_LANGUAGE = "en"
LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")  # each has catalogues/<code>.json

_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


@cache
def catalogue(language: str) -> dict[str, str]:
    """The texts of one language (English for a language we do not have)."""
    if language not in LANGUAGES:
        language = DEFAULT_LANGUAGE
    data = json.loads((CATALOGUES / f"{language}.json").read_text(encoding="utf-8"))
    return {str(key): str(value) for key, value in data.items()}


def text(language: str, key: str, **values: object) -> str:
    """One text, placeholders filled; the English text when a key is missing."""
    template = catalogue(language).get(key) or catalogue(DEFAULT_LANGUAGE).get(key, key)
    return template.format(**values) if values else template


def parse_accept_language(header: str | None) -> list[str]:
    """Language ranges of an Accept-Language header, best first (q=0 and garbage dropped;
    equal weights keep the header's order). At most 32 ranges are read."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:32]):
        match = _RANGE.match(part)
        if not match:
            continue
        try:
            weight = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
        if weight > 0:
            ranked.append((-weight, index, match.group(1).lower()))
    return [tag for _, _, tag in sorted(ranked)]


def choose_language(accept_language: str | None, link_language: str | None = None) -> str:
    """The link's language when it names one we have; else the first of the visitor's languages
    we have (a region falls back to its language: de-AT -> de); else English."""
    if link_language in LANGUAGES:
        return str(link_language)
    for tag in parse_accept_language(accept_language):
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE

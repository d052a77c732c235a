"""Link URLs, phases over time, and slug ownership."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from guestgate.render.link import link_path, link_url, next_phase_change, slug_conflicts, time_phase

from .objects import link

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2027, 3, 1, 17, 0, tzinfo=UTC)
WINDOW = {"validFrom": "2027-03-01T09:00:00Z", "validUntil": "2027-03-01T17:00:00Z"}


@pytest.mark.parametrize(
    ("case", "spec", "now", "phase", "next_change"),
    [
        ("no window is always active", {}, T0, "Active", None),
        ("before the window is scheduled", WINDOW, datetime(2027, 3, 1, 8, tzinfo=UTC), "Scheduled", T0),
        ("at validFrom it is active", WINDOW, T0, "Active", T1),
        ("inside the window is active", WINDOW, datetime(2027, 3, 1, 12, tzinfo=UTC), "Active", T1),
        ("at validUntil it has expired", WINDOW, T1, "Expired", None),
        ("after the window is expired", WINDOW, datetime(2027, 3, 2, tzinfo=UTC), "Expired", None),
        ("disabled wins over the window", {**WINDOW, "enabled": False}, T0, "Disabled", None),
        ("only validUntil, before it", {"validUntil": "2027-03-01T17:00:00Z"}, T0, "Active", T1),
        ("only validFrom, after it", {"validFrom": "2027-03-01T09:00:00Z"}, T1, "Active", None),
    ],
)
def test_phase_follows_the_validity_window(
    case: str, spec: dict[str, Any], now: datetime, phase: str, next_change: datetime | None
) -> None:
    item = link(**spec)
    assert time_phase(item, now) == phase, case
    assert next_phase_change(item, now) == next_change, case


@pytest.mark.parametrize(
    ("case", "spec", "path"),
    [
        ("default path is namespace and name", {}, "/call/team/sales"),
        ("a slug gives a short path", {"slug": "talk-to-us"}, "/call/talk-to-us"),
    ],
)
def test_link_path(case: str, spec: dict[str, Any], path: str) -> None:
    assert link_path(link(**spec)) == path, case


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://call.example.com", "https://call.example.com/call/team/sales"),
        ("https://call.example.com/", "https://call.example.com/call/team/sales"),
        ("https://example.com/guest", "https://example.com/guest/call/team/sales"),
    ],
)
def test_link_url_joins_without_double_slashes(base: str, url: str) -> None:
    assert link_url(base, link_path(link())) == url


def test_the_later_link_loses_a_contested_slug() -> None:
    first = link("first", created="2026-01-01T00:00:00Z", slug="sales")
    second = link("second", created="2026-02-01T00:00:00Z", slug="sales")
    other = link("other", created="2026-03-01T00:00:00Z", slug="support")
    assert slug_conflicts([second, other, first]) == {"team/second": "team/first"}


def test_same_creation_time_breaks_ties_by_name() -> None:
    a = link("a", slug="x")
    b = link("b", slug="x")
    assert slug_conflicts([b, a]) == {"team/b": "team/a"}

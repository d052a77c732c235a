"""When the operator asks the pods for a health check (pure: controllers.health.due_trigger)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from guestgate.controllers.health import due_trigger
from render.objects import trunk

NOW = datetime(2027, 1, 1, tzinfo=UTC)

HC = {"destinations": [{"name": "local", "number": "2001"}], "intervalSeconds": 600}


@pytest.mark.parametrize(
    ("case", "health_check", "annotations", "last", "on_profile", "now", "trigger"),
    [
        ("no destinations: never", {}, {}, None, True, 0, None),
        ("first check once pods run the profile", HC, {}, None, True, 0, "profile-change"),
        ("not before the pods run it", HC, {}, None, False, 0, None),
        ("profile changed", HC, {}, {"profileHash": "old", "time": "2027-01-01T00:00:00Z"}, True, 0, "profile-change"),
        ("new annotation value", HC, {"guestgate.io/health-check": "2"},
         {"profileHash": "H", "request": "1", "time": "2027-01-01T00:00:00Z"}, True, 0, "annotation"),
        ("answered annotation", HC, {"guestgate.io/health-check": "1"},
         {"profileHash": "H", "request": "1", "time": "2027-01-01T00:00:00Z"}, True, NOW.timestamp() + 10, None),
        ("interval elapsed", HC, {}, {"profileHash": "H", "time": "2027-01-01T00:00:00Z"}, True,
         NOW.timestamp() + 600, "interval"),
        ("interval 0 is on demand only", {**HC, "intervalSeconds": 0}, {},
         {"profileHash": "H", "time": "2027-01-01T00:00:00Z"}, True, NOW.timestamp() + 10**6, None),
    ],
)
def test_due_trigger(case: str, health_check: dict[str, Any], annotations: dict[str, str],
                     last: dict[str, Any] | None, on_profile: bool, now: float, trigger: str | None) -> None:
    item = trunk(healthCheck=health_check)
    item = item.model_copy(update={"metadata": item.metadata.model_copy(update={"annotations": annotations})})
    assert due_trigger(item, last, "H", on_profile, now) == trigger, case

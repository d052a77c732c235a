"""Shared test setup. Fixtures of each area live in tests/fixtures/<area>.py."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = ["fixtures.cluster", "fixtures.operator", "fixtures.localpod", "fixtures.sipp"]

"""Fixtures of the signalling tests; the helpers live in signal_helpers.py (plain imports)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from signal_helpers import SippFactory


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[SippFactory]:
    factory = SippFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()

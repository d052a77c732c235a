"""Golden files: one variable refreshes every suite (`make golden` sets GUESTGATE_UPDATE_GOLDEN=1)."""

from __future__ import annotations

import os
from pathlib import Path

UPDATE_VARIABLE = "GUESTGATE_UPDATE_GOLDEN"


def assert_golden(golden: Path, actual: str, what: str) -> None:
    """actual equals the golden file's text; with GUESTGATE_UPDATE_GOLDEN=1 the file is rewritten first."""
    if os.environ.get(UPDATE_VARIABLE) == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    assert golden.exists(), f"no golden file {golden} for {what}: run `make golden`"
    assert actual == golden.read_text(), f"{what} differs from {golden}: run `make golden` and read the diff"

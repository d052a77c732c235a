"""The seed's field failure rendered as text and JSON, compared with golden files.

The output is what an engineer reads; any change to it must be seen in a diff. Refresh the
golden files with ``GUESTGATE_GOLDEN=update .venv/bin/pytest tests/sip/test_golden.py`` and read
the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from guestgate.sip.diagnosis import diagnose
from guestgate.sip.importers import import_bytes
from guestgate.sip.report import render_text, report_to_json

DATA = Path(__file__).parent / "data"
UPDATE = os.environ.get("GUESTGATE_GOLDEN") == "update"


def _rendered() -> dict[str, str]:
    seed = DATA / "seed-prack-missing.sip"
    report = diagnose(import_bytes(seed.read_bytes(), seed.name).ladders)
    return {"seed-prack-missing.txt": render_text(report),
            "seed-prack-missing.json": json.dumps(report_to_json(report), indent=2) + "\n"}


@pytest.mark.parametrize("name", sorted(_rendered()))
def test_golden(name: str) -> None:
    golden = DATA / "golden" / name
    actual = _rendered()[name]
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual)
    assert actual == golden.read_text(), \
        f"output changed; refresh with GUESTGATE_GOLDEN=update and read the diff of {golden}"

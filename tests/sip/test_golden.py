"""The seed's field failure rendered as text and JSON, compared with golden files.

The output is what an engineer reads; any change to it must be seen in a diff. Refresh the
golden files with ``make golden`` (GUESTGATE_UPDATE_GOLDEN=1, as for the render and chart suites)
and read the diff before committing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guestgate.sip.diagnosis import diagnose
from guestgate.sip.importers import import_bytes
from guestgate.sip.report import render_text, report_to_json
from support.golden import assert_golden

DATA = Path(__file__).parent / "data"


def _rendered() -> dict[str, str]:
    seed = DATA / "seed-prack-missing.sip"
    report = diagnose(import_bytes(seed.read_bytes(), seed.name).ladders)
    return {"seed-prack-missing.txt": render_text(report),
            "seed-prack-missing.json": json.dumps(report_to_json(report), indent=2) + "\n"}


@pytest.mark.parametrize("name", sorted(_rendered()))
def test_golden(name: str) -> None:
    assert_golden(DATA / "golden" / name, _rendered()[name], f"the seed's report ({name})")

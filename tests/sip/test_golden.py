"""The seed's field failure, and the ticket pasting only its BYE, rendered as text and JSON and
compared with golden files.

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
    """The seed's whole ladder, and the ticket pasting only its BYE (INCONCLUSIVE)."""
    rendered = {}
    for source in (DATA / "seed-prack-missing.sip", DATA / "ticket-lone-bye.txt"):
        imported = import_bytes(source.read_bytes(), source.name)
        report = diagnose(imported.ladders, notes=tuple(imported.notes))  # as the command prints it
        rendered[f"{source.stem}.txt"] = render_text(report)
        rendered[f"{source.stem}.json"] = json.dumps(report_to_json(report), indent=2) + "\n"
    return rendered


@pytest.mark.parametrize("name", sorted(_rendered()))
def test_golden(name: str) -> None:
    assert_golden(DATA / "golden" / name, _rendered()[name], f"the report ({name})")

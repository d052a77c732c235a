"""set_condition keeps lastTransitionTime unless the status flips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from guestgate.render.conditions import ConditionChange, set_condition

EARLIER = "2026-01-01T00:00:00Z"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
NOW_TEXT = "2026-06-01T00:00:00Z"


def _cond(status: str, reason: str = "R", message: str = "m", generation: int = 1) -> dict[str, object]:
    return {"type": "Ready", "status": status, "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": EARLIER}


@pytest.mark.parametrize(
    ("case", "before", "change", "transition", "generation"),
    [
        ("new condition gets now", [], ConditionChange("Ready", "True", "R", "m"), NOW_TEXT, 2),
        ("same status keeps the old time", [_cond("True")], ConditionChange("Ready", "True", "R2", "m2"), EARLIER, 2),
        ("flipped status gets now", [_cond("True")], ConditionChange("Ready", "False", "R", "m"), NOW_TEXT, 3),
        ("unknown to true is a flip", [_cond("Unknown")], ConditionChange("Ready", "True", "R", "m"), NOW_TEXT, 1),
    ],
)
def test_transition_time(case: str, before: list[dict[str, object]], change: ConditionChange,
                         transition: str, generation: int) -> None:
    after = set_condition(before, change, generation, NOW)
    ready = [c for c in after if c["type"] == "Ready"]
    assert len(ready) == 1, case
    assert ready[0]["lastTransitionTime"] == transition, case
    assert ready[0]["observedGeneration"] == generation, case
    assert ready[0]["reason"] == change.reason and ready[0]["message"] == change.message, case


def test_other_conditions_are_kept_and_input_untouched() -> None:
    other = {**_cond("True"), "type": "Other"}
    before = [other, _cond("False")]
    after = set_condition(before, ConditionChange("Ready", "True", "R", "m"), 1, NOW)
    assert after[0] == other
    assert before[1]["status"] == "False"

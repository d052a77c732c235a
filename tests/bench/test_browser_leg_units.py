"""bench/browser_leg.py's pure helpers, as tables."""

from __future__ import annotations

from typing import Any

import pytest
from bench.browser_leg import marginal


def step(connected: int, cpu: float | None) -> dict[str, Any]:
    return {"connected": connected, "cpuPercent": cpu}


MARGINALS = [
    # case, steps, CPU % per added call
    ("a straight line: its slope", [step(1, 1.5), step(2, 1.75), step(4, 2.25)], 0.25),
    ("the idle cost does not count", [step(1, 10.0), step(11, 12.0)], 0.2),
    ("least squares through noise", [step(1, 1.0), step(2, 1.0), step(3, 3.0)], 1.0),
    ("steps without calls up or CPU are left out", [step(0, 5.0), step(2, 1.0), step(4, 2.0), step(6, None)], 0.5),
]


@pytest.mark.parametrize(("case", "steps", "slope"), MARGINALS, ids=[c[0] for c in MARGINALS])
def test_marginal(case: str, steps: list[dict[str, Any]], slope: float) -> None:
    assert marginal(steps) == pytest.approx(slope)


@pytest.mark.parametrize("steps", [[], [step(4, 2.0)], [step(4, 2.0), step(4, 3.0)]], ids=["none", "one", "one size"])
def test_no_marginal_without_two_sizes(steps: list[dict[str, Any]]) -> None:
    assert marginal(steps) is None

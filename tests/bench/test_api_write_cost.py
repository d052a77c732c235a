"""`make bench ONLY=api_write_cost` (what one API write costs, and the floor it puts under
operator_scale's publish goal) runs small against a real API server and reports figures that
agree with each other. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_a_small_run_measures_every_phase_and_the_floor_follows_from_them(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "api_write_cost", "--out", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Floor of publish / bare create" in run.stdout
    data = json.loads((tmp_path / "api_write_cost.json").read_text())["data"]
    phases = data["phases"]
    assert set(phases) == {"create", "status (the operator's)", "status, phase only"}
    for phase in phases.values():
        assert phase["wall"] > 0 and phase["controlPlaneCpu"] > 0 and phase["clientCpu"] > 0
    create, status = phases["create"], phases["status (the operator's)"]
    # Publishing includes the creates (never under 1), and needs at least all this CPU on the cores.
    spread = (create["controlPlaneCpu"] + create["clientCpu"] + status["controlPlaneCpu"]) / data["cores"]
    assert data["floorRatio"] == pytest.approx(max(1.0, spread / create["wall"]))

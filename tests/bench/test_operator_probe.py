"""`python -m bench.operator_probe` (the operator's memory and one edit's cost without an API
server) runs and checks what it measures: each edit reaches the pod side's page (it asserts so
itself) and the figures are printed. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_probe_runs_small() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.operator_probe", "--links", "300", "--edits", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "links 300:" in run.stdout and "traced MiB: cache" in run.stdout
    assert "edit, operator" in run.stdout and "edit, pod" in run.stdout

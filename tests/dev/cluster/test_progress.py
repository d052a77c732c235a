"""Progress of long steps: the text of a line and of the bar (tables), and the ticker's output."""

from __future__ import annotations

import io

import pytest

from guestgate_dev.cluster import progress
from guestgate_dev.cluster.progress import Step, progress_bar, progress_line, ticking

LINES = [
    ("unknown_duration_says_elapsed", Step("building etcd v3.6.5", 1, 5), 7.0,
     "[1/5] building etcd v3.6.5: 7 s elapsed"),
    ("known_duration_says_what_is_left", Step("building kube-apiserver", 2, 5, expected=288.0), 95.0,
     "[2/5] building kube-apiserver: 1 min 35 s elapsed; about 3 min 13 s left (last time 4 min 48 s)"),
    ("slower_than_last_time_says_so", Step("debootstrap", expected=50.0), 61.0,
     "[1/1] debootstrap: 1 min 01 s elapsed; longer than last time (50 s)"),
    ("steps_to_come_are_named", Step("building kubectl", 3, 4, after=("helm",)), 12.0,
     "[3/4] building kubectl: 12 s elapsed; then helm"),
]


@pytest.mark.parametrize(("step", "elapsed", "expected"), [row[1:] for row in LINES], ids=[row[0] for row in LINES])
def test_progress_line(step: Step, elapsed: float, expected: str) -> None:
    assert progress_line(step, elapsed) == expected


BARS = [
    ("half_done", Step("x", expected=100.0), 50.0, "[#####-----]"),
    ("overdue_stays_full", Step("x", expected=10.0), 30.0, "[##########]"),
    ("unknown_moves_a_marker", Step("x"), 3.0, "[---#------]"),
]


@pytest.mark.parametrize(("step", "elapsed", "expected"), [row[1:] for row in BARS], ids=[row[0] for row in BARS])
def test_progress_bar(step: Step, elapsed: float, expected: str) -> None:
    assert progress_bar(step, elapsed, width=10).startswith(expected + " [1/1] x:")


def test_ticker_writes_lines_while_the_step_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.05)
    out = io.StringIO()
    with ticking(Step("building helm", 5, 5), stream=out):
        time.sleep(0.5)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("[5/5] building helm: ") for line in lines)
    written = len(lines)
    time.sleep(0.2)
    assert len(out.getvalue().splitlines()) == written  # silent once the step ended

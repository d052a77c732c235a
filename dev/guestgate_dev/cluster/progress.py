"""Progress of long steps (Go builds, debootstrap, image builds): which one, how long, what is left.

A step that takes minutes prints a line every few seconds to stderr (a log file or CI keeps them
all), or redraws one bar in place when stderr is a terminal:

    with ticking(Step("kube-apiserver", index=2, total=5, expected=288.0, after=("kubectl", "helm"))):
        subprocess.run(...)

The pure half (the text of a line, the bar) is tested with tables; the ticker thread is the I/O.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

LINE_SECONDS = 5.0  # a line this often when stderr is not a terminal
BAR_SECONDS = 0.5  # the bar's redraw on a terminal
BAR_WIDTH = 24
QUIET_ENV = "GUESTGATE_NO_PROGRESS"  # set (to anything) to silence the ticker


@dataclass(frozen=True)
class Step:
    label: str  # what runs now, e.g. "kube-apiserver" or "buildah bud images/signal/Dockerfile"
    index: int = 1  # 1-based position among the steps of this run
    total: int = 1
    expected: float | None = None  # seconds this step took last time, when known
    after: tuple[str, ...] = ()  # the steps still to come after this one


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def progress_line(step: Step, elapsed: float) -> str:
    """One line: the step, elapsed time, an estimate of what is left of it, and what follows."""
    parts = [f"[{step.index}/{step.total}] {step.label}: {_duration(elapsed)} elapsed"]
    if step.expected:
        left = step.expected - elapsed
        parts.append(f"about {_duration(left)} left (last time {_duration(step.expected)})" if left > 0
                     else f"longer than last time ({_duration(step.expected)})")
    if step.after:
        parts.append("then " + ", ".join(step.after))
    return "; ".join(parts)


def progress_bar(step: Step, elapsed: float, width: int = BAR_WIDTH) -> str:
    """A bar for a terminal: filled by elapsed / expected (a moving marker when unknown)."""
    if step.expected:
        filled = min(width, int(width * elapsed / step.expected))
        bar = "#" * filled + "-" * (width - filled)
    else:
        position = int(elapsed) % width
        bar = "-" * position + "#" + "-" * (width - position - 1)
    return f"[{bar}] {progress_line(step, elapsed)}"


class _Ticker:
    def __init__(self, step: Step, stream: TextIO, tty: bool) -> None:
        self.step = step
        self.stream = stream
        self.tty = tty
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"progress {step.label}", daemon=True)

    def _run(self) -> None:
        interval = BAR_SECONDS if self.tty else LINE_SECONDS
        while not self.stop.wait(interval):
            elapsed = time.monotonic() - self.started
            with contextlib.suppress(OSError, ValueError):  # a closed stream ends nothing else
                if self.tty:
                    self.stream.write("\r\033[K" + progress_bar(self.step, elapsed))
                else:
                    self.stream.write(progress_line(self.step, elapsed) + "\n")
                self.stream.flush()

    def end(self) -> None:
        self.stop.set()
        self.thread.join()
        if self.tty:
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\r\033[K")
                self.stream.flush()


@contextlib.contextmanager
def ticking(step: Step, stream: TextIO | None = None) -> Iterator[None]:
    """Report progress of ``step`` while the block runs (nothing when GUESTGATE_NO_PROGRESS is set)."""
    out = stream if stream is not None else sys.stderr
    if os.environ.get(QUIET_ENV):
        yield
        return
    ticker = _Ticker(step, out, tty=out.isatty())
    ticker.thread.start()
    try:
        yield
    finally:
        ticker.end()

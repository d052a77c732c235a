"""Measuring helpers shared by the parts: percentiles, CPU and RSS of processes, bounded waits."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100), nearest rank; None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its own threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


@dataclass
class CpuWindow:
    """CPU used by some processes over a wall-clock window: start(), then stop() -> figures."""

    pids: list[int]
    _t0: float = 0.0
    peak_rss: int = 0
    _each0: list[float] = field(default_factory=list)
    _each1: list[float] = field(default_factory=list)

    def start(self) -> CpuWindow:
        self._each0 = self._each()
        self._t0 = time.monotonic()
        self.sample_rss()
        return self

    def sample_rss(self) -> None:
        total = 0
        for pid in self.pids:
            with contextlib.suppress(OSError):
                total += rss_bytes(pid)
        self.peak_rss = max(self.peak_rss, total)

    def _each(self) -> list[float]:
        each = []
        for pid in self.pids:
            try:
                each.append(cpu_seconds(pid))
            except OSError:
                each.append(0.0)
        return each

    def stop(self) -> tuple[float, float]:
        """(CPU seconds used, wall seconds elapsed) since start()."""
        self.sample_rss()
        self._each1 = self._each()
        return sum(self._each1) - sum(self._each0), time.monotonic() - self._t0

    def each(self) -> list[float]:
        """CPU seconds each process used from start() to stop(), in the order of pids."""
        return [end - begin for end, begin in zip(self._each1, self._each0, strict=True)]


def wait_until(what: str, check: Callable[[], bool], timeout: float, interval: float = 0.05) -> float:
    """Poll check until true; the seconds it took. TimeoutError names what never happened."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)
    return time.monotonic() - start

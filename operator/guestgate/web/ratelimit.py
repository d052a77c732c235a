"""Per-IP call rate and per-link concurrency limits (pure; the clock is passed in).

Both answer with how long to wait, so the HTTP side can say 429 with Retry-After.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0
MAX_TRACKED_KEYS = 100_000  # a scan from many addresses must not grow memory without bound


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # seconds, >= 1 when refused


@dataclass
class RateLimiter:
    """At most `limit` events per key in any sliding window of WINDOW_SECONDS."""

    window: float = WINDOW_SECONDS
    _events: dict[str, deque[float]] = field(default_factory=dict)

    def check(self, key: str, limit: int, now: float) -> Decision:
        """Count an attempt for key if it is allowed."""
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= MAX_TRACKED_KEYS:
                self.prune(now)
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        if limit <= 0 or len(events) >= limit:
            wait = self.window if not events else events[0] + self.window - now
            return Decision(False, max(1, math.ceil(wait)))
        events.append(now)
        return Decision(True)

    def refund(self, key: str, now: float) -> None:
        """Take back the attempt check() counted for key at `now` (what it allowed was not done)."""
        events = self._events.get(key)
        if events and now in events:
            events.remove(now)

    def prune(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            del self._events[key]


@dataclass
class ConcurrencyLimiter:
    """At most `limit` calls in progress per link; a refused visitor is told to retry soon."""

    retry_after: int = 10
    _active: dict[str, int] = field(default_factory=dict)

    def acquire(self, key: str, limit: int) -> Decision:
        if self._active.get(key, 0) >= limit:
            return Decision(False, self.retry_after)
        self._active[key] = self._active.get(key, 0) + 1
        return Decision(True)

    def release(self, key: str) -> None:
        left = self._active.get(key, 0) - 1
        if left > 0:
            self._active[key] = left
        else:
            self._active.pop(key, None)

    def active(self, key: str) -> int:
        return self._active.get(key, 0)

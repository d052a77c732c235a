"""A work queue of keys: duplicates coalesce, keys can be added after a delay, a few workers.

A key is never reconciled twice at once, so a cluster's published configuration is never
written by two reconciles together; different keys run concurrently (each reconcile mostly
waits on the API server: one at a time, thousands of link status writes queue up serially).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (kind, "namespace/name")


class WorkQueue:
    def __init__(self) -> None:
        self._pending: dict[Key, None] = {}
        self._wakeup = asyncio.Event()
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._failures: dict[Key, int] = {}

    def add(self, key: Key) -> None:
        self._pending[key] = None
        self._wakeup.set()

    def pending(self) -> list[Key]:
        """The keys waiting for a worker, oldest first."""
        return list(self._pending)

    def add_after(self, key: Key, delay: float) -> None:
        """Reconcile `key` after `delay` seconds; an earlier pending timer for it wins."""
        loop = asyncio.get_running_loop()
        existing = self._timers.get(key)
        when = loop.time() + max(0.0, delay)
        if existing is not None and not existing.cancelled() and existing.when() <= when:
            return
        if existing is not None:
            existing.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: Key) -> float:
        """Schedule a retry with exponential backoff (1 s doubling to 5 min); returns the delay."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = min(300.0, 2.0 ** (failures - 1))
        self.add_after(key, delay)
        return delay

    def forget(self, key: Key) -> None:
        self._failures.pop(key, None)

    async def run(self, handle: Callable[[Key], Awaitable[None]], workers: int = 1) -> None:
        """Hand keys to `workers` concurrent reconciles; one key is never in two at once (so
        a cluster's configuration is written by one reconcile at a time), and a key added
        while it is in flight runs again after."""
        in_flight: set[Key] = set()
        slots = asyncio.Semaphore(workers)
        tasks: set[asyncio.Task[None]] = set()

        async def one(key: Key) -> None:
            try:
                await handle(key)
            finally:
                in_flight.discard(key)
                slots.release()
                self._wakeup.set()  # a key held back while this one ran may go now

        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while True:
                key = next((k for k in self._pending if k not in in_flight), None)
                if key is None:
                    break
                await slots.acquire()
                if key not in self._pending or key in in_flight:
                    slots.release()
                    continue
                del self._pending[key]
                in_flight.add(key)
                task = asyncio.create_task(one(key))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

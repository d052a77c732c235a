"""The work queue fed with sequences of keys, the way kopf's tests/reactor/test_queueing.py feeds
its multiplexer event streams: which reconciles run, in what order, how many at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from guestgate.controllers.runtime.queue import Key, WorkQueue

A: Key = ("GuestCluster", "ns/a")
B: Key = ("SipTrunk", "ns/b")
C: Key = ("GuestLink", "ns/c")


class Recorder:
    """A handler that logs every start and end, and can hold keys until released."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Key]] = []
        self.held: dict[Key, asyncio.Event] = {}
        self.running: set[Key] = set()
        self.most_at_once = 0

    def hold(self, key: Key) -> asyncio.Event:
        self.held[key] = asyncio.Event()
        return self.held[key]

    async def __call__(self, key: Key) -> None:
        self.log.append(("start", key))
        assert key not in self.running, f"{key} reconciled twice at once"
        self.running.add(key)
        self.most_at_once = max(self.most_at_once, len(self.running))
        try:
            if key in self.held:
                await self.held[key].wait()
            await asyncio.sleep(0)
        finally:
            self.running.discard(key)
            self.log.append(("end", key))

    def started(self) -> list[Key]:
        return [key for what, key in self.log if what == "start"]


@contextlib.asynccontextmanager
async def running(queue: WorkQueue, handle: Callable[[Key], Awaitable[None]], workers: int) -> AsyncIterator[None]:
    task = asyncio.create_task(queue.run(handle, workers=workers))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def settle(recorder: Recorder, count: int, timeout: float = 5.0) -> None:
    """Until `count` reconciles have ended (bounded)."""
    async with asyncio.timeout(timeout):
        while sum(1 for what, _ in recorder.log if what == "end") < count:
            await asyncio.sleep(0.01)


SEQUENCES = [
    # name, keys added before the workers start, workers, the reconciles that run (in order)
    ("one key, once", [A], 1, [A]),
    ("duplicates coalesce into one reconcile", [A, A, A], 1, [A]),
    ("interleaved duplicates coalesce, first-come order kept", [A, B, A, C, B], 1, [A, B, C]),
    ("more workers change nothing about which run", [A, B, A, C, B], 3, [A, B, C]),
]


@pytest.mark.parametrize(("name", "added", "workers", "expected"), SEQUENCES, ids=[s[0] for s in SEQUENCES])
async def test_keys_added_together(name: str, added: list[Key], workers: int, expected: list[Key]) -> None:
    queue, recorder = WorkQueue(), Recorder()
    for key in added:
        queue.add(key)
    async with running(queue, recorder, workers):
        await settle(recorder, len(expected))
        await asyncio.sleep(0.05)  # nothing more comes
    assert recorder.started() == expected, name


async def test_a_key_added_while_in_flight_runs_again_after_never_beside_itself() -> None:
    queue, recorder = WorkQueue(), Recorder()
    release = recorder.hold(A)
    queue.add(A)
    async with running(queue, recorder, workers=4):
        async with asyncio.timeout(5):
            while not recorder.running:
                await asyncio.sleep(0.01)
        queue.add(A)
        queue.add(A)  # two adds while in flight: one more reconcile
        queue.add(B)  # another key is not held back by A
        await settle(recorder, 1)
        assert recorder.log == [("start", A), ("start", B), ("end", B)]
        release.set()
        await settle(recorder, 3)
        await asyncio.sleep(0.05)
    assert recorder.started() == [A, B, A]


@pytest.mark.parametrize("workers", [1, 2])
async def test_never_more_reconciles_at_once_than_workers(workers: int) -> None:
    queue, recorder = WorkQueue(), Recorder()
    releases = [recorder.hold(key) for key in (A, B, C)]
    for key in (A, B, C):
        queue.add(key)
    async with running(queue, recorder, workers):
        async with asyncio.timeout(5):
            while len(recorder.running) < workers:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert len(recorder.running) == workers
        for release in releases:
            release.set()
        await settle(recorder, 3)
    assert recorder.most_at_once == workers and sorted(recorder.started()) == sorted([A, B, C])


async def test_a_later_timer_does_not_postpone_an_earlier_one() -> None:
    queue, recorder = WorkQueue(), Recorder()
    async with running(queue, recorder, workers=1):
        queue.add_after(A, 0.05)
        queue.add_after(A, 3600)  # later: the earlier timer stays
        queue.add_after(B, 3600)
        queue.add_after(B, 0.05)  # earlier: replaces the later one
        await settle(recorder, 2)
        await asyncio.sleep(0.1)
    assert sorted(recorder.started()) == sorted([A, B])


async def test_retry_backs_off_doubling_up_to_five_minutes_and_forget_starts_over() -> None:
    queue = WorkQueue()
    delays = [queue.retry(A) for _ in range(11)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
    assert queue.retry(B) == 1.0  # per key
    queue.forget(A)
    assert queue.retry(A) == 1.0
    for key in (A, B):  # no timer outlives the test
        queue.add_after(key, 0)

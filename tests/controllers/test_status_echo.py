"""A GuestLink's status write comes back as a watch event (one per link, 10,000 at scale): the
operator takes it into its cache and queues nothing, unless someone else's status or a spec
change arrived. Pure logic around a stand-in API edge (it records the patches it is handed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from guestgate.controllers import dispatch
from guestgate.controllers.context import Context
from guestgate.controllers.runtime.queue import WorkQueue

KEY = "a/l1"
OURS = {"phase": "Active", "observedGeneration": 1, "url": "https://guest.example.com/call/l1",
        "conditions": [{"type": "Published", "status": "True", "reason": "Served", "message": "3 of 3",
                        "observedGeneration": 1, "lastTransitionTime": "2026-12-06T00:00:00Z"}]}


class RecordingKube:
    def __init__(self) -> None:
        self.patches: list[tuple[str, str, str, dict[str, Any]]] = []

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append((kind, namespace, name, dict(status)))

    def event(self, *args: Any) -> None:
        pass


def body(status: dict[str, Any] | None = None, destination: str = "2001") -> dict[str, Any]:
    link: dict[str, Any] = {
        "apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink",
        "metadata": {"name": "l1", "namespace": "a", "generation": 1},
        "spec": {"clusterRef": "gc", "trunkRef": "t1", "destination": destination, "displayName": "Call"},
    }
    if status is not None:
        link["status"] = status
    return link


CASES: list[tuple[str, dict[str, Any], bool]] = [
    # what comes back after our write, whether the link is queued again
    ("our own write", body(OURS), False),
    ("our write with a field of someone else's beside it", body({**OURS, "note": "kept by a person"}), False),
    ("someone changed a field we own", body({**OURS, "phase": "Disabled"}), True),
    ("someone dropped our conditions", body({k: v for k, v in OURS.items() if k != "conditions"}), True),
    ("a spec change carrying our status", body(OURS, destination="2002"), True),
]


@pytest.mark.parametrize(("name", "event", "requeued"), CASES, ids=[c[0] for c in CASES])
def test_only_our_own_status_coming_back_is_not_queued(name: str, event: dict[str, Any], requeued: bool) -> None:
    async def scenario() -> list[tuple[str, str]]:
        kube = RecordingKube()
        ctx = Context(kube=kube)  # type: ignore[arg-type]  # the two methods a status write uses
        created = body()
        dispatch.on_event(ctx, "GuestLink", "ADDED", created)
        ctx.queue = WorkQueue()  # the ADDED event's reconcile ran
        assert await ctx.write_status(created, OURS, events=False)
        assert kube.patches == [("GuestLink", "a", "l1", OURS)]
        dispatch.on_event(ctx, "GuestLink", "MODIFIED", event)
        cached = ctx.cache.body("GuestLink", KEY)
        assert cached is not None and cached.get("status") == event.get("status")  # the cache follows either way
        return ctx.queue.pending()

    assert (("GuestLink", KEY) in asyncio.run(scenario())) is requeued, name


def test_a_link_deleted_and_made_again_is_reconciled_on_its_first_status_event() -> None:
    async def scenario() -> list[tuple[str, str]]:
        ctx = Context(kube=RecordingKube())  # type: ignore[arg-type]
        dispatch.on_event(ctx, "GuestLink", "ADDED", body())
        await ctx.write_status(body(), OURS, events=False)
        dispatch.on_event(ctx, "GuestLink", "DELETED", body(OURS))
        dispatch.on_event(ctx, "GuestLink", "ADDED", body())
        ctx.queue = WorkQueue()
        dispatch.on_event(ctx, "GuestLink", "MODIFIED", body(OURS))  # not written by this operator since
        return ctx.queue.pending()

    assert ("GuestLink", KEY) in asyncio.run(scenario())


"""A GuestCluster deleted while its reconcile waits on the API (a test namespace going away, a
user's kubectl delete): the reconcile stops quietly instead of failing on what the DELETED event
dropped (seen: KeyError on its TURN address, counted as a reconcile error). The API is a stand-in
that delivers the DELETED event while the TURN Service is read."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from guestgate.controllers.cluster import reconcile_cluster
from guestgate.controllers.context import Context
from guestgate.controllers.dispatch import on_event
from guestgate.kube.client import Kube

BODY: dict[str, Any] = {
    "apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster",
    "metadata": {"name": "gc", "namespace": "a", "uid": "u1", "generation": 1},
    "spec": {"publicURL": "https://call.example.com"},
}


class DeletedWhileRead:
    """Answers what the reconcile asks before the TURN Service; that read delivers the DELETED event."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ctx: Context | None = None
        self.writes: list[str] = []

    def create_if_missing(self, manifest: dict[str, Any]) -> bool:
        return False

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind == "Service" and self.ctx is not None:
            ctx, self.ctx = self.ctx, None
            # on the loop, as watch events are; the reconcile is parked in its to_thread meanwhile
            asyncio.run_coroutine_threadsafe(_deliver(ctx), self.loop).result(timeout=5)
        return None

    def __getattr__(self, name: str) -> Any:  # applies, status patches, events: none expected
        def write(*args: Any) -> None:
            self.writes.append(name)
        return write


async def _deliver(ctx: Context) -> None:
    on_event(ctx, "GuestCluster", "DELETED", BODY)


def test_a_cluster_deleted_during_its_reconcile_stops_it_without_an_error() -> None:
    async def run() -> tuple[Context, DeletedWhileRead]:
        kube = DeletedWhileRead(asyncio.get_running_loop())
        ctx = Context(kube=cast(Kube, kube))
        ctx.cache.put("GuestCluster", BODY)
        ctx.turn_endpoints["a/gc"] = None  # reconciled before: its TURN address (none) is known
        kube.ctx = ctx
        await reconcile_cluster(ctx, "a/gc")
        return ctx, kube

    ctx, kube = asyncio.run(run())
    assert kube.ctx is None  # the DELETED event came while the Service was read
    assert "a/gc" not in ctx.turn_endpoints  # nothing of the deleted cluster put back
    assert not [w for w in kube.writes if w in ("apply", "apply_if_changed", "patch_status")]

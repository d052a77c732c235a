"""From watch events to reconciles: the cache and the queue fed by events, each key handed to its
reconciler, failures retried with backoff, a periodic full pass. No kopf here (handlers.py
registers these with kopf)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from guestgate.controllers.cluster import publish_cluster, reconcile_cluster
from guestgate.controllers.context import Context
from guestgate.controllers.graph import keys_to_queue, spec_unchanged
from guestgate.controllers.link import reconcile_link
from guestgate.controllers.metrics import RECONCILE_SECONDS, RECONCILE_TOTAL, forget
from guestgate.controllers.runtime.cache import KINDS
from guestgate.controllers.runtime.queue import Key
from guestgate.controllers.trunk import reconcile_trunk
from guestgate.kube.connection import ApiException

log = logging.getLogger(__name__)

RECONCILERS = {
    "GuestCluster": reconcile_cluster,
    "SipTrunk": reconcile_trunk,
    "GuestLink": reconcile_link,
    "Publish": publish_cluster,  # a cluster's configuration alone, beside its reconcile
}
# A full pass now and then catches what no event announces (a trunk's credentials Secret edited).
RESYNC_SECONDS = 300.0


def schedule_retry(ctx: Context, key: Key, kind: str, error: Exception) -> None:
    """Count the failure and schedule a retry with backoff; the operator keeps running."""
    delay = ctx.queue.retry(key)
    RECONCILE_TOTAL.labels(kind=kind, result="error").inc()
    extra = {"kind": kind, "key": key[1], "retry_in": delay}
    if isinstance(error, ApiException):  # the API server's own words say it all
        log.error("reconcile failed; retrying", extra={**extra, "status": error.status, "body": error.body})
    else:
        log.error("reconcile failed; retrying", exc_info=error, extra=extra)


async def handle(ctx: Context, key: Key) -> None:
    kind, name = key
    started = time.monotonic()
    try:
        await RECONCILERS[kind](ctx, name)
    except ApiException as error:
        if error.status == 404 or (error.status == 403 and "being terminated" in str(error.body)):
            # Deleted while we looked, or its namespace is going away: the DELETED events
            # reconcile whatever depends on it.
            ctx.queue.forget(key)
            log.info("object or namespace went away during the reconcile", extra={"kind": kind, "key": name})
        else:
            schedule_retry(ctx, key, kind, error)
    except Exception as error:
        schedule_retry(ctx, key, kind, error)
    else:
        ctx.queue.forget(key)
        RECONCILE_TOTAL.labels(kind=kind, result="ok").inc()
    finally:
        RECONCILE_SECONDS.labels(kind=kind).observe(time.monotonic() - started)


async def resync(ctx: Context) -> None:
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        ctx.applied.clear()  # compare children with the live objects again (drift by hand)
        for kind in KINDS:
            for key in ctx.cache.keys(kind):
                ctx.queue.add((kind, key))


def on_event(ctx: Context, kind: str, event_type: str, body: dict[str, Any]) -> None:
    """A watch event: the cache follows it, and the keys that read the object are queued. Runs on
    the event loop (kopf runs sync handlers in threads, which raced the reconciles reading the
    cache and set the queue's asyncio.Event off the loop)."""
    meta = body.get("metadata", {})
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    previous = ctx.cache.body(kind, key)
    if event_type == "DELETED":
        ctx.cache.remove(kind, key)
        if kind == "GuestLink":
            ctx.written_link_status.pop(key, None)
        forget(kind, *key.split("/", 1))
        if kind == "GuestCluster":  # its children go with it: a cluster of the same name starts afresh
            ctx.applied.clear()
            ctx.publications.forget(key)
            ctx.turn_peers.pop(key, None)
            ctx.render_memos.pop(key, None)
            ctx.turn_endpoints.pop(key, None)
    else:
        ctx.cache.put(kind, body)
        if kind == "GuestLink" and spec_unchanged(previous, body) and ctx.is_own_link_status(key, body.get("status")):
            return  # our own status write coming back: nothing that reads the link changed
    for queued in keys_to_queue(ctx.cache, kind, event_type, body, previous):
        ctx.queue.add(queued)
        if queued[0] == "GuestCluster" and queued != (kind, key):  # a link or trunk changed
            ctx.queue.add(("Publish", queued[1]))

"""kopf registration only: watch events feed the cache and the queue; a few workers reconcile.

kopf's own state keeping (last-handled annotations, progress, finalizers, event posting) is not
used: every reconcile is level-based from the cache, so a restarted operator finds everything
already right and writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException

from guestgate.api.common import GROUP, VERSION
from guestgate.controllers.cluster import reconcile_cluster
from guestgate.controllers.context import Context
from guestgate.controllers.endpoints import EndpointSource
from guestgate.controllers.health import HealthMonitor
from guestgate.controllers.link import reconcile_link
from guestgate.controllers.metrics import RECONCILE_SECONDS, RECONCILE_TOTAL, forget
from guestgate.controllers.pusher import ConfigPusher
from guestgate.controllers.runtime.cache import KINDS
from guestgate.controllers.runtime.queue import Key
from guestgate.controllers.trunk import reconcile_trunk
from guestgate.kube.client import Kube
from guestgate.render.names import FIELD_MANAGER

log = logging.getLogger(__name__)

PLURALS = {"GuestCluster": "guestclusters", "SipTrunk": "siptrunks", "GuestLink": "guestlinks"}
RECONCILERS = {"GuestCluster": reconcile_cluster, "SipTrunk": reconcile_trunk, "GuestLink": reconcile_link}
# A full pass now and then catches what no event announces (a trunk's credentials Secret edited).
RESYNC_SECONDS = 300.0
# Reconciles at once (never two of one key): they mostly wait on the API server.
WORKERS = 4

_state: dict[str, Any] = {}


def context() -> Context:
    ctx = _state.get("ctx")
    if ctx is None:
        raise RuntimeError("operator not started")
    assert isinstance(ctx, Context)
    return ctx


def dependents(ctx: Context, kind: str, body: dict[str, Any]) -> list[Key]:
    """The keys to reconcile when `body` of `kind` changes: itself and what reads it."""
    meta = body.get("metadata", {})
    ns, name = meta.get("namespace", ""), meta.get("name", "")
    spec = body.get("spec", {})
    keys: list[Key] = [(kind, f"{ns}/{name}")]
    if kind == "GuestCluster":
        for other in ("SipTrunk", "GuestLink"):
            for key in ctx.cache.keys(other):
                other_body = ctx.cache.body(other, key) or {}
                if key.startswith(f"{ns}/") and other_body.get("spec", {}).get("clusterRef") == name:
                    keys.append((other, key))
        return keys
    cluster_ref = spec.get("clusterRef")
    if cluster_ref:
        keys.append(("GuestCluster", f"{ns}/{cluster_ref}"))
    if kind == "SipTrunk":  # links read their trunk
        for key in ctx.cache.keys("GuestLink"):
            if (
                key.startswith(f"{ns}/")
                and (ctx.cache.body("GuestLink", key) or {}).get("spec", {}).get("trunkRef") == name
            ):
                keys.append(("GuestLink", key))
    elif spec.get("slug"):  # links read the siblings that ask for the same slug
        keys += [("GuestLink", link.key) for link in ctx.cache.links_with_slug(ns, spec["slug"])]
    return keys


def spec_unchanged(previous: dict[str, Any] | None, body: dict[str, Any]) -> bool:
    """Only the status (or other metadata) moved: nothing that reads this object needs a
    reconcile. Our own status writes come back as such events, one per link."""
    if previous is None:
        return False
    return bool(
        previous.get("spec") == body.get("spec")
        and previous["metadata"].get("deletionTimestamp") == body["metadata"].get("deletionTimestamp")
    )


def schedule_retry(ctx: Context, key: Key, kind: str, error: Exception) -> None:
    """Count the failure and schedule a retry with backoff; the operator keeps running."""
    delay = ctx.queue.retry(key)
    RECONCILE_TOTAL.labels(kind=kind, result="error").inc()
    extra = {"kind": kind, "key": key[1], "retry_in": delay}
    if isinstance(error, ApiException):  # the API server's own words say it all
        log.error("reconcile failed; retrying", extra={**extra, "status": error.status, "body": error.body})
    else:
        log.error("reconcile failed; retrying", exc_info=error, extra=extra)


async def handle(key: Key) -> None:
    ctx = context()
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


async def _resync(ctx: Context) -> None:
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        ctx.applied.clear()  # compare children with the live objects again (drift by hand)
        for kind in KINDS:
            for key in ctx.cache.keys(kind):
                ctx.queue.add((kind, key))


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.enabled = False  # events are posted by us, on real changes only
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    kube = memo.get("kube") or Kube.from_environment(FIELD_MANAGER)
    ctx = Context(kube=kube)
    # Know the whole world before the first reconcile: see controllers.cache.
    for kind in KINDS:
        for body in await ctx.io(kube.list, kind):
            ctx.cache.put(kind, body)
            ctx.queue.add((kind, f"{body['metadata']['namespace']}/{body['metadata']['name']}"))
    _state["ctx"] = ctx
    endpoints = EndpointSource(kube, memo.get("signal_endpoints") or {})
    monitor = HealthMonitor(ctx, endpoints)
    pusher = ConfigPusher(ctx, endpoints)
    ctx.wake_pusher = pusher.wake
    _state["tasks"] = [
        asyncio.create_task(pusher.run()),
        asyncio.create_task(ctx.queue.run(handle, workers=WORKERS)),
        asyncio.create_task(_resync(ctx)),
        asyncio.create_task(monitor.run()),
    ]
    log.info("operator started", extra={k: len(ctx.cache.keys(k)) for k in KINDS})


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    for task in _state.pop("tasks", []):
        task.cancel()


def _on_event(kind: str, event_type: str, body: kopf.Body) -> None:
    """Runs on the event loop (the handlers are async: kopf runs sync ones in threads, which
    raced the reconciles reading the cache and set the queue's asyncio.Event off the loop)."""
    ctx = _state.get("ctx")
    if ctx is None:
        return  # the startup LIST covers what happened before
    plain = dict(body)
    meta = plain.get("metadata", {})
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    previous = ctx.cache.body(kind, key)
    if event_type == "DELETED":
        ctx.cache.remove(kind, key)
        forget(kind, *key.split("/", 1))
        if kind == "GuestCluster":  # its children go with it: a cluster of the same name starts afresh
            ctx.applied.clear()
            ctx.publications.forget(key)
    else:
        ctx.cache.put(kind, plain)
    if event_type != "DELETED" and spec_unchanged(previous, plain):
        ctx.queue.add((kind, key))
        return
    keys = dependents(ctx, kind, plain)
    if previous is not None:  # a changed clusterRef: the old cluster republishes too
        keys += dependents(ctx, kind, previous)
    for k in keys:
        ctx.queue.add(k)


@kopf.on.event(GROUP, VERSION, PLURALS["GuestCluster"])
async def guestcluster_event(type: str, body: kopf.Body, **_: Any) -> None:
    _on_event("GuestCluster", type, body)


@kopf.on.event(GROUP, VERSION, PLURALS["SipTrunk"])
async def siptrunk_event(type: str, body: kopf.Body, **_: Any) -> None:
    _on_event("SipTrunk", type, body)


@kopf.on.event(GROUP, VERSION, PLURALS["GuestLink"])
async def guestlink_event(type: str, body: kopf.Body, **_: Any) -> None:
    _on_event("GuestLink", type, body)


@kopf.on.event("apps", "v1", "statefulsets", labels={"app.kubernetes.io/managed-by": "guestgate-operator"})
async def statefulset_event(body: kopf.Body, **_: Any) -> None:
    """Pods becoming ready change the GuestCluster's status (and the TURN server's peers)."""
    _owner_changed(body)


@kopf.on.event("apps", "v1", "deployments", labels={"app.kubernetes.io/managed-by": "guestgate-operator"})
async def deployment_event(body: kopf.Body, **_: Any) -> None:
    """TURN pods becoming ready change the TurnReady condition."""
    _owner_changed(body)


@kopf.on.event("", "v1", "services", labels={"app.kubernetes.io/managed-by": "guestgate-operator"})
async def service_event(body: kopf.Body, **_: Any) -> None:
    """A load balancer address for the TURN Service becomes the page's TURN URLs."""
    _owner_changed(body)


def _owner_changed(body: kopf.Body) -> None:
    ctx = _state.get("ctx")
    if ctx is None:
        return
    for owner in body.get("metadata", {}).get("ownerReferences", []):
        if owner.get("kind") == "GuestCluster":
            ctx.queue.add(("GuestCluster", f"{body['metadata']['namespace']}/{owner['name']}"))

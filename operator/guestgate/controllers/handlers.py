"""kopf registration only: watch events feed the cache and the queue; a few workers reconcile.

kopf's own state keeping (last-handled annotations, progress, finalizers, event posting) is not
used: every reconcile is level-based from the cache, so a restarted operator finds everything
already right and writes nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
from typing import Any

import kopf

from guestgate.api.common import GROUP, VERSION
from guestgate.controllers import dispatch
from guestgate.controllers.context import Context
from guestgate.controllers.endpoints import EndpointSource
from guestgate.controllers.health import HealthMonitor
from guestgate.controllers.pusher import ConfigPusher
from guestgate.controllers.runtime.cache import KINDS
from guestgate.controllers.turn_peers import TurnPeersPusher
from guestgate.kube import connection
from guestgate.kube.client import Kube
from guestgate.render.names import FIELD_MANAGER

log = logging.getLogger(__name__)

PLURALS = {"GuestCluster": "guestclusters", "SipTrunk": "siptrunks", "GuestLink": "guestlinks"}
# Reconciles at once (never two of one key): they mostly wait on the API server.
WORKERS = 4
LIST_PAGE = 500  # objects per page of a first list (ours and kopf's)

_state: dict[str, Any] = {}


def service_account_login() -> kopf.ConnectionInfo | None:
    """In a pod: the API server at KUBERNETES_SERVICE_HOST and PORT with the service account's
    token and CA (kopf's own service-account login names kubernetes.default.svc, which needs
    cluster DNS: a cluster without it never gave the operator a watch). None elsewhere."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token_file = connection.SERVICE_ACCOUNT / "token"
    if not (host and port and token_file.exists()):
        return None
    host = f"[{host}]" if ":" in host else host
    namespace_file = connection.SERVICE_ACCOUNT / "namespace"
    return kopf.ConnectionInfo(
        server=f"https://{host}:{port}",
        ca_path=str(connection.SERVICE_ACCOUNT / "ca.crt"),
        scheme="Bearer",
        token=token_file.read_text().strip(),
        default_namespace=namespace_file.read_text().strip() if namespace_file.exists() else None,
    )


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's watches log in where guestgate.kube does: the service account in a pod, else the
    kubeconfig (kopf's own login for it)."""
    return service_account_login() or kopf.login_with_kubeconfig(**kwargs)


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's diff base (the last handled state, for on.create/on.update handlers): this operator
    has none (every reconcile is level-based from the cache), yet kopf deep-copied every body of
    every event to build one, a tenth of the operator's CPU at 10,000 links."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.enabled = False  # events are posted by us, on real changes only
    settings.persistence.diffbase_storage = NoDiffBase()
    # kopf holds each object's events back for batch_window (0.1 s) waiting for more: an edit
    # waited that long before anyone looked at it. Per-object workers idle out sooner too.
    settings.batching.batch_window = 0.01
    settings.batching.idle_timeout = 1.0
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    # kopf's own first list of each kind, a page at a time (10,000 links at once: tens of MiB).
    settings.watching.chunk_size = LIST_PAGE
    kube = memo.get("kube") or Kube.from_environment(FIELD_MANAGER)
    ctx = Context(kube=kube)
    # Know the whole world before the first reconcile: see controllers.runtime.cache. Limited to
    # namespaces, the operator may only list there (a Role per namespace, no cluster-wide list).
    namespaces: list[str | None] = list(memo.get("namespaces") or []) or [None]
    for kind in KINDS:
        for namespace in namespaces:
            token = ""
            while True:  # a page at a time, each slimmed into the cache before the next is read
                page, token = await ctx.io(kube.list_page, kind, namespace, None, LIST_PAGE, token)
                for body in page:
                    ctx.cache.put(kind, body)
                    ctx.queue.add((kind, f"{body['metadata']['namespace']}/{body['metadata']['name']}"))
                if not token:
                    break
    _state["ctx"] = ctx
    endpoints = EndpointSource(kube, memo.get("signal_endpoints") or {})
    monitor = HealthMonitor(ctx, endpoints)
    turn_pusher = TurnPeersPusher(ctx)
    ctx.wake_turn_pusher = turn_pusher.wake
    _state["tasks"] = [
        asyncio.create_task(turn_pusher.run()),
        asyncio.create_task(ctx.queue.run(functools.partial(dispatch.handle, ctx), workers=WORKERS)),
        asyncio.create_task(dispatch.resync(ctx)),
        asyncio.create_task(monitor.run()),
        asyncio.create_task(_give_back_memory()),
    ]
    if memo.get("config_push", True):  # else the pods follow their mounted ConfigMaps only
        pusher = ConfigPusher(ctx, endpoints)
        ctx.wake_pusher = pusher.wake
        _state["tasks"].append(asyncio.create_task(pusher.run()))
    log.info("operator started", extra={k: len(ctx.cache.keys(k)) for k in KINDS})


TRIM_SECONDS = 10.0


async def _give_back_memory() -> None:
    """glibc keeps the heap's freed pages (megabytes of configuration rendered, encoded and sent
    at each change of 10,000 links) until told: hand them back to the system now and then."""
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    while True:
        await asyncio.sleep(TRIM_SECONDS)
        trim(0)


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    for task in _state.pop("tasks", []):
        task.cancel()


def _on_event(kind: str, event_type: str, body: kopf.Body) -> None:
    ctx = _state.get("ctx")
    if ctx is None:
        return  # the startup LIST covers what happened before
    dispatch.on_event(ctx, kind, event_type, dict(body))


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

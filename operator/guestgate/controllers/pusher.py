"""Push each cluster's rendered configuration to its pods over their admin API, and learn what
every pod serves (the Published condition of links and the cluster's status read it).

The kubelet brings a mounted ConfigMap up to date a minute or so after it changes; the pods serve
an edit within a second when it is pushed. A pod that serves a configuration pushed lately is
sent only the files that changed since (one links shard for an edit to one of 10,000 links).
The ConfigMap stays the pods' start and fallback source. A round per cluster: list its pods
(ready or starting), ask each what it serves (`GET /v1/status`), push to those that serve
something else (`PUT /v1/config`), then queue the cluster (its status counts the pods serving)
and the links whose status waited for the pods.
Rounds run at once when a new configuration is rendered, every second while a pod lags or a link
waits, every few seconds otherwise (a restarted pod is caught up within that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from guestgate.controllers.context import Context
from guestgate.controllers.endpoints import Endpoint, EndpointSource
from guestgate.controllers.publish import Publication
from guestgate.signal.admin_client import AdminClient, AdminError, config_payload

log = logging.getLogger(__name__)

FAST_SECONDS = 1.0
SLOW_SECONDS = 5.0
UNREACHABLE = ""  # the digest recorded for a ready pod that did not answer: it serves nothing we know


class ConfigPusher:
    def __init__(self, ctx: Context, endpoints: EndpointSource) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self._wake = asyncio.Event()
        self._refused: dict[str, str] = {}  # pod -> digest it refused (logged once)
        self._payloads: dict[tuple[str, str], bytes] = {}  # (digest, base) -> PUT /v1/config body
        self._tokens: dict[str, str] = {}  # cluster key -> admin token (read again after a 401)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            lagging = False
            try:
                lagging = await self.round()
            except Exception:  # keep pushing whatever one round met
                log.exception("config push round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FAST_SECONDS if lagging else SLOW_SECONDS)

    async def round(self) -> bool:
        """One pass over every cluster; True when a pod still lags or a link still waits."""
        lagging = False
        for key in self.ctx.publications.clusters():
            namespace, name = key.split("/", 1)
            publication = self.ctx.publications.get(key)
            if publication is None:
                continue
            if self.ctx.cache.cluster(namespace, name) is None:
                self.ctx.publications.forget(key)
                continue
            lagging |= await self._sync(key, publication)
        return lagging

    async def _sync(self, key: str, publication: Publication) -> bool:
        namespace, name = key.split("/", 1)
        pods = await self.ctx.io(self.endpoints.pods, namespace, name)
        token = self._tokens.get(key)
        if pods and not token:
            token = await self.ctx.io(self.endpoints.token, namespace, name)
            if token:
                self._tokens[key] = token
        if not token:
            pods = []
        digest = publication.digest
        self._payloads = {k: v for k, v in self._payloads.items() if k[0] == digest}
        served = await asyncio.gather(*(self._pod(pod, token or "", publication) for pod in pods))
        now_serving = {pod.pod: got for pod, got in zip(pods, served, strict=True) if pod.ready}
        if now_serving != publication.pods:
            publication.pods = now_serving
            self.ctx.queue.add(("GuestCluster", key))  # its status counts the pods serving
        for link in self.ctx.publications.due_links(key):
            self.ctx.queue.add(("GuestLink", link))
        if publication.digest != digest:
            return True  # rendered again meanwhile: another round at once
        return any(got != digest for got in served) or bool(publication.waiting)

    def _payload(self, publication: Publication, base: str) -> bytes:
        """The body of the push to a pod serving `base`: the files that changed since, when that
        configuration is remembered, else every file (encoded once for every pod: megabytes at
        10,000 links)."""
        key = (publication.digest, base)
        if key not in self._payloads:
            changes = publication.changes_since(base) if base else None
            if changes is None:
                self._payloads[key] = config_payload(publication.files)
            else:
                self._payloads[key] = config_payload(changes[0], base=base, removed=changes[1])
        return self._payloads[key]

    async def _pod(self, pod: Endpoint, token: str, publication: Publication) -> str:
        """The digest the pod serves after this round (pushed when it lagged)."""
        client = AdminClient(pod.url, token, timeout=5.0)
        digest = publication.digest
        try:
            status = await client.status()
            serving = str((status.get("config") or {}).get("digest", ""))
            if serving == digest:
                return serving
            started = time.monotonic()
            payload = self._payload(publication, serving)
            try:
                answer = await client.push_config(payload)
            except AdminError as error:
                full = self._payload(publication, "")
                if error.status not in (400, 409) or payload is full:
                    raise
                # It serves another configuration meanwhile (409), or is an older pod that takes
                # only whole configurations (400): every file.
                answer = await client.push_config(full)
        except AdminError as error:
            if error.status == 401:
                self._tokens.clear()  # the admin Secret was replaced: read it again
            elif error.status == 400 and self._refused.get(pod.pod) != digest:
                # The pod refuses the configuration (an older pod image during an upgrade?).
                self._refused[pod.pod] = digest
                log.warning("pod refused the configuration", extra={"pod": pod.pod, "error": error.message})
            elif error.status != 400 and pod.ready:
                log.info("pod not reached for the configuration", extra={"pod": pod.pod, "error": error.message})
            return UNREACHABLE
        log.info(
            "configuration pushed",
            extra={"pod": pod.pod, "digest": answer.get("digest"), "seconds": round(time.monotonic() - started, 3)},
        )
        return str(answer.get("digest", UNREACHABLE))

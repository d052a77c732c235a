"""Push each managed TURN server's allow-list (the signalling pods' addresses) to its pods' agents.

The reconcile of a GuestCluster writes the addresses into the TURN ConfigMap, which the kubelet
brings into a running pod only a minute or so later: until then a signalling pod that moved could
not be relayed to (the visitor's audio stops), and its old address, maybe another pod's by now,
still could. So the operator also pushes them to every TURN pod's agent (`PUT /v1/peers` on its
admin port, guestgate.turn.agent), which coturn applies within seconds. Level-based: a round asks
each TURN pod what it has in force (`GET /v1/peers`, a digest) and pushes where it differs or was
not pushed (still the ConfigMap's file); rounds
run at once when a reconcile finds new addresses, every second while a pod lags, every few
seconds otherwise (a restarted TURN pod, back on its ConfigMap, is caught up within that).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from guestgate.controllers.context import Context
from guestgate.kube.client import Manifest
from guestgate.render import names
from guestgate.render.turn import ADMIN_TOKEN_KEY
from guestgate.turn import peers

log = logging.getLogger(__name__)

FAST_SECONDS = 1.0
SLOW_SECONDS = 5.0
TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class TurnPod:
    name: str
    url: str  # the agent's admin API


def turn_pods(pods: list[Manifest]) -> list[TurnPod]:
    """The TURN pods with an address that are not going away, and their agents' URLs (the port
    is the one the pod declares as `admin`)."""
    found = []
    for pod in pods:
        status = pod.get("status") or {}
        if not status.get("podIP") or pod.get("metadata", {}).get("deletionTimestamp"):
            continue
        ports = [p for c in (pod.get("spec") or {}).get("containers") or [] for p in c.get("ports") or []]
        port = next((p.get("containerPort") for p in ports if p.get("name") == "admin"), None)
        if not isinstance(port, int):
            continue  # a pod of an older image without the agent: the ConfigMap reaches it
        host = f"[{status['podIP']}]" if ":" in status["podIP"] else status["podIP"]
        found.append(TurnPod(pod["metadata"]["name"], f"http://{host}:{port}"))
    return sorted(found, key=lambda p: p.name)


class TurnPeersPusher:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._wake = asyncio.Event()
        self._failed: set[str] = set()  # pods whose last push failed (logged once until it works)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session:
            while True:
                self._wake.clear()
                lagging = False
                try:
                    lagging = await self.round(session)
                except Exception:  # keep pushing whatever one round met
                    log.exception("TURN allow-list push round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FAST_SECONDS if lagging else SLOW_SECONDS)

    async def round(self, session: aiohttp.ClientSession) -> bool:
        """One pass over every cluster with a managed TURN server; True when a pod still lags."""
        lagging = False
        for key, wanted in list(self.ctx.turn_peers.items()):
            namespace, name = key.split("/", 1)
            selector = ",".join(f"{k}={v}" for k, v in names.turn_selector_labels(name).items())
            pods = turn_pods(await self.ctx.io(self.ctx.kube.list, "Pod", namespace, selector))
            if not pods:
                continue
            secret = await self.ctx.io(self.ctx.kube.get, "Secret", namespace, names.turn_admin_secret_name(name))
            data = (secret or {}).get("data") or {}
            if ADMIN_TOKEN_KEY not in data:
                continue
            token = base64.b64decode(data[ADMIN_TOKEN_KEY]).decode()
            done = await asyncio.gather(*(self._pod(session, key, pod, token, wanted) for pod in pods))
            lagging |= not all(done)
        return lagging

    async def _pod(self, session: aiohttp.ClientSession, key: str, pod: TurnPod, token: str,
                   wanted: list[str]) -> bool:
        """True when the pod has `wanted` in force (now or after this push)."""
        digest = peers.digest(wanted)
        try:
            async with session.get(pod.url + "/v1/peers") as response:
                served: Any = await response.json(content_type=None)
            # Pushed even when the ConfigMap's file already says the same (a TURN pod started after
            # the list was written): from then on the pod follows the operator, never the
            # kubelet's late copy, and every TURN pod is in the same state.
            if isinstance(served, dict) and served.get("digest") == digest and served.get("source") == "pushed":
                self._failed.discard(pod.name)
                return True
            headers = {"Authorization": f"Bearer {token}"}
            async with session.put(pod.url + "/v1/peers", json={"peers": wanted}, headers=headers) as response:
                answer: Any = await response.json(content_type=None)
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {answer}")
        except (aiohttp.ClientError, TimeoutError, ValueError, RuntimeError) as error:
            if pod.name not in self._failed:
                log.warning("could not push the TURN allow-list", extra={"cluster": key, "pod": pod.name,
                                                                         "error": str(error)})
                self._failed.add(pod.name)
            return False
        self._failed.discard(pod.name)
        log.info("TURN allow-list pushed", extra={"cluster": key, "pod": pod.name, "peers": len(wanted)})
        return True

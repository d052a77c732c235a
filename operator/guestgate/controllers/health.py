"""Health checks and keepalive states, gathered from the signalling pods' admin APIs.

The monitor never writes to the API server: it keeps what the pods said in memory and queues the
SipTrunk, whose reconcile (the one writer of its status) folds it in. A check runs
- after the trunk profile changed (and every pod runs the new one),
- when the `guestgate.io/health-check` annotation gets a new value (on demand),
- every spec.healthCheck.intervalSeconds when that is not 0.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from guestgate.api.objects import SipTrunk
from guestgate.controllers.context import Context
from guestgate.controllers.endpoints import Endpoint, EndpointSource
from guestgate.render.conditions import ConditionChange
from guestgate.render.health import PodCheck, health_check_result, reachable_condition
from guestgate.render.names import HEALTH_CHECK_ANNOTATION
from guestgate.render.profile import render_trunk_profile
from guestgate.signal.admin_client import AdminClient, AdminError

log = logging.getLogger(__name__)

TICK_SECONDS = 2.0
STATE_POLL_SECONDS = 10.0


@dataclass
class TrunkHealth:
    result: dict[str, Any] | None = None
    reachable: ConditionChange | None = None
    states: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # pod -> trunk state
    running: bool = False


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def due_trigger(trunk: SipTrunk, last: dict[str, Any] | None, profile_hash: str, pods_on_profile: bool,
                now: float) -> str | None:
    """Why a check is due now, or None. Pure, for the tables."""
    spec = trunk.spec.health_check
    if not spec.destinations:
        return None
    request = trunk.metadata.annotations.get(HEALTH_CHECK_ANNOTATION, "")
    if request and (last is None or last.get("request") != request):
        return "annotation"
    if (last is None or last.get("profileHash") != profile_hash) and pods_on_profile:
        return "profile-change"
    if last is not None and spec.interval_seconds and now - _parse_time(last["time"]) >= spec.interval_seconds:
        return "interval"
    return None


class HealthMonitor:
    def __init__(self, ctx: Context, endpoints: EndpointSource) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.store: dict[str, TrunkHealth] = ctx.health
        self._last_poll = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            try:
                await self._tick()
            except Exception:  # keep monitoring whatever one tick met
                log.exception("health monitor tick failed")
            await asyncio.sleep(TICK_SECONDS)

    def _trunks(self) -> list[SipTrunk]:
        out = []
        for key in self.ctx.cache.keys("SipTrunk"):
            namespace, name = key.split("/", 1)
            trunk = self.ctx.cache.trunk(namespace, name)
            if trunk is not None and self.ctx.cache.cluster(namespace, trunk.spec.cluster_ref) is not None:
                out.append(trunk)
        return out

    async def _tick(self) -> None:
        trunks = self._trunks()
        if time.monotonic() - self._last_poll >= STATE_POLL_SECONDS:
            self._last_poll = time.monotonic()
            await self._poll_states(trunks)
        for trunk in trunks:
            health = self.store.setdefault(trunk.key, TrunkHealth())
            if health.running:
                continue
            profile_hash = render_trunk_profile(trunk).hash()
            on_profile = bool(health.states) and all(
                (s or {}).get("profileHash") == profile_hash for s in health.states.values()
            )
            last = health.result or trunk.status.get("lastHealthCheck")
            trigger = due_trigger(trunk, last, profile_hash, on_profile, time.time())
            if trigger is not None:
                health.running = True
                task = asyncio.create_task(self._check(trunk, trigger, profile_hash))
                self._tasks.add(task)  # a reference, so the task is not garbage-collected mid-check
                task.add_done_callback(self._tasks.discard)

    async def _poll_states(self, trunks: list[SipTrunk]) -> None:
        by_cluster: dict[tuple[str, str], list[SipTrunk]] = {}
        for trunk in trunks:
            by_cluster.setdefault((trunk.metadata.namespace, trunk.spec.cluster_ref), []).append(trunk)
        for (namespace, cluster), members in by_cluster.items():
            pods, token = await self._targets(namespace, cluster)
            answers = await asyncio.gather(*(self._get_states(pod, token) for pod in pods))
            for trunk in members:
                health = self.store.setdefault(trunk.key, TrunkHealth())
                health.states = {
                    pod.pod: (None if states is None else states.get(trunk.key))
                    for pod, states in zip(pods, answers, strict=True)
                }
                reachable = reachable_condition(health.states, trunk.spec.keepalive.interval_seconds)
                if reachable != health.reachable:
                    health.reachable = reachable
                    self.ctx.queue.add(("SipTrunk", trunk.key))

    async def _targets(self, namespace: str, cluster: str) -> tuple[list[Endpoint], str]:
        pods = await self.ctx.io(self.endpoints.endpoints, namespace, cluster)
        token = await self.ctx.io(self.endpoints.token, namespace, cluster) if pods else None
        return (pods, token) if token else ([], "")

    async def _get_states(self, pod: Endpoint, token: str) -> dict[str, dict[str, Any]] | None:
        try:
            states = await AdminClient(pod.url, token).trunks()
        except AdminError:
            return None
        return {state["trunk"]: state for state in states if isinstance(state, dict) and "trunk" in state}

    async def _check(self, trunk: SipTrunk, trigger: str, profile_hash: str) -> None:
        health = self.store[trunk.key]
        try:
            pods, token = await self._targets(trunk.metadata.namespace, trunk.spec.cluster_ref)
            spec = trunk.spec.health_check
            budget = (spec.timeout_seconds + 10) * len(spec.destinations) + 10
            request = trunk.metadata.annotations.get(HEALTH_CHECK_ANNOTATION, "")
            log.info("health check", extra={"trunk": trunk.key, "trigger": trigger, "pods": len(pods)})
            checks = await asyncio.gather(*(self._run_on_pod(pod, token, trunk, trigger, budget)
                                            for pod in pods))
            health.result = health_check_result(checks, datetime.now(UTC), trigger, profile_hash, request)
            self.ctx.queue.add(("SipTrunk", trunk.key))
        finally:
            health.running = False

    async def _run_on_pod(self, pod: Endpoint, token: str, trunk: SipTrunk, trigger: str, budget: float) -> PodCheck:
        try:
            result = await AdminClient(pod.url, token).health_check(trunk.key, trigger=trigger, timeout=budget)
        except AdminError as error:
            return PodCheck(pod.pod, error=str(error))
        return PodCheck(pod.pod, result=result)

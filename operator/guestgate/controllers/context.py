"""What every reconciler gets: the API edge, the cache, the queue and the clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from guestgate.api.objects import Object
from guestgate.controllers.runtime.cache import Cache, Parsed
from guestgate.controllers.runtime.queue import WorkQueue
from guestgate.kube.client import Kube, Manifest
from guestgate.render.conditions import ConditionChange, get_condition, set_conditions

R = TypeVar("R")
T = TypeVar("T", bound=Object[Any])


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    kube: Kube
    cache: Cache = field(default_factory=Cache)
    queue: WorkQueue = field(default_factory=WorkQueue)
    clock: Callable[[], datetime] = utcnow
    # What the signalling pods said about each trunk (controllers.health fills it; trunk reconcile reads it).
    health: dict[str, Any] = field(default_factory=dict)

    async def io(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a blocking API call off the event loop."""
        return await asyncio.to_thread(fn, *args)

    async def write_status(self, body: Manifest, desired: dict[str, Any], events: bool = True) -> bool:
        """Merge-patch the status if it would change; post an event per condition transition."""
        current = body.get("status") or {}
        if all(current.get(k) == v for k, v in desired.items()):
            return False
        meta = body["metadata"]
        await self.io(self.kube.patch_status, body["kind"], meta["namespace"], meta["name"], desired)
        if events:
            for condition in desired.get("conditions", []):
                before = get_condition(current.get("conditions", []), condition["type"])
                if (
                    before is None
                    or before.get("status") != condition["status"]
                    or before.get("reason") != condition["reason"]
                ):
                    kind = "Normal" if condition["status"] != "False" else "Warning"
                    await self.io(
                        self.kube.event,
                        body,
                        kind,
                        condition["reason"],
                        f"{condition['type']}={condition['status']}: {condition['message']}",
                    )
        return True

    async def load(
        self, kind: str, key: str, model: type[T], invalid_condition: str, **invalid_extra: Any
    ) -> tuple[Manifest, T] | None:
        """The cached body and its parsed form; None when it is gone or does not parse (then the
        status says why, under `invalid_condition`)."""
        body = self.cache.body(kind, key)
        if body is None:
            return None  # deleted: owner references and DELETED events take care of the rest
        cached = self.cache.parsed(kind, key)
        parsed = cached if cached is not None and cached.body is body else Parsed(body, model)
        if parsed.obj is None:
            await self.write_invalid(body, invalid_condition, parsed.error, **invalid_extra)
            return None
        return body, parsed.obj

    async def write_invalid(self, body: Manifest, condition_type: str, error: str | None, **extra: Any) -> None:
        """The spec does not parse (the CRD schema should have caught it): say so in status."""
        generation = body["metadata"].get("generation", 0)
        change = ConditionChange(condition_type, "False", "InvalidSpec", error or "spec does not parse")
        conditions = set_conditions(
            (body.get("status") or {}).get("conditions", []), [change], generation, self.clock()
        )
        await self.write_status(body, {"conditions": conditions, "observedGeneration": generation, **extra})

"""What every reconciler gets: the API edge, the cache, the queue and the clock."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from guestgate.api.objects import Object
from guestgate.config.schema import content_hash
from guestgate.controllers.publish import Publications
from guestgate.controllers.runtime.cache import Cache, Parsed
from guestgate.controllers.runtime.queue import WorkQueue
from guestgate.kube.client import Kube, Manifest
from guestgate.render.conditions import ConditionChange, get_condition, set_conditions
from guestgate.render.link_memo import RenderMemo
from guestgate.render.turn import TurnEndpoint

R = TypeVar("R")
T = TypeVar("T", bound=Object[Any])


def utcnow() -> datetime:
    return datetime.now(UTC)


def wants_event(before: dict[str, Any] | None, after: dict[str, Any]) -> bool:
    """An Event only where a person would want one: a condition turning False (or False for
    another reason), and its recovery. Not for things coming up as expected, nor for the
    Unknown steps in between (a link publishing), which at 10,000 links are 10,000 Events."""
    was = before.get("status") if before is not None else None
    if after["status"] == "False":
        return was != "False" or before is None or before.get("reason") != after["reason"]
    return was == "False" and after["status"] == "True"


def manifest_fingerprint(manifest: Manifest) -> str:
    """What a manifest says, hashed: its data (a ConfigMap's megabytes of links) by the bytes, not
    through a sorted JSON encoding of everything."""
    data = manifest.get("data")
    if not isinstance(data, dict):
        return content_hash(json.dumps(manifest, sort_keys=True))
    sha = hashlib.sha256(json.dumps({**manifest, "data": sorted(data)}, sort_keys=True).encode())
    for name in sorted(data):
        sha.update(b"\0" + str(data[name]).encode())
    return sha.hexdigest()[:16]


def status_digest(status: dict[str, Any], keys: tuple[str, ...]) -> bytes:
    """The digest of `keys` of a status (the fields this operator owns; others may be anyone's)."""
    encoded = json.dumps([status.get(key) for key in keys], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(encoded.encode(), digest_size=16).digest()


_KEY_SETS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _interned_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple per set of status keys, shared by every link (10,000 links, one copy)."""
    return _KEY_SETS.setdefault(keys, keys)


@dataclass
class Context:
    kube: Kube
    cache: Cache = field(default_factory=Cache)
    queue: WorkQueue = field(default_factory=WorkQueue)
    clock: Callable[[], datetime] = utcnow
    # What the signalling pods said about each trunk (controllers.health fills it; trunk reconcile reads it).
    health: dict[str, Any] = field(default_factory=dict)
    # What each cluster's pods should serve and do serve (controllers.pusher keeps it current).
    publications: Publications = field(default_factory=Publications)
    wake_pusher: Callable[[], None] = lambda: None
    # The allow-list each managed TURN server should have in force ("ns/cluster" -> the signalling
    # pods' addresses; controllers.turn_peers pushes it to the TURN pods).
    turn_peers: dict[str, list[str]] = field(default_factory=dict)
    wake_turn_pusher: Callable[[], None] = lambda: None
    # Each cluster's links as last rendered (a render costs O(changed links)), by cluster key.
    render_memos: dict[str, RenderMemo] = field(default_factory=dict)
    # Each cluster's TURN address as last read from its Service (None: none yet), by cluster key.
    turn_endpoints: dict[str, TurnEndpoint | None] = field(default_factory=dict)
    # Children as this operator last applied them ((kind, namespace, name) -> hash of the manifest):
    # an unchanged child costs no request; a changed one a single apply. Cleared on each resync,
    # which then compares with the live objects again (drift by hand is corrected there).
    applied: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # The status this operator last wrote to each GuestLink (key -> the keys it wrote and their
    # digest): the write comes back as a watch event, one per link, which then needs no reconcile.
    written_link_status: dict[str, tuple[tuple[str, ...], bytes]] = field(default_factory=dict)

    async def io(self, fn: Callable[..., R], *args: Any) -> R:
        """Run a blocking API call off the event loop."""
        return await asyncio.to_thread(fn, *args)

    async def apply(self, manifest: Manifest) -> bool:
        """Server-side apply `manifest` unless it is what this operator applied last; True if written."""
        meta = manifest["metadata"]
        key = (manifest["kind"], meta.get("namespace", ""), meta["name"])
        fingerprint = await self.io(manifest_fingerprint, manifest)  # hashing megabytes frees the loop
        known = self.applied.get(key)
        if known == fingerprint:
            return False
        if known is None:  # not applied by us lately: compare with the live object first
            written = await self.io(self.kube.apply_if_changed, manifest)
        else:
            await self.io(self.kube.apply, manifest)
            written = True
        self.applied[key] = fingerprint
        return written

    async def create_once(self, manifest: Manifest) -> bool:
        """Create `manifest` if it does not exist (generated keys: never replaced); True if created."""
        meta = manifest["metadata"]
        key = (manifest["kind"], meta.get("namespace", ""), meta["name"])
        if key in self.applied:
            return False
        created = await self.io(self.kube.create_if_missing, manifest)
        self.applied[key] = "exists"
        return created

    async def write_status(self, body: Manifest, desired: dict[str, Any], events: bool = True) -> bool:
        """Merge-patch the status if it would change; post an event per condition transition."""
        current = body.get("status") or {}
        if all(current.get(k) == v for k, v in desired.items()):
            return False
        meta = body["metadata"]
        await self.io(self.kube.patch_status, body["kind"], meta["namespace"], meta["name"], desired)
        if body["kind"] == "GuestLink":
            keys = _interned_keys(tuple(sorted(desired)))
            self.written_link_status[f"{meta['namespace']}/{meta['name']}"] = (keys, status_digest(desired, keys))
        if events:
            for condition in desired.get("conditions", []):
                before = get_condition(current.get("conditions", []), condition["type"])
                if wants_event(before, condition):
                    kind = "Normal" if condition["status"] != "False" else "Warning"
                    await self.io(
                        self.kube.event,
                        body,
                        kind,
                        condition["reason"],
                        f"{condition['type']}={condition['status']}: {condition['message']}",
                    )
        return True

    def is_own_link_status(self, key: str, status: dict[str, Any] | None) -> bool:
        """Is `status` (a GuestLink's, from a watch event) what this operator last wrote to it?"""
        written = self.written_link_status.get(key)
        if written is None or status is None:
            return False
        keys, digest = written
        return status_digest(status, keys) == digest

    async def load(
        self, kind: str, key: str, model: type[T], invalid_condition: str, **invalid_extra: Any
    ) -> tuple[Manifest, T] | None:
        """The cached body and its parsed form; None when it is gone or does not parse (then the
        status says why, under `invalid_condition`)."""
        cached = self.cache.parsed(kind, key)
        if cached is None:
            return None  # deleted: owner references and DELETED events take care of the rest
        body = cached.body
        assert isinstance(body, dict)  # Cache.parsed hands the body decoded
        parsed = cached if isinstance(cached.obj, model) or cached.obj is None else Parsed(body, model)
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

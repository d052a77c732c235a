"""Who depends on whom, pure: the keys to reconcile when a watched object changes.

Read from the cache's bodies (no I/O): a GuestCluster is read by its trunks and links, a SipTrunk
by its cluster and the links on it, a GuestLink by its cluster and the links asking for its slug.
"""

from __future__ import annotations

from typing import Any

from guestgate.controllers.runtime.cache import Cache
from guestgate.controllers.runtime.queue import Key


def dependents(cache: Cache, kind: str, body: dict[str, Any]) -> list[Key]:
    """The keys to reconcile when `body` of `kind` changes: itself and what reads it."""
    meta = body.get("metadata", {})
    ns, name = meta.get("namespace", ""), meta.get("name", "")
    spec = body.get("spec", {})
    keys: list[Key] = [(kind, f"{ns}/{name}")]
    if kind == "GuestCluster":
        for key in cache.keys("SipTrunk"):
            trunk_body = cache.body("SipTrunk", key) or {}
            if key.startswith(f"{ns}/") and trunk_body.get("spec", {}).get("clusterRef") == name:
                keys.append(("SipTrunk", key))
        keys += [("GuestLink", key) for key, cluster_ref, _ in cache.link_references(ns) if cluster_ref == name]
        return keys
    cluster_ref = spec.get("clusterRef")
    if cluster_ref:
        keys.append(("GuestCluster", f"{ns}/{cluster_ref}"))
    if kind == "SipTrunk":  # links read their trunk
        keys += [("GuestLink", key) for key, _, trunk_ref in cache.link_references(ns) if trunk_ref == name]
    elif spec.get("slug"):  # links read the siblings that ask for the same slug
        keys += [("GuestLink", link.key) for link in cache.links_with_slug(ns, spec["slug"])]
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


def keys_to_queue(
    cache: Cache, kind: str, event_type: str, body: dict[str, Any], previous: dict[str, Any] | None
) -> list[Key]:
    """The keys a watch event on `body` (was `previous`) puts on the queue, duplicates and all
    (the queue coalesces them)."""
    meta = body.get("metadata", {})
    if event_type != "DELETED" and spec_unchanged(previous, body):
        return [(kind, f"{meta.get('namespace')}/{meta.get('name')}")]
    keys = dependents(cache, kind, body)
    if previous is not None:  # a changed clusterRef: the old cluster republishes too
        keys += dependents(cache, kind, previous)
    return keys

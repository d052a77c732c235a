"""Who depends on whom, as tables: the keys an event on one object puts on the queue (pure, from
the cache's bodies)."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.controllers.graph import keys_to_queue, spec_unchanged
from guestgate.controllers.runtime.cache import Cache
from guestgate.controllers.runtime.queue import Key


def cluster(name: str, ns: str = "a") -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster", "metadata": {"name": name, "namespace": ns},
            "spec": {}}


def trunk(name: str, cluster_ref: str, ns: str = "a") -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk", "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterRef": cluster_ref, "peer": {"host": "10.0.0.1"}}}


def link(name: str, cluster_ref: str, trunk_ref: str, slug: str | None = None, ns: str = "a") -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterRef": cluster_ref, "trunkRef": trunk_ref, "destination": "2001",
                            "displayName": "Call"}
    if slug:
        spec["slug"] = slug
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def world() -> Cache:
    """Namespace a: cluster gc with trunks t1, t2 and links l1 (t1, slug sales), l2 (t2, slug sales),
    l3 (t1); cluster other with trunk t9. Namespace b: a cluster gc of its own and a link on it."""
    cache = Cache()
    for kind, body in [
        ("GuestCluster", cluster("gc")), ("GuestCluster", cluster("other")), ("GuestCluster", cluster("gc", "b")),
        ("SipTrunk", trunk("t1", "gc")), ("SipTrunk", trunk("t2", "gc")), ("SipTrunk", trunk("t9", "other")),
        ("GuestLink", link("l1", "gc", "t1", "sales")), ("GuestLink", link("l2", "gc", "t2", "sales")),
        ("GuestLink", link("l3", "gc", "t1")), ("GuestLink", link("l1", "gc", "t1", ns="b")),
    ]:
        cache.put(kind, body)
    return cache


def with_spec(body: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {**body, "spec": {**body["spec"], **spec}}


def with_status(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


CASES: list[tuple[str, str, str, dict[str, Any], dict[str, Any] | None, list[Key]]] = [
    # name, kind, event, body, previous body, the keys queued (in order)
    ("a cluster: itself, then its trunks and links, none of another namespace or cluster",
     "GuestCluster", "MODIFIED", with_spec(cluster("gc"), replicas=2), cluster("gc"),
     [("GuestCluster", "a/gc"), ("SipTrunk", "a/t1"), ("SipTrunk", "a/t2"), ("GuestLink", "a/l1"),
      ("GuestLink", "a/l2"), ("GuestLink", "a/l3")] * 2),
    ("a trunk: itself, its cluster, the links on it",
     "SipTrunk", "ADDED", trunk("t1", "gc"), None,
     [("SipTrunk", "a/t1"), ("GuestCluster", "a/gc"), ("GuestLink", "a/l1"), ("GuestLink", "a/l3")]),
    ("a trunk moved to another cluster: the old cluster republishes too",
     "SipTrunk", "MODIFIED", trunk("t1", "other"), trunk("t1", "gc"),
     [("SipTrunk", "a/t1"), ("GuestCluster", "a/other"), ("GuestLink", "a/l1"), ("GuestLink", "a/l3"),
      ("SipTrunk", "a/t1"), ("GuestCluster", "a/gc"), ("GuestLink", "a/l1"), ("GuestLink", "a/l3")]),
    ("a link with a slug: itself, its cluster, the links asking for the same slug",
     "GuestLink", "ADDED", link("l1", "gc", "t1", "sales"), None,
     [("GuestLink", "a/l1"), ("GuestCluster", "a/gc"), ("GuestLink", "a/l1"), ("GuestLink", "a/l2")]),
    ("a link without a slug: itself and its cluster",
     "GuestLink", "ADDED", link("l3", "gc", "t1"), None, [("GuestLink", "a/l3"), ("GuestCluster", "a/gc")]),
    ("only the status moved (our own write): the object alone, nothing that reads it",
     "SipTrunk", "MODIFIED", with_status(trunk("t1", "gc")), trunk("t1", "gc"), [("SipTrunk", "a/t1")]),
    ("a deletion: whatever read it, even with the spec unchanged",
     "SipTrunk", "DELETED", trunk("t9", "other"), trunk("t9", "other"),
     [("SipTrunk", "a/t9"), ("GuestCluster", "a/other"), ("SipTrunk", "a/t9"), ("GuestCluster", "a/other")]),
]


@pytest.mark.parametrize(("name", "kind", "event", "body", "previous", "expected"), CASES, ids=[c[0] for c in CASES])
def test_keys_to_queue(name: str, kind: str, event: str, body: dict[str, Any], previous: dict[str, Any] | None,
                       expected: list[Key]) -> None:
    assert keys_to_queue(world(), kind, event, body, previous) == expected, name


SPEC_CASES = [
    ("new object", None, trunk("t1", "gc"), False),
    ("status only", trunk("t1", "gc"), with_status(trunk("t1", "gc")), True),
    ("spec changed", trunk("t1", "gc"), trunk("t1", "other"), False),
    ("deletion started", trunk("t1", "gc"),
     {**trunk("t1", "gc"), "metadata": {"name": "t1", "namespace": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}},
     False),
]


@pytest.mark.parametrize(("name", "previous", "body", "unchanged"), SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_spec_unchanged(name: str, previous: dict[str, Any] | None, body: dict[str, Any], unchanged: bool) -> None:
    assert spec_unchanged(previous, body) is unchanged, name

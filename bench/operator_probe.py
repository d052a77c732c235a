"""The operator's memory and one edit's cost at N links, without an API server or pods.

    python -m bench.operator_probe [--links 10000] [--edits 10] [--profile operator|pod]

Fills the operator's cache with N GuestLink bodies as the API server sends them (status written,
managedFields and all), renders the cluster's configuration once (what `_publish` keeps: the
RenderMemo, the Publication), then edits one link's displayName E times and times each step on
both sides: the operator's watch event and render (controllers.cluster._publish, its requests
stubbed), and a signalling server taking the pushed change (ConfigWatcher.push with `base`, then
the first page lookup). Memory is tracemalloc's count of live Python allocations after each
stage (not RSS: no interpreter, imports or glibc slack), so a change to one structure shows alone.
`make bench ONLY=operator_scale` confirms on a real control plane; this is the quick loop.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import statistics
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from guestgate.config.schema import files_digest
from guestgate.controllers.cluster import _publish
from guestgate.controllers.context import Context
from guestgate.controllers.dispatch import on_event
from guestgate.signal.config_loader import ConfigWatcher

NAMESPACE, CLUSTER, TRUNK = "bench", "gc", "trunk"
MiB = 1024 * 1024


class NoKube:
    """The requests `_publish` may make (a links shard it never applied): none exists."""

    def get(self, *_: Any) -> None:
        return None


def cluster_body() -> dict[str, Any]:
    return {
        "apiVersion": "guestgate.io/v1alpha1",
        "kind": "GuestCluster",
        "metadata": {"name": CLUSTER, "namespace": NAMESPACE, "uid": str(uuid.uuid4()), "generation": 1},
        "spec": {"replicas": 3, "publicURL": "http://127.0.0.1:8080", "sip": {"port": 5060}},
    }


def trunk_body() -> dict[str, Any]:
    return {
        "apiVersion": "guestgate.io/v1alpha1",
        "kind": "SipTrunk",
        "metadata": {"name": TRUNK, "namespace": NAMESPACE, "uid": str(uuid.uuid4()), "generation": 1},
        "spec": {"clusterRef": CLUSTER, "peer": {"host": "127.0.0.1", "port": 9, "transport": "udp"}},
    }


def link_body(index: int, generation: int = 1, display: str | None = None) -> dict[str, Any]:
    """A GuestLink as a watch event brings it once the operator has published it (bench's shape)."""
    name = f"link-{index:05d}"
    stamp = "2026-12-05T20:10:00Z"
    return {
        "apiVersion": "guestgate.io/v1alpha1",
        "kind": "GuestLink",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": str(uuid.UUID(int=index)),
            "resourceVersion": str(100000 + index * 3 + generation),
            "generation": generation,
            "creationTimestamp": stamp,
            "managedFields": [
                {"manager": "python", "operation": "Update", "apiVersion": "guestgate.io/v1alpha1", "time": stamp,
                 "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:spec": {".": {}, "f:clusterRef": {}, "f:destination": {}, "f:displayName": {},
                                         "f:slug": {}, "f:trunkRef": {}}}},
                {"manager": "guestgate", "operation": "Update", "apiVersion": "guestgate.io/v1alpha1", "time": stamp,
                 "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {".": {}, "f:conditions": {}, "f:observedGeneration": {}, "f:phase": {},
                                           "f:url": {}}}},
            ],
        },
        "spec": {
            "clusterRef": CLUSTER,
            "trunkRef": TRUNK,
            "destination": "2001",
            "displayName": display or f"Link {index}",
            "slug": name,
        },
        "status": {
            "conditions": [{
                "type": "Published", "status": "True", "reason": "Published",
                "message": f"the link is served at /call/{name} by 3 of 3 ready pods",
                "lastTransitionTime": stamp, "observedGeneration": generation,
            }],
            "observedGeneration": generation,
            "url": f"http://127.0.0.1:8080/call/{name}",
            "phase": "Active",
        },
    }


def traced_mib() -> float:
    gc.collect()
    return tracemalloc.get_traced_memory()[0] / MiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.operator_probe", description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=10000)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--profile", choices=("operator", "pod"), help="cProfile the edits on that side")
    parser.add_argument("--no-trace", action="store_true", help="times without tracemalloc's overhead")
    args = parser.parse_args(argv)
    if not args.no_trace:
        tracemalloc.start()
    base = traced_mib() if not args.no_trace else 0.0
    ctx = Context(kube=NoKube())  # type: ignore[arg-type]
    key = f"{NAMESPACE}/{CLUSTER}"
    loop = asyncio.new_event_loop()
    on_event(ctx, "GuestCluster", "ADDED", cluster_body())
    on_event(ctx, "SipTrunk", "ADDED", trunk_body())
    started = time.perf_counter()
    for index in range(args.links):
        on_event(ctx, "GuestLink", "ADDED", link_body(index))
    filled = time.perf_counter() - started
    cache_mib = traced_mib() - base if not args.no_trace else 0.0
    cluster = ctx.cache.cluster(NAMESPACE, CLUSTER)
    assert cluster is not None
    started = time.perf_counter()
    loop.run_until_complete(_publish(ctx, key, cluster, None))
    first_render = time.perf_counter() - started
    rendered_mib = traced_mib() - base - cache_mib if not args.no_trace else 0.0
    publication = ctx.publications.get(key)
    assert publication is not None
    watcher = ConfigWatcher(Path("/nonexistent"))  # fed by pushes only
    watcher.push(publication.files)
    watcher_before = watcher.current
    assert watcher_before is not None
    watcher_before.config.links.find("/call/link-00000")

    profiler = cProfile.Profile() if args.profile else None
    operator_times: list[float] = []
    pod_times: list[float] = []
    edited = args.links // 2
    for edit in range(args.edits):
        display = f"Edited {edit}"
        served = watcher.current
        assert served is not None
        started = time.perf_counter()
        if profiler is not None and args.profile == "operator":
            profiler.enable()
        on_event(ctx, "GuestLink", "MODIFIED", link_body(edited, generation=2 + edit, display=display))
        loop.run_until_complete(_publish(ctx, key, cluster, None))
        changes = publication.changes_since(served.digest)
        if profiler is not None:
            profiler.disable()
        operator_times.append(time.perf_counter() - started)
        assert changes is not None
        started = time.perf_counter()
        if profiler is not None and args.profile == "pod":
            profiler.enable()
        loaded = watcher.push(changes[0], base=served.digest, removed=changes[1])
        assert loaded is not None
        found = loaded.config.links.find(f"/call/link-{edited:05d}")
        if profiler is not None:
            profiler.disable()
        pod_times.append(time.perf_counter() - started)
        assert found is not None and found.display_name == display, found
        assert loaded.digest == files_digest(publication.files)
    total_mib = traced_mib() - base if not args.no_trace else 0.0
    print(f"links {args.links}: cache filled in {filled:.2f} s, first render {first_render:.2f} s")
    if not args.no_trace:
        print(f"traced MiB: cache {cache_mib:.1f}, first render kept (memo, publication) {rendered_mib:.1f}, "
              f"all after edits (pod side included) {total_mib:.1f}")
    print(f"edit, operator (event + render + publish): median {1000 * statistics.median(operator_times):.1f} ms, "
          f"max {1000 * max(operator_times):.1f} ms")
    print(f"edit, pod (push with base + first lookup): median {1000 * statistics.median(pod_times):.1f} ms, "
          f"max {1000 * max(pod_times):.1f} ms")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

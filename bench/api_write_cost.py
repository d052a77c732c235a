"""What one write costs the API server: a GuestLink create beside the status patch that publishes it.

`make bench ONLY=api_write_cost`. A DevCluster of its own (API server, etcd, controller manager and
scheduler as local processes), the CRDs, one namespace. Phases, each the same number of writes
with 8 parallel requests, nothing else running:

- create: the GuestLinks, as `operator_scale`'s bare reference creates them (the official client);
- status: the Published status the operator writes for each (its own client, `Kube.patch_status`:
  a JSON merge patch of the status subresource; the status made by the operator's `link_status`);
- status, phase only: a status of one short field, to see whether the size of a status matters.

Per phase: wall time, the control plane's CPU per write and the client's. From them, the floor of
issue 20's "publish within 1.5 x the bare create time" on this machine: the creates' CPU (control
plane and client) plus the control plane's CPU for one status write per link, spread perfectly
over every core, against the bare creates' wall time; an operator that itself cost no CPU and an
API server that never waited could reach no lower.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.measure import CpuWindow
from bench.operator_cluster import GROUP, VERSION, api_client, create_all, guest_link
from bench.report import PartResult
from bench.settings import Settings
from guestgate.api.objects import GuestCluster, GuestLink, SipTrunk
from guestgate.kube.client import Kube
from guestgate.render.status import LinkFacts, link_status
from guestgate_dev.cluster import DevCluster

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = "writes"
THREADS = 8


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "generation": 1, "creationTimestamp": "2026-12-06T00:00:00Z"}


def published_statuses(names: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """The status the operator writes once every ready pod (3 of 3) serves a new link, by link name:
    the product's own `link_status`, built before the writes are timed."""
    cluster = GuestCluster.model_validate({"apiVersion": f"{GROUP}/{VERSION}", "kind": "GuestCluster",
                                           "metadata": _meta("gc"), "spec": {"publicURL": "https://guest.example.com"}})
    trunk = SipTrunk.model_validate({"apiVersion": f"{GROUP}/{VERSION}", "kind": "SipTrunk", "metadata": _meta("trunk"),
                                     "spec": {"clusterRef": "gc", "peer": {"host": "127.0.0.1"}}})
    facts = LinkFacts(cluster=cluster, trunk=trunk, slug_taken_by=None, serving=(3, 3))
    return {
        name: link_status(GuestLink.model_validate({**guest_link(name, f"Link {name}", "gc", "trunk"),
                                                    "metadata": _meta(name)}), facts, now)
        for name in names
    }


def floor_ratio(create_cpu: float, status_control_plane_cpu: float, cores: int, bare_wall: float) -> float | None:
    """The lowest publish time / bare create time reachable: all the CPU that creating and
    publishing needs at the least, perfectly spread over `cores`, against the bare creates' wall;
    never under 1 (publishing includes the creates)."""
    if bare_wall <= 0 or cores <= 0:
        return None
    return max(1.0, (create_cpu + status_control_plane_cpu) / cores / bare_wall)


def _timed(pids: list[int], work: Callable[[], None]) -> tuple[float, list[float]]:
    """Wall seconds of `work` and the CPU seconds of each pid (the last one: this process) meanwhile."""
    window = CpuWindow(pids).start()
    start = time.monotonic()
    work()
    wall = time.monotonic() - start
    window.stop()
    return wall, window.each()


def _parallel(items: Iterable[str], each: Callable[[str], None]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(each, items))


def run(settings: Settings) -> PartResult:
    result = PartResult(name="api_write_cost")
    count = 300 if settings.quick else int(os.environ.get("API_WRITE_COST_LINKS", "5000"))
    cluster = DevCluster(f"bench-writes-{os.getpid()}")
    cluster.start(fresh=True)
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/guestlinks.guestgate.io", "--timeout=60s")
        cluster.kubectl("create", "namespace", NAMESPACE)
        control_plane = [c.pid for c in cluster.status().components if c.pid is not None]
        pids = [*control_plane, os.getpid()]
        api = api_client(cluster)
        kube = Kube.from_environment("guestgate-operator", kubeconfig=str(cluster.kubeconfig))
        names = [f"link-{i:05d}" for i in range(count)]
        statuses = published_statuses(names, datetime.now(UTC))

        def create_links() -> None:
            create_all(api, NAMESPACE, (guest_link(n, f"Link {n}", "gc", "trunk") for n in names), THREADS)

        phases: list[tuple[str, Callable[[], None]]] = [
            ("create", create_links),
            ("status (the operator's)", lambda: _parallel(
                names, lambda n: kube.patch_status("GuestLink", NAMESPACE, n, statuses[n]))),
            ("status, phase only", lambda: _parallel(
                names, lambda n: kube.patch_status("GuestLink", NAMESPACE, n, {"phase": "Disabled"}))),
        ]
        table = result.table(
            f"API server cost of one write: {count:,} GuestLinks, {THREADS} requests at once",
            ["write", "wall s", "writes/s", "control plane CPU ms/write", "client CPU ms/write",
             "control plane cores busy"],
        )
        measured: dict[str, dict[str, float]] = {}
        for label, work in phases:
            wall, each = _timed(pids, work)
            plane, client_cpu = sum(each[:-1]), each[-1]
            measured[label] = {"wall": wall, "controlPlaneCpu": plane, "clientCpu": client_cpu}
            table.add(label, wall, count / wall if wall else None, 1000 * plane / count, 1000 * client_cpu / count,
                      plane / wall if wall else None)
        cores = os.cpu_count() or 1
        create, status = measured["create"], measured["status (the operator's)"]
        floor = floor_ratio(create["controlPlaneCpu"] + create["clientCpu"], status["controlPlaneCpu"], cores,
                            create["wall"])
        table.notes += [
            "control plane: kube-apiserver, etcd, kube-controller-manager and kube-scheduler (their CPU while the"
            " phase ran, over the writes); client: this process (create: the official Python client, as the"
            " operator_scale reference; status: the operator's own client, guestgate.kube.Kube.patch_status).",
            f"Floor of publish / bare create on this {cores}-core machine: "
            + (f"{floor:.2f} x" if floor is not None else "not measurable")
            + " (the creates' CPU, control plane and client, plus the control plane's CPU for one status write per"
            " link, spread perfectly over every core, against the bare creates' wall time: what an operator that"
            " cost no CPU itself, on an API server that never waits, could reach at best).",
        ]
        result.data = {"links": count, "threads": THREADS, "cores": cores, "phases": measured, "floorRatio": floor}
    finally:
        cluster.delete()
    return result

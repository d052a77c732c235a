"""The operator at scale: thousands of GuestLinks on a real local control plane.

A DevCluster of its own, the CRDs, a GuestCluster and a SipTrunk, the operator as a process
(`guestgate operator --namespace bench`) and two sets of 3 signalling servers
(bench.operator_cluster): one the operator pushes each configuration to (the design now: its
admin API, `--signal-endpoint`), one fed only from the GuestCluster's ConfigMaps through a watch,
as a mounted ConfigMap feeds pods (the previous design, minus the kubelet's sync delay). Then, per
step, GuestLinks are created (8 parallel POSTs) until the namespace holds the step's total, and
the clock runs until every link's Published condition is True for its current generation (every
pushed server serves it: "published") and each set serves the configuration that lists them all
("served"). Under the full load one link is edited N times: edit-to-live is the time from the
PATCH until every server's /call/<slug> page shows the new display name, for each set.

Reference, same run: the same creates into a namespace the operator does not watch (the bare API
server's cost of storing the objects).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.measure import CpuWindow, ms, percentile
from bench.operator_cluster import (
    Operator,
    PublishedWatch,
    SignalPods,
    api_client,
    apiserver_requests,
    create_all,
    guest_link,
    patch_display_name,
    sum_metric,
)
from bench.report import PartResult
from bench.settings import Settings
from guestgate.config.schema import is_links_file
from guestgate_dev.cluster import DevCluster

REPO = Path(__file__).resolve().parents[1]
NAMESPACE, REF_NAMESPACE = "bench", "ref"
GUEST_CLUSTER, TRUNK = "gc", "trunk"
PODS = 3
PY_SPY = REPO / ".venv" / "bin" / "py-spy"

QUICK = {"steps": [50, 200], "edits": 3, "budget": 60.0}
FULL = {"steps": [1000, 10000], "edits": 10, "budget": 900.0}


def steps_override(default: list[int]) -> list[int]:
    """OPERATOR_SCALE_STEPS=1000,3000: other totals for a trial run (the README quotes the default)."""
    text = os.environ.get("OPERATOR_SCALE_STEPS", "")
    return [int(part) for part in text.split(",") if part.strip()] or default


def cpu_groups(
    cluster: DevCluster, operator: Operator, pushed: SignalPods, mounted: SignalPods, watched: PublishedWatch
) -> dict[str, list[int]]:
    """Who spends the machine's CPU during a step: each a set of pids."""
    control_plane = [c.pid for c in cluster.status().components if c.pid is not None]
    return {
        "operator": [operator.pid],
        "pushed servers": pushed.pids,
        "mounted servers": mounted.pids,
        "API server and etcd": control_plane,
        "bench (clients, mirror, watch)": [os.getpid(), watched.pid],
    }


def manifests() -> str:
    cluster = {
        "apiVersion": "guestgate.io/v1alpha1",
        "kind": "GuestCluster",
        "metadata": {"name": GUEST_CLUSTER, "namespace": NAMESPACE},
        "spec": {"replicas": PODS, "publicURL": "http://127.0.0.1:8080", "sip": {"port": 5060}},
    }
    trunk = {
        "apiVersion": "guestgate.io/v1alpha1",
        "kind": "SipTrunk",
        "metadata": {"name": TRUNK, "namespace": NAMESPACE},
        "spec": {
            "clusterRef": GUEST_CLUSTER,
            "peer": {"host": "127.0.0.1", "port": 9, "transport": "udp"},
            "keepalive": {"intervalSeconds": 0},  # nobody answers on port 9: no pings
        },
    }
    return "\n---\n".join(json.dumps(m) for m in (cluster, trunk))


class RssSampler:
    """Peak RSS of some processes, sampled every `interval` seconds in a thread."""

    def __init__(self, window: CpuWindow, interval: float = 0.5) -> None:
        self.window = window
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.window.sample_rss()

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class Profiler:
    """py-spy record of one pid until stopped; collapsed stacks, summarised by function."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        if PY_SPY.exists():
            self.proc = subprocess.Popen(
                [
                    str(PY_SPY),
                    "record",
                    "-p",
                    str(pid),
                    "-o",
                    str(out),
                    "--format",
                    "raw",
                    "--rate",
                    "50",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def stop(self) -> dict[str, Any]:
        if self.proc is None:
            return {}
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return summarise_profile(self.out) if self.out.exists() else {}


def summarise_profile(path: Path, top: int = 8) -> dict[str, Any]:
    """Inclusive share of samples per guestgate function (and the leaf frames overall)."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any("_worker (concurrent/futures/thread.py" in f or "select (" in f for f in frames[-2:]):
            continue  # idle threads waiting
        total += count
        seen = set()
        for frame in frames:
            name = frame.split(" (", 1)[0]
            where = frame.split(" (", 1)[1] if " (" in frame else ""
            if "guestgate/" in where and name not in seen:
                inclusive[f"{name} ({where.split('guestgate/', 1)[1].split(':', 1)[0]})"] += count
                seen.add(name)
        leaf[frames[-1].rsplit(":", 1)[0]] += count
    share = {k: round(100 * v / total, 1) for k, v in inclusive.most_common(top)} if total else {}
    leaves = {k: round(100 * v / total, 1) for k, v in leaf.most_common(top)} if total else {}
    return {"busySamples": total, "inclusivePercent": share, "leafPercent": leaves}


def wait_live(
    watched: PublishedWatch, pushed: SignalPods, mounted: SignalPods, total: int, deadline: float, started: float
) -> tuple[float | None, float | None, float | None, int]:
    """(seconds to all published, to all served by the pushed set, by the mounted set, links
    published at the end)."""
    status_at: float | None = None
    pushed_at: float | None = None
    mounted_at: float | None = None
    count = 0
    interval = 0.25  # the published count is a watch's: cheap to read
    pods_every = max(interval, total / 4000)  # the servers' digests cost a hash of every file
    pods_checked = 0.0
    while time.monotonic() < deadline:
        if status_at is None:
            count = watched.count()
            if count >= total:
                status_at = time.monotonic() - started
        due = time.monotonic() - pods_checked >= pods_every
        if due:
            pods_checked = time.monotonic()
        with contextlib.suppress(OSError, ValueError, KeyError):
            if due and pushed_at is None and pushed.links_listed() >= total and all(
                pushed.serves_what_is_pushed(i) for i in range(pushed.count)
            ):
                pushed_at = time.monotonic() - started
            if due and mounted_at is None and mounted.links_listed() >= total and all(
                mounted.serves_what_was_written(i) for i in range(mounted.count)
            ):
                mounted_at = time.monotonic() - started
        if status_at is not None and pushed_at is not None and mounted_at is not None:
            break
        time.sleep(interval)
    return status_at, pushed_at, mounted_at, count


def edit_to_live(
    api: Any, sets: dict[str, SignalPods], name: str, edits: int, timeout: float
) -> dict[str, list[float]]:
    """Per set of servers: seconds from each PATCH until all its servers' pages show the edit."""
    latencies: dict[str, list[float]] = {label: [] for label in sets}
    for index in range(edits):
        display = f"Edited {index} {uuid.uuid4().hex[:8]}"
        start = time.monotonic()
        patch_display_name(api, NAMESPACE, name, display)
        pending = {(label, pod) for label, pods in sets.items() for pod in range(pods.count)}
        while pending and time.monotonic() - start < timeout:
            for label, pod in sorted(pending):
                with contextlib.suppress(OSError):
                    if display in sets[label].page(pod, f"/call/{name}")[1]:
                        pending.discard((label, pod))
                        if not any(other == label for other, _ in pending):
                            latencies[label].append(time.monotonic() - start)
            time.sleep(0.01)
        for label in {label for label, _ in pending}:  # not live within the timeout: counted as such
            latencies[label].append(float("inf"))
    return latencies


def finite(values: list[float]) -> list[float]:
    return [v for v in values if v != float("inf")]


def run(settings: Settings) -> PartResult:
    mode = QUICK if settings.quick else FULL
    steps = steps_override(list(mode["steps"]))  # type: ignore[call-overload]
    scratch = settings.scratch("operator_scale")
    result = PartResult(name="operator_scale")
    begun = time.monotonic()
    cluster = DevCluster(f"bench-{os.getpid()}")
    cluster.start(fresh=True)
    operator: Operator | None = None
    pushed: SignalPods | None = None
    mounted: SignalPods | None = None
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        for crd in ("guestclusters", "siptrunks", "guestlinks"):
            cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}.guestgate.io", "--timeout=60s")
        for ns in (NAMESPACE, REF_NAMESPACE):
            cluster.kubectl("create", "namespace", ns)
        cluster.kubectl("apply", "-f", "-", input=manifests())
        api = api_client(cluster)
        pushed = SignalPods(cluster, NAMESPACE, GUEST_CLUSTER, scratch / "pushed", PODS, follow=False)
        mounted = SignalPods(cluster, NAMESPACE, GUEST_CLUSTER, scratch / "mounted", PODS)
        operator = Operator(cluster, NAMESPACE, scratch / "operator.log", pushed.endpoints(NAMESPACE, GUEST_CLUSTER))
        operator.start()
        watched = PublishedWatch(cluster.kubeconfig, NAMESPACE)
        pushed.start()
        mounted.start()
        setup_seconds = time.monotonic() - begun

        table = result.table(
            "Operator at scale: GuestLinks created until published and served by 3 signalling servers "
            "(pushed to; beside them, 3 fed by the ConfigMap watch: the previous design)",
            [
                "links",
                "added",
                "create s (ref)",
                "create s",
                "published s",
                "served s (push)",
                "served s (mounted)",
                "links/s",
                "op CPU s",
                "op RSS MiB",
                "op API req",
                "apiserver req",
            ],
        )
        steps_data: list[dict[str, Any]] = []
        window = CpuWindow([operator.pid]).start()
        have = 0
        budget_end = begun + float(mode["budget"])  # type: ignore[arg-type]
        profile: dict[str, Any] = {}
        edits_by_step: list[tuple[int, dict[str, list[float]]]] = []
        with RssSampler(window):
            for step_index, total in enumerate(steps):
                added = total - have
                ref_seconds = create_all(
                    api,
                    REF_NAMESPACE,
                    (guest_link(f"ref-{i:05d}", f"Ref {i}", GUEST_CLUSTER, TRUNK) for i in range(have, total)),
                )
                profiler = None
                if not settings.quick and step_index == len(steps) - 1:
                    profiler = Profiler(operator.pid, scratch / f"operator-{total}.pyspy.txt")
                op0, api0 = operator.metrics(), apiserver_requests(cluster)
                cpu_window = CpuWindow([operator.pid]).start()
                groups = cpu_groups(cluster, operator, pushed, mounted, watched)
                group_windows = {label: CpuWindow(pids).start() for label, pids in groups.items()}
                started = time.monotonic()
                create_seconds = create_all(
                    api,
                    NAMESPACE,
                    (guest_link(f"link-{i:05d}", f"Link {i}", GUEST_CLUSTER, TRUNK) for i in range(have, total)),
                )
                status_s, served_s, mounted_s, count = wait_live(
                    watched, pushed, mounted, total, max(budget_end, started + 10), started
                )
                cpu, _wall = cpu_window.stop()
                cpu_by_group = {label: round(w.stop()[0], 1) for label, w in group_windows.items()}
                if profiler is not None:
                    profile = profiler.stop()
                op1, api1 = operator.metrics(), apiserver_requests(cluster)
                requests = {
                    k.split("{", 1)[1].rstrip("}"): v - op0.get(k, 0.0)
                    for k, v in op1.items()
                    if k.startswith("guestgate_api_requests_total{") and v - op0.get(k, 0.0) > 0
                }
                op_requests = sum(requests.values())
                apiserver_total = sum(api1.values()) - sum(api0.values())
                reconciles = sum_metric(op1, "guestgate_reconcile_total") - sum_metric(op0, "guestgate_reconcile_total")
                window.sample_rss()
                live = max(status_s or 0.0, served_s or 0.0) if status_s and served_s else None
                elapsed = time.monotonic() - started
                rate = (added / live) if live else (count - have) / elapsed
                table.add(
                    total,
                    added,
                    ref_seconds,
                    create_seconds,
                    status_s,
                    served_s,
                    mounted_s,
                    rate,
                    cpu,
                    window.peak_rss / 2**20,
                    op_requests,
                    apiserver_total,
                )
                steps_data.append(
                    {
                        "links": total,
                        "added": added,
                        "refCreateSeconds": ref_seconds,
                        "createSeconds": create_seconds,
                        "publishedSeconds": status_s,
                        "servedSeconds": served_s,
                        "servedMountedSeconds": mounted_s,
                        "publishedAtEnd": count,
                        "linksPerSecond": rate,
                        "operatorCpuSeconds": cpu,
                        "operatorPeakRssBytes": window.peak_rss,
                        "operatorRequests": requests,
                        "apiserverRequests": apiserver_total,
                        "reconciles": reconciles,
                        "cpuSecondsByProcess": cpu_by_group,
                        "linksBytes": pushed.links_bytes(),
                        "linksConfigMaps": sum(1 for name in pushed.files if is_links_file(name)),
                    }
                )
                table.notes.append(
                    f"{total} links, CPU s by process during the step: "
                    + ", ".join(f"{label} {value}" for label, value in cpu_by_group.items())
                )
                have = total
                # Edits under this step's load (the link in the middle of those created so far).
                step_edits = edit_to_live(api, {"pushed": pushed, "mounted": mounted}, f"link-{have // 2:05d}",
                                          int(mode["edits"]), timeout=60)  # type: ignore[call-overload]
                edits_by_step.append((total, step_edits))
                if live is None:
                    projection = (total - count) / rate if rate else None
                    table.notes.append(
                        f"{total} links: NOT all live within the time budget: {count} published after "
                        f"{elapsed:.0f} s ({rate:.1f} links/s; the rest would take ~{projection or 0:.0f} s more)"
                    )
                    break

        edit_table = result.table(
            f"Edit-to-live: PATCH displayName until all {PODS} servers of a set serve it",
            ["links", "design", "edits", "not live in 60 s", "p50 ms", "p99 ms", "max ms"],
        )
        for total, step_edits in edits_by_step:
            for label, design in (("pushed", "pushed by the operator (now)"),
                                  ("mounted", "mounted ConfigMap (previous)")):
                values = finite(step_edits[label])
                missed = len(step_edits[label]) - len(values)
                if values:
                    edit_table.add(total, design, len(step_edits[label]), missed, ms(percentile(values, 50)),
                                   ms(percentile(values, 99)), ms(max(values)))
                else:
                    edit_table.add(total, design, len(step_edits[label]), missed, None, None, None)
        latencies = edits_by_step[-1][1] if edits_by_step else {"pushed": [], "mounted": []}
        edit_table.notes.append(
            "mounted: servers re-read their config dir every 0.5 s (--reload-seconds; pods default to 2 s) and "
            "the ConfigMap reaches them by a watch, so this is a floor: a real kubelet adds its own sync delay "
            "(12-14 s measured on the demo node, up to ~1 min on stock kubelets)"
        )
        table.notes += [
            "create s (ref): the same number of GuestLinks created into a namespace the operator does not "
            "watch (bare API server); create s: into the watched one, operator running",
            "published s: from the first create until every link's Published condition is True for its "
            "generation (every pushed server serves it); served s: until every server of the set reports "
            "the digest of a config listing them all",
            "op API req: requests of the operator's kube client (guestgate_api_requests_total; kopf's "
            "watch streams are not counted); apiserver req: every client's requests (bench included)",
        ]
        if profile:
            top = ", ".join(f"{k} {v}%" for k, v in list(profile["inclusivePercent"].items())[:5])
            table.notes.append(f"py-spy on the operator during the {have}-link step (inclusive): {top}")
        result.data = {
            "setupSeconds": setup_seconds,
            "steps": steps_data,
            "editLatenciesSeconds": finite(latencies["pushed"]),
            "editLatenciesMountedSeconds": finite(latencies["mounted"]),
            "editsByStep": [
                {"links": total, **{label: [v if v != float("inf") else None for v in values]
                                    for label, values in step_edits.items()}}
                for total, step_edits in edits_by_step
            ],
            "profile": profile,
            "pods": PODS,
        }
    finally:
        for pods in (pushed, mounted):
            if pods is not None:
                pods.stop()
        if operator is not None:
            operator.stop()
        cluster.delete()
    return result

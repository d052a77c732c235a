"""The operator at scale on the real node: pods, kubelet and all, both designs in one run.

`make bench ONLY=operator_scale_node` (root; the node is one per machine: run it under
`flock /tmp/gg-node.lock`). A node cluster of its own (`bench-node`, kept between runs, so only
the first run builds it), the signalling image imported, and two GuestClusters of 3 real pods:

- push: its operator (`guestgate operator --namespace ...`, a host process reaching the pods
  at their IPs as a pod would) pushes every configuration over the pods' admin API (the design
  now);
- mounted: its operator runs with `--no-config-push`: the pods follow their mounted ConfigMaps,
  i.e. the kubelet's sync (the previous design).

Per step, GuestLinks are created (8 parallel POSTs) into the bare API server (a namespace no
operator watches: the reference), then into push's namespace until every link is Published and
every pod reports the digest of the ConfigMaps' files, then edits of one link's displayName until
every pod's page shows it; then the same for mounted. The designs run one after the other, each
alone on the machine. Operator CPU, peak RSS and API requests are the push operator's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from kubernetes import client

from bench.measure import CpuWindow, ms, percentile
from bench.operator_cluster import (
    Operator,
    PublishedWatch,
    api_client,
    apiserver_requests,
    create_all,
    guest_link,
    patch_display_name,
)
from bench.operator_scale import RssSampler, finite
from bench.report import PartResult
from bench.settings import Settings
from guestgate.config.schema import CONFIG_FILES, files_digest, is_links_file
from guestgate.render import names
from guestgate_dev.cluster import DevCluster
from guestgate_dev.cluster.components import WITH_NODE
from guestgate_dev.cluster.images import load_images
from guestgate_dev.cluster.layout import CacheLayout
from guestgate_dev.cluster.node import NodePaths
from guestgate_dev.support.process import exclusive

REPO = Path(__file__).resolve().parents[1]
GUEST_CLUSTER, TRUNK = "gc", "trunk"
PODS = 3
DESIGNS = {"push": "pushed by the operator (now)", "mounted": "mounted ConfigMap only (previous)"}
QUICK = {"steps": [100], "edits": {"push": 3, "mounted": 1}, "budget": 420.0}
FULL = {"steps": [1000, 10000], "edits": {"push": 10, "mounted": 3}, "budget": 540.0}
EDIT_TIMEOUT = 120.0


def designs_of() -> dict[str, str]:
    """OPERATOR_SCALE_DESIGNS=push: one design only (when both do not fit in one hold of the node)."""
    wanted = [d for d in os.environ.get("OPERATOR_SCALE_DESIGNS", "").split(",") if d.strip()]
    return {d: label for d, label in DESIGNS.items() if not wanted or d in wanted}


def steps_of(default: list[int]) -> list[int]:
    text = os.environ.get("OPERATOR_SCALE_STEPS", "")
    return [int(part) for part in text.split(",") if part.strip()] or default


def manifests(namespace: str, signal_image: str, media_image: str) -> list[dict[str, Any]]:
    cluster = {
        "apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster",
        "metadata": {"name": GUEST_CLUSTER, "namespace": namespace},
        "spec": {"replicas": PODS, "image": signal_image, "publicURL": "http://127.0.0.1:8080",
                 "turn": {"enabled": False}, "media": {"image": media_image}},
    }
    trunk = {
        "apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk",
        "metadata": {"name": TRUNK, "namespace": namespace},
        "spec": {"clusterRef": GUEST_CLUSTER, "peer": {"host": "127.0.0.1", "port": 9, "transport": "udp"},
                 "keepalive": {"intervalSeconds": 0}},
    }
    return [cluster, trunk]


class RealPods:
    """A GuestCluster's ready pods, reached from the host at their IPs (pages and admin API)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.token = ""

    def ips(self) -> list[str]:
        selector = ",".join(f"{k}={v}" for k, v in names.selector_labels(GUEST_CLUSTER).items())
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        ready = [
            p.status.pod_ip for p in pods
            if p.status.pod_ip and not p.metadata.deletion_timestamp
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return sorted(ready)

    def wait_ready(self, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(client.ApiException):
                ips = self.ips()
                if len(ips) == PODS:
                    secret = self.core.read_namespaced_secret(names.admin_secret_name(GUEST_CLUSTER), self.namespace)
                    self.token = base64.b64decode((secret.data or {})["token"]).decode()
                    return ips
            time.sleep(1.0)
        raise TimeoutError(f"{self.namespace}: {PODS} ready signalling pods not within {timeout:.0f} s")

    def files(self) -> dict[str, str]:
        """The pods' configuration as the ConfigMaps hold it (what the kubelet projects)."""
        selector = f"app.kubernetes.io/instance={GUEST_CLUSTER}"
        out: dict[str, str] = {}
        for item in self.core.list_namespaced_config_map(self.namespace, label_selector=selector).items:
            for key, value in (item.data or {}).items():
                if key in CONFIG_FILES or is_links_file(key):
                    out[key] = value
        return out

    def digest(self, ip: str) -> str:
        request = urllib.request.Request(f"http://{ip}:{names.ADMIN_PORT}/v1/status",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(json.loads(response.read())["config"]["digest"])

    def page(self, ip: str, path: str) -> str:
        try:
            with urllib.request.urlopen(f"http://{ip}:8080{path}", timeout=5) as response:
                return str(response.read().decode(errors="replace"))
        except (urllib.error.URLError, OSError):
            return ""


def wait_served(pods: RealPods, ips: list[str], watched: PublishedWatch | None, total: int, deadline: float,
                started: float) -> tuple[float | None, float | None, int]:
    """(seconds until every link is Published (push only), until every pod reports the digest of
    the ConfigMaps' files with every link in them; links published at the end)."""
    published_at: float | None = None if watched is not None else 0.0
    served_at: float | None = None
    count = 0
    while time.monotonic() < deadline and (published_at is None or served_at is None):
        if watched is not None and published_at is None:
            count = watched.count()
            if count >= total:
                published_at = time.monotonic() - started
        if served_at is None:
            with contextlib.suppress(OSError, ValueError, KeyError, client.ApiException):
                files = pods.files()
                listed = sum(len(json.loads(text).get("links", [])) for name, text in files.items()
                             if is_links_file(name))
                if listed >= total and all(pods.digest(ip) == files_digest(files) for ip in ips):
                    served_at = time.monotonic() - started
        time.sleep(0.5)
    return published_at, served_at, count


def edit_to_live(api: client.ApiClient, pods: RealPods, ips: list[str], name: str, edits: int) -> list[float]:
    """Seconds from each PATCH until every pod's page shows the new display name (inf: not in time)."""
    out: list[float] = []
    for index in range(edits):
        display = f"Edited {index} {uuid.uuid4().hex[:8]}"
        start = time.monotonic()
        patch_display_name(api, pods.namespace, name, display)
        pending = set(ips)
        while pending and time.monotonic() - start < EDIT_TIMEOUT:
            for ip in sorted(pending):
                if display in pods.page(ip, f"/call/{name}"):
                    pending.discard(ip)
            time.sleep(0.02)
        out.append(time.monotonic() - start if not pending else float("inf"))
    return out


def run(settings: Settings) -> PartResult:
    mode = QUICK if settings.quick else FULL
    steps = steps_of(list(mode["steps"]))  # type: ignore[call-overload]
    edits: dict[str, int] = mode["edits"]  # type: ignore[assignment]
    scratch = settings.scratch("operator_scale_node")
    result = PartResult(name="operator_scale_node")
    cache = CacheLayout.default()
    # The node is one per machine: the node tests' lock (besides the session's /tmp/gg-node.lock).
    with exclusive(cache.root / "clusters" / ".locks" / "node-tests.lock"):
        return _run(settings, mode, steps, edits, scratch, result)


def _run(settings: Settings, mode: dict[str, Any], steps: list[int], edits: dict[str, int], scratch: Path,
         result: PartResult) -> PartResult:
    begun = time.monotonic()
    budget_end = begun + float(os.environ.get("OPERATOR_SCALE_BUDGET", mode["budget"]))
    designs = designs_of()
    cluster = DevCluster("bench-node", components=WITH_NODE)
    cluster.start()
    run_id = uuid.uuid4().hex[:6]
    namespaces = {"push": f"scale-push-{run_id}", "mounted": f"scale-mounted-{run_id}", "ref": f"scale-ref-{run_id}"}
    operators: dict[str, Operator] = {}
    watched: PublishedWatch | None = None
    try:
        images = load_images(NodePaths(cluster.state_dir).containerd_socket, CacheLayout.default())
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        for crd in ("guestclusters", "siptrunks", "guestlinks"):
            cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}.guestgate.io", "--timeout=60s")
        for ns in namespaces.values():
            cluster.kubectl("create", "namespace", ns)
        for design in designs:
            operators[design] = Operator(
                cluster, namespaces[design], scratch / f"operator-{design}.log",
                [] if design == "push" else ["--no-config-push"])
            operators[design].start()
            objects = manifests(namespaces[design], images["signal"].ref, images["media"].ref)
            listed = {"apiVersion": "v1", "kind": "List", "items": objects}
            cluster.kubectl("apply", "-f", "-", input=json.dumps(listed))
        api = api_client(cluster)
        pods = {design: RealPods(api, namespaces[design]) for design in designs}
        ips = {design: pods[design].wait_ready(240) for design in designs}
        watched = PublishedWatch(cluster.kubeconfig, namespaces["push"]) if "push" in designs else None
        setup_seconds = time.monotonic() - begun

        table = result.table(
            f"Operator at scale on the real node: GuestLinks created until every one of {PODS} real pods "
            "serves them, by design (each design alone on the machine)",
            ["links", "added", "design", "create s (ref)", "create s", "published s", "served s", "x ref",
             "op CPU s", "op RSS MiB", "op API req/link"],
        )
        edit_table = result.table(
            f"Edit-to-live on the real node: PATCH displayName until all {PODS} pods' pages show it",
            ["links", "design", "edits", f"not live in {EDIT_TIMEOUT:.0f} s", "p50 ms", "p99 ms", "max ms"],
        )
        window = CpuWindow([operators[next(iter(designs))].pid])
        data_steps: list[dict[str, Any]] = []
        have = 0
        with RssSampler(window.start()):
            for total in steps:
                added = total - have
                ref = create_all(api, namespaces["ref"], (guest_link(f"ref-{i:05d}", f"Ref {i}", GUEST_CLUSTER, TRUNK)
                                                          for i in range(have, total)))
                # Would this step fit? Each design costs about 1.1 (push) to 1.7 (mounted) times the
                # reference's create time, and the edits a minute more.
                if time.monotonic() + 1.5 * len(designs) * ref + 60 > budget_end:
                    table.notes.append(
                        f"{total} links: not run: the bare API server took {ref:.0f} s to create {added}, so both "
                        f"designs would not fit in the {mode['budget']:.0f} s the node may be held")
                    break
                step: dict[str, Any] = {"links": total, "added": added, "refCreateSeconds": ref, "uptime": _uptime()}
                for design in designs:
                    operator = operators[design]
                    cpu = CpuWindow([operator.pid]).start()
                    op0, api0 = operator.metrics(), apiserver_requests(cluster)
                    started = time.monotonic()
                    created = create_all(api, namespaces[design], (
                        guest_link(f"link-{i:05d}", f"Link {i}", GUEST_CLUSTER, TRUNK) for i in range(have, total)))
                    published_s, served_s, count = wait_served(
                        pods[design], ips[design], watched if design == "push" else None, total,
                        max(budget_end, started + 30), started)
                    cpu_s, _ = cpu.stop()
                    op1, api1 = operator.metrics(), apiserver_requests(cluster)
                    requests = sum(v - op0.get(k, 0.0) for k, v in op1.items()
                                   if k.startswith("guestgate_api_requests_total{"))
                    live = max(published_s or 0.0, served_s or 0.0) if published_s is not None and served_s else None
                    latencies = edit_to_live(api, pods[design], ips[design], f"link-{total // 2:05d}", edits[design])
                    window.sample_rss()
                    table.add(total, added, DESIGNS[design], ref, created, published_s if design == "push" else None,
                              served_s, (live / ref) if live else None, cpu_s,
                              window.peak_rss / 2**20 if design == next(iter(designs)) else None, requests / added)
                    values = finite(latencies)
                    edit_table.add(total, DESIGNS[design], len(latencies), len(latencies) - len(values),
                                   ms(percentile(values, 50)) if values else None,
                                   ms(percentile(values, 99)) if values else None,
                                   ms(max(values)) if values else None)
                    step[design] = {
                        "createSeconds": created, "publishedSeconds": published_s, "servedSeconds": served_s,
                        "publishedAtEnd": count, "operatorCpuSeconds": cpu_s, "operatorRequests": requests,
                        "apiserverRequests": sum(api1.values()) - sum(api0.values()),
                        "editSeconds": [v if v != float("inf") else None for v in latencies],
                    }
                    if live is None:
                        table.notes.append(f"{total} links, {design}: NOT all served within the time budget")
                step["operatorPeakRssBytes"] = window.peak_rss
                data_steps.append(step)
                have = total
                table.notes.append(f"{total} links: load average {step['uptime']} when the step began")
        table.notes += [
            "create s (ref): the same number of GuestLinks created into a namespace no operator watches (the "
            "bare API server), just before; x ref: (until published and served) / create s (ref)",
            "published s: every link's Published condition True for its generation (push only: the previous "
            "design had no such condition); served s: every pod reports the digest of the ConfigMaps' files",
            "op: the push design's operator (a host process, as in a pod); RSS is its peak over the run",
        ]
        edit_table.notes.append(
            "mounted: the kubelet's ConfigMap sync, then the pod's 2 s reload poll; push: the operator's push")
        result.data = {"setupSeconds": setup_seconds, "steps": data_steps, "pods": PODS}
    finally:
        if watched is not None:
            watched.stop()
        for operator in operators.values():
            operator.stop()
        for ns in namespaces.values():
            cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        cluster.stop()  # kept: the next run starts it again without building anything
    return result


def _uptime() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


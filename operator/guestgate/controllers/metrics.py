"""Prometheus metrics of the operator."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_TOTAL = Counter(
    "guestgate_reconcile_total", "Reconciles by kind and result (ok, error).", ["kind", "result"]
)
RECONCILE_SECONDS = Histogram(
    "guestgate_reconcile_duration_seconds",
    "Time one reconcile took.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WRITES_TOTAL = Counter("guestgate_operator_writes_total", "Writes to the API server by verb.", ["verb"])

# The state the status conditions hold, as gauges the chart's alerts and dashboard read. One series
# per trunk and per cluster (never per link: 10,000 links would be 10,000 series).
TRUNK_REACHABLE = Gauge(
    "guestgate_trunk_reachable",
    "1 when the pods' OPTIONS keepalives reach the trunk's peers (Reachable=True), 0 when not; absent while unknown",
    ["namespace", "trunk"],
)
TRUNK_HEALTHY = Gauge(
    "guestgate_trunk_healthy",
    "1 when the last health check passed (Healthy=True), 0 when it failed; reason: the diagnosis "
    "(e.g. PRACK_MISSING_DOWNSTREAM); absent before the first check",
    ["namespace", "trunk", "reason"],
)
CLUSTER_REPLICAS = Gauge(
    "guestgate_cluster_replicas", "Signalling pods wanted (spec.replicas)", ["namespace", "cluster"]
)
CLUSTER_READY = Gauge("guestgate_cluster_ready_replicas", "Signalling pods ready", ["namespace", "cluster"])
CLUSTER_REDUNDANT = Gauge(
    "guestgate_cluster_redundant", "1 when the Redundant condition is True (3 or more replicas)",
    ["namespace", "cluster"],
)
CLUSTER_SERVING = Gauge(
    "guestgate_cluster_pods_serving_config",
    "Ready signalling pods that serve the cluster's current configuration",
    ["namespace", "cluster"],
)
CLUSTER_LINKS = Gauge("guestgate_cluster_links", "GuestLinks published in the cluster's configuration",
                      ["namespace", "cluster"])
CLUSTER_GAUGES = (CLUSTER_REPLICAS, CLUSTER_READY, CLUSTER_REDUNDANT, CLUSTER_SERVING, CLUSTER_LINKS)
_healthy_reason: dict[tuple[str, str], str] = {}


def _condition(conditions: Sequence[dict[str, Any]], type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def record_trunk(namespace: str, name: str, status: dict[str, Any]) -> None:
    """Mirror a SipTrunk's Reachable and Healthy conditions into the gauges."""
    conditions = status.get("conditions", [])
    reachable = _condition(conditions, "Reachable")
    if reachable is not None and reachable.get("status") in ("True", "False"):
        TRUNK_REACHABLE.labels(namespace, name).set(1.0 if reachable["status"] == "True" else 0.0)
    else:
        _remove(TRUNK_REACHABLE, namespace, name)
    healthy = _condition(conditions, "Healthy")
    before = _healthy_reason.pop((namespace, name), None)
    if before is not None:
        _remove(TRUNK_HEALTHY, namespace, name, before)
    if healthy is not None and healthy.get("status") in ("True", "False"):
        reason = str(healthy.get("reason", ""))
        TRUNK_HEALTHY.labels(namespace, name, reason).set(1.0 if healthy["status"] == "True" else 0.0)
        _healthy_reason[(namespace, name)] = reason


def record_cluster(namespace: str, name: str, status: dict[str, Any]) -> None:
    redundant = _condition(status.get("conditions", []), "Redundant")
    CLUSTER_REPLICAS.labels(namespace, name).set(float(status.get("replicas", 0)))
    CLUSTER_READY.labels(namespace, name).set(float(status.get("readyReplicas", 0)))
    CLUSTER_REDUNDANT.labels(namespace, name).set(1.0 if redundant and redundant.get("status") == "True" else 0.0)
    CLUSTER_SERVING.labels(namespace, name).set(float(status.get("podsServingConfig", 0)))
    CLUSTER_LINKS.labels(namespace, name).set(float(status.get("links", 0)))


def forget(kind: str, namespace: str, name: str) -> None:
    """A deleted object's series go with it (no alert about a trunk that no longer exists)."""
    if kind == "SipTrunk":
        _remove(TRUNK_REACHABLE, namespace, name)
        reason = _healthy_reason.pop((namespace, name), None)
        if reason is not None:
            _remove(TRUNK_HEALTHY, namespace, name, reason)
    elif kind == "GuestCluster":
        for gauge in CLUSTER_GAUGES:
            _remove(gauge, namespace, name)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)

"""Prometheus metrics of the operator."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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

"""Prometheus metrics of a signalling pod, on a registry of its own (tests run several servers)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from guestgate.sip.diagnosis import Report

SETUP_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "guestgate_calls",
            "Calls placed over a trunk, by outcome (finding code or OK).",
            ("trunk", "outcome"),
            registry=self.registry,
        )
        self.setup = Histogram(
            "guestgate_call_setup_seconds",
            "Seconds from INVITE to answer of answered calls.",
            ("trunk",),
            buckets=SETUP_BUCKETS,
            registry=self.registry,
        )
        self.trunk_up = Gauge(
            "guestgate_trunk_up",
            "1 when the peer answers OPTIONS keepalives, 0 when it is down.",
            ("trunk", "peer"),
            registry=self.registry,
        )
        self.findings = Counter(
            "guestgate_health_findings",
            "Findings of health-check calls, by code.",
            ("trunk", "code"),
            registry=self.registry,
        )
        self.config_errors = Counter(
            "guestgate_config_reload_errors",
            "Configuration changes rejected (the last good one stays).",
            registry=self.registry,
        )

    def watch_refusals(self, source: Callable[[], dict[tuple[str, int], int]]) -> None:
        """Expose the engine's count of refused SIP requests (it counts them on its own thread)."""
        self.registry.register(_Refusals(source))

    def peer_state(self, trunk: str, peer: str, up: bool) -> None:
        self.trunk_up.labels(trunk=trunk, peer=peer).set(1 if up else 0)

    def forget_trunk(self, trunk: str, peers: list[str]) -> None:
        for peer in peers:
            with contextlib.suppress(KeyError):  # never pinged: no series to remove
                self.trunk_up.remove(trunk, peer)

    def call(self, trunk: str, outcome: str, setup_seconds: float | None) -> None:
        self.calls.labels(trunk=trunk, outcome=outcome).inc()
        if setup_seconds is not None:
            self.setup.labels(trunk=trunk).observe(setup_seconds)

    def health_report(self, trunk: str, report: Report) -> None:
        for finding in report.findings:
            self.findings.labels(trunk=trunk, code=finding.code).inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Refusals(Collector):
    def __init__(self, source: Callable[[], dict[tuple[str, int], int]]) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "guestgate_sip_requests_refused",
            "SIP requests refused because they would make the pod act for the far side (REFER, INVITE with "
            "Replaces or Join, an incoming INVITE, SUBSCRIBE, NOTIFY, MESSAGE, INFO but DTMF...), by method, status.",
            labels=("method", "status"),
        )
        for (method, status), count in sorted(self._source().items()):
            family.add_metric([method, str(status)], count)
        yield family

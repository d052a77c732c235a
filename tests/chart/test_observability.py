"""The chart's observability pack: the alert rules pass `promtool check rules` and their unit tests
(`promtool test rules`), every query of the alerts and of the Grafana dashboard names a metric the
code exports, and the chart renders the PodMonitor, ServiceMonitor, PrometheusRule, dashboard
ConfigMap and the `helm test` pod when asked."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, CollectorRegistry

from fixtures.operator import REPO
from guestgate_dev.cluster import DevCluster

CHART = REPO / "charts" / "guestgate"
ALERTS = CHART / "files" / "alerts.yaml"
DASHBOARD = CHART / "files" / "dashboard.json"
ALERT_TESTS = Path(__file__).resolve().parent / "alerts_test.yaml"
METRIC = re.compile(r"\bguestgate_[a-z0-9_]+")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules() -> None:
    done = promtool("check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def test_promtool_test_rules() -> None:
    done = promtool("test", "rules", str(ALERT_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def exported_metrics() -> set[str]:
    """Every sample name the operator, the signalling pods and the TURN pods' agents can export."""
    import guestgate.controllers.metrics
    import guestgate.kube.client
    import guestgate.web.metrics  # noqa: F401  (registers into the default registry)
    from guestgate.signal.metrics import Metrics
    from guestgate.turn.metrics import TurnMetrics

    registries: list[CollectorRegistry] = [REGISTRY, Metrics().registry, TurnMetrics().registry]
    names: set[str] = set()
    for registry in registries:
        for family in registry.collect():
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return {name for name in names if name.startswith("guestgate_")}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    queries += [v["query"] for v in dashboard["templating"]["list"] if v.get("type") == "query"]
    return queries


def alert_queries() -> list[str]:
    return [rule["expr"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_query_names_a_metric_the_code_exports(source: str) -> None:
    queries = dashboard_queries() if source == "dashboard" else alert_queries()
    exported = exported_metrics()
    used = {name for query in queries for name in METRIC.findall(query)}
    assert len(queries) >= 6 and used
    assert used <= exported, f"not exported by any code: {sorted(used - exported)}"


def test_the_dashboard_shows_what_on_call_needs() -> None:
    titles = " / ".join(p["title"] for p in json.loads(DASHBOARD.read_text())["panels"])
    for wanted in ("Calls in progress", "Call setup time", "Refusals by reason", "Trunk health by reason",
                   "Signalling pods", "Links published"):
        assert wanted in titles


def render(dev_cluster: DevCluster, *values: str) -> list[dict[str, Any]]:
    out = dev_cluster.helm("template", "gg", str(CHART), "--namespace", "guestgate-system", *values).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_the_chart_renders_the_monitoring_objects_when_asked(dev_cluster: DevCluster) -> None:
    assert not {d["kind"] for d in render(dev_cluster)} & {"PodMonitor", "ServiceMonitor", "PrometheusRule"}
    docs = render(dev_cluster, *(f"--set=monitoring.{part}.enabled=true" for part in
                                 ("serviceMonitor", "podMonitor", "prometheusRule", "dashboard")))
    by_kind = {d["kind"]: d for d in docs if d["kind"] in ("ServiceMonitor", "PrometheusRule")}
    assert set(by_kind) == {"ServiceMonitor", "PrometheusRule"}
    assert by_kind["PrometheusRule"]["spec"] == yaml.safe_load(ALERTS.read_text())
    pod_monitors = {d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]: d["spec"]
                    for d in docs if d["kind"] == "PodMonitor"}
    assert set(pod_monitors) == {"guestgate-signal", "guestgate-turn"}  # the TURN agent's guestgate_turn_*
    for spec in pod_monitors.values():
        assert spec["podMetricsEndpoints"][0]["port"] == "admin"
        assert spec["namespaceSelector"] == {"any": True}
    assert by_kind["ServiceMonitor"]["spec"]["endpoints"][0]["honorLabels"] is True
    dashboard = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "gg-guestgate-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["guestgate.json"]) == json.loads(DASHBOARD.read_text())
    test_pod = next(d for d in docs if d["kind"] == "Pod")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert test_pod["spec"]["containers"][0]["command"][2] == (CHART / "files" / "helm_test.py").read_text()

"""Operating it on the real node: `helm test` checks the operator and the links' pages, and an edit
reaches every real pod through the operator's push (the kubelet's ConfigMap sync takes 10 s and
more here): once the link's Published condition counts every ready pod, every pod's page shows
the edit and every pod reports the digest the GuestCluster's status names."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from fixtures.operator import wait_for
from node.conftest import CLUSTER, DEMO_NAMESPACE, OPERATOR_NAMESPACE, RELEASE, AdminAPI, Node

pytestmark = [pytest.mark.cluster, pytest.mark.node]


def test_helm_test_checks_the_operator_and_the_link_pages(node_cluster: Node, examples: list[dict[str, Any]]) -> None:
    wait_for("an Active link", lambda: any(
        (link.get("status") or {}).get("phase") == "Active"
        for link in node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "guestlinks")["items"]), timeout=60)
    done = node_cluster.cluster.helm("test", RELEASE, "-n", OPERATOR_NAMESPACE, "--logs", "--timeout", "180s",
                                     check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "Phase:          Succeeded" in out or "Phase: Succeeded" in out.replace("  ", " "), out
    assert f"operator {OPERATOR_NAMESPACE}/guestgate-metrics http://" in out and ": 200" in out
    assert f"link {DEMO_NAMESPACE}/" in out and '"failures": 0' in out


def _page(ip: str, path: str) -> str:
    try:
        with urllib.request.urlopen(f"http://{ip}:8080{path}", timeout=5) as response:
            return str(response.read().decode(errors="replace"))
    except (urllib.error.URLError, OSError) as error:
        return f"unreachable: {error}"


def test_an_edit_is_served_by_every_pod_once_published_says_so(node_cluster: Node,
                                                               examples: list[dict[str, Any]]) -> None:
    admin = AdminAPI.of(node_cluster)
    pods = admin.ready_pods()
    assert len(pods) == 3
    name = f"Call sales {uuid.uuid4().hex[:6]}"
    node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "patch", "guestlink", "sales", "--type=merge",
                                 "-p", json.dumps({"spec": {"displayName": name}}))
    generation = node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "guestlink", "sales")["metadata"]["generation"]

    def published() -> dict[str, Any] | None:
        status = node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "guestlink", "sales").get("status") or {}
        condition = next((c for c in status.get("conditions", []) if c["type"] == "Published"), None)
        ok = condition and condition["status"] == "True" and condition["observedGeneration"] == generation
        return condition if ok else None

    condition = wait_for("Published for the edit", published, timeout=60)
    assert "served by 3 of 3 ready signalling pods" in condition["message"], condition
    # No waiting from here: Published means every ready pod serves the edit now.
    for pod, ip in pods.items():
        assert name in _page(ip, "/call/sales"), pod
        status = admin.request(ip, "GET", "/v1/status", timeout=10)
        assert status["config"]["source"] == "pushed" and status["ready"] is True, (pod, status["config"])
    # The cluster's status is written by its own reconcile, queued at the same moment as the link's:
    # until it has run, the status still counts the pods on the configuration before the edit.
    served = {admin.digest(ip) for ip in pods.values()}
    cluster = wait_for("the cluster counting 3 pods on its configuration", lambda: (
        (s := node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "guestcluster", CLUSTER)["status"])
        .get("podsServingConfig") == 3 and s.get("configDigest") in served and s), timeout=30)
    assert served == {cluster["configDigest"]}

"""`helm upgrade` with changed values and `helm uninstall` on the real node: what remains afterwards
is only what Helm keeps by its rules (the CRDs). A release of its own, watching one namespace,
so the session's release (which watches all) is not disturbed."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.operator import wait_for
from node.conftest import REPO, Node, helm_values, pod_ready

pytestmark = [pytest.mark.cluster, pytest.mark.node]

NAME = "gg-lifecycle"
NAMESPACE = "gg-lifecycle-system"
WATCHED = ("gg-lifecycle-a", "gg-lifecycle-b")
# Everything a release may create, namespaced or not.
KINDS = "deployments,replicasets,pods,services,serviceaccounts,roles,rolebindings,configmaps,secrets"
CLUSTER_KINDS = "clusterroles,clusterrolebindings"


def _release_objects(node: Node, kinds: str, *namespace: str) -> list[str]:
    args = ["-n", namespace[0]] if namespace else []
    listing: dict[str, Any] = node.kubectl_json(*args, "get", kinds, "-l", f"app.kubernetes.io/instance={NAME}")
    return sorted(f"{o['kind']}/{o['metadata']['name']}" for o in listing["items"])


def _everywhere(node: Node) -> list[str]:
    found = _release_objects(node, CLUSTER_KINDS)
    for namespace in (NAMESPACE, *WATCHED):
        found += _release_objects(node, KINDS, namespace)
    # Helm's own record of the release.
    found += [f"Secret/{s['metadata']['name']}" for s in node.kubectl_json(
        "-n", NAMESPACE, "get", "secrets", "-l", f"owner=helm,name={NAME}")["items"]]
    return found


def test_helm_upgrade_applies_new_values_and_uninstall_leaves_only_the_crds(
    node_cluster: Node, release: str
) -> None:
    helm = node_cluster.cluster.helm
    for namespace in WATCHED:
        node_cluster.cluster.kubectl("create", "namespace", namespace, check=False)
    chart = str(REPO / "charts" / "guestgate")
    try:
        helm("install", NAME, chart, "-n", NAMESPACE, "--create-namespace", "--wait", "--timeout", "180s",
             *helm_values(node_cluster, **{"watchNamespaces[0]": WATCHED[0]}))
        assert _release_objects(node_cluster, "roles", WATCHED[0]), "a Role in the watched namespace"
        assert _release_objects(node_cluster, "services", NAMESPACE), "the metrics Service"

        helm("upgrade", NAME, chart, "-n", NAMESPACE, "--wait", "--timeout", "180s",
             *helm_values(node_cluster, **{"watchNamespaces[0]": WATCHED[1], "logLevel": "debug",
                                           "metrics.service.enabled": "false"}))
        assert not _release_objects(node_cluster, "roles", WATCHED[0]), "the old namespace's Role is gone"
        assert _release_objects(node_cluster, "roles", WATCHED[1]), "a Role in the newly watched namespace"
        assert not _release_objects(node_cluster, "services", NAMESPACE), "metrics Service disabled"
        pod = wait_for("the upgraded operator Ready", lambda: next(
            (p for p in node_cluster.pods(NAMESPACE, f"app.kubernetes.io/instance={NAME}")
             if pod_ready(p) and "--log-level=debug" in p["spec"]["containers"][0]["args"]), None), timeout=120)
        assert f"--namespace={WATCHED[1]}" in pod["spec"]["containers"][0]["args"]

        helm("uninstall", NAME, "-n", NAMESPACE, "--wait", "--timeout", "120s")
        left = wait_for("nothing of the release left", lambda: _everywhere(node_cluster) == [] or None, timeout=120)
        assert left
        crds = node_cluster.kubectl_json("get", "crds")["items"]
        assert {"guestclusters.guestgate.io", "siptrunks.guestgate.io", "guestlinks.guestgate.io"} <= {
            c["metadata"]["name"] for c in crds}, "Helm keeps the CRDs"
    finally:
        helm("uninstall", NAME, "-n", NAMESPACE, check=False)
        for namespace in (NAMESPACE, *WATCHED):
            node_cluster.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

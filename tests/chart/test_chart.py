"""The Helm chart: lint, golden templates, schema-checked values, and a real install whose RBAC
is exactly enough for the operator to do its work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from fixtures.operator import REPO, OperatorProcess, wait_for
from guestgate_dev.cluster import DevCluster
from guestgate_dev.cluster.cluster import ClusterError
from support.golden import assert_golden

CHART = REPO / "charts" / "guestgate"
GOLDEN = Path(__file__).resolve().parent.parent / "data" / "chart"

TEMPLATE_CASES = {
    "default": [],
    "namespaced": ["--set", "watchNamespaces={team-a,team-b}", "--set", "logLevel=debug"],
}


def helm(dev_cluster: DevCluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return dev_cluster.helm(*args, check=check)


def test_helm_lint(dev_cluster: DevCluster) -> None:
    done = helm(dev_cluster, "lint", "--strict", str(CHART), check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("case", sorted(TEMPLATE_CASES))
def test_helm_template_matches_golden(dev_cluster: DevCluster, case: str) -> None:
    rendered = helm(dev_cluster, "template", "gg", str(CHART), "--namespace", "guestgate-system",
                    *TEMPLATE_CASES[case]).stdout
    assert_golden(GOLDEN / f"{case}.yaml", rendered, f"the chart rendered for {case}")


def test_namespaced_install_gets_roles_not_a_cluster_role(dev_cluster: DevCluster) -> None:
    docs = [d for d in yaml.safe_load_all((GOLDEN / "namespaced.yaml").read_text()) if d]
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in docs]
    assert ("Role", "team-a") in kinds and ("Role", "team-b") in kinds
    cluster_rules = [r for d in docs if d["kind"] == "ClusterRole" for r in d["rules"]]
    assert all("guestgate.io" not in r["apiGroups"] for r in cluster_rules)  # only discovery is cluster-wide
    assert all(r["verbs"] == ["get", "list", "watch"] for r in cluster_rules)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--log-level=debug" in args


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "logLevel=loud"], "logLevel"),
        (["--set", "metrics.port=0"], "/metrics/port"),
        (["--set", "watchNamespaces={Bad_Name}"], "/watchNamespaces/0"),
        (["--set", "unknownKey=1"], "unknownKey"),
    ],
)
def test_values_schema_rejects_bad_values(dev_cluster: DevCluster, values: list[str], message: str) -> None:
    done = helm(dev_cluster, "template", "gg", str(CHART), *values, check=False)
    assert done.returncode != 0
    assert message in done.stderr


@pytest.mark.cluster
def test_real_install_and_least_privilege_rbac(dev_cluster: DevCluster, tmp_path: Path) -> None:
    release, namespace = "gg", "guestgate-system"
    helm(dev_cluster, "uninstall", release, "-n", namespace, check=False)
    done = helm(dev_cluster, "install", release, str(CHART), "-n", namespace, "--create-namespace")
    assert "kubectl get guestgate" in done.stdout  # NOTES.txt tells the next step
    kubectl = dev_cluster.kubectl
    for kind, name in [("deployment", "gg-guestgate"), ("serviceaccount", "gg-guestgate"),
                       ("service", "gg-guestgate-metrics")]:
        kubectl("-n", namespace, "get", kind, name)
    kubectl("get", "clusterrole", "gg-guestgate")
    kubectl("get", "clusterrolebinding", "gg-guestgate")
    for crd in ("guestclusters", "siptrunks", "guestlinks"):
        kubectl("get", "crd", f"{crd}.guestgate.io")

    sa = f"system:serviceaccount:{namespace}:gg-guestgate"
    for verb, resource, allowed in [
        ("patch", "guestclusters.guestgate.io --subresource=status", "yes"),
        ("update", "guestclusters.guestgate.io --subresource=status", "no"),
        ("watch", "siptrunks.guestgate.io", "yes"),
        ("patch", "statefulsets.apps", "yes"),
        ("create", "secrets", "yes"),
        ("delete", "secrets", "no"),
        ("list", "secrets", "no"),
        ("update", "guestlinks.guestgate.io", "no"),
        ("get", "nodes", "no"),
        ("create", "pods/exec", "no"),
    ]:
        answer = kubectl("auth", "can-i", verb, *resource.split(), "--as", sa, check=False).stdout.strip()
        assert answer == allowed, (verb, resource, answer)

    # The operator, run with exactly the chart's permissions, reconciles the examples.
    token = kubectl("-n", namespace, "create", "token", "gg-guestgate", "--duration=1h").stdout.strip()
    kubeconfig = tmp_path / "operator.kubeconfig"
    base = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    cluster_entry = base["clusters"][0]
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": "operator", "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": cluster_entry["name"], "user": "operator"}}],
        "current-context": "operator",
    }))
    operator = OperatorProcess(dev_cluster, tmp_path / "operator.log")
    operator.cluster = _WithKubeconfig(dev_cluster, kubeconfig)  # type: ignore[assignment]
    operator.start()
    try:
        ns = "rbac-check"
        kubectl("create", "namespace", ns, check=False)
        for name in ("guestcluster.yaml", "siptrunk-cucm.yaml", "guestlink-sales.yaml"):
            kubectl("-n", ns, "apply", "-f", str(REPO / "examples" / name))
        wait_for("the StatefulSet made with the chart's RBAC",
                 lambda: kubectl("-n", ns, "get", "statefulset", "contact-center-signal", check=False).returncode == 0)
        wait_for("link status written with the chart's RBAC",
                 lambda: "Active" in kubectl("-n", ns, "get", "gl", "sales", check=False).stdout)
        assert "forbidden" not in operator.log_path.read_text().lower()
    finally:
        operator.stop()
        kubectl("delete", "namespace", "rbac-check", "--wait=false", check=False)

    helm(dev_cluster, "uninstall", release, "-n", namespace)
    wait_for("the Deployment to go", lambda: kubectl("-n", namespace, "get", "deployment", "gg-guestgate",
                                                     check=False).returncode != 0)
    with pytest.raises(ClusterError):
        kubectl("get", "clusterrole", "gg-guestgate")
    kubectl("get", "crd", "guestlinks.guestgate.io")  # Helm keeps CRDs on uninstall


class _WithKubeconfig:
    """The dev cluster seen through another kubeconfig (the operator's own identity)."""

    def __init__(self, cluster: DevCluster, kubeconfig: Path) -> None:
        self._cluster = cluster
        self.kubeconfig = kubeconfig

    def env(self) -> dict[str, str]:
        return {**self._cluster.env(), "KUBECONFIG": str(self.kubeconfig)}

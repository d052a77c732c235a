"""Against the real control plane: the garbage collector of the real kube-controller-manager,
the pinned tools, and `guestgate-dev cluster up/status/down` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from guestgate_dev.cluster import DevCluster, ensure_binaries
from guestgate_dev.cluster.versions import KUBECTL

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[3]


def configmap(name: str, namespace: str, owner: dict[str, str] | None = None) -> str:
    metadata: dict[str, object] = {"name": name, "namespace": namespace}
    if owner:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", **owner}]
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}})


def test_deleting_an_owner_garbage_collects_its_child(dev_cluster: DevCluster) -> None:
    namespace = f"gc-{uuid.uuid4().hex[:8]}"
    dev_cluster.kubectl("create", "namespace", namespace)
    dev_cluster.kubectl("apply", "-f", "-", input=configmap("parent", namespace))
    uid = dev_cluster.kubectl("get", "configmap", "parent", "-n", namespace, "-o", "jsonpath={.metadata.uid}").stdout
    dev_cluster.kubectl("apply", "-f", "-", input=configmap("child", namespace, {"name": "parent", "uid": uid}))
    assert dev_cluster.kubectl("get", "configmap", "child", "-n", namespace, check=False).returncode == 0

    dev_cluster.kubectl("delete", "configmap", "parent", "-n", namespace, "--wait=true")

    deadline = time.monotonic() + 60
    while dev_cluster.kubectl("get", "configmap", "child", "-n", namespace, check=False).returncode == 0:
        assert time.monotonic() < deadline, "the child ConfigMap outlived its owner by 60s: is the GC running?"
        time.sleep(0.5)
    dev_cluster.kubectl("delete", "namespace", namespace, "--wait=false")


def test_pinned_tools_report_real_versions(dev_cluster: DevCluster) -> None:
    version = json.loads(dev_cluster.kubectl("version", "-o", "json").stdout)
    assert version["clientVersion"]["gitVersion"] == "v1.34.4"
    assert version["serverVersion"]["gitVersion"] == "v1.34.4"
    assert "v3.19.5" in dev_cluster.helm("version", "--short").stdout
    # Helm sees the server version too (charts with kubeVersion constraints depend on it).
    assert dev_cluster.helm("list", "--all-namespaces").returncode == 0


def test_service_account_tokens_are_issued(dev_cluster: DevCluster) -> None:
    # The signing key, issuer and the TokenRequest API work together (pods and the operator need them).
    token = dev_cluster.kubectl("create", "token", "default", "--duration=10m").stdout.strip()
    assert token.count(".") == 2
    # A kubeconfig-free call, so the admin client certificate cannot win over the token.
    kubectl = str(ensure_binaries([KUBECTL])["kubectl"])
    ca = dev_cluster.state_dir / "pki" / "ca.crt"
    who = subprocess.run(
        [kubectl, "--kubeconfig=/dev/null", f"--server={dev_cluster.server}", f"--certificate-authority={ca}",
         f"--token={token}", "auth", "whoami", "-o", "json"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(who.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:default:default"


def guestgate(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "operator"))
    return subprocess.run([sys.executable, "-m", "guestgate_dev", "cluster", *args], capture_output=True, text=True,
                          env=env, timeout=600, check=False)


def test_cluster_command_up_status_down() -> None:
    name = f"pytest-cli-{os.getpid()}"
    try:
        up = guestgate("up", "--name", name)
        assert up.returncode == 0, up.stderr
        cluster = DevCluster(name)
        assert up.stdout.strip() == f"export KUBECONFIG={cluster.kubeconfig}"

        again = guestgate("up", "--name", name)  # idempotent: reuses the running cluster
        assert again.returncode == 0 and again.stdout == up.stdout, again.stderr

        status = guestgate("status", "--name", name)
        assert status.returncode == 0, status.stdout + status.stderr
        assert f"cluster {name}: running, API ready" in status.stdout

        namespaces = subprocess.run([str(DevCluster(name).cache.bin_dir / "kubectl-v1.34.4"), "get", "ns"],
                                    env=cluster.env(), capture_output=True, text=True, check=True)
        assert "kube-system" in namespaces.stdout

        down = guestgate("down", "--name", name)
        assert down.returncode == 0, down.stderr
        stopped = guestgate("status", "--name", name)
        assert stopped.returncode == 1
        assert f"cluster {name}: stopped" in stopped.stdout
        assert (cluster.state_dir / "logs" / "kube-apiserver.log").stat().st_size > 0  # logs are kept
    finally:
        guestgate("down", "--name", name, "--delete")
    assert not DevCluster(name).state_dir.exists()


def test_context_manager_stops_only_what_it_started() -> None:
    name = f"pytest-ctx-{os.getpid()}"
    try:
        with DevCluster(name) as outer:
            with DevCluster(name) as inner:  # finds it running: reuses, and must not stop it
                assert inner.kubectl("get", "namespace", "default").returncode == 0
            assert outer.status().running
        assert not DevCluster(name).status().running
    finally:
        DevCluster(name).delete()

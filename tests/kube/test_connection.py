"""Where the operator's kube client connects, read from a kubeconfig (pure: files only)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestgate.kube import connection
from guestgate.kube.client import Kube
from guestgate.kube.connection import ApiException, ConfigException, from_kubeconfig
from guestgate_dev.cluster import DevCluster


def _write(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None = None) -> Path:
    document = {
        "apiVersion": "v1", "kind": "Config", "current-context": "here",
        "contexts": [{"name": "here", "context": {"cluster": "c", "user": "u"}}],
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://127.0.0.1:6443/",
                                                          "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_token_and_a_token_file_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    connection = from_kubeconfig(_write(tmp_path, {"token": "abc"}))
    assert connection.server == "https://127.0.0.1:6443" and connection.bearer() == "abc"
    (tmp_path / "token").write_text("from-file\n")
    assert from_kubeconfig(_write(tmp_path, {"tokenFile": "token"})).bearer() == "from-file"


@pytest.mark.parametrize(
    ("user", "cluster", "message"),
    [
        ({"exec": {"command": "aws"}}, None, "exec and auth-provider credentials are not supported"),
        ({}, {"certificate-authority-data": base64.b64encode(b"x").decode()}, "the cluster has no server"),
        ({"client-certificate": "missing.crt", "client-key": "missing.key"}, {"server": "https://h:1"}, None),
    ],
    ids=["exec plugin", "no server", "missing files"],
)
def test_what_cannot_be_used_is_said(tmp_path: Path, user: dict[str, Any], cluster: dict[str, Any] | None,
                                      message: str | None) -> None:
    with pytest.raises((ConfigException, OSError)) as raised:
        from_kubeconfig(_write(tmp_path, user, cluster))
    if message is not None:
        assert message in str(raised.value)


def test_no_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigException, match="nope"):
        from_kubeconfig(tmp_path / "nope")


@pytest.mark.cluster
def test_in_a_pod_the_service_account_token_and_ca_reach_the_api_server(
    dev_cluster: DevCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a pod has: KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA (here of a
    service account that may do nothing: its own identity is all the API server tells it)."""
    kubeconfig = yaml.safe_load(dev_cluster.kubeconfig.read_text())
    cluster = kubeconfig["clusters"][0]["cluster"]
    host, port = cluster["server"].removeprefix("https://").rsplit(":", 1)
    dev_cluster.kubectl("create", "serviceaccount", "conn-test", "-n", "default", check=False)
    token = dev_cluster.kubectl("create", "token", "conn-test", "-n", "default").stdout.strip()
    (tmp_path / "token").write_text(token)
    (tmp_path / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    monkeypatch.setattr(connection, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    kube = Kube.from_environment("conn-test")
    review = kube._call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                        body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == "system:serviceaccount:default:conn-test"
    with pytest.raises(ApiException) as denied:  # what RBAC refuses comes back as the API server said it
        kube.get("Secret", "default", "anything")
    assert denied.value.status == 403


def test_kopf_logs_in_at_the_service_address_not_a_dns_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pod kopf's watches go where guestgate.kube goes: KUBERNETES_SERVICE_HOST, no DNS."""
    from guestgate.controllers import handlers

    (tmp_path / "token").write_text("pod-token\n")
    (tmp_path / "ca.crt").write_text("ca")
    (tmp_path / "namespace").write_text("guestgate-system")
    monkeypatch.setattr(connection, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    info = handlers.service_account_login()
    assert info is not None and info.server == "https://10.96.0.1:443" and info.token == "pod-token"
    assert info.ca_path == str(tmp_path / "ca.crt") and info.default_namespace == "guestgate-system"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert handlers.service_account_login() is None  # not in a pod: the kubeconfig

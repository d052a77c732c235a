from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from guestgate_dev.cluster.kubeconfig import dump_kubeconfig, render_kubeconfig


def render(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "cluster": "demo",
        "server": "https://127.0.0.1:6443",
        "ca_pem": b"CA",
        "user": "admin",
        "client_cert_pem": b"CERT",
        "client_key_pem": b"KEY",
    }
    return render_kubeconfig(**(arguments | overrides))


@pytest.mark.parametrize(
    ("case", "path", "expected"),
    [
        ("context named like kind's, never colliding", ("current-context",), "guestgate-demo"),
        ("server URL as given", ("clusters", 0, "cluster", "server"), "https://127.0.0.1:6443"),
        ("user entry per identity", ("users", 0, "name"), "guestgate-demo-admin"),
        ("context points at the user", ("contexts", 0, "context", "user"), "guestgate-demo-admin"),
        ("CA embedded", ("clusters", 0, "cluster", "certificate-authority-data"), "Q0E="),
    ],
)
def test_render(case: str, path: tuple[str | int, ...], expected: str) -> None:
    node: Any = render()
    for key in path:
        node = node[key]
    assert node == expected, case


def test_client_credentials_are_embedded_base64() -> None:
    user = render()["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == b"CERT"
    assert base64.b64decode(user["client-key-data"]) == b"KEY"


def test_namespace_only_when_asked() -> None:
    assert "namespace" not in render()["contexts"][0]["context"]
    assert render(namespace="gg")["contexts"][0]["context"]["namespace"] == "gg"


def test_dump_round_trips() -> None:
    config = render()
    assert yaml.safe_load(dump_kubeconfig(config)) == config

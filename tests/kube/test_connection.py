"""Where the operator's kube client connects, read from a kubeconfig (pure: files only)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestgate.kube.connection import ConfigException, from_kubeconfig


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

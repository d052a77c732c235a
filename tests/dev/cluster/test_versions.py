"""Pins stay consistent with each other."""

from __future__ import annotations

import pytest

from guestgate_dev.cluster.versions import (
    ALL_BINARIES,
    HELM_BINARY,
    KUBECTL,
    KUBERNETES,
    binary_named,
    staging_version,
)


@pytest.mark.parametrize(
    ("kubernetes", "staging"),
    [("v1.34.4", "v0.34.4"), ("v1.9.0", "v0.9.0"), ("v1.35.0-rc.1", "v0.35.0-rc.1")],
)
def test_staging_version(kubernetes: str, staging: str) -> None:
    assert staging_version(kubernetes) == staging


@pytest.mark.parametrize("bad", ["1.34.4", "v2.0.0", "v0.34.4"])
def test_staging_version_rejects_what_is_not_a_kubernetes_release(bad: str) -> None:
    with pytest.raises(ValueError, match="expected a Kubernetes version"):
        staging_version(bad)


def test_binaries_have_unique_names_and_versioned_cache_names() -> None:
    names = [b.name for b in ALL_BINARIES]
    assert len(set(names)) == len(names)
    assert KUBECTL.cache_name == "kubectl-v1.34.4"
    assert binary_named("helm") is HELM_BINARY
    with pytest.raises(KeyError, match="known: etcd"):
        binary_named("kube-dns")


def test_helm_assumes_the_kubernetes_minor_we_run() -> None:
    minor = KUBERNETES.version.split(".")[1]
    assert f"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor={minor}" in HELM_BINARY.module.ldflags

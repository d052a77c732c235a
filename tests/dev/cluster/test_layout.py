from __future__ import annotations

from pathlib import Path

import pytest

from guestgate_dev.cluster.layout import CacheLayout, default_cache_root, validate_cluster_name
from guestgate_dev.cluster.versions import KUBE_APISERVER, KUBERNETES


@pytest.mark.parametrize(
    ("case", "environ", "expected"),
    [
        ("explicit override wins", {"GUESTGATE_CACHE": "/c", "XDG_CACHE_HOME": "/x"}, Path("/c")),
        ("XDG cache home honoured", {"XDG_CACHE_HOME": "/x"}, Path("/x/guestgate")),
        ("home cache by default", {}, Path.home() / ".cache" / "guestgate"),
    ],
)
def test_default_cache_root(case: str, environ: dict[str, str], expected: Path) -> None:
    assert default_cache_root(environ) == expected, case


@pytest.mark.parametrize("name", ["guestgate", "pytest-1234", "a", "x1"])
def test_valid_names(name: str) -> None:
    assert validate_cluster_name(name) == name


@pytest.mark.parametrize("name", ["", "Upper", "-lead", "trail-", "a/b", "..", "x" * 41, "a_b"])
def test_invalid_names_say_what_is_allowed(name: str) -> None:
    with pytest.raises(ValueError, match="lowercase letters, digits and '-'"):
        validate_cluster_name(name)


def test_paths() -> None:
    cache = CacheLayout(Path("/c"))
    cluster = cache.cluster("demo")
    assert cache.bin_dir / KUBE_APISERVER.cache_name == Path("/c/bin/kube-apiserver-v1.34.4")
    assert cache.wrapper_dir(KUBERNETES) == Path("/c/build/k8s.io_kubernetes@v1.34.4")
    assert cluster.kubeconfig == Path("/c/clusters/demo/kubeconfig")
    assert cluster.log_file("etcd") == Path("/c/clusters/demo/logs/etcd.log")
    assert cluster.pid_file("etcd") == Path("/c/clusters/demo/run/etcd.pid")
    assert cluster.component_kubeconfig("kcm") == Path("/c/clusters/demo/kubeconfigs/kcm.kubeconfig")
    assert cluster.lock_file == Path("/c/clusters/.locks/demo.lock")  # outside what delete removes

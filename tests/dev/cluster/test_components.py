"""Flag tables for each component: one row per flag that matters and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from guestgate_dev.cluster.components import (
    APISERVER,
    CONTROL_PLANE,
    CONTROLLER_MANAGER,
    ETCD,
    SETTLED_PATHS,
    ClusterConfig,
    Component,
    apiserver_serving,
    port_names,
)
from guestgate_dev.cluster.layout import ClusterLayout

STATE = Path("/state/clusters/t")
CFG = ClusterConfig(
    name="t",
    layout=ClusterLayout(STATE),
    ports={"etcd-client": 20001, "etcd-peer": 20002, "apiserver": 20003, "controller-manager": 20004},
    binaries={name: Path(f"/bin/{name}") for name in ("etcd", "kube-apiserver", "kube-controller-manager")},
    advertise_address="192.0.2.2",
)


def flags(component: Component, cfg: ClusterConfig = CFG) -> list[str]:
    return component.args(cfg)


@pytest.mark.parametrize(
    ("component", "flag", "why"),
    [
        (ETCD, "--listen-client-urls=http://127.0.0.1:20001", "etcd only on loopback, on its own port"),
        (ETCD, "--listen-peer-urls=http://127.0.0.1:20002", "no default :2380 clash between clusters"),
        (ETCD, "--initial-cluster=t=http://127.0.0.1:20002", "single member named after the cluster"),
        (ETCD, f"--data-dir={STATE}/data/etcd", "data inside the state dir"),
        (APISERVER, "--etcd-servers=http://127.0.0.1:20001", "talks to our etcd"),
        (APISERVER, "--secure-port=20003", "free port chosen at start"),
        (APISERVER, "--bind-address=127.0.0.1", "loopback only"),
        (APISERVER, "--advertise-address=192.0.2.2", "a non-loopback endpoint for the kubernetes Service"),
        (APISERVER, "--authorization-mode=RBAC", "RBAC as in production"),
        (APISERVER, f"--client-ca-file={STATE}/pki/ca.crt", "client certificates of the cluster CA"),
        (APISERVER, "--service-account-issuer=https://kubernetes.default.svc.cluster.local", "SA tokens"),
        (APISERVER, f"--service-account-key-file={STATE}/pki/service-account.pub", "verifies tokens"),
        (APISERVER, f"--service-account-signing-key-file={STATE}/pki/service-account.key", "signs tokens"),
        (APISERVER, f"--requestheader-client-ca-file={STATE}/pki/front-proxy-ca.crt", "own front-proxy CA"),
        (APISERVER, "--service-cluster-ip-range=10.96.0.0/16", "Service IPs"),
        (CONTROLLER_MANAGER, "--controllers=*", "all default controllers, garbage collector included"),
        (CONTROLLER_MANAGER, "--use-service-account-credentials=true", "per-controller identities"),
        (CONTROLLER_MANAGER, f"--kubeconfig={STATE}/kubeconfigs/kube-controller-manager.kubeconfig",
         "its own identity"),
        (CONTROLLER_MANAGER, f"--root-ca-file={STATE}/pki/ca.crt", "ca.crt in every SA token volume"),
        (CONTROLLER_MANAGER, f"--service-account-private-key-file={STATE}/pki/service-account.key",
         "legacy token signing"),
        (CONTROLLER_MANAGER, f"--cluster-signing-cert-file={STATE}/pki/ca.crt", "CSR signing"),
        (CONTROLLER_MANAGER, "--secure-port=20004", "no default :10257 clash"),
        (CONTROLLER_MANAGER, "--leader-elect=false", "restarts do not wait for an old lease"),
        (CONTROLLER_MANAGER, "--kube-api-qps=100", "no client-side throttling at start (4s instead of 8s)"),
    ],
    ids=lambda value: value if isinstance(value, str) and value.startswith("--") else None,
)
def test_flag(component: Component, flag: str, why: str) -> None:
    assert flag in flags(component), why


@pytest.mark.parametrize("component", CONTROL_PLANE, ids=lambda c: c.name)
def test_no_flag_is_given_twice_and_the_binary_comes_first(component: Component) -> None:
    argv = flags(component)
    assert argv[0] == f"/bin/{component.executable}"
    names = [arg.split("=", 1)[0] for arg in argv[1:]]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("component", CONTROL_PLANE, ids=lambda c: c.name)
def test_every_path_in_the_flags_is_inside_the_state_dir(component: Component) -> None:
    for arg in flags(component)[1:]:
        value = arg.split("=", 1)[-1]
        if value.startswith("/"):
            assert value.startswith(str(STATE)), arg


def test_authorization_modes_are_configurable_for_a_later_node() -> None:
    cfg = ClusterConfig(**{**CFG.__dict__, "authorization_modes": ("Node", "RBAC")})
    assert "--authorization-mode=Node,RBAC" in flags(APISERVER, cfg)


def test_apiserver_certificate_names_every_way_to_reach_it() -> None:
    serving = apiserver_serving(CFG)
    assert serving.ip_addresses == ("127.0.0.1", "192.0.2.2", "10.96.0.1")
    assert "kubernetes.default.svc.cluster.local" in serving.dns_names


def test_loopback_advertise_address_is_not_listed_twice() -> None:
    cfg = ClusterConfig(**{**CFG.__dict__, "advertise_address": "127.0.0.1"})
    assert apiserver_serving(cfg).ip_addresses == ("127.0.0.1", "10.96.0.1")


def test_probes_use_the_allocated_ports() -> None:
    assert ETCD.probe(CFG).url == "http://127.0.0.1:20001/health"
    assert APISERVER.probe(CFG).url == "https://127.0.0.1:20003/readyz"
    assert CONTROLLER_MANAGER.probe(CFG).url == "https://127.0.0.1:20004/healthz"
    assert CONTROLLER_MANAGER.probe(CFG).tls == "cluster"


def test_port_names_are_unique_across_components() -> None:
    assert port_names(CONTROL_PLANE) == ("etcd-client", "etcd-peer", "apiserver", "controller-manager")
    with pytest.raises(ValueError, match="same port name"):
        port_names((ETCD, ETCD))


def test_the_cluster_is_settled_only_once_the_default_service_account_exists() -> None:
    assert SETTLED_PATHS[-1] == "/api/v1/namespaces/default/serviceaccounts/default"

"""The cluster's components as a list of data: what to run, with which flags, how to tell it is up.

Adding kube-scheduler, kubelet, kube-proxy or containerd (issue 7) means adding ``Component``
rows (plus their identities and ports) to ``CONTROL_PLANE``'s successor list, not editing the
runner. Flag builders are pure functions of ``ClusterConfig`` and are tested as tables.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from guestgate.devcluster.layout import ClusterLayout
from guestgate.devcluster.pki import (
    CA_NAME,
    FRONT_PROXY_CA_NAME,
    SERVICE_ACCOUNT_KEY,
    ClientIdentity,
    ServingIdentity,
)
from guestgate.devcluster.versions import (
    ETCD_BINARY,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    Binary,
)

LOOPBACK = "127.0.0.1"

ADMIN = ClientIdentity("admin", "guestgate-admin", ("system:masters",))
CONTROLLER_MANAGER_IDENTITY = ClientIdentity("kube-controller-manager", "system:kube-controller-manager")
FRONT_PROXY_CLIENT = ClientIdentity("front-proxy-client", "front-proxy-client", issuer=FRONT_PROXY_CA_NAME)


@dataclass(frozen=True)
class ClusterConfig:
    """Everything the flag builders need; no I/O happens on it."""

    name: str
    layout: ClusterLayout
    ports: Mapping[str, int]
    binaries: Mapping[str, Path]
    advertise_address: str = LOOPBACK
    # Where the apiserver listens. Loopback for now; a node (issue 7) may need the host address.
    bind_address: str = LOOPBACK
    service_cidr: str = "10.96.0.0/16"
    cluster_domain: str = "cluster.local"
    # Issue 7 adds "Node" in front once a kubelet exists.
    authorization_modes: tuple[str, ...] = ("RBAC",)
    verbosity: int = 1

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.ports['apiserver']}"

    @property
    def etcd_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['etcd-client']}"

    @property
    def kubernetes_service_ip(self) -> str:
        # The first address of the service range is the `kubernetes` Service in `default`.
        return str(ipaddress.ip_network(self.service_cidr)[1])

    @property
    def service_account_issuer(self) -> str:
        return f"https://kubernetes.default.svc.{self.cluster_domain}"

    def exe(self, name: str) -> str:
        return str(self.binaries[name])


@dataclass(frozen=True)
class ReadyProbe:
    """An HTTP(S) GET that answers 200 once the component is ready.

    ``tls``: ``none`` for plain http (etcd on loopback), ``cluster`` to verify the server with the
    cluster CA and present ``client`` (an identity name) as the client certificate.
    """

    url: str
    tls: Literal["none", "cluster"] = "none"
    client: str | None = None
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Component:
    name: str
    # Key into ClusterConfig.binaries. Built from Go when ``build`` is set; a host binary (issue 7:
    # containerd, runc from Debian) would leave ``build`` None and be found on PATH instead.
    executable: str
    build: Binary | None
    args: Callable[[ClusterConfig], list[str]]
    probe: Callable[[ClusterConfig], ReadyProbe]
    ports: tuple[str, ...] = ()
    # The user it acts as: a kubeconfig is written for it under kubeconfigs/<name>.kubeconfig.
    identity: ClientIdentity | None = None
    # Client certificates it presents other than through a kubeconfig (front proxy, kubelet client).
    client_certs: tuple[ClientIdentity, ...] = ()
    serving: Callable[[ClusterConfig], ServingIdentity] | None = None
    # Files it reads, rendered before it starts (issue 7: kubelet config, containerd config.toml,
    # the CNI conflist): path (inside the state dir) -> content.
    config_files: Callable[[ClusterConfig], Mapping[Path, str]] | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Packages that provide a host binary (``build`` None), named in the error when it is missing.
    host_packages: tuple[str, ...] = ()


# --- etcd -------------------------------------------------------------------------------------


def etcd_args(cfg: ClusterConfig) -> list[str]:
    peer = f"http://{LOOPBACK}:{cfg.ports['etcd-peer']}"
    return [
        cfg.exe("etcd"),
        f"--name={cfg.name}",
        f"--data-dir={cfg.layout.data_dir('etcd')}",
        f"--listen-client-urls={cfg.etcd_url}",
        f"--advertise-client-urls={cfg.etcd_url}",
        # Explicit peer URLs: the default :2380 would collide between two local clusters.
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={cfg.name}={peer}",
        # A throwaway development store: fsync per write would dominate test time for nothing.
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def etcd_probe(cfg: ClusterConfig) -> ReadyProbe:
    return ReadyProbe(f"{cfg.etcd_url}/health", timeout_s=30.0)


# --- kube-apiserver ---------------------------------------------------------------------------


def apiserver_args(cfg: ClusterConfig) -> list[str]:
    layout = cfg.layout
    return [
        cfg.exe("kube-apiserver"),
        f"--etcd-servers={cfg.etcd_url}",
        f"--bind-address={cfg.bind_address}",
        f"--secure-port={cfg.ports['apiserver']}",
        f"--advertise-address={cfg.advertise_address}",
        f"--tls-cert-file={layout.cert('kube-apiserver')}",
        f"--tls-private-key-file={layout.key('kube-apiserver')}",
        f"--client-ca-file={layout.cert(CA_NAME)}",
        f"--service-account-issuer={cfg.service_account_issuer}",
        f"--service-account-key-file={layout.pki / (SERVICE_ACCOUNT_KEY + '.pub')}",
        f"--service-account-signing-key-file={layout.key(SERVICE_ACCOUNT_KEY)}",
        f"--authorization-mode={','.join(cfg.authorization_modes)}",
        # The request-header (front proxy) setup of a real cluster. Without it every delegating
        # component (kube-controller-manager now, aggregated APIs later) logs errors about a
        # missing requestheader CA bundle, and the aggregation layer cannot authenticate.
        f"--requestheader-client-ca-file={layout.cert(FRONT_PROXY_CA_NAME)}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT.common_name}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={layout.cert(FRONT_PROXY_CLIENT.name)}",
        f"--proxy-client-key-file={layout.key(FRONT_PROXY_CLIENT.name)}",
        f"--service-cluster-ip-range={cfg.service_cidr}",
        # Pods of a later node (kube-proxy, CNI) need privileged containers.
        "--allow-privileged=true",
        # Anything the apiserver decides to write on its own stays in the state directory.
        f"--cert-dir={layout.data_dir('kube-apiserver')}",
        f"--v={cfg.verbosity}",
    ]


def apiserver_serving(cfg: ClusterConfig) -> ServingIdentity:
    domain = cfg.cluster_domain
    ips = dict.fromkeys((LOOPBACK, cfg.advertise_address, cfg.kubernetes_service_ip))
    return ServingIdentity(
        name="kube-apiserver",
        common_name="kube-apiserver",
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            f"kubernetes.default.svc.{domain}",
        ),
        ip_addresses=tuple(ips),
    )


def apiserver_probe(cfg: ClusterConfig) -> ReadyProbe:
    return ReadyProbe(f"{cfg.server}/readyz", tls="cluster", client=ADMIN.name, timeout_s=90.0)


# --- kube-controller-manager ------------------------------------------------------------------


def controller_manager_args(cfg: ClusterConfig) -> list[str]:
    layout = cfg.layout
    kubeconfig = layout.component_kubeconfig(CONTROLLER_MANAGER_IDENTITY.name)
    return [
        cfg.exe("kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        # Without these it cannot check who calls its /metrics and logs warnings at start.
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={cfg.ports['controller-manager']}",
        f"--tls-cert-file={layout.cert('kube-controller-manager-serving')}",
        f"--tls-private-key-file={layout.key('kube-controller-manager-serving')}",
        # Each controller acts as its own ServiceAccount, as in a real cluster: RBAC mistakes in
        # what we test show up here as they would there.
        "--use-service-account-credentials=true",
        # All default controllers; the garbage collector and the ServiceAccount/token
        # controllers are the ones tests rely on.
        "--controllers=*",
        f"--root-ca-file={layout.cert(CA_NAME)}",
        f"--service-account-private-key-file={layout.key(SERVICE_ACCOUNT_KEY)}",
        f"--cluster-signing-cert-file={layout.cert(CA_NAME)}",
        f"--cluster-signing-key-file={layout.key(CA_NAME)}",
        f"--cluster-name={cfg.name}",
        f"--service-cluster-ip-range={cfg.service_cidr}",
        # One instance: leader election would only delay a restart by the old lease's duration.
        "--leader-elect=false",
        # The default 20 qps throttles the start (each controller first creates its
        # ServiceAccount and token) and tests that create many objects; loopback can take more.
        "--kube-api-qps=100",
        "--kube-api-burst=200",
        f"--v={cfg.verbosity}",
    ]


def controller_manager_serving(cfg: ClusterConfig) -> ServingIdentity:
    return ServingIdentity(
        name="kube-controller-manager-serving",
        common_name="kube-controller-manager",
        dns_names=("localhost",),
        ip_addresses=(LOOPBACK,),
    )


def controller_manager_probe(cfg: ClusterConfig) -> ReadyProbe:
    return ReadyProbe(
        f"https://{LOOPBACK}:{cfg.ports['controller-manager']}/healthz",
        tls="cluster",
        client=ADMIN.name,
    )


ETCD = Component(
    name="etcd",
    executable="etcd",
    build=ETCD_BINARY,
    args=etcd_args,
    probe=etcd_probe,
    ports=("etcd-client", "etcd-peer"),
)
APISERVER = Component(
    name="kube-apiserver",
    executable="kube-apiserver",
    build=KUBE_APISERVER,
    args=apiserver_args,
    probe=apiserver_probe,
    ports=("apiserver",),
    client_certs=(FRONT_PROXY_CLIENT,),
    serving=apiserver_serving,
)
CONTROLLER_MANAGER = Component(
    name="kube-controller-manager",
    executable="kube-controller-manager",
    build=KUBE_CONTROLLER_MANAGER,
    args=controller_manager_args,
    probe=controller_manager_probe,
    ports=("controller-manager",),
    identity=CONTROLLER_MANAGER_IDENTITY,
    serving=controller_manager_serving,
)

# Start order; stop is the reverse.
CONTROL_PLANE: tuple[Component, ...] = (ETCD, APISERVER, CONTROLLER_MANAGER)

# API paths that must answer 200 before the cluster is handed out: the namespace tests create
# things in, and its `default` ServiceAccount, which only exists once kube-controller-manager's
# serviceaccount controller has run (so it also proves kcm talks to the apiserver).
SETTLED_PATHS: tuple[str, ...] = (
    "/api/v1/namespaces/default",
    "/api/v1/namespaces/default/serviceaccounts/default",
)


def port_names(components: tuple[Component, ...]) -> tuple[str, ...]:
    names = [port for component in components for port in component.ports]
    if len(set(names)) != len(names):
        raise ValueError(f"two components claim the same port name: {names}")
    return tuple(names)

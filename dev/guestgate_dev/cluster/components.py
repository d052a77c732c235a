"""The cluster's components as a list of data: what to run, with which flags, how to tell it is up.

``CONTROL_PLANE`` is etcd, kube-apiserver and kube-controller-manager; ``WITH_NODE`` adds
kube-scheduler, containerd, the kubelet and kube-proxy (issue 7) as further rows. Flag builders
and config renderers are pure functions of ``ClusterConfig`` and are tested as tables; the
hooks (pre-flight, post-start, stop cleanup) are the only I/O and live in ``host``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import yaml

from guestgate_dev.cluster import host, node
from guestgate_dev.cluster.layout import CacheLayout, ClusterLayout
from guestgate_dev.cluster.pki import (
    CA_NAME,
    FRONT_PROXY_CA_NAME,
    SERVICE_ACCOUNT_KEY,
    ClientIdentity,
    ServingIdentity,
)
from guestgate_dev.cluster.versions import (
    ETCD_BINARY,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    KUBE_SCHEDULER,
    Binary,
)
from guestgate_dev.cluster.versions import KUBE_PROXY as KUBE_PROXY_BINARY
from guestgate_dev.cluster.versions import KUBELET as KUBELET_BINARY

LOOPBACK = "127.0.0.1"

ADMIN = ClientIdentity("admin", "guestgate-admin", ("system:masters",))
CONTROLLER_MANAGER_IDENTITY = ClientIdentity("kube-controller-manager", "system:kube-controller-manager")
FRONT_PROXY_CLIENT = ClientIdentity("front-proxy-client", "front-proxy-client", issuer=FRONT_PROXY_CA_NAME)
SCHEDULER_IDENTITY = ClientIdentity("kube-scheduler", "system:kube-scheduler")
# The Node authorizer and NodeRestriction know a kubelet by exactly this user and group.
KUBELET_IDENTITY = ClientIdentity("kubelet", f"system:node:{node.NODE_NAME}", ("system:nodes",))
KUBE_PROXY_IDENTITY = ClientIdentity("kube-proxy", "system:kube-proxy")
# What the apiserver presents to kubelets (logs, exec, port-forward); system:masters passes the
# kubelet's webhook authorization, as kubeadm's apiserver-kubelet-client does.
APISERVER_KUBELET_CLIENT = ClientIdentity("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                          ("system:masters",))
# Where containerd finds the pod sandbox image: a fixed alias of the built pause image, so the
# rendered config.toml never depends on a build.
PAUSE_SANDBOX_REF = "localhost/guestgate/pause:sandbox"


@dataclass(frozen=True)
class ClusterConfig:
    """Everything the flag builders need; no I/O happens on it."""

    name: str
    layout: ClusterLayout
    ports: Mapping[str, int]
    binaries: Mapping[str, Path]
    advertise_address: str = LOOPBACK
    # Where the apiserver listens: loopback for a control plane alone; with a node, pods reach
    # it through the `kubernetes` Service, whose endpoint is the advertise address, so it must
    # listen there too (see ``with_node``).
    bind_address: str = LOOPBACK
    service_cidr: str = "10.96.0.0/16"
    # Pods' addresses (the node takes the first /24); the common default, as a host that runs
    # our node runs no other pod network.
    pod_cidr: str = "10.244.0.0/16"
    cluster_domain: str = "cluster.local"
    # ("Node", "RBAC") with a kubelet: the Node authorizer limits it to its own pods' objects.
    authorization_modes: tuple[str, ...] = ("RBAC",)
    cgroup_driver: str = "cgroupfs"
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

    @property
    def has_node(self) -> bool:
        return "Node" in self.authorization_modes

    @property
    def node_paths(self) -> node.NodePaths:
        return node.NodePaths(self.layout.root)

    @property
    def cache(self) -> CacheLayout:
        # clusters/<name>/ inside the cache root (see layout).
        return CacheLayout(self.layout.root.parent.parent)


def with_node(cfg: ClusterConfig) -> ClusterConfig:
    """The same cluster, set up for a kubelet: Node authorization, the apiserver on every
    address (loopback for us, the host address for pods), the host's cgroup driver."""
    return replace(cfg, authorization_modes=("Node", "RBAC"), bind_address="0.0.0.0",
                   cgroup_driver=host.cgroup_driver())


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
    # A unix socket that accepts a connection counts as ready (containerd's gRPC socket).
    unix_socket: Path | None = None


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
    # I/O hooks (in ``host``): checks before anything starts, work once it is ready (importing
    # the pause image), and cleanup around its stop (pods, mounts, iptables rules).
    preflight: Callable[[ClusterConfig], None] | None = None
    post_start: Callable[[ClusterConfig], None] | None = None
    before_stop: Callable[[ClusterConfig], None] | None = None
    after_stop: Callable[[ClusterConfig], None] | None = None


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
        *_apiserver_node_args(cfg),
        # Anything the apiserver decides to write on its own stays in the state directory.
        f"--cert-dir={layout.data_dir('kube-apiserver')}",
        f"--v={cfg.verbosity}",
    ]


def _apiserver_node_args(cfg: ClusterConfig) -> list[str]:
    if not cfg.has_node:
        return []
    layout = cfg.layout
    return [
        # A kubelet may only change its own Node and its pods' status (with the Node authorizer).
        "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={layout.cert(APISERVER_KUBELET_CLIENT.name)}",
        f"--kubelet-client-key={layout.key(APISERVER_KUBELET_CLIENT.name)}",
        f"--kubelet-certificate-authority={layout.cert(CA_NAME)}",
        # The node registers its InternalIP (the host address), which the kubelet cert names.
        "--kubelet-preferred-address-types=InternalIP,Hostname",
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


# --- kube-scheduler -----------------------------------------------------------------------------


def scheduler_args(cfg: ClusterConfig) -> list[str]:
    layout = cfg.layout
    kubeconfig = layout.component_kubeconfig(SCHEDULER_IDENTITY.name)
    return [
        cfg.exe("kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={cfg.ports['scheduler']}",
        f"--tls-cert-file={layout.cert('kube-scheduler-serving')}",
        f"--tls-private-key-file={layout.key('kube-scheduler-serving')}",
        # One instance, as for kube-controller-manager: no lease to wait out on a restart.
        "--leader-elect=false",
        f"--v={cfg.verbosity}",
    ]


def scheduler_serving(cfg: ClusterConfig) -> ServingIdentity:
    return ServingIdentity("kube-scheduler-serving", "kube-scheduler", ("localhost",), (LOOPBACK,))


def scheduler_probe(cfg: ClusterConfig) -> ReadyProbe:
    return ReadyProbe(f"https://{LOOPBACK}:{cfg.ports['scheduler']}/readyz", tls="cluster", client=ADMIN.name)


# --- containerd --------------------------------------------------------------------------------


def containerd_args(cfg: ClusterConfig) -> list[str]:
    return [cfg.exe("containerd"), f"--config={cfg.node_paths.containerd_config}", "--log-level=warn"]


def containerd_files(cfg: ClusterConfig) -> dict[Path, str]:
    paths = cfg.node_paths
    config = node.containerd_config(paths, PAUSE_SANDBOX_REF, systemd_cgroup=cfg.cgroup_driver == "systemd")
    return {
        paths.containerd_config: node.render_toml(config),
        paths.cni_conf_dir / f"10-{node.CNI_NETWORK}.conflist":
            json.dumps(node.cni_conflist(paths, cfg.pod_cidr), indent=2) + "\n",
    }


def containerd_probe(cfg: ClusterConfig) -> ReadyProbe:
    return ReadyProbe("", unix_socket=cfg.node_paths.containerd_socket, timeout_s=30.0)


def _node_preflight(cfg: ClusterConfig) -> None:
    host.preflight(cfg.cache, cfg.layout.root)


def _import_pause(cfg: ClusterConfig) -> None:
    from guestgate_dev.cluster import images

    image = images.build_image(images.PAUSE, cfg.cache)
    images.import_image(cfg.node_paths.containerd_socket, image, alias=PAUSE_SANDBOX_REF)


def _containerd_before_stop(cfg: ClusterConfig) -> None:
    host.containerd_before_stop(cfg.node_paths)


def _containerd_after_stop(cfg: ClusterConfig) -> None:
    host.containerd_after_stop(cfg.node_paths, cfg.pod_cidr)


# --- kubelet -----------------------------------------------------------------------------------


def kubelet_settings(cfg: ClusterConfig) -> node.KubeletSettings:
    layout = cfg.layout
    return node.KubeletSettings(
        node_ip=cfg.advertise_address,
        port=cfg.ports["kubelet"],
        healthz_port=cfg.ports["kubelet-healthz"],
        client_ca=layout.cert(CA_NAME),
        tls_cert=layout.cert("kubelet-serving"),
        tls_key=layout.key("kubelet-serving"),
        cluster_domain=cfg.cluster_domain,
        cgroup_driver=cfg.cgroup_driver,
    )


def kubelet_args(cfg: ClusterConfig) -> list[str]:
    return node.kubelet_args(cfg.exe("kubelet"), cfg.node_paths,
                             cfg.layout.component_kubeconfig(KUBELET_IDENTITY.name), cfg.advertise_address,
                             cfg.verbosity)


def kubelet_files(cfg: ClusterConfig) -> dict[Path, str]:
    config = node.kubelet_config(cfg.node_paths, kubelet_settings(cfg))
    return {cfg.node_paths.kubelet_config: yaml.safe_dump(config, sort_keys=False),
            cfg.node_paths.pod_resolv_conf: node.POD_RESOLV_CONF}


def kubelet_serving(cfg: ClusterConfig) -> ServingIdentity:
    ips = dict.fromkeys((LOOPBACK, cfg.advertise_address))
    return ServingIdentity("kubelet-serving", KUBELET_IDENTITY.common_name, (node.NODE_NAME, "localhost"),
                           tuple(ips))


def _kubelet_after_stop(cfg: ClusterConfig) -> None:
    host.kubelet_after_stop()


def kubelet_probe(cfg: ClusterConfig) -> ReadyProbe:
    return ReadyProbe(f"http://{LOOPBACK}:{cfg.ports['kubelet-healthz']}/healthz", timeout_s=60.0)


# --- kube-proxy --------------------------------------------------------------------------------


def kube_proxy_args(cfg: ClusterConfig) -> list[str]:
    return [cfg.exe("kube-proxy"), f"--config={cfg.node_paths.kube_proxy_config}", f"--v={cfg.verbosity}"]


def kube_proxy_files(cfg: ClusterConfig) -> dict[Path, str]:
    config = node.kube_proxy_config(cfg.layout.component_kubeconfig(KUBE_PROXY_IDENTITY.name), cfg.pod_cidr,
                                    cfg.advertise_address, cfg.ports["kube-proxy-healthz"],
                                    cfg.ports["kube-proxy-metrics"])
    return {cfg.node_paths.kube_proxy_config: yaml.safe_dump(config, sort_keys=False)}


def kube_proxy_probe(cfg: ClusterConfig) -> ReadyProbe:
    # /healthz turns 200 once the first full sync of the rules is done.
    return ReadyProbe(f"http://{LOOPBACK}:{cfg.ports['kube-proxy-healthz']}/healthz", timeout_s=60.0)


def _kube_proxy_after_stop(cfg: ClusterConfig) -> None:
    host.kube_proxy_after_stop(Path(cfg.exe("kube-proxy")))


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
    client_certs=(FRONT_PROXY_CLIENT, APISERVER_KUBELET_CLIENT),
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

SCHEDULER = Component(
    name="kube-scheduler",
    executable="kube-scheduler",
    build=KUBE_SCHEDULER,
    args=scheduler_args,
    probe=scheduler_probe,
    ports=("scheduler",),
    identity=SCHEDULER_IDENTITY,
    serving=scheduler_serving,
)
CONTAINERD = Component(
    name="containerd",
    executable="containerd",
    build=None,
    args=containerd_args,
    probe=containerd_probe,
    config_files=containerd_files,
    host_packages=("containerd", "runc", "containernetworking-plugins"),
    preflight=_node_preflight,
    post_start=_import_pause,
    before_stop=_containerd_before_stop,
    after_stop=_containerd_after_stop,
)
KUBELET = Component(
    name="kubelet",
    executable="kubelet",
    build=KUBELET_BINARY,
    args=kubelet_args,
    probe=kubelet_probe,
    ports=("kubelet", "kubelet-healthz"),
    identity=KUBELET_IDENTITY,
    serving=kubelet_serving,
    config_files=kubelet_files,
    after_stop=_kubelet_after_stop,
)
KUBE_PROXY = Component(
    name="kube-proxy",
    executable="kube-proxy",
    build=KUBE_PROXY_BINARY,
    args=kube_proxy_args,
    probe=kube_proxy_probe,
    ports=("kube-proxy-healthz", "kube-proxy-metrics"),
    identity=KUBE_PROXY_IDENTITY,
    config_files=kube_proxy_files,
    after_stop=_kube_proxy_after_stop,
)

# Start order; stop is the reverse.
CONTROL_PLANE: tuple[Component, ...] = (ETCD, APISERVER, CONTROLLER_MANAGER)
# A single node beside the control plane: pods get scheduled, run in containerd and reach
# Services. containerd before the kubelet (its runtime), kube-proxy last (it needs the Node).
WITH_NODE: tuple[Component, ...] = (*CONTROL_PLANE, SCHEDULER, CONTAINERD, KUBELET, KUBE_PROXY)

# API paths that must answer 200 before the cluster is handed out: the namespace tests create
# things in, and its `default` ServiceAccount, which only exists once kube-controller-manager's
# serviceaccount controller has run (so it also proves kcm talks to the apiserver).
SETTLED_PATHS: tuple[str, ...] = (
    "/api/v1/namespaces/default",
    "/api/v1/namespaces/default/serviceaccounts/default",
)


def runs_node(components: tuple[Component, ...]) -> bool:
    return any(c.name == KUBELET.name for c in components)


def port_names(components: tuple[Component, ...]) -> tuple[str, ...]:
    names = [port for component in components for port in component.ports]
    if len(set(names)) != len(names):
        raise ValueError(f"two components claim the same port name: {names}")
    return tuple(names)

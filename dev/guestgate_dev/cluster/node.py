"""The node's settings, rendered from data: containerd's config.toml, the CNI conflist, the
KubeletConfiguration and the KubeProxyConfiguration; plus the pure parsers the node's teardown
uses (mountinfo, process command lines).

Everything a node component writes lives in the cluster's state directory (containerd's root and
state, the kubelet's root dir, CNI's IP allocations), with a socket of its own, so a containerd
or kubelet of the host (if any) is never touched. What cannot be per cluster (the bridge, the pod
CIDR, kube-proxy's iptables chains) is why only one cluster per machine runs a node.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# One node per machine (see the module docstring), so a fixed name: it is also the identity
# `system:node:<name>` the Node authorizer knows the kubelet by.
NODE_NAME = "guestgate-node"
# A bridge and network of our own: never the `cni0` or `docker0` a host may already have.
BRIDGE = "guestgate0"
CNI_NETWORK = "guestgate"
CNI_BIN_DIR = "/usr/lib/cni"  # where Debian's containernetworking-plugins installs them
PAUSE_REF_NAME = "pause"


@dataclass(frozen=True)
class NodePaths:
    """Files and directories of the node inside a cluster's state dir."""

    root: Path

    @property
    def containerd_config(self) -> Path:
        return self.root / "data" / "containerd" / "config.toml"

    @property
    def containerd_root(self) -> Path:
        return self.root / "data" / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "data" / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "run" / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "data" / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "data" / "cni" / "ipam"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "data" / "kubelet" / "root"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "data" / "kubelet" / "config.yaml"

    @property
    def pod_resolv_conf(self) -> Path:
        return self.root / "data" / "kubelet" / "resolv.conf"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "data" / "kube-proxy" / "config.yaml"


def node_pod_cidr(pod_cidr: str) -> str:
    """The node's share of the pod range: its first /24 (one node, 254 pods is plenty)."""
    network = ipaddress.ip_network(pod_cidr)
    if network.prefixlen > 24:
        raise ValueError(f"pod CIDR {pod_cidr} is smaller than a /24")
    return str(next(network.subnets(new_prefix=24)))


# --- TOML (containerd reads nothing else; the standard library only parses it) -----------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def render_toml(data: Mapping[str, Any]) -> str:
    """Tables as ``[a."b.c".d]`` headers, scalars and lists of scalars; enough for containerd."""
    lines: list[str] = []

    def table(path: list[str], body: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, Mapping)}
        tables = {k: v for k, v in body.items() if isinstance(v, Mapping)}
        if path and (scalars or not tables):
            lines.append("")
            lines.append("[" + ".".join(_toml_key(p) for p in path) + "]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars.items())
        for key, sub in tables.items():
            table([*path, key], sub)

    table([], data)
    return "\n".join(lines).lstrip("\n") + "\n"


# --- containerd --------------------------------------------------------------------------------

_CRI = "io.containerd.grpc.v1.cri"


def containerd_config(paths: NodePaths, pause_image: str, *, systemd_cgroup: bool = False,
                      snapshotter: str = "overlayfs") -> dict[str, Any]:
    """containerd 1.6 (Debian bookworm) config, version 2 schema.

    ``systemd_cgroup`` must agree with the kubelet's ``cgroupDriver``: a mismatch makes every pod
    sandbox fail to start. Hosts without systemd as PID 1 (containers, small VMs) need cgroupfs.
    """
    return {
        "version": 2,
        "root": str(paths.containerd_root),
        "state": str(paths.containerd_state),
        "grpc": {"address": str(paths.containerd_socket)},
        # ttrpc and the debug/metrics endpoints off or beside the socket: nothing on TCP.
        "ttrpc": {"address": str(paths.containerd_socket) + ".ttrpc"},
        "plugins": {
            _CRI: {
                # Our own pause image, imported before the kubelet starts: no registry involved.
                "sandbox_image": pause_image,
                "enable_selinux": False,
                # Clamp pods' oom_score_adj to containerd's own (0 here) instead of the kubelet's
                # -998 for sandboxes: sandboxed hosts (VMs, CI containers) refuse negative values
                # to the writer, and runc then fails every sandbox with "can't get final child's
                # PID from pipe". Harmless on a development node.
                "restrict_oom_score_adj": True,
                # The pod images come from `ctr import` only; nothing is verified against a
                # registry, and the kubelet asks with imagePullPolicy Never/IfNotPresent.
                "containerd": {
                    "snapshotter": snapshotter,
                    "default_runtime_name": "runc",
                    "runtimes": {
                        "runc": {
                            "runtime_type": "io.containerd.runc.v2",
                            "options": {"SystemdCgroup": systemd_cgroup, "BinaryName": "runc"},
                        },
                    },
                },
                "cni": {"bin_dir": CNI_BIN_DIR, "conf_dir": str(paths.cni_conf_dir), "max_conf_num": 1},
            },
            # Optional binaries containerd would install into /opt: keep even that in our dir.
            "io.containerd.internal.v1.opt": {"path": str(paths.containerd_root / "opt")},
        },
    }


# --- CNI ---------------------------------------------------------------------------------------


def cni_conflist(paths: NodePaths, pod_cidr: str) -> dict[str, Any]:
    """A bridge with host-local IPAM, port mappings (hostPort) and loopback.

    No ``ipMasq``: pods only talk to each other, to Services and to this host (SIP peers and
    the apiserver on the host address), which a bridge with a gateway address reaches unNATed;
    masquerading would add host-wide iptables rules for traffic we never send.
    """
    subnet = node_pod_cidr(pod_cidr)
    return {
        "cniVersion": "0.4.0",  # the newest the bookworm plugins (1.1.1) and containerd 1.6 share
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                # A pod reaching itself through a Service lands back on its own veth.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    # Allocations in the state dir, not /var/lib/cni: removed with the cluster.
                    "dataDir": str(paths.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }


# --- kubelet -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KubeletSettings:
    node_ip: str
    port: int
    healthz_port: int
    client_ca: Path
    tls_cert: Path
    tls_key: Path
    cluster_domain: str
    cgroup_driver: str = "cgroupfs"


def kubelet_config(paths: NodePaths, s: KubeletSettings) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": s.node_ip,
        "port": s.port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": s.healthz_port,
        # The apiserver (logs, exec) presents a client certificate of the cluster CA; everyone
        # else is checked through the apiserver's TokenReview/SubjectAccessReview.
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(s.client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(s.tls_cert),
        "tlsPrivateKeyFile": str(s.tls_key),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "cgroupDriver": s.cgroup_driver,
        # Kubernetes 1.34 still runs on cgroup v1 (hosts like this one mount v1 controllers),
        # with a warning; say so explicitly rather than depend on the default.
        "failCgroupV1": False,
        "clusterDomain": s.cluster_domain,
        # No cluster DNS: the pods reach the apiserver by the Service IP (in-cluster config)
        # and peers by address; the kubelet then gives pods the host's resolv.conf.
        "clusterDNS": [],
        "failSwapOn": False,
        # Image GC would delete images we imported and cannot pull again (no registry); 100
        # turns it off. Evict only when the disk is truly full: CI disks are often 80% used.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        # Quicker status and pod updates than the production defaults: tests wait on them.
        "nodeStatusUpdateFrequency": "4s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        # Leave host sysctls alone (the kubelet would otherwise require kernel defaults it sets).
        "protectKernelDefaults": False,
        # Pods get a resolver that answers "no" at once (nothing listens on the pod's own
        # loopback): the host's resolver is not reachable from the pod network (no NAT to the
        # outside, by design), and lookups would otherwise hang for the resolver timeout each
        # time (peer names in an example trunk did exactly that to the signalling pods).
        "resolvConf": str(paths.pod_resolv_conf),
        "staticPodPath": "",
    }


POD_RESOLV_CONF = "# GuestGate node: no cluster DNS, no outside resolver; lookups fail at once.\n" \
    "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


def kubelet_args(exe: str, paths: NodePaths, kubeconfig: Path, node_ip: str, verbosity: int) -> list[str]:
    return [
        exe,
        f"--config={paths.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--root-dir={paths.kubelet_root}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={node_ip}",
        f"--v={verbosity}",
    ]


# --- kube-proxy --------------------------------------------------------------------------------


def kube_proxy_config(kubeconfig: Path, pod_cidr: str, node_ip: str, healthz_port: int, metrics_port: int
                      ) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        # iptables: the mode every release supports; Debian's iptables is the nft backend.
        "mode": "iptables",
        "clusterCIDR": pod_cidr,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        # NodePorts answer on loopback (a browser on this machine) and the host address only.
        "nodePortAddresses": ["127.0.0.0/8", f"{node_ip}/32"],
        "iptables": {"localhostNodePorts": True},
        # 0: leave the host's conntrack table sizes and timeouts as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


# --- teardown helpers (pure) -------------------------------------------------------------------

# The iptables chains the kubelet itself creates (kube-proxy --cleanup does not know them):
# KUBE-FIREWALL drops packets to 127/8 from other sources, which must not outlive the node.
KUBELET_CHAINS: tuple[tuple[str, str], ...] = (
    ("filter", "KUBE-FIREWALL"),
    ("filter", "KUBE-KUBELET-CANARY"),
    ("nat", "KUBE-KUBELET-CANARY"),
    ("mangle", "KUBE-KUBELET-CANARY"),
    ("mangle", "KUBE-IPTABLES-HINT"),
)


def kubelet_iptables_cleanup() -> list[list[str]]:
    """iptables commands removing the kubelet's chains: jumps first, then flush, then delete.
    Each may fail harmlessly (the chain is already gone)."""
    commands: list[list[str]] = [
        ["iptables", "-t", "filter", "-D", hook, "-j", "KUBE-FIREWALL"] for hook in ("INPUT", "OUTPUT")
    ]
    commands += [["iptables", "-t", table, "-F", chain] for table, chain in KUBELET_CHAINS]
    commands += [["iptables", "-t", table, "-X", chain] for table, chain in KUBELET_CHAINS]
    return commands


def _unescape_mount(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(path):
        code = path[i + 1:i + 4]
        if path[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def mounts_under(mountinfo: str, root: Path) -> list[str]:
    """Mount points at or below ``root`` from /proc/self/mountinfo, deepest first (the order to
    unmount them in), each once."""
    prefix = str(root).rstrip("/")
    found: list[str] = []
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) < 5:
            continue
        point = _unescape_mount(fields[4])
        if (point == prefix or point.startswith(prefix + "/")) and point not in found:
            found.append(point)
    return sorted(found, key=lambda p: (-p.count("/"), p))


def shim_pids(processes: Mapping[int, Sequence[str]], address: Path) -> list[int]:
    """containerd-shim processes serving the containerd at ``address`` (they outlive containerd,
    so a stop has to find them by their ``-address`` argument)."""
    pids: list[int] = []
    for pid, argv in processes.items():
        if not argv or not Path(argv[0]).name.startswith("containerd-shim"):
            continue
        for flag, value in itertools.pairwise(argv):
            if flag in ("-address", "--address") and value == str(address):
                pids.append(pid)
    return sorted(pids)


def addresses_in(cidr: str, addresses: Iterable[str]) -> bool:
    network = ipaddress.ip_network(cidr)
    for address in addresses:
        try:
            if ipaddress.ip_interface(address).ip in network:
                return True
        except ValueError:
            continue
    return False


# The cgroup the kubelet (cgroupfs driver) puts every pod under, in each hierarchy.
KUBEPODS_CGROUP = "kubepods"


def cgroup_dirs_to_remove(tree: Iterable[str]) -> list[str]:
    """The kubelet's cgroup directories, children before parents (rmdir only removes empty
    cgroups, and a parent is empty only once its children are gone)."""
    return sorted(set(tree), key=lambda path: (-path.count("/"), path))

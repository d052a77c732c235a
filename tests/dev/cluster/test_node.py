"""The node's pure parts as tables: rendered configs, flags, and the teardown parsers."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from guestgate_dev.cluster import node
from guestgate_dev.cluster.components import (
    APISERVER,
    CONTAINERD,
    CONTROL_PLANE,
    KUBE_PROXY,
    KUBELET,
    PAUSE_SANDBOX_REF,
    SCHEDULER,
    WITH_NODE,
    ClusterConfig,
    port_names,
    runs_node,
)
from guestgate_dev.cluster.layout import ClusterLayout

STATE = Path("/state/clusters/t")
PORTS = {"etcd-client": 1, "etcd-peer": 2, "apiserver": 3, "controller-manager": 4, "scheduler": 5,
         "kubelet": 6, "kubelet-healthz": 7, "kube-proxy-healthz": 8, "kube-proxy-metrics": 9}
BINARIES = {name: Path(f"/bin/{name}") for name in
            ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet",
             "kube-proxy")}
CONTROL = ClusterConfig(name="t", layout=ClusterLayout(STATE), ports=PORTS, binaries=BINARIES,
                        advertise_address="192.0.2.2")
NODE = dataclasses.replace(CONTROL, authorization_modes=("Node", "RBAC"), bind_address="0.0.0.0")
PATHS = node.NodePaths(STATE)


@pytest.mark.parametrize(
    ("cfg", "flag", "present", "why"),
    [
        (NODE, "--authorization-mode=Node,RBAC", True, "the Node authorizer in front of RBAC"),
        (NODE, "--enable-admission-plugins=NodeRestriction", True, "a kubelet edits only its own node"),
        (NODE, "--bind-address=0.0.0.0", True, "pods reach the apiserver at the host address"),
        (NODE, f"--kubelet-client-certificate={STATE}/pki/apiserver-kubelet-client.crt", True,
         "logs and exec authenticate to the kubelet"),
        (CONTROL, "--enable-admission-plugins=NodeRestriction", False, "no node, no node admission"),
        (CONTROL, "--bind-address=127.0.0.1", True, "a control plane alone stays on loopback"),
    ],
)
def test_apiserver_flags_with_and_without_a_node(cfg: ClusterConfig, flag: str, present: bool, why: str) -> None:
    assert (flag in APISERVER.args(cfg)) is present, why


@pytest.mark.parametrize(
    ("args", "flag", "why"),
    [
        (SCHEDULER.args, "--leader-elect=false", "one instance: no lease to wait out after a restart"),
        (SCHEDULER.args, "--bind-address=127.0.0.1", "its port on loopback only"),
        (SCHEDULER.args, f"--kubeconfig={STATE}/kubeconfigs/kube-scheduler.kubeconfig", "its own identity"),
        (CONTAINERD.args, f"--config={STATE}/data/containerd/config.toml", "our config, never /etc/containerd"),
        (KUBELET.args, f"--root-dir={STATE}/data/kubelet/root", "pods' volumes inside the state dir"),
        (KUBELET.args, "--hostname-override=guestgate-node", "the name its certificate is issued for"),
        (KUBELET.args, "--node-ip=192.0.2.2", "the host address: where the apiserver finds it"),
        (KUBE_PROXY.args, f"--config={STATE}/data/kube-proxy/config.yaml", "settings in a rendered file"),
    ],
)
def test_node_component_flags(args: Any, flag: str, why: str) -> None:
    assert flag in args(NODE), why


def test_node_components_extend_the_control_plane_with_unique_ports() -> None:
    assert WITH_NODE[: len(CONTROL_PLANE)] == CONTROL_PLANE
    assert runs_node(WITH_NODE) and not runs_node(CONTROL_PLANE)
    assert set(port_names(WITH_NODE)) == set(PORTS)
    # containerd before the kubelet (its runtime), kube-proxy after it (it watches the Node).
    names = [c.name for c in WITH_NODE]
    assert names.index("containerd") < names.index("kubelet") < names.index("kube-proxy")


def test_kubelet_identity_is_what_the_node_authorizer_expects() -> None:
    assert KUBELET.identity is not None
    assert KUBELET.identity.common_name == "system:node:guestgate-node"
    assert KUBELET.identity.organizations == ("system:nodes",)


# --- containerd config -------------------------------------------------------------------------


def _containerd(cfg: ClusterConfig = NODE) -> dict[str, Any]:
    assert CONTAINERD.config_files is not None
    text = CONTAINERD.config_files(cfg)[PATHS.containerd_config]
    return tomllib.loads(text)


@pytest.mark.parametrize(
    ("path", "expected", "why"),
    [
        (("version",), 2, "the schema containerd 1.6 reads"),
        (("root",), f"{STATE}/data/containerd/root", "images and snapshots in the state dir"),
        (("state",), f"{STATE}/data/containerd/state", "runtime state in the state dir"),
        (("grpc", "address"), f"{STATE}/run/containerd/containerd.sock", "a socket of our own"),
        (("plugins", "io.containerd.grpc.v1.cri", "sandbox_image"), PAUSE_SANDBOX_REF, "no registry pull"),
        (("plugins", "io.containerd.grpc.v1.cri", "restrict_oom_score_adj"), True,
         "hosts that refuse negative oom_score_adj still start sandboxes"),
        (("plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "runc", "options", "SystemdCgroup"),
         False, "matches the kubelet's cgroupfs driver"),
        (("plugins", "io.containerd.grpc.v1.cri", "cni", "conf_dir"), f"{STATE}/data/cni/net.d",
         "only our network, never /etc/cni/net.d"),
    ],
)
def test_containerd_config(path: tuple[str, ...], expected: object, why: str) -> None:
    value: Any = _containerd()
    for key in path:
        value = value[key]
    assert value == expected, why


def test_systemd_cgroup_driver_reaches_containerd_and_kubelet_together() -> None:
    systemd = dataclasses.replace(NODE, cgroup_driver="systemd")
    runc = _containerd(systemd)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is True
    assert KUBELET.config_files is not None
    kubelet = yaml.safe_load(KUBELET.config_files(systemd)[PATHS.kubelet_config])
    assert kubelet["cgroupDriver"] == "systemd"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"a": 1, "b": True, "c": "x"}, 'a = 1\nb = true\nc = "x"\n'),
        ({"t": {"k": ["a", "b"]}}, '[t]\nk = ["a", "b"]\n'),
        ({"p": {"io.x.y": {"k": False}}}, '[p."io.x.y"]\nk = false\n'),
        ({"s": 'quote " and \\ backslash'}, 's = "quote \\" and \\\\ backslash"\n'),
    ],
    ids=["scalars", "table-with-list", "dotted-key-quoted", "escapes"],
)
def test_render_toml(data: dict[str, Any], expected: str) -> None:
    assert node.render_toml(data) == expected
    assert tomllib.loads(expected) == data


def test_render_toml_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        node.render_toml({"f": 1.5})


# --- CNI, kubelet, kube-proxy ------------------------------------------------------------------


def test_cni_conflist_is_a_private_bridge_with_state_in_the_cluster_dir() -> None:
    conflist = node.cni_conflist(PATHS, "10.244.0.0/16")
    bridge, portmap, loopback = conflist["plugins"]
    assert (bridge["type"], portmap["type"], loopback["type"]) == ("bridge", "portmap", "loopback")
    assert bridge["bridge"] == "guestgate0" and bridge["isGateway"] and not bridge["ipMasq"]
    assert bridge["ipam"] == {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]],
                              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": f"{STATE}/data/cni/ipam"}
    assert portmap["capabilities"] == {"portMappings": True}


@pytest.mark.parametrize(
    ("cidr", "subnet"),
    [("10.244.0.0/16", "10.244.0.0/24"), ("172.20.0.0/20", "172.20.0.0/24"), ("10.9.8.0/24", "10.9.8.0/24")],
)
def test_node_pod_cidr_is_the_first_slash_24(cidr: str, subnet: str) -> None:
    assert node.node_pod_cidr(cidr) == subnet


def test_node_pod_cidr_refuses_a_range_smaller_than_a_node() -> None:
    with pytest.raises(ValueError, match="smaller than a /24"):
        node.node_pod_cidr("10.0.0.0/25")


@pytest.mark.parametrize(
    ("key", "expected", "why"),
    [
        ("cgroupDriver", "cgroupfs", "no systemd as PID 1 in the test config"),
        ("failCgroupV1", False, "1.34 still runs on cgroup v1 hosts"),
        ("readOnlyPort", 0, "no unauthenticated port"),
        ("address", "192.0.2.2", "the apiserver reaches it at the node IP"),
        ("port", 6, "a free port, not 10250 of a host kubelet"),
        ("healthzBindAddress", "127.0.0.1", "health on loopback"),
        ("imageGCHighThresholdPercent", 100, "never delete imported images we cannot pull again"),
        ("clusterDNS", [], "no cluster DNS: pods use Service IPs"),
        ("containerRuntimeEndpoint", f"unix://{STATE}/run/containerd/containerd.sock", "our containerd"),
        ("tlsCertFile", f"{STATE}/pki/kubelet-serving.crt", "a serving cert of the cluster CA"),
    ],
)
def test_kubelet_config(key: str, expected: object, why: str) -> None:
    assert KUBELET.config_files is not None
    config = yaml.safe_load(KUBELET.config_files(NODE)[PATHS.kubelet_config])
    assert config[key] == expected, why
    assert config["authentication"]["anonymous"] == {"enabled": False}


@pytest.mark.parametrize(
    ("key", "expected", "why"),
    [
        ("mode", "iptables", "supported everywhere; Debian's iptables uses nftables underneath"),
        ("clusterCIDR", "10.244.0.0/16", "traffic from outside the pod range gets masqueraded"),
        ("nodePortAddresses", ["127.0.0.0/8", "192.0.2.2/32"], "NodePorts on loopback and the host only"),
        ("healthzBindAddress", "127.0.0.1:8", "probe on loopback"),
        ("hostnameOverride", "guestgate-node", "finds its Node"),
    ],
)
def test_kube_proxy_config(key: str, expected: object, why: str) -> None:
    assert KUBE_PROXY.config_files is not None
    config = yaml.safe_load(KUBE_PROXY.config_files(NODE)[PATHS.kube_proxy_config])
    assert config[key] == expected, why
    assert config["conntrack"]["maxPerCore"] == 0, "host conntrack sizes left alone"


# --- teardown parsers --------------------------------------------------------------------------

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
90 22 0:50 / /state/clusters/t/data/kubelet/root/pods/u1/volumes/kubernetes.io~projected/x rw - tmpfs tmpfs rw
91 22 0:51 / /state/clusters/t/data/containerd/state/sb/shm rw - tmpfs shm rw
92 22 0:52 / /state/clusters/t/data/containerd/state/c1/rootfs rw - overlay overlay rw
93 22 0:53 / /state/clusters/t2/data/other rw - tmpfs tmpfs rw
94 22 0:54 / /state/clusters/t/data/with\\040space rw - tmpfs tmpfs rw
95 22 0:51 / /state/clusters/t/data/containerd/state/sb/shm rw - tmpfs shm rw
"""


def test_mounts_under_are_ours_only_deepest_first_once_each() -> None:
    assert node.mounts_under(MOUNTINFO, STATE) == [
        "/state/clusters/t/data/kubelet/root/pods/u1/volumes/kubernetes.io~projected/x",
        "/state/clusters/t/data/containerd/state/c1/rootfs",
        "/state/clusters/t/data/containerd/state/sb/shm",
        "/state/clusters/t/data/with space",
    ]


SOCK = STATE / "run/containerd/containerd.sock"


@pytest.mark.parametrize(
    ("argv", "ours"),
    [
        (["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "x", "-address", str(SOCK)], True),
        (["/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-address", "/run/containerd/containerd.sock"],
         False),
        (["/usr/bin/python3", "-address", str(SOCK)], False),
        ([], False),
    ],
    ids=["our-shim", "someone-elses-containerd", "not-a-shim", "kernel-thread"],
)
def test_shim_pids(argv: list[str], ours: bool) -> None:
    assert node.shim_pids({42: argv}, SOCK) == ([42] if ours else [])


@pytest.mark.parametrize(
    ("addresses", "inside"),
    [
        (["127.0.0.1/8", "10.244.0.7/24"], True),
        (["127.0.0.1/8", "10.88.0.3/16"], False),
        (["fe80::1/64", "garbage"], False),
        ([], False),
    ],
)
def test_addresses_in_pod_range(addresses: list[str], inside: bool) -> None:
    assert node.addresses_in("10.244.0.0/16", addresses) is inside


def test_kubelet_iptables_cleanup_unhooks_before_it_deletes() -> None:
    commands = node.kubelet_iptables_cleanup()
    first_delete = next(i for i, c in enumerate(commands) if "-X" in c)
    assert all("-D" in c for c in commands[:2])
    assert all("-X" not in c for c in commands[:first_delete])
    assert ["iptables", "-t", "filter", "-X", "KUBE-FIREWALL"] in commands


def test_cgroup_dirs_are_removed_children_first() -> None:
    tree = ["/cg/memory/kubepods", "/cg/memory/kubepods/burstable/pod1", "/cg/memory/kubepods/burstable",
            "/cg/memory/kubepods/burstable/pod1/c1", "/cg/pids/kubepods"]
    order = node.cgroup_dirs_to_remove(tree)
    assert order.index("/cg/memory/kubepods/burstable/pod1/c1") < order.index("/cg/memory/kubepods/burstable/pod1")
    assert order.index("/cg/memory/kubepods/burstable") < order.index("/cg/memory/kubepods")
    assert sorted(order) == sorted(tree)


@pytest.fixture(scope="module")
def real_binaries() -> dict[str, Path]:
    from guestgate_dev.cluster import ensure_binaries
    from guestgate_dev.cluster.versions import ALL_BINARIES

    containerd = shutil.which("containerd")
    assert containerd, "containerd comes from Debian (hack/install-deps.sh)"
    return {**ensure_binaries(ALL_BINARIES), "containerd": Path(containerd)}


def accepts(command: list[str]) -> subprocess.CompletedProcess[str]:
    """The command with --help appended: every program here parses all its flags before it prints
    help, so an unknown or misspelt flag fails (cobra, urfave/cli, Go's flag package)."""
    return subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)


@pytest.mark.cluster
@pytest.mark.parametrize("component", WITH_NODE, ids=[c.name for c in WITH_NODE])
def test_the_real_binary_accepts_every_flag_given_once(component: Any, real_binaries: dict[str, Path]) -> None:
    args = component.args(dataclasses.replace(NODE, binaries=real_binaries))
    flags = [arg.split("=", 1)[0] for arg in args[1:] if arg.startswith("--")]
    assert len(flags) == len(set(flags)), f"a flag given twice (the last one wins silently): {flags}"
    done = accepts(args)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-1500:]
    refused = accepts([*args, "--guestgate-no-such-flag=1"])
    assert refused.returncode != 0, "the check would not see an unknown flag"

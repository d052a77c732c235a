"""The node's edges to the host: pre-flight checks, the pause image, and a clean teardown.

A stopped kubelet and containerd leave their pods running (containerd-shim processes are their
own sessions), the pods' network namespaces, veths and bind mounts, and kube-proxy's iptables
rules. ``containerd_before_stop`` / ``containerd_after_stop`` / ``kube_proxy_after_stop`` remove
all of it, so `guestgate-dev cluster down` leaves the host as it found it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from guestgate_dev.cluster.layout import CacheLayout
from guestgate_dev.cluster.node import (
    BRIDGE,
    KUBEPODS_CGROUP,
    NodePaths,
    addresses_in,
    cgroup_dirs_to_remove,
    kubelet_iptables_cleanup,
    mounts_under,
    shim_pids,
)
from guestgate_dev.support.process import find_running

log = logging.getLogger(__name__)

NETNS_DIR = Path("/var/run/netns")


class HostError(RuntimeError):
    """The host cannot run a node; the message says what to change."""


# --- pre-flight --------------------------------------------------------------------------------


def _write_sysctl(path: str, value: str) -> None:
    file = Path("/proc/sys") / path
    if not file.exists():
        raise HostError(f"{file} is missing: the kernel lacks what a node needs ({path})")
    if file.read_text().strip() != value:
        # Needed for Services: a pod's packet to a ClusterIP is DNATed and routed back out of
        # the bridge (forwarding), and bridged packets must pass iptables (br_netfilter).
        log.info("setting sysctl %s=%s", path, value)
        file.write_text(value + "\n")


def preflight(cache: CacheLayout, cluster_root: Path) -> None:
    """Root, the tools, the kernel settings, and no other cluster's node on this machine."""
    if os.geteuid() != 0:
        raise HostError("a node (kubelet, containerd) needs root: run as root, or start without --node")
    for tool, package in (("containerd", "containerd"), ("runc", "runc"), ("iptables", "iptables"),
                          ("ctr", "containerd"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            raise HostError(f"`{tool}` is not on PATH: apt-get install {package} (hack/install-deps.sh does)")
    if not Path("/usr/lib/cni/bridge").is_file():
        raise HostError("CNI plugins missing in /usr/lib/cni: apt-get install containernetworking-plugins")
    if not Path("/sys/fs/cgroup").is_dir() or not any(Path("/sys/fs/cgroup").iterdir()):
        raise HostError("no cgroup filesystem under /sys/fs/cgroup: the kubelet needs one")
    _write_sysctl("net/ipv4/ip_forward", "1")
    _write_sysctl("net/bridge/bridge-nf-call-iptables", "1")
    other = node_running_elsewhere(cache, cluster_root)
    if other is not None:
        raise HostError(
            f"cluster {other!r} already runs a node on this machine (one bridge, one pod range, one set "
            f"of kube-proxy rules per host): `guestgate-dev cluster down --name {other}`"
        )


def node_running_elsewhere(cache: CacheLayout, cluster_root: Path) -> str | None:
    """The name of another cluster whose kubelet runs, if any."""
    for pid_file in sorted((cache.root / "clusters").glob("*/run/kubelet.pid")):
        cluster = pid_file.parent.parent
        if cluster != cluster_root and find_running(pid_file) is not None:
            return cluster.name
    return None


def cgroup_driver() -> str:
    """``systemd`` when systemd is PID 1 (it then owns the cgroup tree), else ``cgroupfs``."""
    try:
        init = Path("/proc/1/comm").read_text().strip()
    except OSError:
        return "cgroupfs"
    return "systemd" if init == "systemd" else "cgroupfs"


# --- containerd --------------------------------------------------------------------------------


def _ctr(paths: NodePaths, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ctr", "--address", str(paths.containerd_socket), "--namespace", "k8s.io", *args],
                          capture_output=True, text=True, check=False, timeout=timeout)


def containerd_before_stop(paths: NodePaths) -> None:
    """Kill every container task while containerd still answers (the kubelet is already down,
    so nothing restarts them), then delete the tasks: their shims exit with them."""
    listed = _ctr(paths, "tasks", "ls", "-q")
    if listed.returncode != 0:
        return
    tasks = listed.stdout.split()
    for task in tasks:
        _ctr(paths, "tasks", "kill", "--signal", "SIGKILL", task)
    deadline = time.monotonic() + 20
    for task in tasks:
        # --force: delete even if the kill has not been reaped yet; retried while the shim catches up.
        while _ctr(paths, "tasks", "delete", "--force", task).returncode != 0 and time.monotonic() < deadline:
            if task not in _ctr(paths, "tasks", "ls", "-q").stdout.split():
                break
            time.sleep(0.2)
    if tasks:
        log.info("killed pod containers count=%d", len(tasks))


def _processes() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        found[int(entry.name)] = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    return found


def _netns_addresses(name: str) -> list[str]:
    done = subprocess.run(["ip", "-netns", name, "-o", "addr", "show"], capture_output=True, text=True,
                          check=False, timeout=10)
    return [fields[3] for line in done.stdout.splitlines() if len(fields := line.split()) > 3]


def containerd_after_stop(paths: NodePaths, pod_cidr: str) -> None:
    """Whatever the pods left: shims, network namespaces with our pod addresses, bind mounts
    under the state dir, the bridge, and the IP allocations of the pods that no longer exist."""
    for pid in shim_pids(_processes(), paths.containerd_socket):
        log.info("killing leftover containerd shim pid=%d", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Host sockets to the dead pods (the apiserver's side of the operator's watches) never saw a
    # FIN: the pods die after kube-proxy has removed the Service rules their connections went
    # through. Left ESTABLISHED, they hold the apiserver's graceful shutdown for its whole
    # timeout (15 s, then SIGKILL). Destroy them; only sockets to our pod range are touched.
    subprocess.run(["ss", "--kill", "dst", pod_cidr], capture_output=True, check=False, timeout=10)
    if NETNS_DIR.is_dir():
        for netns in sorted(NETNS_DIR.iterdir()):
            if netns.name.startswith("cni-") and addresses_in(pod_cidr, _netns_addresses(netns.name)):
                subprocess.run(["ip", "netns", "delete", netns.name], capture_output=True, check=False, timeout=10)
    unmount_under(paths.root)
    remove_pod_cgroups()
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False, timeout=10)
    shutil.rmtree(paths.cni_ipam_dir, ignore_errors=True)


def remove_pod_cgroups(cgroup_root: Path = Path("/sys/fs/cgroup")) -> None:
    """The empty ``kubepods`` cgroups the kubelet left in every hierarchy (v1: one per
    controller; v2: one). rmdir only: a cgroup still holding a process stays, and says so."""
    tops = [cgroup_root / KUBEPODS_CGROUP, *cgroup_root.glob(f"*/{KUBEPODS_CGROUP}")]
    tree = [str(d) for top in tops if top.is_dir() for d in (top, *top.rglob("*")) if d.is_dir()]
    for directory in cgroup_dirs_to_remove(tree):
        try:
            os.rmdir(directory)
        except OSError as error:
            log.warning("cgroup left in place %s: %s", directory, error.strerror)


def unmount_under(root: Path) -> None:
    """Unmount (lazily, deepest first) everything the kubelet and containerd mounted in ``root``:
    secret tmpfs volumes, /dev/shm of sandboxes, overlay rootfs of containers."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return
    for point in mounts_under(mountinfo, root):
        done = subprocess.run(["umount", "--lazy", point], capture_output=True, text=True, check=False, timeout=10)
        if done.returncode != 0:
            log.warning("could not unmount %s: %s", point, done.stderr.strip())


# --- kubelet -----------------------------------------------------------------------------------


def kubelet_after_stop() -> None:
    for command in kubelet_iptables_cleanup():
        subprocess.run(command, capture_output=True, check=False, timeout=30)


# --- kube-proxy --------------------------------------------------------------------------------


def kube_proxy_after_stop(kube_proxy: Path) -> None:
    # --cleanup removes the KUBE-* chains and rules of every proxy mode and exits; one node per
    # machine, so they are ours.
    subprocess.run([str(kube_proxy), "--cleanup"], capture_output=True, check=False, timeout=60)

"""Pure pieces of DevCluster and the command: port choice, status text."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from guestgate_dev.cluster import cluster as cluster_module
from guestgate_dev.cluster.cluster import ClusterError, ClusterStatus, ComponentStatus, choose_ports, export_line
from guestgate_dev.cluster.command import format_status
from guestgate_dev.cluster.components import ETCD, Component
from guestgate_dev.cluster.layout import CacheLayout
from guestgate_dev.support.process import exclusive


class FakePorts:
    """Ports in ``busy`` cannot be taken; any-port requests get 30000, 30001, ..."""

    def __init__(self, busy: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.busy = busy
        self.next = 30000

    def __call__(self, port: int | None) -> int | None:
        if port is None:
            self.next += 1
            return self.next - 1
        return None if port in self.busy else port


@pytest.mark.parametrize(
    ("case", "previous", "busy", "expected"),
    [
        ("first start: fresh ports", {}, set(), {"a": 30000, "b": 30001}),
        ("restart keeps free previous ports", {"a": 7000, "b": 7001}, set(), {"a": 7000, "b": 7001}),
        ("a previous port now taken is replaced", {"a": 7000, "b": 7001}, {7001}, {"a": 7000, "b": 30000}),
        ("a port never serves two names", {"a": 7000, "b": 7000}, set(), {"a": 7000, "b": 30000}),
    ],
)
def test_choose_ports(case: str, previous: dict[str, int], busy: set[int], expected: dict[str, int]) -> None:
    assert choose_ports(["a", "b"], previous, FakePorts(busy)) == expected, case


def test_choose_ports_without_any_free_port_says_so() -> None:
    with pytest.raises(ClusterError, match=r"no free port on 127\.0\.0\.1 for a"):
        choose_ports(["a"], {}, lambda port: None)


def test_export_line() -> None:
    assert export_line(Path("/s/kubeconfig")) == "export KUBECONFIG=/s/kubeconfig"


def status(pids: list[int | None], ready: bool = True, exists: bool = True) -> ClusterStatus:
    return ClusterStatus(
        name="demo",
        state_dir=Path("/s"),
        exists=exists,
        server="https://127.0.0.1:1",
        kubeconfig=Path("/s/kubeconfig"),
        components=tuple(ComponentStatus(f"c{i}", pid, Path(f"/s/logs/c{i}.log")) for i, pid in enumerate(pids)),
        ready=ready,
    )


@pytest.mark.parametrize(
    ("case", "value", "first_line"),
    [
        ("all up", status([1, 2]), "cluster demo: running, API ready"),
        ("up, API not answering", status([1, 2], ready=False), "cluster demo: running, API not ready"),
        ("crashed component", status([1, None], ready=False), "cluster demo: partly running"),
        ("stopped", status([None, None], ready=False), "cluster demo: stopped"),
        ("never created", status([], exists=False), "cluster demo: does not exist"),
    ],
)
def test_format_status(case: str, value: ClusterStatus, first_line: str) -> None:
    assert format_status(value).splitlines()[0].startswith(first_line), case


def test_a_missing_host_binary_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Issue 7 adds components from Debian packages (containerd, runc): the error must say what to install.
    monkeypatch.setattr(cluster_module, "ensure_binaries", lambda binaries, cache: {})
    host = Component(name="containerd", executable="containerd-not-installed-here", build=None,
                     args=ETCD.args, probe=ETCD.probe, host_packages=("containerd",))
    cluster = cluster_module.DevCluster("t", components=(host,), cache=CacheLayout(tmp_path))
    with pytest.raises(ClusterError, match=r"apt-get install containerd"):
        cluster.start()


def test_exclusive_lock_serialises_two_holders(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    order: list[str] = []
    entered = threading.Event()

    def first() -> None:
        with exclusive(lock):
            entered.set()
            time.sleep(0.2)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    entered.wait(5)
    with exclusive(lock):
        order.append("second")
    thread.join(5)
    assert order == ["first", "second"]


@pytest.mark.parametrize(
    ("recorded", "with_node"),
    [(["etcd", "kube-apiserver", "kube-controller-manager"], False),
     (["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet",
       "kube-proxy"], True),
     (None, False)],
    ids=["control-plane", "node", "never-started"],
)
def test_existing_cluster_is_handled_with_the_components_it_was_started_with(
    tmp_path: Path, recorded: list[str] | None, with_node: bool
) -> None:
    """`down` and `status` of a cluster started with --node must stop its node too."""
    import json

    from guestgate_dev.cluster.components import CONTROL_PLANE, WITH_NODE

    cache = CacheLayout(tmp_path)
    if recorded is not None:
        state = cache.cluster("t").state_file
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"components": recorded}))
    found = cluster_module.DevCluster.existing("t", cache=cache)
    assert found.components == (WITH_NODE if with_node else CONTROL_PLANE)


def test_a_second_node_on_the_machine_is_found(tmp_path: Path) -> None:
    import os

    from guestgate_dev.cluster import host

    cache = CacheLayout(tmp_path)
    pid_file = cache.cluster("other").pid_file("kubelet")
    pid_file.parent.mkdir(parents=True)
    # This very test process stands in for the other cluster's running kubelet.
    executable = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().split(b"\0")[0].decode()
    pid_file.write_text(f"{os.getpid()}\n{executable}\n")
    assert host.node_running_elsewhere(cache, cache.cluster("mine").root) == "other"
    assert host.node_running_elsewhere(cache, cache.cluster("other").root) is None, "our own node is no other"
    pid_file.write_text("999999999\nkubelet\n")
    assert host.node_running_elsewhere(cache, cache.cluster("mine").root) is None, "a stale pid file is no node"

"""``DevCluster``: a named local cluster that tests, ``make demo`` and users start and stop.

    with DevCluster("demo") as cluster:          # builds on first use, starts, waits until ready
        cluster.kubectl("get", "namespaces")
        cluster.helm("install", "gg", "charts/guestgate")
    # stopped here; ``DevCluster("demo").start()`` alone leaves it running (what `cluster up` does)

State lives in ``~/.cache/guestgate/clusters/<name>/`` (see ``layout``): a second ``DevCluster``
object with the same name, in another process, sees and controls the same processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from guestgate_dev.cluster.components import (
    ADMIN,
    CONTROL_PLANE,
    LOOPBACK,
    SETTLED_PATHS,
    WITH_NODE,
    ClusterConfig,
    Component,
    ReadyProbe,
    port_names,
    runs_node,
    with_node,
)
from guestgate_dev.cluster.gobuild import ensure_binaries
from guestgate_dev.cluster.host import HostError
from guestgate_dev.cluster.kubeconfig import dump_kubeconfig, render_kubeconfig
from guestgate_dev.cluster.layout import CacheLayout, ClusterLayout
from guestgate_dev.cluster.node import NODE_NAME
from guestgate_dev.cluster.pki import CA_NAME, PkiPlan, write_pki
from guestgate_dev.cluster.versions import HELM_BINARY, KUBECTL, Binary
from guestgate_dev.support import process

log = logging.getLogger(__name__)

DEFAULT_NAME = "guestgate"


class ClusterError(RuntimeError):
    """The cluster could not be started or reached; the message says which component and why."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    log_file: Path

    @property
    def running(self) -> bool:
        return self.pid is not None


@dataclass(frozen=True)
class ClusterStatus:
    name: str
    state_dir: Path
    exists: bool
    server: str | None
    kubeconfig: Path
    components: tuple[ComponentStatus, ...]
    ready: bool

    @property
    def running(self) -> bool:
        return bool(self.components) and all(c.running for c in self.components)


# --- small pure helpers -----------------------------------------------------------------------


def export_line(kubeconfig: Path) -> str:
    return f"export KUBECONFIG={kubeconfig}"


PortSource = Callable[[int | None], int | None]


def choose_ports(names: Sequence[str], previous: Mapping[str, int], take: PortSource) -> dict[str, int]:
    """Keep last run's ports when still free (a stable server URL across `down`/`up`), else take a
    new one. ``take(port)`` returns that port if it could be reserved (``take(None)``: any free
    port) or None; pure given ``take``."""
    chosen: dict[str, int] = {}
    for name in names:
        previous_port = previous.get(name)
        port = take(previous_port) if previous_port and previous_port not in chosen.values() else None
        port = port or take(None)
        if port is None:
            raise ClusterError(f"no free port on {LOOPBACK} for {name}")
        chosen[name] = port
    return chosen


# --- I/O edges --------------------------------------------------------------------------------


class _PortPicker:
    """Hands out free loopback ports, holding each socket open until all are picked so two names
    never get the same port; ``close()`` releases them just before the components bind."""

    def __init__(self) -> None:
        self._held: list[socket.socket] = []

    def __call__(self, port: int | None) -> int | None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((LOOPBACK, port or 0))
        except OSError:
            sock.close()
            return None
        self._held.append(sock)
        bound: int = sock.getsockname()[1]
        return bound

    def close(self) -> None:
        for sock in self._held:
            sock.close()
        self._held.clear()


def detect_advertise_address() -> str:
    """The host address the apiserver advertises for the `kubernetes` Service.

    Endpoints may not point at loopback, so use the address of the default route when there is
    one (a UDP connect sends nothing); fall back to loopback on a machine without a network.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            # TEST-NET-2: documentation addresses, only the routing table is consulted.
            probe.connect(("198.51.100.1", 9))
            address: str = probe.getsockname()[0]
        except OSError:
            return LOOPBACK
    return address if address != "0.0.0.0" else LOOPBACK


class DevCluster:
    def __init__(
        self,
        name: str = DEFAULT_NAME,
        *,
        components: Sequence[Component] = CONTROL_PLANE,
        cache: CacheLayout | None = None,
    ) -> None:
        self.cache = cache or CacheLayout.default()
        self.layout: ClusterLayout = self.cache.cluster(name)
        self.name = name
        self.components: tuple[Component, ...] = tuple(components)
        self._started_here = False
        self._lock_depth = 0

    @classmethod
    def existing(cls, name: str = DEFAULT_NAME, *, cache: CacheLayout | None = None) -> DevCluster:
        """The cluster as it was last started: with its node if it had one (for `down`, `status`)."""
        probe = cls(name, cache=cache)
        recorded = probe._state().get("components", [])
        return cls(name, components=WITH_NODE, cache=cache) if "kubelet" in recorded else probe

    # -- what callers read ----------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.layout.kubeconfig

    @property
    def state_dir(self) -> Path:
        return self.layout.root

    def _state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self.layout.state_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return state

    @property
    def server(self) -> str:
        server = self._state().get("server")
        if not isinstance(server, str):
            raise ClusterError(f"cluster {self.name!r} has never been started (no {self.layout.state_file})")
        return server

    def env(self) -> dict[str, str]:
        """The environment for a subprocess that should talk to this cluster (kubectl, kopf, ...)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    # -- lifecycle ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time changes this cluster (two `up`s would race for ports and pids);
        re-entrant within this object, since start() itself stops and deletes."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        with process.exclusive(self.layout.lock_file):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

    def start(self, *, fresh: bool = False) -> DevCluster:
        """Build what is missing, start every component detached, wait until the API is usable.

        Reuses a cluster that is already running under this name. ``fresh`` wipes the state
        (etcd data, certificates, logs) first, for tests that want a clean API.
        """
        started = time.monotonic()
        binaries = self._resolve_binaries()
        with self._locked():
            self._started_here = self._start(binaries, fresh)
        log.info("cluster ready name=%s server=%s seconds=%.1f", self.name, self.server,
                 time.monotonic() - started)
        return self

    def _start(self, binaries: Mapping[str, Path], fresh: bool) -> bool:
        """True if this call started the processes, False if it found them running."""
        if fresh:
            self.delete()
        elif self.status().running:
            self._wait_settled(self._config(binaries, self._state().get("ports", {})))
            log.info("cluster already running name=%s", self.name)
            return False
        else:
            self.stop()  # a half-running cluster from a crash: start over cleanly
        picker = _PortPicker()
        try:
            ports = choose_ports(port_names(self.components), self._state().get("ports", {}), picker)
        finally:
            picker.close()
        cfg = self._config(binaries, ports)
        for component in self.components:
            if component.preflight is not None:
                try:
                    component.preflight(cfg)
                except HostError as error:
                    raise ClusterError(f"{component.name}: {error}") from error
        self._write_credentials(cfg)
        self._write_state(cfg, binaries)
        try:
            for component in self.components:
                self._start_component(component, cfg)
            self._wait_settled(cfg)
        except BaseException:
            self.stop()
            raise
        return True

    def stop(self) -> bool:
        """Stop every component (reverse order). True if anything was running."""
        stopped = False
        with self._locked():
            cfg = self._config_from_state()
            for component in reversed(self.components):
                pid_file = self.layout.pid_file(component.name)
                if cfg is not None and component.before_stop and process.find_running(pid_file):
                    self._hook(component, "before_stop", component.before_stop, cfg)
                stopped |= process.stop(pid_file, component.name)
                # Also after a crash: whatever pods, mounts and rules the last run left go now.
                if cfg is not None and component.after_stop:
                    self._hook(component, "after_stop", component.after_stop, cfg)
        return stopped

    def _hook(self, component: Component, what: str, hook: Callable[[ClusterConfig], None],
              cfg: ClusterConfig) -> None:
        # A stop goes on whatever a cleanup hook hits: the next component must still stop.
        try:
            hook(cfg)
        except Exception:
            log.exception("%s of %s failed; continuing the stop", what, component.name)

    def _config_from_state(self) -> ClusterConfig | None:
        state = self._state()
        binaries, ports = state.get("binaries"), state.get("ports")
        if not isinstance(binaries, dict) or not isinstance(ports, dict):
            return None
        return self._config({name: Path(path) for name, path in binaries.items()}, ports)

    def delete(self) -> None:
        """Stop and remove the cluster's state directory (data, certificates, logs)."""
        with self._locked():
            self.stop()
            shutil.rmtree(self.layout.root, ignore_errors=True)
            # Per-session names (pytest-<pid>) would otherwise leave a lock file each. Someone
            # blocked on this very file right now would lock an unlinked file: harmless, as the
            # cluster it wanted is gone and a fresh start recreates everything.
            self.layout.lock_file.unlink(missing_ok=True)

    def __enter__(self) -> DevCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Stop only what this block started: a cluster someone left running stays running.
        if self._started_here:
            self.stop()

    def status(self) -> ClusterStatus:
        components = tuple(
            ComponentStatus(
                c.name,
                running.pid if (running := process.find_running(self.layout.pid_file(c.name))) else None,
                self.layout.log_file(c.name),
            )
            for c in self.components
        )
        state = self._state()
        server = state.get("server")
        ready = False
        if server and all(c.running for c in components):
            ready = self._get(f"{server}/readyz", ReadyProbe("", tls="cluster", client=ADMIN.name)) == 200
        return ClusterStatus(
            name=self.name,
            state_dir=self.layout.root,
            exists=self.layout.root.is_dir(),
            server=server if isinstance(server, str) else None,
            kubeconfig=self.kubeconfig,
            components=components,
            ready=ready,
        )

    # -- tools ----------------------------------------------------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned kubectl against this cluster; output captured as text."""
        return self._tool(KUBECTL, ["--kubeconfig", str(self.kubeconfig), *args], check, input, timeout,
                          self.env())

    def helm(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run the pinned Helm against this cluster, with Helm's own state kept in the state dir."""
        env = self.env()
        home = self.layout.helm_home
        env |= {"HELM_CONFIG_HOME": str(home / "config"), "HELM_CACHE_HOME": str(home / "cache"),
                "HELM_DATA_HOME": str(home / "data")}
        return self._tool(HELM_BINARY, ["--kube-context", f"guestgate-{self.name}", *args], check, input,
                          timeout, env)

    def _tool(
        self, binary: Binary, args: list[str], check: bool, input: str | None, timeout: float,
        env: dict[str, str],
    ) -> subprocess.CompletedProcess[str]:
        path = ensure_binaries([binary], self.cache)[binary.name]
        argv = [str(path), *args]
        completed = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout,
                                   env=env, check=False)
        if check and completed.returncode != 0:
            raise ClusterError(
                f"`{binary.name} {' '.join(args)}` failed (exit {completed.returncode}):\n"
                f"{completed.stderr.strip() or completed.stdout.strip()}"
            )
        return completed

    # -- internals ------------------------------------------------------------------------------

    def _resolve_binaries(self) -> dict[str, Path]:
        # kubectl too: every user of a cluster wants it, and it shares kube-apiserver's build cache.
        builds = [c.build for c in self.components if c.build is not None]
        binaries = ensure_binaries([*builds, KUBECTL], self.cache)
        for component in self.components:
            if component.build is None:
                found = shutil.which(component.executable)
                if found is None:
                    packages = " ".join(component.host_packages) or component.executable
                    raise ClusterError(
                        f"{component.name} needs `{component.executable}` on PATH; install it "
                        f"(apt-get install {packages})"
                    )
                binaries[component.executable] = Path(found)
        return binaries

    def _config(self, binaries: Mapping[str, Path], ports: Mapping[str, int]) -> ClusterConfig:
        cfg = ClusterConfig(
            name=self.name,
            layout=self.layout,
            ports=dict(ports),
            binaries=dict(binaries),
            # Detected on every start: a laptop's address changes between networks.
            advertise_address=detect_advertise_address(),
        )
        return with_node(cfg) if runs_node(self.components) else cfg

    def _write_credentials(self, cfg: ClusterConfig) -> None:
        identities = [ADMIN, *(c.identity for c in self.components if c.identity is not None)]
        plan = PkiPlan(
            cluster_name=self.name,
            serving=tuple(c.serving(cfg) for c in self.components if c.serving is not None),
            clients=(*identities, *(cert for c in self.components for cert in c.client_certs)),
        )
        write_pki(self.layout.pki, plan)
        ca_pem = self.layout.cert(CA_NAME).read_bytes()
        for identity in identities:
            path = self.kubeconfig if identity is ADMIN else self.layout.component_kubeconfig(identity.name)
            config = render_kubeconfig(
                cluster=self.name,
                server=cfg.server,
                ca_pem=ca_pem,
                user=identity.name,
                client_cert_pem=self.layout.cert(identity.name).read_bytes(),
                client_key_pem=self.layout.key(identity.name).read_bytes(),
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            # Holds a private key: owner-only, like ~/.kube/config.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(dump_kubeconfig(config))

    def _write_state(self, cfg: ClusterConfig, binaries: Mapping[str, Path]) -> None:
        state = {
            "name": self.name,
            "server": cfg.server,
            "kubeconfig": str(self.kubeconfig),
            "ports": dict(cfg.ports),
            "advertiseAddress": cfg.advertise_address,
            "binaries": {name: str(path) for name, path in sorted(binaries.items())},
            "components": [c.name for c in self.components],
            "startedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.layout.state_file.write_text(json.dumps(state, indent=2) + "\n")

    def _start_component(self, component: Component, cfg: ClusterConfig) -> None:
        started = time.monotonic()
        # Owner-only: etcd refuses to be quiet about anything looser, and it holds secrets.
        self.layout.data_dir(component.name).mkdir(mode=0o700, parents=True, exist_ok=True)
        for path, content in (component.config_files(cfg) if component.config_files else {}).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        env = {**os.environ, **component.extra_env} if component.extra_env else None
        log_file = self.layout.log_file(component.name)
        running = process.start_detached(component.args(cfg), log_file,
                                         self.layout.pid_file(component.name), env)
        probe = component.probe(cfg)
        deadline = time.monotonic() + probe.timeout_s
        while True:
            if not process.is_alive(running):
                raise ClusterError(
                    f"{component.name} {process.describe_exit(running.pid)} during start; "
                    f"last lines of {log_file}:\n"
                    f"{process.log_tail(log_file)}"
                )
            if self._get(probe.url, probe) == 200:
                break
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{component.name} not ready after {probe.timeout_s:.0f}s ({probe.url}); "
                    f"last lines of {log_file}:\n{process.log_tail(log_file)}"
                )
            time.sleep(0.2)
        if component.post_start is not None:
            component.post_start(cfg)
        log.info("component ready component=%s pid=%d seconds=%.1f", component.name, running.pid,
                 time.monotonic() - started)

    def _wait_settled(self, cfg: ClusterConfig, timeout_s: float = 90.0) -> None:
        probe = ReadyProbe("", tls="cluster", client=ADMIN.name)
        deadline = time.monotonic() + timeout_s
        for path in SETTLED_PATHS:
            while self._get(cfg.server + path, probe) != 200:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"the API did not serve {path} within {timeout_s:.0f}s; see the logs in "
                        f"{self.layout.root / 'logs'}"
                    )
                time.sleep(0.2)
        if runs_node(self.components):
            self._wait_node_ready(cfg, time.monotonic() + 120)

    def _wait_node_ready(self, cfg: ClusterConfig, deadline: float) -> None:
        """The Node registered and Ready: runtime up, CNI network loaded, kubelet syncing."""
        url = f"{cfg.server}/api/v1/nodes/{NODE_NAME}"
        last = "not registered"
        while time.monotonic() < deadline:
            body = self._get_json(url)
            if body is not None:
                conditions = {c.get("type"): c for c in body.get("status", {}).get("conditions", [])}
                ready = conditions.get("Ready", {})
                if ready.get("status") == "True":
                    return
                last = f"{ready.get('reason', '?')}: {ready.get('message', '')}"
            time.sleep(0.5)
        raise ClusterError(f"node {NODE_NAME} not Ready ({last}); see {self.layout.log_file('kubelet')}")

    def _get_json(self, url: str) -> dict[str, Any] | None:
        context = ssl.create_default_context(cafile=str(self.layout.cert(CA_NAME)))
        context.load_cert_chain(self.layout.cert(ADMIN.name), self.layout.key(ADMIN.name))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=context))
        try:
            with contextlib.closing(opener.open(url, timeout=5)) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except (urllib.error.URLError, OSError, ssl.SSLError, json.JSONDecodeError):
            return None

    def _get(self, url: str, probe: ReadyProbe) -> int | None:
        """Status code of a GET, or None when nothing answers (yet). A unix-socket probe
        answers 200 once the socket accepts a connection."""
        if probe.unix_socket is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                try:
                    sock.connect(str(probe.unix_socket))
                except OSError:
                    return None
            return 200
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        try:
            if probe.tls == "cluster":
                context = ssl.create_default_context(cafile=str(self.layout.cert(CA_NAME)))
                if probe.client:
                    context.load_cert_chain(self.layout.cert(probe.client), self.layout.key(probe.client))
                handlers.append(urllib.request.HTTPSHandler(context=context))
            # No proxy: an http_proxy in the environment must not intercept calls to loopback.
            opener = urllib.request.build_opener(*handlers)
            with contextlib.closing(opener.open(url, timeout=5)) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except (urllib.error.URLError, OSError, ssl.SSLError):
            return None

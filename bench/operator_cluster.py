"""The pieces of the operator-at-scale bench: the operator as a process, signalling servers fed
from the GuestCluster's ConfigMaps (as a kubelet would mount them), and fast bulk API calls.

Bench-side copies of what tests/fixtures/{operator,localpod}.py do (bench never imports tests/),
with one difference that matters at scale: the ConfigMaps reach the servers through one WATCH
(the full object on every change) instead of a `kubectl get` per pod every half second.
"""

from __future__ import annotations

import base64
import contextlib
import json
import multiprocessing
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch

from guestgate.config.schema import (
    ADMIN_TOKEN_FILE,
    CLUSTER_FILE,
    CONFIG_FILES,
    SIGNING_KEY_FILE,
    files_digest,
    is_links_file,
)
from guestgate.render import names
from guestgate_dev.cluster import DevCluster
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.signal import launch_signal_server, signal_command

REPO = Path(__file__).resolve().parents[1]
Body = dict[str, Any]
GROUP, VERSION = "guestgate.io", "v1alpha1"


def api_client(cluster: DevCluster, pool: int = 16) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    configuration.connection_pool_maxsize = pool
    return client.ApiClient(configuration)


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited {proc.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url}: not up within {timeout:.0f} s")


class Operator:
    """`guestgate operator` watching one namespace, with its /metrics on a free port."""

    def __init__(self, cluster: DevCluster, namespace: str, log_path: Path, extra_args: Sequence[str] = ()) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log_path = log_path
        self.extra_args = list(extra_args)
        self.metrics_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "guestgate",
                "operator",
                "--kubeconfig",
                str(self.cluster.kubeconfig),
                "--metrics-port",
                str(self.metrics_port),
                "--health-port",
                str(free_port()),
                "--namespace",
                self.namespace,
                "--log-level",
                "warning",
                *self.extra_args,
            ],
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            env=self.cluster.env(),
            cwd=REPO,
        )
        wait_http(f"http://127.0.0.1:{self.metrics_port}/metrics", 60, self.proc, self.log_path)

    def metrics(self) -> dict[str, float]:
        """Samples by 'name{labels}' (the text exposition, comments dropped)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as response:
            text = response.read().decode()
        return parse_metrics(text)

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)


def parse_metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


def sum_metric(samples: dict[str, float], name: str, where: Callable[[str], bool] = lambda _: True) -> float:
    return sum(v for k, v in samples.items() if (k == name or k.startswith(name + "{")) and where(k))


def apiserver_requests(cluster: DevCluster) -> dict[str, float]:
    """apiserver_request_total of the dev kube-apiserver, by 'verb resource' (every client)."""
    done = cluster.kubectl("get", "--raw", "/metrics", check=True)
    out: dict[str, float] = {}
    for key, value in parse_metrics(done.stdout).items():
        if key.startswith("apiserver_request_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', key))
            resource = labels.get("resource", "") + (f"/{labels['subresource']}" if labels.get("subresource") else "")
            name = f"{labels.get('verb', '')} {resource}"
            out[name] = out.get(name, 0.0) + value
    return out


class SignalPods:
    """`guestgate signal` processes on 127.0.0.1, each with its own config dir, all fed by one
    watch of the GuestCluster's ConfigMaps (every data key becomes a file, as a projected volume
    would make it) and its Secrets (read once)."""

    def __init__(
        self, cluster: DevCluster, namespace: str, guest_cluster: str, root: Path, count: int, follow: bool = True
    ) -> None:
        """follow: keep the config dirs current after the start (a mounted ConfigMap, the previous
        design); else the servers get their start configuration from the dirs and every change
        from the operator's push (their cluster.json differs from the ConfigMap's here: ports of
        their own on a shared host, so a followed dir would never match what is pushed)."""
        self.cluster = cluster
        self.follow = follow
        self.started = False
        self.namespace = namespace
        self.guest_cluster = guest_cluster
        self.root = root
        self.count = count
        self.core = client.CoreV1Api(api_client(cluster, pool=4))
        self.dirs = [root / f"pod-{i}" for i in range(count)]
        for folder in self.dirs:  # a run before this one left its config (stale link shards) and log
            shutil.rmtree(folder, ignore_errors=True)
        self.admin_ports = [free_port() for _ in range(count)]
        self.sip_ports = [free_port() for _ in range(count)]
        self.web_ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.token = ""
        self.files: dict[str, str] = {}  # what the pods are given, by file name
        self.writes = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch_loop, name="configmap-mirror", daemon=True)

    # -- the mirror ---------------------------------------------------------------------------
    def _secrets(self) -> bool:
        wanted = {
            SIGNING_KEY_FILE: (names.signing_secret_name(self.guest_cluster), "key"),
            ADMIN_TOKEN_FILE: (names.admin_secret_name(self.guest_cluster), "token"),
        }
        values: dict[str, str] = {}
        for rel, (secret, key) in wanted.items():
            try:
                data = self.core.read_namespaced_secret(secret, self.namespace).data or {}
            except client.ApiException:
                return False
            if key not in data:
                return False
            values[rel] = base64.b64decode(data[key]).decode()
        for folder in self.dirs:
            for rel, text in values.items():
                path = folder / "secrets" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        self.token = values[ADMIN_TOKEN_FILE]
        return True

    def _apply(self, configmap: Any) -> None:
        data: dict[str, str] = dict(configmap.data or {})
        with self._lock:
            changed = {k: v for k, v in data.items() if self.files.get(k) != v}
            self.files.update(changed)
        if self.started and not self.follow:
            return
        for index, folder in enumerate(self.dirs):
            target = folder / "config"
            target.mkdir(parents=True, exist_ok=True)
            for name, text in changed.items():
                if name == CLUSTER_FILE:  # ports of their own: the pods share the host's network
                    cluster_json = json.loads(text)
                    cluster_json["adminPort"] = self.admin_ports[index]
                    cluster_json.setdefault("sip", {})["port"] = self.sip_ports[index]
                    cluster_json["sip"]["tlsPort"] = free_port()
                    text = json.dumps(cluster_json)
                temporary = target / f".{name}.tmp"
                temporary.write_text(text)
                temporary.replace(target / name)  # whole files only, as the kubelet's symlink swap
        if changed:
            self.writes += 1

    def _watch_loop(self) -> None:
        selector = f"app.kubernetes.io/instance={self.guest_cluster}"
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(
                    self.core.list_namespaced_config_map, self.namespace, label_selector=selector, timeout_seconds=5
                ):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._apply(event["object"])
                    if self._stop.is_set():
                        return
            except Exception:  # a dropped watch: start it again
                time.sleep(0.2)

    # -- the servers ----------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not (CLUSTER_FILE in self.files and self._secrets()):
            if time.monotonic() > deadline:
                raise TimeoutError("the GuestCluster's ConfigMap and Secrets never appeared")
            time.sleep(0.2)
        started = [
            launch_signal_server(
                signal_command(folder / "config", secrets_dir=folder / "secrets", reload_seconds=0.5,
                               pod_name=f"{self.guest_cluster}-bench-{index}", web_port=0),
                folder / "signal.log", cwd=REPO, append=True)
            for index, folder in enumerate(self.dirs)
        ]
        self.procs += [server.process for server in started]
        self.started = True
        for server in started:
            server.wait_ready(max(1.0, deadline - time.monotonic()))
            self.web_ports.append(int(server.web.rpartition(":")[2]))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def page(self, index: int, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_ports[index]}{path}", timeout=5) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def status(self, index: int) -> Body:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.admin_ports[index]}/v1/status", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            result: Body = json.loads(response.read())
            return result

    def serves_what_was_written(self, index: int) -> bool:
        """The server reports the digest of its config dir as it is now."""
        folder = self.dirs[index] / "config"
        present = {name for name in CONFIG_FILES if (folder / name).exists()}
        present |= {path.name for path in folder.glob("links-*.json") if is_links_file(path.name)}
        digest = files_digest({name: (folder / name).read_text() for name in present})
        return bool(self.status(index)["config"]["digest"] == digest)

    def serves_what_is_pushed(self, index: int) -> bool:
        """The server reports the digest of the ConfigMaps' files as the operator pushes them."""
        with self._lock:  # the pods' ConfigMaps only (the watch also sees the TURN server's)
            digest = files_digest({k: v for k, v in self.files.items() if k in CONFIG_FILES or is_links_file(k)})
        return bool(self.status(index)["config"]["digest"] == digest)

    def endpoints(self, namespace: str, guest_cluster: str) -> list[str]:
        """`--signal-endpoint` arguments that make the operator push to these servers."""
        out: list[str] = []
        for port in self.admin_ports:
            out += ["--signal-endpoint", f"{namespace}/{guest_cluster}=http://127.0.0.1:{port}"]
        return out

    def links_listed(self) -> int:
        """Links in the files the pods were given (every links shard)."""
        with self._lock:
            texts = [text for name, text in self.files.items() if is_links_file(name)]
        return sum(len(json.loads(text).get("links", [])) for text in texts)

    def links_bytes(self) -> int:
        with self._lock:
            return sum(len(text) for name, text in self.files.items() if is_links_file(name))

    def stop(self) -> None:
        self._stop.set()
        for proc in self.procs:
            stop_process(proc, timeout=10)


def guest_link(name: str, display_name: str, cluster_ref: str, trunk_ref: str) -> Body:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "GuestLink",
        "metadata": {"name": name},
        "spec": {
            "clusterRef": cluster_ref,
            "trunkRef": trunk_ref,
            "destination": "2001",
            "displayName": display_name,
            "slug": name,
        },
    }


def create_all(api: client.ApiClient, namespace: str, bodies: Iterable[Body], threads: int = 8) -> float:
    """Create the GuestLinks with `threads` parallel POSTs; the seconds it took."""
    custom = client.CustomObjectsApi(api)

    def create(body: Body) -> None:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "guestlinks", body, _preload_content=False)

    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, bodies))
    return time.monotonic() - start


def list_links(api: client.ApiClient, namespace: str) -> list[Body]:
    custom = client.CustomObjectsApi(api)
    response = custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "guestlinks", _preload_content=False)
    items: list[Body] = json.loads(response.data)["items"]
    return items


def published(link: Body) -> bool:
    """Its status is current and says Active (the phase of a link its cluster publishes)."""
    status = link.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions", [])}
    return bool(
        status.get("phase") == "Active"
        and status.get("observedGeneration") == link["metadata"].get("generation")
        and conditions.get("Published") == "True"
    )


class PublishedWatch:
    """How many GuestLinks of a namespace are published, kept by a watch (a LIST of 10,000 links
    every second would load the API server more than the operator does).

    The watch runs in a process of its own: decoding every link's events twice (its create, its
    status) in the bench's own process would take the GIL from the threads that create the links,
    and slow the creates of the operator's run, not those of the bare reference, which nobody
    watches."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._count = context.Value("i", 0)
        self._stop = context.Event()
        self._process = context.Process(
            target=_watch_published, args=(str(kubeconfig), namespace, self._count, self._stop),
            name="published-watch", daemon=True,
        )
        self._process.start()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def count(self) -> int:
        return int(self._count.value)

    def stop(self) -> None:
        self._stop.set()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)


def _watch_published(kubeconfig: str, namespace: str, count: Any, stop: Any) -> None:
    """The watch process: keeps `count` at the number of published links until `stop` is set."""
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    custom = client.CustomObjectsApi(client.ApiClient(configuration))
    published_names: set[str] = set()
    version = ""
    while not stop.is_set():
        try:
            if not version:
                listed = custom.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, "guestlinks", _preload_content=False
                )
                body = json.loads(listed.data)
                published_names = {i["metadata"]["name"] for i in body["items"] if published(i)}
                count.value = len(published_names)
                version = body["metadata"]["resourceVersion"]
            for event in watch.Watch().stream(
                custom.list_namespaced_custom_object, GROUP, VERSION, namespace, "guestlinks",
                resource_version=version, timeout_seconds=5,
            ):
                item = event["object"]
                version = item["metadata"].get("resourceVersion", version)
                name = item["metadata"]["name"]
                if event["type"] != "DELETED" and published(item):
                    published_names.add(name)
                else:
                    published_names.discard(name)
                count.value = len(published_names)
                if stop.is_set():
                    return
        except Exception:  # expired or dropped: list again
            version = ""
            time.sleep(0.2)


def patch_display_name(api: client.ApiClient, namespace: str, name: str, display_name: str) -> None:
    client.CustomObjectsApi(api).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "guestlinks", name, {"spec": {"displayName": display_name}}
    )

"""The demo's own call path: a phone behind a trunk and the signalling server as local processes.

Until the local cluster can run pods, `guestgate-dev demo` runs what a signalling pod runs
(`python -m guestgate.pod.serve`) as a process on 127.0.0.1, fed the way a pod is fed: the
operator's rendered ConfigMap and the Secrets it generated are copied into a config dir and a
secrets dir, and kept in sync while the demo runs. The demo GuestCluster's publicURL is that
process, so the printed link opens in a browser on this machine and the call reaches a pjsua2
phone (echo: you hear yourself) behind a SipTrunk pointing at it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import guestgate
from guestgate.config.schema import ADMIN_TOKEN_FILE, CLUSTER_FILE, CONFIG_FILES, SIGNING_KEY_FILE
from guestgate_dev.cluster import DevCluster
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import LocalRelay, start_relay
from guestgate_dev.support.signal import launch_signal_server, signal_command

DEMO_CLUSTER = "local"
DEMO_TRUNK = "demo-phone"
DEMO_LINK = "try-me"
DEMO_SLUG = "demo"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class DemoPorts:
    web: int = field(default_factory=free_port)
    sip: int = field(default_factory=free_port)
    admin: int = field(default_factory=free_port)
    phone: int = field(default_factory=free_port)

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.web}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin}"


def manifests(ports: DemoPorts, namespace: str) -> list[dict[str, Any]]:
    """The demo GuestCluster, SipTrunk and GuestLink (applied next to the examples)."""
    meta = {"namespace": namespace, "labels": {"app.kubernetes.io/part-of": "guestgate-demo"}}
    api = "guestgate.io/v1alpha1"
    return [
        {
            "apiVersion": api,
            "kind": "GuestCluster",
            "metadata": {"name": DEMO_CLUSTER, **meta},
            "spec": {
                "replicas": 1,
                "publicURL": ports.public_url,
                "sip": {"port": ports.sip, "transports": ["udp"]},
                "web": {"port": ports.web},
            },
        },
        {
            "apiVersion": api,
            "kind": "SipTrunk",
            "metadata": {"name": DEMO_TRUNK, **meta},
            "spec": {
                "clusterRef": DEMO_CLUSTER,
                "platform": "generic",
                "peer": {"host": "127.0.0.1", "port": ports.phone, "transport": "udp"},
                "codecs": ["PCMU", "PCMA"],
                "keepalive": {"intervalSeconds": 30, "failureThreshold": 3},
                # One health-check call on each profile change: the trunk's status shows a real verdict.
                "healthCheck": {
                    "destinations": [{"name": "demo-phone", "number": "2001"}],
                    "intervalSeconds": 0,
                    "timeoutSeconds": 15,
                    "minMediaSeconds": 1,
                },
            },
        },
        {
            "apiVersion": api,
            "kind": "GuestLink",
            "metadata": {"name": DEMO_LINK, **meta},
            "spec": {
                "clusterRef": DEMO_CLUSTER,
                "trunkRef": DEMO_TRUNK,
                "destination": "2001",
                "displayName": "Call the GuestGate demo phone",
                "callerName": "Demo visitor",
                "slug": DEMO_SLUG,
                "access": {"maxConcurrentCalls": 5, "callsPerMinutePerIP": 30},
            },
        },
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(guestgate.__file__).resolve().parents[1])  # operator/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class LocalSignal:
    """The demo phone and the signalling server, with the ConfigMap copied into their config dir."""

    def __init__(self, cluster: DevCluster, namespace: str, ports: DemoPorts) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.ports = ports
        self.root = cluster.state_dir / "demo-signal"
        self.config_dir = self.root / "config"
        self.secrets_dir = self.root / "secrets"
        self.logs = cluster.state_dir / "logs"
        self.phone: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.relay: LocalRelay | None = None  # the media relay beside the server, as in a pod
        self._last: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"{self.ports.public_url}/call/{DEMO_SLUG}"

    def start_phone(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / "demo-phone.log"
        offset = _size(log)
        self.phone = subprocess.Popen(
            [sys.executable, "-m", "guestgate_dev.demo.phone", "--port", str(self.ports.phone), "--mode", "echo"],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_env(),
        )
        self._wait_log(log, offset, re.compile(r'"event": "ready"'), self.phone, "the demo phone")

    def apply_resources(self) -> None:
        docs = "\n---\n".join(json.dumps(m) for m in manifests(self.ports, self.namespace))
        self.cluster.kubectl("apply", "--server-side", "--field-manager", "guestgate-demo", "-f", "-", input=docs)

    def sync(self) -> bool:
        """Copy the ConfigMap into the config dir when it changed; True once it has our link."""
        done = self.cluster.kubectl(
            "-n", self.namespace, "get", "configmap", f"{DEMO_CLUSTER}-config", "-o", "json", check=False
        )
        if done.returncode != 0:
            return False
        data: dict[str, str] = json.loads(done.stdout).get("data") or {}
        if not all(name in data for name in CONFIG_FILES):
            return False
        # A pod owns its host; this process shares one, so the admin API gets a free port.
        cluster_json = json.loads(data[CLUSTER_FILE])
        cluster_json["adminPort"] = self.ports.admin
        data = {**data, CLUSTER_FILE: json.dumps(cluster_json, indent=2) + "\n"}
        if data != self._last:
            self.config_dir.mkdir(parents=True, exist_ok=True)
            for name in CONFIG_FILES:
                temporary = self.config_dir / f".{name}.tmp"
                temporary.write_text(data[name])
                temporary.replace(self.config_dir / name)  # never a half-written file for the reader
            self._last = data
        return f"/call/{DEMO_SLUG}" in data.get("links.json", "")

    def copy_secrets(self) -> bool:
        wanted = {
            SIGNING_KEY_FILE: (f"{DEMO_CLUSTER}-signing-key", "key"),
            ADMIN_TOKEN_FILE: (f"{DEMO_CLUSTER}-admin-token", "token"),
        }
        for rel, (secret, key) in wanted.items():
            done = self.cluster.kubectl("-n", self.namespace, "get", "secret", secret, "-o", "json", check=False)
            if done.returncode != 0:
                return False
            value = (json.loads(done.stdout).get("data") or {}).get(key)
            if not value:
                return False
            path = self.secrets_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(base64.b64decode(value))
            path.chmod(0o600)
        return True

    def wait_published(self, should_stop: Any) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not (self.sync() and self.copy_secrets()):
            if time.monotonic() > deadline or should_stop():
                raise RuntimeError(
                    f"the operator did not publish the demo link's configuration within "
                    f"{START_TIMEOUT:.0f}s (kubectl -n {self.namespace} get guestgate)"
                )
            time.sleep(0.5)

    def wait_trunk_checked(self, should_stop: Any, timeout: float = 30.0) -> str:
        """Wait for the operator's first health check of the demo trunk; its Healthy reason."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not should_stop():
            done = self.cluster.kubectl("-n", self.namespace, "get", "siptrunk", DEMO_TRUNK, "-o", "json", check=False)
            if done.returncode == 0:
                conditions = (json.loads(done.stdout).get("status") or {}).get("conditions") or []
                healthy = next((c for c in conditions if c.get("type") == "Healthy"), None)
                if healthy is not None and healthy.get("status") in ("True", "False"):
                    return f"Healthy={healthy['status']} ({healthy.get('reason', '')})"
            time.sleep(1.0)
        return "not checked yet"

    def start_server(self) -> None:
        self.relay = start_relay(self.logs / "rtpengine.log")
        command = signal_command(self.config_dir, secrets_dir=self.secrets_dir, reload_seconds=1,
                                 extra=["--web-metrics", "--rtpengine", self.relay.ng])
        started = launch_signal_server(command, self.logs / "signal.log", env=_env(), append=True)
        self.server = started.process
        started.wait_ready(START_TIMEOUT)

    def check(self) -> str | None:
        """None while both processes run, else which one exited."""
        relay = self.relay.process if self.relay is not None else None
        for name, process in (("the demo phone", self.phone), ("the signalling server", self.server),
                              ("the media relay", relay)):
            if process is not None and process.poll() is not None:
                return f"{name} exited ({process.returncode}); see {self.logs}"
        return None

    def stop(self) -> None:
        stop_process(self.server)  # first: it ends calls in progress with a BYE to the phone
        stop_process(self.phone)
        if self.relay is not None:
            self.relay.stop()

    def _wait_log(
        self, log: Path, offset: int, ready: re.Pattern[str], process: subprocess.Popen[bytes], what: str
    ) -> None:
        """Wait for the ready line the process writes after `offset` (the logs are appended to)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if log.exists() and ready.search(log.read_bytes()[offset:].decode(errors="replace")):
                return
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited ({process.returncode}); see {log}")
            time.sleep(0.1)
        raise RuntimeError(f"{what} did not start within {START_TIMEOUT:.0f}s; see {log}")


def stop_on_signals() -> dict[str, bool]:
    """A flag that Ctrl-C (SIGINT) or SIGTERM sets, so the demo can stop what it started in order."""
    stop = {"now": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop

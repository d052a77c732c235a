"""`guestgate signal` processes on 127.0.0.1 for the benchmarks (diagnosis, peer filter)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from guestgate.config.schema import (
    ADMIN_TOKEN_FILE,
    ClusterConfig,
    PublishedConfig,
    SipListenConfig,
    TrunkProfile,
    TrunksFile,
)
from guestgate_dev.demo.local import stop_process
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import as_unprivileged

TOKEN = "bench-admin-token-0123456789abcdef"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Pod:
    """One signalling server process (what a pod of the StatefulSet runs)."""

    name: str
    process: subprocess.Popen[bytes]
    admin_port: int
    log: Path
    sip_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.process, 10.0)


def launch_pod(
    root: Path, name: str, trunks: list[TrunkProfile], transports: tuple[str, ...] = ("udp",), uid: int | None = None
) -> Pod:
    """Start `guestgate signal` with these trunks (as uid, without capabilities, as a pod runs);
    wait_ready() before use."""
    cluster = ClusterConfig(
        namespace="bench",
        name="edge",
        public_url="https://guest.example.com",
        admin_port=free_port(socket.SOCK_STREAM),
        sip=SipListenConfig(port=free_port(), transports=transports),  # type: ignore[arg-type]
    )
    config_dir = root / name / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    files = PublishedConfig(cluster=cluster, trunks=TrunksFile(trunks=tuple(trunks))).files()
    for file_name, text in files.items():
        (config_dir / file_name).write_text(text, encoding="utf-8")
    token = root / name / "secrets" / ADMIN_TOKEN_FILE
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(TOKEN)
    log = root / name / "signal.log"
    cmd = [sys.executable, "-m", "guestgate", "signal", "--config-dir", str(config_dir), "--bind", "127.0.0.1"]
    cmd += ["--reload-seconds", "5", "--pod-name", name, "--web-port", "0"]
    if uid is not None:
        cmd = as_unprivileged(cmd, uid)
    with log.open("wb") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO)
    return Pod(name, process, cluster.admin_port, log, cluster.sip.port)


def wait_ready(pod: Pod, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "guestgate signal: ready" in pod.logs():
            return
        if pod.process.poll() is not None:
            break
        time.sleep(0.1)
    pod.stop()
    raise RuntimeError(f"guestgate signal {pod.name} did not start:\n{pod.logs()[-3000:]}")

"""`guestgate signal` processes on 127.0.0.1 for the benchmarks (diagnosis, peer filter)."""

from __future__ import annotations

import socket
import subprocess
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
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.signal import SignalServerProcess, launch_signal_server, signal_command

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
        sip=SipListenConfig(port=free_port(), transports=transports),
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
    command = signal_command(config_dir, reload_seconds=5, pod_name=name, web_port=0)
    started = launch_signal_server(command, log, uid=uid, cwd=REPO)
    return Pod(name, started.process, cluster.admin_port, log, cluster.sip.port)


def wait_ready(pod: Pod, timeout: float = 40.0) -> None:
    SignalServerProcess(pod.process, pod.log).wait_ready(timeout)

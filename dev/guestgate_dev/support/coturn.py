"""Debian's coturn on a local address, started the way the TURN pod starts it: the image's
entrypoint (images/turn/guestgate-turn) with the configuration render/turn.py writes, a peers
file (the allow-list), the shared secret and the agent's push token; the agent (`guestgate
turn-agent`, this venv's) serves coturn's metrics and takes pushed peers on an admin port of the
same address. Shared by tests/turn and bench/turn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from guestgate.api.objects import GuestCluster
from guestgate.render import turn
from guestgate_dev.support.ports import free_port, tcp_listening, udp_bound

REPO = Path(__file__).resolve().parents[3]
ENTRYPOINT = REPO / "images" / "turn" / "guestgate-turn"
AGENT = Path(sys.executable).parent / "guestgate"


@dataclass
class Coturn:
    process: subprocess.Popen[bytes]
    address: tuple[str, int]
    config_dir: Path
    log: Path
    admin_url: str  # the agent: /metrics, /v1/peers
    admin_token: str

    def set_peers(self, ips: Sequence[str]) -> None:
        """What the operator does when a signalling pod moves: rewrite the peers file (replaced
        at once, as the kubelet swaps a ConfigMap's files)."""
        target = self.config_dir / turn.PEERS_FILE
        staging = target.with_suffix(".new")
        staging.write_text(turn.peers_file(ips))
        staging.replace(target)

    def pid(self) -> int:
        """coturn's pid (the entrypoint execs it: the process we started)."""
        return self.process.pid

    def agent_pid(self) -> int | None:
        """The turn agent's pid (a process of coturn's session whose command is `turn-agent`)."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if os.getpgid(int(entry.name)) == self.process.pid and b"turn-agent" in argv:
                    return int(entry.name)
            except (OSError, ProcessLookupError):
                continue
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its session: coturn and the peers loop
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_coturn(root: Path, cluster: GuestCluster, address: str, peers: Sequence[str], secret: bytes,
                 extra: Sequence[str] = (), timeout: float = 30, tls_dir: Path | None = None) -> Coturn:
    """coturn for `cluster`'s spec.turn on `address` (its port: spec.turn.port), relaying from
    `address`, allowed to relay to `peers`. `extra`: more turnserver flags (tests on loopback
    need --allow-loopback-peers). `tls_dir`: where tls.crt and tls.key are (the TLS Secret's
    mount) when spec.turn.tlsSecretName is set; TURN over TLS on spec.turn.tlsPort."""
    config_dir, secret_dir, run_dir, admin_dir = root / "config", root / "secret", root / "run", root / "admin"
    for folder in (config_dir, secret_dir, admin_dir):
        folder.mkdir(parents=True, exist_ok=True)
    token = "push-token-" + os.urandom(8).hex()
    (admin_dir / turn.ADMIN_TOKEN_KEY).write_text(token)
    admin_port = free_port(address=address)
    mounts = turn.MOUNTS if tls_dir is None else turn.TurnMounts(tls=str(tls_dir))
    (config_dir / turn.CONF_FILE).write_text(turn.turnserver_conf(cluster, mounts))
    (config_dir / turn.PEERS_FILE).write_text(turn.peers_file(peers))
    (secret_dir / turn.SECRET_KEY).write_bytes(secret)
    log = root / "coturn.log"
    env = {
        **os.environ,
        "GUESTGATE_TURN_CONFIG": str(config_dir),
        "GUESTGATE_TURN_SECRET": str(secret_dir),
        "GUESTGATE_TURN_RUN": str(run_dir),
        "GUESTGATE_TURN_ADMIN": str(admin_dir),
        "GUESTGATE_TURN_AGENT": str(AGENT),
        "GUESTGATE_TURN_ADMIN_ADDRESS": address,
        "GUESTGATE_TURN_ADMIN_PORT": str(admin_port),
        "GUESTGATE_TURN_SYNC_SECONDS": "0.5",
        "RELAY_IP": address,
    }
    port = cluster.spec.turn.port
    ports = [port, admin_port] + ([cluster.spec.turn.tls_port] if cluster.spec.turn.tls_secret_name else [])
    with log.open("wb") as out:
        process = subprocess.Popen(["sh", str(ENTRYPOINT), f"--listening-ip={address}", *extra], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    server = Coturn(process, (address, port), config_dir, log, f"http://{address}:{admin_port}", token)
    deadline = time.monotonic() + timeout
    while not (udp_bound(port, address) and all(tcp_listening(p, address) for p in ports)):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"coturn did not start on {address}:{port}:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return server

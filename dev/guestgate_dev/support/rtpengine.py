"""A local rtpengine for tests, demos and benchmarks: the same command line as the pods' sidecar
(guestgate.media.daemon), on 127.0.0.1 with a port block of its own, ready once ng answers."""

from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from guestgate.media import bencode
from guestgate.media.daemon import RelaySettings, rtpengine_args
from guestgate_dev.support.ports import LOCAL_RELAY_PORTS, free_port
from guestgate_dev.support.process import wait_ready

BLOCK = 200  # media ports per instance: 50 calls (two sides, RTP and RTCP each)


def local_settings(**overrides: int | str | None) -> RelaySettings:
    """Settings for one more rtpengine on this machine: a free ng port, a random port block in
    LOCAL_RELAY_PORTS (several test sessions run at once; rtpengine skips a port someone else
    holds), clear of the signalling servers' RTP and the ports free_port hands out."""
    first, last = LOCAL_RELAY_PORTS
    base = random.randrange(first, last + 1 - BLOCK, 2)
    values: dict[str, object] = {"ng_port": free_port(), "port_min": base, "port_max": base + BLOCK - 1}
    values.update(overrides)
    return RelaySettings(**values)  # type: ignore[arg-type]


def ng_request(port: int, command: str, timeout: float = 0.5, **fields: object) -> dict[str, object] | None:
    """One synchronous ng request on 127.0.0.1:port: the answer, None when there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            # A cookie of its own each time: rtpengine answers a repeated cookie from its cache.
            cookie = os.urandom(6).hex().encode()
            sock.sendto(cookie + b" " + bencode.encode({"command": command, **fields}), ("127.0.0.1", port))
            data = sock.recv(65536)
        except OSError:
            return None
    _cookie, _, payload = data.partition(b" ")
    try:
        answer = bencode.decode(payload)
    except bencode.BencodeError:
        return None
    return answer if isinstance(answer, dict) else None


def ng_ping(port: int, timeout: float = 0.5) -> bool:
    answer = ng_request(port, "ping", timeout)
    return answer is not None and answer.get("result") == "pong"


def ng_sessions(port: int) -> list[str]:
    """The call ids rtpengine holds now (its ng `list`)."""
    answer = ng_request(port, "list", limit=10000)
    if answer is None:
        raise RuntimeError(f"rtpengine on 127.0.0.1:{port} did not answer 'list'")
    calls = answer.get("calls", [])
    return [str(c) for c in calls] if isinstance(calls, list) else []


@dataclass
class LocalRelay:
    process: subprocess.Popen[bytes]
    settings: RelaySettings
    log: Path

    @property
    def ng(self) -> str:
        return f"127.0.0.1:{self.settings.ng_port}"

    def sessions(self) -> list[str]:
        return ng_sessions(self.settings.ng_port)

    def wait_no_sessions(self, timeout: float = 10.0) -> list[str]:
        """Wait until rtpengine holds no session; what it still holds after `timeout`."""
        deadline = time.monotonic() + timeout
        left = self.sessions()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.sessions()
        return left

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (a test run that
    is killed must not leave rtpengine holding its ports)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


def start_relay(log: Path, settings: RelaySettings | None = None, timeout: float = 20.0) -> LocalRelay:
    settings = settings or local_settings()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            rtpengine_args(settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    relay = LocalRelay(process, settings, log)
    if wait_ready(process, lambda: ng_ping(settings.ng_port), timeout):
        return relay
    relay.stop()
    raise RuntimeError(f"rtpengine did not start: {log.read_text(errors='replace')[-2000:]}")

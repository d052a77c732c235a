"""The one signalling-server launcher: `guestgate signal` (what a pod runs: SIP engine, admin API,
link pages) as a local process on a config dir, for the tests, the benchmarks and the demos."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from guestgate_dev.support.ports import LOOPBACK
from guestgate_dev.support.process import as_unprivileged, stop_process

# What `guestgate signal` prints once it serves (guestgate.pod.serve).
READY = re.compile(r"guestgate signal: ready sip=(?P<sip>\S+) web=(?P<web>\S+) admin=(?P<admin>\S+)")


def signal_command(
    config_dir: Path,
    *,
    secrets_dir: Path | None = None,
    bind: str = LOOPBACK,
    reload_seconds: float | None = None,
    pod_name: str | None = None,
    web_port: int | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """`python -m guestgate signal ...`; web_port 0 picks a free port (None: the cluster's)."""
    command = [sys.executable, "-m", "guestgate", "signal", "--config-dir", str(config_dir)]
    if secrets_dir is not None:
        command += ["--secrets-dir", str(secrets_dir)]
    command += ["--bind", bind]
    if reload_seconds is not None:
        command += ["--reload-seconds", f"{reload_seconds:g}"]
    if pod_name is not None:
        command += ["--pod-name", pod_name]
    if web_port is not None:
        command += ["--web-port", str(web_port)]
    return [*command, *extra]


@dataclass
class SignalServerProcess:
    """A running `guestgate signal`; sip, web and admin (host:port) once it said it is ready."""

    process: subprocess.Popen[bytes]
    log: Path
    offset: int = 0  # where this run's output starts in log (logs may be appended to)
    sip: str = ""
    web: str = ""
    admin: str = ""

    @property
    def web_url(self) -> str:
        return f"http://{self.web}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin}"

    def output(self) -> str:
        with self.log.open("rb") as handle:
            handle.seek(self.offset)
            return handle.read().decode(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> SignalServerProcess:
        """Return once the server printed its ready line; stop it and fail with its output if it
        exits first or takes longer than timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = READY.search(self.output())
            if found:
                self.sip, self.web, self.admin = found["sip"], found["web"], found["admin"]
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"guestgate signal did not start ({self.log}):\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 15.0) -> None:
        stop_process(self.process, timeout)


def launch_signal_server(
    command: Sequence[str],
    log: Path,
    *,
    uid: int | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    append: bool = False,
) -> SignalServerProcess:
    """Start the command (signal_command's) with stdout and stderr in log (appended to with append);
    as uid with no capabilities when given (as a pod runs). Does not wait: see wait_ready."""
    log.parent.mkdir(parents=True, exist_ok=True)
    offset = log.stat().st_size if append and log.exists() else 0
    argv = as_unprivileged(list(command), uid) if uid is not None else list(command)
    with log.open("ab" if append else "wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=dict(env) if env is not None else None, cwd=cwd)
    return SignalServerProcess(process, log, offset)


"""The one SIPp launcher: a peer playing a scenario of tests/sip_scenarios (or SIPp's built-in uas
or uac) on a local address, bounded in calls and time, for the tests, the benchmarks and the demos.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from guestgate_dev.support.ports import LOOPBACK, bound_by, free_media_port, free_port
from guestgate_dev.support.process import stop_process

REPO = Path(__file__).resolve().parents[3]
SCENARIOS = REPO / "tests" / "sip_scenarios"  # the SIPp scenarios the tests play, read as data
Transport = Literal["udp", "tcp"]


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if not found:
        raise RuntimeError("sipp is not installed (hack/install-deps.sh installs Debian's sip-tester)")
    return found


def scenario_args(scenario: str | Path) -> list[str]:
    """A scenario file (a path), SIPp's built-in "uas" or "uac", or the name of a tests/sip_scenarios file."""
    if isinstance(scenario, Path):
        return ["-sf", str(scenario)]
    if scenario in ("uas", "uac"):
        return ["-sn", scenario]
    return ["-sf", str(SCENARIOS / f"{scenario}.xml")]


# Starts of one SIPp before giving up when its ports were taken meanwhile.
START_ATTEMPTS = 3


def sipp_command(
    scenario: str | Path,
    *,
    port: int,
    media_port: int | None = None,
    address: str = LOOPBACK,
    remote: str | None = None,
    transport: Transport = "udp",
    calls: int = 0,
    run_seconds: float = 60,
    rtp_echo: bool = False,
    keys: Mapping[str, str] | None = None,
    errors: Path | None = None,
    messages: Path | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The SIPp command line. calls: 0 for no limit (until stopped or run_seconds); remote: the
    host:port a UAC calls; errors/messages: where -trace_err/-trace_msg write."""
    command = [sipp_binary(), *scenario_args(scenario), "-i", address, "-p", str(port)]
    if media_port is not None:
        command += ["-mi", address, "-mp", str(media_port)]
    command += ["-nostdin", "-timeout", f"{math.ceil(run_seconds)}s", "-t", "u1" if transport == "udp" else "t1"]
    if calls:
        command += ["-m", str(calls)]
    if rtp_echo:
        command.append("-rtp_echo")
    for key, value in (keys or {}).items():
        command += ["-key", key, value]
    if errors is not None:
        command += ["-trace_err", "-error_file", str(errors)]
    if messages is not None:
        command += ["-trace_msg", "-message_file", str(messages)]
    command += list(extra)
    if remote is not None:
        command.append(remote)
    return command


@dataclass
class Sipp:
    """One SIPp process."""

    process: subprocess.Popen[bytes]
    port: int
    media_port: int
    transport: Transport
    log: Path
    address: str = LOOPBACK

    @property
    def peer(self) -> str:
        """host:port, what a trunk's peer or a UAC's remote names."""
        return f"{self.address}:{self.port}"

    def wait(self, timeout: float = 10.0) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        stop_process(self.process, 3.0)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_sipp(
    directory: Path,
    scenario: str | Path,
    *,
    port: int | None = None,
    address: str = LOOPBACK,
    transport: Transport = "udp",
    calls: int = 1,
    run_seconds: float = 60,
    rtp_echo: bool = False,
    keys: Mapping[str, str] | None = None,
    messages: Path | None = None,
    log: Path | None = None,
    extra: Sequence[str] = (),
    start_seconds: float = 5.0,
) -> Sipp:
    """Start SIPp serving `scenario` in directory (its logs go there) and return it once its port is
    bound (UDP) or listening (TCP); fail with its output if it exits first or does not start.
    A SIPp that exits at start because one of its ports was taken meanwhile (they are free when
    picked, bound only later) is started again on fresh ones (the SIP port only if none was given)."""
    directory.mkdir(parents=True, exist_ok=True)
    name = scenario.stem if isinstance(scenario, Path) else scenario
    failures: list[str] = []
    for _ in range(START_ATTEMPTS):
        sip_port = port if port is not None else free_port(address=address)
        media_port = free_media_port(address=address)
        errors = directory / f"sipp-{sip_port}-errors.log"
        sipp_log = log if log is not None else directory / f"sipp-{name}-{sip_port}.log"
        command = sipp_command(scenario, port=sip_port, media_port=media_port, address=address,
                               transport=transport, calls=calls, run_seconds=run_seconds, rtp_echo=rtp_echo,
                               keys=keys, errors=errors, messages=messages, extra=extra)
        with sipp_log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=directory)
        sipp = Sipp(process, sip_port, media_port, transport, sipp_log, address)
        if _started(sipp, start_seconds):
            return sipp
        sipp.stop()
        said = errors.read_text(errors="replace") if errors.exists() else ""
        output = sipp.output()
        failures.append(f"on {sipp.peer} (media {media_port}): {said.strip()[-1000:]}\n{output[-1500:]}")
        if "Unable to bind" not in said + output:
            break
    raise RuntimeError(f"SIPp {name} did not start " + "\n--- then ".join(failures))


def _started(sipp: Sipp, start_seconds: float) -> bool:
    """Whether SIPp itself bound (UDP) or listens on (TCP) its SIP port within start_seconds."""
    deadline = time.monotonic() + start_seconds
    while time.monotonic() < deadline:
        if sipp.process.poll() is not None:
            return False
        if bound_by(sipp.process.pid, sipp.port, sipp.transport):
            return True
        time.sleep(0.05)
    return False

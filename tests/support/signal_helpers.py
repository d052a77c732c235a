"""SIPp peers and `guestgate probe` runs for the signalling tests (127.0.0.1 only, all bounded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guestgate_dev.support.ports import free_media_port, tcp_listening, udp_bound
from guestgate_dev.support.ports import free_port as free_port  # the signalling tests import it from here

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "tests" / "sip_scenarios"
SIPP = "/usr/bin/sipp"
PROBE_TIMEOUT = 60.0


@dataclass
class Sipp:
    """One SIPp process playing a scenario of tests/sip_scenarios."""

    process: subprocess.Popen[bytes]
    port: int
    media_port: int
    transport: str
    log: Path

    @property
    def peer(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait(self, timeout: float = 10.0) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            if self.wait(3.0) is None:
                self.process.kill()
                self.process.wait(3.0)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class SippFactory:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Sipp] = []

    def __call__(
        self,
        scenario: str,
        *,
        transport: str = "udp",
        rtp_echo: bool = False,
        calls: int = 1,
        keys: dict[str, str] | None = None,
        extra: Sequence[str] = (),
        run_seconds: int = 60,
    ) -> Sipp:
        port = free_port()
        media = free_media_port()
        log = self.tmp / f"sipp-{scenario}-{port}.log"
        cmd = [
            SIPP,
            "-sf",
            str(SCENARIOS / f"{scenario}.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(media),
            "-m",
            str(calls),
            "-nostdin",
            "-timeout",
            f"{run_seconds}s",
            "-t",
            "u1" if transport == "udp" else "t1",
            "-trace_err",
            "-error_file",
            str(self.tmp / f"sipp-{port}-errors.log"),
        ]
        if rtp_echo:
            cmd.append("-rtp_echo")
        for key, value in (keys or {}).items():
            cmd += ["-key", key, value]
        cmd += list(extra)
        with log.open("wb") as out:
            process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        sipp = Sipp(process, port, media, transport, log)
        self.started.append(sipp)
        ready = udp_bound if transport == "udp" else tcp_listening
        for _ in range(100):  # 5 s at most
            if ready(port):
                return sipp
            if process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"SIPp did not start: {sipp.output()[-2000:]}")

    def stop_all(self) -> None:
        for sipp in self.started:
            sipp.stop()


def guestgate_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "operator")
    return env


@dataclass
class ProbeRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return dict(json.loads(self.stdout))

    def codes(self) -> list[str]:
        return [f["code"] for f in self.report["findings"]]

    def finding(self, code: str) -> dict[str, Any]:
        for found in self.report["findings"]:
            if found["code"] == code:
                return dict(found)
        raise AssertionError(f"no {code} in {self.codes()}:\n{self.stdout[-3000:]}")


def run_probe(*args: str, timeout: float = PROBE_TIMEOUT) -> ProbeRun:
    cmd = [sys.executable, "-m", "guestgate", "probe", "--json", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=guestgate_env(), check=False)
    return ProbeRun(done.returncode, done.stdout, done.stderr)

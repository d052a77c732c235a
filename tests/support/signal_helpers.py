"""SIPp peers and `guestgate probe` runs for the signalling tests (127.0.0.1 only, all bounded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guestgate_dev.support.ports import free_port as free_port  # the signalling tests import it from here
from guestgate_dev.support.sipp import SCENARIOS as SCENARIOS
from guestgate_dev.support.sipp import Sipp as Sipp
from guestgate_dev.support.sipp import Transport, start_sipp

REPO = Path(__file__).resolve().parents[2]
PROBE_TIMEOUT = 60.0


class SippFactory:
    """SIPp peers of one test, all stopped at its end (the `sipp` fixture)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[Sipp] = []

    def __call__(
        self,
        scenario: str,
        *,
        transport: Transport = "udp",
        rtp_echo: bool = False,
        calls: int = 1,
        keys: dict[str, str] | None = None,
        extra: Sequence[str] = (),
        run_seconds: int = 60,
    ) -> Sipp:
        sipp = start_sipp(self.tmp, scenario, transport=transport, rtp_echo=rtp_echo, calls=calls, keys=keys,
                          extra=extra, run_seconds=run_seconds)
        self.started.append(sipp)
        return sipp

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

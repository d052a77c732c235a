"""SIPp on 127.0.0.1 for the SIP benchmarks: a long-running peer, and SIPp as a bounded caller."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from guestgate_dev.support.ports import free_media_port, free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.sipp import SCENARIOS as SCENARIOS
from guestgate_dev.support.sipp import Sipp, sipp_command, start_sipp

REPO = Path(__file__).resolve().parents[1]


def start_peer(
    directory: Path,
    scenario: str,
    *,
    calls: int = 0,
    rtp_echo: bool = False,
    run_seconds: int = 1200,
    extra: Sequence[str] = (),
) -> Sipp:
    """scenario: "uas" for SIPp's built-in UAS, else the name of a tests/sip_scenarios file.
    calls: 0 for no limit (until stopped or run_seconds)."""
    return start_sipp(directory, scenario, calls=calls, rtp_echo=rtp_echo, run_seconds=run_seconds, extra=extra)


@dataclass
class UacStep:
    """One bounded run of `sipp -sn uac` at a rate: what it achieved and what it cost."""

    rate: float
    calls: int
    ok: int
    failed: int
    response_ms: list[float]  # INVITE to 200 per call, as SIPp reports it (whole milliseconds)
    span_seconds: float  # first to last 200 received
    cpu_seconds: float
    max_rss_bytes: int
    wall_seconds: float
    exit_code: int


def run_uac(directory: Path, peer: str, rate: float, calls: int, hold_ms: int, limit_seconds: float) -> UacStep:
    """`sipp -sn uac` placing `calls` calls at `rate` per second (INVITE, ACK, hold, BYE) to peer."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("uac_*"):
        old.unlink()
    stat = directory / "stat.csv"
    # -timeout_error: a run cut short by -timeout counts as failed, never as a clean finish.
    cmd = sipp_command("uac", port=free_port(), media_port=free_media_port(), remote=peer, calls=calls,
                       run_seconds=limit_seconds, errors=directory / "errors.log",
                       extra=["-r", f"{rate:g}", "-d", str(hold_ms), "-timeout_error", "-trace_rtt", "-rtt_freq", "1",
                              "-trace_stat", "-stf", str(stat), "-fd", "1"])
    start = time.monotonic()
    with (directory / "uac.log").open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=directory)
    try:
        _pid, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        stop_process(process, 3.0)
        raise
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - start
    ok, failed = _counts(stat)
    times: list[float] = []
    response: list[float] = []
    for path in directory.glob("uac_*_rtt.csv"):
        for line in path.read_text().splitlines()[1:]:
            parts = line.split(";")
            with contextlib.suppress(ValueError, IndexError):
                times.append(float(parts[0]) / 1000.0)
                response.append(float(parts[1]))
    span = max(times) - min(times) if times else 0.0
    return UacStep(
        rate=rate,
        calls=calls,
        ok=ok,
        failed=max(failed, calls - ok),
        response_ms=response,
        span_seconds=span,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        max_rss_bytes=usage.ru_maxrss * 1024,
        wall_seconds=wall,
        exit_code=process.returncode,
    )


def _counts(stat: Path) -> tuple[int, int]:
    """(successful, failed) calls from the last line of SIPp's statistics file."""
    if not stat.exists():
        return 0, 0
    lines = [line for line in stat.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) < 2:
        return 0, 0
    header = lines[0].split(";")
    last = lines[-1].split(";")
    values = dict(zip(header, last, strict=False))
    return int(values.get("SuccessfulCall(C)", 0) or 0), int(values.get("FailedCall(C)", 0) or 0)


@dataclass(frozen=True)
class TracedMessage:
    wall: float  # SIPp's clock, seconds since the epoch
    direction: str  # "sent" or "received", seen from SIPp
    first_line: str
    call_id: str
    text: str


_HEAD = re.compile(r"^-+ (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d(?:\.\d+)?)\s*(\d+\.\d+)?")


def sipp_trace(path: Path) -> list[TracedMessage]:
    """SIPp's -trace_msg file: a dashed line with the time, "UDP message sent/received", the message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    found = []
    for block in re.split(r"\n(?=-{10,} )", "\n" + text):
        lines = block.strip("\n").splitlines()
        head = _HEAD.match(lines[0]) if lines else None
        if head is None or len(lines) < 3:
            continue
        if head.group(3):
            wall = float(head.group(3))
        else:
            wall = datetime.strptime(f"{head.group(1)} {head.group(2)}", "%Y-%m-%d %H:%M:%S.%f").timestamp()
        body = [line for line in lines[2:] if line.strip()]
        if not body:
            continue
        call_id = next((line.split(":", 1)[1].strip() for line in body if line.lower().startswith("call-id:")), "")
        direction = "received" if "received" in lines[1] else "sent"
        found.append(TracedMessage(wall, direction, body[0].strip(), call_id, "\n".join(body)))
    return found

"""SIP leg: calls placed by one signalling engine, stepped in rate, beside SIPp as the caller.

Ours: a driver process (bench/sip_leg_driver.py) runs guestgate.engine.core.SipEngine, the engine
each signalling pod runs, and places calls through it (INVITE, answer, hold, BYE) at a paced
rate. Reference: `sipp -sn uac` at the same offered rates with the same hold. Both call the same
SIPp built-in UAS (`-sn uas`: 180, 200 with SDP, waits for the BYE) on 127.0.0.1, which echoes
no media. Stepping stops for a side when more than 0.1% of its calls fail, when it falls behind
the offered rate, or when its p99 setup time doubles (and grows by 10 ms) against its first step;
SIPp goes on stepping past our last rate to find the ceiling of this machine.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.measure import percentile
from bench.report import PartResult
from bench.settings import Settings
from bench.sip_sipp import UacStep, run_uac, start_peer
from guestgate_dev.support.process import stop_process

HOLD_SECONDS = 0.1
FAIL_RATIO = 0.001  # more than 0.1% failed: not sustained
SETUP_GOAL_MS = 20.0  # the goal for setup p99; reported beside the rate, never a reason to stop
BEHIND = 0.95  # achieved below 95% of offered: not sustained
WARMUP_RATE, WARMUP_CALLS = 10.0, 5  # not counted


@dataclass(frozen=True)
class Plan:
    rates: tuple[float, ...]  # the steps both sides run
    ceiling: tuple[float, ...]  # further steps for SIPp alone
    seconds: float  # per step (calls = rate x seconds)
    ceiling_seconds: float


FULL = Plan(
    rates=(10, 50, 100, 200, 300, 400, 500, 600, 800, 1000, 1200),
    ceiling=(1600, 2000, 2400, 3200),
    seconds=5.0,
    ceiling_seconds=3.0,
)
QUICK = Plan(rates=(10, 100), ceiling=(200,), seconds=2.0, ceiling_seconds=1.0)


@dataclass
class StepFigures:
    side: str
    rate: float
    calls: int
    ok: int
    failed: int
    achieved: float
    setup_ms: list[float]
    cpu_percent: float
    rss_bytes: int
    detail: dict[str, Any]

    @property
    def p50(self) -> float | None:
        return percentile(self.setup_ms, 50)

    @property
    def p99(self) -> float | None:
        return percentile(self.setup_ms, 99)

    def verdict(self) -> str:
        """ "" when sustained (at most 0.1% failed, the offered rate kept), else why not."""
        if self.failed > FAIL_RATIO * self.calls:
            return f"{self.failed}/{self.calls} failed"
        if self.achieved < BEHIND * self.rate:
            return f"behind the offered rate ({self.achieved:.1f}/s)"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "offered": self.rate,
            "calls": self.calls,
            "ok": self.ok,
            "failed": self.failed,
            "achieved": round(self.achieved, 2),
            "setupP50ms": self.p50,
            "setupP99ms": self.p99,
            "cpuPercent": round(self.cpu_percent, 1),
            "rssBytes": self.rss_bytes,
            **self.detail,
        }


class Driver:
    """The bench-side caller process around one SipEngine."""

    def __init__(self, peer: str, log: Path) -> None:
        self._err = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.sip_leg_driver", "--peer", peer],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            cwd=Path(__file__).resolve().parents[1],
        )
        self.log = log
        ready = self._read(30.0)
        if not ready.get("ready"):
            raise RuntimeError(f"driver did not start: {ready}")
        self.step(WARMUP_RATE, WARMUP_CALLS, HOLD_SECONDS)  # first calls pay imports and allocations

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else b""
        if not line:
            tail = self.log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"driver gave no answer within {timeout:.0f} s: {tail}")
        return dict(json.loads(line))

    def _send(self, ask: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(ask).encode() + b"\n")
        self.process.stdin.flush()

    def step(self, rate: float, calls: int, hold: float) -> dict[str, Any]:
        self._send({"rate": rate, "calls": calls, "hold": hold})
        return self._read(calls / rate + 30.0)

    def hold(self, calls: int, rate: float, seconds: float) -> dict[str, Any]:
        """All `calls` up at once for `seconds` (the concurrency part)."""
        self._send({"held": calls, "rate": rate, "seconds": seconds})
        return self._read(calls / rate + seconds + 60.0)

    def close(self) -> None:
        if self.process.stdin is not None and self.process.poll() is None:
            try:
                self.process.stdin.write(b"\n")
                self.process.stdin.close()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        stop_process(self.process, 5.0)
        self._err.close()


def ours(driver: Driver, rate: float, seconds: float) -> StepFigures:
    calls = max(2, round(rate * seconds))
    got = driver.step(rate, calls, HOLD_SECONDS)
    span = max(got["offeredSeconds"], calls / rate)
    return StepFigures(
        side="ours",
        rate=rate,
        calls=calls,
        ok=got["ok"],
        failed=got["failed"],
        achieved=got["ok"] / span,
        setup_ms=[s * 1000.0 for s in got["setupSeconds"]],
        cpu_percent=100.0 * got["cpuSeconds"] / got["wallSeconds"],
        rss_bytes=got["rssBytes"],
        detail={"failures": got["failures"], "maxCalls": got["maxCalls"], "wallSeconds": got["wallSeconds"]},
    )


def sipp(directory: Path, peer: str, rate: float, seconds: float) -> StepFigures:
    calls = max(2, round(rate * seconds))
    step: UacStep = run_uac(directory, peer, rate, calls, round(HOLD_SECONDS * 1000), calls / rate + 20.0)
    span = max(step.span_seconds + 1.0 / rate, calls / rate)
    return StepFigures(
        side="sipp",
        rate=rate,
        calls=calls,
        ok=step.ok,
        failed=step.failed,
        achieved=step.ok / span,
        setup_ms=step.response_ms,
        cpu_percent=100.0 * step.cpu_seconds / step.wall_seconds,
        rss_bytes=step.max_rss_bytes,
        detail={"exitCode": step.exit_code, "wallSeconds": step.wall_seconds},
    )


def _max_sustained(steps: list[StepFigures], setup_goal_ms: float | None = None) -> float | None:
    """The highest rate sustained (and with setup p99 under the goal, when one is given)."""
    best = None
    for step in steps:
        if step.verdict() == "" and (setup_goal_ms is None or (step.p99 is not None and step.p99 < setup_goal_ms)):
            best = step.rate
    return best


def run(settings: Settings) -> PartResult:
    plan = QUICK if settings.quick else FULL
    scratch = settings.scratch("sip_leg")
    result = PartResult(name="sip_leg")
    uas = start_peer(scratch / "uas", "uas")
    driver: Driver | None = None
    mine: list[StepFigures] = []
    theirs: list[StepFigures] = []
    stopped: dict[str, str] = {}
    retried: list[dict[str, Any]] = []  # steps that failed the criteria once, then were run again
    try:
        driver = caller = Driver(uas.peer, scratch / "driver.log")
        sides: dict[str, tuple[list[StepFigures], Callable[[float, float], StepFigures]]] = {
            "ours": (mine, lambda rate, seconds: ours(caller, rate, seconds)),
            "sipp": (theirs, lambda rate, seconds: sipp(scratch / "uac", uas.peer, rate, seconds)),
        }
        for rate in plan.rates + plan.ceiling:
            for side, (steps, measure) in sides.items():
                if side in stopped or (side == "ours" and rate not in plan.rates):
                    continue
                seconds = plan.seconds if rate in plan.rates else plan.ceiling_seconds
                step = measure(rate, seconds)
                why = step.verdict()
                if why:  # once more before stopping: one scheduling hiccup must not end the stepping
                    retried.append(step.to_dict())
                    step = measure(rate, seconds)
                    why = step.verdict()
                steps.append(step)
                if why:
                    stopped[side] = f"{rate:g}/s: {why}"
            if len(stopped) == 2:
                break
    finally:
        if driver is not None:
            driver.close()
        uas.stop()

    table = result.table(
        "SIP leg: one engine placing calls vs SIPp as the caller (same UAS)",
        [
            "offered/s",
            "ours/s",
            "failed",
            "setup p50 ms",
            "p99 ms",
            "CPU %",
            "RSS MiB",
            "SIPp/s",
            "failed",
            "p50 ms",
            "p99 ms",
            "CPU %",
        ],
    )
    by_rate = {s.rate: s for s in theirs}
    for rate in sorted({s.rate for s in mine} | set(by_rate)):
        a = next((s for s in mine if s.rate == rate), None)
        b = by_rate.get(rate)
        table.add(
            rate,
            a.achieved if a else None,
            a.failed if a else None,
            a.p50 if a else None,
            a.p99 if a else None,
            a.cpu_percent if a else None,
            a.rss_bytes / 2**20 if a else None,
            b.achieved if b else None,
            b.failed if b else None,
            b.p50 if b else None,
            b.p99 if b else None,
            b.cpu_percent if b else None,
        )
    best_ours, best_sipp = _max_sustained(mine), _max_sustained(theirs)
    ratio: float | str | None = best_ours / best_sipp if best_ours and best_sipp else None
    if isinstance(ratio, float) and "sipp" not in stopped:
        ratio = f"<= {ratio:.2f}"  # SIPp never stopped: its figure is a floor
    summary = result.table(
        "SIP leg: highest sustained rate",
        ["side", "max sustained calls/s", f"... with setup p99 < {SETUP_GOAL_MS:g} ms", "stopped at", "ours / SIPp"],
    )
    summary.add("GuestGate engine", best_ours, _max_sustained(mine, SETUP_GOAL_MS),
                stopped.get("ours", "never (last step passed)"), ratio)
    summary.add("SIPp uac", best_sipp, _max_sustained(theirs, SETUP_GOAL_MS),
                stopped.get("sipp", "never (last step passed: a floor)"), None)
    cap = mine[0].detail["maxCalls"] if mine else None
    table.notes += [
        f"each call: INVITE, 200, ACK, hold {HOLD_SECONDS * 1000:.0f} ms, BYE; calls per step = rate x "
        f"{plan.seconds:g} s (SIPp-only ceiling steps: {plan.ceiling_seconds:g} s); UAS = `sipp -sn uas` on "
        "127.0.0.1, no RTP echo (our engine sends its silence RTP, nobody answers it)",
        "setup = INVITE sent to 200 received: ours from pjsip's message log (microseconds), SIPp's "
        "response-time trace (whole milliseconds, so 0 means < 1 ms)",
        "CPU % = CPU seconds / wall seconds of the step, 100 = one core (ours: the whole driver process, "
        "pjsua2 thread and asyncio; SIPp: the uac process); RSS: peak of that process",
        f"ours may hold {cap} calls at once (the pjsua2 build's PJSUA_MAX_CALLS; a pod's "
        "spec.limits.maxCallsPerPod usually less): at these rates and a "
        f"{HOLD_SECONDS * 1000:.0f} ms hold far fewer are ever up, so the engine thread's time per call "
        "(Python around pjsua2) and the machine's cores bound the rate, not a cap",
        f"a side stops at >{FAIL_RATIO:.1%} failed or achieved < {BEHIND:.0%} of offered, twice in a row (a "
        "step that misses is run once more; the table shows the second run); setup time never stops it: on a "
        "shared machine its tail is mostly scheduling, so it is reported beside the rate",
    ]
    summary.notes += [
        "the reference is SIPp calling the same UAS on this machine in the same run: the ceiling of the "
        "machine for this call shape, not of GuestGate's design",
    ]
    result.data = {
        "holdSeconds": HOLD_SECONDS,
        "plan": {"rates": plan.rates, "ceiling": plan.ceiling, "seconds": plan.seconds},
        "ours": [s.to_dict() for s in mine],
        "sipp": [s.to_dict() for s in theirs],
        "maxSustained": {"ours": best_ours, "sipp": best_sipp, "ratio": ratio},
        "stopped": stopped,
        "retried": retried,
        "time": time.time(),
    }
    return result

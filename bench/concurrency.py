"""Concurrency: one engine holds 100, 250 and 500 calls at once, beside SIPp holding as many.

Ours: the SIP leg's driver process (bench/sip_leg_driver.py: one SipEngine, the engine each
signalling pod runs; a fresh process per step) places N calls at PLACE_RATE per second to a
SIPp UAS that echoes RTP, holds them all for HOLD_SECONDS, and measures its own process over the
hold alone: CPU (all threads: pjsua2's, the media clock, asyncio) and RSS (before the calls and
while they are up), then hangs them all up. Media flows both ways on every call: the engine
sends PCMU from its conference bridge (the null device's silence) and decodes the echo.
Reference: `sipp -sn uac` placing the same N calls at the same rate against the same UAS and
holding each as long (-d); SIPp neither encodes nor decodes media (it sends no RTP here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.measure import percentile
from bench.report import PartResult
from bench.settings import Settings
from bench.sip_leg import Driver
from bench.sip_sipp import run_uac, start_peer

PLACE_RATE = 100.0  # calls per second while filling up


@dataclass(frozen=True)
class Plan:
    held: tuple[int, ...]
    seconds: float


FULL = Plan(held=(100, 250, 500), seconds=30.0)
QUICK = Plan(held=(20,), seconds=2.0)


def ours(driver: Driver, calls: int, seconds: float) -> dict[str, Any]:
    got = driver.hold(calls, PLACE_RATE, seconds)
    setups = [s * 1000.0 for s in got["setupSeconds"]]
    grown = max(0, got["rssHeldBytes"] - got["rssIdleBytes"])
    return {
        "side": "ours",
        "held": calls,
        "ok": got["ok"],
        "failed": got["failed"],
        "failures": got["failures"],
        "cpuPercent": round(100.0 * got["cpuSeconds"] / got["holdSeconds"], 1),
        "rssBytes": got["rssHeldBytes"],
        "rssPerCallBytes": grown // max(1, got["ok"]),
        "setupP50ms": percentile(setups, 50),
        "setupP99ms": percentile(setups, 99),
        "placeSeconds": round(got["placeSeconds"], 2),
    }


def sipp(directory: Any, peer: str, calls: int, seconds: float) -> dict[str, Any]:
    limit = calls / PLACE_RATE + seconds + 30.0
    step = run_uac(directory, peer, PLACE_RATE, calls, round(seconds * 1000), limit)
    return {
        "side": "sipp",
        "held": calls,
        "ok": step.ok,
        "failed": step.failed,
        "cpuPercent": round(100.0 * step.cpu_seconds / step.wall_seconds, 1),
        "rssBytes": step.max_rss_bytes,
        "setupP50ms": percentile(step.response_ms, 50),
        "setupP99ms": percentile(step.response_ms, 99),
        "wallSeconds": round(step.wall_seconds, 1),
    }


def run(settings: Settings) -> PartResult:
    plan = QUICK if settings.quick else FULL
    scratch = settings.scratch("concurrency")
    result = PartResult(name="concurrency")
    uas = start_peer(scratch / "uas", "uas", rtp_echo=True)
    rows: list[dict[str, Any]] = []
    try:
        for calls in plan.held:
            driver = Driver(uas.peer, scratch / f"driver-{calls}.log")
            try:
                rows.append(ours(driver, calls, plan.seconds))
            finally:
                driver.close()
            rows.append(sipp(scratch / f"uac-{calls}", uas.peer, calls, plan.seconds))
    finally:
        uas.stop()

    table = result.table(
        "Concurrency: calls held at once by one engine vs SIPp holding as many (same UAS)",
        ["side", "held", "ok", "failed", "CPU %", "CPU % per call", "RSS MiB", "KiB per call",
         "setup p50 ms", "p99 ms"],
    )
    for row in rows:
        name = "GuestGate engine" if row["side"] == "ours" else "SIPp uac"
        per_call_kib = row["rssPerCallBytes"] / 1024 if "rssPerCallBytes" in row else None
        table.add(name, row["held"], row["ok"], row["failed"], row["cpuPercent"],
                  row["cpuPercent"] / row["held"], row["rssBytes"] / 2**20, per_call_kib,
                  row["setupP50ms"], row["setupP99ms"])
    table.notes += [
        f"calls placed at {PLACE_RATE:g}/s, then all held {plan.seconds:g} s at once; UAS = `sipp -sn uas -rtp_echo` "
        "on 127.0.0.1",
        "ours: CPU % over the hold alone (100 = one core; the whole driver process: pjsua2's thread, the media "
        "clock encoding and decoding PCMU for every call, asyncio); RSS while all calls are up, per call = its "
        "growth over the idle engine / calls",
        "SIPp: CPU over its whole run (placing, holding, hanging up; no RTP of its own), RSS its peak: the cost "
        "of SIP state alone on this machine",
        "failed: refused, not answered, ended during the hold, or no end after the BYE",
    ]
    result.data = {
        "placeRate": PLACE_RATE,
        "holdSeconds": plan.seconds,
        "rows": rows,
        "time": time.time(),
    }
    failed = [r for r in rows if r["side"] == "ours" and r["failed"]]
    if failed and settings.quick:
        result.error = "the engine failed calls: " + "; ".join(f"{r['held']}: {r['failures']}" for r in failed)
    return result

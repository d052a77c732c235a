"""Soak: browser calls placed and ended continuously at half the pod's capacity, for 10 minutes
(45 s with --quick), against one `guestgate signal` (with the link pages) whose trunk goes to a
SIPp peer echoing RTP, the media through rtpengine as in a pod.

Half the capacity: the calls the pod holds at once (its call cap, the smaller of its
limits.maxCallsPerPod, 8 here, and the pjsua build's PJSUA_MAX_CALLS, as /v1/status
callSlots.max says), halved; each of that many aiortc callers (bench/browser_caller.py, one process each) places one
call after another, holding each HOLD seconds. Sampled every few seconds: the server's RSS and
open file descriptors, its call slots (the engine's calls and pjsua's own count), the browser
calls it has in progress, rtpengine's sessions. Goals: RSS growth under 5 % from the end of the warm-up to the end,
0 call slots or rtpengine sessions left once the last call is over, 0 failed calls.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from bench.browser_rig import (
    ADMIN_TOKEN,
    LINK_PATH,
    Signal,
    metric_values,
    start_callers,
    start_echo_peer,
    start_signal,
)
from bench.measure import rss_bytes
from bench.report import PartResult
from bench.settings import Settings
from guestgate.engine.capture import MAX_WATCHED_CALLS
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import LocalRelay, start_relay

RSS_GROWTH_GOAL = 5.0  # per cent, warm-up to end
# The soaked pod's limits.maxCallsPerPod: a small pod's worth of browser calls on this 2-core
# machine, where the callers run too (a browser call costs the pod about 7 % of a core, bench
# browser_leg). The pod holds the smaller of this and its pjsua build's call cap.
MAX_CALLS_PER_POD = 8


@dataclass(frozen=True)
class Plan:
    seconds: float  # calls are placed for this long
    warmup: float  # RSS growth is measured from here, and from MAX_WATCHED_CALLS calls on (see run)
    hold: float  # each call
    every: float  # sampling interval


FULL = Plan(seconds=600.0, warmup=60.0, hold=3.0, every=10.0)
QUICK = Plan(seconds=45.0, warmup=10.0, hold=2.0, every=3.0)


@dataclass
class Sample:
    at: float  # seconds since the calls started
    rss: int
    fds: int
    engine_calls: int
    pjsua_calls: int
    browser_calls: float
    relay_sessions: int
    calls: int = 0  # calls ended so far


def _status(signal: Signal) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{signal.admin_url}/v1/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return dict(json.loads(response.read()))


def _sample(signal: Signal, relay: LocalRelay, at: float) -> Sample:
    slots = _status(signal).get("callSlots", {})
    active = sum(metric_values(signal.metrics(), "guestgate_browser_calls_active").values())
    return Sample(
        at=round(at, 1),
        rss=rss_bytes(signal.pid),
        fds=len(os.listdir(f"/proc/{signal.pid}/fd")),
        engine_calls=int(slots.get("engine", -1)),
        pjsua_calls=int(slots.get("pjsua", -1)),
        browser_calls=active,
        relay_sessions=len(relay.sessions()),
    )


def _growth(first: Sample, last: Sample) -> float:
    return 100.0 * (last.rss - first.rss) / first.rss if first.rss else 0.0


def _drained(signal: Signal, relay: LocalRelay, timeout: float = 30.0) -> Sample:
    """The first sample with no call in progress anywhere (or the last one after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        sample = _sample(signal, relay, 0.0)
        busy = (sample.engine_calls, sample.pjsua_calls, sample.browser_calls, sample.relay_sessions)
        if busy == (0, 0, 0, 0) or time.monotonic() > deadline:
            return sample
        time.sleep(0.5)


def run(settings: Settings) -> PartResult:
    plan = QUICK if settings.quick else FULL
    result = PartResult(name="soak")
    scratch = settings.scratch("soak")
    peer = start_echo_peer(scratch)
    relay = start_relay(scratch / "rtpengine.log")  # the pod's media relay (its sidecar in a cluster)
    samples: list[Sample] = []
    try:
        signal = start_signal(scratch, peer.port, relay=relay.ng, max_calls=MAX_CALLS_PER_POD)
        try:
            capacity = int(_status(signal)["callSlots"]["max"])
            at_once = max(1, capacity // 2)
            per_caller = math.ceil(plan.seconds / plan.hold) + 2  # more than fit: "stop" ends them
            spec = {
                "system": "guestgate",
                "web_url": signal.web_url,
                "origin": signal.web_url,
                "path": LINK_PATH,
                "sequential": True,
                "hold": plan.hold,
                "burst_every": 1.0,
            }
            idle = _sample(signal, relay, 0.0)
            callers = start_callers(spec, at_once * per_caller, per_caller, scratch)
            start = time.monotonic()
            try:
                next_sample = start
                while time.monotonic() - start < plan.seconds:
                    callers.poll(0.2)
                    if any(p.poll() is not None for p in callers.processes):
                        break  # a caller gave up: its error is in the results
                    if time.monotonic() >= next_sample:
                        sample = _sample(signal, relay, time.monotonic() - start)
                        sample.calls = callers.count("result")
                        samples.append(sample)
                        next_sample += plan.every
            finally:
                results = callers.stop(timeout=plan.hold + 20)
            ran = time.monotonic() - start
            after = _drained(signal, relay)
        finally:
            stop_process(signal.process)
    finally:
        stop_process(peer.process)
        relay.stop()

    failed = [r for r in results if r.get("error")]
    # Warm: the pools hold what the calls at once need, and the engine's capture store (the SIP
    # messages of the last MAX_WATCHED_CALLS calls, kept for the ladders) is full; from there on a
    # growing RSS is a leak. A quick run never fills the store: its growth is not judged.
    filled = [s for s in samples if s.at >= plan.warmup and s.calls >= MAX_WATCHED_CALLS + at_once]
    warm = filled[0] if filled else next((s for s in samples if s.at >= plan.warmup), samples[0] if samples else idle)
    early = next((s for s in samples if s.at >= plan.warmup), warm)
    end = samples[-1] if samples else idle
    growth = _growth(warm, end)
    leaked = max(after.engine_calls, after.pjsua_calls, 0) + after.relay_sessions
    mib = 2**20
    table = result.table(
        f"Soak: browser calls placed and ended continuously, {at_once} at once (half of {capacity})",
        [
            "minutes",
            "calls",
            "failed",
            "RSS MiB idle / warm / end",
            "RSS growth %",
            "open fds idle / end / after",
            "pjsua slots peak / after",
            "engine calls after",
            "rtpengine sessions peak / after",
        ],
    )
    table.add(
        round(ran / 60, 1),
        len(results),
        len(failed),
        f"{idle.rss / mib:.0f} / {warm.rss / mib:.0f} / {end.rss / mib:.0f}",
        round(growth, 2),
        f"{idle.fds} / {end.fds} / {after.fds}",
        f"{max((s.pjsua_calls for s in samples), default=0)} / {after.pjsua_calls}",
        after.engine_calls,
        f"{max((s.relay_sessions for s in samples), default=0)} / {after.relay_sessions}",
    )
    table.notes += [
        f"Each caller (aiortc, its own process) places one call after another on the echo link, holding each "
        f"{plan.hold:.0f} s with a 1 kHz burst a second; the peer (SIPp) answers at once and echoes RTP.",
        f"RSS growth from 'warm' ({warm.at:.0f} s in, {warm.calls} calls ended: the engine keeps the SIP messages of "
        f"the last {MAX_WATCHED_CALLS} calls for the ladders, a store that fills first) to the last sample; goal "
        f"under {RSS_GROWTH_GOAL:.0f} %. From {early.at:.0f} s in: {_growth(early, end):.1f} %. "
        "Slots and sessions 'after': once the callers stopped and the last BYE was done; goal 0. Media "
        "through rtpengine (Debian rtpengine-daemon, userspace) as in a pod: WebRTC to the relay, plain RTP on.",
        f"Samples every {plan.every:.0f} s: bench/results/soak.json (data.samples).",
    ]
    result.data = {
        "plan": plan.__dict__,
        "capacity": capacity,
        "atOnce": at_once,
        "calls": len(results),
        "failed": [r.get("error") for r in failed][:20],
        "rssGrowthPercent": round(growth, 3),
        "warm": warm.__dict__,
        "leakedSlots": leaked,
        "idle": idle.__dict__,
        "after": after.__dict__,
        "samples": [s.__dict__ for s in samples],
    }
    problems = []
    if failed:
        problems.append(f"{len(failed)} of {len(results)} calls failed (first: {failed[0].get('error')})")
    if leaked:
        problems.append(f"{leaked} call slots left after the last call")
    if filled and growth >= RSS_GROWTH_GOAL:
        problems.append(f"RSS grew {growth:.1f} %")
    if not results:
        problems.append("no call was placed")
    result.error = "; ".join(problems)
    return result

"""Browser leg: WebRTC calls carried per core, stepping the number of calls at once.

Synthetic callers (bench/browser_caller.py: aiortc processes, 4 calls each) call the echo link of a
`guestgate signal` process beside its rtpengine (what a pod runs), whose trunk goes to a SIPp UAS
that echoes RTP: relayed (PCMU both sides, rtpengine relays it untouched) and transcoded (Opus-only
callers, rtpengine transcodes to PCMU); the same callers call the same peer through the Janus
gateway's SIP plugin as the reference. Per step: CPU of the server process(es) over a window with
every call up, the callers' CPU (they bound how far this machine can step), the audio round trip
of 1 kHz bursts (caller -> server -> peer -> server -> caller), failed calls; per system, the CPU
one more call costs (the slope over the steps).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

from bench.browser_rig import (
    LINK_PATH,
    Callers,
    EchoPeer,
    Signal,
    metric_values,
    start_callers,
    start_echo_peer,
    start_signal,
)
from bench.janus_rig import janus_note, janus_reference, start_janus
from bench.measure import CpuWindow, ms, percentile
from bench.report import PartResult
from bench.settings import Settings
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from guestgate_dev.support.rtpengine import start_relay

PER_CALLER = 4  # calls per aiortc caller process
SURE_CALLS = 16  # a GuestGate call failing at or below this many calls at once is the part's error


def _wait_idle(signals: list[Signal], timeout: float = 10.0) -> None:
    """Until no browser call of an earlier step is in progress (its BYE done), so a step starts clean."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = 0.0
        for signal in signals:
            with contextlib.suppress(OSError):
                active += sum(metric_values(signal.metrics(), "guestgate_browser_calls_active").values())
        if active == 0:
            return
        time.sleep(0.2)


def _step(
    system: str,
    calls: int,
    specs: list[tuple[dict[str, Any], int]],
    server_pids: list[int],
    signals: list[Signal],
    window: float,
    scratch: Path,
) -> dict[str, Any]:
    """One step: start the callers (spec, calls) at once, wait until every call is up or failed, measure
    the servers' CPU over `window` seconds, hang up."""
    _wait_idle(signals)
    callers = [start_callers(spec, count, PER_CALLER, scratch) for spec, count in specs if count]
    merged = Callers([p for c in callers for p in c.processes])
    started = time.monotonic()
    merged.wait(("connected", "failed", "result"), calls, 20 + calls * 1.5)
    setup = time.monotonic() - started
    up = merged.count("connected")
    cpu = CpuWindow(server_pids).start()
    callers_cpu = CpuWindow(merged.pids).start()
    end = time.monotonic() + window
    while time.monotonic() < end:
        merged.poll(0.25)
        cpu.sample_rss()
    cpu_seconds, wall = cpu.stop()
    callers_seconds, _ = callers_cpu.stop()
    still_up = up - sum(1 for e in merged.events if e.get("event") == "result")  # none should end on their own
    results = merged.stop()
    rtts = [r for result in results for r in result.get("rtts", [])]
    failed = [result.get("error", "") for result in results if result.get("error")]
    failed += ["no result"] * max(0, calls - len(results))
    return {
        "system": system,
        "calls": calls,
        "callerProcesses": len(merged.processes),
        "serverProcesses": len(server_pids),
        "connected": up,
        "upThroughWindow": still_up,
        "failed": len(failed),
        "errors": sorted(set(failed))[:5],
        "setupSeconds": round(setup, 2),
        "cpuSeconds": round(cpu_seconds, 3),
        "wallSeconds": round(wall, 3),
        "cpuPercent": 100.0 * cpu_seconds / wall if wall else None,
        # Each server process's share (GuestGate: the signal process, then its rtpengine).
        "cpuPercentByProcess": [100.0 * each / wall if wall else None for each in cpu.each()],
        "callersCpuPercent": 100.0 * callers_seconds / wall if wall else None,
        "peakRssMiB": cpu.peak_rss / 2**20,
        "rtts": rtts,
        "bursts": sum(int(r.get("bursts", 0)) for r in results),
    }


def marginal(steps: list[dict[str, Any]], process: int | None = None) -> float | None:
    """CPU % per added call: the least-squares slope of CPU % over calls up (None under two steps);
    of one server process alone when `process` (its index) is given."""
    points = [
        (float(s["connected"]), float(s["cpuPercent"] if process is None else s["cpuPercentByProcess"][process]))
        for s in steps
        if s["connected"] and s["cpuPercent"]
    ]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)


def _split(shares: list[float | None], places: int) -> str:
    """'signal / relay' CPU % of a GuestGate step or slope (its two processes); empty for one process."""
    return " / ".join(f"{share:.{places}f}" for share in shares if share is not None) if len(shares) > 1 else ""


def _climb(
    system: str, spec: dict[str, Any], counts: list[int], pids: list[int], signals: list[Signal], window: float,
    scratch: Path,
) -> list[dict[str, Any]]:
    """Steps of `counts` calls at once, up to the first step where a call failed (the callers'
    limit on this machine: what a failing step says is in its errors and its callers' CPU)."""
    steps = []
    for calls in counts:
        step = _step(system, calls, [(spec, calls)], pids, signals, window, scratch)
        steps.append(step)
        if step["failed"]:
            break
        time.sleep(0.5)
    return steps


def run(settings: Settings) -> PartResult:
    result = PartResult(name="browser_leg")
    scratch = settings.scratch("browser_leg")
    window = 3.0 if settings.quick else 10.0
    relayed_steps = [1, 2] if settings.quick else [1, 2, 4, 8, 16, 24, 32, 40]
    transcoded_steps = [1] if settings.quick else [1, 4, 8, 16]
    theirs = [1, 2] if settings.quick else [1, 2, 4, 8, 16, 24, 32]
    steps: list[dict[str, Any]] = []
    notes: list[str] = []
    peer: EchoPeer = start_echo_peer(scratch)
    try:
        # What a pod runs: one signal process beside its rtpengine; CPU is the two together.
        relay = start_relay(scratch / "rtpengine.log")
        try:
            relayed = start_signal(scratch, peer.port, name="signal-relayed", relay=relay.ng)
            try:
                spec = {"system": "guestgate", "web_url": relayed.web_url, "origin": relayed.web_url, "path": LINK_PATH}
                pids = [relayed.pid, relay.process.pid]
                steps += _climb("GuestGate relayed", spec, relayed_steps, pids, [relayed], window, scratch)
                opus = spec | {"codec": "opus"}
                steps += _climb("GuestGate transcoded", opus, transcoded_steps, pids, [relayed], window, scratch)
            finally:
                stop_process(relayed.process)
        finally:
            relay.stop()
        why_not, ice_ip = janus_reference()
        if why_not:
            notes.append(f"No Janus reference: {why_not}")
        else:
            janus = start_janus(scratch / "janus", free_port(), (43000, 43999), ice_ip)
            try:
                spec = {"system": "janus", "janus_url": janus.url, "sip_uri": peer.uri(), "ice_ip": ice_ip}
                steps += _climb("Janus", spec, theirs, [janus.process.pid], [], window, scratch)
            finally:
                stop_process(janus.process)
            notes.append(janus_note(ice_ip))
    finally:
        stop_process(peer.process)

    table = result.table(
        f"Browser leg: calls relayed at once, CPU over {window:.0f} s with all up",
        [
            "server",
            "calls",
            "up",
            "failed",
            "CPU %",
            "CPU %/call",
            "RSS MiB",
            "RTT p50 ms",
            "RTT p99 ms",
            "callers CPU %",
            "signal / relay CPU %",
        ],
    )
    for step in steps:
        per_call = step["cpuPercent"] / step["connected"] if step["connected"] and step["cpuPercent"] else None
        table.add(
            step["system"],
            step["calls"],
            step["connected"],
            step["failed"],
            step["cpuPercent"],
            per_call,
            step["peakRssMiB"],
            ms(percentile(step["rtts"], 50)),
            ms(percentile(step["rtts"], 99)),
            step["callersCpuPercent"],
            _split(step.get("cpuPercentByProcess") or [], 1),
        )
    systems = list(dict.fromkeys(s["system"] for s in steps))
    slopes = {system: marginal([s for s in steps if s["system"] == system]) for system in systems}
    summary = result.table(
        "Browser leg: CPU per call, per system",
        ["server", "most calls up", "marginal CPU %/call", "x Janus", "calls per core (marginal)",
         "of it signal / relay"],
    )
    janus_slope = slopes.get("Janus")
    for system in systems:
        slope = slopes[system]
        mine = [s for s in steps if s["system"] == system]
        most = max((s["connected"] for s in mine), default=0)
        ratio = slope / janus_slope if slope is not None and janus_slope else None
        shares = [marginal(mine, process) for process in range(len(mine[0]["cpuPercentByProcess"]))] if mine else []
        summary.add(system, most, slope, ratio, 100.0 / slope if slope else None, _split(shares, 3))
    table.notes += [
        "Callers: aiortc (not a browser) in 4-call processes, offering PCMU only (relayed, Janus) or Opus only"
        " (transcoded); peer: SIPp UAS answering PCMU and echoing RTP (-rtp_echo); every system calls the same peer.",
        "GuestGate relayed: one signal process beside its rtpengine (userspace), as a pod runs them: rtpengine"
        " relays SRTP <-> RTP untouched, pjsua2 only signals. GuestGate transcoded: the same, Opus <-> PCMU in"
        " rtpengine. Janus: its SIP plugin relays SRTP <-> RTP, no transcoding.",
        "CPU %: the server process(es) over the window (100 = one core; GuestGate: signal + rtpengine); per call ="
        " that / calls up. callers CPU %: the aiortc caller processes over the same window. signal / relay: the"
        " GuestGate signal process's part and its rtpengine's.",
        "Steps stop at the first step with a failed call, or at the last count listed: the callers (aiortc in"
        " Python, several % of a core per call, on the same 2 cores as the servers) bound how many calls this"
        " machine can drive, not the servers.",
        "RTT: a 100 ms 1 kHz burst each second, from its first frame handed to the caller's encoder to the first"
        " loud frame decoded back, on the caller's clock (includes aiortc's jitter buffer and 20 ms framing).",
        *notes,
    ]
    summary.notes += [
        "marginal: the least-squares slope of CPU % over calls up, across the system's steps (what one more call"
        " costs, without the process's idle cost); calls per core = 100 / that; of it signal / relay: the same"
        " slope for the signal process alone and for its rtpengine alone.",
    ]
    for step in steps:
        step["rttP50ms"], step["rttP99ms"] = ms(percentile(step["rtts"], 50)), ms(percentile(step["rtts"], 99))
    result.data = {"windowSeconds": window, "steps": steps, "marginalCpuPercentPerCall": slopes}
    ours = [s for s in steps if s["system"].startswith("GuestGate")]
    if any(s["failed"] for s in ours if s["calls"] <= SURE_CALLS):
        result.error = "GuestGate calls failed: " + "; ".join(
            f"{s['system']} {s['calls']} calls: {s['errors']}" for s in ours if s["failed"]
        )
    return result

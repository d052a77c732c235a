"""Browser leg: WebRTC calls relayed to SIP per core, stepping the number of calls at once.

Synthetic callers (bench/browser_caller.py: aiortc processes, 4 calls each) call the echo link of
a `guestgate signal` process with its rtpengine (as a pod runs them), whose trunk goes to a SIPp
UAS that echoes RTP; the same callers call the same peer through the Janus gateway's SIP plugin as
the reference. Per step: CPU of the server processes over a window with every call up, the audio
round trip of 1 kHz bursts (caller -> relay -> peer -> relay -> caller), failed calls.
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
    end = time.monotonic() + window
    while time.monotonic() < end:
        merged.poll(0.25)
        cpu.sample_rss()
    cpu_seconds, wall = cpu.stop()
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
        "peakRssMiB": cpu.peak_rss / 2**20,
        "rtts": rtts,
        "bursts": sum(int(r.get("bursts", 0)) for r in results),
    }


def run(settings: Settings) -> PartResult:
    result = PartResult(name="browser_leg")
    scratch = settings.scratch("browser_leg")
    window = 3.0 if settings.quick else 10.0
    theirs = [1, 2] if settings.quick else [1, 2, 4, 8, 16]
    relayed_steps = [1, 2] if settings.quick else [1, 2, 4, 8, 16]
    steps: list[dict[str, Any]] = []
    notes: list[str] = []
    peer: EchoPeer = start_echo_peer(scratch)
    try:
        # The calls through rtpengine beside one signal process (what every pod runs): CPU is the two
        # processes together. (The pod's own aiortc bridge, measured beside it before, is gone.)
        relay = start_relay(scratch / "rtpengine.log")
        try:
            relayed = start_signal(scratch, peer.port, name="signal-relayed", relay=relay.ng)
            try:
                spec = {"system": "guestgate", "web_url": relayed.web_url, "origin": relayed.web_url, "path": LINK_PATH}
                for calls in relayed_steps:
                    pids = [relayed.pid, relay.process.pid]
                    steps.append(_step("GuestGate relayed", calls, [(spec, calls)], pids, [relayed], window, scratch))
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
                for calls in theirs:
                    steps.append(_step("Janus", calls, [(spec, calls)], [janus.process.pid], [], window, scratch))
                    time.sleep(0.5)
            finally:
                stop_process(janus.process)
            notes.append(janus_note(ice_ip))
    finally:
        stop_process(peer.process)

    table = result.table(
        f"Browser leg: calls at once, CPU over {window:.0f} s with all up",
        [
            "server",
            "calls",
            "procs",
            "up",
            "failed",
            "CPU %",
            "CPU %/call",
            "RSS MiB",
            "RTT p50 ms",
            "RTT p99 ms",
        ],
    )
    for step in steps:
        per_call = step["cpuPercent"] / step["connected"] if step["connected"] and step["cpuPercent"] else None
        table.add(
            step["system"],
            step["calls"],
            step["serverProcesses"],
            step["connected"],
            step["failed"],
            step["cpuPercent"],
            per_call,
            step["peakRssMiB"],
            ms(percentile(step["rtts"], 50)),
            ms(percentile(step["rtts"], 99)),
        )
    table.notes += [
        f"Callers: aiortc (not a browser) in {PER_CALLER}-call processes, PCMU only; peer: SIPp UAS answering PCMU"
        " and echoing RTP (-rtp_echo); both servers call the same peer. Janus relays RTP (SRTP <-> RTP).",
        "GuestGate relayed: rtpengine (userspace) beside one signal process, as every pod runs them: rtpengine"
        " relays SRTP <-> RTP untouched, pjsua2 only signals; its CPU % counts both processes.",
        "CPU %: the server process(es) over the window (100 = one core); per call = that / calls up."
        " GuestGate: `guestgate signal` (python -m guestgate.pod.serve); Janus: the janus process.",
        "RTT: a 100 ms 1 kHz burst each second, from its first frame handed to the caller's encoder to the first"
        " loud frame decoded back, on the caller's clock (includes aiortc's jitter buffer and 20 ms framing).",
        *notes,
    ]
    for step in steps:
        step["rttP50ms"], step["rttP99ms"] = ms(percentile(step["rtts"], 50)), ms(percentile(step["rtts"], 99))
    result.data = {"windowSeconds": window, "steps": steps}
    broken = [s for s in steps if s["system"].startswith("GuestGate")]
    if any(s["failed"] for s in broken):
        result.error = "GuestGate calls failed: " + "; ".join(
            f"{s['calls']} calls: {s['errors']}" for s in broken if s["failed"]
        )
    return result

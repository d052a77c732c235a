"""The caller of the SIP leg benchmark: one process, one SipEngine (the pods' engine), paced calls.

    python -m bench.sip_leg_driver --peer 127.0.0.1:PORT

reads one JSON step per stdin line, {"rate": calls per second, "calls": N, "hold": seconds},
places N calls at that rate (INVITE, answer, hold, BYE) and writes one JSON line per step:
offered and achieved rate, failures with their reasons, each answered call's setup time (INVITE
sent to 200 received, from the engine's own message log), and the CPU and RSS of this process
over the step. A call counts as failed when it could not be placed (the engine refused it, e.g.
its concurrent-call cap), was not answered within the timeout, or did not end after the BYE.

{"held": N, "rate": calls per second, "seconds": S} (the concurrency part) places N calls at that
rate, holds them all at once for S seconds and measures this process over that window alone
(CPU seconds, RSS before the calls and while they are all up), then hangs them all up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from guestgate.config.schema import PeerConfig, TrunkProfile
from guestgate.engine.calls import CallHandle
from guestgate.engine.core import EngineError, EngineSettings, SipEngine
from guestgate_dev.support.ports import free_port_range

ANSWER_TIMEOUT = 5.0
END_TIMEOUT = 5.0
TRUNK = "bench/uas"
PAGE_SIZE = 4096
MAX_CALLS = 1024  # the build's PJSUA_MAX_CALLS: the bench measures the engine, not a configured limit


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_SIZE


def setup_seconds(handle: CallHandle) -> float | None:
    """INVITE sent to its 200 received, both as pjsip logged them."""
    invite = ok = None
    for message in handle.capture().messages:
        first = message.data.split(b"\r\n", 1)[0]
        if invite is None and message.direction == "sent" and first.startswith(b"INVITE "):
            invite = message.time
        elif invite is not None and message.direction == "received" and first.startswith(b"SIP/2.0 200"):
            cseq = next((h for h in message.data.split(b"\r\n") if h.lower().startswith(b"cseq")), b"")
            if b" INVITE" in cseq:
                ok = message.time
                break
    if invite is None or ok is None:
        return None
    return ok - invite


async def one_call(engine: SipEngine, number: str, hold: float) -> tuple[str, float | None]:
    """("ok", setup seconds) or (failure reason, None)."""
    try:
        handle = await engine.place_call(TRUNK, number)
    except EngineError as exc:
        return ("refused: " + str(exc).split(" (")[0], None)
    except TimeoutError:  # the engine thread is behind by more than the job timeout: overloaded
        return ("engine busy: not placed within 10 s", None)
    first = await handle.wait(("answered", "ended"), ANSWER_TIMEOUT)
    if first is None or first.kind != "answered":
        if not handle.ended:
            with contextlib.suppress(EngineError, TimeoutError):
                await engine.hangup(handle)
            await handle.wait(("ended",), END_TIMEOUT)
        return (f"not answered ({handle.last_status or 'timeout'})", None)
    await asyncio.sleep(hold)
    if not handle.ended:
        try:
            await engine.hangup(handle)
        except (EngineError, TimeoutError):
            return ("hang-up not taken within 10 s", None)
    if await handle.wait(("ended",), END_TIMEOUT) is None:
        return ("no end after BYE", None)
    setup = setup_seconds(handle)
    if setup is None:
        setup = handle.answered_at - handle.started if handle.answered_at else None
    return ("ok", setup)


async def step(engine: SipEngine, rate: float, calls: int, hold: float) -> dict[str, Any]:
    cpu0, wall0, rss_peak = time.process_time(), time.monotonic(), _rss()
    tasks: list[asyncio.Task[tuple[str, float | None]]] = []
    for index in range(calls):
        due = wall0 + index / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_call(engine, str(1000 + index % 9000), hold)))
        if index % 10 == 0:
            rss_peak = max(rss_peak, _rss())
    offered_seconds = time.monotonic() - wall0
    results = await asyncio.gather(*tasks)
    wall = time.monotonic() - wall0
    rss_peak = max(rss_peak, _rss())
    ok = [setup for outcome, setup in results if outcome == "ok"]
    failures = Counter(outcome for outcome, _ in results if outcome != "ok")
    return {
        "rate": rate,
        "calls": calls,
        "hold": hold,
        "offeredSeconds": offered_seconds,
        "wallSeconds": wall,
        "ok": len(ok),
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "setupSeconds": [s for s in ok if s is not None],
        "cpuSeconds": time.process_time() - cpu0,
        "rssBytes": rss_peak,
        "maxCalls": engine.max_calls,
    }


async def held(engine: SipEngine, calls: int, rate: float, seconds: float) -> dict[str, Any]:
    rss_idle, start = _rss(), time.monotonic()
    tasks: list[asyncio.Task[CallHandle | str]] = []

    async def place(number: str) -> CallHandle | str:
        try:
            return await engine.place_call(TRUNK, number)
        except EngineError as exc:
            return "refused: " + str(exc).split(" (")[0]
        except TimeoutError:
            return "engine busy: not placed within 10 s"

    for index in range(calls):
        delay = start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(place(str(1000 + index % 9000))))
    placed = await asyncio.gather(*tasks)
    handles = [h for h in placed if isinstance(h, CallHandle)]
    failures = Counter(h for h in placed if isinstance(h, str))
    answers = await asyncio.gather(*(h.wait(("answered", "ended"), ANSWER_TIMEOUT + calls / rate) for h in handles))
    up = [h for h, a in zip(handles, answers, strict=True) if a is not None and a.kind == "answered"]
    for h, a in zip(handles, answers, strict=True):
        if a is None or a.kind != "answered":
            failures[f"not answered ({h.last_status or 'timeout'})"] += 1
    all_up = time.monotonic()
    cpu0, wall0 = time.process_time(), time.monotonic()
    rss_held = _rss()
    while time.monotonic() - wall0 < seconds:
        await asyncio.sleep(min(1.0, seconds))
        rss_held = max(rss_held, _rss())
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    dropped = sum(1 for h in up if h.ended)  # ended during the hold: failed too
    if dropped:
        failures["ended during the hold"] += dropped
    await asyncio.gather(*(engine.hangup(h) for h in handles if not h.ended), return_exceptions=True)
    ends = await asyncio.gather(*(h.wait(("ended",), END_TIMEOUT + calls / 100) for h in handles))
    unended = sum(1 for h, e in zip(handles, ends, strict=True) if e is None and h in up)
    if unended:
        failures["no end after BYE"] += unended
    setups = [s for s in (setup_seconds(h) for h in up) if s is not None]
    return {
        "held": calls,
        "rate": rate,
        "placeSeconds": all_up - start,
        "holdSeconds": wall,
        "ok": len(up) - dropped,
        "failed": sum(failures.values()),
        "failures": dict(failures),
        "setupSeconds": setups,
        "cpuSeconds": cpu,
        "rssIdleBytes": rss_idle,
        "rssHeldBytes": rss_held,
        "maxCalls": engine.max_calls,
    }


async def main_async(peer: str) -> None:
    host, _, port = peer.rpartition(":")
    # RTP ports of its own (two per call, with room): benchmarks and tests may run at once.
    media_ports = 4 * MAX_CALLS
    engine = SipEngine(EngineSettings(bind_address="127.0.0.1", sip_port=0, transports=("udp",), max_calls=MAX_CALLS,
                                      media_port_start=free_port_range(media_ports), media_port_count=media_ports))
    engine.start()
    try:
        engine.register_current_thread()
        profile = TrunkProfile(
            id=TRUNK, namespace="bench", name="uas", peers=(PeerConfig(host=host, port=int(port), transport="udp"),)
        )
        errors = await engine.set_trunks([profile], {})
        if errors:
            raise SystemExit(f"trunk refused: {errors}")
        print(json.dumps({"ready": True, "local": engine.local_address("udp")}), flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line.strip():
                break
            ask = json.loads(line)
            if "held" in ask:
                result = await held(engine, int(ask["held"]), float(ask["rate"]), float(ask["seconds"]))
            else:
                result = await step(engine, float(ask["rate"]), int(ask["calls"]), float(ask["hold"]))
            print(json.dumps(result), flush=True)
    finally:
        engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, help="host:port of the UAS")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(main_async(args.peer))


if __name__ == "__main__":
    main()

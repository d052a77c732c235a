"""From `make demo` to the first connected call, warm: what a new user waits for.

`make bench ONLY=demo_first_call` (root; the node is one per machine: run it under
`flock /tmp/gg-node.lock`). Runs `python -m guestgate_dev demo --node` (what `make demo` runs)
ROUNDS times; in each, the moment the link is printed headless Chromium opens it and clicks Call
(a user who clicks at once), then calls CALLS times in all, hanging up after each. The first round
warms the machine (the node cluster and images exist afterwards); the others are the warm figures.
Goals (issue 20): warm, from the command to the first connected call < 20 s; the first call's
setup no slower than the tenth.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import math
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from array import array
from pathlib import Path
from typing import Any

from bench.measure import ms, percentile
from bench.report import PartResult
from bench.settings import Settings
from guestgate_dev.cluster.layout import CacheLayout
from guestgate_dev.support.process import exclusive

REPO = Path(__file__).resolve().parents[1]
LINK_LINE = re.compile(r"^\s+(http://127\.0\.0\.1:\d+/call/[\w-]+)\s*$")
QUICK = {"rounds": 1, "calls": 2}
CALL_SPACING = 10.5  # seconds between clicks: the demo link's default limit is 6 calls a minute per address
FULL = {"rounds": 2, "calls": 10}


def _chromium_class() -> Any:
    """The CDP driver the browser tests use (tests/browser/chromium.py), loaded by path."""
    path = REPO / "tests" / "browser" / "chromium.py"
    spec = importlib.util.spec_from_file_location("gg_bench_chromium", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Chromium


def _tone(path: Path) -> Path:
    """Two seconds of 600 Hz at 48 kHz: the fake microphone."""
    samples = array("h", (int(8000 * math.sin(2 * math.pi * 600 * n / 48000)) for n in range(96000)))
    with wave.open(str(path), "wb") as out:
        out.setparams((1, 2, 48000, len(samples), "NONE", "not compressed"))
        out.writeframes(samples.tobytes())
    return path


def _pump(process: subprocess.Popen[str], lines: queue.Queue[tuple[float, str]], log: Path) -> None:
    """Each line of the demo's output into the log, with the seconds since the command started."""
    assert process.stdout is not None
    started = time.monotonic()
    with log.open("a") as out:
        for line in process.stdout:
            out.write(f"{time.monotonic() - started:7.1f} {line}")
            out.flush()
            lines.put((time.monotonic(), line))


async def _calls(url: str, count: int, scratch: Path, chromium: Any) -> list[float]:
    """Open the link and call `count` times; each call's seconds from the click to 'connected'
    (inf: not within 30 s)."""
    browser = chromium(_tone(scratch / "mic.wav"), scratch)
    await browser.start()
    setups: list[float] = []
    try:
        await browser.open(url)
        clicked = 0.0
        for index in range(count):
            if index:  # the link admits 6 calls a minute from one address (access.callsPerMinutePerIP)
                await asyncio.sleep(max(0.0, clicked + CALL_SPACING - time.monotonic()))
            clicked = time.monotonic()
            await browser.click("#call")
            try:
                await browser.wait_for("gg.state === 'connected'", 30)
                setups.append(time.monotonic() - clicked)
            except Exception:
                setups.append(float("inf"))
                await browser.screenshot(f"demo-first-call-stuck-{len(setups)}")
            with contextlib.suppress(Exception):
                await browser.click("#hangup")
                await browser.wait_for("gg.state === 'ended'", 15)
            await browser.open(url)  # a fresh page for the next visitor
    finally:
        await browser.stop()
    return setups


def _round(index: int, calls: int, scratch: Path, chromium: Any) -> dict[str, Any]:
    log = scratch / f"demo-{index}.log"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "guestgate_dev", "demo", "--node", "--exit-after", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()
    threading.Thread(target=_pump, args=(process, lines, log), daemon=True).start()
    try:
        url = None
        deadline = started + 900
        while url is None and time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(queue.Empty):
                _at, line = lines.get(timeout=0.5)
                found = LINK_LINE.match(line)
                url = found.group(1) if found else None
        if url is None:
            return {"round": index, "error": f"no link printed (exit {process.poll()}); see {log}"}
        printed = time.monotonic() - started
        setups = asyncio.run(_calls(url, calls, scratch, chromium))
        first_connected = printed + setups[0] if setups and setups[0] != float("inf") else None
        return {"round": index, "linkPrintedSeconds": printed, "firstConnectedSeconds": first_connected,
                "setupSeconds": [s if s != float("inf") else None for s in setups]}
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops its phone and the cluster
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def run(settings: Settings) -> PartResult:
    mode = QUICK if settings.quick else FULL
    scratch = settings.scratch("demo_first_call")
    result = PartResult(name="demo_first_call")
    chromium = _chromium_class()
    rounds: list[dict[str, Any]] = []
    with exclusive(CacheLayout.default().root / "clusters" / ".locks" / "node-tests.lock"):
        for index in range(1, mode["rounds"] + 1):
            load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
            outcome = _round(index, mode["calls"], scratch, chromium)
            outcome["load"] = load
            rounds.append(outcome)
    table = result.table(
        "make demo to the first connected call (headless Chromium clicks Call the moment the link is printed)",
        ["round", "warm", "link printed s", "first call connected s", "1st setup ms", "10th setup ms",
         "2nd-10th p50 ms", "stuck", "load"],
    )
    for outcome in rounds:
        setups = outcome.get("setupSeconds") or []
        rest = [s for s in setups[1:] if s is not None]
        table.add(outcome["round"], "no" if outcome["round"] == 1 else "yes", outcome.get("linkPrintedSeconds"),
                  outcome.get("firstConnectedSeconds"),
                  ms(setups[0]) if setups and setups[0] is not None else None,
                  ms(setups[-1]) if len(setups) >= 10 and setups[-1] is not None else None,
                  ms(percentile(rest, 50)) if rest else None, sum(1 for s in setups if s is None), outcome["load"])
        if outcome.get("error"):
            table.notes.append(f"round {outcome['round']}: {outcome['error']}")
    table.notes += [
        "round 1 warms the machine (cluster state, images); later rounds are what a returning user sees",
        "setup: from the click on Call until the page says connected (the demo phone answers and echoes)",
    ]
    result.data = {"rounds": rounds}
    return result

"""`guestgate-dev demo` (what `make demo` runs): starts everything, prints a link that answers in a
browser on this machine, carries a scripted browser call to the demo phone, and stops cleanly
on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from browser.chromium import Chromium
from browser.harness import ARTIFACTS, MIC_HZ, write_tone_wav
from fixtures.operator import REPO
from guestgate_dev.cluster import DevCluster

pytestmark = pytest.mark.cluster


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _read_until(lines: queue.Queue[str], pattern: str, seen: list[str], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    raise AssertionError(f"no {pattern!r} within {timeout}s:\n{''.join(seen)}")


async def _browser_call(url: str, tmp: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser = Chromium(write_tone_wav(tmp / "mic.wav", MIC_HZ), ARTIFACTS)
    await browser.start()
    try:
        await browser.open(url)
        assert await browser.eval("document.getElementById('name').innerText") == "Call the GuestGate demo phone"
        # The demo phone echoes: the page hears its own microphone's tone come back.
        margin = await browser.call_and_listen(MIC_HZ, 440, connect_timeout=20, seconds=4, screenshot="demo-connected")
        assert margin > 10, f"no echo: {MIC_HZ} Hz is only {margin:.0f} dB above 440 Hz"
        await browser.screenshot("demo-ended")
    finally:
        await browser.stop()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_demo_prints_a_link_that_calls_the_demo_phone_and_stops_on_ctrl_c(
    dev_cluster: DevCluster, tmp_path: Path
) -> None:
    name = f"demo-test-{os.getpid()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "guestgate_dev", "demo", "--name", name, "--exit-after", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    seen: list[str] = []
    try:
        lines = _lines(process)
        url = _read_until(lines, r"^\s+(http://127\.0\.0\.1:\d+/call/demo)\s*$", seen, 300).group(1)
        # A user clicks the moment the link appears: the call must connect then, not a while later.
        asyncio.run(_browser_call(url, tmp_path))
        _read_until(lines, r"Ctrl-C stops everything", seen, 10)
        out = "".join(seen)
        assert "https://call.example.com/call/sales" in out
        assert "Scheduled" in out and "Active" in out
        assert "siptrunk.guestgate.io/cucm" in out and "siptrunk.guestgate.io/demo-phone" in out
        # The operator's health check through the local server's admin API reached the demo phone.
        assert "siptrunk/demo-phone: Healthy=True (OK)" in out
        with urllib.request.urlopen(url, timeout=10) as reply:
            page = reply.read().decode()
        assert reply.status == 200 and "Call the GuestGate demo phone" in page and 'id="call"' in page
        # A link switched off with kubectl reaches the running server through the ConfigMap copy.
        DevCluster(name).kubectl(
            "-n", "guestgate-demo", "patch", "guestlink", "try-me", "--type=merge", "-p", '{"spec":{"enabled":false}}'
        )
        deadline = time.monotonic() + 30
        while _status(url) != 403:
            assert time.monotonic() < deadline, "the disabled link still answers"
            time.sleep(0.5)
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert process.wait(60) == 0, "".join(seen)
        time.sleep(0.5)  # the reader thread drains the last lines
        while not lines.empty():
            seen.append(lines.get())
        assert "==> stopping" in "".join(seen)
        assert not _port_open(int(url.split(":")[2].split("/")[0])), "the signalling server is still running"
        assert not DevCluster(name).status().running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        DevCluster(name).delete()

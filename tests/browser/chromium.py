"""Headless Debian Chromium driven over the DevTools protocol (no driver, no npm).

Chromium writes its DevTools port to <user-data-dir>/DevToolsActivePort when started with
--remote-debugging-port=0; we attach to the page target over a WebSocket (aiohttp) and use
Page.navigate, Runtime.evaluate and Page.captureScreenshot. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # Without these, Chromium floods this closed network with update and sync requests.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # WebRTC with the local rtpengine on 127.0.0.1 (its candidates), real IPs not mDNS names.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter,OptimizationHints,Translate",
    "--window-size=420,900",
)


class CdpError(RuntimeError):
    pass


class Chromium:
    def __init__(self, microphone_wav: Path, artifacts: Path, prefix: Sequence[str] = (),
                 debug_address: str = "127.0.0.1", flags: Sequence[str] = ()) -> None:
        """``prefix``: what runs Chromium (e.g. ``ip netns exec NS``: then ``debug_address`` is
        its address in that namespace the test reaches, where a forwarder passes the DevTools
        connection on to Chromium, which listens on loopback only); ``flags``: more flags."""
        self.microphone_wav = microphone_wav
        self.artifacts = artifacts
        self.prefix = tuple(prefix)
        self.debug_address = debug_address
        self.flags = tuple(flags)
        self.profile = Path(tempfile.mkdtemp(prefix="gg-chromium-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.forwarder: subprocess.Popen[str] | None = None
        self.session: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        log = (self.artifacts / "chromium.log").open("ab")
        self.process = subprocess.Popen(
            [
                *self.prefix,
                CHROMIUM,
                *FLAGS,
                *self.flags,
                f"--use-file-for-fake-audio-capture={self.microphone_wav}",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise CdpError("Chromium did not start (see chromium.log)")
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        endpoint = f"127.0.0.1:{port}"
        if self.prefix:
            self.forwarder = subprocess.Popen(
                [*self.prefix, sys.executable, str(Path(__file__).with_name("tcp_forward.py")), self.debug_address,
                 str(port)], stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True)
            assert self.forwarder.stdout is not None
            endpoint = f"{self.debug_address}:{int(self.forwarder.stdout.readline())}"
        self.session = aiohttp.ClientSession()
        async with self.session.get(f"http://{endpoint}/json/list") as reply:
            targets = await reply.json()
        page = next(t for t in targets if t["type"] == "page")
        url = str(page["webSocketDebuggerUrl"]).replace(f"127.0.0.1:{port}", endpoint)
        self.ws = await self.session.ws_connect(url, max_msg_size=64 * 1024 * 1024)
        self._reader = asyncio.ensure_future(self._read())
        await self.send("Page.enable")
        await self.send("Runtime.enable")

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)

    async def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        assert self.ws is not None
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        data = await asyncio.wait_for(future, timeout)
        if "error" in data:
            raise CdpError(f"{method}: {data['error']}")
        return dict(data.get("result", {}))

    async def open(self, url: str) -> None:
        # Page.navigate answers before the old document is gone: wait for the new one by its
        # address and a marker the old one cannot carry.
        await self.send("Page.navigate", url=url)
        await self.wait_for(
            f"location.href === {json.dumps(url)} && document.readyState === 'complete' && !!document.body",
            timeout=15,
        )

    async def eval(self, expression: str, timeout: float = 30.0) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            userGesture=True,
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                state = await self.eval("document.body ? document.body.innerText : ''")
                raise TimeoutError(f"not true within {timeout}s: {expression}\npage: {state}")
            await asyncio.sleep(0.1)

    async def tone_margin(self, freq: float, against: float, seconds: float = 3.0) -> float:
        """The best margin (dB) of `freq` over `against` in what the page hears, sampled every
        250 ms for `seconds`: one dropped packet on a busy machine must not fail a test."""
        best = -1e9
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            # -Infinity (no remote audio yet, or digital silence) comes back as null.
            here, there = await self.eval(f"[gg.remoteToneDb({freq}), gg.remoteToneDb({against})]")
            if here is not None and there is not None:
                best = max(best, float(here) - float(there))
            await asyncio.sleep(0.25)
        return best

    async def call_and_listen(self, tone_hz: float, against_hz: float = 440, connect_timeout: float = 30,
                              seconds: float = 2.5, screenshot: str | None = None) -> float:
        """Click Call, wait for Connected, and return how far (dB) `tone_hz` stands above
        `against_hz` in what the page hears; then hang up and wait for the call to end."""
        await self.call(connect_timeout)
        if screenshot:
            await self.screenshot(screenshot)
        margin = await self.tone_margin(tone_hz, against_hz, seconds=seconds)
        await self.hang_up()
        return margin

    async def call(self, connect_timeout: float = 20) -> None:
        """Click Call on the open link page and wait until the call is connected."""
        await self.click("#call")
        await self.wait_for("gg.state === 'connected'", connect_timeout)

    async def hang_up(self, timeout: float = 15) -> None:
        """Click Hang up and wait until the page says the call ended."""
        await self.click("#hangup")
        await self.wait_for("gg.state === 'ended'", timeout)

    async def click(self, selector: str) -> None:
        await self.eval(f"document.querySelector({json.dumps(selector)}).click()")

    async def state_text(self) -> str:
        return str(await self.eval("document.getElementById('state').innerText"))

    async def screenshot(self, name: str) -> Path:
        data = await self.send("Page.captureScreenshot", format="png")
        path = self.artifacts / f"{name}.png"
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.forwarder is not None and self.forwarder.poll() is None:
            self.forwarder.kill()
            self.forwarder.wait(5)
        shutil.rmtree(self.profile, ignore_errors=True)

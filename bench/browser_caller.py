"""Synthetic WebRTC callers for the browser-leg parts: aiortc, not Chromium, so what is measured
is the server. `python -m bench.browser_caller '<json spec>'` runs `calls` calls at once in one
process, against GuestGate's link pages or the Janus SIP plugin, and prints one JSON line per
event on stdout:

  {"event": "connected", "call": i, ...}   the call is up (page state and ICE/DTLS both)
  {"event": "result", "call": i, ...}      after "stop" on stdin (or `hold` seconds): its times

Audio: the caller offers one codec only (`codec`: PCMU unless told, or opus) and sends silence
with a 1 kHz burst of 100 ms every
`burst_every` seconds once connected; the peer echoes it. The round trip of a burst is the time
from its first frame being handed to aiortc's encoder to the first frame heard back loud enough,
both on this process's monotonic clock (so it includes both jitter buffers of aiortc and the 20 ms
framing). Times compared with other processes (the INVITE at SIPp) are wall-clock (time.time()).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import sys
import time
import uuid
import warnings
from array import array
from typing import Any

import aiohttp
import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
SAMPLES = 160  # 20 ms
BURST_HZ = 1000
BURST_FRAMES = 5  # 100 ms
LEVEL = 0.3  # of full scale
HEARD = 0.05  # RMS above which a received frame counts as the burst coming back
TONE = array("h", (int(32767 * LEVEL * math.sin(2 * math.pi * BURST_HZ * n / RATE)) for n in range(SAMPLES))).tobytes()
SILENCE = bytes(SAMPLES * 2)


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def ice_on(address: str) -> None:
    """aioice gathers on every interface but loopback; here it gathers on one address only
    (127.0.0.1, or for Janus, which never gathers on loopback, the host's own address)."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address] if use_ipv4 else []


class BurstTrack(MediaStreamTrack):
    """Silence, and once `bursting` a 100 ms tone every `every` seconds; remembers when each went out."""

    kind = "audio"

    def __init__(self, every: float) -> None:
        super().__init__()
        self.period = max(BURST_FRAMES + 5, round(every * 1000 / 20))
        self.bursting = False
        self.sent: list[float] = []  # monotonic time each burst's first frame went to the encoder
        self._index = 0
        self._burst_index = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._index * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm = SILENCE
        if self.bursting:
            phase = self._burst_index % self.period
            if phase == 0:
                self.sent.append(time.monotonic())
            if phase < BURST_FRAMES:
                pcm = TONE
            self._burst_index += 1
        frame = av.AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = RATE
        frame.pts = self._index * SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        self._index += 1
        return frame


class Call:
    def __init__(self, index: int, spec: dict[str, Any], http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        self.index = index
        self.spec = spec
        self.http = http
        self.stop = stop
        self.track = BurstTrack(float(spec.get("burst_every", 1.0)))
        self.pc = RTCPeerConnection()
        self.times: dict[str, float] = {}  # wall clock
        self.rtts: list[float] = []
        self.frames_heard = 0
        self.error = ""
        self.server_id = ""  # GuestGate's call id
        self.sip_call_id = ""  # Janus tells it in its "calling" event
        self.hanging_up = False  # we end the call: its end is no error
        self.connected = asyncio.Event()
        self._page_connected = asyncio.Event()
        self._ended = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    def mark(self, name: str) -> None:
        self.times.setdefault(name, time.time())

    async def offer(self) -> str:
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        wanted = "audio/" + str(self.spec.get("codec", "PCMU"))
        codecs = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == wanted.lower()]
        transceiver.setCodecPreferences(codecs)

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.ensure_future(self._listen(track)))

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState == "connected":
                self.mark("media_connected")
                self._check_connected()
            elif self.pc.connectionState == "failed":
                self.error = self.error or "WebRTC connection failed"
                self._ended.set()

        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers (non-trickle)
        return str(self.pc.localDescription.sdp)

    def _check_connected(self) -> None:
        if self._page_connected.is_set() and self.pc.connectionState == "connected" and not self.connected.is_set():
            self.mark("connected")
            self.connected.set()

    def page_connected(self) -> None:
        self.mark("page_connected")
        self._page_connected.set()
        self._check_connected()

    async def _listen(self, track: Any) -> None:
        loud = False
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            self.frames_heard += 1
            if "first_frame" not in self.times:
                self.mark("first_frame")
            pcm = bytes(frame.planes[0])[: frame.samples * 2 * len(frame.layout.channels)]  # s16, mono or stereo
            level = audioop.rms(pcm, 2) / 32768.0
            if level > HEARD and not loud and self.track.sent:
                sent = [s for s in self.track.sent if s <= now]
                if sent and now - sent[-1] < self.track.period * 0.02:
                    self.rtts.append(now - sent[-1])
            loud = level > HEARD

    # ---- GuestGate: POST the offer, follow the page's event socket ------------------------------

    async def guestgate(self) -> None:
        url, origin = self.spec["web_url"], self.spec["origin"]
        sdp = await self.offer()
        self.mark("offer")
        async with self.http.post(
            f"{url}/_gg/calls", json={"path": self.spec["path"], "sdp": sdp}, headers={"Origin": origin}
        ) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"POST /_gg/calls: {response.status} {body}")
        self.mark("answer")
        self.server_id = str(body["id"])
        if body.get("sdp"):  # bridged: the answer at once; relayed: an "answer" event once the far end answers
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
        ws = await self.http.ws_connect(f"{url}/_gg/calls/{body['id']}/events", headers={"Origin": origin})

        async def follow() -> None:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(message.data)
                if event.get("type") == "answer" and self.pc.remoteDescription is None:
                    await self.pc.setRemoteDescription(RTCSessionDescription(sdp=event["sdp"], type="answer"))
                state = event.get("state")
                if state == "ringing":
                    self.mark("ringing")
                elif state == "connected":
                    self.page_connected()
                elif state == "ended":
                    self.mark("ended")
                    if not self.hanging_up:
                        self.error = self.error or f"ended early: {event.get('reason')} {event.get('detail')}"
                    self._ended.set()
                    return
            self._ended.set()

        self._tasks.append(asyncio.ensure_future(follow()))
        await self._hold()
        if not self._ended.is_set():
            await ws.send_json({"type": "hangup"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), 5)
        await ws.close()

    # ---- Janus: session, SIP plugin handle, guest registration, call, long poll ---------------

    async def _janus(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"transaction": uuid.uuid4().hex, **body}
        async with self.http.post(self.spec["janus_url"] + path, json=body) as response:
            answer: dict[str, Any] = await response.json(content_type=None)
        if answer.get("janus") == "error":
            raise RuntimeError(f"Janus {body.get('janus')}: {answer.get('error')}")
        return answer

    async def janus(self) -> None:
        session = (await self._janus("", {"janus": "create"}))["data"]["id"]
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def poll() -> None:
            while True:
                try:
                    async with self.http.get(
                        f"{self.spec['janus_url']}/{session}?maxev=10", timeout=aiohttp.ClientTimeout(total=40)
                    ) as response:
                        got = await response.json(content_type=None)
                except (aiohttp.ClientError, TimeoutError):
                    await asyncio.sleep(0.05)
                    continue
                for event in got if isinstance(got, list) else [got]:
                    if event.get("janus") == "keepalive":
                        continue
                    events.put_nowait(event)

        self._tasks.append(asyncio.ensure_future(poll()))
        handle = (await self._janus(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.sip"}))["data"]["id"]
        base = f"/{session}/{handle}"

        async def result(*wanted: str, timeout: float = 15.0) -> dict[str, Any]:
            deadline = time.monotonic() + timeout
            while True:
                event = await asyncio.wait_for(events.get(), max(0.01, deadline - time.monotonic()))
                data = event.get("plugindata", {}).get("data", {})
                name = str(data.get("result", {}).get("event") or event.get("janus") or "")
                if data.get("error"):
                    raise RuntimeError(f"Janus SIP: {data.get('error')}")
                self.on_janus_event(name, event)
                if name in wanted:
                    return event

        await self._janus(
            base,
            {"janus": "message", "body": {"request": "register", "type": "guest", "username": self.spec["guest"]}},
        )
        await result("registered")
        sdp = await self.offer()
        self.mark("offer")
        await self._janus(
            base,
            {
                "janus": "message",
                "body": {"request": "call", "uri": self.spec["sip_uri"]},
                "jsep": {"type": "offer", "sdp": sdp, "trickle": False},
            },
        )
        accepted = await result("accepted", "hangup")
        if "jsep" not in accepted:
            raise RuntimeError(f"Janus call not accepted: {accepted}")
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=accepted["jsep"]["sdp"], type="answer"))
        self.page_connected()

        async def follow() -> None:
            with contextlib.suppress(TimeoutError):
                await result("hangup", timeout=3600)
            if not self.hanging_up:
                self.error = self.error or "Janus hung up early"
            self._ended.set()

        follower = asyncio.ensure_future(follow())
        self._tasks.append(follower)
        await self._hold()
        if not self._ended.is_set():
            await self._janus(base, {"janus": "message", "body": {"request": "hangup"}})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), 5)
        with contextlib.suppress(Exception):
            await self._janus(f"/{session}", {"janus": "destroy"})

    def on_janus_event(self, name: str, event: dict[str, Any]) -> None:
        if name == "calling":
            self.mark("calling")
            self.sip_call_id = str(event.get("plugindata", {}).get("data", {}).get("call_id", ""))
        elif name in ("ringing", "progress"):
            self.mark("ringing")
        elif name == "accepted":
            self.mark("accepted")
        elif name == "webrtcup":
            self.mark("webrtcup")
        elif name == "hangup":
            self.mark("ended")

    # ---- common ----------------------------------------------------------------------------------

    async def _hold(self) -> None:
        connect = asyncio.ensure_future(self.connected.wait())
        ended = asyncio.ensure_future(self._ended.wait())
        await asyncio.wait(
            [connect, ended], timeout=float(self.spec.get("connect_timeout", 20)), return_when="FIRST_COMPLETED"
        )
        if not self.connected.is_set():
            self.error = (
                self.error or f"not connected (page={self._page_connected.is_set()} ice={self.pc.connectionState})"
            )
        else:
            self.track.bursting = True
            emit("connected", call=self.index, times=self.times)
            stopped = asyncio.ensure_future(self.stop.wait())
            await asyncio.wait(
                [stopped, ended], timeout=float(self.spec.get("hold", 60)), return_when="FIRST_COMPLETED"
            )
            stopped.cancel()
        self.hanging_up = True
        connect.cancel()
        ended.cancel()

    async def run(self) -> None:
        try:
            if self.spec["system"] == "janus":
                await self.janus()
            else:
                await self.guestgate()
        except Exception as exc:
            self.error = self.error or f"{type(exc).__name__}: {exc}"
            if not self.connected.is_set():
                emit("failed", call=self.index, error=self.error)
        finally:
            for task in self._tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await self.pc.close()
        emit(
            "result",
            call=self.index,
            times=self.times,
            rtts=[round(r, 4) for r in self.rtts],
            bursts=len(self.track.sent),
            frames=self.frames_heard,
            server_id=self.server_id,
            sip_call_id=self.sip_call_id,
            error=self.error,
        )


async def main(spec: dict[str, Any]) -> None:
    ice_on(str(spec.get("ice_ip", "127.0.0.1")))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line or line.strip() == "stop":
            stop.set()
            loop.remove_reader(sys.stdin)

    loop.add_reader(sys.stdin, on_stdin)
    first = int(spec.get("first", 0))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        calls = [
            Call(first + i, spec | {"guest": f"sip:bench{first + i}@127.0.0.1"}, http, stop)
            for i in range(int(spec["calls"]))
        ]
        if spec.get("sequential"):  # one call after another (click to ring): each holds `hold` seconds
            for call in calls:
                if stop.is_set():  # "stop": the call in progress ends, no new one starts (soak)
                    break
                await call.run()
        else:
            tasks = []
            for call in calls:
                tasks.append(asyncio.ensure_future(call.run()))
                await asyncio.sleep(float(spec.get("stagger", 0.05)))
            await asyncio.gather(*tasks)
    emit("done")


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))

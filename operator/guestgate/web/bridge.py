"""The media bridge: a browser's WebRTC audio (aiortc) <-> a SIP call's audio (pjsua2).

Two one-way paths, each through a bounded FrameBuffer so neither side's clock can build up
latency:

  browser -> aiortc track -> PyAV resampler (48 kHz Opus/G.711 decode -> 16 kHz mono s16)
          -> FrameBuffer -> AudioMediaPort.onFrameRequested (pjmedia clock thread) -> the call
  the call -> AudioMediaPort.onFrameReceived (pjmedia clock thread) -> FrameBuffer
          -> SipAudioTrack.recv() (asyncio, paced at 20 ms) -> aiortc encoder -> browser

The port runs at the conference bridge's 16 kHz; pjmedia converts to each codec's rate (8 kHz
G.711, 16 kHz G.722). Before the answer the browser track plays local ringback, the early media
of the far end, or silence, as the session decides (`mode`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import threading
import time
from typing import Any, Literal

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from guestgate.web.audio import BYTES_PER_SAMPLE, FRAME_MS, FrameBuffer, ToneGenerator, rms, samples_per_frame

log = logging.getLogger("guestgate.web.bridge")

BRIDGE_RATE = 16000  # pjsua's default conference clock
FRAME_BYTES = samples_per_frame(BRIDGE_RATE) * BYTES_PER_SAMPLE
Mode = Literal["silence", "ringback", "relay"]


class SipAudioTrack(MediaStreamTrack):
    """What the browser hears: the call's audio, local ringback or silence, one 20 ms frame per tick."""

    kind = "audio"

    def __init__(self, from_sip: FrameBuffer) -> None:
        super().__init__()
        self.from_sip = from_sip
        self.mode: Mode = "silence"
        self._ringback = ToneGenerator(BRIDGE_RATE)
        self._pts = 0
        self._start: float | None = None

    def set_mode(self, mode: Mode) -> None:
        if mode != self.mode:
            log.info("browser audio mode=%s", mode)
            if mode == "ringback":
                self._ringback = ToneGenerator(BRIDGE_RATE)  # each ringing starts with a ring
            self.mode = mode

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        count = samples_per_frame(BRIDGE_RATE)
        # Paced by the wall clock from the first frame: sleeping a fixed 20 ms would drift.
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._pts / BRIDGE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm: bytes | None = None
        if self.mode == "ringback":
            pcm = self._ringback.frame()
            self.from_sip.pop()  # keep the buffer from holding stale audio for later
        elif self.mode == "relay":
            pcm = self.from_sip.pop()
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(pcm or bytes(FRAME_BYTES))
        frame.sample_rate = BRIDGE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, BRIDGE_RATE)
        self._pts += count
        return frame


class BrowserAudio:
    """Pulls the browser's track, resamples it to the bridge rate and fills `to_sip`."""

    def __init__(self, to_sip: FrameBuffer) -> None:
        self.to_sip = to_sip
        self.level = 0.0  # last frame's RMS: the tests and logs use it to see that audio flows
        self.frames = 0
        self._task: asyncio.Task[None] | None = None

    def start(self, track: Any) -> None:
        self._task = asyncio.ensure_future(self._pump(track))

    async def _pump(self, track: Any) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=BRIDGE_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for out in resampler.resample(frame):
                pcm = bytes(out.planes[0])[: out.samples * BYTES_PER_SAMPLE]
                self.to_sip.push(pcm)
                self.level = rms(pcm)
                self.frames += 1

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class PortLease:
    """A bridge port lent to one call; `release()` gives it back to the pool when the call is over."""

    def __init__(self) -> None:
        self.port: Any = None

    def release(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            _POOL.give_back(port)


class _PortPool:
    """Bridge ports are reused, never destroyed.

    pjsua2 frees an AudioMediaPort's memory in its destructor right after asking the conference
    bridge to remove it, and since pjsip 2.14 that removal happens on the bridge's next clock
    tick: destroying a port (the engine drops its reference when a call ends) let the clock
    thread call into freed memory, which crashed the process a few calls later. So Python does
    not own the C++ ports (`thisown = False`), the pool keeps every one it made, and a port goes
    back to the pool detached from its call's buffers. The pool grows to the most calls ever
    in progress at once, which the engine bounds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[Any] = []
        self._all: list[Any] = []

    def take(self, pj: Any) -> Any:
        """On the engine thread (pjsua2 objects are created there)."""
        with self._lock:
            if self._free:
                return self._free.pop()
        port = _new_port(pj)
        with self._lock:
            self._all.append(port)
        return port

    def give_back(self, port: Any) -> None:
        port.buffers = None  # the clock thread sees silence from now on
        with self._lock:
            self._free.append(port)

    def __len__(self) -> int:
        return len(self._all)


_POOL = _PortPool()


def _new_port(pj: Any) -> Any:
    class BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
        buffers: tuple[FrameBuffer, FrameBuffer] | None = None  # (to SIP, from SIP), swapped whole

        # Called on pjmedia's clock thread: only deque operations here, and never raise
        # (an exception escaping a SWIG director aborts the process).
        def onFrameRequested(self, frame: Any) -> None:
            try:
                buffers = self.buffers
                pcm = (buffers[0].pop() if buffers is not None else None) or bytes(FRAME_BYTES)
                frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
                frame.buf = pj.ByteVector(pcm)
                frame.size = len(pcm)
            except Exception:
                log.exception("bridge port: frame request failed")

        def onFrameReceived(self, frame: Any) -> None:
            try:
                buffers = self.buffers
                if buffers is not None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                    buffers[1].push(bytes(frame.buf)[: frame.size])
            except Exception:
                log.exception("bridge port: frame receive failed")

    fmt = pj.MediaFormatAudio()
    fmt.type = pj.PJMEDIA_TYPE_AUDIO
    fmt.init(pj.PJMEDIA_FORMAT_PCM, BRIDGE_RATE, 1, FRAME_MS * 1000, 16)
    port = BridgePort()
    port.createPort(f"browser-{len(_POOL)}", fmt)
    port.thisown = False
    return port


def port_factory(to_sip: FrameBuffer, from_sip: FrameBuffer, lease: PortLease) -> Any:
    """For SipEngine.attach_media_port: lends a pooled AudioMediaPort (on the engine thread)."""

    def factory(pj: Any) -> Any:
        port = _POOL.take(pj)
        port.buffers = (to_sip, from_sip)
        lease.port = port
        return port

    return factory

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
import ctypes
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
LEVEL_EVERY = 5  # frames between two level readings of the browser's audio (a Python loop over samples)


_POINTERS = ctypes.c_size_t * 2


class VectorIO:
    """Copies PCM in and out of a pjsua2 ByteVector (SWIG std::vector<unsigned char>) in one memcpy.

    SWIG gives ByteVector no buffer: `bytes(vector)` and `ByteVector(pcm)` convert element by
    element (~370 us and ~15 us for a 640-byte frame, twice per frame per call on the clock
    thread). The vector's storage is reached instead through its C++ object (`int(vector.this)`):
    libstdc++ lays a vector out as three pointers (begin, end, end of capacity). `probe()` checks
    that layout on vectors of known content, size and capacity before the fast path is used; where
    it does not hold (another C++ library, a stand-in in tests) the element-wise copy is kept.
    """

    def __init__(self, pj: Any, fast: bool | None = None) -> None:
        self.pj = pj
        self.fast = self.probe(pj) if fast is None else fast

    @staticmethod
    def _span(vector: Any) -> tuple[int, int]:
        begin, end = _POINTERS.from_address(int(vector.this))
        return begin, end - begin

    @classmethod
    def probe(cls, pj: Any) -> bool:
        try:
            for size in (0, 1, 7, FRAME_BYTES, 4096):
                content = bytes((i * 7 + size) % 256 for i in range(size))
                vector = pj.ByteVector(content)
                begin, length = cls._span(vector)
                if length != size or len(vector) != size:
                    return False
                capacity = ctypes.c_size_t.from_address(int(vector.this) + 2 * ctypes.sizeof(ctypes.c_size_t)).value
                if capacity - begin != vector.capacity() or (size and ctypes.string_at(begin, size) != content):
                    return False
                vector.resize(size + 3)  # may reallocate: the pointers must follow
                begin, length = cls._span(vector)
                if length != size + 3 or ctypes.string_at(begin, size) != content:
                    return False
            # A MediaFrame's `buf` must be a view of the frame's own vector (write() fills it in place).
            frame, content = pj.MediaFrame(), bytes(range(200))
            cls(pj, fast=True).write(frame, content)
            return bytes(frame.buf) == content and frame.size == len(content)
        except Exception:
            return False

    def read(self, vector: Any, size: int) -> bytes:
        """The first `size` bytes (fewer if the vector is shorter)."""
        if self.fast:
            begin, length = self._span(vector)
            size = min(size, length)
            return ctypes.string_at(begin, size) if size > 0 else b""
        return bytes(vector)[:size]

    def write(self, frame: Any, pcm: bytes) -> None:
        """frame.buf = pcm, frame.size = len(pcm)."""
        if self.fast:
            vector = frame.buf  # a view of the frame's own vector, not a copy
            vector.resize(len(pcm))
            if pcm:
                ctypes.memmove(self._span(vector)[0], pcm, len(pcm))
        else:
            frame.buf = self.pj.ByteVector(pcm)
        frame.size = len(pcm)


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
        self.level = 0.0  # a recent frame's RMS (every LEVEL_EVERY-th): the tests and logs see audio flow by it
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
                if self.frames % LEVEL_EVERY == 0:
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
    thread call into freed memory, which crashed the process a few calls later. pjsip 2.17
    guards the C++ side, but SWIG tears the Python half of the port down first, and a tick in
    between still lands on a dead object (re-checked, docs/prack.md). So Python does
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


_VECTOR_IO: list[VectorIO] = []  # one per pjsua2 module (probed once)


def vector_io(pj: Any) -> VectorIO:
    for io in _VECTOR_IO:
        if io.pj is pj:
            return io
    _VECTOR_IO.append(VectorIO(pj))
    log.info("bridge port frame copy: %s", "memcpy" if _VECTOR_IO[-1].fast else "element-wise (slow)")
    return _VECTOR_IO[-1]


def _new_port(pj: Any) -> Any:
    io = vector_io(pj)
    audio_type = pj.PJMEDIA_FRAME_TYPE_AUDIO
    silent = bytes(FRAME_BYTES)

    class BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
        buffers: tuple[FrameBuffer, FrameBuffer] | None = None  # (to SIP, from SIP), swapped whole

        # Called on pjmedia's clock thread: only deque operations here, and never raise
        # (an exception escaping a SWIG director aborts the process).
        def onFrameRequested(self, frame: Any) -> None:
            try:
                buffers = self.buffers
                pcm = (buffers[0].pop() if buffers is not None else None) or silent
                frame.type = audio_type
                io.write(frame, pcm)
            except Exception:
                log.exception("bridge port: frame request failed")

        def onFrameReceived(self, frame: Any) -> None:
            try:
                buffers = self.buffers
                if buffers is not None and frame.type == audio_type and frame.size:
                    buffers[1].push(io.read(frame.buf, frame.size))
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

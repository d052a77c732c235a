"""Audio arithmetic of the media bridge (pure): 20 ms framing, bounded buffering, tones, levels.

Samples are signed 16-bit mono PCM in native byte order (what pjmedia and PyAV's "s16" use).
The resampling itself is done by libswresample through PyAV (C, anti-aliased); what lives here
is the arithmetic around it, which is where latency and clicks come from.
"""

from __future__ import annotations

import contextlib
import math
from array import array
from collections import deque
from dataclasses import dataclass, field

FRAME_MS = 20
BYTES_PER_SAMPLE = 2


def samples_per_frame(rate: int, frame_ms: int = FRAME_MS) -> int:
    if rate <= 0 or rate * frame_ms % 1000:
        raise ValueError(f"{rate} Hz has no whole number of samples in {frame_ms} ms")
    return rate * frame_ms // 1000


def silence(rate: int) -> bytes:
    return bytes(samples_per_frame(rate) * BYTES_PER_SAMPLE)


@dataclass
class FrameBuffer:
    """Re-cuts PCM of any length into whole frames, keeping at most `max_frames` of them.

    Bounded on purpose: when the consumer falls behind (a slow event loop, a clock drift between
    the browser and the SIP side), the oldest audio is dropped, so latency stays constant instead
    of growing for the rest of the call. And drained back: a burst (a stalled event loop, a late
    packet train) leaves frames waiting that the two steady 20 ms clocks would never take out
    again, each one 20 ms of delay for the rest of the call; so when more than `target` frames
    have been waiting at every pop for `drain_after` pops in a row (a second at 20 ms), one is
    dropped (counted in `drained`), until the depth is back at `target`.

    Thread-safe for one producer and one consumer (deque's append and popleft are atomic);
    `_partial` and `dropped` are touched by the producer only, `_over` and `drained` by the
    consumer only.
    """

    frame_bytes: int
    max_frames: int = 5  # 100 ms at 20 ms
    target: int = 2  # frames waiting (the one popped included) that are not delay to drain
    drain_after: int = 50  # pops in a row above target before one frame is dropped
    dropped: int = 0  # frames dropped because the buffer was full
    drained: int = 0  # frames dropped by the drain rule
    peak: int = 0  # the most frames ever waiting at once (the bridge's queue-depth metric)
    _frames: deque[bytes] = field(default_factory=deque)
    _partial: bytearray = field(default_factory=bytearray)
    _over: int = 0

    def push(self, pcm: bytes) -> None:
        self._partial += pcm
        while len(self._partial) >= self.frame_bytes:
            self._frames.append(bytes(self._partial[: self.frame_bytes]))
            del self._partial[: self.frame_bytes]
            while len(self._frames) > self.max_frames:
                self._frames.popleft()
                self.dropped += 1
        self.peak = max(self.peak, len(self._frames))

    def pop(self) -> bytes | None:
        if len(self._frames) > self.target:
            self._over += 1
            if self._over >= self.drain_after:
                self._over = 0
                with contextlib.suppress(IndexError):  # the producer may have dropped it first
                    self._frames.popleft()
                    self.drained += 1
        else:
            self._over = 0
        try:
            return self._frames.popleft()
        except IndexError:
            return None

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def lost(self) -> int:
        """Every frame dropped, full or draining (guestgate_bridge_frames_dropped_total)."""
        return self.dropped + self.drained

    def clear(self) -> None:
        self._frames.clear()
        self._partial.clear()
        self._over = 0


@dataclass
class ToneGenerator:
    """Sum of sines with an on/off cadence, frame by frame, phase-continuous (no clicks).

    Ringback of North America is 440+480 Hz, 2 s on, 4 s off; most of Europe 425 Hz, 1 s on,
    4 s off. The page's level meter and the tests listen for it.
    """

    rate: int
    freqs: tuple[float, ...] = (440.0, 480.0)
    on_ms: int = 2000
    off_ms: int = 4000
    amplitude: float = 0.25  # of full scale, summed over the frequencies
    _n: int = 0

    def frame(self) -> bytes:
        count = samples_per_frame(self.rate)
        period = (self.on_ms + self.off_ms) * self.rate // 1000
        on = self.on_ms * self.rate // 1000
        scale = 32767 * self.amplitude / max(1, len(self.freqs))
        out = array("h", bytes(count * BYTES_PER_SAMPLE))
        for i in range(count):
            n = self._n + i
            if period and n % period >= on:
                continue
            value = sum(math.sin(2 * math.pi * f * n / self.rate) for f in self.freqs)
            out[i] = int(scale * value)
        self._n += count
        return out.tobytes()


def rms(pcm: bytes) -> float:
    """Root mean square of s16 PCM, 0..1 of full scale."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0


def goertzel_power(pcm: bytes, rate: int, freq: float) -> float:
    """Relative power of one frequency in s16 PCM (Goertzel): how the tests hear a tone."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for s in samples:
        s0 = s / 32768.0 + coeff * s1 - s2
        s2, s1 = s1, s0
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (len(samples) ** 2)


def dominant(pcm: bytes, rate: int, candidates: tuple[float, ...]) -> float:
    """The candidate frequency with the most power in pcm."""
    return max(candidates, key=lambda f: goertzel_power(pcm, rate, f))

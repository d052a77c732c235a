"""How the demo phone and the tests hear a tone (pure): the level and the loudest of a few
frequencies in signed 16-bit mono PCM (native byte order, what pjmedia's ports carry)."""

from __future__ import annotations

import math
from array import array


def sine(rate: int, freq: float, seconds: float, amplitude: float = 0.5) -> bytes:
    """A tone as s16 PCM (the tests' reference signal)."""
    count = int(rate * seconds)
    scale = 32767 * amplitude
    return array("h", (int(scale * math.sin(2 * math.pi * freq * n / rate)) for n in range(count))).tobytes()


def rms(pcm: bytes) -> float:
    """Root mean square of s16 PCM, 0..1 of full scale."""
    samples = array("h", pcm[: len(pcm) - len(pcm) % 2])
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768.0


def goertzel_power(pcm: bytes, rate: int, freq: float) -> float:
    """Relative power of one frequency in s16 PCM (Goertzel)."""
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

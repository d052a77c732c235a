"""The demo phone's ear (guestgate_dev.support.tones): it names the tone it hears and its level."""

from __future__ import annotations

import pytest

from guestgate_dev.support.tones import dominant, goertzel_power, rms, sine


def test_the_loudest_candidate_is_the_tone_played() -> None:
    pcm = sine(16000, 440.0, 0.1) + sine(16000, 480.0, 0.1, amplitude=0.1)
    assert dominant(pcm, 16000, (350.0, 440.0, 480.0, 1000.0)) == 440.0
    assert dominant(sine(8000, 1000.0, 0.2), 8000, (440.0, 1000.0)) == 1000.0


def test_goertzel_hears_only_its_frequency() -> None:
    pcm = sine(8000, 1000.0, 0.2)
    assert goertzel_power(pcm, 8000, 1000.0) == pytest.approx(0.5**2 / 4, rel=0.05)
    assert goertzel_power(pcm, 8000, 700.0) < 1e-4
    assert goertzel_power(b"", 8000, 1000.0) == 0.0


def test_level_of_a_tone_and_of_silence() -> None:
    assert rms(sine(16000, 440.0, 0.1)) == pytest.approx(0.5 / 2**0.5, rel=0.02)
    assert rms(bytes(640)) == 0.0 and rms(b"") == 0.0 and rms(b"\x01") == 0.0

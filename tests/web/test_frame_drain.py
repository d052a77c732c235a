"""The bridge buffers drain back to their target: a burst must not leave delay standing for the
rest of the call (pure FrameBuffer logic, one push pattern per row)."""

from __future__ import annotations

import pytest

from guestgate.web.audio import FrameBuffer

DRAIN_CASES = [
    # name, frames queued at the start, frames pushed before each pop (cycled), pops, drained,
    # frames left in the buffer after the last pop (the depth a push then brings to the target)
    ("steady one in, one out: nothing to drain", 0, [1], 200, 0, 0),
    ("one frame standing (at target): kept", 1, [1], 200, 0, 1),
    ("two frames standing: one dropped after a second", 2, [1], 200, 1, 1),
    ("not yet a second above target: kept", 2, [1], 49, 0, 2),
    ("four standing: drained one per second down to target", 4, [1], 200, 3, 1),
    ("jitter (above target every other pop): kept", 1, [2, 0], 200, 0, 1),
    ("the producer stalls: nothing to drain", 0, [0], 100, 0, 0),
]


@pytest.mark.parametrize(
    ("name", "queued", "pattern", "pops", "drained", "depth"), DRAIN_CASES, ids=[c[0] for c in DRAIN_CASES]
)
def test_frame_buffer_drains_to_target(
    name: str, queued: int, pattern: list[int], pops: int, drained: int, depth: int
) -> None:
    buffer = FrameBuffer(frame_bytes=4, max_frames=5, target=2, drain_after=50)
    sent = 0

    def push(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            buffer.push(sent.to_bytes(4, "big"))
            sent += 1

    push(queued)
    popped: list[int] = []
    for tick in range(pops):
        push(pattern[tick % len(pattern)])
        frame = buffer.pop()
        if frame is not None:
            popped.append(int.from_bytes(frame, "big"))
    assert (buffer.drained, len(buffer)) == (drained, depth)
    assert buffer.dropped == 0 and buffer.lost == drained  # never full: every loss is a drain
    assert popped == sorted(popped)  # in order; a drain skips the oldest frame, never reorders
    assert len(popped) + buffer.drained + len(buffer) == sent


def test_clear_forgets_how_long_the_buffer_was_above_target() -> None:
    buffer = FrameBuffer(frame_bytes=1, target=0, drain_after=3)
    buffer.push(b"ab")
    buffer.pop()
    buffer.pop()
    buffer.clear()
    buffer.push(b"cd")
    assert buffer.pop() == b"c" and buffer.drained == 0


async def test_the_installed_aiortc_lets_the_audio_jitter_buffer_be_shortened() -> None:
    from aiortc import RTCPeerConnection

    from guestgate.web.session import JITTER_PREFETCH, shorten_jitter_buffer

    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        assert shorten_jitter_buffer(receiver)  # False: aiortc changed its internals (80 ms are back)
        assert getattr(receiver, "_RTCRtpReceiver__jitter_buffer")._prefetch == JITTER_PREFETCH  # noqa: B009 (private)
        assert not shorten_jitter_buffer(object())
    finally:
        await pc.close()

"""The media bridge's queue depth, as /metrics shows it: the deepest buffer of the calls in
progress now and the most any of them held, per direction; frames dropped when a call ends."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from guestgate.config.schema import LinkConfig, PeerConfig, TrunkProfile
from guestgate.web.audio import FrameBuffer
from guestgate.web.bridge import FRAME_BYTES
from guestgate.web.session import BrowserCall

LINK = LinkConfig(
    id="ns/q", namespace="ns", name="q", path="/call/q", url="u", trunk="ns/t", destination="2001", display_name="Q"
)
PROFILE = TrunkProfile(id="ns/t", namespace="ns", name="t", peers=(PeerConfig(host="h"),))


def depth(direction: str, stat: str) -> float | None:
    return REGISTRY.get_sample_value("guestgate_bridge_queue_depth", {"direction": direction, "stat": stat})


def dropped(direction: str) -> float:
    return REGISTRY.get_sample_value("guestgate_bridge_frames_dropped_total", {"direction": direction}) or 0.0


def test_a_frame_buffer_remembers_the_most_frames_it_held_which_never_exceeds_its_bound() -> None:
    buffer = FrameBuffer(frame_bytes=4, max_frames=3)
    buffer.push(bytes(8))
    assert (len(buffer), buffer.peak) == (2, 2)
    buffer.pop()
    buffer.pop()
    assert (len(buffer), buffer.peak) == (0, 2)
    buffer.push(bytes(4 * 10))
    assert (len(buffer), buffer.peak, buffer.dropped) == (3, 3, 7)


@pytest.mark.asyncio
async def test_the_gauge_shows_the_deepest_buffer_of_calls_in_progress_and_ended_calls_count_their_drops() -> None:
    first = BrowserCall(None, LINK, PROFILE, "1.2.3.4")  # type: ignore[arg-type]  # no SIP leg needed
    second = BrowserCall(None, LINK, PROFILE, "1.2.3.4")  # type: ignore[arg-type]
    try:
        first.to_sip.push(bytes(FRAME_BYTES * 2))
        second.to_sip.push(bytes(FRAME_BYTES * 4))
        second.to_sip.pop()
        second.from_sip.push(bytes(FRAME_BYTES))
        assert depth("to_sip", "now") == 3
        assert depth("to_sip", "peak") == 4
        assert depth("from_sip", "now") == depth("from_sip", "peak") == 1
        before = dropped("to_sip")
        first.to_sip.push(bytes(FRAME_BYTES * 6))  # 8 frames into a buffer of 5: 3 dropped
        await second.hangup()
        assert depth("to_sip", "now") == 5  # the ended call no longer counts
        assert depth("from_sip", "now") == 0
    finally:
        await first.hangup()
        await second.hangup()
    assert dropped("to_sip") - before == 3
    assert depth("to_sip", "now") == depth("to_sip", "peak") == 0

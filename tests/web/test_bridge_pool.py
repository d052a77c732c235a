"""Bridge ports are lent and reused, never destroyed (pjsua2 frees a port before the conference
bridge has let go of it); checked with a stand-in for the pjsua2 module."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from guestgate.web.audio import FrameBuffer
from guestgate.web.bridge import FRAME_BYTES, PortLease, port_factory


class _FakePort:
    def createPort(self, name: str, fmt: Any) -> None:
        self.name = name


class _Format:
    def init(self, *args: Any) -> None:
        self.args = args


FAKE_PJ = SimpleNamespace(
    AudioMediaPort=_FakePort,
    MediaFormatAudio=_Format,
    PJMEDIA_TYPE_AUDIO=1,
    PJMEDIA_FORMAT_PCM=2,
    PJMEDIA_FRAME_TYPE_AUDIO=1,
    ByteVector=bytes,
)


def buffers() -> tuple[FrameBuffer, FrameBuffer]:
    return FrameBuffer(FRAME_BYTES), FrameBuffer(FRAME_BYTES)


def test_ports_are_lent_to_one_call_at_a_time_and_reused_after_release() -> None:
    first, second = PortLease(), PortLease()
    a = port_factory(*buffers(), first)(FAKE_PJ)
    b = port_factory(*buffers(), second)(FAKE_PJ)
    assert a is not b and a.thisown is False  # Python never destroys the C++ port
    first.release()
    assert a.buffers is None  # detached: the clock thread hears and says silence
    third = PortLease()
    assert port_factory(*buffers(), third)(FAKE_PJ) is a
    first.release()  # releasing twice does nothing
    assert third.port is a


def test_a_port_moves_audio_between_the_call_and_its_buffers_only() -> None:
    to_sip, from_sip = buffers()
    lease = PortLease()
    port = port_factory(to_sip, from_sip, lease)(FAKE_PJ)
    to_sip.push(b"\x01" * FRAME_BYTES)
    frame = SimpleNamespace(type=0, buf=b"", size=0)
    port.onFrameRequested(frame)
    assert (frame.buf, frame.size) == (b"\x01" * FRAME_BYTES, FRAME_BYTES)
    port.onFrameRequested(frame)  # nothing queued: silence, never a stale frame
    assert frame.buf == bytes(FRAME_BYTES)
    port.onFrameReceived(SimpleNamespace(type=1, buf=b"\x02" * FRAME_BYTES, size=FRAME_BYTES))
    assert from_sip.pop() == b"\x02" * FRAME_BYTES
    lease.release()
    port.onFrameReceived(SimpleNamespace(type=1, buf=b"\x03" * FRAME_BYTES, size=FRAME_BYTES))
    assert from_sip.pop() is None  # a released port feeds no call
    lease2 = PortLease()
    assert port_factory(*buffers(), lease2)(FAKE_PJ) is port
    lease2.release()

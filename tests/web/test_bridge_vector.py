"""The bridge port's frame copies on the installed pjsua2 wheel: one memcpy each way, same bytes as
the element-wise copy, safe on empty and short frames; a stand-in without the C++ layout is copied
element-wise."""

from __future__ import annotations

from types import SimpleNamespace

import pjsua2 as pj
import pytest

from guestgate.web.bridge import FRAME_BYTES, VectorIO

PCM = bytes(range(256)) * 2 + bytes(FRAME_BYTES - 512)


def test_the_installed_wheel_gets_the_memcpy_path() -> None:
    assert VectorIO(pj).fast  # False: the libstdc++ vector layout check failed (frames copy 100x slower)


@pytest.mark.parametrize("fast", [True, False], ids=["memcpy", "element-wise"])
@pytest.mark.parametrize("content", [PCM, b"", b"\x01\x02\x03"], ids=["frame", "empty", "short"])
def test_frames_round_trip(fast: bool, content: bytes) -> None:
    io = VectorIO(pj, fast=fast)
    frame = pj.MediaFrame()
    frame.buf = pj.ByteVector(b"stale bytes from an earlier frame" * 30)
    io.write(frame, content)
    assert (bytes(frame.buf), frame.size) == (content, len(content))
    assert io.read(frame.buf, frame.size) == content
    assert io.read(frame.buf, FRAME_BYTES * 2) == content  # asked for more than there is
    assert io.read(frame.buf, 2) == content[:2]
    assert io.read(frame.buf, 0) == b""


def test_a_stand_in_without_the_layout_is_copied_element_wise() -> None:
    fake = SimpleNamespace(ByteVector=bytes)
    io = VectorIO(fake)
    assert not io.fast
    frame = SimpleNamespace(buf=b"", size=0)
    io.write(frame, b"abc")
    assert (frame.buf, frame.size) == (b"abc", 3) and io.read(frame.buf, 2) == b"ab"

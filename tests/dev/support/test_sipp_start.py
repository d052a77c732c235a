"""Starting SIPp when ports picked free are taken before it binds them (ci: a SIPp exited at start)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from guestgate_dev.support import ports, sipp
from guestgate_dev.support.ports import LOOPBACK, free_media_port, free_port


def test_a_media_port_reserves_sipps_video_ports_too() -> None:
    media = free_media_port()
    assert media % 4 == 0
    for each in range(media, media + 4):  # audio RTP/RTCP, video RTP/RTCP
        assert each in ports._handed_out
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, each))
    later = {free_port() for _ in range(300)}
    assert not later & set(range(media, media + 4))


@pytest.fixture
def taken_first_media_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """The first media port the launcher picks has its video port (+2) bound by someone else."""
    busy = free_media_port()
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind((LOOPBACK, busy + 2))
    picks = iter([busy])
    monkeypatch.setattr(sipp, "free_media_port", lambda address=LOOPBACK: next(picks, None) or free_media_port(address))
    yield busy
    holder.close()


def test_sipp_starts_again_on_fresh_ports_when_one_was_taken(tmp_path: Path, taken_first_media_port: int) -> None:
    peer = sipp.start_sipp(tmp_path, "uas", calls=1, run_seconds=10)
    try:
        assert peer.process.poll() is None
        assert peer.media_port != taken_first_media_port
    finally:
        peer.stop()
    first_errors = [path.read_text() for path in tmp_path.glob("sipp-*-errors.log")]
    assert any(f"Unable to bind video RTP socket (IP=127.0.0.1, port={taken_first_media_port + 2})" in text
               for text in first_errors)


def test_a_sip_port_given_and_taken_fails_saying_why(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind((LOOPBACK, port))
        with pytest.raises(RuntimeError, match="Unable to bind main socket") as failure:
            sipp.start_sipp(tmp_path, "uas", port=port, calls=1, run_seconds=10, start_seconds=3)
    assert str(failure.value).count("--- then") == sipp.START_ATTEMPTS - 1

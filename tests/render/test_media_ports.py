"""The signalling pods' media ports stay clear of the SIP engine's own RTP range (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.config.rtp import overlaps_engine_rtp
from guestgate.engine.core import EngineSettings
from guestgate.render.media_ports import engine_rtp_ports, signal_media_ports
from render.objects import cluster


@pytest.mark.parametrize("media", [{}, {"ports": {"min": 40000, "max": 40999}}])
def test_the_pods_media_ports_leave_the_engine_its_rtp(media: dict[str, Any]) -> None:
    gc = cluster(media=media)
    for span in signal_media_ports(gc):
        assert not overlaps_engine_rtp(span.first, span.last), span
    relay = gc.spec.turn.relay_ports  # the TURN pods' (on the node's network with HostNetwork)
    assert not overlaps_engine_rtp(relay.min, relay.max)


def test_the_engine_range_is_what_a_pod_engine_takes() -> None:
    span, settings = engine_rtp_ports(), EngineSettings()
    assert (span.first, span.last) == (settings.media_port_start,
                                       settings.media_port_start + settings.media_port_count - 1)

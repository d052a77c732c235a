"""The signalling pods' media ports: the one place the rest of the render layer takes them from.

The managed TURN server may relay only to these ports (its NetworkPolicy's egress), and the
signalling pods' NetworkPolicy lets the TURN pods in on them: the rtpengine sidecar's range
(spec.media.ports). When the media plane changes this module is the edit.

The SIP engine's own RTP (pjsua: health checks, the only calls with media of its own) has a fixed
range of its own in the same pods, which spec.media.ports may not overlap (a GuestCluster rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guestgate.api.objects import GuestCluster
from guestgate.config.rtp import ENGINE_RTP_FIRST, ENGINE_RTP_LAST


@dataclass(frozen=True)
class PortSpan:
    protocol: str  # UDP or TCP, as in a NetworkPolicy
    first: int
    last: int


def signal_media_ports(cluster: GuestCluster) -> tuple[PortSpan, ...]:
    """Where the signalling pods receive a call's media (the browser's, through the TURN relay):
    the rtpengine sidecar's port range."""
    media = cluster.spec.media
    return (PortSpan("UDP", media.ports.min, media.ports.max),)


def engine_rtp_ports() -> PortSpan:
    """The SIP engine's RTP and RTCP ports in every signalling pod (EngineSettings' default)."""
    return PortSpan("UDP", ENGINE_RTP_FIRST, ENGINE_RTP_LAST)


def policy_ports(spans: tuple[PortSpan, ...]) -> list[dict[str, Any]]:
    """NetworkPolicy `ports` entries for the spans (a single port has no endPort)."""
    out: list[dict[str, Any]] = []
    for span in spans:
        port: dict[str, Any] = {"protocol": span.protocol, "port": span.first}
        if span.last != span.first:
            port["endPort"] = span.last
        out.append(port)
    return out

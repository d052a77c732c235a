"""The signalling pods' media ports: the one place the rest of the render layer takes them from.

The managed TURN server may relay only to these ports (its NetworkPolicy's egress), and the
signalling pods' NetworkPolicy lets the TURN pods in on them. When the media plane changes
(aiortc's ephemeral ports, or the rtpengine sidecar's range) this module is the edit.

The SIP engine's own RTP (pjsua: trunk calls the relay does not carry, health checks) has a fixed
range of its own in the same pods, which spec.media.ports may not overlap (a GuestCluster rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guestgate.api.objects import GuestCluster
from guestgate.config.rtp import ENGINE_RTP_FIRST, ENGINE_RTP_LAST

# aiortc in the pod binds its ICE sockets to ephemeral ports: the kernel's
# net.ipv4.ip_local_port_range, 32768-60999 by default.
EPHEMERAL_FIRST, EPHEMERAL_LAST = 32768, 60999


@dataclass(frozen=True)
class PortSpan:
    protocol: str  # UDP or TCP, as in a NetworkPolicy
    first: int
    last: int


def signal_media_ports(cluster: GuestCluster) -> tuple[PortSpan, ...]:
    """Where the signalling pods receive a call's media (the browser's, through the TURN relay):
    the rtpengine sidecar's port range with spec.media.relay, else aiortc's ephemeral ports."""
    media = cluster.spec.media
    if media.relay:
        return (PortSpan("UDP", media.ports.min, media.ports.max),)
    return (PortSpan("UDP", EPHEMERAL_FIRST, EPHEMERAL_LAST),)


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

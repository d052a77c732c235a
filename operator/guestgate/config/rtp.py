"""The SIP engine's own RTP ports: pjsua's media (trunk calls the relay does not carry, health-check
calls) in a signalling pod. One range, clear of the pod's other media ports (the rtpengine
sidecar's spec.media.ports: a GuestCluster rule refuses an overlap; render/media_ports.py).

5,000 ports: two per media, a relayed call has one media per m= line (1,024 calls of two m=
lines take 4,096). On a development machine the tests' and benchmarks' ports stay below it and
their local rtpengines above it (guestgate_dev.support.ports).
"""

from __future__ import annotations

ENGINE_RTP_FIRST = 20000
ENGINE_RTP_LAST = 24999


def overlaps_engine_rtp(first: int, last: int) -> bool:
    """Ports first..last (both included) share a port with the engine's RTP range (pure)."""
    return first <= ENGINE_RTP_LAST and last >= ENGINE_RTP_FIRST

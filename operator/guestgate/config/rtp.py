"""The SIP engine's own RTP ports: pjsua's media (trunk calls the relay does not carry, health-check
calls) in a signalling pod. One range, clear of the pod's other media ports (the rtpengine
sidecar's spec.media.ports: a GuestCluster rule refuses an overlap; render/media_ports.py).
"""

from __future__ import annotations

ENGINE_RTP_FIRST = 20000
ENGINE_RTP_LAST = 29999


def overlaps_engine_rtp(first: int, last: int) -> bool:
    """Ports first..last (both included) share a port with the engine's RTP range (pure)."""
    return first <= ENGINE_RTP_LAST and last >= ENGINE_RTP_FIRST

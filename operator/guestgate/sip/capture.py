"""What a live SIP engine records of a call, before it becomes a ladder.

The engine (engine/core.py) appends one CapturedMessage per SIP message it sends or receives and
fills MediaCounters from its stream statistics; sip.ladder turns both into a Ladder. Keeping this
contract tiny lets the engine stay free of ladder and diagnosis details.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Direction = Literal["sent", "received"]


@dataclass(frozen=True, slots=True)
class CapturedMessage:
    """One SIP message as it crossed our transport."""

    time: float  # seconds since the epoch
    direction: Direction  # seen from the engine: "sent" by us or "received" by us
    transport: str  # "udp", "tcp", "tls"
    local: str  # "host:port" of our side
    remote: str  # "host:port" of the peer
    data: bytes  # the whole message, start line to end of body


@dataclass(slots=True)
class MediaCounters:
    """RTP seen during the call, from the engine's stream statistics."""

    rtp_packets_sent: int = 0
    rtp_packets_received: int = 0
    seconds_connected: float = 0.0


@dataclass(slots=True)
class CallCapture:
    """Everything recorded about one call: the messages in order and the media facts."""

    messages: list[CapturedMessage] = field(default_factory=list)
    media: MediaCounters | None = None

"""Prometheus metrics of the browser leg (registered once, in the default registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

ACTIVE_CALLS = Gauge("guestgate_browser_calls_active", "Browser calls in progress", ["link"])
SETUP_SECONDS = Histogram(
    "guestgate_browser_call_setup_seconds",
    "Time from the visitor's click (the offer reaching us) to ringing and to the answer",
    ["stage"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 21, 34, 60),
)
ENDED_CALLS = Counter("guestgate_browser_calls_ended_total", "Browser calls ended, by reason", ["link", "reason"])
REFUSED = Counter(
    "guestgate_browser_refused_total",
    "Calls and page loads refused, by reason (origin, rate, concurrency, token, unknown, disabled, expired...)",
    ["reason"],
)

WEB_ERRORS = Counter(
    "guestgate_web_errors_total",
    "Requests a handler could not answer, turned into a short JSON answer instead of a 500 page: "
    "kind=bad-request (malformed input, 400) or unavailable (a fault on our side, 503)",
    ["kind"],
)


MEDIA_UP = Gauge("guestgate_media_relay_up", "1 when the pod's media relay (rtpengine) answers its ng control, else 0")
MEDIA_SESSIONS = Gauge("guestgate_media_sessions", "Calls the media relay carries now")
MEDIA_TRANSCODED = Gauge("guestgate_media_transcoded_streams", "Media streams the relay transcodes now")
MEDIA_PACKETS = Gauge(
    "guestgate_media_relayed_packets", "RTP/RTCP packets the relay forwarded since it started (its own counter)"
)
MEDIA_ERRORS = Gauge("guestgate_media_packet_errors", "Packets the relay could not forward since it started")
MEDIA_GAUGES = (MEDIA_UP, MEDIA_SESSIONS, MEDIA_TRANSCODED, MEDIA_PACKETS, MEDIA_ERRORS)


def set_media(statistics: dict[str, object] | None) -> None:
    """The media gauges from rtpengine's ng `statistics` (None: the relay did not answer)."""
    MEDIA_UP.set(0 if statistics is None else 1)
    if statistics is None:
        return
    current = statistics.get("currentstatistics")
    total = statistics.get("totalstatistics")
    current = current if isinstance(current, dict) else {}
    total = total if isinstance(total, dict) else {}
    for gauge, source, key in (
        (MEDIA_SESSIONS, current, "sessionsown"),
        (MEDIA_TRANSCODED, current, "transcodedmedia"),
        (MEDIA_PACKETS, total, "relayedpackets"),
        (MEDIA_ERRORS, total, "relayedpacketerrors"),
    ):
        value = source.get(key)
        if isinstance(value, int):
            gauge.set(value)


def register_into(registry: CollectorRegistry) -> None:
    """Also expose the browser-leg metrics on another registry (the pod's admin /metrics)."""
    for collector in (ACTIVE_CALLS, SETUP_SECONDS, ENDED_CALLS, REFUSED, WEB_ERRORS, *MEDIA_GAUGES):
        registry.register(collector)

"""coturn's own state as `guestgate_turn_*` metrics, read from its log.

Debian's coturn 4.6.1 is built without Prometheus support, and its telnet CLI aborts on a buffer
overflow when the password is typed (coturn issue #1590: 4.6.1 as Debian and Ubuntu ship it). Its
verbose log is the reliable record it keeps: one line per allocation made and deleted, per request
refused (with the STUN error code), and traffic reports. A traffic report ("usage" for the
client's side, "peer usage" for the peer's) counts what moved since the previous report of the
same session; coturn writes one every 4096 packets of a session and when it closes, so the
counters trail the traffic of a live allocation by at most that much.

`parse` is pure (tested as a table); `TurnMetrics` applies what it finds to a registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

_SESSION = r"session (?P<session>\d+): "
_NEW = re.compile(_SESSION + r"new, realm=<.*>, username=<.*>, lifetime=\d+")
_DELETE = re.compile(_SESSION + r"delete: realm=<")
_USAGE = re.compile(
    _SESSION + r"(?P<peer>peer )?usage: realm=<.*>, username=<.*>, "
    r"rp=(?P<rp>\d+), rb=(?P<rb>\d+), sp=(?P<sp>\d+), sb=(?P<sb>\d+)"
)
# "... user <NAME>: incoming packet ALLOCATE processed, error 486: Allocation Quota Reached". The
# name is greedy: a TURN REST username may hold any character. "message" is coturn's summary line,
# which follows a request's own line for the same refusal, or stands alone (credentials refused).
_REFUSED = re.compile(
    _SESSION + r"realm <.*> user <(?P<user>.*)>: incoming packet (?P<request>\w+) processed, "
    r"error (?P<code>\d{3}): ?(?P<reason>[^\r\n]*)"
)


@dataclass(frozen=True)
class Allocated:
    session: str


@dataclass(frozen=True)
class Deleted:
    session: str


@dataclass(frozen=True)
class Usage:
    """Traffic of one session since its previous report: `leg` is "client" (between the visitor
    and coturn) or "peer" (between coturn and the signalling pod: what was relayed)."""

    session: str
    leg: str
    received_packets: int
    received_bytes: int
    sent_packets: int
    sent_bytes: int


@dataclass(frozen=True)
class Refused:
    session: str
    request: str  # the STUN method (lower case), or "message" for coturn's summary line
    code: int
    reason: str
    user: str


Event = Allocated | Deleted | Usage | Refused


def parse(line: str) -> Event | None:
    """The event a line of coturn's log records, or None (most lines record none)."""
    if "session " not in line:
        return None
    if match := _USAGE.search(line):
        return Usage(match["session"], "peer" if match["peer"] else "client",
                     int(match["rp"]), int(match["rb"]), int(match["sp"]), int(match["sb"]))
    if match := _REFUSED.search(line):
        return Refused(match["session"], match["request"].lower(), int(match["code"]), match["reason"].strip(),
                       match["user"])
    if match := _NEW.search(line):
        return Allocated(match["session"])
    if match := _DELETE.search(line):
        return Deleted(match["session"])
    return None


def reason_label(reason: str) -> str:
    """coturn's reason phrase as a label value: "Allocation Quota Reached" -> allocation_quota_reached."""
    return re.sub(r"[^a-z0-9]+", "_", reason.lower()).strip("_")[:64] or "unknown"


class TurnMetrics:
    """The metrics of one coturn, fed its log a line at a time."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.active = Gauge("guestgate_turn_allocations", "TURN allocations coturn holds now.",
                            registry=self.registry)
        self.created = Counter("guestgate_turn_allocations_created", "TURN allocations coturn granted.",
                               registry=self.registry)
        self.bytes = Counter(
            "guestgate_turn_traffic_bytes",
            "Bytes through coturn by leg (client: visitor-coturn, peer: coturn-pod, what was relayed) "
            "and direction as coturn sees it; reported every 4096 packets of a session and at its end.",
            ("leg", "direction"), registry=self.registry,
        )
        self.packets = Counter("guestgate_turn_traffic_packets", "Packets through coturn (as the bytes).",
                               ("leg", "direction"), registry=self.registry)
        self.refused = Counter(
            "guestgate_turn_refused",
            "Requests coturn refused, by STUN method (unknown when coturn does not name it), error code "
            "and reason: 401 unauthorized (bad or expired credentials; the first challenge of each "
            "allocation is not counted), 403 forbidden_ip (a peer outside the allow-list), "
            "486 allocation_quota_reached.",
            ("request", "code", "reason"), registry=self.registry,
        )
        self.peers = Gauge("guestgate_turn_allowed_peers",
                           "Addresses coturn may relay to (the signalling pods').", registry=self.registry)
        self._sessions: set[str] = set()
        self._named: dict[str, int] = {}  # session -> code of a refusal already counted by its request's line

    def feed(self, line: str) -> Event | None:
        event = parse(line)
        if isinstance(event, Allocated):
            if event.session not in self._sessions:
                self._sessions.add(event.session)
                self.created.inc()
        elif isinstance(event, Deleted):
            self._sessions.discard(event.session)
            self._named.pop(event.session, None)
        elif isinstance(event, Usage):
            for direction, packets, size in (("received", event.received_packets, event.received_bytes),
                                             ("sent", event.sent_packets, event.sent_bytes)):
                self.packets.labels(event.leg, direction).inc(packets)
                self.bytes.labels(event.leg, direction).inc(size)
        elif isinstance(event, Refused):
            self._refused(event)
        self.active.set(len(self._sessions))
        return event

    def _refused(self, event: Refused) -> None:
        if event.request != "message":
            if len(self._named) > 10_000:  # summaries that never came: forget them
                self._named.clear()
            self._named[event.session] = event.code
            self.refused.labels(event.request, str(event.code), reason_label(event.reason)).inc()
            return
        if self._named.pop(event.session, None) == event.code:
            return  # the summary of a refusal counted on its request's line
        if event.code == 401 and not event.user:
            return  # the challenge every client gets before it sends its credentials
        if event.code == 438:
            return  # stale nonce: the client retries with the fresh one
        self.refused.labels("unknown", str(event.code), reason_label(event.reason)).inc()

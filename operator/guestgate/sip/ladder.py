"""The ladder: a typed SIP exchange between a caller and a callee, in order (pure, no I/O).

Importers find raw messages (text plus whatever the source knows: time, addresses, whether the
recording side sent it); ``build_ladders`` parses them, groups them by Call-ID and decides who is
the caller (the side that sent the initial INVITE) and who is the callee. ``ladder_from_capture``
does the same for a live call recorded by the engine (GuestGate is the caller there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Literal

from guestgate.sip.capture import CallCapture
from guestgate.sip.message import SipMessage, SipParseError, parse_message
from guestgate.sip.platforms import detect_platform, platform_of_tags

Role = Literal["caller", "callee"]


def other(role: Role) -> Role:
    return "callee" if role == "caller" else "caller"


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message as an importer found it, before roles are known."""

    text: str
    time: float | None = None  # seconds (epoch or trace-relative; only differences matter)
    src: str | None = None  # "host:port" of the sender, when the source says
    dst: str | None = None
    transport: str | None = None  # udp, tcp, tls
    local: bool | None = None  # True: sent by the side that recorded the trace
    where: str = ""  # "line 12" or "packet 7", for notes


@dataclass(frozen=True, slots=True)
class LadderMessage:
    index: int
    time: float | None
    sender: Role
    message: SipMessage
    src: str | None = None
    dst: str | None = None
    transport: str | None = None

    @property
    def receiver(self) -> Role:
        return other(self.sender)


@dataclass(frozen=True, slots=True)
class Party:
    """One side of the call."""

    role: Role
    address: str | None = None
    product: str | None = None  # its User-Agent / Server value
    platform: str = "generic"
    recorded_here: bool = False  # the trace was taken on this side (IOS debug, SIPp, engine)


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """RTP seen each way, where the source knows it (None: not known)."""

    from_caller: int | None = None
    from_callee: int | None = None
    early_from_callee: int | None = None  # before the answer: early media / ringback
    source: str = ""  # "pcap", "P-RTP-Stat", "engine"


@dataclass(frozen=True, slots=True)
class Ladder:
    name: str
    messages: tuple[LadderMessage, ...]
    caller: Party
    callee: Party
    media: MediaFacts | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    source: str = ""  # the file (or stream) the call was read from: legs of a B2BUA share it

    def party(self, role: Role) -> Party:
        return self.caller if role == "caller" else self.callee

    @property
    def call_id(self) -> str | None:
        return next((m.message.call_id for m in self.messages if m.message.call_id), None)

    def with_platforms(self, caller: str | None, callee: str | None) -> Ladder:
        """The same ladder with platforms given by the user instead of detected."""
        return replace(
            self,
            caller=replace(self.caller, platform=caller) if caller else self.caller,
            callee=replace(self.callee, platform=callee) if callee else self.callee,
        )


def parse_raw(raw: Sequence[RawMessage]) -> tuple[list[tuple[RawMessage, SipMessage]], list[str]]:
    """Parse each raw message; unreadable ones become notes instead of failing the whole trace."""
    parsed: list[tuple[RawMessage, SipMessage]] = []
    notes: list[str] = []
    for item in raw:
        try:
            parsed.append((item, parse_message(item.text)))
        except SipParseError as error:
            notes.append(f"{item.where or 'a message'}: skipped, {error}")
    return parsed, notes


def build_ladders(raw: Sequence[RawMessage], name: str, notes: Sequence[str] = (),
                  split_calls: bool = True) -> list[Ladder]:
    """Raw messages -> one ladder per call (Call-ID), in order of first appearance."""
    parsed, parse_notes = parse_raw(raw)
    all_notes = [*notes, *parse_notes]
    groups: dict[str, list[tuple[RawMessage, SipMessage]]] = {}
    for item, message in parsed:
        key = (message.call_id or "") if split_calls else ""
        groups.setdefault(key, []).append((item, message))
    ladders: list[Ladder] = []
    for number, group in enumerate(groups.values(), start=1):
        label = name if len(groups) == 1 else f"{name} call {number}"
        ladders.append(replace(_ladder(label, group, all_notes), source=name))
    return ladders


def _date_times(group: list[tuple[RawMessage, SipMessage]]) -> list[float | None] | None:
    """Times from Date headers, for plain text that carries no other time (None if too few).

    Date has one-second resolution and each side writes its own clock, so it is a fallback only.
    """
    times: list[float | None] = []
    for _, message in group:
        value = message.header("Date")
        try:
            times.append(parsedate_to_datetime(value).timestamp() if value else None)
        except (TypeError, ValueError, IndexError, OverflowError):
            times.append(None)
    return times if sum(t is not None for t in times) >= 2 else None


def _ladder(name: str, group: list[tuple[RawMessage, SipMessage]], notes: list[str]) -> Ladder:
    sender_of = _role_strategy(group)
    times: list[float | None] = [item.time for item, _ in group]
    if all(t is None for t in times) and (dated := _date_times(group)) is not None:
        times = dated
        notes = [*notes, f"{name}: times are taken from Date headers (1 s resolution, each side's clock)"]
    messages = tuple(
        LadderMessage(index=i, time=times[i], sender=sender_of(item, message), message=message,
                      src=item.src, dst=item.dst, transport=item.transport)
        for i, (item, message) in enumerate(group)
    )
    recorded = {m.sender: item.local for m, (item, _) in zip(messages, group, strict=True)
                if item.local is not None}

    def party(role: Role) -> Party:
        sent = [m for m in messages if m.sender == role]
        products = [m.message.product for m in sent if m.message.product]
        address = next((m.src for m in sent if m.src), None) or next(
            (m.dst for m in messages if m.sender != role and m.dst), None) or _announced_address(sent) \
            or (_request_target(messages) if role == "callee" else None)
        platform = detect_platform(products)
        if platform == "generic":
            platform = platform_of_tags(_own_tags(messages, role))
        return Party(role=role, address=address, product=products[0] if products else None,
                     platform=platform, recorded_here=bool(recorded.get(role)))

    return Ladder(name=name, messages=messages, caller=party("caller"), callee=party("callee"),
                  media=_media_from_rtp_stat(messages), notes=tuple(notes))


def _request_target(messages: tuple[LadderMessage, ...]) -> str | None:
    """Where the caller sent its INVITE (``sip:1000@172.16.0.20:5060`` -> ``172.16.0.20:5060``):
    the callee's address when it said none itself (a trace taken on it names only the other side)."""
    uri = next((m.message.request_uri for m in messages if m.message.method == "INVITE"), None)
    if not uri:
        return None
    target = uri.split(":", 1)[-1].split("@", 1)[-1].split(";", 1)[0].split("?", 1)[0]
    return target or None


def _own_tags(messages: tuple[LadderMessage, ...], role: Role) -> list[str]:
    """The dialog tags a side owns: From of its requests and To of its responses, and the other
    way round in what the other side sent."""
    tags = []
    for item in messages:
        mine_in_from = (item.sender == role) == item.message.is_request
        tag = item.message.from_tag if mine_in_from else item.message.to_tag
        if tag:
            tags.append(tag)
    return tags


def _announced_address(sent: list[LadderMessage]) -> str | None:
    """Without packet addresses, a side says where it is in the top Via of its requests, or in
    the Contact of its responses; good enough to tell the sides apart in the output."""
    for item in sent:
        if item.message.is_request and (via := item.message.header("Via")):
            sent_by = via.split(None, 1)[1].split(";", 1)[0].strip() if " " in via.strip() else ""
            if sent_by:
                return sent_by
    for item in sent:
        if contact := item.message.header("Contact"):
            uri = contact.split("<", 1)[-1].split(">", 1)[0]
            host = uri.split("@", 1)[-1].split(";", 1)[0]
            if host and not host.startswith("sip"):
                return host
    return None


def _role_strategy(group: list[tuple[RawMessage, SipMessage]]) -> Callable[[RawMessage, SipMessage], Role]:
    """How to tell who sent each message, from the best knowledge the source has.

    1. The source says which messages the recording side sent (IOS Sent:, SIPp, engine).
    2. The source has addresses (pcap): the caller's address sent the first INVITE.
    3. Only text: whoever owns the From tag of the initial INVITE originated a transaction as
       caller; a request is sent by its originator, a response by the other side.
    """
    # A partial trace may hold no INVITE but responses to it: they still say who the caller was.
    first = next(((item, m) for item, m in group if m.method == "INVITE" and not m.to_tag), None) \
        or next(((item, m) for item, m in group if m.method == "INVITE"), None) \
        or next(((item, m) for item, m in group if m.status and m.cseq_method == "INVITE"), None) \
        or next(((item, m) for item, m in group if m.is_request), None) or group[0]
    first_item, first_message = first
    if all(item.local is not None for item, _ in group) and first_item.local is not None:
        caller_is_local = first_item.local if first_message.is_request else not first_item.local
        return lambda item, _m: "caller" if item.local == caller_is_local else "callee"
    caller_address = first_item.src if first_message.is_request else first_item.dst
    if caller_address and all(item.src for item, _ in group):
        return lambda item, _m: "caller" if item.src == caller_address else "callee"
    caller_tag = first_message.from_tag
    caller_uri = first_message.from_uri

    def by_tags(_item: RawMessage, message: SipMessage) -> Role:
        if caller_tag and message.from_tag:
            originated_by_caller = message.from_tag == caller_tag
        else:
            originated_by_caller = message.from_uri == caller_uri
        originator: Role = "caller" if originated_by_caller else "callee"
        return originator if message.is_request else other(originator)

    return by_tags


def _media_from_rtp_stat(messages: tuple[LadderMessage, ...]) -> MediaFacts | None:
    """Cisco puts RTP counters in its BYE (``P-RTP-Stat: PS=19,...,PR=25``): packets sent/received."""
    for item in messages:
        stat = item.message.header("P-RTP-Stat")
        if not stat:
            continue
        values = dict(part.strip().split("=", 1) for part in stat.split(",") if "=" in part)
        sent, received = values.get("PS", ""), values.get("PR", "")
        if sent.isdigit() and received.isdigit():
            mine, theirs = int(sent), int(received)
            if item.sender == "caller":
                return MediaFacts(from_caller=mine, from_callee=theirs, source="P-RTP-Stat")
            return MediaFacts(from_caller=theirs, from_callee=mine, source="P-RTP-Stat")
    return None


def ladder_from_capture(capture: CallCapture, name: str = "live call") -> Ladder:
    """A live call recorded by the engine -> a ladder. GuestGate sent what is marked "sent"."""
    raw = [
        RawMessage(text=m.data.decode("utf-8", errors="replace"), time=m.time,
                   src=m.local if m.direction == "sent" else m.remote,
                   dst=m.remote if m.direction == "sent" else m.local,
                   transport=m.transport, local=m.direction == "sent", where=f"message {i}")
        for i, m in enumerate(capture.messages)
    ]
    ladders = build_ladders(raw, name, split_calls=False)
    if not ladders:
        empty = Party(role="caller", platform="guestgate", recorded_here=True)
        return Ladder(name=name, messages=(), caller=empty, callee=Party(role="callee"),
                      notes=("the engine recorded no SIP message",))
    ladder = ladders[0]
    here: Role = "caller" if ladder.caller.recorded_here or not ladder.callee.recorded_here else "callee"
    ladder = replace(ladder, caller=replace(ladder.caller, platform="guestgate")) if here == "caller" \
        else replace(ladder, callee=replace(ladder.callee, platform="guestgate"))
    if capture.media is not None:
        sent, received = capture.media.rtp_packets_sent, capture.media.rtp_packets_received
        media = MediaFacts(from_caller=sent if here == "caller" else received,
                           from_callee=received if here == "caller" else sent, source="engine")
        ladder = replace(ladder, media=media)
    return ladder

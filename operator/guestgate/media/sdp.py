"""Pure SDP helpers for relaying a browser's call through rtpengine to a SIP trunk.

No I/O: text in, text out, tested as tables (tests/media). SDP lines end with CRLF on output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

VideoPolicy = Literal["sendrecv", "recvonly", "inactive"]

# Attributes only WebRTC needs and a SIP trunk may choke on (or refuse the call over):
# header extensions, stream ids, SSRC announcements, RTCP feedback (an RTP/AVP trunk has no
# AVPF), BUNDLE, reduced-size RTCP, ICE options, RTCP XR.
WEBRTC_ONLY_ATTRIBUTES = (
    "extmap",
    "extmap-allow-mixed",
    "msid",
    "msid-semantic",
    "ssrc",
    "ssrc-group",
    "rtcp-fb",
    "rtcp-rsize",
    "ice-options",
    "end-of-candidates",
    "rtcp-xr",
    "mid",
)
# Payloads that only make sense between two WebRTC stacks: redundancy, FEC, retransmission.
WEBRTC_ONLY_CODECS = ("red", "ulpfec", "flexfec-03", "rtx")
DTMF_CODEC = "telephone-event"
ALWAYS_OFFERED = (DTMF_CODEC, "cn")  # events and comfort noise go with whatever codec is chosen
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass(slots=True)
class Media:
    """One m= section: its m= line split into parts, and its other lines in order."""

    kind: str
    port: str
    proto: str
    formats: list[str]
    lines: list[str] = field(default_factory=list)

    def line(self) -> str:
        return " ".join([f"m={self.kind}", self.port, self.proto, *self.formats])

    def attributes(self, name: str) -> list[str]:
        prefix = f"a={name}"
        return [x[len(prefix) + 1 :] for x in self.lines if x == prefix or x.startswith(prefix + ":")]

    def codec_names(self) -> dict[str, str]:
        """payload type -> encoding name (lower case) from a=rtpmap, with the static ones."""
        names = {"0": "pcmu", "8": "pcma", "9": "g722", "18": "g729"}
        for value in self.attributes("rtpmap"):
            pt, _, rest = value.partition(" ")
            names[pt] = rest.split("/", 1)[0].lower()
        return {pt: names.get(pt, "") for pt in self.formats}

    @property
    def direction(self) -> str:
        for x in self.lines:
            if x[2:] in DIRECTIONS and x.startswith("a="):
                return x[2:]
        return "sendrecv"


@dataclass(slots=True)
class Session:
    head: list[str]  # v=, o=, s=, c=, t=, session attributes
    media: list[Media]

    def text(self) -> str:
        out = list(self.head)
        for m in self.media:
            out.append(m.line())
            out.extend(m.lines)
        return "\r\n".join(out) + "\r\n"


class SdpError(ValueError):
    """Text that is not an SDP we can relay (no v= line, a bad m= line)."""


def parse(sdp: str) -> Session:
    lines = [x.strip() for x in sdp.replace("\r\n", "\n").split("\n") if x.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("an SDP starts with v=")
    session = Session(head=[], media=[])
    for x in lines:
        if x.startswith("m="):
            parts = x[2:].split()
            if len(parts) < 3:
                raise SdpError(f"bad media line {x!r}")
            session.media.append(Media(parts[0], parts[1], parts[2], parts[3:]))
        elif session.media:
            session.media[-1].lines.append(x)
        else:
            session.head.append(x)
    return session


def _drop_attributes(lines: list[str], names: Iterable[str]) -> list[str]:
    wanted = tuple(names)
    kept = []
    for x in lines:
        name = x[2:].split(":", 1)[0] if x.startswith("a=") else None
        if name in wanted or (name == "group" and x.startswith("a=group:BUNDLE")):
            continue
        kept.append(x)
    return kept


def _drop_payloads(media: Media, payloads: set[str]) -> None:
    media.formats = [pt for pt in media.formats if pt not in payloads]
    kept = []
    for x in media.lines:
        for attr in ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"):
            if x.startswith(attr) and x[len(attr) :].split(" ", 1)[0] in payloads:
                break
        else:
            kept.append(x)
    media.lines = kept


def strip_webrtc(sdp: str) -> str:
    """What rtpengine made of the browser's offer, minus what only WebRTC understands."""
    session = parse(sdp)
    session.head = _drop_attributes(session.head, WEBRTC_ONLY_ATTRIBUTES)
    for m in session.media:
        m.lines = _drop_attributes(m.lines, WEBRTC_ONLY_ATTRIBUTES)
        names = m.codec_names()
        _drop_payloads(m, {pt for pt, name in names.items() if name in WEBRTC_ONLY_CODECS})
    return session.text()


def codec_names(sdp: str, kind: str = "audio") -> list[str]:
    """The encoding names (lower case) of the first `kind` m= line, in order, without duplicates."""
    for m in parse(sdp).media:
        if m.kind == kind:
            seen: list[str] = []
            for name in m.codec_names().values():
                if name and name not in seen:
                    seen.append(name)
            return seen
    return []


def order_codecs(sdp: str, preferred: Iterable[str], kind: str = "audio") -> str:
    """Put the `kind` m= lines' payloads in the trunk's order (names, any case); others keep theirs after."""
    rank = {name.lower(): i for i, name in enumerate(preferred)}
    session = parse(sdp)
    for m in session.media:
        if m.kind != kind:
            continue
        names = m.codec_names()
        order = {pt: i for i, pt in enumerate(m.formats)}
        m.formats.sort(key=lambda pt: (rank.get(names[pt], len(rank)), order[pt]))
    return session.text()


def apply_video_policy(sdp: str, policy: VideoPolicy) -> str:
    """The browser's offer as the link's video policy allows: sendrecv leaves video alone,
    recvonly makes it receive-only, inactive disables each video m= line (port 0, as RFC 3264
    rejects a stream; the m= line stays so the answer keeps the offer's order)."""
    if policy == "sendrecv":
        return sdp
    session = parse(sdp)
    for m in session.media:
        if m.kind != "video":
            continue
        m.lines = [x for x in m.lines if not (x.startswith("a=") and x[2:] in DIRECTIONS)]
        if policy == "recvonly":
            m.lines.append("a=recvonly")
        else:
            m.port = "0"
            m.lines.append("a=inactive")
    return session.text()


MAX_MEDIA_LINES = 4  # PJSUA_MAX_CALL_MEDIA: the SIP engine takes no offer with more m= lines


def media_count(sdp: str) -> int:
    """How many m= lines (0 for text that is not SDP)."""
    try:
        return len(parse(sdp).media)
    except SdpError:
        return 0


ANSWER_TO_RECVONLY = {"sendrecv": "sendonly", "recvonly": "inactive", "sendonly": "sendonly", "inactive": "inactive"}


def answer_video_policy(answer: str, policy: VideoPolicy) -> str:
    """The answer the page gets, held to the video policy it offered under: to a recvonly offer
    the far end may only send (a sloppy sendrecv becomes sendonly), as RFC 3264 says; the page
    would refuse the answer otherwise."""
    if policy != "recvonly":
        return answer
    session = parse(answer)
    for m in session.media:
        if m.kind == "video" and m.port != "0":
            direction = ANSWER_TO_RECVONLY[m.direction]
            m.lines = [x for x in m.lines if not (x.startswith("a=") and x[2:] in DIRECTIONS)] + [f"a={direction}"]
    return session.text()


def complete_answer(answer: str, offer: str) -> str:
    """A far end's answer with fewer m= lines than the offer it answers gets the missing ones, rejected
    (port 0, RFC 3264 keeps one answer line per offered line): a trunk or SIPp scenario that answers
    audio only to an offer with video. Otherwise the relay's answer would leave the page's video line
    unanswered, and the page refuses the whole answer."""
    ours, theirs = parse(offer), parse(answer)
    if len(theirs.media) >= len(ours.media):
        return answer
    for m in ours.media[len(theirs.media) :]:
        theirs.media.append(Media(m.kind, "0", m.proto, m.formats[:1]))
    return theirs.text()


def page_answer(answer: str, policy: VideoPolicy) -> str:
    """The relay's answer as the page gets it: held to the video policy (answer_video_policy),
    without the SSRCs rtpengine announces. rtpengine (10.5) announces the SSRC and CNAME it
    learnt from the far end's RTP/RTCP, but a transcoded stream leaves it with an SSRC of its
    own: Chromium then binds the track to the announced SSRC, receives the real one on an
    unsignalled stream and plays silence. Without a=ssrc it takes whatever SSRC arrives."""
    answer = answer_video_policy(answer, policy)
    if "a=ssrc" not in answer:
        return answer
    session = parse(answer)
    for m in session.media:
        m.lines = [x for x in m.lines if not x.startswith(("a=ssrc:", "a=ssrc-group:"))]
    return session.text()


def has_media(sdp: str) -> bool:
    """An SDP with at least one m= line whose port is not 0."""
    try:
        return any(m.port != "0" for m in parse(sdp).media)
    except SdpError:
        return False


def splice_offer(pjsua_sdp: str, relay_sdp: str) -> str:
    """The offer pjsua sends: its own v=/o=/s= lines (it versions them on re-offers) and the
    relay's connection, timing and m= sections. pjsua made no media of its own (a call with no
    pjsua audio), so every m= line on the wire is rtpengine's."""
    ours, relay = parse(pjsua_sdp), parse(relay_sdp)
    keep = [x for x in ours.head if x[:2] in ("v=", "o=", "s=")]
    rest = [x for x in relay.head if x[:2] not in ("v=", "o=", "s=")]
    if not any(x.startswith("c=") for x in rest):
        # rtpengine writes c= into each m= section only; pjsua (2.17) wants a session-level one
        # in what it sends, or it refuses the INVITE (PJMEDIA_SDP_EMISSINGCONN).
        first = next((x for m in relay.media for x in m.lines if x.startswith("c=")), None)
        if first is not None:
            rest.insert(0, first)
    # pjsua asserts when its SDP holds more m= lines than it has media (and an answer must keep
    # the offer's count): as many lines as pjsua made, the relay's first, then refused ones.
    media = relay.media[: len(ours.media)]
    for extra in ours.media[len(media) :]:
        media.append(Media(extra.kind, "0", extra.proto, extra.formats[:1], ["a=inactive"]))
    return Session(head=keep + rest, media=media).text()


# ---- ng flags (rtpengine 10.5): what worked in the trial, in one place ----------------------------


def offer_flags(browser_codecs: Iterable[str], trunk_codecs: Iterable[str]) -> dict[str, Any]:
    """ng flags for the browser's offer on its way to the trunk (WebRTC -> plain RTP).

    Codecs: the trunk's shared with the browser pass through; the browser's others are masked
    (hidden from the trunk, still accepted from the browser). Only when they share no codec are
    the trunk's added for rtpengine to transcode (an Opus-only page to a PCMU-only trunk): offered
    beside a shared one, a trunk preferring it would choose transcoding over pass-through, and
    rtpengine sets up its transcoding machinery for the call either way."""
    browser = [c.lower() for c in browser_codecs]
    trunk = [c.lower() for c in trunk_codecs]
    flags: dict[str, Any] = {
        "transport-protocol": "RTP/AVP",
        "ICE": "remove",
        "DTLS": "off",
        "rtcp-mux": ["demux"],
        "replace": ["origin", "session-connection"],
    }
    if trunk:
        codec: dict[str, list[str]] = {}
        mask = [c for c in browser if c not in trunk and c not in ALWAYS_OFFERED and c not in WEBRTC_ONLY_CODECS]
        shares_one = any(c in browser for c in trunk)
        transcode = [] if shares_one else [c.upper() if c in ("pcmu", "pcma", "g722") else c for c in trunk]
        if mask:
            codec["mask"] = mask
        if transcode:
            codec["transcode"] = transcode
        if codec:
            flags["codec"] = codec
    return flags


def answer_flags() -> dict[str, Any]:
    """ng flags for the trunk's answer on its way to the browser (plain RTP -> WebRTC)."""
    return {
        "transport-protocol": "UDP/TLS/RTP/SAVPF",
        "ICE": "force",
        "DTLS": "passive",
        "rtcp-mux": ["require"],
    }


_CONNECTION = re.compile(r"^c=IN IP[46] (\S+)", re.MULTILINE)


def connection_address(sdp: str) -> str | None:
    """The first c= address (the session's, or the first media's)."""
    match = _CONNECTION.search(sdp.replace("\r\n", "\n"))
    return match.group(1) if match else None

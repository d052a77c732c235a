"""The SDP helpers of the relayed browser leg, as tables (pure; the fixture is a Chromium offer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guestgate.media import sdp

OFFER = (Path(__file__).parent / "data" / "chromium-offer.sdp").read_text()

PLAIN_WITH_WEBRTC_LEFTOVERS = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "a=group:BUNDLE 0\r\na=msid-semantic: WMS x\r\n"
    "m=audio 30000 RTP/AVP 0 63 126\r\n"
    "a=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=msid:x y\r\n"
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"
    "a=rtpmap:126 telephone-event/8000\r\na=rtcp-fb:0 transport-cc\r\na=ssrc:1 cname:c\r\n"
    "a=rtcp-xr:rcvr-rtt=all\r\na=rtcp-rsize\r\na=end-of-candidates\r\na=sendrecv\r\na=rtcp:30001\r\n"
)

STRIPPED = [
    ("extmap", "a=extmap:"),
    ("msid", "a=msid:"),
    ("msid-semantic", "a=msid-semantic"),
    ("ssrc", "a=ssrc:"),
    ("rtcp feedback", "a=rtcp-fb:"),
    ("bundle group", "a=group:BUNDLE"),
    ("mid", "a=mid:"),
    ("rtcp-xr", "a=rtcp-xr"),
    ("reduced-size rtcp", "a=rtcp-rsize"),
    ("end of candidates", "a=end-of-candidates"),
    ("red codec", "red/48000"),
    ("red payload's fmtp", "a=fmtp:63"),
]


@pytest.mark.parametrize(("case", "gone"), STRIPPED, ids=[s[0] for s in STRIPPED])
def test_strip_webrtc_removes_what_a_trunk_chokes_on(case: str, gone: str) -> None:
    assert gone in PLAIN_WITH_WEBRTC_LEFTOVERS
    assert gone not in sdp.strip_webrtc(PLAIN_WITH_WEBRTC_LEFTOVERS)


KEPT = [
    ("the codec", "a=rtpmap:0 PCMU/8000"),
    ("telephone events", "a=rtpmap:126 telephone-event/8000"),
    ("direction", "a=sendrecv"),
    ("rtcp port", "a=rtcp:30001"),
    ("connection", "c=IN IP4 127.0.0.1"),
    ("media line without the red payload", "m=audio 30000 RTP/AVP 0 126"),
]


@pytest.mark.parametrize(("case", "kept"), KEPT, ids=[k[0] for k in KEPT])
def test_strip_webrtc_keeps_what_the_call_needs(case: str, kept: str) -> None:
    assert kept in sdp.strip_webrtc(PLAIN_WITH_WEBRTC_LEFTOVERS).splitlines()


def test_codec_names_of_the_chromium_offer() -> None:
    assert sdp.codec_names(OFFER) == ["opus", "red", "g722", "pcmu", "pcma", "cn", "telephone-event"]
    assert sdp.codec_names(OFFER, "video") == ["vp8", "rtx", "h264"]


ORDERS = [
    ("trunk order wins", ["PCMA", "PCMU"], "m=audio 40123 UDP/TLS/RTP/SAVPF 8 0 111 63 9 13 110 126"),
    ("one codec first, the rest keep their order", ["G722"], "m=audio 40123 UDP/TLS/RTP/SAVPF 9 111 63 0 8 13 110 126"),
    ("no preference changes nothing", [], "m=audio 40123 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126"),
]


@pytest.mark.parametrize(("case", "order", "line"), ORDERS, ids=[o[0] for o in ORDERS])
def test_order_codecs(case: str, order: list[str], line: str) -> None:
    assert line in sdp.order_codecs(OFFER, order).splitlines()


FLAGS: list[tuple[str, list[str], list[str], dict[str, Any] | None]] = [
    (
        "shared codec: pass-through, the browser's others masked",
        ["opus", "pcmu", "telephone-event"],
        ["PCMU"],
        {"mask": ["opus"]},
    ),
    ("opus-only page to a PCMU-only trunk: transcoded", ["opus"], ["PCMU"], {"mask": ["opus"], "transcode": ["PCMU"]}),
    ("everything shared: nothing to do", ["pcmu", "pcma"], ["PCMA", "PCMU"], None),
    # The trunk prefers PCMA, which the page lacks: PCMU passes through rather than PCMA transcoded.
    ("one shared codec: no transcoding offered", ["pcmu", "telephone-event"], ["PCMA", "PCMU", "G722"], None),
    ("opus-only page to a trunk of three: all three transcoded", ["opus"], ["PCMA", "PCMU", "G722"],
     {"mask": ["opus"], "transcode": ["PCMA", "PCMU", "G722"]}),
    ("no trunk codec list: untouched", ["opus"], [], None),
    ("webrtc-only payloads are stripped later, not masked", ["opus", "red", "pcmu"], ["PCMU"], {"mask": ["opus"]}),
]


@pytest.mark.parametrize(("case", "browser", "trunk", "codec"), FLAGS, ids=[f[0] for f in FLAGS])
def test_offer_flags_codecs(case: str, browser: list[str], trunk: list[str], codec: dict[str, Any] | None) -> None:
    flags = sdp.offer_flags(browser, trunk)
    assert flags.get("codec") == codec
    assert flags["transport-protocol"] == "RTP/AVP" and flags["ICE"] == "remove" and flags["DTLS"] == "off"


def test_answer_flags_make_webrtc_for_the_browser() -> None:
    flags = sdp.answer_flags()
    assert flags["transport-protocol"] == "UDP/TLS/RTP/SAVPF" and flags["ICE"] == "force"
    assert flags["DTLS"] == "passive" and flags["rtcp-mux"] == ["require"]


POLICIES = [
    ("sendrecv leaves video alone", "sendrecv", "m=video 40123", "a=sendrecv"),
    ("recvonly: the visitor only watches", "recvonly", "m=video 40123", "a=recvonly"),
    ("inactive: video refused, the m= line kept in place", "inactive", "m=video 0", "a=inactive"),
]


@pytest.mark.parametrize(("case", "policy", "mline", "direction"), POLICIES, ids=[p[0] for p in POLICIES])
def test_video_policy(case: str, policy: sdp.VideoPolicy, mline: str, direction: str) -> None:
    session = sdp.parse(sdp.apply_video_policy(OFFER, policy))
    video = next(m for m in session.media if m.kind == "video")
    audio = next(m for m in session.media if m.kind == "audio")
    assert video.line().startswith(mline) and video.direction == direction[2:]
    assert audio.port == "40123" and audio.direction == "sendrecv"


def test_splice_keeps_pjsua_origin_and_takes_the_relay_media() -> None:
    pjsua = "v=0\r\no=- 3900000000 3900000001 IN IP4 10.0.0.5\r\ns=pjmedia\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    relay = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n"
    spliced = sdp.splice_offer(pjsua, relay).splitlines()
    assert spliced[:3] == ["v=0", "o=- 3900000000 3900000001 IN IP4 10.0.0.5", "s=pjmedia"]
    assert "c=IN IP4 192.0.2.7" in spliced and spliced[-1] == "m=audio 30000 RTP/AVP 0"
    assert sum(line.startswith("m=") for line in spliced) == 1


BAD = [("empty", ""), ("no v= line", "o=- 1 1 IN IP4 1.2.3.4\r\n"), ("short m= line", "v=0\r\nm=audio\r\n")]


@pytest.mark.parametrize(("case", "text"), BAD, ids=[b[0] for b in BAD])
def test_bad_sdp_is_refused(case: str, text: str) -> None:
    with pytest.raises(sdp.SdpError):
        sdp.parse(text)
    assert not sdp.has_media(text)


def test_has_media_and_connection() -> None:
    assert sdp.has_media(OFFER)
    assert sdp.connection_address(OFFER) == "127.0.0.1"
    assert not sdp.has_media("v=0\r\nm=audio 0 RTP/AVP 0\r\n")


SPLICE_COUNTS = [
    ("as many lines as pjsua made", 2, 2, ["30000", "30002"]),
    ("a re-offer with fewer lines: the relay's first", 1, 2, ["30000"]),
    ("a re-offer with more lines: the rest refused", 3, 2, ["30000", "30002", "0"]),
]


@pytest.mark.parametrize(("case", "ours", "relays", "ports"), SPLICE_COUNTS, ids=[c[0] for c in SPLICE_COUNTS])
def test_splice_keeps_pjsuas_media_count(case: str, ours: int, relays: int, ports: list[str]) -> None:
    pjsua = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nt=0 0\r\n" + "m=audio 4000 RTP/AVP 0\r\n" * ours
    relay = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" + "".join(
        f"m={kind} {30000 + 2 * i} RTP/AVP 0\r\n" for i, kind in enumerate(["audio", "video"][:relays])
    )
    assert [m.port for m in sdp.parse(sdp.splice_offer(pjsua, relay)).media] == ports


ANSWER_DIRECTIONS = [
    ("a sloppy sendrecv to a recvonly offer becomes sendonly", "recvonly", "sendrecv", "sendonly"),
    ("recvonly to a recvonly offer: nobody sends", "recvonly", "recvonly", "inactive"),
    ("sendrecv policy leaves the answer alone", "sendrecv", "sendrecv", "sendrecv"),
]


@pytest.mark.parametrize(
    ("case", "policy", "far", "page"), ANSWER_DIRECTIONS, ids=[a[0] for a in ANSWER_DIRECTIONS]
)
def test_answer_video_policy(case: str, policy: sdp.VideoPolicy, far: str, page: str) -> None:
    head = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\n"
    answer = head + f"m=video 3 RTP/AVP 96\r\na={far}\r\n"
    media = sdp.parse(sdp.answer_video_policy(answer, policy)).media
    assert media[1].direction == page and media[0].direction == "sendrecv"


ANSWERS = [
    # name, far end's m= lines, m= lines after completion
    ("audio only to audio and video: video rejected", ["m=audio 6000 RTP/AVP 0"],
     ["m=audio 6000 RTP/AVP 0", "m=video 0 RTP/AVP 96"]),
    ("a full answer stays as it is", ["m=audio 6000 RTP/AVP 0", "m=video 6002 RTP/AVP 96"],
     ["m=audio 6000 RTP/AVP 0", "m=video 6002 RTP/AVP 96"]),
]


@pytest.mark.parametrize(("name", "far", "completed"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_an_answer_missing_offered_lines_gets_them_rejected(name: str, far: list[str], completed: list[str]) -> None:
    head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    offer = head + "m=audio 30000 RTP/AVP 0 8\r\nm=video 30002 RTP/AVP 96 97\r\na=rtpmap:96 VP8/90000\r\n"
    answer = sdp.complete_answer(head + "\r\n".join(far) + "\r\n", offer)
    assert [x for x in answer.splitlines() if x.startswith("m=")] == completed


PAGE_ANSWERS = [
    # case, policy, far end's answer (video part), what the page's video part holds / lacks
    ("announced SSRCs go", "sendrecv", "a=ssrc:71205886 cname:1f43f349\r\na=sendrecv\r\n", "a=sendrecv", "a=ssrc"),
    ("SSRC groups go", "sendrecv", "a=ssrc-group:FID 1 2\r\na=ssrc:1 cname:x\r\n", "a=rtpmap", "a=ssrc"),
    ("the video policy still holds", "recvonly", "a=ssrc:5 cname:x\r\na=sendrecv\r\n", "a=sendonly", "a=ssrc"),
]


@pytest.mark.parametrize(("case", "policy", "far", "kept", "gone"), PAGE_ANSWERS, ids=[c[0] for c in PAGE_ANSWERS])
def test_page_answer(case: str, policy: sdp.VideoPolicy, far: str, kept: str, gone: str) -> None:
    audio = "m=audio 1 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=ssrc:42 cname:y\r\n"
    video_line = "m=video 3 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
    answer = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n" + audio + video_line
    page = sdp.parse(sdp.page_answer(answer + far, policy))
    video = "\r\n".join(page.media[1].lines)
    assert kept in video and gone not in video
    assert page.media[0].lines == ["a=rtpmap:111 opus/48000/2"]  # the audio's announced SSRC went too

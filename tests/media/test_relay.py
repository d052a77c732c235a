"""The ng client against a real rtpengine (Debian rtpengine-daemon, userspace) started with the
pods' command line: ping, offer/answer of a Chromium offer, query, list, delete back to 0."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from guestgate.media import sdp
from guestgate.media.daemon import RelaySettings, rtpengine_args
from guestgate.media.ng import NgClient, NgError, NgUnreachable
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.rtpengine import LocalRelay, start_relay

OFFER = (Path(__file__).parent / "data" / "chromium-offer.sdp").read_text()
TRUNK_ANSWER = (
    "v=0\r\no=- 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    "m=video 0 RTP/AVP 96\r\n"
)


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRelay]:
    running = start_relay(tmp_path_factory.mktemp("relay") / "rtpengine.log")
    try:
        yield running
    finally:
        running.stop()


ARGS = [
    ("passive DTLS (Chromium completes DTLS)", RelaySettings(), "--dtls-passive"),
    ("userspace only", RelaySettings(), "--table=-1"),
    ("ng on loopback only", RelaySettings(ng_port=2300), "--listen-ng=127.0.0.1:2300"),
    ("port range", RelaySettings(port_min=40000, port_max=40099), "--port-min=40000"),
    (
        "advertised address",
        RelaySettings(interface="10.1.2.3", advertised="203.0.113.9"),
        "--interface=10.1.2.3!203.0.113.9",
    ),
    ("sessions gone when deleted", RelaySettings(), "--delete-delay=0"),
]


@pytest.mark.parametrize(("case", "settings", "arg"), ARGS, ids=[a[0] for a in ARGS])
def test_command_line(case: str, settings: RelaySettings, arg: str) -> None:
    assert arg in rtpengine_args(settings)


BAD_SETTINGS = [
    ("range upside down", {"port_min": 40100, "port_max": 40000}),
    ("privileged ports", {"port_min": 80, "port_max": 200}),
    ("range too small", {"port_min": 40000, "port_max": 40001}),
    ("not an address", {"advertised": "call.example.com"}),
]


@pytest.mark.parametrize(("case", "fields"), BAD_SETTINGS, ids=[b[0] for b in BAD_SETTINGS])
def test_bad_settings_are_refused(case: str, fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RelaySettings(**fields)  # type: ignore[arg-type]


async def test_ping_offer_answer_query_list_delete(relay: LocalRelay) -> None:
    ng = await NgClient.connect("127.0.0.1", relay.settings.ng_port)
    try:
        assert await ng.ping()
        plain = await ng.offer("t1", "browser", OFFER, **sdp.offer_flags(sdp.codec_names(OFFER), ["PCMU"]))
        plain = sdp.strip_webrtc(sdp.order_codecs(plain, ["PCMU"]))
        audio = sdp.parse(plain).media[0]
        assert audio.proto == "RTP/AVP"
        assert relay.settings.port_min <= int(audio.port) <= relay.settings.port_max
        assert sdp.codec_names(plain)[0] == "pcmu" and "opus" not in sdp.codec_names(plain)
        assert not any(x.startswith(("a=ice-", "a=candidate", "a=fingerprint")) for x in plain.splitlines())
        answer = await ng.answer("t1", "browser", "trunk", TRUNK_ANSWER, **sdp.answer_flags())
        webrtc = sdp.parse(answer).media[0]
        assert webrtc.proto == "UDP/TLS/RTP/SAVPF"
        assert webrtc.attributes("setup") == ["passive"] and webrtc.attributes("fingerprint")
        assert webrtc.attributes("candidate") and "a=rtcp-mux" in webrtc.lines
        assert "t1" in await ng.list_calls()
        assert "totals" in await ng.query("t1")
        await ng.delete("t1")
        assert await ng.list_calls() == []
        with pytest.raises(NgError, match="Unknown call-id"):
            await ng.query("t1")
    finally:
        ng.close()


async def test_no_rtpengine_is_a_clear_error() -> None:
    ng = NgClient("127.0.0.1", free_port(), timeout=0.2, attempts=2)
    try:
        with pytest.raises(NgUnreachable, match="did not answer 'ping'"):
            await ng.ping()
    finally:
        ng.close()

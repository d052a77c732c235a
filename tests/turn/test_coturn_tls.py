"""TURN over TLS for real: Debian's coturn started by the image's entrypoint with the configuration
render/turn.py writes for `spec.turn.tlsSecretName`, the certificate and key read from the files a
TLS Secret's mount holds (tls.crt, tls.key: what cert-manager writes); a TURN client that trusts
that certificate (and nothing else) allocates over TLS and relays to a pod's media port.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from browser.chromium import Chromium
from browser.harness import MIC_HZ, write_tone_wav
from guestgate.render.turn import TurnEndpoint
from guestgate.web.ice import turn_credentials
from guestgate_dev.support.coturn import Coturn, start_coturn
from guestgate_dev.support.ports import free_port
from render.objects import cluster
from support.signal_server import self_signed
from support.turn_client import Echo, allocate

SERVER_IP, MEDIA_IP = "127.0.0.2", "127.0.0.3"
SECRET = b"the-clusters-turn-rest-secret"


@dataclass
class TlsTurn:
    server: Coturn
    tls_port: int
    cert: Path


@pytest.fixture(scope="module")
def tls_turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsTurn]:
    root = tmp_path_factory.mktemp("coturn-tls")
    self_signed(root / "tls", SERVER_IP)
    relay, tls_port = free_port(address=SERVER_IP), free_port(address=SERVER_IP)
    gc = cluster(turn={"port": free_port(address=SERVER_IP), "tlsSecretName": "turn-tls",
                       "relayPorts": {"min": relay, "max": min(relay + 20, 65535)}})
    # spec.turn.tlsPort is 5349 or 443; a test takes a free port instead (sessions run side by side).
    turn = gc.spec.turn.model_copy(update={"tls_port": tls_port})
    gc = gc.model_copy(update={"spec": gc.spec.model_copy(update={"turn": turn})})
    server = start_coturn(root, gc, SERVER_IP, [MEDIA_IP], SECRET, ["--allow-loopback-peers"], tls_dir=root / "tls")
    try:
        yield TlsTurn(server, tls_port, root / "tls" / "tls.crt")
    finally:
        server.stop()


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def _relay_over_tls(turn: TlsTurn, context: ssl.SSLContext) -> bytes:
    loop = asyncio.get_running_loop()
    echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=(MEDIA_IP, 0))
    try:
        relay, inbox = await allocate((SERVER_IP, turn.tls_port), SECRET, transport="tcp", ssl=context)
        try:
            relay.sendto(b"rtp over tls", echo.get_extra_info("sockname"))
            return await asyncio.wait_for(inbox.received.get(), 10)
        finally:
            relay.close()
    finally:
        echo.close()


def test_an_allocation_over_tls_relays_to_the_pods_media_port(tls_turn: TlsTurn) -> None:
    """The certificate is verified (the client trusts only this one and checks the address)."""
    assert asyncio.run(_relay_over_tls(tls_turn, trusting(tls_turn.cert))) == b"echo:rtp over tls"


def test_a_client_that_does_not_trust_the_certificate_gets_no_turn(tls_turn: TlsTurn) -> None:
    context = ssl.create_default_context()  # the system's authorities: not this self-signed one
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(_relay_over_tls(tls_turn, context))


def test_tls_below_1_2_is_off(tls_turn: TlsTurn) -> None:
    """no-tlsv1, no-tlsv1_1 in the rendered configuration: a TLS 1.1 client gets no session (coturn
    does not answer its hello), a TLS 1.2 one does. (Debian's coturn 4.6.1 speaks TLS 1.2, not 1.3.)"""

    def handshake(version: ssl.TLSVersion) -> str | None:
        context = ssl.create_default_context(cafile=str(tls_turn.cert))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # asking for TLS 1.1 is the point
            context.minimum_version = context.maximum_version = version
        context.set_ciphers("ALL:@SECLEVEL=0")  # the client would allow it: the server must say no
        try:
            with (socket.create_connection((SERVER_IP, tls_turn.tls_port), timeout=5) as raw,
                  context.wrap_socket(raw, server_hostname=SERVER_IP) as tls):
                return tls.version()
        except (ssl.SSLError, OSError):
            return None

    assert handshake(ssl.TLSVersion.TLSv1_1) is None
    assert handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


GATHER_RELAY = """(async () => {
  const pc = new RTCPeerConnection({iceServers: [{urls: %(url)s, username: %(username)s, credential: %(password)s}],
                                    iceTransportPolicy: 'relay'});
  pc.createDataChannel('gather');
  const found = [];
  const done = new Promise(resolve => {
    pc.onicecandidate = e => e.candidate ? found.push({type: e.candidate.type, protocol: e.candidate.relayProtocol,
                                                       address: e.candidate.address}) : resolve();
  });
  await pc.setLocalDescription(await pc.createOffer());
  await Promise.race([done, new Promise(resolve => setTimeout(resolve, 20000))]);
  pc.close();
  return found;
})()"""


@pytest.mark.parametrize("trusted", [True, False], ids=["certificate-accepted", "certificate-untrusted"])
def test_chromium_allocates_over_a_turns_url(tls_turn: TlsTurn, tmp_path: Path, trusted: bool) -> None:
    """Chromium given only the page's `turns:` URL (relay only) gets a relay candidate from coturn
    over TLS (relayProtocol "tls") when it accepts the certificate (self-signed here: told to,
    with --ignore-certificate-errors), and none when it does not: browsers verify a TURN server's
    certificate, so the Secret must hold one visitors' browsers trust (cert-manager's)."""

    async def scenario() -> list[dict[str, str]]:
        chromium = Chromium(write_tone_wav(tmp_path / "mic.wav", MIC_HZ), tmp_path,
                            flags=["--ignore-certificate-errors"] if trusted else [])
        await chromium.start()
        try:
            username, password = turn_credentials(SECRET, "team/sales-browser", time.time())
            url = TurnEndpoint(SERVER_IP, 0, 0, tls_turn.tls_port).urls()[-1]
            assert url.startswith("turns:")
            found: list[dict[str, str]] = await chromium.eval(GATHER_RELAY % {
                "url": json.dumps(url), "username": json.dumps(username), "password": json.dumps(password)}, 40)
            return found
        finally:
            await chromium.stop()

    relayed = {"type": "relay", "protocol": "tls", "address": SERVER_IP}
    candidates = asyncio.run(scenario())
    if trusted:
        assert relayed in candidates, candidates
    else:
        assert candidates == []

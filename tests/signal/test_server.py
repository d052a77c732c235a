"""`guestgate signal` as a process: admin API, keepalive and failover, health checks, metrics,
peer filtering, malformed SIP, and configuration reloads during a call."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from guestgate.api.siptrunk import PodHealth
from guestgate.config.schema import (
    AuthConfig,
    DestinationConfig,
    HealthCheckConfig,
    KeepaliveConfig,
    PeerConfig,
    TrunkProfile,
)
from guestgate.render.workload import SIGNAL_UID
from guestgate.signal.admin_client import AdminClient, AdminError
from guestgate_dev.support.signal import signal_command
from guestgate_dev.support.wait import wait_for
from support.scanner_netns import ScannerNamespace
from support.signal_helpers import SippFactory, free_port
from support.signal_server import TOKEN, SignalProcess, sip_exchange, sip_message, start_signal


def trunk(name: str, *peers: PeerConfig, keepalive: int = 0, media: int = 1, **extra: Any) -> TrunkProfile:
    return TrunkProfile(
        id=f"gg/{name}", namespace="gg", name=name, peers=peers,
        keepalive=KeepaliveConfig(interval_seconds=keepalive, failure_threshold=2),
        health_check=HealthCheckConfig(
            destinations=(DestinationConfig(name="local", number="1000"),
                          DestinationConfig(name="international", number="0044123456")),
            timeout_seconds=6, min_media_seconds=media,
        ),
        **extra,
    )


def peer(port: int, transport: str = "udp", host: str = "127.0.0.1") -> PeerConfig:
    return PeerConfig(host=host, port=port, transport=transport)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[SignalProcess] = []

    def start(*trunks: TrunkProfile, tls: bool = False) -> SignalProcess:
        server = start_signal(tmp_path / f"server{len(started)}", list(trunks), tls=tls)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_admin_api_needs_the_token_and_shows_trunks(server_factory: Any) -> None:
    server = server_factory(trunk("cucm", peer(free_port())))
    assert server.request("GET", "/v1/trunks", token=None)[0] == 401
    assert server.request("GET", "/v1/trunks", token="wrong-token-wrong-token")[0] == 401
    assert server.request("GET", "/healthz", token=None)[0] == 200
    assert server.request("GET", "/readyz", token=None)[0] == 200
    status, body = server.request("GET", "/v1/trunks")
    assert status == 200
    assert [t["trunk"] for t in body["trunks"]] == ["gg/cucm"]
    assert server.request("GET", "/v1/trunks/gg/cucm")[0] == 200
    assert server.request("GET", "/v1/trunks/gg/nope")[0] == 404
    assert server.request("GET", "/v1/trunks/gg/cucm/health-check")[0] == 404
    assert server.request("POST", "/v1/trunks/gg/nope/health-check", {})[0] == 404
    assert server.request("POST", "/v1/trunks/gg/cucm/health-check", {"destinations": ["mars"]})[0] == 400
    status, text = server.request("GET", "/metrics", token=None)
    assert status == 200
    families = ("guestgate_calls_total counter", "guestgate_call_setup_seconds histogram", "guestgate_trunk_up gauge",
                "guestgate_health_findings_total counter", "guestgate_config_reload_errors_total counter")
    for family in families:
        assert f"# TYPE {family}" in str(text), family
    assert "guestgate_config_reload_errors_total 0.0" in str(text)


def test_keepalive_up_down_and_failover(server_factory: Any, sipp: SippFactory) -> None:
    responder = sipp("options-responder", calls=1000)
    dead = free_port()
    server = server_factory(trunk("cucm", peer(dead), peer(responder.port), keepalive=1))

    def states() -> dict[str, Any] | None:
        body = server.request("GET", "/v1/trunks/gg/cucm")[1]
        peers = {p["peer"]: p["up"] for p in body["peers"]}
        return body if None not in peers.values() else None

    body = wait_for("both peers pinged", states, 10)
    assert body, server.logs()[-2000:]
    assert {p["peer"]: p["up"] for p in body["peers"]} == {f"127.0.0.1:{dead}": False, responder.peer: True}
    assert body["up"] is True
    assert body["activePeer"] == responder.peer  # failover past the dead first peer
    text = server.request("GET", "/metrics", token=None)[1]
    assert metric(text, "guestgate_trunk_up", trunk="gg/cucm", peer=responder.peer) == 1
    assert metric(text, "guestgate_trunk_up", trunk="gg/cucm", peer=f"127.0.0.1:{dead}") == 0


def test_health_check_through_the_admin_api(server_factory: Any, sipp: SippFactory) -> None:
    cube = sipp("cube-reliable-183", rtp_echo=True, calls=2)
    server = server_factory(trunk("cube", peer(cube.port)))
    status, result = server.request("POST", "/v1/trunks/gg/cube/health-check", {"trigger": "annotation"})
    assert status == 200, result
    assert result["outcome"] == "OK", result
    assert result["trigger"] == "annotation" and result["pod"] == "edge-0"
    health = PodHealth.model_validate(result["podHealth"])  # what the operator puts in status
    assert health.pod == "edge-0"
    assert [d.name for d in health.destinations] == ["local", "international"]
    assert all(d.outcome == "OK" for d in health.destinations)
    assert any("PRACK" in line for line in health.destinations[0].ladder)
    assert server.request("GET", "/v1/trunks/gg/cube/health-check")[1]["outcome"] == "OK"
    text = server.request("GET", "/metrics", token=None)[1]
    assert metric(text, "guestgate_calls_total", trunk="gg/cube", outcome="OK") == 2
    assert metric(text, "guestgate_health_findings_total", trunk="gg/cube", code="OK") == 2
    assert metric(text, "guestgate_call_setup_seconds_count", trunk="gg/cube") == 2


def test_health_check_names_the_failure(server_factory: Any, sipp: SippFactory) -> None:
    cucm = sipp("cucm-over-cube", rtp_echo=True)
    server = server_factory(trunk("cucm", peer(cucm.port), platform="cucm"))
    status, result = server.request("POST", "/v1/trunks/gg/cucm/health-check", {"destinations": ["international"]})
    assert status == 200, result
    assert result["outcome"] == "PRACK_MISSING_DOWNSTREAM"
    finding = PodHealth.model_validate(result["podHealth"]).destinations[0].findings[0]
    assert finding.code == "PRACK_MISSING_DOWNSTREAM"
    assert finding.cause is not None and finding.cause.value == 65 and finding.cause.misleading
    assert "PRACK" in finding.fix_callee
    text = server.request("GET", "/metrics", token=None)[1]
    assert metric(text, "guestgate_health_findings_total", trunk="gg/cucm", code="PRACK_MISSING_DOWNSTREAM") == 1


def test_a_call_that_cannot_be_placed_says_why(server_factory: Any) -> None:
    # A peer host name that does not resolve: nothing reaches the wire, so the error is the evidence.
    server = server_factory(trunk("named", peer(5060, host="cucm.invalid")))
    status, result = server.request("POST", "/v1/trunks/gg/named/health-check", {"destinations": ["local"]})
    assert status == 200, result
    assert result["outcome"] == "NOT_PLACED"
    (destination,) = PodHealth.model_validate(result["podHealth"]).destinations
    assert destination.outcome == "NOT_PLACED" and destination.error


MALFORMED = [
    b"INVITE sip:guestgate@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999",  # truncated
    b"INVITE sip:guestgate@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK1\r\n"
    b"Call-ID: cl@x\r\nCSeq: 1 INVITE\r\nContent-Length: 9999\r\n\r\nv=0\r\n",  # Content-Length too big
    b"OPTIONS sip:guestgate@127.0.0.1 SIP/2.0\r\nContent-Length: -999\r\n\r\n",  # negative length
    b"OPTIONS sip:guestgate@127.0.0.1 SIP/2.0\r\nX-Huge: " + b"a" * 60000 + b"\r\n\r\n",  # huge header
    bytes(range(256)) * 4,  # binary garbage
    b"\x00\x00\x00\x00\r\n\r\n",
    # RFC 4475 3.1.2.x style torture: bad version, overlarge CSeq, unterminated quotes, no headers
    b"INVITE sip:t.watson@example.org SIP/7.0\r\nVia: SIP/2.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n"
    b"Max-Forwards: 70\r\nCall-ID: badvers01@x\r\nCSeq: 8 INVITE\r\nContent-Length: 0\r\n\r\n",
    b"OPTIONS sip:user@example.com SIP/2.0\r\nVia: SIP/2.0/UDP host5.example.net;branch=z9hG4bK-39234-23523\r\n"
    b"Max-Forwards: 70\r\nCall-ID: scalar02@x\r\nCSeq: 36893488147419103232 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    b'INVITE sip:user@example.com SIP/2.0\r\nTo: "Mr. J. User <sip:j.user@example.com>\r\n'
    b"From: sip:caller@example.net;tag=93334\r\nMax-Forwards: 10\r\nCall-ID: quotbal.aksdj\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.53:5060;branch=z9hG4bKkdjuw\r\nCSeq: 0 INVITE\r\nContent-Length: 0\r\n\r\n",
    b"INVITE sip:user@example.com SIP/2.0\r\n\r\n",  # no mandatory headers
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKnope\r\nCSeq: 1 INVITE\r\n\r\n",  # stray
    b"\r\n\r\n\r\n\r\n",  # keepalive CRLFs
]


def test_malformed_sip_does_not_take_the_server_down(server_factory: Any) -> None:
    server = server_factory(trunk("cucm", peer(free_port())))
    port = server.sip_port
    for message in MALFORMED:
        sip_exchange(port, message, "udp", timeout=0.2)
        with contextlib.suppress(OSError):  # the server may close a connection on garbage: fine
            sip_exchange(port, message, "tcp", timeout=0.2)
    for _ in range(20):  # a burst of random datagrams
        sip_exchange(port, os.urandom(1400), "udp", timeout=0.0)
    assert server.alive(), server.logs()[-3000:]
    for transport in ("udp", "tcp"):
        reply = sip_exchange(port, sip_message("OPTIONS", port, 5999, transport.upper()), transport)
        assert reply and reply[-1].startswith(b"SIP/2.0 200"), (transport, reply, server.logs()[-2000:])
    assert server.request("GET", "/healthz", token=None)[0] == 200


def test_non_peers_get_nothing(server_factory: Any) -> None:
    """The trunk's peer is 127.0.0.2: requests from 127.0.0.1 are dropped in the kernel, before
    pjsua (which would answer an OPTIONS itself) sees them; nothing comes back, on any transport."""
    server = server_factory(trunk("cucm", peer(5060, host="127.0.0.2")))
    port = server.sip_port
    for method in ("OPTIONS", "INVITE", "REGISTER"):
        assert sip_exchange(port, sip_message(method, port, 5999), "udp", timeout=1.0) == []
    with pytest.raises(OSError):  # the SYN is dropped: the connection never opens
        sip_exchange(port, sip_message("OPTIONS", port, 5999, "TCP"), "tcp", timeout=1.0)
    assert server.alive(), server.logs()[-3000:]
    assert server.request("GET", "/v1/status")[1]["peerFilter"] == {"udp": "filtered", "tcp": "filtered"}
    # The same request from an address that became a peer is answered: the filter follows the config.
    server.write_trunks([trunk("cucm", peer(5060, host="127.0.0.2"), peer(5060, host="127.0.0.1"))])
    assert wait_for("an answer to OPTIONS",
                    lambda: sip_exchange(port, sip_message("OPTIONS", port, 5999), "udp", timeout=0.5), 10)
    reply = sip_exchange(port, sip_message("OPTIONS", port, 5999, "TCP"), "tcp")
    assert reply and reply[-1].startswith(b"SIP/2.0 200"), reply
    # A peer calling in is refused cleanly (GuestGate places calls), whatever it sends.
    reply = sip_exchange(port, sip_message("INVITE", port, 5999), "udp")
    assert reply and reply[-1].startswith(b"SIP/2.0 480"), reply
    bad_sdp = sip_message("INVITE", port, 5999, extra="Content-Type: application/sdp", body="v=0\r\nm=audio x\r\n")
    sip_exchange(port, bad_sdp, "udp", timeout=1.0)
    for method in ("BYE", "PRACK", "UPDATE", "INFO", "CANCEL"):  # outside any dialog
        sip_exchange(port, sip_message(method, port, 5999), "udp", timeout=0.3)
    time.sleep(1.0)  # a refusal that went wrong inside pjsua would abort the process by now
    assert server.alive(), server.logs()[-3000:]


@pytest.fixture
def scanner() -> Iterator[ScannerNamespace]:
    namespace = ScannerNamespace.create()
    try:
        yield namespace
    finally:
        namespace.delete()


def test_a_scanner_gets_nothing_while_the_peer_is_served(
    tmp_path: Path, sipp: SippFactory, scanner: ScannerNamespace
) -> None:
    """A scanner from another address (a network namespace of ours) gets no answer to OPTIONS,
    INVITE or a TCP connection, while the trunk's peer on 127.0.0.1 has its OPTIONS answered.
    Listing the scanner's address as a peer opens the door: the filter, not routing, is what kept
    it out."""
    responder = sipp("options-responder", calls=1000)
    server = start_signal(tmp_path / "server", [trunk("cucm", peer(responder.port), keepalive=1)], bind=scanner.host_ip)
    try:
        port = server.sip_port
        for method in ("OPTIONS", "INVITE"):
            assert scanner.exchange(method, port, "udp") == {"replies": [], "error": ""}
        tcp = scanner.exchange("OPTIONS", port, "tcp")
        assert tcp["replies"] == [] and "timed out" in str(tcp["error"]), tcp
        for transport in ("udp", "tcp"):  # the peer's own address is served meanwhile
            reply = sip_exchange(port, sip_message("OPTIONS", port, 5999, transport.upper()), transport,
                                 host=scanner.host_ip)
            assert reply and reply[-1].startswith(b"SIP/2.0 200"), (transport, reply)
        server.write_trunks([trunk("cucm", peer(responder.port), peer(5060, host=scanner.scanner_ip), keepalive=1)])
        assert wait_for("the scanner's answer",
                        lambda: scanner.exchange("OPTIONS", port, "udp", timeout=0.5)["replies"], 10)
        assert scanner.exchange("OPTIONS", port, "udp")["replies"][-1].startswith("SIP/2.0 200")  # type: ignore[index]
        assert server.alive(), server.logs()[-3000:]
    finally:
        server.stop()


def connection_burst(port: int, source: str, count: int, wait: float = 1.0) -> int:
    """count TCP connection attempts at once from source (non-blocking); how many connected."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setblocking(False)
            sock.bind((source, 0))
            sock.connect_ex(("127.0.0.1", port))
        time.sleep(wait)
        return sum(1 for sock in sockets if _connected(sock))
    finally:
        for sock in sockets:
            sock.close()


def _connected(sock: socket.socket) -> bool:
    """Whether a non-blocking connect completed (a pending or failed one has no peer)."""
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


def test_without_cap_net_admin_non_peers_are_steered_away_from_tcp_and_tls() -> None:
    """As a pod runs (uid 10001, no capabilities) the kernel filters UDP only; TCP and TLS
    connections from a non-peer (127.0.0.3) are steered to a listener that never accepts, so
    pjsua never sees them: no answer, and a burst of 300 connection attempts (which makes pjsua
    abort when it has to accept them: its I/O queue has 64 slots) leaves it running. The peer
    (127.0.0.1) is answered on both."""
    root = Path(tempfile.mkdtemp(prefix="gg-nonroot-"))
    root.chmod(0o755)  # uid 10001 reads the config; pytest's own tmp_path is root's alone
    server = start_signal(root, [trunk("cucm", peer(5060, "tcp"))], tls=True, uid=SIGNAL_UID)
    try:
        status = server.request("GET", "/v1/status")[1]
        assert status["peerFilter"]["udp"] == "filtered", status
        for listener in ("tcp", "tls"):
            assert status["peerFilter"][listener].startswith("steered: "), status
        port, tls_port = server.sip_port, server.cluster.sip.tls_port
        assert tls_port
        stranger = "127.0.0.3"
        with contextlib.suppress(OSError):  # the sink's one slot, or a SYN dropped: nothing either way
            assert sip_exchange(port, sip_message("OPTIONS", port, 5999, "TCP"), "tcp", 2.0, source=stranger) == []
        assert tls_options(tls_port, source=stranger) == b""
        assert sip_exchange(port, sip_message("OPTIONS", port, 5999), "udp", timeout=1.0, source=stranger) == []
        assert connection_burst(port, stranger, 300) <= 2  # at most the sink's queue
        assert connection_burst(tls_port, stranger, 300) <= 2
        reply = sip_exchange(port, sip_message("OPTIONS", port, 5999, "TCP"), "tcp")
        assert reply and reply[-1].startswith(b"SIP/2.0 200"), (reply, server.logs()[-2000:])
        assert tls_options(tls_port).startswith(b"SIP/2.0 200")
        assert server.alive(), server.logs()[-3000:]
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_reload_during_a_call_keeps_the_call(server_factory: Any, sipp: SippFactory) -> None:
    cube = sipp("cube-reliable-183", rtp_echo=True)
    first = trunk("cube", peer(cube.port), media=4)
    server = server_factory(first)
    result: dict[str, Any] = {}

    def check() -> None:
        result.update(server.request("POST", "/v1/trunks/gg/cube/health-check", {"destinations": ["local"]})[1])

    caller = threading.Thread(target=check)
    caller.start()
    time.sleep(1.5)  # the call is up now (answered within 0.3 s)
    digest = server.request("GET", "/v1/status")[1]["config"]["digest"]
    changed = trunk("cube", peer(cube.port), media=4, codecs=("PCMA", "PCMU"))
    server.write_trunks([changed, trunk("other", peer(free_port()))])
    assert wait_for("the new digest", lambda: server.request("GET", "/v1/status")[1]["config"]["digest"] != digest, 5)
    caller.join(20)
    assert not caller.is_alive()
    assert result["outcome"] == "OK", result
    ladder = result["podHealth"]["destinations"][0]["ladder"]
    bye = [line for line in ladder if "BYE" in line]
    assert bye and bye[0].split()[1] == "caller", ladder  # we hung up, after the media time
    assert float(bye[0].split()[0]) >= 4.0, ladder
    assert len(server.request("GET", "/v1/trunks")[1]["trunks"]) == 2

    (server.config_dir / "trunks.json").write_text("{ not json")
    status = wait_for("the config error", lambda: server.request("GET", "/v1/status")[1]["config"]["error"], 5)
    assert "trunks.json: not valid JSON" in status, status
    assert "guestgate_config_reload_errors_total 1.0" in str(server.request("GET", "/metrics", token=None)[1])
    assert len(server.request("GET", "/v1/trunks")[1]["trunks"]) == 2  # the last good one stays
    assert server.alive()


def test_bad_config_at_start_exits_2(tmp_path: Path) -> None:
    import subprocess

    from support.signal_helpers import guestgate_env

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "cluster.json").write_text('{"namespace": "gg"}')
    done = subprocess.run(
        signal_command(tmp_path / "config"), capture_output=True, text=True, timeout=30, env=guestgate_env(),
        check=False,
    )
    assert done.returncode == 2
    assert "cluster" in done.stderr and "Traceback" not in done.stderr


async def test_admin_client_as_the_operator_uses_it(server_factory: Any, sipp: SippFactory) -> None:
    busy = sipp("asterisk-486-busy")
    server = server_factory(trunk("pbx", peer(busy.port)))
    client = AdminClient(server.url(""), TOKEN)
    assert [t["trunk"] for t in await client.trunks()] == ["gg/pbx"]
    assert await client.last_health_check("gg/pbx") is None
    result = await client.health_check("gg/pbx", destinations=["local"], trigger="interval")
    health = PodHealth.model_validate(result["podHealth"])
    assert health.destinations[0].outcome == "BUSY"
    assert (await client.last_health_check("gg/pbx") or {})["trigger"] == "interval"
    with pytest.raises(AdminError) as refused:
        await AdminClient(server.url(""), "wrong-token-0123456789").trunks()
    assert refused.value.status == 401
    with pytest.raises(AdminError) as unknown:
        await client.health_check("gg/none")
    assert unknown.value.status == 404
    with pytest.raises(AdminError) as down:
        await AdminClient(f"http://127.0.0.1:{free_port(socket.SOCK_STREAM)}", TOKEN, timeout=2).trunks()
    assert down.value.status == 0


@pytest.mark.parametrize(("password", "outcome"), [("s3cret", "OK"), ("wrong", "AUTH_FAILED")])
def test_digest_credentials_from_the_secrets_dir(
    server_factory: Any, sipp: SippFactory, password: str, outcome: str
) -> None:
    pbx = sipp("asterisk-digest-auth", rtp_echo=True, keys={"username": "guestgate", "password": "s3cret"})
    with_auth = trunk("pbx", peer(pbx.port), auth=AuthConfig(credentials_key="gg.pbx", realm="asterisk"))
    server = server_factory(with_auth)
    creds = server.root / "secrets" / "credentials"
    creds.mkdir(parents=True)
    (creds / "gg.pbx.username").write_text("guestgate")
    (creds / "gg.pbx.password").write_text(password)
    # Credentials are read on (re)load: touch the config so the server picks them up.
    server.write_trunks([with_auth.model_copy(update={"platform": "asterisk"})])
    assert wait_for("the trunk error cleared", lambda: server.request("GET", "/v1/trunks/gg/pbx")[1]["error"] == "", 5)
    status, result = server.request("POST", "/v1/trunks/gg/pbx/health-check", {"destinations": ["local"]})
    assert status == 200, result
    assert result["outcome"] == outcome, result["podHealth"]


def tls_options(port: int, source: str = "127.0.0.1") -> bytes:
    """One OPTIONS over TLS from source; the reply, or b"" when the server closes unanswered."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pod's self-signed test certificate
    reply = b""
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as raw,
            context.wrap_socket(raw) as tls,
        ):
            tls.sendall(sip_message("OPTIONS", port, 5999, "TLS"))
            while b"\r\n\r\n" not in reply and len(reply) < 65536:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:  # never connected, no handshake, or closed under the request (ssl.SSLError too)
        pass
    return reply


def test_tls_listener_answers_options(server_factory: Any) -> None:
    server = server_factory(trunk("cucm", peer(free_port())), tls=True)
    reply = tls_options(server.cluster.sip.tls_port)
    assert reply.startswith(b"SIP/2.0 200"), reply


def test_health_check_fails_over_to_the_peer_that_answers(server_factory: Any, sipp: SippFactory) -> None:
    # -aa: SIPp answers the keepalive OPTIONS itself; each counts as a call, hence -m 1000
    cube = sipp("cube-reliable-183", rtp_echo=True, calls=1000, extra=("-aa",))
    dead = free_port()
    server = server_factory(trunk("cube", peer(dead), peer(cube.port), keepalive=1))
    assert wait_for("failover to the live peer",
                    lambda: server.request("GET", "/v1/trunks/gg/cube")[1]["activePeer"] == cube.peer
                    and server.request("GET", "/v1/trunks/gg/cube")[1]["peers"][0]["up"] is False, 10)
    status, result = server.request("POST", "/v1/trunks/gg/cube/health-check", {"destinations": ["local"]})
    assert status == 200 and result["outcome"] == "OK", result
    assert result["profileHash"] == server.request("GET", "/v1/trunks/gg/cube")[1]["profileHash"]


def test_sigterm_during_a_call_ends_cleanly(server_factory: Any, sipp: SippFactory) -> None:
    ringing = sipp("asterisk-ringing-no-answer")
    server = server_factory(trunk("pbx", peer(ringing.port)))
    def check() -> None:
        with contextlib.suppress(OSError):  # the server goes away under the request: expected
            server.request("POST", "/v1/trunks/gg/pbx/health-check", {"destinations": ["local"]}, timeout=15)

    caller = threading.Thread(target=check)
    caller.start()
    assert wait_for("the call logged", lambda: "call placed" in server.logs(), 5)
    server.process.terminate()
    assert server.process.wait(10) == 0, server.logs()[-3000:]
    caller.join(15)
    assert "Traceback" not in server.logs() and "Assertion" not in server.logs()


def test_a_pushed_configuration_is_served_at_once(server_factory: Any, sipp: SippFactory) -> None:
    from guestgate.config.schema import PublishedConfig, TrunksFile, files_digest

    cube = sipp("cube-reliable-183", rtp_echo=True, calls=1)
    server = server_factory(trunk("old", peer(free_port())))
    status, before = server.request("GET", "/v1/status")
    assert status == 200 and before["config"]["source"] == "disk" and before["ready"] is True
    # A trunk whose peer name does not resolve beside one that works.
    dead = trunk("dead", peer(5060, host="cucm-pub.invalid"))
    both = TrunksFile(trunks=(trunk("cube", peer(cube.port)), dead))
    files = PublishedConfig(cluster=server.cluster, trunks=both).files()
    status, answer = server.request("PUT", "/v1/config", {"files": files})
    assert status == 200, answer
    assert answer == {"digest": files_digest(files), "applied": True}
    status, after = server.request("GET", "/v1/status")
    assert after["config"] == {"digest": files_digest(files), "error": "", "source": "pushed"}
    assert [t["trunk"] for t in after["trunks"]] == ["gg/cube", "gg/dead"]  # no reload wait, no DNS wait
    assert server.request("PUT", "/v1/config", {"files": files})[1]["applied"] is False
    status, result = server.request("POST", "/v1/trunks/gg/cube/health-check", {"destinations": ["local"]})
    assert status == 200 and result["outcome"] == "OK", result
    status, refused = server.request("POST", "/v1/trunks/gg/dead/health-check", {"destinations": ["local"]})
    assert status == 200 and refused["outcome"] == "NOT_PLACED", refused
    assert "peer name cucm-pub.invalid" in refused["calls"][0]["error"], refused
    # Refused pushes change nothing and say why; only the operator's token may push.
    status, bad = server.request("PUT", "/v1/config", {"files": {**files, "trunks.json": "{"}})
    assert status == 400 and "trunks.json: not valid JSON" in bad["error"]
    assert server.request("PUT", "/v1/config", {"files": "nope"})[0] == 400
    assert server.request("PUT", "/v1/config", {"files": files}, token=None)[0] == 401
    assert server.request("GET", "/v1/status")[1]["config"]["digest"] == files_digest(files)
    # The mounted ConfigMap catching up with the push changes nothing.
    for name, text in files.items():
        (server.config_dir / name).write_text(text)
    time.sleep(1.5)  # three reload polls
    assert server.request("GET", "/v1/status")[1]["config"]["source"] == "pushed"
    # Only what changed, relative to the configuration in force; another base is refused with
    # what the pod serves (the operator then sends every file).
    only_cube = TrunksFile(trunks=(trunk("cube", peer(cube.port)),))
    one = PublishedConfig(cluster=server.cluster, trunks=only_cube).files()
    change = {"trunks.json": one["trunks.json"]}
    status, stale = server.request("PUT", "/v1/config", {"base": "0" * 16, "files": change})
    assert status == 409 and stale["digest"] == files_digest(files), stale
    status, answer = server.request(
        "PUT", "/v1/config", {"base": files_digest(files), "files": change, "removed": []}
    )
    assert status == 200 and answer == {"digest": files_digest(one), "applied": True}, answer
    assert [t["trunk"] for t in server.request("GET", "/v1/status")[1]["trunks"]] == ["gg/cube"]
    assert server.request("PUT", "/v1/config", {"base": 7, "files": {}})[0] == 400

"""Real coturn (Debian's), started by the image's entrypoint (images/turn/guestgate-turn) with the
configuration render/turn.py writes, on 127.0.0.2; a TURN client (aioice's) with credentials the
page would mint (web/ice.turn_credentials).

127.0.0.3 plays a signalling pod's media port (in the peers file), 127.0.0.4 another pod, 127.0.0.1
the API server and the node, 169.254.169.254 the cloud metadata service. coturn is started with
--allow-loopback-peers so that loopback addresses can stand in for the cluster's: what keeps them
out below is the rendered denied-peer-ip and the peers allow-list alone.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from aioice import stun
from aioice.turn import TurnTransport, create_turn_endpoint
from tests.render.objects import cluster

from guestgate.render import turn
from guestgate.web.ice import turn_credentials
from guestgate_dev.support.ports import free_port, tcp_listening, udp_bound

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = REPO / "images" / "turn" / "guestgate-turn"
SERVER_IP, MEDIA_IP, OTHER_POD_IP = "127.0.0.2", "127.0.0.3", "127.0.0.4"
SECRET = b"the-clusters-turn-rest-secret"
LINK = "team/sales"


@dataclass
class Coturn:
    port: int
    config_dir: Path
    log: Path

    def set_peers(self, ips: list[str]) -> None:
        """What the operator does when a signalling pod moves: rewrite the peers file."""
        target = self.config_dir / turn.PEERS_FILE
        staging = target.with_suffix(".new")
        staging.write_text(turn.peers_file(ips))
        staging.replace(target)  # atomically, as the kubelet swaps a ConfigMap's files


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    root = tmp_path_factory.mktemp("coturn")
    config_dir, secret_dir, run_dir = root / "config", root / "secret", root / "run"
    for folder in (config_dir, secret_dir):
        folder.mkdir()
    port = free_port(address=SERVER_IP)
    relay = free_port(address=SERVER_IP)
    gc = cluster(turn={"port": port, "relayPorts": {"min": relay, "max": min(relay + 40, 65535)},
                       "quotas": {"perUser": 3}})
    (config_dir / turn.CONF_FILE).write_text(turn.turnserver_conf(gc))
    (config_dir / turn.PEERS_FILE).write_text(turn.peers_file([MEDIA_IP]))
    (secret_dir / turn.SECRET_KEY).write_bytes(SECRET)
    log = root / "coturn.log"
    env = {
        **os.environ,
        "GUESTGATE_TURN_CONFIG": str(config_dir),
        "GUESTGATE_TURN_SECRET": str(secret_dir),
        "GUESTGATE_TURN_RUN": str(run_dir),
        "GUESTGATE_TURN_SYNC_SECONDS": "0.5",
        "RELAY_IP": SERVER_IP,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", str(ENTRYPOINT), f"--listening-ip={SERVER_IP}", "--allow-loopback-peers"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while not (udp_bound(port, SERVER_IP) and tcp_listening(port, SERVER_IP)):
            assert process.poll() is None, f"coturn exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"coturn did not listen:\n{log.read_text()}"
            time.sleep(0.1)
        yield Coturn(port, config_dir, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the entrypoint's session: coturn and the peers loop
        process.wait(timeout=10)


class Echo(asyncio.DatagramProtocol):
    """A media port: sends back what it gets."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"echo:" + data, addr)


class Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait(data)


_visits = itertools.count()


async def _allocate(server: Coturn, secret: bytes = SECRET, valid_for: int = 3600,
                    transport: str = "udp") -> tuple[TurnTransport, Inbox]:
    """An allocation with a visit's credentials (one link id per visit: the per-user quota
    counts allocations a username holds, and closed ones linger a moment)."""
    username, password = turn_credentials(secret, f"{LINK}-{next(_visits)}", time.time(), ttl=valid_for)
    return await create_turn_endpoint(Inbox, (SERVER_IP, server.port), username, password, transport=transport)


async def _bind(relay: TurnTransport, peer: tuple[str, int]) -> int | None:
    """ChannelBind to the peer (the permission a browser asks for): None if granted, else the
    STUN error code."""
    inner = relay._TurnTransport__inner_protocol  # type: ignore[attr-defined]
    try:
        await inner.channel_bind(0x4000 + peer[1] % 0x3000, peer)
    except stun.TransactionFailed as error:
        return int(error.response.error_code)
    return None


async def _echo_server(ip: str) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(ip, 0))
    return transport, int(transport.get_extra_info("sockname")[1])


def _refusal(coro_error: BaseException) -> int:
    assert isinstance(coro_error, stun.TransactionFailed), coro_error
    return int(coro_error.response.error_code)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_relay_to_the_pods_media_port_works(coturn: Coturn, transport: str) -> None:
    async def scenario() -> bytes:
        echo, port = await _echo_server(MEDIA_IP)
        relay, inbox = await _allocate(coturn, transport=transport)
        try:
            relay.sendto(b"rtp", (MEDIA_IP, port))
            return await asyncio.wait_for(inbox.received.get(), 10)
        finally:
            relay.close()
            echo.close()

    assert asyncio.run(scenario()) == b"echo:rtp"


@pytest.mark.parametrize(
    "peer",
    [(OTHER_POD_IP, 9), ("127.0.0.1", 6443), (SERVER_IP, 10250), ("169.254.169.254", 80), ("10.96.0.1", 443),
     ("192.168.1.1", 53), ("8.8.8.8", 53)],
    ids=["other-pod", "api-server", "the-node", "cloud-metadata", "service-ip", "private-lan", "internet"],
)
def test_relay_anywhere_else_is_refused(coturn: Coturn, peer: tuple[str, int]) -> None:
    async def scenario() -> int | None:
        relay, _ = await _allocate(coturn)
        try:
            return await _bind(relay, peer)
        finally:
            relay.close()

    assert asyncio.run(scenario()) == 403


def test_nothing_reaches_another_pod_even_without_asking_first(coturn: Coturn) -> None:
    """Data sent to a denied peer never arrives (the permission is refused, so nothing is relayed)."""

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        other, _ = await loop.create_datagram_endpoint(Inbox, local_addr=(OTHER_POD_IP, 0))
        got: Inbox = other.get_protocol()  # type: ignore[assignment]
        relay, _ = await _allocate(coturn)
        try:
            relay.sendto(b"probe", other.get_extra_info("sockname"))
            try:
                await asyncio.wait_for(got.received.get(), 2)
            except TimeoutError:
                return False
            return True
        finally:
            relay.close()
            other.close()

    assert asyncio.run(scenario()) is False


@pytest.mark.parametrize(
    ("secret", "valid_for"),
    [(SECRET, -60), (b"a-forged-secret", 3600)],
    ids=["expired", "forged"],
)
def test_bad_credentials_get_no_allocation(coturn: Coturn, secret: bytes, valid_for: int) -> None:
    async def scenario() -> BaseException | None:
        try:
            relay, _ = await _allocate(coturn, secret=secret, valid_for=valid_for)
        except Exception as error:  # the refusal is the point
            return error
        relay.close()
        return None

    error = asyncio.run(scenario())
    assert error is not None and _refusal(error) == 401


def test_a_pod_that_moves_is_allowed_without_a_restart(coturn: Coturn) -> None:
    """The peers file is the allow-list: a new pod address works within coturn's re-read (5 s),
    a removed one stops working."""

    async def bound(peer: tuple[str, int], want: int | None, within: float) -> int | None:
        deadline = time.monotonic() + within
        result: int | None = -1
        while time.monotonic() < deadline:
            relay, _ = await _allocate(coturn)
            try:
                result = await _bind(relay, peer)
            finally:
                relay.close()
            if result == want:
                return result
            await asyncio.sleep(0.5)
        return result

    try:
        coturn.set_peers([MEDIA_IP, OTHER_POD_IP])
        assert asyncio.run(bound((OTHER_POD_IP, 9), None, 20)) is None
        coturn.set_peers([MEDIA_IP])
        assert asyncio.run(bound((OTHER_POD_IP, 9), 403, 20)) == 403
    finally:
        coturn.set_peers([MEDIA_IP])


def test_quota_per_user(coturn: Coturn) -> None:
    """quotas.perUser: 3 allocations with one link's credentials, the fourth refused (486)."""

    async def scenario() -> BaseException | None:
        username, password = turn_credentials(SECRET, LINK + "-quota", time.time())
        held = []
        try:
            for _ in range(3):
                held.append(await create_turn_endpoint(Inbox, (SERVER_IP, coturn.port), username, password))
            try:
                extra = await create_turn_endpoint(Inbox, (SERVER_IP, coturn.port), username, password)
            except Exception as error:  # the refusal is the point
                return error
            extra[0].close()
            return None
        finally:
            for relay, _ in held:
                relay.close()

    error = asyncio.run(scenario())
    assert error is not None and _refusal(error) == 486


def test_the_shared_secret_never_reaches_argv(coturn: Coturn) -> None:
    found = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "turnserver" in found and SECRET.decode() not in found

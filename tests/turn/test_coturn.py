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
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aioice.turn import create_turn_endpoint
from prometheus_client.parser import text_string_to_metric_families

from guestgate.turn import peers
from guestgate.web.ice import turn_credentials
from guestgate_dev.support.coturn import Coturn, start_coturn
from guestgate_dev.support.ports import free_port
from render.objects import cluster
from support.turn_client import Echo, Inbox, allocate, allocation_refused, bind, bind_once, refusal

SERVER_IP, MEDIA_IP, OTHER_POD_IP = "127.0.0.2", "127.0.0.3", "127.0.0.4"
SECRET = b"the-clusters-turn-rest-secret"
LINK = "team/sales"


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    relay = free_port(address=SERVER_IP)
    gc = cluster(turn={"port": free_port(address=SERVER_IP), "quotas": {"perUser": 3},
                       "relayPorts": {"min": relay, "max": min(relay + 40, 65535)}})
    server = start_coturn(tmp_path_factory.mktemp("coturn"), gc, SERVER_IP, [MEDIA_IP], SECRET,
                          ["--allow-loopback-peers"])
    try:
        yield server
    finally:
        server.stop()


async def _echo_server(ip: str) -> tuple[asyncio.DatagramTransport, int]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Echo, local_addr=(ip, 0))
    return transport, int(transport.get_extra_info("sockname")[1])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_relay_to_the_pods_media_port_works(coturn: Coturn, transport: str) -> None:
    async def scenario() -> bytes:
        echo, port = await _echo_server(MEDIA_IP)
        relay, inbox = await allocate(coturn.address, SECRET, transport=transport)
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
        relay, _ = await allocate(coturn.address, SECRET)
        try:
            return await bind(relay, peer)
        finally:
            relay.close()

    assert asyncio.run(scenario()) == 403


def test_nothing_reaches_another_pod_even_without_asking_first(coturn: Coturn) -> None:
    """Data sent to a denied peer never arrives (the permission is refused, so nothing is relayed)."""

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        other, _ = await loop.create_datagram_endpoint(Inbox, local_addr=(OTHER_POD_IP, 0))
        got: Inbox = other.get_protocol()  # type: ignore[assignment]
        relay, _ = await allocate(coturn.address, SECRET)
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
    assert asyncio.run(allocation_refused(coturn.address, secret, valid_for)) == 401


def test_a_pod_that_moves_is_allowed_without_a_restart(coturn: Coturn) -> None:
    """The peers file is the allow-list: a new pod address works within coturn's re-read (5 s),
    a removed one stops working."""

    async def bound(peer: tuple[str, int], want: int | None, within: float) -> int | None:
        deadline = time.monotonic() + within
        result: int | None = -1
        while time.monotonic() < deadline:
            relay, _ = await allocate(coturn.address, SECRET)
            try:
                result = await bind(relay, peer)
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
                held.append(await create_turn_endpoint(Inbox, coturn.address, username, password))
            try:
                extra = await create_turn_endpoint(Inbox, coturn.address, username, password)
            except Exception as error:  # the refusal is the point
                return error
            extra[0].close()
            return None
        finally:
            for relay, _ in held:
                relay.close()

    error = asyncio.run(scenario())
    assert error is not None and refusal(error) == 486


def test_the_shared_secret_never_reaches_argv(coturn: Coturn) -> None:
    found = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert "turnserver" in found and SECRET.decode() not in found


def scrape(server: Coturn) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The TURN agent's /metrics: (sample name, labels) -> value."""
    with urllib.request.urlopen(server.admin_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def metric(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for_metric(server: Coturn, name: str, at_least: float, within: float = 20, **labels: str) -> float:
    deadline = time.monotonic() + within
    while (got := metric(scrape(server), name, **labels)) < at_least and time.monotonic() < deadline:
        time.sleep(0.3)
    return got


def test_the_metrics_show_a_relayed_allocation_and_the_refusals(coturn: Coturn) -> None:
    """coturn's own record (its log, through the agent) as guestgate_turn_*: the allocation while
    it is held, the bytes it relayed to the pod's media port once it ends, and each refusal."""
    before = scrape(coturn)
    relayed = metric(before, "guestgate_turn_traffic_bytes_total", leg="peer", direction="sent")

    async def held() -> float:
        echo, port = await _echo_server(MEDIA_IP)
        relay, inbox = await allocate(coturn.address, SECRET)
        try:
            for _ in range(5):
                relay.sendto(b"x" * 100, (MEDIA_IP, port))
                assert await asyncio.wait_for(inbox.received.get(), 10) == b"echo:" + b"x" * 100
            assert await bind(relay, (OTHER_POD_IP, 9)) == 403
            return await asyncio.to_thread(metric, scrape(coturn), "guestgate_turn_allocations")
        finally:
            relay.close()
            echo.close()

    assert asyncio.run(held()) >= 1
    assert asyncio.run(allocation_refused(coturn.address, b"a-forged-secret")) == 401
    created = metric(before, "guestgate_turn_allocations_created_total")
    assert wait_for_metric(coturn, "guestgate_turn_allocations_created_total", created + 1) >= created + 1
    # The traffic is reported when the allocation ends (and every 4096 packets before that).
    assert wait_for_metric(coturn, "guestgate_turn_traffic_bytes_total", relayed + 500,
                           leg="peer", direction="sent") >= relayed + 500
    after = scrape(coturn)
    for labels, more in ((dict(request="channel_bind", code="403", reason="forbidden_ip"), 1),
                         (dict(request="unknown", code="401", reason="unauthorized"), 1)):
        assert metric(after, "guestgate_turn_refused_total", **labels) >= metric(
            before, "guestgate_turn_refused_total", **labels) + more, labels
    assert metric(after, "guestgate_turn_allowed_peers") == 1


def push(server: Coturn, body: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.admin_url + "/v1/peers", data=json.dumps(body).encode(), method="PUT",
                                     headers={"Authorization": f"Bearer {token or server.admin_token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_pushed_allow_list_takes_over_from_the_configmap(coturn: Coturn) -> None:
    """The operator's push (a signalling pod moved) reaches coturn within seconds, while the
    ConfigMap's file still lists the old address (the kubelet would bring it a minute later)."""

    async def bound(peer: tuple[str, int], want: int | None, within: float) -> int | None:
        deadline = time.monotonic() + within
        result = await bind_once(coturn.address, SECRET, peer)
        while result != want and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            result = await bind_once(coturn.address, SECRET, peer)
        return result

    assert push(coturn, {"peers": [MEDIA_IP]}, token="wrong")[0] == 401
    assert push(coturn, {"peers": ["127.0.0.4; DROP TABLE allowed_peer_ip"]})[0] == 400
    assert push(coturn, ["127.0.0.4"])[0] == 400
    try:
        status, body = push(coturn, {"peers": [OTHER_POD_IP]})
        assert (status, body["source"], body["peers"]) == (200, "pushed", [OTHER_POD_IP])
        started = time.monotonic()
        assert asyncio.run(bound((OTHER_POD_IP, 9), None, 20)) is None
        assert asyncio.run(bound((MEDIA_IP, 9), 403, 20)) == 403  # the old address: no longer allowed
        print(f"pushed allow-list in force after {time.monotonic() - started:.1f} s")
    finally:  # back to the ConfigMap's file, as after a restart of the container
        (coturn.config_dir.parent / "run" / peers.PUSHED_FILE).unlink(missing_ok=True)
        assert asyncio.run(bound((MEDIA_IP, 9), None, 20)) is None

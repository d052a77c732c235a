"""The managed TURN server exposed as a NodePort Service, then on the node's own network
(`serviceType: HostNetwork`), on the real node. One GuestCluster (one signalling pod), switched
from one to the other the way a user would (`kubectl apply` of the changed spec). Each time:
TurnReady is True, status.turnAddress is the address visitors reach (the node's address and the
node port; the node's address and spec.turn.port), and a TURN client on the host allocates through
that address (UDP and TCP) and relays to the signalling pod: the TURN pod's agent counts the bytes
it relayed to the pod.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fixtures.operator import wait_for
from guestgate_dev.support.ports import free_port
from node.conftest import Node, pod_ready
from node.test_node_turn import AGENT_PEERS, turn_metrics, turn_ready
from support.turn_client import allocate, bind

pytestmark = [pytest.mark.cluster, pytest.mark.node]

NAMESPACE = "gg-turn-expose"
NAME = "expose"
SIGNAL_SELECTOR = f"app.kubernetes.io/name=guestgate-signal,app.kubernetes.io/instance={NAME}"
TURN_SELECTOR = f"app.kubernetes.io/name=guestgate-turn,app.kubernetes.io/instance={NAME}"
RELAYED = ("guestgate_turn_traffic_bytes_total", (("direction", "sent"), ("leg", "peer")))


@dataclass
class Exposed:
    signal_ip: str
    secret: bytes


def manifest(node: Node, **turn: Any) -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "spec": {"replicas": 1, "image": node.images["signal"].ref, "publicURL": "https://call.example.com",
                     "media": {"image": node.images["media"].ref},  # every pod's rtpengine sidecar
                     "turn": {"image": node.images["turn"].ref, "externalAddress": node.host_address, **turn}}}


@pytest.fixture(scope="module")
def exposed(node_cluster: Node, release: str) -> Iterator[Exposed]:
    kubectl = node_cluster.cluster.kubectl
    kubectl("create", "namespace", NAMESPACE, check=False)
    try:
        kubectl("apply", "-f", "-", input=json.dumps(manifest(node_cluster, serviceType="NodePort")))
        pods = wait_for("the signalling pod Ready", lambda: [
            p for p in node_cluster.pods(NAMESPACE, SIGNAL_SELECTOR) if pod_ready(p)], timeout=240)
        ip = pods[0]["status"]["podIP"]
        # The operator pushes the pod's address to the TURN pod once it sees the pod Ready (coturn
        # takes it within 5 s more).
        wait_for("the pod's address in the TURN pod's allow-list", lambda: allowed(node_cluster, ip), timeout=60,
                 interval=2)
        secret = node_cluster.kubectl_json("-n", NAMESPACE, "get", "secret", f"{NAME}-turn-secret")
        yield Exposed(ip, base64.b64decode(secret["data"]["sharedSecret"]))
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def allowed(node: Node, ip: str) -> bool:
    """`ip` in the allow-list the TURN pod's agent has in force, for 6 s (coturn's re-read)."""
    done = node.cluster.kubectl("-n", NAMESPACE, "exec", f"deploy/{NAME}-turn", "--", "/opt/guestgate/bin/python",
                                "-c", AGENT_PEERS, check=False)
    if done.returncode != 0 or ip not in json.loads(done.stdout)["peers"]:
        return False
    time.sleep(6)
    return True


def ready_at(node: Node, address: str) -> dict[str, Any] | None:
    """TurnReady True and status.turnAddress `address`, the TURN pod Ready."""
    status = node.kubectl_json("-n", NAMESPACE, "get", "guestcluster", NAME).get("status", {})
    ready = turn_ready(node, NAMESPACE, NAME)
    pods = [p for p in node.pods(NAMESPACE, TURN_SELECTOR) if pod_ready(p)]
    return ready if ready and status.get("turnAddress") == address and len(pods) == 1 else None


def relay_through(node: Node, udp: tuple[str, int], tcp: tuple[str, int], exposed: Exposed) -> None:
    """Allocations through `udp` and `tcp` (TURN over UDP, then over TCP) relay datagrams to the
    signalling pod: the TURN pod's agent counts what it sent on to the pod (reported when each
    allocation ends)."""
    before = turn_metrics(node, NAME, NAMESPACE).get(RELAYED, 0.0)

    async def scenario() -> None:
        for transport, server in (("udp", udp), ("tcp", tcp)):
            relay, _ = await allocate(server, exposed.secret, transport=transport)
            try:
                # A permission of its own for another port of the pod (the client's channel to the
                # port the datagrams go to is bound when the first one is sent).
                assert await bind(relay, (exposed.signal_ip, 40002)) is None, transport  # the pod: allowed
                assert await bind(relay, (node.host_address, 10250)) == 403, transport  # the node: not
                for _ in range(10):
                    relay.sendto(b"m" * 100, (exposed.signal_ip, 40000))
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
            finally:
                relay.close()

    asyncio.run(scenario())
    wait_for("the relayed bytes in the TURN pod's metrics", lambda: turn_metrics(
        node, NAME, NAMESPACE).get(RELAYED, 0.0) >= before + 1000 or None, timeout=60, interval=2)


def test_node_port(node_cluster: Node, exposed: Exposed) -> None:
    def node_port() -> int | None:
        service = node_cluster.kubectl_json("-n", NAMESPACE, "get", "service", f"{NAME}-turn")
        ports = {p["name"]: p.get("nodePort") for p in service["spec"]["ports"]}
        return ports["turn-udp"] if service["spec"]["type"] == "NodePort" and ports["turn-udp"] else None

    port = wait_for("the TURN Service's node port", node_port, timeout=60)
    address = f"{node_cluster.host_address}:{port}"
    ready = wait_for(f"TurnReady at {address}", lambda: ready_at(node_cluster, address), timeout=180)
    assert f"turn:{address}?transport=udp" in ready["message"]
    tcp = {p["name"]: p["nodePort"] for p in node_cluster.kubectl_json(
        "-n", NAMESPACE, "get", "service", f"{NAME}-turn")["spec"]["ports"]}["turn-tcp"]
    assert f"turn:{node_cluster.host_address}:{tcp}?transport=tcp" in ready["message"]
    relay_through(node_cluster, (node_cluster.host_address, port), (node_cluster.host_address, tcp), exposed)


def test_host_network(node_cluster: Node, exposed: Exposed) -> None:
    """The same cluster switched to the node's network: the pod listens on the node's addresses at
    spec.turn.port and relays from the node's address (relay ports below the ephemeral range)."""
    port, relay = free_port(), free_port()
    node_cluster.cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest(
        node_cluster, serviceType="HostNetwork", port=port, relayPorts={"min": relay, "max": relay + 50})))
    address = f"{node_cluster.host_address}:{port}"
    wait_for(f"TurnReady at {address}", lambda: ready_at(node_cluster, address), timeout=180)
    wait_for("the pod's address in the new TURN pod's allow-list", lambda: allowed(node_cluster, exposed.signal_ip),
             timeout=60, interval=2)
    pod = next(p for p in node_cluster.pods(NAMESPACE, TURN_SELECTOR) if pod_ready(p))
    assert pod["spec"]["hostNetwork"] is True and pod["status"]["podIP"] == node_cluster.host_address
    service = node_cluster.kubectl_json("-n", NAMESPACE, "get", "service", f"{NAME}-turn")
    assert service["spec"]["type"] == "ClusterIP"
    relay_through(node_cluster, (node_cluster.host_address, port), (node_cluster.host_address, port), exposed)

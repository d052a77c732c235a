"""The TURN edge on the real node.

- `helm install` + the examples: the cluster's TURN comes up Ready (its Service given a load
  balancer address, as a controller would) and `kubectl get gc` shows it.
- A GuestCluster of these tests, `edge` (one signalling pod, `iceTransportPolicy: relay`), and
  headless Chromium in a network namespace of the test's own whose only routes lead to the TURN
  Service's address and to the link pages' Service: no pod, no node address. The call reaches a
  pjsua2 phone with audio both ways, so it went through the TURN relay.
- The same browser without a way to the TURN server: the page says in plain words that the call
  could not reach the media server, and the SIP leg is hung up (the phone gets a BYE).
- A TURN client on the host, with the cluster's credentials, asking to relay to the API server,
  another pod, the node or the metadata address: refused; expired or forged credentials: refused.
- The TURN pod's agent counts all of it on its /metrics (guestgate_turn_*): the call's allocation
  and the audio it relayed, the refusals by reason.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from browser.chromium import Chromium
from browser.harness import ARTIFACTS, MIC_HZ, PHONE_HZ, write_tone_wav
from fixtures.operator import wait_for
from node.conftest import (
    CLUSTER,
    DEMO_NAMESPACE,
    EXAMPLES_TURN_ADDRESS,
    Node,
    give_load_balancer_address,
    pod_ready,
)
from node.test_node_browser_call import HostPhone, phone  # noqa: F401 - the phone fixture
from support.scanner_netns import ScannerNamespace
from support.turn_client import allocation_refused, bind_once

pytestmark = [pytest.mark.cluster, pytest.mark.node]

NAMESPACE = "gg-turn"
EDGE = "edge"
EDGE_TURN_ADDRESS = "10.250.0.17"
LINK = "turn-call"
EDGE_SELECTOR = f"app.kubernetes.io/name=guestgate-signal,app.kubernetes.io/instance={EDGE}"
# The allow-list the TURN pod's agent has in force, asked from inside the pod.
AGENT_PEERS = ("import json, urllib.request; got = json.load(urllib.request.urlopen('http://127.0.0.1:9641/v1/peers'));"
               " print(json.dumps({'source': got['source'], 'peers': got['peers']}))")


def _condition(node: Node, namespace: str, cluster: str, type_: str) -> dict[str, Any] | None:
    status = node.kubectl_json("-n", namespace, "get", "guestcluster", cluster).get("status", {})
    return next((c for c in status.get("conditions", []) if c["type"] == type_), None)


def turn_ready(node: Node, namespace: str, cluster: str) -> dict[str, Any] | None:
    found = _condition(node, namespace, cluster, "TurnReady")
    return found if found and found["status"] == "True" and found["reason"] == "Ready" else None


def test_examples_turn_comes_up_ready(node_cluster: Node, examples: list[dict[str, Any]]) -> None:
    ready = wait_for("the examples' TurnReady", lambda: turn_ready(node_cluster, DEMO_NAMESPACE, CLUSTER),
                     timeout=180)
    assert f"{EXAMPLES_TURN_ADDRESS}:3478" in ready["message"]
    table = node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "get", "gc", CLUSTER).stdout
    assert "TURN" in table.splitlines()[0] and f"{EXAMPLES_TURN_ADDRESS}:3478" in table
    turn_pods = f"app.kubernetes.io/name=guestgate-turn,app.kubernetes.io/instance={CLUSTER}"
    pod = node_cluster.pods(DEMO_NAMESPACE, turn_pods)
    assert pod and pod[0]["spec"]["securityContext"]["runAsUser"] == 10002


@dataclass
class Edge:
    web_ip: str  # ClusterIP of a Service in front of the pod's web port
    url: str
    origin: str
    signal_ip: str
    secret: bytes


@pytest.fixture(scope="module")
def edge(node_cluster: Node, release: str, phone: HostPhone) -> Iterator[Edge]:  # noqa: F811
    kubectl = node_cluster.cluster.kubectl
    kubectl("create", "namespace", NAMESPACE, check=False)
    web = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "edge-web", "namespace": NAMESPACE},
           "spec": {"selector": {"app.kubernetes.io/name": "guestgate-signal", "app.kubernetes.io/instance": EDGE},
                    "ports": [{"name": "web", "port": 8080, "targetPort": "web", "protocol": "TCP"}]}}
    kubectl("apply", "-f", "-", input=json.dumps(web))
    web_ip = node_cluster.kubectl_json("-n", NAMESPACE, "get", "service", "edge-web")["spec"]["clusterIP"]
    origin = f"http://{web_ip}:8080"
    def meta(name: str) -> dict[str, str]:
        return {"name": name, "namespace": NAMESPACE}

    objects = [
        {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster", "metadata": meta(EDGE),
         "spec": {"replicas": 1, "image": node_cluster.images["signal"].ref, "publicURL": origin,
                  "media": {"image": node_cluster.images["media"].ref},
                  "ice": {"iceTransportPolicy": "relay"},
                  "turn": {"image": node_cluster.images["turn"].ref, "externalAddress": EDGE_TURN_ADDRESS}}},
        {"apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk", "metadata": meta("phone"),
         "spec": {"clusterRef": EDGE, "platform": "generic", "keepalive": {"intervalSeconds": 0},
                  "peer": {"host": node_cluster.host_address, "port": phone.port, "transport": "udp"}}},
        {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink", "metadata": meta(LINK),
         "spec": {"clusterRef": EDGE, "trunkRef": "phone", "destination": "2001", "slug": LINK,
                  "displayName": "Call through the TURN edge"}},
    ]
    kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    try:
        give_load_balancer_address(node_cluster, NAMESPACE, f"{EDGE}-turn", EDGE_TURN_ADDRESS)
        wait_for("edge's TurnReady", lambda: turn_ready(node_cluster, NAMESPACE, EDGE), timeout=180)

        def signal_ip() -> str | None:
            pods = [p for p in node_cluster.pods(NAMESPACE, EDGE_SELECTOR) if pod_ready(p)]
            ice = json.loads(node_cluster.kubectl_json("-n", NAMESPACE, "get", "configmap", f"{EDGE}-config")[
                "data"]["cluster.json"])["ice"]
            # One pod, started with the TURN URLs (the address is in the spec: they are there from the start).
            if len(node_cluster.pods(NAMESPACE, EDGE_SELECTOR)) != 1 or not pods or not ice["turnURLs"]:
                return None
            hashes = {p["metadata"]["annotations"].get("guestgate.io/config-hash") for p in pods}
            sts = node_cluster.kubectl_json("-n", NAMESPACE, "get", "statefulset", f"{EDGE}-signal")
            wanted = sts["spec"]["template"]["metadata"]["annotations"]["guestgate.io/config-hash"]
            return str(pods[0]["status"]["podIP"]) if hashes == {wanted} else None

        ip = wait_for("edge's signalling pod Ready with the TURN URLs", signal_ip, timeout=240)

        agent_said: list[object] = []

        def peers_allowed() -> bool:
            done = kubectl("-n", NAMESPACE, "exec", f"deploy/{EDGE}-turn", "--", "/opt/guestgate/bin/python", "-c",
                           AGENT_PEERS, check=False)
            agent_said[:] = [json.loads(done.stdout) if done.returncode == 0 else done.stderr[-500:]]
            return agent_said[0] == {"source": "pushed", "peers": [ip]}

        # The operator pushes the allow-list to the TURN pod's agent (not waiting for the kubelet's
        # ConfigMap sync); coturn re-reads it within 5 s.
        try:
            wait_for("the TURN server's allow-list holding the pod, pushed", peers_allowed, timeout=60, interval=2)
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out}; the agent said {agent_said}, the pod is at {ip}") from None
        secret = node_cluster.kubectl_json("-n", NAMESPACE, "get", "secret", f"{EDGE}-turn-secret")
        yield Edge(web_ip, f"{origin}/call/{LINK}", origin, ip, base64.b64decode(secret["data"]["sharedSecret"]))
    finally:
        kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


@pytest.fixture(scope="module")
def visitor_net(edge: Edge) -> Iterator[ScannerNamespace]:
    """A namespace whose only ways out are to the TURN address and to the pages' Service."""
    ns = ScannerNamespace.create()
    try:
        for address in (EDGE_TURN_ADDRESS, edge.web_ip):
            subprocess.run(["ip", "-n", ns.name, "route", "add", f"{address}/32", "via", ns.host_ip],
                           check=True, capture_output=True, timeout=10)
        yield ns
    finally:
        ns.delete()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(visitor_net: ScannerNamespace, edge: Edge,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chromium]:
    artifacts = ARTIFACTS.parent / "node"
    artifacts.mkdir(parents=True, exist_ok=True)
    chromium = Chromium(
        write_tone_wav(Path(tmp_path_factory.mktemp("mic")) / "mic.wav", MIC_HZ), artifacts,
        prefix=["ip", "netns", "exec", visitor_net.name], debug_address=visitor_net.scanner_ip,
        # The page is plain http on a Service address: let it have the microphone as on https.
        flags=[f"--unsafely-treat-insecure-origin-as-secure={edge.origin}"],
    )
    await chromium.start()
    try:
        yield chromium
    finally:
        await chromium.stop()


def turn_metrics(node: Node, name: str = EDGE,
                 namespace: str = NAMESPACE) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The TURN pod's /metrics (its agent, asked from inside the pod): (name, labels) -> value."""
    fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9641/metrics').read().decode())"
    text = node.cluster.kubectl("-n", namespace, "exec", f"deploy/{name}-turn", "--",
                                "/opt/guestgate/bin/python", "-c", fetch).stdout
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _unreachable(address: str, visitor_net: ScannerNamespace) -> bool:
    done = subprocess.run(["ip", "netns", "exec", visitor_net.name, "ip", "route", "get", address],
                          capture_output=True, text=True, timeout=10)
    return done.returncode != 0


@pytest.mark.asyncio(loop_scope="module")
async def test_through_the_turn_edge_only_the_call_has_audio_both_ways(
    node_cluster: Node, edge: Edge, visitor_net: ScannerNamespace, browser: Chromium,
    phone: HostPhone,  # noqa: F811
) -> None:
    assert _unreachable(edge.signal_ip, visitor_net) and _unreachable(node_cluster.host_address, visitor_net)
    await browser.open(edge.url)
    settings = json.loads(await browser.eval("document.getElementById('gg-settings').textContent"))
    assert settings["iceTransportPolicy"] == "relay"
    assert f"turn:{EDGE_TURN_ADDRESS}:3478?transport=udp" in settings["iceServers"][0]["urls"]
    byes = len([e for e in phone.phone.events() if e["event"] == "bye-received"])
    margin = await browser.call_and_listen(PHONE_HZ, connect_timeout=60, screenshot="turn-call-connected")
    assert margin > 10, f"the page does not hear the phone: {PHONE_HZ} Hz only {margin:.0f} dB above 440 Hz"
    phone.phone.wait_event("bye-received", count=byes + 1)
    heard = phone.phone.wait_event("heard")[-1]
    assert heard["dominant"] == MIC_HZ and heard["rms"] > 0.01, heard

    # The TURN pod counted the call: its allocation, and the audio relayed both ways to the pod
    # (reported when the allocation ends, or every 4096 packets).
    def relayed() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        got = turn_metrics(node_cluster)
        both = all(got.get(("guestgate_turn_traffic_bytes_total", (("direction", d), ("leg", "peer"))), 0) > 10_000
                   for d in ("sent", "received"))
        return got if both else None

    samples = await asyncio.to_thread(wait_for, "the relayed audio in the TURN metrics", relayed, timeout=120,
                                      interval=3)
    assert samples[("guestgate_turn_allocations_created_total", ())] >= 1


@pytest.mark.asyncio(loop_scope="module")
async def test_without_the_turn_edge_the_page_says_so_and_the_sip_leg_ends(
    node_cluster: Node, edge: Edge, visitor_net: ScannerNamespace, browser: Chromium,
    phone: HostPhone,  # noqa: F811
) -> None:
    subprocess.run(["ip", "-n", visitor_net.name, "route", "del", f"{EDGE_TURN_ADDRESS}/32"], check=True,
                   capture_output=True, timeout=10)
    try:
        byes = len([e for e in phone.phone.events() if e["event"] == "bye-received"])
        await browser.open(edge.url)
        await browser.click("#call")
        await browser.wait_for("gg.state === 'ended'", 60)  # the page gives media 20 s after the answer
        await browser.screenshot("turn-call-media-unreachable")
        text = await browser.state_text()
        assert "could not reach our media server" in await browser.eval("document.body.innerText"), text
        phone.phone.wait_event("bye-received", count=byes + 1, timeout=30)
    finally:
        subprocess.run(["ip", "-n", visitor_net.name, "route", "add", f"{EDGE_TURN_ADDRESS}/32", "via",
                        visitor_net.host_ip], check=False, capture_output=True, timeout=10)


def test_turn_refuses_to_relay_into_the_cluster(node_cluster: Node, edge: Edge) -> None:
    server = (EDGE_TURN_ADDRESS, 3478)
    operators = node_cluster.pods("guestgate-system", "app.kubernetes.io/instance=guestgate")
    operator_pod = next(p["status"]["podIP"] for p in operators if p["status"].get("podIP"))
    apiserver = node_cluster.kubectl_json("get", "endpoints", "kubernetes", "-n", "default")["subsets"][0]
    api = (apiserver["addresses"][0]["ip"], apiserver["ports"][0]["port"])

    async def scenario() -> dict[str, int | None]:
        targets = {
            "api-server": api,
            "another-pod": (operator_pod, 8080),
            "the-node": (node_cluster.host_address, 10250),
            "cloud-metadata": ("169.254.169.254", 80),
            "the-signalling-pod": (edge.signal_ip, 40000),
        }
        return {name: await bind_once(server, edge.secret, peer) for name, peer in targets.items()}

    results = asyncio.run(scenario())
    assert results == {"api-server": 403, "another-pod": 403, "the-node": 403, "cloud-metadata": 403,
                       "the-signalling-pod": None}
    assert asyncio.run(allocation_refused(server, edge.secret, valid_for=-60)) == 401
    assert asyncio.run(allocation_refused(server, b"forged", valid_for=3600)) == 401
    refused = turn_metrics(node_cluster)
    assert refused[("guestgate_turn_refused_total", (("code", "403"), ("reason", "forbidden_ip"),
                                                     ("request", "channel_bind")))] >= 4
    assert refused[("guestgate_turn_refused_total", (("code", "401"), ("reason", "unauthorized"),
                                                     ("request", "unknown")))] >= 2

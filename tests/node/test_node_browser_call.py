"""Click to ring on the real node: headless Chromium on this machine opens a link through a NodePort
on 127.0.0.1, the signalling pod places the call over a SipTrunk to a pjsua2 phone on the host
address, and audio flows both ways (the page hears the phone's tone, the phone the microphone's)
through the rtpengine sidecar of the pod (spec.media, the image built from images/media)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from browser.chromium import Chromium
from browser.harness import ARTIFACTS, MIC_HZ, PHONE_HZ, Phone, env, write_tone_wav
from fixtures.operator import wait_for
from guestgate_dev.support.ports import free_port
from guestgate_dev.support.process import stop_process
from node.conftest import CLUSTER, DEMO_NAMESPACE, SIGNAL_SELECTOR, Node, pod_ready

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.asyncio(loop_scope="module")]

LINK = "node-call"


@dataclass
class HostPhone:
    phone: Phone
    port: int


@pytest.fixture(scope="module")
def phone(node_cluster: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostPhone]:
    """The pjsua2 demo phone on the host address (what the pods reach): rings, answers, plays
    PHONE_HZ and reports what it hears."""
    log = tmp_path_factory.mktemp("phone") / "phone.log"
    port = free_port(address=node_cluster.host_address)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "guestgate_dev.demo.phone", "--bind", node_cluster.host_address, "--port",
             str(port), "--tone-hz", str(PHONE_HZ), "--ring-ms", "1500", "--listen-hz", "440", str(MIC_HZ),
             str(PHONE_HZ), "--run-seconds", "600"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env())
    found = Phone(process, log)
    try:
        found.wait_event("ready", timeout=20)
        yield HostPhone(found, port)
    finally:
        stop_process(process)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.fixture(scope="module")
def link_url(node_cluster: Node, examples: list[dict[str, Any]], phone: HostPhone) -> Iterator[str]:
    """A trunk to the phone, a link to it, a NodePort (with client affinity: the page, the call
    and its event socket must reach the same pod) in front of the pods' web port."""
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "browser-local", "namespace": DEMO_NAMESPACE},
        "spec": {"type": "NodePort", "sessionAffinity": "ClientIP",
                 "selector": {"app.kubernetes.io/name": "guestgate-signal", "app.kubernetes.io/instance": CLUSTER},
                 "ports": [{"name": "web", "port": 8080, "targetPort": "web", "protocol": "TCP"}]},
    }
    node_cluster.cluster.kubectl("apply", "-f", "-", input=json.dumps(service))
    node_port = node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "service", "browser-local")[
        "spec"]["ports"][0]["nodePort"]
    origin = f"http://127.0.0.1:{node_port}"
    objects = [
        {"apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk",
         "metadata": {"name": "phone", "namespace": DEMO_NAMESPACE},
         "spec": {"clusterRef": CLUSTER, "platform": "generic",
                  "peer": {"host": node_cluster.host_address, "port": phone.port,
                           "transport": "udp"},
                  "keepalive": {"intervalSeconds": 0}}},
        {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink",
         "metadata": {"name": LINK, "namespace": DEMO_NAMESPACE},
         "spec": {"clusterRef": CLUSTER, "trunkRef": "phone", "destination": "2001", "slug": LINK,
                  "displayName": "Call the node's phone", "access": {"allowedOrigins": [origin]}}},
    ]
    node_cluster.cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                     "items": objects}))
    try:
        # Every pod serves the link (the kubelet refreshes the mounted ConfigMap, the pods reload).
        def every_pod_serves() -> bool:
            pods = [p for p in node_cluster.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR) if pod_ready(p)]
            with_relay = [p for p in pods if [c["name"] for c in p["spec"]["containers"]] == ["signal", "media"]]
            return len(pods) == len(with_relay) == 3 and all(
                _status(f"http://{p['status']['podIP']}:8080/call/{LINK}") == 200 for p in pods)
        wait_for("the link on every pod, each with its relay", every_pod_serves, timeout=240)
        yield f"{origin}/call/{LINK}"
    finally:
        node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "delete", "service", "browser-local", "--wait=false",
                                     check=False)
        node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "delete", "guestlink", LINK, "--wait=false", check=False)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Chromium]:
    artifacts = ARTIFACTS.parent / "node"
    artifacts.mkdir(parents=True, exist_ok=True)
    chromium = Chromium(write_tone_wav(Path(tmp_path_factory.mktemp("mic")) / "mic.wav", MIC_HZ), artifacts)
    await chromium.start()
    try:
        yield chromium
    finally:
        await chromium.stop()


async def test_a_click_in_chromium_reaches_the_phone_with_audio_both_ways(
    link_url: str, browser: Chromium, phone: HostPhone, node_cluster: Node
) -> None:
    await browser.open(link_url)
    assert await browser.eval("document.getElementById('name').innerText") == "Call the node's phone"
    margin = await browser.call_and_listen(PHONE_HZ, 440, screenshot="node-call-connected")
    assert margin > 10, f"the page does not hear the phone: {PHONE_HZ} Hz only {margin:.0f} dB above 440 Hz"
    phone.phone.wait_event("bye-received")
    heard = phone.phone.wait_event("heard")[-1]
    assert heard["dominant"] == MIC_HZ and heard["rms"] > 0.01, heard
    assert phone.phone.wait_event("incoming")[-1]["number"] == "2001"
    # The answer came from the pod's rtpengine (a relayed call's answer is an event) and every pod's
    # relay answers its ng ping (guestgate_media_relay_up on the pods' /metrics).
    assert await browser.eval("gg.events.some((e) => e.type === 'answer')")
    for pod in node_cluster.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR):
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:9090/metrics", timeout=5) as response:
            assert "guestgate_media_relay_up 1.0" in response.read().decode(), pod["metadata"]["name"]

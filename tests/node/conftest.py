"""One real node cluster per pytest session, the chart installed into it for real.

``node_cluster`` (session): a ``DevCluster`` with ``WITH_NODE`` (scheduler, containerd, kubelet,
kube-proxy), the operator and signalling images built from ``images/`` with buildah and
imported into the node. One node per machine (one bridge, one pod range), so the session holds
a machine-wide lock while it runs: a second session running node tests waits for the first.

``GUESTGATE_TEST_NODE_CLUSTER=<name>`` reuses (and starts if needed) a long-lived node cluster
instead, and leaves it running, for quick edit-test loops.

``release`` (session): ``helm install`` of charts/guestgate with the locally built operator image;
the operator runs as a pod. ``examples`` (session): the examples applied, the GuestCluster
pointed at the local signalling image, its trunks at a SIPp peer on this host's address (pods
reach the host, never anything outside), and 3 signalling pods Ready.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.operator import wait_for
from guestgate_dev.cluster import DevCluster
from guestgate_dev.cluster.components import WITH_NODE
from guestgate_dev.cluster.images import BuiltImage, load_images
from guestgate_dev.cluster.layout import CacheLayout
from guestgate_dev.cluster.node import NodePaths
from guestgate_dev.support.process import exclusive
from guestgate_dev.support.sipp import Sipp, start_sipp

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "tests" / "sip_scenarios"
RELEASE = "guestgate"
OPERATOR_NAMESPACE = "guestgate-system"
DEMO_NAMESPACE = "guestgate-demo"
CLUSTER = "contact-center"
SIGNAL_SELECTOR = f"app.kubernetes.io/name=guestgate-signal,app.kubernetes.io/instance={CLUSTER}"
# The address a load balancer (MetalLB, a cloud's) would give the examples' TURN Service: kube-proxy
# routes a Service's status.loadBalancer addresses, so writing one there is all a controller does.
EXAMPLES_TURN_ADDRESS = "10.250.0.16"


@dataclass
class Node:
    cluster: DevCluster
    images: dict[str, BuiltImage]

    @property
    def host_address(self) -> str:
        address: str = json.loads(self.cluster.layout.state_file.read_text())["advertiseAddress"]
        return address

    def kubectl_json(self, *args: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.cluster.kubectl(*args, "-o", "json").stdout)
        return out

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.kubectl_json("-n", namespace, "get", "pods", "-l", selector)["items"]
        return items


def pod_ready(pod: dict[str, Any]) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture(scope="session")
def node_cluster() -> Iterator[Node]:
    shared = os.environ.get("GUESTGATE_TEST_NODE_CLUSTER")
    cache = CacheLayout.default()
    with exclusive(cache.root / "clusters" / ".locks" / "node-tests.lock"):
        cluster = DevCluster(shared or "pytest-node", components=WITH_NODE)
        started = time.monotonic()
        cluster.start(fresh=not shared)
        log.info("node cluster up seconds=%.1f", time.monotonic() - started)
        try:
            started = time.monotonic()
            images = load_images(NodePaths(cluster.state_dir).containerd_socket, cache)
            log.info("images ready seconds=%.1f %s", time.monotonic() - started,
                     {name: image.ref for name, image in images.items()})
            yield Node(cluster, images)
        finally:
            if shared:
                pass
            elif os.environ.get("GUESTGATE_KEEP_CLUSTER"):
                cluster.stop()
            else:
                cluster.delete()


def helm_values(node: Node, **extra: Any) -> list[str]:
    repository, tag = node.images["operator"].ref.rsplit(":", 1)
    values = {"image.repository": repository, "image.pullPolicy": "Never", **extra}
    # --set-string: a content-hash tag can be all digits, which --set turns into a number.
    return ["--set-string", f"image.tag={tag}",
            *(arg for key, value in values.items() for arg in ("--set", f"{key}={value}"))]


@pytest.fixture(scope="session")
def release(node_cluster: Node) -> Iterator[str]:
    """The chart installed for real; the operator pod Ready."""
    node_cluster.cluster.helm("upgrade", "--install", RELEASE, str(REPO / "charts" / "guestgate"),
                              "-n", OPERATOR_NAMESPACE, "--create-namespace", "--wait", "--timeout", "180s",
                              *helm_values(node_cluster))
    wait_for("the operator pod Ready", lambda: [p for p in node_cluster.pods(
        OPERATOR_NAMESPACE, f"app.kubernetes.io/instance={RELEASE}") if pod_ready(p)], timeout=120)
    yield RELEASE


# --- a SIPp peer on the host address ------------------------------------------------------------


@pytest.fixture(scope="session")
def sipp_peer(node_cluster: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sipp]:
    """A CUBE-like peer (reliable 183 with SDP, answers, echoes RTP) on the host address."""
    # On the host address (what pods reach), answering 500 calls at most, stopping after 15 minutes.
    peer = start_sipp(tmp_path_factory.mktemp("sipp"), "cube-reliable-183", address=node_cluster.host_address,
                      calls=500, run_seconds=900, rtp_echo=True)
    try:
        yield peer
    finally:
        peer.stop()


def example_manifests(node: Node, peer: Sipp) -> list[dict[str, Any]]:
    """examples/ as `kubectl apply -k` would apply them, with what differs on this machine: the
    locally built signalling and media images and the trunk peers on the host's SIPp."""
    rendered = node.cluster.kubectl("kustomize", str(REPO / "examples")).stdout
    manifests = [doc for doc in yaml.safe_load_all(rendered) if doc]
    for manifest in manifests:
        if manifest["kind"] == "GuestCluster":
            manifest["spec"]["image"] = node.images["signal"].ref
            manifest["spec"].setdefault("media", {})["image"] = node.images["media"].ref  # the rtpengine sidecar
            # The address is in the spec from the start (no roll when the load balancer writes it).
            manifest["spec"].setdefault("turn", {}).update(image=node.images["turn"].ref,
                                                           externalAddress=EXAMPLES_TURN_ADDRESS)
        if manifest["kind"] == "SipTrunk":
            manifest["spec"]["peer"] = {"host": peer.address, "port": peer.port, "transport": "udp"}
            manifest["spec"].pop("fallbackPeers", None)
            manifest["spec"]["healthCheck"] = {
                "destinations": [{"name": "international", "number": "442079460000"}],
                "intervalSeconds": 0, "timeoutSeconds": 20, "minMediaSeconds": 1,
            }
    return manifests


@pytest.fixture(scope="session")
def examples(node_cluster: Node, release: str, sipp_peer: Sipp) -> Iterator[list[dict[str, Any]]]:
    manifests = example_manifests(node_cluster, sipp_peer)
    node_cluster.cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                                     "items": manifests}))
    give_load_balancer_address(node_cluster, DEMO_NAMESPACE, f"{CLUSTER}-turn", EXAMPLES_TURN_ADDRESS)
    wait_for("3 signalling pods Ready", lambda: len([p for p in node_cluster.pods(
        DEMO_NAMESPACE, SIGNAL_SELECTOR) if pod_ready(p)]) == 3 or None, timeout=240)
    yield manifests


def give_load_balancer_address(node: Node, namespace: str, service: str, address: str) -> None:
    """What a load balancer controller does: write the Service's external address into its status."""
    wait_for(f"the Service {service}", lambda: node.cluster.kubectl(
        "-n", namespace, "get", "service", service, check=False).returncode == 0 or None, timeout=60)
    node.cluster.kubectl("-n", namespace, "patch", "service", service, "--subresource=status", "--type=merge",
                         "-p", json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": address}]}}}))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "node: needs the real local node (root; one session at a time per machine)")


def annotate_health_check(node: Node, trunk: str, value: str) -> dict[str, Any]:
    """Ask the operator for a health check now; returns the SipTrunk's lastHealthCheck for it."""
    node.cluster.kubectl("-n", DEMO_NAMESPACE, "annotate", "siptrunk", trunk,
                         f"guestgate.io/health-check={value}", "--overwrite")

    def answered() -> dict[str, Any] | None:
        status = node.kubectl_json("-n", DEMO_NAMESPACE, "get", "siptrunk", trunk).get("status", {})
        last: dict[str, Any] | None = status.get("lastHealthCheck")
        return last if last and last.get("request") == value else None

    return wait_for(f"the health check {value} of {trunk}", answered, timeout=150)


@dataclass
class AdminAPI:
    """The signalling pods' admin API, reached from the host at each pod's IP."""

    node: Node
    token: str

    @classmethod
    def of(cls, node: Node) -> AdminAPI:
        secret = node.kubectl_json("-n", DEMO_NAMESPACE, "get", "secret", f"{CLUSTER}-admin-token")
        return cls(node, base64.b64decode(secret["data"]["token"]).decode())

    def ready_pods(self) -> dict[str, str]:
        """{pod name: pod IP} of the Ready signalling pods."""
        return {p["metadata"]["name"]: p["status"]["podIP"] for p in self.node.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR)
                if pod_ready(p)}

    def request(self, ip: str, method: str, path: str, body: dict[str, Any] | None = None,
                timeout: float = 60) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://{ip}:9090{path}", data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def call(self, ip: str, trunk: str = "cube") -> str:
        """One health-check call from the pod at ``ip`` through ``trunk``: its outcome, or the error."""
        try:
            result = self.request(ip, "POST", f"/v1/trunks/{DEMO_NAMESPACE}/{trunk}/health-check",
                                  {"trigger": "node-test"})
        except (OSError, ValueError) as error:
            return f"error: {error}"
        return str(result.get("outcome"))

    def digest(self, ip: str) -> str:
        return str(self.request(ip, "GET", "/v1/status", timeout=10)["config"]["digest"])

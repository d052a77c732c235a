"""End to end on the real node: the chart installs the operator as a pod, the examples bring up
3 signalling pods, Services answer on the host, health checks from every pod reach a SIPp peer on
the host and land in the SipTrunk status."""

from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

import pytest

from fixtures.operator import wait_for
from guestgate.config.schema import PeerConfig
from guestgate.signal.keepalive import options_request
from guestgate_dev.cluster.node import NODE_NAME
from node.conftest import (
    DEMO_NAMESPACE,
    OPERATOR_NAMESPACE,
    RELEASE,
    SIGNAL_SELECTOR,
    Node,
    annotate_health_check,
    pod_ready,
)

pytestmark = [pytest.mark.cluster, pytest.mark.node]


def test_the_node_is_ready_with_containerd_and_the_host_address(node_cluster: Node) -> None:
    node = node_cluster.kubectl_json("get", "node", NODE_NAME)
    ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    info = node["status"]["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("containerd://")
    assert info["kubeletVersion"] == "v1.34.4"
    addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
    assert addresses["InternalIP"] == node_cluster.host_address


def test_the_chart_runs_the_operator_as_a_pod_of_the_local_image(node_cluster: Node, release: str) -> None:
    (pod,) = [p for p in node_cluster.pods(OPERATOR_NAMESPACE, f"app.kubernetes.io/instance={RELEASE}")
              if pod_ready(p)]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == node_cluster.images["operator"].ref
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # Logs through the apiserver -> kubelet path (the kubelet client certificate, Node authz).
    wait_for("the operator's logs", lambda: node_cluster.cluster.kubectl(
        "-n", OPERATOR_NAMESPACE, "logs", pod["metadata"]["name"]).stdout.strip(), timeout=60)


def test_examples_bring_up_three_ready_signalling_pods(node_cluster: Node, examples: list[dict[str, Any]]) -> None:
    pods = [p for p in node_cluster.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR) if pod_ready(p)]
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {node_cluster.images["signal"].ref}
    status = wait_for("GuestCluster readyReplicas 3", lambda: (s := node_cluster.kubectl_json(
        "-n", DEMO_NAMESPACE, "get", "guestcluster", "contact-center").get("status", {})).get("readyReplicas") == 3
        and s, timeout=60)
    assert status["replicas"] == 3


def test_every_pod_answers_its_probes_from_the_host(node_cluster: Node, examples: list[dict[str, Any]]) -> None:
    # The host reaches pod IPs over the bridge, as the kubelet's probes do.
    for pod in node_cluster.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR):
        url = f"http://{pod['status']['podIP']}:9090/readyz"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200


def test_a_service_answers_on_its_cluster_ip_and_a_node_port_on_loopback(
    node_cluster: Node, examples: list[dict[str, Any]]
) -> None:
    """kube-proxy's rules: a ClusterIP and a NodePort on 127.0.0.1, both from the host."""
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "signal-admin-local", "namespace": DEMO_NAMESPACE},
        "spec": {"type": "NodePort", "selector": {"app.kubernetes.io/name": "guestgate-signal",
                                                  "app.kubernetes.io/instance": "contact-center"},
                 "ports": [{"name": "admin", "port": 9090, "targetPort": 9090, "protocol": "TCP"}]},
    }
    node_cluster.cluster.kubectl("apply", "-f", "-", input=json.dumps(service))
    try:
        applied = node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "service", "signal-admin-local")
        cluster_ip, node_port = applied["spec"]["clusterIP"], applied["spec"]["ports"][0]["nodePort"]
        for url in (f"http://{cluster_ip}:9090/healthz", f"http://127.0.0.1:{node_port}/healthz"):
            def answers(url: str = url) -> bool:
                try:
                    with urllib.request.urlopen(url, timeout=3) as response:
                        status: int = response.status
                        return status == 200
                except OSError:
                    return False
            wait_for(f"{url} to answer", answers, timeout=30)
    finally:
        node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "delete", "service", "signal-admin-local",
                                     "--wait=false", check=False)


def test_a_health_check_from_every_pod_lands_in_the_siptrunk_status(
    node_cluster: Node, examples: list[dict[str, Any]]
) -> None:
    last = annotate_health_check(node_cluster, "cube", "node-e2e-1")
    pods = {p["pod"]: p for p in last["pods"]}
    names = {p["metadata"]["name"] for p in node_cluster.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR)}
    assert set(pods) == names, f"every pod is a trunk endpoint and checks: {last}"
    for pod in pods.values():
        (destination,) = pod["destinations"]
        assert destination["outcome"] == "OK", destination
    assert last["outcome"] == "OK", last
    healthy = next(c for c in node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "siptrunk", "cube")
                   ["status"]["conditions"] if c["type"] == "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("True", "OK")


def _options_from(source: str, pod_ip: str, port: int, transport: str = "udp") -> bytes:
    """One OPTIONS from source (an address of this host) to a pod; its reply, or b"" when none
    came (dropped, or the connection closed unread)."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.settimeout(3.0)
        sock.bind((source, 0))
        if transport != "udp":
            try:
                sock.connect((pod_ip, port))
            except TimeoutError:  # the SYN was dropped
                return b""
        local = sock.getsockname()
        target = PeerConfig(host=pod_ip, port=port, transport=transport)
        _, request = options_request(target, local[0], local[1], transport, "scanner")
        try:
            if transport == "udp":
                sock.sendto(request, (pod_ip, port))
                return sock.recv(65535)
            sock.sendall(request)
            reply = b""
            while b"\r\n\r\n" not in reply:
                chunk = sock.recv(65535)
                if not chunk:
                    break
                reply += chunk
            return reply
        except (TimeoutError, ConnectionResetError):
            return b""


def test_a_pod_answers_its_trunk_peer_and_nobody_else(node_cluster: Node, examples: list[dict[str, Any]]) -> None:
    """SIP from the trunk's peer (SIPp on the host address) is answered, over UDP and TCP; the
    same OPTIONS from the bridge's gateway address (not a peer: what a scanner is) gets nothing:
    over UDP the pod's own socket filter drops it, over TCP (a non-root pod may not filter TCP
    sockets on this kernel) its connection is steered to a listener that never accepts. The
    bridge CNI enforces no NetworkPolicy: this is the pod's doing."""
    for pod in node_cluster.pods(DEMO_NAMESPACE, SIGNAL_SELECTOR):
        pod_ip = pod["status"]["podIP"]
        for transport in ("udp", "tcp"):
            reply = _options_from(node_cluster.host_address, pod_ip, 5060, transport)
            assert reply.startswith(b"SIP/2.0 200"), (pod_ip, transport, reply)
            # Source 0.0.0.0: the kernel picks the bridge's address towards the pod.
            assert _options_from("0.0.0.0", pod_ip, 5060, transport) == b"", (pod_ip, transport)

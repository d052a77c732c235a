"""The managed TURN edge through the operator: children, the load balancer address becoming the
page's TURN URLs and `kubectl get gc`'s TURN column, TurnReady, and switching it off."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fixtures.operator import Kubectl, wait_for
from guestgate.render import names
from guestgate_dev.support.coturn import Coturn, start_coturn
from guestgate_dev.support.ports import free_port
from render.objects import cluster as model_cluster
from support.turn_client import bind_once

pytestmark = pytest.mark.cluster
TURN_IP = "127.0.0.2"
SECRET = b"the-local-coturn-secret"


def cluster(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster", "metadata": {"name": "gc"},
            "spec": {"publicURL": "https://call.example.com", **spec}}


def _ice(kube: Kubectl) -> dict[str, Any]:
    config_map = kube.get("configmap", "gc-config") or {}
    ice: dict[str, Any] = json.loads(config_map.get("data", {}).get("cluster.json", "{}")).get("ice", {})
    return ice


def test_turn_comes_with_the_cluster_and_its_address_reaches_the_page(kube: Kubectl) -> None:
    kube.apply(cluster(ice={"iceTransportPolicy": "relay"}))
    deployment = wait_for("the TURN Deployment", lambda: kube.get("deployment", "gc-turn"))
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    secret = wait_for("the generated shared secret", lambda: kube.get("secret", "gc-turn-secret"))
    assert secret["data"]["sharedSecret"]
    service = wait_for("the TURN Service", lambda: kube.get("service", "gc-turn"))
    assert service["spec"]["type"] == "LoadBalancer"
    policy = wait_for("the TURN NetworkPolicy", lambda: kube.get("networkpolicy", "gc-turn"))
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    config = wait_for("the TURN ConfigMap", lambda: kube.get("configmap", "gc-turn"))
    assert "denied-peer-ip=0.0.0.0-255.255.255.255" in config["data"]["turnserver.conf"]
    assert "static-auth-secret" not in config["data"]["turnserver.conf"]

    pending = wait_for("TurnReady", lambda: kube.condition("guestcluster", "gc", "TurnReady"))
    assert (pending["status"], pending["reason"]) == ("False", "NoExternalAddress")
    assert _ice(kube)["turnURLs"] == [] and _ice(kube)["turnSecret"] is True
    assert _ice(kube)["iceTransportPolicy"] == "relay"

    # No load balancer controller here: write the address the way one would.
    kube("patch", "service", "gc-turn", "--subresource=status", "--type=merge",
         "-p", json.dumps({"status": {"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}}}))
    wait_for("the TURN address in the status", lambda: kube.status("guestcluster", "gc").get("turnAddress")
             == "198.51.100.7:3478" or None)
    assert _ice(kube)["turnURLs"] == ["turn:198.51.100.7:3478?transport=udp", "turn:198.51.100.7:3478?transport=tcp"]
    not_ready = kube.condition("guestcluster", "gc", "TurnReady") or {}
    assert (not_ready["status"], not_ready["reason"]) == ("False", "NotReady")  # no node runs the pod here
    assert "198.51.100.7:3478" in kube("get", "gc", "gc").stdout  # the TURN column

    kube.apply(cluster(turn={"enabled": False}))
    wait_for("the TURN children gone", lambda: all(
        kube.get(kind, "gc-turn") is None for kind in ("deployment", "service", "networkpolicy", "configmap")) or None)
    off = wait_for("TurnReady off", lambda: (c := kube.condition("guestcluster", "gc", "TurnReady")) and
                   c["reason"] == "NotManaged" and c)
    assert off["status"] == "True"
    assert wait_for("no TURN URLs", lambda: _ice(kube)["turnURLs"] == [] or None)


def _fake_pod(kube: Kubectl, name: str, labels: dict[str, str], ip: str, admin_port: int | None = None) -> None:
    """A pod as the API server would show it running at `ip` (no node here: the test writes the
    status a kubelet would)."""
    container: dict[str, Any] = {"name": "c", "image": "example.invalid/none"}
    if admin_port is not None:
        container["ports"] = [{"name": "admin", "containerPort": admin_port, "protocol": "TCP"}]
    kube.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                "spec": {"containers": [container]}})
    _move(kube, name, ip)


def _move(kube: Kubectl, name: str, ip: str) -> None:
    kube("patch", "pod", name, "--subresource=status", "--type=merge",
         "-p", json.dumps({"status": {"podIP": ip, "podIPs": [{"ip": ip}]}}))


def _turn_pod_and_signalling_pod(kube: Kubectl, server: Coturn, signal_pod: str) -> None:
    """The operator's view of a cluster with a TURN pod (the real coturn and agent `server`) and a
    signalling pod at 127.0.0.3, then the GuestCluster."""
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gc-turn-admin"},
                "stringData": {"token": server.admin_token}})
    _fake_pod(kube, signal_pod, names.selector_labels("gc"), "127.0.0.3")
    _fake_pod(kube, "gc-turn-local", names.turn_selector_labels("gc"), TURN_IP,
              admin_port=int(server.admin_url.rsplit(":", 1)[1]))
    kube.apply(cluster())


def _served(server: Coturn) -> dict[str, Any]:
    with urllib.request.urlopen(server.admin_url + "/v1/peers", timeout=5) as response:
        got: dict[str, Any] = json.loads(response.read())
    return got


def _pushed(server: Coturn) -> dict[str, Any] | None:
    got = _served(server)
    return got if got["source"] == "pushed" else None


def test_a_moved_signalling_pod_reaches_coturn_within_seconds(kube: Kubectl, tmp_path: Path) -> None:
    """The operator pushes the TURN allow-list to the TURN pods' agents (a real coturn and its
    agent here, on 127.0.0.2): a signalling pod's new address is relayed to within seconds, not at
    the kubelet's next ConfigMap sync, and its old one no longer is."""
    server = start_coturn(tmp_path, model_cluster(turn={"port": free_port(address=TURN_IP)}), TURN_IP, [], SECRET,
                          ["--allow-loopback-peers"])
    try:
        _turn_pod_and_signalling_pod(kube, server, "gc-signal-moving")
        assert wait_for("the pushed allow-list", lambda: _pushed(server), timeout=60)["peers"] == ["127.0.0.3"]
        assert wait_for("relaying to the pod", lambda: asyncio.run(
            bind_once(server.address, SECRET, ("127.0.0.3", 9))) is None or None, timeout=30)

        _move(kube, "gc-signal-moving", "127.0.0.5")
        kube("annotate", "guestcluster", "gc", "test/moved=1")  # what the StatefulSet's status change does
        started = time.monotonic()
        wait_for("relaying to the pod's new address", lambda: asyncio.run(
            bind_once(server.address, SECRET, ("127.0.0.5", 9))) is None or None, timeout=30)
        print(f"a moved pod's address relayed to after {time.monotonic() - started:.1f} s")
        assert asyncio.run(bind_once(server.address, SECRET, ("127.0.0.3", 9))) == 403
        # The ConfigMap has it too (what a restarted TURN pod starts from).
        assert (kube.get("configmap", "gc-turn") or {})["data"]["peers"] == "127.0.0.5\n"
    finally:
        server.stop()


def test_a_turn_pod_that_started_with_the_right_list_is_pushed_to_as_well(kube: Kubectl, tmp_path: Path) -> None:
    """A TURN pod that started after the ConfigMap had the signalling pods' addresses (seen on the
    node: the TURN pod was the slower one to start) serves that file's list, the same as the
    operator's: it is pushed the list all the same, so every TURN pod follows the operator and not
    the kubelet's late copies."""
    server = start_coturn(tmp_path, model_cluster(turn={"port": free_port(address=TURN_IP)}), TURN_IP,
                          ["127.0.0.3"], SECRET, ["--allow-loopback-peers"])
    try:
        assert _served(server)["source"] == "config"
        _turn_pod_and_signalling_pod(kube, server, "gc-signal-0")
        assert wait_for("the pushed allow-list", lambda: _pushed(server), timeout=60)["peers"] == ["127.0.0.3"]
    finally:
        server.stop()


def test_the_service_type_can_be_switched_on_a_live_cluster(kube: Kubectl) -> None:
    """Each switch is applied (the Deployment's strategy too: the API server refuses a rolling
    update's numbers beside Recreate, and they stayed when Kubernetes had defaulted them) and the
    TURN address follows."""
    expected = {"NodePort": ("NodePort", "RollingUpdate", None), "HostNetwork": ("ClusterIP", "Recreate", True),
                "LoadBalancer": ("LoadBalancer", "RollingUpdate", None)}
    for service_type in ("NodePort", "HostNetwork", "LoadBalancer"):
        turn = {"serviceType": service_type, "port": 3479 if service_type == "HostNetwork" else 3478}
        if service_type != "LoadBalancer":
            turn["externalAddress"] = "192.0.2.9"
        kube.apply(cluster(turn=turn))

        def switched(service_type: str = service_type) -> tuple[str, str, bool | None] | None:
            service, deployment = kube.get("service", "gc-turn") or {}, kube.get("deployment", "gc-turn") or {}
            got = (service.get("spec", {}).get("type"), deployment.get("spec", {}).get("strategy", {}).get("type"),
                   deployment.get("spec", {}).get("template", {}).get("spec", {}).get("hostNetwork"))
            return got if got == expected[service_type] else None

        wait_for(f"the TURN Service and Deployment as {service_type}", switched, timeout=60)
        address = {"HostNetwork": "192.0.2.9:3479", "LoadBalancer": ""}.get(service_type, "192.0.2.9:")

        def observed(address: str = address) -> dict[str, Any] | None:
            """The status of this generation, its turnAddress as expected (the Service's node port
            is read once the Service has it: a reconcile or two later)."""
            body = kube.get("guestcluster", "gc") or {}
            status: dict[str, Any] = body.get("status") or {}
            got = str(status.get("turnAddress") or "")
            fits = got.startswith(address) if address else not got
            return status if fits and status.get("observedGeneration") == body["metadata"]["generation"] else None

        wait_for(f"the status for {service_type}", observed, timeout=60)

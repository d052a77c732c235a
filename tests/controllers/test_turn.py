"""The managed TURN edge through the operator: children, the load balancer address becoming the
page's TURN URLs and `kubectl get gc`'s TURN column, TurnReady, and switching it off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fixtures.operator import Kubectl, wait_for

pytestmark = pytest.mark.cluster


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

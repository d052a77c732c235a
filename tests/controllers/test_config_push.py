"""Edits reach a running signalling pod through the operator's push, without the mounted
ConfigMap: the local pod's mirror of the ConfigMap (what the kubelet does) is stopped, a link is
edited, and the pod's page shows the edit; the link's Published condition and the cluster's status
say how many ready pods serve it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from fixtures.localpod import LocalPod
from fixtures.operator import Kubectl, free_port, wait_for

pytestmark = pytest.mark.cluster


def resources(web_port: int) -> list[dict[str, Any]]:
    base = {"apiVersion": "guestgate.io/v1alpha1"}
    return [
        {**base, "kind": "GuestCluster", "metadata": {"name": "gc"},
         "spec": {"publicURL": "http://127.0.0.1:1", "replicas": 1,
                  "sip": {"port": free_port(), "transports": ["udp"]}, "web": {"port": web_port}}},
        {**base, "kind": "SipTrunk", "metadata": {"name": "pstn"},
         "spec": {"clusterRef": "gc", "platform": "generic",
                  "peer": {"host": "127.0.0.1", "port": free_port(), "transport": "udp"}}},
        link("Before the edit"),
    ]


def link(display_name: str, enabled: bool = True) -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink", "metadata": {"name": "sales"},
            "spec": {"clusterRef": "gc", "trunkRef": "pstn", "destination": "2001", "displayName": display_name,
                     "slug": "sales", "enabled": enabled}}


def page(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/call/sales", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def served(kube: Kubectl, generation: int) -> dict[str, Any] | None:
    """The Published condition once it is True for `generation`."""
    condition = kube.condition("guestlink", "sales", "Published")
    if condition and condition["status"] == "True" and condition["observedGeneration"] == generation:
        return condition
    return None


def test_an_edit_reaches_the_pod_without_the_configmap(kube: Kubectl, local_pod: LocalPod) -> None:
    web_port = free_port()
    cluster, trunk, first_link = resources(web_port)
    kube.apply(cluster)
    kube.apply(trunk)
    # The link after its cluster and trunk are known: no ClusterNotFound on the way (that Event is right).
    wait_for("the trunk rendered", lambda: kube.condition("siptrunk", "pstn", "ProfileRendered"))
    kube.apply(first_link)
    local_pod.use_cluster_web_port = True
    local_pod.start()
    first = wait_for("Published with the pods' count", lambda: served(kube, 1), timeout=60)
    assert "served by 1 of 1 ready signalling pods" in first["message"], first
    assert "Before the edit" in page(web_port)[1]

    local_pod._stop.set()  # no more copies of the ConfigMap: only the operator's push can tell the pod
    kube.apply(link("After the edit"))
    wait_for("the edit on the pod's page", lambda: "After the edit" in page(web_port)[1], timeout=30)
    condition = wait_for("Published for generation 2", lambda: served(kube, 2), timeout=30)
    assert "served by 1 of 1" in condition["message"]
    status = kube.status("guestcluster", "gc")
    with urllib.request.urlopen(f"{local_pod.admin_url}/readyz", timeout=5) as response:
        assert response.status == 200
    assert status["podsServingConfig"] == 1 and status["configDigest"]

    # Disabling a link withdraws it from the pod now, not at the kubelet's next sync.
    kube.apply(link("After the edit", enabled=False))
    wait_for("the withdrawn link answers 403", lambda: page(web_port)[0] == 403, timeout=30)
    gone = wait_for("Disabled, gone from the pod", lambda: (
        (c := kube.condition("guestlink", "sales", "Published")) and c["observedGeneration"] == 3
        and "gone from all 1 ready" in c["message"] and c), timeout=30)
    assert gone["status"] == "False" and gone["reason"] == "Disabled"
    events = json.loads(kube("get", "events", "-o", "json").stdout)["items"]
    # One Event for the link at most (its withdrawal); none for the publishing steps in between.
    assert [e["reason"] for e in events if e["involvedObject"]["name"] == "sales"] == ["Disabled"]

"""A published link, from a browser on this machine, through the real pods: a NodePort on
127.0.0.1 in front of the signalling pods' web port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from fixtures.operator import wait_for
from node.conftest import CLUSTER, DEMO_NAMESPACE, Node

pytestmark = [pytest.mark.cluster, pytest.mark.node]


@pytest.fixture
def web_node_port(node_cluster: Node, examples: list[dict[str, Any]]) -> Iterator[int]:
    """What a user does to open links from this machine: a NodePort in front of the web port."""
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "links-local", "namespace": DEMO_NAMESPACE},
        "spec": {"type": "NodePort", "selector": {"app.kubernetes.io/name": "guestgate-signal",
                                                  "app.kubernetes.io/instance": CLUSTER},
                 "ports": [{"name": "web", "port": 8080, "targetPort": "web", "protocol": "TCP"}]},
    }
    node_cluster.cluster.kubectl("apply", "-f", "-", input=json.dumps(service))
    try:
        applied = node_cluster.kubectl_json("-n", DEMO_NAMESPACE, "get", "service", "links-local")
        yield int(applied["spec"]["ports"][0]["nodePort"])
    finally:
        node_cluster.cluster.kubectl("-n", DEMO_NAMESPACE, "delete", "service", "links-local", "--wait=false",
                                     check=False)


def _page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body: str = response.read().decode(errors="replace")
            return body
    except (urllib.error.URLError, OSError):
        return None


def test_the_sales_link_answers_on_loopback_through_the_pods(web_node_port: int) -> None:
    page = wait_for("the link page", lambda: _page(f"http://127.0.0.1:{web_node_port}/call/sales"), timeout=20)
    assert "Call our sales team" in page


def test_the_clusters_logo_is_projected_from_its_configmap_and_served_by_the_pods(web_node_port: int) -> None:
    base = f"http://127.0.0.1:{web_node_port}"
    page = wait_for("the link page", lambda: _page(f"{base}/call/sales"), timeout=20)
    assert '<img class="logo" src="/_gg/brand/brand/logo.svg" alt="Example Corp">' in page  # the file is there
    assert '<p class="brand-title">Example Corp</p>' in page
    with urllib.request.urlopen(f"{base}/_gg/brand/brand/logo.svg", timeout=5) as response:
        assert response.headers["Content-Type"] == "image/svg+xml"
        assert b"EXCO" in response.read()

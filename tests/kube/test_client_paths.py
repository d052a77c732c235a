"""The resource label of guestgate_api_requests_total, from the API paths the client builds."""

from __future__ import annotations

import pytest

from guestgate.kube.client import _path, resource_of


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        (_path("ConfigMap", "ns", "gc-config"), "configmaps"),
        (_path("GuestLink", "ns", "sales", "status"), "guestlinks/status"),
        (_path("GuestLink", "ns"), "guestlinks"),
        (_path("StatefulSet", "ns", "gc-signal"), "statefulsets"),
        (_path("Event", "ns"), "events"),
        (_path("GuestCluster", None), "guestclusters"),
    ],
)
def test_resource_of(path: str, resource: str) -> None:
    assert resource_of(path) == resource

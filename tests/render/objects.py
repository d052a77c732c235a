"""Small builders of parsed resources for the render tables."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.api.objects import GuestCluster, GuestLink, SipTrunk
from guestgate.render import link as render_link
from guestgate.render import link_memo

NS = "team"


def _meta(name: str, created: str = "2026-01-01T00:00:00Z", generation: int = 1) -> dict[str, Any]:
    return {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": generation,
            "creationTimestamp": created}


def cluster(name: str = "gc", **spec: Any) -> GuestCluster:
    return GuestCluster.model_validate({
        "apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster", "metadata": _meta(name),
        "spec": {"publicURL": "https://call.example.com", **spec},
    })


def trunk(name: str = "cucm", cluster_ref: str = "gc", **spec: Any) -> SipTrunk:
    return SipTrunk.model_validate({
        "apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk", "metadata": _meta(name),
        "spec": {"clusterRef": cluster_ref, "peer": {"host": "10.0.0.1"}, **spec},
    })


def link(name: str = "sales", created: str = "2026-01-01T00:00:00Z", **spec: Any) -> GuestLink:
    body = {"clusterRef": "gc", "trunkRef": "cucm", "destination": "2001", "displayName": "Sales", **spec}
    return GuestLink.model_validate({
        "apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink", "metadata": _meta(name, created),
        "spec": body,
    })


def count_link_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the names of the links the RenderMemo renders (parses and serialises)."""
    rendered: list[str] = []
    original = render_link.render_link_config

    def counting(link_: GuestLink, *args: Any) -> Any:
        rendered.append(link_.metadata.name)
        return original(link_, *args)

    monkeypatch.setattr(link_memo, "render_link_config", counting)
    return rendered

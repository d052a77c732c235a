"""The rtpengine sidecar in every signalling pod (spec.media): the relay's command line, probes by
ng ping, non-root and read-only; the signalling container is always pointed at it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from guestgate.render.link import render_link_config
from guestgate.render.workload import MEDIA_UID, statefulset
from render.objects import cluster, link


def pod(**spec: Any) -> dict[str, Any]:
    template: dict[str, Any] = statefulset(cluster(**spec), "hash")["spec"]["template"]["spec"]
    return template


def test_every_pod_has_its_relay_and_the_retired_switch_changes_nothing() -> None:
    spec = pod()
    assert [c["name"] for c in spec["containers"]] == ["signal", "media"]
    assert spec["containers"][0]["args"][-2:] == ["--rtpengine", "127.0.0.1:2223"]
    # A GuestCluster stored under an older CRD may still say relay: false (or true): the pods
    # get their relay all the same, and the cluster is not refused as invalid.
    assert pod(media={"relay": False}) == spec
    assert "relay" not in cluster(media={"relay": True}).spec.media.model_dump()


SIDECAR_ARGS = [
    ("userspace only", {}, "--table=-1"),
    ("passive DTLS for Chromium", {}, "--dtls-passive"),
    ("ng on the pod's loopback only", {}, "--listen-ng=127.0.0.1:2223"),
    ("media on the pod's address", {}, "--interface=$(POD_IP)"),
    ("the port range from the spec", {"ports": {"min": 40000, "max": 40999}}, "--port-min=40000"),
    ("the port range's top", {"ports": {"min": 40000, "max": 40999}}, "--port-max=40999"),
    ("an advertised address", {"advertisedAddress": "203.0.113.7"}, "--interface=$(POD_IP)!203.0.113.7"),
]


@pytest.mark.parametrize(("case", "media", "arg"), SIDECAR_ARGS, ids=[a[0] for a in SIDECAR_ARGS])
def test_the_sidecar_runs_rtpengine_as_the_spec_says(case: str, media: dict[str, Any], arg: str) -> None:
    spec = pod(media=media)
    signal, sidecar = spec["containers"]
    assert sidecar["name"] == "media" and arg in sidecar["args"]
    assert signal["args"][-2:] == ["--rtpengine", "127.0.0.1:2223"]


def test_the_sidecar_is_probed_by_an_ng_ping_and_locked_down() -> None:
    sidecar = pod()["containers"][1]
    for probe in ("readinessProbe", "livenessProbe"):
        command = sidecar[probe]["exec"]["command"]
        assert command[:2] == ["bash", "-c"] and "/dev/udp/127.0.0.1/2223" in command[2] and "pong" in command[2]
    security = sidecar["securityContext"]
    assert security["readOnlyRootFilesystem"] and security["runAsNonRoot"] and security["runAsUser"] == MEDIA_UID
    assert security["capabilities"] == {"drop": ["ALL"]} and not security["allowPrivilegeEscalation"]
    assert {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in sidecar["env"]


BAD = [
    ("advertised address not an IP", {"advertisedAddress": "media example com"}),
    ("unknown video policy", {"videoPolicy": "sometimes"}),
]


@pytest.mark.parametrize(("case", "media"), BAD, ids=[b[0] for b in BAD])
def test_bad_media_settings_are_refused(case: str, media: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        cluster(media=media)


POLICIES = [
    ("the cluster's default", {}, {}, "sendrecv"),
    ("the cluster says recvonly", {"videoPolicy": "recvonly"}, {}, "recvonly"),
    ("the link overrides the cluster", {"videoPolicy": "recvonly"}, {"videoPolicy": "inactive"}, "inactive"),
]


@pytest.mark.parametrize(("case", "cluster_media", "link_media", "expected"), POLICIES, ids=[p[0] for p in POLICIES])
def test_a_links_video_policy(
    case: str, cluster_media: dict[str, Any], link_media: dict[str, Any], expected: str
) -> None:
    gc = cluster(media=cluster_media)
    published = render_link_config(link(media=link_media), gc.spec.public_url, gc.spec.media.video_policy)
    assert published.video_policy == expected

"""Health checks through the operator: a signalling server (as a local process fed by the operator's
rendered configuration) calls SIPp peers, and the SipTrunk's status names the failure and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from fixtures.localpod import LocalPod
from fixtures.operator import Kubectl, free_port, wait_for
from support.signal_helpers import SippFactory

pytestmark = pytest.mark.cluster


def cluster() -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster", "metadata": {"name": "gc"},
            "spec": {"publicURL": "http://127.0.0.1:1", "replicas": 1,
                     "sip": {"port": free_port(), "transports": ["udp"]}, "web": {"port": free_port()}}}


def trunk(port: int, keepalive: int = 0, platform: str = "cucm", annotations: dict[str, str] | None = None,
          name: str = "pstn") -> dict[str, Any]:
    return {
        "apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "clusterRef": "gc", "platform": platform,
            "peer": {"host": "127.0.0.1", "port": port, "transport": "udp"},
            "keepalive": {"intervalSeconds": keepalive, "failureThreshold": 1},
            "healthCheck": {"destinations": [{"name": "international", "number": "442079460000"}],
                            "timeoutSeconds": 20, "minMediaSeconds": 1},
        },
    }


def healthy(kube: Kubectl, name: str = "pstn") -> dict[str, Any] | None:
    condition = kube.condition("siptrunk", name, "Healthy")
    return condition if condition and condition["status"] != "Unknown" else None


def healthy_as(kube: Kubectl, status: str, name: str = "pstn") -> dict[str, Any] | None:
    condition = healthy(kube, name)
    return condition if condition is not None and condition["status"] == status else None


def test_failing_trunk_is_named_then_fixed(kube: Kubectl, local_pod: LocalPod, sipp: SippFactory) -> None:
    failing = sipp("cucm-over-cube", calls=5, run_seconds=240)
    kube.apply(cluster())
    kube.apply(trunk(failing.port))
    local_pod.start()

    # The profile is new: the operator checks it as soon as the pod runs it.
    condition = wait_for("Healthy=False", lambda: healthy(kube), timeout=90)
    assert (condition["status"], condition["reason"]) == ("False", "PRACK_MISSING_DOWNSTREAM"), condition
    assert "with Q.850 cause 65 (bearer capability not implemented)" in condition["message"], condition
    assert "Fix on the peer" in condition["message"] and "SIP Rel1XX" in condition["message"]
    last = kube.status("siptrunk", "pstn")["lastHealthCheck"]
    assert last["trigger"] == "profile-change" and last["outcome"] == "PRACK_MISSING_DOWNSTREAM"
    (pod,) = last["pods"]
    (destination,) = pod["destinations"]
    assert destination["name"] == "international"
    codes = [f["code"] for f in destination["findings"]]
    assert "PRACK_MISSING_DOWNSTREAM" in codes
    finding = next(f for f in destination["findings"] if f["code"] == "PRACK_MISSING_DOWNSTREAM")
    assert finding["cause"]["value"] == 65 and finding["cause"]["misleading"]
    assert finding["evidence"] and any("BYE" in line for line in destination["ladder"])
    table = kube("get", "st", "pstn").stdout
    assert "False" in table and "PRACK_MISSING_DOWNSTREAM" in table
    wait_for("an event naming the failure", lambda: "PRACK_MISSING_DOWNSTREAM" in kube("get", "events").stdout)

    # Fixed: the trunk now reaches a CUBE that sends reliable 183s, which GuestGate PRACKs.
    good = sipp("cube-reliable-183", calls=5, rtp_echo=True, run_seconds=240)
    kube.apply(trunk(good.port, platform="cube"))
    condition = wait_for("Healthy=True", lambda: healthy_as(kube, "True"), timeout=90)
    assert condition["reason"] == "OK"
    assert kube.status("siptrunk", "pstn")["lastHealthCheck"]["outcome"] == "OK"

    # On demand: a new annotation value runs a check and is recorded as answered.
    kube("annotate", "siptrunk", "pstn", "guestgate.io/health-check=run-1", "--overwrite")
    wait_for("the on-demand check", lambda: kube.status("siptrunk", "pstn")["lastHealthCheck"].get("request")
             == "run-1" or None, timeout=90)
    assert kube.status("siptrunk", "pstn")["lastHealthCheck"]["trigger"] == "annotation"


def test_reachable_follows_the_keepalive(kube: Kubectl, local_pod: LocalPod, sipp: SippFactory) -> None:
    responder = sipp("options-responder", calls=1000, run_seconds=240)
    kube.apply(cluster())
    kube.apply(trunk(responder.port, keepalive=2, name="up"))
    kube.apply(trunk(free_port(), keepalive=2, name="down"))
    local_pod.start()
    up = wait_for("Reachable=True", lambda: (kube.condition("siptrunk", "up", "Reachable") or {}).get(
        "status") == "True" and kube.condition("siptrunk", "up", "Reachable"), timeout=60)
    assert up["reason"] == "PeerAnswers"
    down = wait_for("Reachable=False", lambda: (kube.condition("siptrunk", "down", "Reachable") or {}).get(
        "status") == "False" and kube.condition("siptrunk", "down", "Reachable"), timeout=60)
    assert down["reason"] == "PeerUnreachable" and "OPTIONS" in down["message"]

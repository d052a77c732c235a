"""Time, references, deletion and restarts: the operator converges and then stays quiet."""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fixtures.operator import Kubectl, OperatorProcess, wait_for

pytestmark = pytest.mark.cluster


def cluster(name: str = "gc", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestCluster", "metadata": {"name": name},
            "spec": {"publicURL": "https://call.example.com", **spec}}


def trunk(name: str = "t", cluster_ref: str = "gc") -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "SipTrunk", "metadata": {"name": name},
            "spec": {"clusterRef": cluster_ref, "peer": {"host": "127.0.0.1"}}}


def link(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink", "metadata": {"name": name},
            "spec": {"clusterRef": "gc", "trunkRef": "t", "destination": "2001", "displayName": name, **spec}}


def published(kube: Kubectl) -> dict[str, Any]:
    cm = kube.get("configmap", "gc-config")
    return json.loads(cm["data"]["links.json"]) if cm else {"links": [], "withdrawn": []}


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def gone(kube: Kubectl, kind: str, name: str) -> bool:
    return kube.get(kind, name) is None


def test_deleting_a_cluster_garbage_collects_its_children(kube: Kubectl) -> None:
    kube.apply(cluster())
    wait_for("children", lambda: kube.get("statefulset", "gc-signal") and kube.get("configmap", "gc-config")
             and kube.get("secret", "gc-signing-key"))
    kube("delete", "guestcluster", "gc")
    for kind, name in [("statefulset", "gc-signal"), ("configmap", "gc-config"), ("service", "gc-signal"),
                       ("secret", "gc-signing-key"), ("pdb", "gc-signal")]:
        wait_for(f"{kind}/{name} to be garbage-collected", functools.partial(gone, kube, kind, name), timeout=90)


def test_link_phase_moves_on_time_without_edits(kube: Kubectl) -> None:
    kube.apply(cluster())
    kube.apply(trunk())
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=6)
    kube.apply(link("soon", validFrom=rfc3339(start), validUntil=rfc3339(start + timedelta(seconds=5))))
    assert wait_for("Scheduled", lambda: kube.status("guestlink", "soon").get("phase") == "Scheduled" or None)
    generation = kube.get("guestlink", "soon")["metadata"]["generation"]  # type: ignore[index]
    wait_for("Active", lambda: kube.status("guestlink", "soon").get("phase") == "Active" or None, timeout=20)
    wait_for("Expired", lambda: kube.status("guestlink", "soon").get("phase") == "Expired" or None, timeout=20)
    assert kube.get("guestlink", "soon")["metadata"]["generation"] == generation  # type: ignore[index]


def test_disabled_link_leaves_the_published_config(kube: Kubectl) -> None:
    kube.apply(cluster())
    kube.apply(trunk())
    kube.apply(link("sales"))
    wait_for("sales published", lambda: [e for e in published(kube)["links"] if e["name"] == "sales"])
    kube.apply(link("sales", enabled=False))
    wait_for("sales withdrawn", lambda: not published(kube)["links"] and published(kube)["withdrawn"])
    assert published(kube)["withdrawn"] == [{"path": f"/call/{kube.namespace}/sales", "displayName": "sales"}]
    assert wait_for("Disabled", lambda: kube.status("guestlink", "sales").get("phase") == "Disabled" or None)


def test_missing_referents_are_reported_then_recover(kube: Kubectl) -> None:
    kube.apply(link("early"))
    kube.apply(trunk())
    condition = wait_for("ClusterNotFound", lambda: kube.condition("guestlink", "early", "Published"))
    assert (condition["status"], condition["reason"]) == ("False", "ClusterNotFound")
    assert kube.status("guestlink", "early")["phase"] == "Invalid"
    rendered = wait_for("trunk condition", lambda: kube.condition("siptrunk", "t", "ProfileRendered"))
    assert rendered["reason"] == "ClusterNotFound" and "'gc'" in rendered["message"]

    kube.apply(cluster())
    wait_for("link recovers", lambda: kube.status("guestlink", "early").get("phase") == "Active" or None)
    wait_for("trunk recovers", lambda: (kube.condition("siptrunk", "t", "ProfileRendered") or {}).get("status")
             == "True" or None)
    kube.apply(link("orphan", trunkRef="nope"))
    reason = wait_for("TrunkNotFound", lambda: (kube.condition("guestlink", "orphan", "Published") or {}).get("reason"))
    assert reason == "TrunkNotFound"


def test_the_later_of_two_links_with_one_slug_is_invalid(kube: Kubectl) -> None:
    kube.apply(cluster())
    kube.apply(trunk())
    kube.apply(link("first", slug="sales"))
    wait_for("first active", lambda: kube.status("guestlink", "first").get("phase") == "Active" or None)
    time.sleep(1.1)  # creation timestamps have second resolution
    kube.apply(link("second", slug="sales"))
    condition = wait_for("SlugConflict", lambda: (kube.condition("guestlink", "second", "Published") or {}).get(
        "reason") == "SlugConflict" and kube.condition("guestlink", "second", "Published"))
    assert f"{kube.namespace}/first" in condition["message"]
    assert kube.status("guestlink", "second")["phase"] == "Invalid"
    assert kube.status("guestlink", "first")["phase"] == "Active"
    assert [e["name"] for e in published(kube)["links"]] == ["first"]


def test_two_replicas_work_but_are_not_redundant(kube: Kubectl) -> None:
    kube.apply(cluster(replicas=2))
    condition = wait_for("Redundant", lambda: kube.condition("guestcluster", "gc", "Redundant"))
    assert (condition["status"], condition["reason"]) == ("False", "TooFewReplicas")
    assert "no redundancy" in condition["message"]
    assert wait_for("sts", lambda: kube.get("statefulset", "gc-signal"))["spec"]["replicas"] == 2


def _resource_versions(kube: Kubectl) -> dict[str, str]:
    kinds = "guestclusters,siptrunks,guestlinks,statefulsets,services,configmaps,secrets,serviceaccounts,pdb"
    items = json.loads(kube("get", kinds, "-o", "json").stdout)["items"]
    return {f"{i['kind']}/{i['metadata']['name']}": i["metadata"]["resourceVersion"] for i in items}


def test_a_restarted_operator_writes_nothing(kube: Kubectl, operator: OperatorProcess) -> None:
    kube.apply(cluster())
    kube.apply(trunk())
    kube.apply(link("a"))
    kube.apply(link("b", slug="bee", enabled=False))
    wait_for("settled", lambda: kube.status("guestcluster", "gc").get("trunks") == 1
             and kube.status("guestlink", "b").get("phase") == "Disabled")
    time.sleep(2)  # let the last events drain
    before = _resource_versions(kube)
    operator.restart()
    # The restarted operator has looked at everything (its startup LIST reconciles every object).
    wait_for("reconciles after restart", lambda: operator.reconciles() >= 4)
    time.sleep(3)
    after = _resource_versions(kube)
    changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    assert changed == {}
    assert 'result="error"' not in operator.metrics().split("guestgate_reconcile_total", 1)[1].split("# HELP")[0]


def test_metrics_are_exported(operator: OperatorProcess) -> None:
    text = operator.metrics()
    assert "guestgate_reconcile_total" in text
    assert "guestgate_reconcile_duration_seconds_bucket" in text


def test_only_the_trunk_peers_reach_the_sip_ports(kube: Kubectl) -> None:
    kube.apply(cluster(turn={"enabled": False}))  # the TURN pods' media rule: tests/controllers/test_turn.py
    policy = wait_for("the NetworkPolicy", lambda: kube.get("networkpolicy", "gc-signal"))
    # No trunk: no SIP rule; web and admin, and the media ports (from anyone: tests/render/test_network_policy.py).
    assert [set(p["port"] for p in rule["ports"]) for rule in policy["spec"]["ingress"]] == [{"web", "admin"},
                                                                                           {30000, 20000}]
    kube.apply(trunk())  # peer 127.0.0.1
    wait_for("SIP open to the peer only",
             lambda: len((kube.get("networkpolicy", "gc-signal") or {"spec": {"ingress": []}})["spec"]["ingress"]) == 3
             or None)
    rule = kube.get("networkpolicy", "gc-signal")["spec"]["ingress"][1]  # type: ignore[index]
    assert rule["from"] == [{"ipBlock": {"cidr": "127.0.0.1/32"}}]
    condition = wait_for("SipPeersOnly", lambda: (kube.condition("guestcluster", "gc", "SipPeersOnly") or {}).get(
        "reason") == "PeersOnly" and kube.condition("guestcluster", "gc", "SipPeersOnly"))
    assert "127.0.0.1/32" in condition["message"]

"""Status builders: the conditions a user reads in `kubectl get` and `kubectl describe`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from guestgate.render.config import render_published_config
from guestgate.render.status import LinkFacts, cluster_status, link_status, status_differs, trunk_status

from .objects import cluster, link, trunk

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def _condition(status: dict[str, object], type_: str) -> dict[str, object]:
    conditions = status["conditions"]
    assert isinstance(conditions, list)
    return next(c for c in conditions if c["type"] == type_)


@pytest.mark.parametrize(
    ("replicas", "redundant", "reason"),
    [(1, "False", "TooFewReplicas"), (2, "False", "TooFewReplicas"), (3, "True", "EnoughReplicas"),
     (50, "True", "EnoughReplicas")],
)
def test_fewer_than_three_replicas_is_not_redundant(replicas: int, redundant: str, reason: str) -> None:
    gc = cluster(replicas=replicas)
    status = cluster_status(gc, render_published_config(gc, [], []), "h", replicas, NOW)
    condition = _condition(status, "Redundant")
    assert (condition["status"], condition["reason"]) == (redundant, reason)
    if redundant == "False":
        assert "no redundancy" in str(condition["message"]) and "3" in str(condition["message"])
    assert _condition(status, "Ready")["status"] == "True"


def test_cluster_status_counts_and_readiness() -> None:
    gc = cluster()
    published = render_published_config(gc, [trunk()], [link(), link("off", enabled=False)])
    status = cluster_status(gc, published, "abc", 1, NOW)
    assert status["trunks"] == 1 and status["links"] == 1
    assert status["linkBaseURL"] == "https://call.example.com/call/"
    ready = _condition(status, "Ready")
    assert (ready["status"], ready["message"]) == ("False", "1/3 signalling pods ready")


@pytest.mark.parametrize(
    ("case", "has_cluster", "status", "reason", "hash_written"),
    [
        ("cluster exists", True, "True", "Rendered", True),
        ("cluster missing", False, "False", "ClusterNotFound", False),
    ],
)
def test_trunk_status(case: str, has_cluster: bool, status: str, reason: str, hash_written: bool) -> None:
    out = trunk_status(trunk(), cluster() if has_cluster else None, "f00d", NOW)
    rendered = _condition(out, "ProfileRendered")
    assert (rendered["status"], rendered["reason"]) == (status, reason), case
    assert (out["profileHash"] == "f00d") is hash_written, case
    assert _condition(out, "Healthy")["status"] == "Unknown"
    assert _condition(out, "Reachable")["status"] == "Unknown"


@pytest.mark.parametrize(
    ("case", "facts", "spec", "phase", "reason"),
    [
        ("all there", LinkFacts(cluster(), trunk(), None), {}, "Active", "Active"),
        ("no cluster", LinkFacts(None, trunk(), None), {}, "Invalid", "ClusterNotFound"),
        ("no trunk", LinkFacts(cluster(), None, None), {}, "Invalid", "TrunkNotFound"),
        ("trunk of another cluster", LinkFacts(cluster(), trunk(cluster_ref="other"), None), {}, "Invalid",
         "TrunkInOtherCluster"),
        ("slug taken", LinkFacts(cluster(), trunk(), "team/first"), {"slug": "s"}, "Invalid", "SlugConflict"),
        ("disabled", LinkFacts(cluster(), trunk(), None), {"enabled": False}, "Disabled", "Disabled"),
        ("scheduled", LinkFacts(cluster(), trunk(), None), {"validFrom": "2027-02-01T00:00:00Z"}, "Scheduled",
         "Scheduled"),
        ("expired", LinkFacts(cluster(), trunk(), None), {"validUntil": "2026-02-01T00:00:00Z"}, "Expired",
         "Expired"),
    ],
)
def test_link_status(case: str, facts: LinkFacts, spec: dict[str, Any], phase: str, reason: str) -> None:
    out = link_status(link(**spec), facts, NOW)
    assert out["phase"] == phase, case
    assert _condition(out, "Published")["reason"] == reason, case
    if reason == "SlugConflict":
        assert "team/first" in str(_condition(out, "Published")["message"])
    assert out["url"] == ("" if facts.cluster is None else "https://call.example.com/call/" +
                          ("s" if "slug" in spec else "team/sales"))


def test_status_differs_ignores_keys_it_does_not_own() -> None:
    assert not status_differs({"phase": "Active", "lastHealthCheck": {"x": 1}}, {"phase": "Active"})
    assert status_differs({"phase": "Active"}, {"phase": "Expired"})


SERVING = [
    # (case, spec, serving (pods serving, ready pods), status, reason, message part)
    ("not_known_yet", {}, None, "True", "Active", "can be called"),
    ("no_pod_ready", {}, (0, 0), "True", "Active", "no signalling pod is ready yet"),
    ("every_ready_pod_serves_it", {}, (3, 3), "True", "Active", "served by 3 of 3 ready signalling pods"),
    ("some_pods_lag", {}, (1, 3), "Unknown", "Publishing", "1 of 3 ready signalling pods serve it so far"),
    ("withdrawal_in_progress", {"enabled": False}, (2, 3), "False", "Disabled", "withdrawing: 2 of 3"),
    ("withdrawn_everywhere", {"enabled": False}, (3, 3), "False", "Disabled", "gone from all 3 ready"),
]


@pytest.mark.parametrize(
    ("spec", "serving", "status", "reason", "part"), [row[1:] for row in SERVING], ids=[row[0] for row in SERVING]
)
def test_published_says_how_many_ready_pods_serve_the_generation(
    spec: dict[str, Any], serving: tuple[int, int] | None, status: str, reason: str, part: str
) -> None:
    out = link_status(link(**spec), LinkFacts(cluster(), trunk(), None, serving), NOW)
    published = _condition(out, "Published")
    assert (published["status"], published["reason"]) == (status, reason)
    assert part in str(published["message"])


def test_a_served_link_keeps_its_count_while_its_generation_stays() -> None:
    first = link_status(link(), LinkFacts(cluster(), trunk(), None, (3, 3)), NOW)
    # A pod restarts elsewhere: 2 of 2 ready serve it. Same generation: nothing to write.
    served = link().model_copy(update={"status": first})
    again = link_status(served, LinkFacts(cluster(), trunk(), None, (2, 2)), NOW)
    assert not status_differs(first, again)
    assert "3 of 3" in str(_condition(again, "Published")["message"])


def test_cluster_status_says_which_config_the_pods_serve() -> None:
    gc = cluster()
    status = cluster_status(gc, render_published_config(gc, [], []), "h", 3, NOW, serving=("d1g3st", 2))
    assert (status["configDigest"], status["podsServingConfig"]) == ("d1g3st", 2)

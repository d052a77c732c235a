"""What each cluster's pods should serve and do serve (controllers.publish), and which condition
changes post an Event: pure tables, no cluster."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.config.schema import files_digest
from guestgate.controllers.context import wants_event
from guestgate.controllers.publish import DIGEST_MEMORY, FILES_MEMORY, Publications, Serving

A = {"cluster.json": "{}", "links.json": '{"links":["a"]}'}
B = {"cluster.json": "{}", "links.json": '{"links":["a","b"]}'}
C = {"cluster.json": "{}", "links.json": '{"links":["a","b","c"]}'}


def test_a_link_is_served_once_every_ready_pod_serves_a_config_with_its_generation() -> None:
    pubs = Publications()
    assert pubs.serving("ns/gc", "ns/a", 1) is None  # nothing rendered yet: not known
    assert pubs.publish("ns/gc", A, {"ns/a": 1}) is True
    assert pubs.publish("ns/gc", A, {"ns/a": 1}) is False  # same files: nothing new for the pods
    publication = pubs.get("ns/gc")
    assert publication is not None
    publication.pods = {"p0": files_digest(A), "p1": "", "p2": files_digest(A)}  # p1 did not answer
    assert pubs.serving("ns/gc", "ns/a", 1) == Serving(ready=3, serving=2)
    pubs.wait("ns/gc", "ns/a", now=10.0)
    assert pubs.due_links("ns/gc") == []
    publication.pods["p1"] = files_digest(A)
    assert pubs.due_links("ns/gc") == ["ns/a"]

    # b arrives and a is edited (generation 2): served by the pods that took config B, not A.
    pubs.publish("ns/gc", B, {"ns/a": 2, "ns/b": 1})
    publication.pods = {"p0": files_digest(B), "p1": files_digest(A), "p2": files_digest(B)}
    assert pubs.serving("ns/gc", "ns/a", 2) == Serving(3, 2)
    assert pubs.serving("ns/gc", "ns/b", 1) == Serving(3, 2)
    # A later config serves earlier generations too.
    pubs.publish("ns/gc", C, {"ns/a": 2, "ns/b": 1, "ns/c": 1})
    publication.pods = {"p0": files_digest(C), "p1": files_digest(B), "p2": files_digest(C)}
    assert pubs.serving("ns/gc", "ns/a", 2) == Serving(3, 3)
    assert pubs.serving("ns/gc", "ns/c", 1) == Serving(3, 2)
    # A generation the cluster reconcile has not rendered yet is served by nobody.
    assert pubs.serving("ns/gc", "ns/a", 3) == Serving(3, 0)


def test_deleted_links_and_old_digests_are_forgotten() -> None:
    pubs = Publications()
    pubs.publish("ns/gc", A, {"ns/a": 1, "ns/b": 1})
    pubs.wait("ns/gc", "ns/b", now=0.0)
    pubs.publish("ns/gc", B, {"ns/a": 1})
    publication = pubs.get("ns/gc")
    assert publication is not None and "ns/b" not in publication.links and "ns/b" not in publication.waiting
    for index in range(DIGEST_MEMORY + 5):
        pubs.publish("ns/gc", {"cluster.json": str(index)}, {"ns/a": 1})
    assert len(publication.serials) == DIGEST_MEMORY
    publication.pods = {"p0": files_digest(A)}  # a pod stuck on a digest long gone counts as serving nothing
    assert publication.served_serial() == 0


def condition(status: str, reason: str = "R") -> dict[str, Any]:
    return {"type": "Published", "status": status, "reason": reason, "message": "m"}


EVENTS = [
    ("new_and_fine", None, condition("True"), False),
    ("new_and_broken", None, condition("False"), True),
    ("publishing_step", condition("True"), condition("Unknown", "Publishing"), False),
    ("published_again", condition("Unknown", "Publishing"), condition("True"), False),
    ("breaks", condition("True"), condition("False"), True),
    ("breaks_differently", condition("False", "A"), condition("False", "B"), True),
    ("same_failure", condition("False", "A"), condition("False", "A"), False),
    ("recovers", condition("False"), condition("True"), True),
    ("unknown_after_failure", condition("False"), condition("Unknown"), False),
]


@pytest.mark.parametrize(("before", "after", "posted"), [r[1:] for r in EVENTS], ids=[r[0] for r in EVENTS])
def test_events_only_where_a_person_wants_one(before: dict[str, Any] | None, after: dict[str, Any],
                                               posted: bool) -> None:
    assert wants_event(before, after) is posted


def test_a_pod_serving_a_recent_configuration_is_sent_only_what_changed() -> None:
    pubs = Publications()
    d = {"cluster.json": "{}", "links.json": '{"links":[]}', "links-1.json": '{"links":["d"]}'}
    pubs.publish("ns/gc", d, {})
    pubs.publish("ns/gc", A, {})
    publication = pubs.get("ns/gc")
    assert publication is not None
    assert publication.changes_since(files_digest(d)) == ({"links.json": A["links.json"]}, ["links-1.json"])
    assert publication.changes_since(files_digest(A)) == ({}, [])
    assert publication.changes_since("not-remembered") is None  # then every file is sent
    for files in (B, C, A, B):
        pubs.publish("ns/gc", files, {})
    assert publication.changes_since(files_digest(d)) is None  # only the latest few are kept
    assert len(publication.history) == FILES_MEMORY


# (links' generations, the keys said to have changed) per publish -> each link's (generation,
# serial) after the last one. The changed keys alone are looked at; a new publication, or None,
# compares every link.
CHANGES: list[tuple[str, list[tuple[dict[str, int], set[str] | None]], dict[str, tuple[int, int]]]] = [
    ("an edit: its serial moves, the others' stay", [({"a": 1, "b": 1}, None), ({"a": 2, "b": 1}, {"a"})],
     {"a": (2, 2), "b": (1, 1)}),
    ("a link gone", [({"a": 1, "b": 1}, None), ({"a": 1}, {"b"})], {"a": (1, 1)}),
    ("a change not said is not seen (the caller is trusted)", [({"a": 1, "b": 1}, None), ({"a": 2, "b": 2}, {"a"})],
     {"a": (2, 2), "b": (1, 1)}),
    ("the first publish compares every link whatever is said", [({"a": 1, "b": 1}, set())],
     {"a": (1, 1), "b": (1, 1)}),
    ("None: every link, the gone ones too", [({"a": 1, "b": 1}, None), ({"a": 1}, None)], {"a": (1, 1)}),
]


@pytest.mark.parametrize(("name", "publishes", "links"), CHANGES, ids=[c[0] for c in CHANGES])
def test_publish_looks_at_the_changed_links(
    name: str, publishes: list[tuple[dict[str, int], set[str] | None]], links: dict[str, tuple[int, int]]
) -> None:
    pubs = Publications()
    for serial, (generations, changed) in enumerate(publishes, start=1):
        pubs.publish("ns/gc", {"cluster.json": str(serial)}, generations, changed)
    publication = pubs.get("ns/gc")
    assert publication is not None and publication.links == links, name

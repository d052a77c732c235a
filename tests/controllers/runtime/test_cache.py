"""The cache fed with sequences of watch events (put = ADDED/MODIFIED, remove = DELETED): what
it answers after each step."""

from __future__ import annotations

from typing import Any

import pytest

from guestgate.controllers.runtime.cache import Cache


def link(name: str, slug: str | None, ns: str = "a", destination: str = "2001") -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterRef": "gc", "trunkRef": "t1", "destination": destination, "displayName": "Call"}
    if slug:
        spec["slug"] = slug
    return {"apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def slugs(cache: Cache, ns: str = "a") -> dict[str, list[str]]:
    return {slug: [found.name for found in cache.links_with_slug(ns, slug)] for slug in ("sales", "support")}


Step = tuple[str, dict[str, Any] | str]
SEQUENCES: list[tuple[str, list[Step], dict[str, list[str]], list[str]]] = [
    # name, events (put body | remove key), links by slug after them, the keys held
    ("added", [("put", link("l1", "sales"))], {"sales": ["l1"], "support": []}, ["a/l1"]),
    ("two ask for one slug", [("put", link("l2", "sales")), ("put", link("l1", "sales"))],
     {"sales": ["l1", "l2"], "support": []}, ["a/l1", "a/l2"]),
    ("a slug changed: out of the old index, into the new",
     [("put", link("l1", "sales")), ("put", link("l1", "support"))], {"sales": [], "support": ["l1"]}, ["a/l1"]),
    ("the slug dropped", [("put", link("l1", "sales")), ("put", link("l1", None))],
     {"sales": [], "support": []}, ["a/l1"]),
    ("deleted", [("put", link("l1", "sales")), ("put", link("l2", "sales")), ("remove", "a/l1")],
     {"sales": ["l2"], "support": []}, ["a/l2"]),
    ("deleted twice, or never known: nothing to do", [("remove", "a/l1"), ("put", link("l1", "sales")),
                                                      ("remove", "a/l1"), ("remove", "a/l1")],
     {"sales": [], "support": []}, []),
    ("another namespace's slug is its own", [("put", link("l1", "sales", ns="b"))],
     {"sales": [], "support": []}, ["b/l1"]),
    ("a spec that does not parse is held but never answered as a link",
     [("put", link("l1", "sales", destination=""))], {"sales": [], "support": []}, ["a/l1"]),
    ("then fixed", [("put", link("l1", "sales", destination="")), ("put", link("l1", "sales"))],
     {"sales": ["l1"], "support": []}, ["a/l1"]),
]


@pytest.mark.parametrize(("name", "events", "by_slug", "keys"), SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_event_sequences(name: str, events: list[Step], by_slug: dict[str, list[str]], keys: list[str]) -> None:
    cache = Cache()
    for what, item in events:
        if what == "put":
            assert isinstance(item, dict)
            cache.put("GuestLink", item)
        else:
            assert isinstance(item, str)
            cache.remove("GuestLink", item)
    assert slugs(cache) == by_slug, name
    assert cache.keys("GuestLink") == keys, name


def test_a_spec_that_does_not_parse_says_where() -> None:
    cache = Cache()
    cache.put("GuestLink", link("l1", None, destination=""))
    parsed = cache.parsed("GuestLink", "a/l1")
    assert parsed is not None and parsed.obj is None
    assert parsed.error is not None and parsed.error.startswith("spec.destination"), parsed.error
    assert cache.links("a") == [] and cache.keys("GuestLink") == ["a/l1"]


def test_the_cache_keeps_its_own_copy() -> None:
    cache, body = Cache(), link("l1", "sales")
    cache.put("GuestLink", body)
    body["spec"]["slug"] = "support"
    assert cache.body("GuestLink", "a/l1") == link("l1", "sales")
    read = cache.body("GuestLink", "a/l1")
    assert read is not None
    read["spec"]["slug"] = "support"  # a reader's change stays the reader's
    assert cache.body("GuestLink", "a/l1") == link("l1", "sales")


def test_references_of_every_link_those_that_do_not_parse_too() -> None:
    cache = Cache()
    cache.put("GuestLink", link("l2", "sales"))
    cache.put("GuestLink", link("l1", None, destination=""))  # does not parse: no record, still a reference
    cache.put("GuestLink", link("l3", None, ns="b"))
    assert cache.link_references("a") == [("a/l1", "gc", "t1"), ("a/l2", "gc", "t1")]
    assert [record.key for record in cache.links("a")] == ["a/l2"]


def test_a_new_event_makes_a_new_record_and_an_equal_spec_the_same_fingerprint() -> None:
    """What the RenderMemo reuses an entry by: the record's identity first, then its spec's fingerprint."""
    cache = Cache()
    first = link("l1", "sales")
    cache.put("GuestLink", first)
    before = cache.links("a")[0]
    reordered = {**first, "spec": dict(reversed(list(first["spec"].items()))), "status": {"phase": "Active"}}
    cache.put("GuestLink", reordered)
    after = cache.links("a")[0]
    assert after is not before and after.spec == before.spec
    cache.put("GuestLink", link("l1", "sales", destination="2002"))
    assert cache.links("a")[0].spec != before.spec
    assert cache.links("a")[0].model().spec.destination == "2002"


def test_a_status_only_event_keeps_the_record_and_brings_the_new_status() -> None:
    """The operator's own status write comes back once per link: same spec and generation, so the
    link is not parsed again; what a reconcile reads is the new status all the same."""
    cache = Cache()
    first = link("l1", "sales")
    first["metadata"]["generation"] = 1
    cache.put("GuestLink", first)
    before = cache.links("a")[0]
    for phase in ("Active", "Disabled", "Active"):
        cache.put("GuestLink", {**first, "status": {"phase": phase, "observedGeneration": 1}})
    after = cache.links("a")[0]
    assert after is not before and (after.spec, after.slug, after.generation) == (before.spec, "sales", 1)
    assert slugs(cache) == {"sales": ["l1"], "support": []}  # indexed once, not once per event
    parsed = cache.parsed("GuestLink", "a/l1")
    assert parsed is not None and parsed.obj is not None and parsed.obj.status["phase"] == "Active"
    assert after.model().spec.slug == "sales"
    # A new generation is parsed again, even with an equal spec (a re-created link, a defaulted field).
    cache.put("GuestLink", {**first, "metadata": {**first["metadata"], "generation": 2}})
    assert cache.links("a")[0].generation == 2

"""The incremental render (RenderMemo) against the full render, step by step: after each change
to the links, the trunks or the cluster, the memo's files, link count and logos are the full
render's, and its generations are those of the cluster's links."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from guestgate.api.objects import GuestCluster, GuestLink, SipTrunk
from guestgate.config import schema
from guestgate.render.config import render_published_config
from guestgate.render.link import LinkRecord
from guestgate.render.link_memo import RenderMemo

from .objects import NS, cluster, count_link_renders, link, trunk


def body(name: str, generation: int = 1, created: str = "2026-01-01T00:00:00Z", ns: str = NS,
         **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "guestgate.io/v1alpha1", "kind": "GuestLink",
        "metadata": {"name": name, "namespace": ns, "generation": generation, "creationTimestamp": created},
        "spec": {"clusterRef": "gc", "trunkRef": "cucm", "destination": "2001", "displayName": name, **spec},
    }


def record(raw: dict[str, Any]) -> LinkRecord:
    """As the operator's cache makes it: a new record per event, the model dropped."""
    return LinkRecord.of(GuestLink.model_validate(raw), source=raw)


@dataclass
class World:
    links: dict[str, LinkRecord] = field(default_factory=dict)
    cluster: GuestCluster = field(default_factory=cluster)
    trunks: list[SipTrunk] = field(default_factory=lambda: [trunk()])


Step = tuple[str, Any]  # ("put", body) | ("delete", name) | ("cluster", spec) | ("trunks", names) | ("status", name)


def apply(world: World, step: Step) -> None:
    what, arg = step
    if what == "put":
        world.links[f"{arg['metadata']['namespace']}/{arg['metadata']['name']}"] = record(arg)
    elif what == "delete":
        del world.links[f"{NS}/{arg}"]
    elif what == "cluster":
        world.cluster = cluster(**arg)
    elif what == "trunks":
        world.trunks = [trunk(name) for name in arg]
    elif what == "status":  # a status-only event: a new record of the same spec
        before = world.links[f"{NS}/{arg}"]
        assert isinstance(before.source, dict)
        world.links[before.key] = record({**before.source, "status": {"phase": "Active"}})


MANY = [("put", body(f"l{i:03d}", displayName=f"Link number {i} " + "x" * 40)) for i in range(60)]

SEQUENCES: list[tuple[str, list[list[Step]]]] = [
    ("an edit", [[("put", body("a")), ("put", body("b", enabled=False))], [("put", body("a", 2, displayName="E"))]]),
    ("a newer link asks for a taken slug, then the holder goes",
     [[("put", body("a", slug="sales"))],
      [("put", body("b", slug="sales", created="2026-02-01T00:00:00Z"))],
      [("delete", "a")]]),
    ("the holder gives its slug up, then asks again: the earlier claim wins again",
     [[("put", body("a", slug="s")), ("put", body("b", slug="s", created="2026-02-01T00:00:00Z"))],
      [("put", body("a", 2, slug="t"))],
      [("put", body("a", 3, slug="s"))]]),
    ("a disabled loser is not withdrawn either",
     [[("put", body("a", slug="s")), ("put", body("b", slug="s", enabled=False, created="2026-02-01T00:00:00Z"))]]),
    ("a link moves to another cluster and back",
     [[("put", body("a")), ("put", body("b"))], [("put", body("a", 2, clusterRef="other"))],
      [("put", body("a", 3))]]),
    ("another namespace's link is not the cluster's", [[("put", body("a")), ("put", body("a", ns="elsewhere"))]]),
    ("the trunk goes: its links leave; it comes back",
     [[("put", body("a")), ("put", body("b", trunkRef="other"))], [("trunks", ["other"])], [("trunks", ["cucm"])]]),
    ("the public URL changes every entry",
     [[("put", body("a")), ("put", body("b"))], [("cluster", {"publicURL": "https://other.example"})]]),
    ("disabled, enabled", [[("put", body("a"))], [("put", body("a", 2, enabled=False))], [("put", body("a", 3))]]),
    ("a status-only event", [[("put", body("a"))], [("status", "a")]]),
    ("a logo shared by two links, one leaves",
     [[("put", body("a", branding={"logo": {"configMap": {"name": "logos", "key": "a.png"}}})),
       ("put", body("b", branding={"logo": {"configMap": {"name": "logos", "key": "a.png"}}}))],
      [("delete", "a")], [("delete", "b")]]),
    ("grows past one shard and shrinks back", [MANY[:5], MANY[5:], [("delete", f"l{i:03d}") for i in range(58)]]),
    ("everything deleted",
     [[("put", body("a")), ("put", body("b", enabled=False))], [("delete", "a"), ("delete", "b")]]),
]


@pytest.mark.parametrize(("name", "steps"), SEQUENCES, ids=[s[0] for s in SEQUENCES])
def test_the_memo_renders_what_a_full_render_does(
    name: str, steps: list[list[Step]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "LINK_SHARD_BYTES", 2000)  # a few links to a shard
    world, memo = World(), RenderMemo()
    for index, changes in enumerate(steps):
        for step in changes:
            apply(world, step)
        links = list(world.links.values())
        full = render_published_config(world.cluster, world.trunks, links)
        incremental = render_published_config(world.cluster, world.trunks, links, memo=memo)
        assert incremental.files() == full.files(), (name, index)
        assert incremental.links.count() == full.links.count(), (name, index)
        assert incremental.logo_files() == full.logo_files(), (name, index)
        own = {r.key: r.generation for r in links if r.namespace == NS and r.cluster_ref == "gc"}
        assert memo.generations == own, (name, index)


def test_shards_grow_with_the_links(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "LINK_SHARD_BYTES", 2000)
    world, memo = World(), RenderMemo()
    for step in MANY:
        apply(world, step)
    files = render_published_config(world.cluster, world.trunks, list(world.links.values()), memo=memo).files()
    assert len([n for n in files if schema.is_links_file(n)]) > 1  # the table's shard steps shard


def test_only_changed_links_are_parsed_and_rendered_and_their_shard_made_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "LINK_SHARD_BYTES", 2000)
    world, memo = World(), RenderMemo()
    for step in MANY:
        apply(world, step)
    first = render_published_config(world.cluster, world.trunks, list(world.links.values()), memo=memo).files()
    assert memo.take_generation_changes() is None  # the first render: every link to compare
    rendered = count_link_renders(monkeypatch)
    apply(world, ("put", body("l007", 2, displayName="Edited")))
    apply(world, ("status", "l008"))
    second = render_published_config(world.cluster, world.trunks, list(world.links.values()), memo=memo).files()
    assert rendered == ["l007"]
    changed = [name for name in first if schema.is_links_file(name) and first[name] is not second[name]]
    assert len(changed) == 1 and "Edited" in second[changed[0]]
    assert memo.take_generation_changes() == {f"{NS}/l007"}  # not l008: its generation stayed
    apply(world, ("delete", "l009"))
    render_published_config(world.cluster, world.trunks, list(world.links.values()), memo=memo)
    assert memo.take_generation_changes() == {f"{NS}/l009"}


def test_models_work_too() -> None:
    """Parsed GuestLinks (as the golden files and the tables pass them) render alike."""
    memo = RenderMemo()
    links = [link("a"), link("b", enabled=False)]
    assert (render_published_config(cluster(), [trunk()], links, memo=memo).files()
            == render_published_config(cluster(), [trunk()], links).files())

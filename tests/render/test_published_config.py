"""What a cluster publishes to its pods, and what it withholds."""

from __future__ import annotations

from guestgate.config.schema import PublishedConfig
from guestgate.render.config import render_published_config

from .objects import cluster, link, trunk


def _paths(published: PublishedConfig) -> list[str]:
    return [entry.path for entry in published.links.links]


def test_only_own_enabled_links_with_a_trunk_are_published() -> None:
    gc = cluster()
    published = render_published_config(
        gc,
        [trunk(), trunk("elsewhere", cluster_ref="other")],
        [
            link("sales"),
            link("off", enabled=False),
            link("no-trunk", trunkRef="missing"),
            link("foreign", clusterRef="other"),
            link("later", validFrom="2030-01-01T00:00:00Z"),
        ],
    )
    assert [t.id for t in published.trunks.trunks] == ["team/cucm"]
    assert _paths(published) == ["/call/team/later", "/call/team/sales"]
    assert [w.path for w in published.links.withdrawn] == ["/call/team/off"]


def test_slug_loser_is_not_published() -> None:
    published = render_published_config(
        cluster(), [trunk()],
        [link("b", created="2026-02-01T00:00:00Z", slug="x"), link("a", created="2026-01-01T00:00:00Z", slug="x")],
    )
    assert [(e.id, e.path) for e in published.links.links] == [("team/a", "/call/x")]


def test_destination_and_trunk_come_from_the_link_only() -> None:
    entry = render_published_config(cluster(), [trunk()], [link(destination="+442079460000")]).links.links[0]
    assert (entry.destination, entry.trunk, entry.url) == (
        "+442079460000", "team/cucm", "https://call.example.com/call/team/sales")


def test_files_round_trip_and_order_is_stable() -> None:
    a = render_published_config(cluster(), [trunk("b"), trunk("a")], [link("y", trunkRef="a"), link("x", trunkRef="b")])
    b = render_published_config(cluster(), [trunk("a"), trunk("b")], [link("x", trunkRef="b"), link("y", trunkRef="a")])
    assert a.files() == b.files()
    assert PublishedConfig.from_files(a.files()) == a

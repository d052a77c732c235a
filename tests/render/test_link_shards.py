"""Thousands of links: the published links are spread over ConfigMaps that each fit in 1 MiB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guestgate.config import schema
from guestgate.config.schema import LINKS_FILE, PublishedConfig, link_shard_file
from guestgate.render import secrets
from guestgate.render.config import render_published_config
from guestgate.render.link_memo import RenderMemo
from guestgate.signal.config_loader import load_config

from .objects import cluster, count_link_renders, link, trunk

CONFIG_MAP_LIMIT = 1024 * 1024


def _published(count: int, disabled: int = 0) -> PublishedConfig:
    links = [link(f"link-{i:05d}", displayName=f"Link {i}") for i in range(count)]
    links += [link(f"off-{i:03d}", enabled=False) for i in range(disabled)]
    return render_published_config(cluster(), [trunk()], links)


def test_a_small_cluster_keeps_one_compact_links_file() -> None:
    files = _published(3).files()
    assert sorted(files) == ["cluster.json", LINKS_FILE, "trunks.json"]
    assert "\n" not in files[LINKS_FILE].rstrip("\n")  # compact: one line
    assert len(secrets.config_maps(cluster(), _published(3))) == 1


def test_ten_thousand_links_are_sharded_under_the_configmap_limit() -> None:
    published = _published(10_000, disabled=20)
    maps = secrets.config_maps(cluster(), published)
    assert len(maps) > 1
    assert [m["metadata"]["name"] for m in maps] == ["gc-config"] + [f"gc-links-{i}" for i in range(1, len(maps))]
    for manifest in maps:
        assert sum(len(k) + len(v.encode()) for k, v in manifest["data"].items()) < CONFIG_MAP_LIMIT
    assert sum(len(json.loads(m["data"][link_shard_file(i)])["links"]) for i, m in enumerate(maps)) == 10_000
    assert PublishedConfig.from_files(published.files()).links.links == published.links.links
    assert len(PublishedConfig.from_files(published.files()).links.withdrawn) == 20


def test_an_edit_rewrites_one_shard_only() -> None:
    before = _published(5_000).files()
    links = [link(f"link-{i:05d}", displayName=f"Link {i}" if i != 42 else "Edited") for i in range(5_000)]
    after = render_published_config(cluster(), [trunk()], links).files()
    assert sorted(before) == sorted(after)
    assert len([name for name in before if before[name] != after[name]]) == 1


def test_the_shard_count_follows_the_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "LINK_SHARD_BYTES", 1000)
    assert len([n for n in _published(20).files() if schema.is_links_file(n)]) > 1
    monkeypatch.setattr(schema, "MAX_LINK_SHARDS", 3)
    assert len([n for n in _published(200).files() if schema.is_links_file(n)]) == 3


def test_the_signalling_server_loads_every_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "LINK_SHARD_BYTES", 2000)
    published = _published(40)
    for name, text in published.files().items():
        (tmp_path / name).write_text(text)
    assert len(list(tmp_path.glob("links-*.json"))) > 1
    assert load_config(tmp_path).config.links.links == published.links.links


def test_an_emptied_shard_is_valid_and_empty() -> None:
    manifest = secrets.empty_links_shard(cluster(), 5)
    assert manifest["metadata"]["name"] == "gc-links-5"
    assert json.loads(manifest["data"]["links-5.json"]) == {"links": [], "withdrawn": []}


def test_a_render_memo_renders_only_changed_links_and_gives_the_same_files(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered = count_link_renders(monkeypatch)
    links = [link(f"link-{i:05d}", displayName=f"Link {i}") for i in range(300)]
    links += [link("off-1", enabled=False)]
    memo = RenderMemo()
    first = render_published_config(cluster(), [trunk()], links, memo=memo)
    assert first.files() == render_published_config(cluster(), [trunk()], links).files()
    assert first.links.count() == 300 and first.links.links == ()  # text only: no model kept per link
    edited = [*links[:7], link("link-00007", displayName="Edited"), *links[8:]]
    rendered.clear()
    second = render_published_config(cluster(), [trunk()], edited, memo=memo)
    assert rendered == ["link-00007"]  # the others' entries are reused
    assert second.files() == render_published_config(cluster(), [trunk()], edited).files()
    # The cluster's public URL is part of every entry: a new one renders every link again.
    other = cluster(publicURL="https://other.example")
    moved = render_published_config(other, [trunk()], edited, memo=memo)
    assert moved.files() == render_published_config(other, [trunk()], edited).files()
    assert "https://other.example/call/" in moved.files()["links.json"]
    # A link gone is forgotten; the withdrawn one stays withdrawn.
    fewer = render_published_config(cluster(), [trunk()], edited[1:], memo=memo)
    assert fewer.files() == render_published_config(cluster(), [trunk()], edited[1:]).files()
    assert fewer.links.count() == 299


def test_a_changed_shard_is_parsed_again_and_the_others_are_reused() -> None:
    published = _published(5_000)
    files = published.files()
    _, shards = PublishedConfig.from_files_reusing(files, {})
    links = [link(f"link-{i:05d}", displayName=f"Link {i}" if i != 42 else "Edited") for i in range(5_000)]
    after = render_published_config(cluster(), [trunk()], links).files()
    again, shards_after = PublishedConfig.from_files_reusing(after, shards)
    changed = [name for name in after if schema.is_links_file(name) and after[name] != files[name]]
    assert len(changed) == 1
    assert all(shards_after[n][1] is shards[n][1] for n in shards if n not in changed)
    assert shards_after[changed[0]][1] is not shards[changed[0]][1]
    assert again == PublishedConfig.from_files(after)
    assert next(x for x in again.links.links if x.name == "link-00042").display_name == "Edited"


@pytest.mark.parametrize(
    ("path", "found"),
    [("/call/team/link-00002", "link-00002"), ("call/team/link-00002/", "link-00002"),
     ("/call/team/off-000", "withdrawn"), ("/call/nope", None), ("/", None)],
)
def test_links_are_found_by_path(path: str, found: str | None) -> None:
    links = _published(5, disabled=1).links
    entry = links.find(path)
    if found is None:
        assert entry is None
    elif found == "withdrawn":
        assert entry is not None and not hasattr(entry, "id")
    else:
        assert entry is not None and getattr(entry, "name", None) == found


def _entry(kind: str, name: str, path: str) -> str:
    """A links-file entry (compact JSON) of a link or a withdrawn link at `path`."""
    if kind == "withdrawn":
        return json.dumps({"path": path, "displayName": f"{name} (withdrawn)"})
    return json.dumps({"id": f"team/{name}", "namespace": "team", "name": name, "path": path,
                       "url": f"https://call.example.com{path}", "trunk": "team/cucm", "destination": "2001",
                       "displayName": name})


# Shards as a pod receives them (shard name -> entries in file order); the joined file answers as
# one file of every link (by id) and every withdrawn link (in shard order) would.
SHARDED_FINDS: list[tuple[str, dict[str, list[tuple[str, str, str]]], str, str | None]] = [
    ("a link in a later shard", {"links.json": [("link", "a", "/call/x")], "links-1.json": [("link", "b", "/call/y")]},
     "/call/y", "b"),
    ("two links at one path: the least id wins, whatever the shard",
     {"links.json": [("link", "z", "/call/same")], "links-1.json": [("link", "a", "/call/same")]}, "/call/same", "a"),
    ("a link wins over a withdrawn link in an earlier shard",
     {"links.json": [("withdrawn", "old", "/call/p")], "links-1.json": [("link", "new", "/call/p")]}, "/call/p",
     "new"),
    ("withdrawn: the first shard's", {"links.json": [("withdrawn", "w1", "/call/q")],
                                      "links-1.json": [("withdrawn", "w2", "/call/q")]}, "call/q/", "w1 (withdrawn)"),
    ("nowhere", {"links.json": [("link", "a", "/call/x")], "links-1.json": []}, "/call/none", None),
]


@pytest.mark.parametrize(("name", "shards", "path", "found"), SHARDED_FINDS, ids=[s[0] for s in SHARDED_FINDS])
def test_a_joined_file_finds_what_one_file_would(
    name: str, shards: dict[str, list[tuple[str, str, str]]], path: str, found: str | None
) -> None:
    files = {"cluster.json": render_published_config(cluster(), [], []).cluster.to_json()}
    for shard, entries in shards.items():
        own = [_entry(*e) for e in entries if e[0] == "link"]
        gone = [_entry(*e) for e in entries if e[0] == "withdrawn"]
        files[shard] = schema.links_shard_text(own, gone)
    joined = PublishedConfig.from_files(files).links
    whole = schema.LinksFile(links=joined.links, withdrawn=joined.withdrawn)  # one file, one index
    for links in (joined, whole):
        entry = links.find(path)
        assert (entry.display_name if entry is not None else None) == found, name

"""Thousands of links: the published links are spread over ConfigMaps that each fit in 1 MiB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from guestgate.config import schema
from guestgate.config.schema import LINKS_FILE, PublishedConfig, link_shard_file
from guestgate.render import secrets
from guestgate.render.config import render_published_config
from guestgate.signal.config_loader import load_config

from .objects import cluster, link, trunk

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
